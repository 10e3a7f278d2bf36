package render_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/render"
)

// FuzzPostRender: whatever a HelmRelease's post-renderer says, PostRender
// never panics, never returns objects with an error, never changes its
// input, and never returns more objects than it was given (patches and
// images cannot add one).
func FuzzPostRender(f *testing.F) {
	f.Add("patches:\n- patch: |\n    - op: add\n      path: /data/x\n      value: y\n  target:\n    kind: ConfigMap\n")
	f.Add("patchesStrategicMerge:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm\n  data:\n    x: y\n")
	f.Add("patchesJson6902:\n- target: {kind: ConfigMap, name: cm}\n  patch: [{op: remove, path: /data}]\n")
	f.Add("images:\n- {name: nginx, newTag: '1'}\n")
	f.Add("patches:\n- patch: |\n    $patch: delete\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: cm}\n")
	f.Fuzz(func(t *testing.T, spec string) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(spec), &m); err != nil || m == nil {
			return
		}
		in := []*unstructured.Unstructured{
			{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cm"}, "data": map[string]any{"a": "b"}}},
			{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d"}, "spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx"}}}}}}},
		}
		before := []string{}
		for _, o := range in {
			b, _ := yaml.Marshal(o.Object)
			before = append(before, string(b))
		}
		out, err := render.PostRender(in, m)
		if err != nil && out != nil {
			t.Fatalf("objects with an error: %v", err)
		}
		if len(out) > len(in) {
			t.Fatalf("%d objects from %d", len(out), len(in))
		}
		for i, o := range in {
			if b, _ := yaml.Marshal(o.Object); string(b) != before[i] {
				t.Fatalf("the input changed:\n%s\nto\n%s", before[i], b)
			}
		}
	})
}
