package chartrender_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/charts/chartstest"
)

const kube = "v1.34.1"

func load(t testing.TB, name string) *chartv2.Chart {
	t.Helper()
	ch, err := loader.LoadDir(filepath.Join("testdata", "charts", name))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// helmBinary is the helm CLI built from the SDK version in go.mod (make
// test builds it with hack/go-tool.sh and exports TIDEGATE_HELM).
func helmBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("TIDEGATE_HELM")
	if bin == "" {
		t.Skip("TIDEGATE_HELM is unset: build helm with hack/go-tool.sh helm helm.sh/helm/v4/cmd/helm VERSION (make test does) and export its path to compare with helm template")
	}
	return bin
}

// doc is one rendered document as helm template prints it.
type doc struct {
	Source string
	Object map[string]any
}

// parseHelm splits helm template's output at its "---" lines and reads
// each document's "# Source:" comment, independently of the package's
// own decoding.
func parseHelm(t *testing.T, out string) []doc {
	t.Helper()
	var docs []doc
	var cur []string
	flush := func() {
		text := strings.Join(cur, "\n")
		cur = nil
		src := ""
		for _, l := range strings.Split(text, "\n") {
			if s, ok := strings.CutPrefix(l, "# Source: "); ok {
				src = s
				break
			}
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("helm output: %v\n%s", err, text)
		}
		if len(m) > 0 {
			docs = append(docs, doc{Source: src, Object: m})
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if sc.Text() == "---" {
			flush()
			continue
		}
		cur = append(cur, sc.Text())
	}
	flush()
	return docs
}

func ours(res *chartrender.Result, withHooks bool) []doc {
	var docs []doc
	add := func(o chartrender.Object) { docs = append(docs, doc{Source: o.Source, Object: o.Object.Object}) }
	for _, o := range res.CRDs {
		add(o)
	}
	for _, o := range res.Objects {
		add(o)
	}
	if withHooks {
		for _, h := range res.Hooks {
			add(h.Object)
		}
	}
	return docs
}

// normalize round-trips through YAML so that both sides hold the same Go
// types (int64 against float64).
func normalize(t *testing.T, docs []doc) []doc {
	t.Helper()
	out := make([]doc, len(docs))
	for i, d := range docs {
		b, err := yaml.Marshal(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[i] = doc{Source: d.Source, Object: m}
	}
	return out
}

// TestMatchesHelmTemplate renders each case with the package and with
// `helm template` of the same SDK version and compares them object for
// object, sources included.
func TestMatchesHelmTemplate(t *testing.T) {
	bin := helmBinary(t)
	cases := []struct {
		name, chart, values string
		extraAPIs           []string
		upgrade             bool
		crds                chartrender.CRDPolicy
		// defaults passes no capabilities, as `helm template` without
		// --kube-version and --api-versions.
		defaults bool
		// archived packages the sub-chart into charts/db-0.1.0.tgz, as
		// helm dependency build leaves it.
		archived bool
	}{
		{name: "install with sub-chart and CRDs and a probed API", chart: "app",
			extraAPIs: []string{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"}},
		{name: "upgrade without the sub-chart", chart: "app", upgrade: true,
			values: "replicas: 3\ndb:\n  enabled: false\nextraLabels:\n  team: blue\ngreeting: \"bonjour, monde\"\n"},
		{name: "install with sub-chart values and CRDs skipped", chart: "app", crds: chartrender.CRDsSkip,
			values: "db:\n  storage: 9Gi\n  password: s3cr3t\nimage:\n  tag: \"5.0\"\n"},
		{name: "library sub-chart", chart: "web", values: "name: front\nports: [80, 443]\n"},
		{name: "the SDK's default capabilities", chart: "web", defaults: true},
		{name: "sub-chart vendored as an archive", chart: "app", archived: true,
			values: "db:\n  storage: 2Gi\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(c.values), &vals); err != nil {
				t.Fatal(err)
			}
			apis := append(append([]string(nil), common.DefaultVersionSet...), c.extraAPIs...)
			caps := chartrender.Capabilities{KubeVersion: kube, APIVersions: apis}
			if c.defaults {
				caps = chartrender.Capabilities{}
			}
			chartDir := filepath.Join("testdata", "charts", c.chart)
			if c.archived {
				chartDir = withArchivedSubchart(t, chartDir, "db")
			}
			ch, err := loader.LoadDir(chartDir)
			if err != nil {
				t.Fatal(err)
			}
			res, err := chartrender.Render(context.Background(), ch, vals, chartrender.Options{
				ReleaseName: "rel", Namespace: "apps", IsUpgrade: c.upgrade, CRDs: c.crds, Capabilities: caps,
			})
			if err != nil {
				t.Fatal(err)
			}

			// helm splits -f at commas, and test names make t.TempDir's.
			dir, err := os.MkdirTemp("", "chartrender")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			valuesFile := filepath.Join(dir, "values.yaml")
			if err := os.WriteFile(valuesFile, []byte(c.values), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"template", "rel", chartDir, "--namespace", "apps", "-f", valuesFile}
			if !c.defaults {
				args = append(args, "--kube-version", kube)
			}
			for _, a := range c.extraAPIs {
				args = append(args, "--api-versions", a)
			}
			if c.upgrade {
				args = append(args, "--is-upgrade")
			}
			if res.CRDPolicy != chartrender.CRDsSkip {
				args = append(args, "--include-crds")
			}
			out := chartstest.Helm(t, bin, args...)
			want := normalize(t, parseHelm(t, out))
			got := normalize(t, ours(res, true))
			if len(want) < 3 {
				t.Fatalf("helm template printed %d objects; the comparison would prove little:\n%s", len(want), out)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects differ from helm template (-helm +chartrender):\n%s", diff)
			}
		})
	}
}

func TestRenderSplitsCRDsObjectsAndHooks(t *testing.T) {
	res, err := chartrender.Render(context.Background(), load(t, "app"), nil, chartrender.Options{
		ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kube},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := func(objs []chartrender.Object) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.Object.GetKind()+"/"+o.Object.GetName())
		}
		return out
	}
	if diff := cmp.Diff([]string{"CustomResourceDefinition/widgets.example.com", "CustomResourceDefinition/backups.db.example.com"}, names(res.CRDs)); diff != "" {
		t.Errorf("CRDs (-want +got):\n%s", diff)
	}
	if res.CRDPolicy != chartrender.CRDsCreate {
		t.Errorf("install's default CRD policy = %q, want Create", res.CRDPolicy)
	}
	// Install order: Secret and ConfigMaps before Services before
	// workloads; the Widget (an unknown kind) last; no ServiceMonitor
	// without the API.
	wantObjects := []string{"Secret/rel-db", "ConfigMap/rel-app", "ConfigMap/rel-app-files", "Service/rel-app", "Deployment/rel-app", "StatefulSet/rel-db", "Widget/rel-app"}
	if diff := cmp.Diff(wantObjects, names(res.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	type hook struct {
		Name     string
		Events   []string
		Weight   int
		Policies []string
	}
	var got []hook
	for _, h := range res.Hooks {
		got = append(got, hook{h.Object.Object.GetName(), h.Events, h.Weight, h.DeletePolicies})
	}
	want := []hook{
		{"rel-app-installed", []string{"post-install"}, 3, nil},
		{"rel-app-migrate", []string{"pre-install", "pre-upgrade"}, -5, []string{"before-hook-creation", "hook-succeeded"}},
		{"rel-app-test", []string{"test"}, 0, nil},
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
	if !res.Hooks[0].Has(res.Hooks[0].Events[0]) || res.Hooks[0].Has("pre-rollback") {
		t.Error("Hook.Has answers wrongly")
	}
	if !strings.Contains(res.Notes, "rel-app installed in apps.") {
		t.Errorf("notes = %q", res.Notes)
	}
	cm := res.Objects[1].Object
	if v, _, _ := unstructuredString(cm.Object, "data", "install"); v != "true" {
		t.Errorf("IsInstall not rendered: %v", cm.Object["data"])
	}
	files := res.Objects[2].Object.Object["data"].(map[string]any)
	if _, ok := files["app.conf"]; !ok || len(files) != 1 {
		t.Errorf("chart files = %v, want app.conf only (.helmignore'd files excluded)", files)
	}
}

func unstructuredString(m map[string]any, path ...string) (string, bool, error) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = mm[p]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func TestRenderUpgradeDefaultsAndCapabilities(t *testing.T) {
	res, err := chartrender.Render(context.Background(), load(t, "app"), nil, chartrender.Options{
		ReleaseName: "rel", Namespace: "apps", IsUpgrade: true, Revision: 4,
		Capabilities: chartrender.Capabilities{KubeVersion: "v1.31.2-gke.100", APIVersions: []string{"v1", "apps/v1", "monitoring.coreos.com/v1/ServiceMonitor"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.CRDPolicy != chartrender.CRDsSkip || len(res.CRDs) != 0 {
		t.Errorf("upgrade default: policy %q with %d CRDs, want Skip and none", res.CRDPolicy, len(res.CRDs))
	}
	var kinds []string
	for _, o := range res.Objects {
		kinds = append(kinds, o.Object.GetKind())
	}
	if !strings.Contains(strings.Join(kinds, ","), "ServiceMonitor") {
		t.Errorf("the cluster's API versions were not seen: %v", kinds)
	}
	cm := res.Objects[1].Object.Object["data"].(map[string]any)
	if cm["upgrade"] != "true" || cm["install"] != "false" || cm["revision"] != "4" {
		t.Errorf("release flags = %v", cm)
	}
	var dep *unstructured.Unstructured
	for _, o := range res.Objects {
		if o.Object.GetKind() == "Deployment" {
			dep = o.Object
		}
	}
	if dep == nil {
		t.Fatalf("no Deployment in %v", kinds)
	}
	if n, found, err := unstructured.NestedInt64(dep.Object, "spec", "replicas"); err != nil || !found || n != 1 {
		t.Errorf("spec.replicas = %d, %v, %v; want int64 1", n, found, err)
	}
	ann, _, _ := unstructuredString(dep.Object, "spec", "template", "metadata", "annotations", "kube-version")
	if ann != "v1.31.2-gke.100" {
		t.Errorf("kube version seen by the chart = %q", ann)
	}
}

// TestRenderLeavesChartIntact renders a chart with its sub-chart
// disabled and then enabled: the SDK drops disabled sub-charts from the
// chart it processes, which must not leak into the next rendering.
func TestRenderLeavesChartIntact(t *testing.T) {
	ch := load(t, "app")
	opts := chartrender.Options{ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kube}}
	first, err := chartrender.Render(context.Background(), ch, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartrender.Render(context.Background(), ch, map[string]any{"db": map[string]any{"enabled": false}}, opts); err != nil {
		t.Fatal(err)
	}
	again, err := chartrender.Render(context.Background(), ch, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Objects) != 7 {
		t.Fatalf("first render has %d objects, want 7", len(first.Objects))
	}
	if diff := cmp.Diff(ours(first, true), ours(again, true)); diff != "" {
		t.Errorf("the chart changed between renderings (-first +again):\n%s", diff)
	}
	if len(ch.Dependencies()) != 1 || ch.Values["fromDB"].(map[string]any)["host"] != nil {
		t.Errorf("the caller's chart was changed: %d dependencies, fromDB %v", len(ch.Dependencies()), ch.Values["fromDB"])
	}
}

func TestRenderErrors(t *testing.T) {
	missing := load(t, "app")
	missing.SetDependencies()
	badTemplate := load(t, "web")
	badTemplate.Templates = append(badTemplate.Templates, &common.File{Name: "templates/broken.yaml", Data: []byte("a: {{ .Values.nope.deeper }}\n")})
	noKind := load(t, "web")
	noKind.Templates = append(noKind.Templates, &common.File{Name: "templates/nokind.yaml", Data: []byte("metadata:\n  name: x\n")})
	cases := []struct {
		name  string
		ch    *chartv2.Chart
		opts  chartrender.Options
		wants []string
	}{
		{"missing sub-chart", missing, chartrender.Options{ReleaseName: "r", Namespace: "n"}, []string{"chart app 1.2.3", "db", "missing from charts/", "helm dependency build"}},
		{"kubeVersion", load(t, "app"), chartrender.Options{ReleaseName: "r", Namespace: "n", Capabilities: chartrender.Capabilities{KubeVersion: "v1.20.0"}}, []string{"chart app 1.2.3", ">=1.25.0-0", "v1.20.0"}},
		{"bad kube version", load(t, "app"), chartrender.Options{ReleaseName: "r", Namespace: "n", Capabilities: chartrender.Capabilities{KubeVersion: "latest"}}, []string{"Kubernetes version \"latest\""}},
		{"template error names the file", badTemplate, chartrender.Options{ReleaseName: "r", Namespace: "n"}, []string{"chart web 0.3.0", "templates/broken.yaml:1"}},
		{"object without kind", noKind, chartrender.Options{ReleaseName: "r", Namespace: "n"}, []string{"web/templates/nokind.yaml", "no apiVersion or kind"}},
		{"no release name", load(t, "web"), chartrender.Options{Namespace: "n"}, []string{"release name"}},
		{"bad CRD policy", load(t, "web"), chartrender.Options{ReleaseName: "r", Namespace: "n", CRDs: "Always"}, []string{`"Always"`, "Skip, Create or CreateReplace"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := chartrender.Render(context.Background(), c.ch, nil, c.opts)
			if err == nil {
				t.Fatalf("rendered %d objects, want an error", len(res.Objects))
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := chartrender.Render(context.Background(), nil, nil, chartrender.Options{}); err == nil {
		t.Error("a nil chart rendered")
	}
}

func TestParseCRDPolicy(t *testing.T) {
	for _, s := range []string{"", "Skip", "Create", "CreateReplace"} {
		if p, err := chartrender.ParseCRDPolicy(s); err != nil || string(p) != s {
			t.Errorf("ParseCRDPolicy(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := chartrender.ParseCRDPolicy("skip"); err == nil {
		t.Error("lower-case skip accepted; Flux's enum is case-sensitive")
	}
}

// decodeAll is used by the benchmark to make helm's output objects, so
// both sides of the comparison do the same work.
func decodeAll(r io.Reader) (int, error) {
	d := k8syaml.NewYAMLOrJSONDecoder(r, 4096)
	n := 0
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		if len(m) > 0 {
			n++
		}
	}
}

func TestRenderValidatesValuesAgainstSchema(t *testing.T) {
	opts := chartrender.Options{ReleaseName: "r", Namespace: "n"}
	bad := map[string]any{"ports": []any{"http"}}
	_, err := chartrender.Render(context.Background(), load(t, "web"), bad, opts)
	if err == nil || !strings.Contains(err.Error(), "chart web 0.3.0: values") || !strings.Contains(err.Error(), "ports") {
		t.Fatalf("err = %v", err)
	}
	opts.SkipSchemaValidation = true
	if _, err := chartrender.Render(context.Background(), load(t, "web"), map[string]any{"ports": []any{}, "name": 5}, opts); err != nil {
		t.Errorf("with the schema skipped: %v", err)
	}
}

// withArchivedSubchart copies the chart at dir and replaces its
// charts/<sub> directory by the packaged archive.
func withArchivedSubchart(t *testing.T, dir, sub string) string {
	t.Helper()
	out, err := os.MkdirTemp("", "chartrender")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	out = filepath.Join(out, filepath.Base(dir))
	if err := os.CopyFS(out, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	subDir := filepath.Join(out, "charts", sub)
	subChart, err := loader.LoadDir(subDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(subChart, filepath.Join(out, "charts")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(subDir); err != nil {
		t.Fatal(err)
	}
	return out
}
