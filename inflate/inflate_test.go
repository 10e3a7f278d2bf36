package inflate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/inflate"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// appChart is chartrender's test chart: a sub-chart, CRDs, pre/post
// install hooks and a test hook, a probed API.
var appChart = filepath.Join("..", "chartrender", "testdata", "charts", "app")

// helmBinary is the helm CLI built from the SDK version in go.mod
// (hack/helm-tool.sh; make test exports TIDEGATE_HELM).
func helmBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("TIDEGATE_HELM")
	if bin == "" {
		t.Skip("TIDEGATE_HELM is unset: export TIDEGATE_HELM=$(hack/helm-tool.sh) to compare with kustomize build --enable-helm")
	}
	return bin
}

// tree writes files (slash paths) under a new directory and copies each
// chart into it at its path.
func tree(t *testing.T, files map[string]string, chartAt ...string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range chartAt {
		if err := os.CopyFS(filepath.Join(root, filepath.FromSlash(at)), os.DirFS(appChart)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func inflater() *inflate.Inflater {
	return inflate.New(charts.New(charts.Options{}), nil)
}

// ours renders path with tidegate's render and the inflater.
func ours(t *testing.T, root, path string, in render.HelmInflater) []map[string]any {
	t.Helper()
	res, err := render.Render(context.Background(), root, []string{path}, render.Options{Helm: in})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, o := range res.Objects {
		out = append(out, o.Object)
	}
	return normalize(t, out)
}

// kustomizeBuild is `kustomize build --enable-helm --helm-command bin`
// of the same kustomize version, on a copy of the tree (kustomize
// writes pulled charts into chartHome).
func kustomizeBuild(t *testing.T, bin, root, path string) []map[string]any {
	t.Helper()
	// helm template's namespace default comes from the kubeconfig.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HELM_NAMESPACE", "")
	// helm splits -f at commas, which test names put in t.TempDir's.
	work, err := os.MkdirTemp("", "inflate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.CopyFS(work, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.PluginConfig.HelmConfig = types.HelmConfig{Enabled: true, Command: bin}
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), filepath.Join(work, filepath.FromSlash(path)))
	if err != nil {
		t.Fatalf("kustomize build --enable-helm: %v", err)
	}
	var out []map[string]any
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, obj)
	}
	return normalize(t, out)
}

