package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	helmrepo "helm.sh/helm/v4/pkg/repo/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// helmReleases is how many HelmReleases the helm rows reconcile.
const helmReleases = 10

// benchChart renders count ConfigMaps named <release>-NNNNN: the shape
// of helmConfigMapJSON, so that the floor applies the same objects.
const benchChart = `{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-%05d" $.Release.Name $i }}
data:
  index: {{ $i | quote }}
  release: {{ $.Release.Name | quote }}
{{- end }}
`

func helmConfigMapJSON(ns, release string, i int) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s-%05d","namespace":%q},"data":{"index":"%d","release":%q}}`, release, i, ns, i, release))
}

// helmRows measures a Flux unit of helmReleases HelmReleases of one
// chart from an HTTP chart repository served here, n objects in all:
// the first run (charts fetched and rendered, objects created) and the
// no-op run after it, against the raw server-side-apply floor of the
// same rendered objects.
func helmRows(ctx context.Context, client kubernetes.Interface, bin, kubeconfig, work string, n, workers int) (tide, floor map[string]result, err error) {
	charts := filepath.Join(work, "charts")
	if err := publishBenchChart(charts); err != nil {
		return nil, nil, err
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(charts)))
	defer srv.Close()

	const ns, floorNS = "bench-helm", "bench-helm-floor"
	per := n / helmReleases
	repo := filepath.Join(work, "hrepo")
	if err := writeHelmRepo(repo, ns, srv.URL, per, helmReleases); err != nil {
		return nil, nil, err
	}
	args := []string{"--kubeconfig", kubeconfig, "--log-level", "warn", "reconcile", "--source", repo, "--path", "clusters/bench",
		"--inventory-namespace", ns, "--inventory-name", "bench", "--no-wait", "--allow-mass-prune"}
	tide = map[string]result{}
	tide["helm-create"] = process(bin, args...)
	tide["helm-no-op"] = process(bin, args...)

	floor = map[string]result{}
	items := indexes(0, per*helmReleases)
	apply := func() error {
		force := true
		return parallel(items, workers, func(k int) error {
			release := fmt.Sprintf("app-%02d", k/per)
			_, err := client.CoreV1().ConfigMaps(floorNS).Patch(ctx, fmt.Sprintf("%s-%05d", release, k%per), types.ApplyPatchType,
				helmConfigMapJSON(floorNS, release, k%per), metav1.PatchOptions{FieldManager: "bench", Force: &force})
			return err
		})
	}
	floor["helm-create"] = timed(apply)
	floor["helm-no-op"] = timed(apply)

	if helm := os.Getenv("TIDEGATE_HELM"); helm != "" {
		one := filepath.Join(work, "hrepo-one")
		if err := writeHelmRepo(one, ns, srv.URL, per, 1); err != nil {
			return nil, nil, err
		}
		home := filepath.Join(work, "helm-home")
		helmEnv := []string{"HELM_CACHE_HOME=" + home, "HELM_CONFIG_HOME=" + home, "HELM_DATA_HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "none")}
		tideArgs := []string{"--log-level", "warn", "render", "--source", one, "--path", "clusters/bench"}
		helmArgs := []string{"template", "app-00", filepath.Join(charts, "bench-1.0.0.tgz"), "--namespace", ns, "--set", fmt.Sprintf("count=%d", per)}
		// The same work: both print the release's objects.
		a, b := configMapsIn(nil, bin, tideArgs...), configMapsIn(helmEnv, helm, helmArgs...)
		if a != per || b != per {
			return nil, nil, fmt.Errorf("helm-render: tidegate render printed %d of the release's ConfigMaps, helm template %d, want %d each", a, b, per)
		}
		tide["helm-render"] = bestOf(3, func() result { return processEnv(nil, bin, tideArgs...) })
		floor["helm-render"] = bestOf(3, func() result { return processEnv(helmEnv, helm, helmArgs...) })
	}
	return tide, floor, nil
}

// bestOf is the fastest of n runs: a process's start-up varies more on a
// shared machine than the work it does.
// Like the other rows, it keeps the best time and the worst memory.
func bestOf(n int, f func() result) result {
	var out result
	for range n {
		r := f()
		if r.seconds < 0 {
			return r
		}
		out = best(out, r)
	}
	return out
}

// configMapsIn counts the release's ConfigMaps a command prints.
func configMapsIn(env []string, bin string, args ...string) int {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return -1
	}
	return bytes.Count(out, []byte("name: app-00-"))
}

// publishBenchChart packages the bench chart with the SDK and indexes
// it, as a chart repository serves it.
func publishBenchChart(dir string) error {
	ch := &chartv2.Chart{
		Metadata:  &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: "bench", Version: "1.0.0"},
		Templates: []*common.File{{Name: "templates/configmaps.yaml", Data: []byte(benchChart)}},
		Values:    map[string]any{"count": 1},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := chartutil.Save(ch, dir); err != nil {
		return err
	}
	idx, err := helmrepo.IndexDirectory(dir, "")
	if err != nil {
		return err
	}
	return idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644)
}

// writeHelmRepo writes a Flux repository with one Kustomization whose
// path holds the HelmRepository and the HelmReleases.
func writeHelmRepo(dir, ns, url string, per, releases int) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, d := range []string{"clusters/bench", "helm"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	ks := fmt.Sprintf("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: helm\n  namespace: %s\nspec:\n  interval: 10m\n  path: ./helm\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", ns)
	if err := os.WriteFile(filepath.Join(dir, "clusters", "bench", "units.yaml"), []byte(ks), 0o644); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: %s\nspec:\n  interval: 10m\n  url: %s\n", ns, url)
	for r := range releases {
		fmt.Fprintf(&b, "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app-%02d\n  namespace: %s\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: bench\n      version: \"1.0.0\"\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n  values:\n    count: %d\n", r, ns, per)
	}
	return os.WriteFile(filepath.Join(dir, "helm", "releases.yaml"), b.Bytes(), 0o644)
}
