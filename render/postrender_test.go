package render_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/render"
)

func postRenderInput(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\n  labels:\n    app: web\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: apps\ndata:\n  a: \"1\"\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: apps\n  labels:\n    team: x\ndata:\n  a: \"1\"\n",
	} {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func specOf(t *testing.T, text string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func byName(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetName()] = o
	}
	return out
}

// TestPostRender: each field of a HelmRelease's postRenderers[].kustomize
// changes the release's objects as helm-controller's kustomize
// post-renderer does; the input is not changed.
func TestPostRender(t *testing.T) {
	in := postRenderInput(t)
	spec := specOf(t, `
patchesStrategicMerge:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: apps
  spec:
    replicas: 3
patches:
- patch: |
    - op: add
      path: /data/patched
      value: "yes"
  target:
    kind: ConfigMap
    labelSelector: team=x
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: web-config
      namespace: apps
    data:
      b: "2"
patchesJson6902:
- target:
    version: v1
    kind: ConfigMap
    name: web-config
  patch:
  - op: replace
    path: /data/a
    value: "replaced"
images:
- name: nginx
  newName: registry.example/nginx
  newTag: "1.27"
`)
	out, err := render.PostRender(in, spec)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(out)
	if len(out) != 3 {
		t.Fatalf("%d objects, want 3", len(out))
	}
	if r, _, _ := unstructured.NestedInt64(got["web"].Object, "spec", "replicas"); r != 3 {
		t.Errorf("strategic merge patch: replicas %d", r)
	}
	cs, _, _ := unstructured.NestedSlice(got["web"].Object, "spec", "template", "spec", "containers")
	if img := cs[0].(map[string]any)["image"]; img != "registry.example/nginx:1.27" {
		t.Errorf("images: %v", img)
	}
	if d := cmp.Diff(map[string]any{"a": "replaced", "b": "2"}, got["web-config"].Object["data"]); d != "" {
		t.Errorf("web-config data (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]any{"a": "1", "patched": "yes"}, got["other"].Object["data"]); d != "" {
		t.Errorf("other data (-want +got):\n%s", d)
	}
	if r, _, _ := unstructured.NestedFieldNoCopy(in[0].Object, "spec", "replicas"); r != float64(1) {
		t.Errorf("the input was changed: replicas %v", r)
	}
}

// TestHostilePostRender: a patch that names an object outside the
// objects given, a path, a field kustomize would read as a file, an
// alias bomb: refused naming the patch, or applied to the given objects
// only.
func TestHostilePostRender(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	for _, c := range []struct {
		name, spec string
		want       []string
	}{
		{"a strategic merge patch of an object that is not there", `
patches:
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: web-config
      namespace: apps
    data:
      ok: "1"
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: kube-root-ca.crt
      namespace: kube-system
    data:
      evil: "1"
`, []string{"patches[1]: "}},
		{"a JSON 6902 patch that fails", `
patchesJson6902:
- target:
    kind: ConfigMap
    name: web-config
  patch:
  - op: replace
    path: /data/missing/deep
    value: x
`, []string{"patchesJson6902[0]: "}},
		{"a patch from a file", `
patches:
- path: /etc/passwd
`, []string{"patches[0].path", "inline"}},
		{"an unknown field", `
resources:
- https://example.com/evil.yaml
`, []string{"resources: not a field"}},
		{"aliases that expand without end", "patches:\n- patch: |\n" + indent(bomb, "    "), []string{"patches[0].patch", "aliases"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := postRenderInput(t)
			out, err := render.PostRender(in, specOf(t, c.spec))
			if err == nil {
				t.Fatalf("accepted: %d objects", len(out))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if out != nil {
				t.Errorf("objects returned with the error")
			}
		})
	}
	t.Run("two objects with one identity are not blamed on a patch", func(t *testing.T) {
		in := postRenderInput(t)
		in = append(in, in[1].DeepCopy())
		_, err := render.PostRender(in, specOf(t, "images:\n- {name: nginx, newTag: '2'}\n"))
		if err == nil || !strings.Contains(err.Error(), "before any patch") || strings.Contains(err.Error(), "images[0]") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("a target selector reaches only the objects given", func(t *testing.T) {
		in := postRenderInput(t)
		out, err := render.PostRender(in[:1], specOf(t, `
patches:
- patch: |
    - op: add
      path: /metadata/labels/patched
      value: "yes"
  target:
    kind: ConfigMap
`))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].GetKind() != "Deployment" || out[0].GetLabels()["patched"] != "" {
			t.Errorf("output %v", out)
		}
		if in[1].GetLabels()["patched"] != "" || in[2].GetLabels()["patched"] != "" {
			t.Error("objects not given were patched")
		}
	})
}