// normalize round-trips through JSON so that both sides hold the same
// Go types.
func normalize(t *testing.T, objs []map[string]any) []map[string]any {
	t.Helper()
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func find(objs []map[string]any, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

func kinds(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		out = append(out, u.GetKind()+"/"+u.GetName())
	}
	return out
}

const prodValues = "replicas: 2\ngreeting: bonjour\nimage:\n  tag: \"4.6.0\"\nextraLabels:\n  tier: web\n"

// TestMatchesKustomizeWithHelm builds each kustomization with render and
// the inflater, and with kustomize's own HelmChartInflationGenerator
// running the helm CLI of the same SDK version (helm template of the
// same chart and values), and compares them object for object.
func TestMatchesKustomizeWithHelm(t *testing.T) {
	bin := helmBinary(t)
	cases := []struct {
		name  string
		files map[string]string
		path  string
		// chartAt is where the chart is vendored (default app/charts/app).
		chartAt string
		// check looks at one effect of the entry's fields, so that a
		// comparison of two wrong outputs cannot pass unnoticed.
		check func(t *testing.T, objs []map[string]any)
	}{
		{name: "valuesFile and valuesInline override, CRDs, namespace", path: "app",
			files: map[string]string{
				"app/kustomization.yaml": `helmCharts:
- name: app
  releaseName: rel
  namespace: apps
  includeCRDs: true
  kubeVersion: v1.34.1
  valuesFile: values-prod.yaml
  valuesInline:
    replicas: 3
    extraLabels:
      team: blue
`,
				"app/values-prod.yaml": prodValues,
			},
			check: func(t *testing.T, objs []map[string]any) {
				d := find(objs, "Deployment", "rel-app")
				if d == nil || find(objs, "CustomResourceDefinition", "widgets.example.com") == nil {
					t.Fatalf("no Deployment rel-app or no CRD: %v", kinds(objs))
				}
				if n, _, _ := unstructured.NestedFloat64(d.Object, "spec", "replicas"); n != 3 {
					t.Errorf("replicas = %v, want the inline 3 over the file's 2", n)
				}
			}},
		{name: "merge, no CRDs, the kustomization's namespace, skipTests, additionalValuesFiles", path: "app",
			files: map[string]string{
				"app/kustomization.yaml": `namespace: team
helmCharts:
- name: app
  releaseName: rel2
  kubeVersion: v1.34.1
  valuesFile: values-prod.yaml
  valuesInline:
    replicas: 5
    db:
      storage: 3Gi
  valuesMerge: merge
  additionalValuesFiles: [more.yaml]
  skipTests: true
`,
				"app/values-prod.yaml": prodValues,
				"app/more.yaml":        "greeting: hallo\n",
			},
			check: func(t *testing.T, objs []map[string]any) {
				if find(objs, "CustomResourceDefinition", "widgets.example.com") != nil {
					t.Error("a CRD of crds/ rendered without includeCRDs")
				}
				d := find(objs, "Deployment", "rel2-app")
				if d == nil {
					t.Fatalf("no Deployment: %v", kinds(objs))
				}
				if n, _, _ := unstructured.NestedFloat64(d.Object, "spec", "replicas"); n != 2 {
					t.Errorf("replicas = %v, want the file's 2 (merge keeps the file's values)", n)
				}
				if strings.Contains(strings.Join(kinds(objs), ","), "test") {
					t.Errorf("a test hook rendered with skipTests: %v", kinds(objs))
				}
			}},
		{name: "replace, skipHooks, apiVersions, helm's default release name", path: "app",
			files: map[string]string{
				"app/kustomization.yaml": `helmCharts:
- name: app
  valuesFile: missing-but-replaced.yaml
  valuesInline:
    db:
      enabled: false
  valuesMerge: replace
  skipHooks: true
  apiVersions: [monitoring.coreos.com/v1/ServiceMonitor]
  kubeVersion: v1.31.0
`,
			},
			check: func(t *testing.T, objs []map[string]any) {
				if find(objs, "ServiceMonitor", "release-name-app") == nil || find(objs, "StatefulSet", "release-name-db") != nil {
					t.Errorf("want a ServiceMonitor and no db: %v", kinds(objs))
				}
				if find(objs, "Job", "release-name-app-migrate") != nil {
					t.Error("a hook rendered with skipHooks")
				}
			}},
		{name: "kustomize's pull layout, used with no network", path: "app", chartAt: "app/charts/app-1.2.3/app",
			files: map[string]string{
				// Nothing listens on port 9 (discard): a fetch would fail.
				"app/kustomization.yaml": "helmCharts:\n- name: app\n  repo: http://127.0.0.1:9/charts\n  version: 1.2.3\n  releaseName: pulled\n  kubeVersion: v1.34.1\n",
			},
			check: func(t *testing.T, objs []map[string]any) {
				if find(objs, "Deployment", "pulled-app") == nil {
					t.Errorf("no Deployment pulled-app: %v", kinds(objs))
				}
			}},
		{name: "a base's chart takes the overlay's namespace; nameTemplate; origin annotations", path: "overlay", chartAt: "base/vendor/app",
			files: map[string]string{
				"overlay/kustomization.yaml": "namespace: ov\nresources: [../base]\ncommonLabels:\n  env: prod\nbuildMetadata: [originAnnotations]\n",
				"base/kustomization.yaml": `helmCharts:
- name: app
  nameTemplate: '{{ printf "%s-%s" "tpl" "rel" }}'
  kubeVersion: v1.34.1
helmGlobals:
  chartHome: vendor
`,
			},
			check: func(t *testing.T, objs []map[string]any) {
				cm := find(objs, "ConfigMap", "tpl-rel-app")
				if cm == nil {
					t.Fatalf("no ConfigMap tpl-rel-app: %v", kinds(objs))
				}
				if cm.GetLabels()["env"] != "prod" {
					t.Errorf("the overlay's labels did not reach the chart's objects: %v", cm.GetLabels())
				}
				if o := cm.GetAnnotations()["config.kubernetes.io/origin"]; !strings.Contains(o, "configuredIn: ../base/kustomization.yaml") || !strings.Contains(o, "HelmChartInflationGenerator") {
					t.Errorf("origin annotation = %q, want kustomize's generator origin", o)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := c.chartAt
			if at == "" {
				at = "app/charts/app"
			}
			root := tree(t, c.files, at)
			want := kustomizeBuild(t, bin, root, c.path)
			got := ours(t, root, c.path, inflater())
			if len(want) < 5 {
				t.Fatalf("kustomize built %d objects; the comparison would prove little: %v", len(want), kinds(want))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects differ from kustomize build --enable-helm (-kustomize +tidegate):\n%s", diff)
			}
			c.check(t, got)
		})
	}
}

// TestFetchedFromHTTPRepository fetches the chart from a real Helm HTTP
// repository (packages and index made by the SDK) at a version range,
// compares with kustomize build --enable-helm (which runs helm pull),
// and shows that a run fetches each chart once.
func TestFetchedFromHTTPRepository(t *testing.T) {
	dir := chartstest.Package(t, appChart, "", "1.2.3", "1.3.0", "2.0.0")
	srv := chartstest.Record(t, http.FileServer(http.Dir(dir)), false)
	kust := `helmCharts:
- name: app
  repo: ` + srv.URL + `
  version: "~1.2.0"
  releaseName: web
  namespace: shop
  kubeVersion: v1.34.1
  valuesInline:
    replicas: 4
`
	root := tree(t, map[string]string{"a/kustomization.yaml": kust, "b/kustomization.yaml": strings.Replace(kust, "releaseName: web", "releaseName: web2", 1)})
	res, err := render.Render(context.Background(), root, []string{"a"}, render.Options{Helm: inflater()})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, o := range res.Objects {
		got = append(got, o.Object)
		if origin := res.Origins[object.FromUnstructured(o)]; origin.File != "a/kustomization.yaml" {
			t.Errorf("%s/%s: origin %q, want the kustomization", o.GetKind(), o.GetName(), origin.File)
		}
	}
	got = normalize(t, got)
	d := find(got, "Deployment", "web-app")
	if d == nil || d.GetNamespace() != "shop" {
		t.Fatalf("no Deployment web-app in shop: %v", kinds(got))
	}
	if v := d.GetLabels()["helm.sh/chart"]; v != "app-1.2.3" && v != "" {
		t.Errorf("chart label %q, want version 1.2.3 (the highest matching ~1.2.0)", v)
	}
	paths := func() []string {
		var out []string
		for _, s := range srv.Requests() {
			out = append(out, s.Path)
		}
		return out
	}
	if diff := cmp.Diff([]string{"/index.yaml", "/app-1.2.3.tgz"}, paths()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// One inflater for both paths: the second one fetches nothing.
	in := inflater()
	before := len(srv.Requests())
	if _, err := render.Render(context.Background(), root, []string{"a", "b"}, render.Options{Helm: in}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Requests()) - before; n != 2 {
		t.Errorf("a run with two kustomizations of one chart made %d requests, want 2 (one index, one archive)", n)
	}

	if bin := os.Getenv("TIDEGATE_HELM"); bin != "" {
		want := kustomizeBuild(t, bin, root, "a")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("objects differ from kustomize build --enable-helm (-kustomize +tidegate):\n%s", diff)
		}
	}
}

// TestFetchedFromOCIRegistry pulls the chart from the in-process OCI
// registry and renders what the same chart vendored renders.
func TestFetchedFromOCIRegistry(t *testing.T) {
	reg := registrytest.New(t)
	dir := chartstest.Package(t, appChart, "", "1.2.3")
	archive, err := os.ReadFile(filepath.Join(dir, "app-1.2.3.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	chartstest.PushOCI(t, reg.Host(), nil, "charts/app", "1.2.3", archive)
	entry := "  kubeVersion: v1.34.1\n  releaseName: rel\n  namespace: apps\n  includeCRDs: true\n  valuesInline:\n    greeting: hej\n"
	root := tree(t, map[string]string{
		"oci/kustomization.yaml":    "helmCharts:\n- name: app\n  repo: oci://" + reg.Host() + "/charts\n  version: 1.2.3\n" + entry,
		"vendor/kustomization.yaml": "helmCharts:\n- name: app\n" + entry,
	}, "vendor/charts/app")
	got := ours(t, root, "oci", inflater())
	want := ours(t, root, "vendor", inflater())
	if len(want) < 5 {
		t.Fatalf("only %d objects", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the OCI chart renders otherwise than the vendored one (-vendored +oci):\n%s", diff)
	}
}

// TestFluxUnitAndSOPSValues renders a kustomization with helmCharts as a
// Flux Kustomization builds it: targetNamespace becomes the chart's
// namespace, postBuild substitutes in the chart's output, and a
// SOPS-encrypted valuesFile is decrypted as every repository file is,
// the objects holding its values masked.
func TestFluxUnitAndSOPSValues(t *testing.T) {
	id := sopstest.NewAgeKey(t)
	const secret = "s3cr3t-greeting-77"
	enc := sopstest.EncryptYAML(t, id.Recipient().String(), []byte("greeting: "+secret+"\n"))
	root := tree(t, map[string]string{
		"app/kustomization.yaml": "helmCharts:\n- name: app\n  releaseName: rel\n  kubeVersion: v1.34.1\n  valuesFile: secret.values.yaml\n  valuesInline:\n    image:\n      tag: ${tag}\n",
		"app/secret.values.yaml": string(enc),
	}, "app/charts/app")
	objs, err := render.Decode("ks.yaml", []byte("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: flux-system\nspec:\n  path: ./app\n  targetNamespace: tn\n  postBuild:\n    substitute:\n      tag: \"9.9\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var decrypted []string
	res, err := render.Render(context.Background(), root, []string{"app"}, render.Options{
		Helm: inflater(), Keys: render.Keys{Age: []string{id.String()}},
		Flux:      &render.Flux{Kustomization: objs[0]},
		Decrypted: func(file string, err error) { decrypted = append(decrypted, file) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var cm, dep *unstructured.Unstructured
	for _, o := range res.Objects {
		switch {
		case o.GetKind() == "ConfigMap" && o.GetName() == "rel-app":
			cm = o
		case o.GetKind() == "Deployment":
			dep = o
		}
	}
	if cm == nil || dep == nil {
		t.Fatalf("no ConfigMap rel-app or Deployment in %d objects", len(res.Objects))
	}
	if g, _, _ := unstructured.NestedString(cm.Object, "data", "greeting"); g != secret {
		t.Errorf("greeting = %q, want the encrypted file's value", g)
	}
	if diff := cmp.Diff([]string{"app/secret.values.yaml"}, decrypted); diff != "" {
		t.Errorf("files decrypted (-want +got):\n%s", diff)
	}
	if !res.Origins[object.FromUnstructured(cm)].Decrypted {
		t.Error("the object holding the decrypted value is not marked Decrypted, so diffs would show it")
	}
	masked := cm.DeepCopy()
	res.Mask(masked, nil)
	if g, _, _ := unstructured.NestedString(masked.Object, "data", "greeting"); g == secret {
		t.Error("Mask left the decrypted value")
	}
	img, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if !strings.Contains(strings.TrimSpace(fmt.Sprint(img)), "ghcr.io/example/app:9.9") {
		t.Errorf("postBuild did not substitute in the chart's output: %v", img)
	}
	if ns := dep.GetNamespace(); ns != "" && ns != "tn" {
		t.Errorf("Deployment namespace = %q", ns)
	}
	if ann, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "metadata", "annotations", "kube-version"); ann != "v1.34.1" {
		t.Errorf("kube-version = %q", ann)
	}
	if release, _, _ := unstructured.NestedString(dep.Object, "metadata", "labels", "app.kubernetes.io/instance"); release != "" && release != "rel" {
		t.Errorf("instance label = %q", release)
	}
}

// TestLibraryChartRefused: helm template installs only application
// charts; a library chart in helmCharts is refused, as helm refuses it.
func TestLibraryChartRefused(t *testing.T) {
	root := tree(t, map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: common\n  releaseName: r\n"})
	lib := filepath.Join("..", "chartrender", "testdata", "charts", "web", "charts", "common")
	if err := os.CopyFS(filepath.Join(root, "k", "charts", "common"), os.DirFS(lib)); err != nil {
		t.Fatal(err)
	}
	_, err := render.Render(context.Background(), root, []string{"k"}, render.Options{Helm: inflater()})
	if err == nil || !strings.Contains(err.Error(), "k/kustomization.yaml: helmCharts[common]: chart common") || !strings.Contains(err.Error(), "library chart") {
		t.Fatalf("err = %v", err)
	}
}
