package inflate_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/charts/chartstest"
)

// TestChartHomeDependencyFetched: a chart in chartHome whose sub-chart
// is declared in Chart.yaml but not vendored gets it from its HTTP
// repository, and renders what the same chart with the sub-chart
// vendored renders.
func TestChartHomeDependencyFetched(t *testing.T) {
	kust := "helmCharts:\n- name: app\n  releaseName: web\n  namespace: shop\n  kubeVersion: v1.34.1\n  valuesInline:\n    db:\n      storage: 3Gi\nhelmGlobals:\n  chartHome: vendor\n"
	vendoredRoot := tree(t, map[string]string{"k/kustomization.yaml": kust}, "k/vendor/app")
	want := ours(t, vendoredRoot, "k", inflater())
	if find(want, "StatefulSet", "web-db") == nil {
		t.Fatalf("the vendored chart rendered no sub-chart object to compare: %v", kinds(want))
	}

	repo := chartstest.Package(t, filepath.Join(appChart, "charts", "db"), "", "0.1.0")
	srv := chartstest.Record(t, http.FileServer(http.Dir(repo)), false)
	root := tree(t, map[string]string{"k/kustomization.yaml": kust}, "k/vendor/app")
	chart := filepath.Join(root, "k", "vendor", "app")
	if err := os.RemoveAll(filepath.Join(chart, "charts")); err != nil {
		t.Fatal(err)
	}
	// The test chart's lock names no repository; a real one would be
	// rewritten by helm dependency update.
	if err := os.Remove(filepath.Join(chart, "Chart.lock")); err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	meta = []byte(strings.Replace(string(meta), "  - name: db\n", "  - name: db\n    repository: "+srv.URL+"\n", 1))
	if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), meta, 0o644); err != nil {
		t.Fatal(err)
	}

	got := ours(t, root, "k", inflater())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the fetched dependency renders differently from the vendored one (-vendored +fetched):\n%s", diff)
	}
	var paths []string
	for _, s := range srv.Requests() {
		paths = append(paths, s.Path)
	}
	if diff := cmp.Diff([]string{"/index.yaml", "/db-0.1.0.tgz"}, paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
