package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/charts/chartstest"
)

// helmChartsRepo is a local source with one kustomization whose
// helmCharts entry (more is the rest of it) fetches the hello chart from
// a real Helm HTTP repository that records every request.
func helmChartsRepo(t *testing.T, more string) (dir string, srv *chartstest.Server) {
	t.Helper()
	pkgs := chartstest.Package(t, filepath.Join("fleet", "testdata", "charts", "hello"), "", "0.1.0")
	srv = chartstest.Record(t, http.FileServer(http.Dir(pkgs)), false)
	dir = t.TempDir()
	k := "helmCharts:\n- name: hello\n  repo: " + srv.URL + "\n  version: 0.1.0\n  releaseName: rel\n  namespace: apps\n  kubeVersion: v1.34.1\n  skipHooks: true\n" + more
	if err := os.MkdirAll(filepath.Join(dir, "k"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "k", "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, srv
}

// TestRenderHelmCharts: tidegate render inflates a kustomization's
// helmCharts with the SDK, fetching the chart once (index and archive),
// and prints the chart's objects.
func TestRenderHelmCharts(t *testing.T) {
	dir, srv := helmChartsRepo(t, "  valuesInline:\n    greeting: from-the-kustomization\n")
	code, stdout, stderr := runCaptured(t, nil, "render", "--flux", "off", "--source", dir, "--path", "k")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, w := range []string{"name: rel-greeting", "greeting: from-the-kustomization", "name: rel-extra"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	if strings.Contains(stdout, "rel-pre-install") || strings.Contains(stdout, "helm-generated") {
		t.Errorf("stdout has a hook despite skipHooks, or kustomize's build annotation:\n%s", stdout)
	}
	var paths []string
	for _, s := range srv.Requests() {
		paths = append(paths, s.Path)
	}
	if got := strings.Join(paths, " "); got != "/index.yaml /hello-0.1.0.tgz" {
		t.Errorf("requests = %s", got)
	}
}

// TestHostileRenderHelmCharts: a helmCharts entry whose valuesFile leaves
// the repository is refused by tidegate render (exit 1, the file and
// field named), before the chart repository is asked anything, and
// nothing reaches stdout.
func TestHostileRenderHelmCharts(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(outside, []byte("greeting: canary-from-outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, srv := helmChartsRepo(t, "  valuesFile: ../../../../../../.."+outside+"\n")
	code, stdout, stderr := runCaptured(t, nil, "render", "--flux", "off", "--source", dir, "--path", "k")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	for _, w := range []string{"k/kustomization.yaml: helmCharts[hello]: valuesFile: ", "outside the repository root"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if stdout != "" || strings.Contains(stderr, "canary-from-outside") {
		t.Errorf("output shows what it must not:\nstdout: %s\nstderr: %s", stdout, stderr)
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("the chart repository was asked: %v", reqs)
	}
}
