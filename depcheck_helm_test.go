package main

import (
	"os/exec"
	"strings"
	"testing"
)

// helmVersion is the one package allowed to bring in the full
// clientset: Helm's version package imports it blank, only so that
// client-go's version is in the build info it reads. Nothing calls the
// clientset, so the linker keeps only its package initialisers.
const helmVersion = "helm.sh/helm/v4/internal/version"

// directImports lists, for every package tidegate builds (dependencies
// included), the packages it imports itself.
func directImports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	return imports
}

// helmVersionClientset reports the packages that reach the full
// clientset only through helmVersion's blank import.
func helmVersionClientset(t *testing.T) map[string]bool {
	t.Helper()
	const clientset = "k8s.io/client-go/kubernetes"
	imports := directImports(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	only := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		ok, reached := true, false
		for _, d := range f {
			for _, i := range imports[d] {
				if i != clientset {
					continue
				}
				reached = true
				if d != helmVersion {
					ok = false
				}
			}
		}
		only[f[0]] = ok && reached
	}
	return only
}

// TestChartImportRules keeps the two chart packages to their jobs:
// charts is the network stage that fetches, with tidegate's bounded
// clients; chartrender is pure, so rendering a chart can never fetch,
// and render (kustomize helmCharts) may call it later without reaching a
// stage.
func TestChartImportRules(t *testing.T) {
	imports := directImports(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./charts", "./chartrender", "./inflate", "./render").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	render, fetch := module+"/chartrender", module+"/charts"
	if len(deps[render]) == 0 || len(deps[fetch]) == 0 || len(deps[module+"/inflate"]) == 0 || len(deps[module+"/render"]) == 0 {
		t.Fatalf("go list did not list %s and %s; the rules would prove nothing", render, fetch)
	}

	// The SDK's network side: its own HTTP getter, OCI client, index
	// downloader and Kubernetes client have none of tidegate's limits.
	sdkNetwork := []string{"helm.sh/helm/v4/pkg/action", "helm.sh/helm/v4/pkg/getter", "helm.sh/helm/v4/pkg/registry", "helm.sh/helm/v4/pkg/repo", "helm.sh/helm/v4/pkg/downloader", "helm.sh/helm/v4/pkg/kube", "helm.sh/helm/v4/pkg/pusher", "helm.sh/helm/v4/pkg/uploader", "helm.sh/helm/v4/internal/plugin"}
	// inflate renders helmCharts for render with the two, and fetches
	// only through charts; render itself links no Helm code: it is
	// handed the inflater.
	inflate := module + "/inflate"
	for _, d := range deps[module+"/render"] {
		if strings.HasPrefix(d, "helm.sh/") || d == fetch || d == render || d == inflate {
			t.Errorf("render depends on %s: it is handed a HelmInflater and links no Helm code", d)
		}
	}
	for _, pkg := range []string{render, fetch, inflate} {
		for _, d := range deps[pkg] {
			for _, n := range sdkNetwork {
				if d == n || strings.HasPrefix(d, n+"/") {
					t.Errorf("%s depends on %s: fetch with charts (bounded clients), render with the engine", pkg, d)
				}
			}
		}
	}
	for _, d := range deps[render] {
		if strings.HasPrefix(d, module+"/") && d != module+"/object" {
			t.Errorf("chartrender depends on %s: it turns a loaded chart into objects and needs no stage or client", d)
		}
		if d == "github.com/google/go-containerregistry/pkg/v1/remote" {
			t.Errorf("chartrender depends on %s, a registry client", d)
		}
	}
	// The engine links client-go's REST client for lookup; chartrender
	// never gives it a configuration, and itself opens nothing.
	for _, i := range imports[render] {
		switch i {
		case "net", "net/http", "os", "os/exec", "k8s.io/client-go/rest", "k8s.io/client-go/dynamic", "github.com/tidegate/tidegate/internal/httpclient":
			t.Errorf("chartrender imports %s: rendering is offline and reads no file", i)
		}
	}
}
