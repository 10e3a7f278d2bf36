package chartrender_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/tidegate/tidegate/chartrender"
)

// BenchmarkRenderVsHelmTemplate renders the app chart from its directory
// with the SDK (load, render, decode into objects) and with `helm
// template` in the same run, and reports the ratio; the issue's target
// is at most 1.2 times helm template. Both sides read the chart from disk
// and produce objects, so the comparison is of the same work.
func BenchmarkRenderVsHelmTemplate(b *testing.B) {
	bin := helmBinary(b)
	dir := filepath.Join("testdata", "charts", "app")
	home := b.TempDir()
	env := append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home, "KUBECONFIG="+filepath.Join(home, "none"))
	opts := chartrender.Options{ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kube}}
	var sdk, cli time.Duration
	var objects, helmObjects int
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		ch, err := loader.LoadDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		res, err := chartrender.Render(context.Background(), ch, nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		objects = len(res.CRDs) + len(res.Objects) + len(res.Hooks)
		sdk += time.Since(start)

		start = time.Now()
		cmd := exec.Command(bin, "template", "rel", dir, "--namespace", "apps", "--kube-version", kube, "--include-crds")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		if helmObjects, err = decodeAll(strings.NewReader(string(out))); err != nil {
			b.Fatal(err)
		}
		cli += time.Since(start)
	}
	if objects != helmObjects {
		b.Fatalf("the SDK rendered %d objects, helm template %d: not the same work", objects, helmObjects)
	}
	n := float64(b.N)
	ratio := sdk.Seconds() / cli.Seconds()
	b.ReportMetric(float64(sdk.Nanoseconds())/n, "sdk-ns/op")
	b.ReportMetric(float64(cli.Nanoseconds())/n, "helm-template-ns/op")
	b.ReportMetric(ratio, "sdk/helm")
	b.Logf("SDK %v, helm template %v per rendering of %d objects: %.3f× (target ≤ 1.2×)", sdk/time.Duration(b.N), cli/time.Duration(b.N), objects, ratio)
	if ratio > 1.2 {
		b.Errorf("rendering with the SDK took %.2f× helm template, over the 1.2× target", ratio)
	}
}
