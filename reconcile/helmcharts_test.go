package reconcile_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/inflate"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
)

// TestKustomizeHelmCharts reconciles a kustomization whose helmCharts
// inflate a vendored chart, changes its values, drops a template from
// the chart (pruned), then fetches the chart from a Helm HTTP
// repository instead; each run writes what changed and nothing else,
// and the checkout is never written.
func TestKustomizeHelmCharts(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	hello := filepath.Join("..", "fleet", "testdata", "charts", "hello")
	if err := os.CopyFS(filepath.Join(r.dir, "apps", "charts", "hello"), os.DirFS(hello)); err != nil {
		t.Fatal(err)
	}
	kustomization := func(greeting, extra string) string {
		return "helmCharts:\n- name: hello\n  releaseName: rel\n  namespace: " + ns + "\n  skipTests: true\n  kubeVersion: v1.34.1\n  valuesInline:\n    greeting: " + greeting + "\n" + extra
	}
	r.write("kustomization.yaml", kustomization("hi", ""))
	o := options(t, r, ns, func(o *reconcile.Options) {
		// The chart's templates name no namespace; like kubectl
		// apply of kustomize's output, they get the default one.
		o.DefaultNamespace = ns
		o.Render = render.Options{Helm: inflate.New(charts.New(charts.Options{}), nil)}
	})

	step := func(name string, want map[string]reconcile.Action) {
		t.Helper()
		rep, err := run(t, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := actions(rep)
		for id, a := range got {
			if a == reconcile.Unchanged {
				delete(got, id)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: actions (-want +got):\n%s", name, diff)
		}
	}
	id := func(name string) string { return "ConfigMap/" + ns + "/" + name }

	step("first run", map[string]reconcile.Action{
		id("rel-greeting"): reconcile.Created, id("rel-extra"): reconcile.Created, id("rel-pre-install"): reconcile.Created,
	})
	cm, ok := getConfigMap(t, ns, "rel-greeting")
	if !ok || cm.Data["greeting"] != "hi" || cm.Data["namespace"] != ns || cm.Data["kube"] != "v1.34.1" {
		t.Fatalf("rel-greeting = %v", cm)
	}
	if _, ok := getConfigMap(t, ns, "rel-test"); ok {
		t.Error("the test hook was applied despite skipTests")
	}
	step("no change", map[string]reconcile.Action{})

	r.write("kustomization.yaml", kustomization("bonjour", ""))
	step("values changed", map[string]reconcile.Action{id("rel-greeting"): reconcile.Configured})
	if cm, _ := getConfigMap(t, ns, "rel-greeting"); cm.Data["greeting"] != "bonjour" {
		t.Errorf("greeting = %q", cm.Data["greeting"])
	}

	if err := os.Remove(filepath.Join(r.dir, "apps", "charts", "hello", "templates", "extra.yaml")); err != nil {
		t.Fatal(err)
	}
	step("template removed", map[string]reconcile.Action{id("rel-extra"): reconcile.Deleted})
	if _, ok := getConfigMap(t, ns, "rel-extra"); ok {
		t.Error("rel-extra was not pruned")
	}

	// The chart from a repository: version 0.3.0 there, so the chart's
	// version in the data changes and extra.yaml comes back.
	dir := chartstest.Package(t, hello, "", "0.3.0")
	srv := chartstest.Record(t, http.FileServer(http.Dir(dir)), false)
	if err := os.RemoveAll(filepath.Join(r.dir, "apps", "charts")); err != nil {
		t.Fatal(err)
	}
	r.write("kustomization.yaml", kustomization("bonjour", "  repo: "+srv.URL+"\n  version: \">=0.2.0\"\n"))
	before := listTree(t, r.dir)
	step("fetched", map[string]reconcile.Action{id("rel-greeting"): reconcile.Configured, id("rel-extra"): reconcile.Created})
	if cm, _ := getConfigMap(t, ns, "rel-greeting"); cm.Data["chart"] != "0.3.0" {
		t.Errorf("chart = %q, want 0.3.0 from the repository", cm.Data["chart"])
	}
	if diff := cmp.Diff(before, listTree(t, r.dir)); diff != "" {
		t.Errorf("the run wrote into the checkout (kustomize would pull into chartHome) (-before +after):\n%s", diff)
	}
	var paths []string
	for _, s := range srv.Requests() {
		paths = append(paths, s.Path)
	}
	if got := strings.Join(paths, " "); got != "/index.yaml /hello-0.3.0.tgz" {
		t.Errorf("requests = %s", got)
	}
}

func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, strings.TrimPrefix(p, root))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
