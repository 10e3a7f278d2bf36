package render_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// ks returns a Flux Kustomization object with spec given as YAML
// (indented two spaces under spec:).
func ks(t *testing.T, spec string) *unstructured.Unstructured {
	t.Helper()
	objs, err := render.Decode("ks.yaml", []byte("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: flux-system\nspec:\n  path: ./app\n"+spec))
	if err != nil {
		t.Fatal(err)
	}
	return objs[0]
}

func fluxRender(t *testing.T, root, path string, fx *render.Flux) (*render.Result, error) {
	t.Helper()
	return render.Render(context.Background(), root, []string{path}, render.Options{Flux: fx})
}

func field(t *testing.T, o *unstructured.Unstructured, path ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

// TestFluxBuildFields: each build field of a Flux Kustomization changes
// the build as kustomize-controller's does.
func TestFluxBuildFields(t *testing.T) {
	base := map[string]string{
		"app/kustomization.yaml":  "namespace: from-file\nnamePrefix: file-\nresources:\n- cm.yaml\n- deploy.yaml\nimages:\n- name: nginx\n  newTag: \"1.0\"\n  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
		"app/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    tier: web\ndata:\n  k: v\n",
		"app/deploy.yaml":         "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:0.9\n",
		"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- extra.yaml\n",
		"comp/extra.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
	}
	for _, tc := range []struct {
		name  string
		spec  string
		check func(t *testing.T, res *render.Result)
	}{
		{"targetNamespace replaces the kustomization's namespace", "  targetNamespace: target\n", func(t *testing.T, res *render.Result) {
			want := []string{"ConfigMap/target/file-cm", "Deployment/target/file-web"}
			if d := cmp.Diff(want, names(res)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		}},
		{"namePrefix and nameSuffix replace the kustomization's", "  namePrefix: flux-\n  nameSuffix: -x\n", func(t *testing.T, res *render.Result) {
			want := []string{"ConfigMap/from-file/flux-cm-x", "Deployment/from-file/flux-web-x"}
			if d := cmp.Diff(want, names(res)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		}},
		{"patches with a label selector", "  patches:\n  - patch: |\n      - op: add\n        path: /data/patched\n        value: \"yes\"\n    target:\n      kind: ConfigMap\n      labelSelector: tier=web\n", func(t *testing.T, res *render.Result) {
			if got := field(t, res.Objects[0], "data", "patched"); got != "yes" {
				t.Errorf("data.patched = %q, want yes", got)
			}
		}},
		{"patchesStrategicMerge", "  patchesStrategicMerge:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n    spec:\n      replicas: 4\n", func(t *testing.T, res *render.Result) {
			if got := field(t, res.Objects[1], "spec", "replicas"); got != "4" {
				t.Errorf("replicas = %q, want 4", got)
			}
		}},
		{"patchesJson6902", "  patchesJson6902:\n  - target: {group: apps, version: v1, kind: Deployment, name: web}\n    patch:\n    - op: replace\n      path: /spec/replicas\n      value: 5\n", func(t *testing.T, res *render.Result) {
			if got := field(t, res.Objects[1], "spec", "replicas"); got != "5" {
				t.Errorf("replicas = %q, want 5", got)
			}
		}},
		{"images: a tag replaces the file's tag and digest", "  images:\n  - name: nginx\n    newTag: \"2.0\"\n", func(t *testing.T, res *render.Result) {
			c, _, _ := unstructured.NestedSlice(res.Objects[1].Object, "spec", "template", "spec", "containers")
			if got := c[0].(map[string]any)["image"]; got != "nginx:2.0" {
				t.Errorf("image = %v, want nginx:2.0 (a stale digest must not survive a new tag)", got)
			}
		}},
		{"images: a newName keeps the file's tag and digest", "  images:\n  - name: nginx\n    newName: mirror/nginx\n", func(t *testing.T, res *render.Result) {
			c, _, _ := unstructured.NestedSlice(res.Objects[1].Object, "spec", "template", "spec", "containers")
			if got := c[0].(map[string]any)["image"]; got != "mirror/nginx:1.0@sha256:1111111111111111111111111111111111111111111111111111111111111111" {
				t.Errorf("image = %v", got)
			}
		}},
		{"components", "  components:\n  - ../comp\n", func(t *testing.T, res *render.Result) {
			want := []string{"ConfigMap/from-file/file-cm", "Deployment/from-file/file-web", "ConfigMap/from-file/file-extra"}
			if d := cmp.Diff(want, names(res)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			id := object.ID{Kind: "ConfigMap", Namespace: "from-file", Name: "file-extra"}
			if f := res.Origins[id].File; f != "comp/extra.yaml" {
				t.Errorf("Origin.File of the component's object = %q, want comp/extra.yaml", f)
			}
		}},
		{"ignoreMissingComponents skips a missing component", "  ignoreMissingComponents: true\n  components:\n  - ../comp\n  - ../missing\n", func(t *testing.T, res *render.Result) {
			if len(res.Objects) != 3 {
				t.Errorf("objects %v, want the component's too", names(res))
			}
		}},
		{"commonMetadata after postBuild", "  commonMetadata:\n    labels:\n      team: a\n      literal: ${X}\n    annotations:\n      note: hello\n  postBuild:\n    substitute:\n      X: x\n", func(t *testing.T, res *render.Result) {
			for _, o := range res.Objects {
				l, a := o.GetLabels(), o.GetAnnotations()
				if l["team"] != "a" || a["note"] != "hello" {
					t.Errorf("%s: labels %v annotations %v, want commonMetadata's", o.GetName(), l, a)
				}
				if l["literal"] != "${X}" {
					t.Errorf("%s: commonMetadata label = %q; Flux sets commonMetadata after substitution, so it stays ${X}", o.GetName(), l["literal"])
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, base)
			res, err := fluxRender(t, root, "app", &render.Flux{Kustomization: ks(t, tc.spec)})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, res)
		})
	}
	t.Run("a missing component without ignoreMissingComponents fails", func(t *testing.T) {
		root := tree(t, base)
		_, err := fluxRender(t, root, "app", &render.Flux{Kustomization: ks(t, "  components:\n  - ../missing\n")})
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("err = %v, want one naming the missing component", err)
		}
	})
}

// TestFluxPostBuild: spec.postBuild with Flux's semantics.
func TestFluxPostBuild(t *testing.T) {
	const obj = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n%s\ndata:\n  a: \"${A}\"\n  d: ${D:=fallback}\n  n: \"${N}\"\n"
	for _, tc := range []struct {
		name string
		meta string
		spec string
		vars map[string]string
		want map[string]string
		err  []string
	}{
		{"no postBuild: nothing substituted, even with variables", "", "", map[string]string{"A": "x"},
			map[string]string{"a": "${A}", "d": "${D:=fallback}", "n": "${N}"}, nil},
		{"postBuild without variables: nothing substituted, as Flux", "", "  postBuild: {}\n", nil,
			map[string]string{"a": "${A}", "d": "${D:=fallback}", "n": "${N}"}, nil},
		{"substitute over substituteFrom, defaults, unset is empty", "", "  postBuild:\n    substitute:\n      A: inline\n", map[string]string{"A": "from", "N": "1\n2"},
			map[string]string{"a": "inline", "d": "fallback", "n": "12"}, nil},
		{"a set variable wins over the default", "", "  postBuild:\n    substitute:\n      D: set\n", nil,
			map[string]string{"a": "", "d": "set", "n": ""}, nil},
		{"opt-out by label", "  labels:\n    kustomize.toolkit.fluxcd.io/substitute: disabled", "  postBuild:\n    substitute:\n      A: x\n", nil,
			map[string]string{"a": "${A}", "d": "${D:=fallback}", "n": "${N}"}, nil},
		{"opt-out by annotation, even with an invalid name", "  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled", "  postBuild:\n    substitute:\n      bad-name: x\n", nil,
			map[string]string{"a": "${A}", "d": "${D:=fallback}", "n": "${N}"}, nil},
		{"invalid variable name", "", "  postBuild:\n    substitute:\n      bad-name: x\n", nil, nil,
			[]string{"ConfigMap/ns/cm: postBuild of app", "Kustomization.kustomize.toolkit.fluxcd.io/flux-system/app", `"bad-name" is invalid`}},
		{"invalid name from substituteFrom", "", "  postBuild: {}\n", map[string]string{"1st": "x"}, nil,
			[]string{"ConfigMap/ns/cm", `"1st" is invalid`}},
		{"a substitute value that is not a string", "", "  postBuild:\n    substitute:\n      A: 3\n", nil, nil,
			[]string{"spec.postBuild.substitute", "as a string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := tc.meta
			if meta == "" {
				meta = "  labels: {}"
			}
			root := tree(t, map[string]string{"app/cm.yaml": strings.Replace(obj, "%s", meta, 1)})
			res, err := fluxRender(t, root, "app", &render.Flux{Kustomization: ks(t, tc.spec), Vars: tc.vars})
			if tc.err != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The substitution is on the YAML text, as Flux's: "${N}"
			// becomes 12, a number, and an empty value null.
			data, _, _ := unstructured.NestedMap(res.Objects[0].Object, "data")
			got := map[string]string{}
			for k, v := range data {
				if v != nil {
					got[k] = fmt.Sprint(v)
				} else {
					got[k] = ""
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("data (-want +got):\n%s", d)
			}
		})
	}
}

// TestFluxSecretVars: a value from a Secret is recorded as plaintext,
// and the objects holding one are masked like decrypted ones.
func TestFluxSecretVars(t *testing.T) {
	const secret = "s3cr3t-from-a-Secret"
	root := tree(t, map[string]string{
		"app/uses.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: uses\ndata:\n  password: ${PASSWORD}\n  url: postgres://app:${PASSWORD}@db\n  user: ${USER}\n",
		"app/other.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  user: ${USER}\n",
	})
	res, err := fluxRender(t, root, "app", &render.Flux{
		Kustomization: ks(t, "  postBuild: {}\n"),
		Vars:          map[string]string{"PASSWORD": secret, "USER": "app"},
		SecretVars:    map[string]bool{"PASSWORD": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plaintext.Has(secret) {
		t.Error("the Secret's value is not recorded as plaintext")
	}
	for _, o := range res.Objects {
		origin := res.Origins[object.FromUnstructured(o)]
		want := o.GetName() == "uses"
		if origin.Decrypted != want {
			t.Errorf("%s: Decrypted = %v, want %v", o.GetName(), origin.Decrypted, want)
		}
		res.Mask(o, nil)
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		for k, v := range data {
			if strings.Contains(v, secret) {
				t.Errorf("%s: data.%s = %q after Mask", o.GetName(), k, v)
			}
		}
	}
}

// TestKustomizeOriginFile: kustomize output says which file each object
// came from; a generated object names its kustomization; a
// kustomization that asks for origin annotations keeps them.
func TestKustomizeOriginFile(t *testing.T) {
	root := tree(t, map[string]string{
		"base/kustomization.yaml": "resources:\n- cm.yaml\n",
		"base/cm.yaml":            cm("a", "x"),
		"over/kustomization.yaml": "resources:\n- ../base\nconfigMapGenerator:\n- name: gen\n  namespace: x\n  literals: [k=v]\n",
		"keep/kustomization.yaml": "buildMetadata: [originAnnotations]\nresources:\n- cm.yaml\n",
		"keep/cm.yaml":            cm("kept", "x"),
	})
	res, err := render.Render(context.Background(), root, []string{"over", "keep"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range res.Objects {
		got[o.GetName()] = res.Origins[object.FromUnstructured(o)].File
		_, has := o.GetAnnotations()["config.kubernetes.io/origin"]
		if has != (o.GetName() == "kept") {
			t.Errorf("%s: origin annotation present = %v", o.GetName(), has)
		}
		if s := res.Origins[object.FromUnstructured(o)].String(); !strings.HasSuffix(s, "(kustomization)") {
			t.Errorf("%s: Origin.String() = %q, want the --path's kustomization as before", o.GetName(), s)
		}
	}
	want := map[string]string{"a": "base/cm.yaml", "kept": "keep/cm.yaml"}
	for name, f := range got {
		if strings.HasPrefix(name, "gen-") {
			want[name] = "over/kustomization.yaml"
		}
		_ = f
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Origin.File (-want +got):\n%s", d)
	}
}

// TestPlainDirectoryUnits: a directory without a kustomization holding
// one in a sub-directory (the flux-system layout) renders the
// sub-directory with kustomize, in place, instead of reading its
// kustomization.yaml as an object.
func TestPlainDirectoryUnits(t *testing.T) {
	root := tree(t, map[string]string{
		"clusters/prod/a.yaml":                         cm("a", "x"),
		"clusters/prod/flux-system/kustomization.yaml": "namespace: flux-system\nresources:\n- sync.yaml\n",
		"clusters/prod/flux-system/sync.yaml":          cm("sync", "x"),
		"clusters/prod/flux-system/not-listed.yaml":    "kind: NotAnObject\n",
		"clusters/prod/z/z.yaml":                       cm("z", "x"),
	})
	res, err := render.Render(context.Background(), root, []string{"clusters/prod"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ConfigMap/x/a", "ConfigMap/flux-system/sync", "ConfigMap/x/z"}
	if d := cmp.Diff(want, names(res)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if o := res.Origins[object.ID{Kind: "ConfigMap", Namespace: "flux-system", Name: "sync"}]; o.Path != "clusters/prod" || o.File != "clusters/prod/flux-system/sync.yaml" {
		t.Errorf("origin of sync = %+v", o)
	}
}

// TestSourceIgnore: Flux's default ignores, .sourceignore files scoped
// to their directory, and Options.Ignore leave files out, of plain
// directories and of kustomize builds alike.
func TestSourceIgnore(t *testing.T) {
	files := map[string]string{
		".sourceignore":        "# root rules\n/d/skip-root.yaml\n",
		"d/.sourceignore":      "local.yaml\n",
		"d/keep.yaml":          cm("keep", "x"),
		"d/skip-root.yaml":     "broken: [\n",
		"d/local.yaml":         "broken: [\n",
		"d/sub/local.yaml":     "broken: [\n", // d/.sourceignore's pattern has no slash: any depth below d
		"d/.sops.yaml":         "creation_rules: []\n",
		"d/extra.yaml":         "broken: [\n",
		"e/local.yaml":         cm("e-local", "x"), // not d's rule
		"k/kustomization.yaml": "resources:\n- cm.yaml\n- extra.yaml\n",
		"k/cm.yaml":            cm("k", "x"),
		"k/extra.yaml":         cm("k-extra", "x"),
	}
	for _, flux := range []bool{false, true} {
		var fx *render.Flux
		if flux {
			fx = &render.Flux{Kustomization: ks(t, "")}
		}
		root := tree(t, files)
		res, err := render.Render(context.Background(), root, []string{"d", "e"}, render.Options{Flux: fx, Ignore: []string{"/d/extra.yaml"}})
		if err != nil {
			t.Fatalf("flux=%v: %v", flux, err)
		}
		if d := cmp.Diff([]string{"ConfigMap/x/keep", "ConfigMap/x/e-local"}, names(res)); d != "" {
			t.Errorf("flux=%v (-want +got):\n%s", flux, d)
		}
		_, err = render.Render(context.Background(), root, []string{"k"}, render.Options{Flux: fx, Ignore: []string{"k/extra.yaml"}})
		if err == nil || !strings.Contains(err.Error(), "k/extra.yaml is ignored") {
			t.Errorf("flux=%v: kustomize read an ignored file: err = %v", flux, err)
		}
	}
}

// TestFluxSOPS: in a directory Flux generates a kustomization for, an
// encrypted manifest is decrypted as kustomize reads it, keeps its file
// as origin and is masked by provenance; a plain ConfigMap beside it is
// not.
func TestFluxSOPS(t *testing.T) {
	id := sopstest.NewAgeKey(t)
	enc := sopstest.EncryptYAML(t, id.Recipient().String(), []byte(secretYAML))
	root := tree(t, map[string]string{
		"app/secret.yaml": string(enc),
		"app/cm.yaml":     cm("plain", "prod"),
	})
	var reported []string
	res, err := render.Render(context.Background(), root, []string{"app"}, render.Options{
		Keys:      render.Keys{Age: []string{id.String()}},
		Flux:      &render.Flux{Kustomization: ks(t, "  targetNamespace: prod\n")},
		Decrypted: func(file string, err error) { reported = append(reported, fmt.Sprint(file, " ", err)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"app/secret.yaml <nil>"}, reported); d != "" {
		t.Errorf("Options.Decrypted (-want +got):\n%s", d)
	}
	for _, o := range res.Objects {
		origin := res.Origins[object.FromUnstructured(o)]
		switch o.GetName() {
		case "db":
			if origin.File != "app/secret.yaml" || !origin.Decrypted {
				t.Errorf("origin of the secret = %+v", origin)
			}
			if sd, _, _ := unstructured.NestedString(o.Object, "stringData", "password"); sd != "s3cr3t-value" {
				t.Errorf("password = %q", sd)
			}
		case "plain":
			if origin.File != "app/cm.yaml" || origin.Decrypted {
				t.Errorf("origin of the ConfigMap = %+v", origin)
			}
		}
	}
}

// TestFluxDuplicates: an object given twice in a generated directory is
// an error naming both files, as in a plain directory.
func TestFluxDuplicates(t *testing.T) {
	root := tree(t, map[string]string{"app/a.yaml": cm("same", "x"), "app/b/b.yaml": cm("same", "x")})
	_, err := fluxRender(t, root, "app", &render.Flux{Kustomization: ks(t, "")})
	for _, s := range []string{"ConfigMap/x/same is rendered twice", "app/a.yaml", "app/b/b.yaml"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not say %q", err, s)
		}
	}
}

// TestRenderConcurrent: renders running at once, as independent Flux
// units do, each get their own objects (kustomize's process-wide state
// would otherwise crash the process or mix their schemas).
func TestRenderConcurrent(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 8; i++ {
		files[fmt.Sprintf("app%d/kustomization.yaml", i)] = fmt.Sprintf("namespace: ns%d\nlabels:\n- pairs: {app: a%d}\nresources: [cm.yaml]\n", i, i)
		files[fmt.Sprintf("app%d/cm.yaml", i)] = cm(fmt.Sprintf("cm%d", i), "x")
	}
	root := tree(t, files)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		fx := &render.Flux{Kustomization: ks(t, "  namePrefix: p-\n")}
		go func() {
			res, err := render.Render(context.Background(), root, []string{fmt.Sprintf("app%d", i)}, render.Options{Flux: fx})
			if err == nil && (len(res.Objects) != 1 || res.Objects[0].GetName() != fmt.Sprintf("p-cm%d", i) || res.Objects[0].GetNamespace() != fmt.Sprintf("ns%d", i)) {
				err = fmt.Errorf("app%d rendered %v", i, names(res))
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
