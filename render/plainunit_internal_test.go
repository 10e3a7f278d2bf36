package render

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/object"
)

// unitKustomization is a Flux Kustomization that sets no build field.
func unitKustomization(path string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "unit", "namespace": "flux-system"},
		"spec":     map[string]any{"path": "./" + path, "prune": true},
	}}
}

// bothWays renders path as a Flux unit with plainBuild and with the
// kustomize build, and reports the difference; plain says whether
// plainBuild read it.
func bothWays(t *testing.T, root, path string) (plain bool) {
	t.Helper()
	fast, ferr := Render(context.Background(), root, []string{path}, Options{Flux: &Flux{Kustomization: unitKustomization(path)}})
	slow, serr := Render(context.Background(), root, []string{path}, Options{Flux: &Flux{Kustomization: unitKustomization(path)}, noPlainBuild: true})
	if (ferr == nil) != (serr == nil) {
		t.Errorf("%s: plainBuild error %v, kustomize error %v", path, ferr, serr)
		return false
	}
	if ferr != nil {
		return false
	}
	if len(fast.Objects) != len(slow.Objects) {
		t.Errorf("%s: plainBuild gives %d objects, kustomize %d", path, len(fast.Objects), len(slow.Objects))
		return fast.plainBuilds > 0
	}
	for i := range slow.Objects {
		if !reflect.DeepEqual(fast.Objects[i].Object, slow.Objects[i].Object) {
			t.Errorf("%s: object %d:\nplainBuild %#v\nkustomize  %#v", path, i, fast.Objects[i].Object, slow.Objects[i].Object)
		}
		id := object.FromUnstructured(slow.Objects[i])
		if !reflect.DeepEqual(fast.Origins[id], slow.Origins[id]) {
			t.Errorf("%s: %s origin: plainBuild %+v, kustomize %+v", path, id, fast.Origins[id], slow.Origins[id])
		}
	}
	return fast.plainBuilds > 0
}

// TestPlainUnitMatchesKustomize: every directory of the repository's
// test trees, and directories made to sit on what kustomize treats
// specially, render as Flux units alike with plainBuild and with a
// kustomize build: same objects, same order, same origins; and
// plainBuild does read most plain directories.
func TestPlainUnitMatchesKustomize(t *testing.T) {
	edges := map[string]string{
		"order":     "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: a\nspec:\n  replicas: 2\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: a\n",
		"values":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v\ndata:\n  a: \"1\"\nspec:\n  yes: yes\n  oct: 0755\n  f: 1.5\n  whole: 2.0\n  n: null\n  e:\n  empty: {}\n  list: []\n  big: 12345678901234567890\n",
		"nulls":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n  labels:\n  annotations: {}\ndata:\n",
		"local":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: l\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n",
		"list":      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: in-list\n",
		"noname":    "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n",
		"anchor":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: an\ndata: &d\n  a: b\nx: *d\n",
		"json":      "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"j\",\"namespace\":\"x\"},\"data\":{\"index\":\"1\"}}\n",
		"comments":  "# head\napiVersion: v1 # trailing\nkind: ConfigMap\nmetadata:\n  name: c\n  # inside\ndata:\n  a: |\n    multi\n    line\n  b: >\n    folded\n",
		"multidoc":  "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m1\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m2\n...\n",
		"intlabel":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: il\n  labels:\n    a: 1\n",
		"timestamp": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ts\ndata:\n  t: 2001-12-14t21:59:43.10-05:00\n",
	}
	root := t.TempDir()
	for name, doc := range edges {
		dir := filepath.Join(root, "edges", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		// A second file, so the order across files counts too.
		if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: second-%s\nstringData:\n  k: v\n", name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The ones plainBuild must read; the others it must leave to
	// kustomize (and they match either way).
	mustRead := map[string]bool{"order": true, "values": true, "json": true, "comments": true, "multidoc": true}
	for name := range edges {
		if got := bothWays(t, root, "edges/"+name); got != mustRead[name] {
			t.Errorf("edges/%s: plainBuild read it: %v, want %v", name, got, mustRead[name])
		}
	}

	// Every directory of the test trees (those with a kustomization are
	// built by kustomize either way; the comparison still holds).
	read := 0
	for _, tree := range []string{filepath.Join("..", "testdata"), filepath.Join("testdata", "flux")} {
		err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || strings.Contains(p, "fuzz") {
				return err
			}
			rel, err := filepath.Rel(tree, p)
			if err != nil || rel == "." {
				return err
			}
			if bothWays(t, tree, filepath.ToSlash(rel)) {
				read++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if read < 5 {
		t.Errorf("plainBuild read only %d directories of the test trees; the comparison proves little", read)
	}
	t.Logf("plainBuild read %d directories of the test trees", read)
}

// FuzzPlainUnit: any file, as a Flux unit's plain directory, renders
// alike with plainBuild and with kustomize.
func FuzzPlainUnit(f *testing.F) {
	for _, s := range []string{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: yes\n", "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"}}\n", "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "u"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "u", "a.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		bothWays(t, root, "u")
	})
}
