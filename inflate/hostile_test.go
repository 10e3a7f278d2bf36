package inflate_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/inflate"
	"github.com/tidegate/tidegate/render"
)

// snapshot lists every path under root with its size and mode, to show
// a render wrote nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%s %d", info.Mode(), info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileHelmCharts renders kustomizations whose helmCharts try to
// leave the repository or would render differently on each run. Each is
// refused with the file and field, and nothing outside the repository is
// read (the file outside is a FIFO: opening it for reading would hang
// the test), no request reaches the chart repository, and the checkout
// is unchanged.
func TestHostileHelmCharts(t *testing.T) {
	dir := chartstest.Package(t, appChart, "", "1.2.3")
	srv := chartstest.Record(t, http.FileServer(http.Dir(dir)), false)
	outside := t.TempDir()
	fifo := filepath.Join(outside, "values.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	canary := "canary-8d1f"
	if err := os.WriteFile(filepath.Join(outside, "Chart.yaml"), []byte("apiVersion: v2\nname: "+canary+"\nversion: 0.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := "  repo: " + srv.URL + "\n  version: 1.2.3\n  releaseName: r\n"
	cases := []struct {
		name  string
		files map[string]string
		links map[string]string
		path  string
		wants []string
		// fetches says the chart may be fetched (the refusal comes
		// after); otherwise no request may reach the repository: the
		// files are read, and refused, before the chart is fetched.
		fetches bool
	}{
		{name: "valuesFile ../ out of the repository", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  valuesFile: ../../../../../../../.." + fifo + "\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app]: valuesFile: ", "outside the repository root"}},
		{name: "valuesFile through a symbolic link out", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  valuesFile: values.yaml\n"},
			links: map[string]string{"k/values.yaml": fifo},
			wants: []string{"k/kustomization.yaml: helmCharts[app]: valuesFile: ", "outside the repository root"}},
		{name: "additionalValuesFiles ../ out of the repository", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  additionalValuesFiles: [ok.yaml, ../../../../../../../.." + fifo + "]\n", "k/ok.yaml": "a: 1\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app]: additionalValuesFiles[1]: ", "outside the repository root"}},
		{name: "valuesFile absolute", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  valuesFile: " + fifo + "\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app].valuesFile: ", "relative to the kustomization"}},
		{name: "valuesFile a URL", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  valuesFile: " + srv.URL + "/values.yaml\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app].valuesFile: ", "is a URL"}},
		{name: "chartHome ../ out of the repository", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmGlobals:\n  chartHome: ../../../../../../../.." + filepath.Dir(outside) + "\nhelmCharts:\n- name: '" + filepath.Base(outside) + "'\n  releaseName: r\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[" + filepath.Base(outside) + "]: helmGlobals.chartHome: ", "outside the repository root"}},
		{name: "chartHome absolute", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmGlobals:\n  chartHome: " + filepath.Dir(outside) + "\nhelmCharts:\n- name: app\n" + repo},
			wants: []string{"k/kustomization.yaml: helmGlobals.chartHome: ", "not a path relative"}},
		{name: "chartHome through a symbolic link out", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: '" + filepath.Base(outside) + "'\n  releaseName: r\n"},
			links: map[string]string{"k/charts": filepath.Dir(outside)},
			wants: []string{"k/kustomization.yaml: helmCharts[" + filepath.Base(outside) + "]: helmGlobals.chartHome: ", "outside the repository root"}},
		{name: "chart name with a path", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: ../../x\n" + repo},
			wants: []string{"k/kustomization.yaml: helmCharts[../../x].name: ", "not a chart name"}},
		{name: "repo not http or oci", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n  repo: file:///etc\n  releaseName: r\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app].repo: ", "not an http(s)://"}},
		{name: "repo with credentials", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n  repo: " + strings.Replace(srv.URL, "//", "//user:hunter2-secret@", 1) + "\n  releaseName: r\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app].repo: ", "holds credentials"}},
		{name: "configHome", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmGlobals:\n  configHome: " + outside + "\nhelmCharts:\n- name: app\n" + repo},
			wants: []string{"k/kustomization.yaml: helmGlobals.configHome: ", "reads no Helm configuration"}},
		{name: "devel", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  devel: true\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app].devel: ", "pre-release"}},
		{name: "releaseName and nameTemplate", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n" + repo + "  nameTemplate: x\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app]: ", "releaseName and nameTemplate"}},
		{name: "nameTemplate from the clock", path: "k",
			files:   map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n  repo: " + srv.URL + "\n  version: 1.2.3\n  kubeVersion: v1.34.1\n  nameTemplate: 'r{{ randNumeric 8 }}'\n"},
			wants:   []string{"k/kustomization.yaml: helmCharts[app]: ", "nameTemplate", "another name each time"},
			fetches: true},
		{name: "no chart vendored and no repo", path: "k",
			files: map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n  releaseName: r\n"},
			wants: []string{"k/kustomization.yaml: helmCharts[app]: ", "no chart at k/charts/app", "set repo"}},
		{name: "a base reached with two namespaces", path: "top",
			files: map[string]string{
				"top/kustomization.yaml":  "resources: [../a, ../b]\n",
				"a/kustomization.yaml":    "namespace: a\nresources: [../base]\n",
				"b/kustomization.yaml":    "namespace: b\nresources: [../base]\nnameSuffix: -b\n",
				"base/kustomization.yaml": "helmCharts:\n- name: app\n" + repo,
			},
			wants: []string{"base/kustomization.yaml is reached from kustomizations with different namespaces (a, b)", "set namespace on the chart"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := tree(t, c.files)
			for at, target := range c.links {
				p := filepath.Join(root, filepath.FromSlash(at))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, root)
			reqs := len(srv.Requests())
			res, err := render.Render(context.Background(), root, []string{c.path}, render.Options{Helm: inflater()})
			if err == nil {
				t.Fatalf("rendered %d objects, want a refusal", len(res.Objects))
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			for _, leak := range []string{canary, "hunter2-secret"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error shows %q, from outside the repository or a credential:\n%v", leak, err)
				}
			}
			if n := len(srv.Requests()) - reqs; n > 0 && !c.fetches {
				t.Errorf("%d requests reached the chart repository: %v", n, srv.Requests()[reqs:])
			}
			if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
				t.Errorf("the render changed the checkout (-before +after):\n%s", diff)
			}
		})
	}
}

// TestHostileHelmChartArchiveOverCap proves the fetch's bounds reach
// helmCharts: a chart archive over the cap is refused, named by the
// kustomization and chart, and nothing is rendered.
func TestHostileHelmChartArchiveOverCap(t *testing.T) {
	dir := chartstest.Package(t, appChart, "", "1.2.3")
	srv := chartstest.Record(t, http.FileServer(http.Dir(dir)), false)
	root := tree(t, map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n  repo: " + srv.URL + "\n  version: 1.2.3\n  releaseName: r\n  kubeVersion: v1.34.1\n"})
	in := inflate.New(charts.New(charts.Options{MaxArchiveBytes: 512}), nil)
	res, err := render.Render(context.Background(), root, []string{"k"}, render.Options{Helm: in})
	if err == nil {
		t.Fatalf("rendered %d objects from an archive over the cap", len(res.Objects))
	}
	for _, w := range []string{"k/kustomization.yaml: helmCharts[app]: ", "chart app 1.2.3", "over the 512 bytes limit"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	// The same kustomization renders with the default caps.
	if _, err := render.Render(context.Background(), root, []string{"k"}, render.Options{Helm: inflater()}); err != nil {
		t.Errorf("with the default caps: %v", err)
	}
}
