package render_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/render"
)

// TestHostileRenderDuplicateKeys: a mapping that gives a key twice reads
// as one object and applies as another (YAML keeps the last value: a
// second metadata.name renames it). It is refused with file:line and
// the key, in plain directories and in everything kustomize parses.
func TestHostileRenderDuplicateKeys(t *testing.T) {
	const renamed = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: harmless\n  namespace: x\n  name: kube-proxy\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		path  string
		want  []string
	}{
		{"plain YAML", map[string]string{"d/a.yaml": cm("ok", "x") + "---\n" + renamed}, "d",
			[]string{`d/a.yaml:14: the key "name" is given twice`, "first on line 12"}},
		{"plain JSON", map[string]string{"d/a.json": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"}}`}, "d",
			[]string{`d/a.json:1: the key "name" is given twice`}},
		{"kustomize resource", map[string]string{"k/kustomization.yaml": "resources:\n- a.yaml\n", "k/a.yaml": renamed}, "k",
			[]string{`k/a.yaml:6: the key "name" is given twice`, "listed in resources of k/kustomization.yaml"}},
		{"kustomization", map[string]string{"k/kustomization.yaml": "resources:\n- a.yaml\nnamespace: x\nresources:\n- b.yaml\n", "k/a.yaml": cm("a", "x"), "k/b.yaml": cm("b", "x")}, "k",
			[]string{`k/kustomization.yaml:4: the key "resources" is given twice`, "first on line 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			res, err := render.Render(context.Background(), root, []string{tc.path}, render.Options{})
			if err == nil {
				t.Fatalf("rendered %v", names(res))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestKustomizeYAMLErrorLine: kustomize reports a YAML error by the line
// inside the document, counted from 0, and by the path as the
// kustomization wrote it; tidegate names the repository file and the
// line in it.
func TestKustomizeYAMLErrorLine(t *testing.T) {
	twoDocs := cm("a", "x") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata: [oops\n" // "[" is on line 13
	for _, tc := range []struct {
		name  string
		files map[string]string
		path  string
		want  string
	}{
		{"resource, second document", map[string]string{"k/kustomization.yaml": "resources:\n- a.yaml\n", "k/a.yaml": twoDocs}, "k",
			"k/a.yaml:13: invalid YAML: did not find expected ',' or ']'"},
		{"resource of a base", map[string]string{"o/kustomization.yaml": "resources:\n- ../b\n", "b/kustomization.yaml": "resources:\n- a.yaml\n", "b/a.yaml": twoDocs}, "o",
			"b/a.yaml:13: invalid YAML"},
		{"patch file", map[string]string{"k/kustomization.yaml": "resources:\n- ok.yaml\npatches:\n- path: p.yaml\n", "k/ok.yaml": cm("a", "x"), "k/p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n bad: indent\n"}, "k",
			"k/p.yaml:5: invalid YAML"},
		{"the kustomization", map[string]string{"k/kustomization.yaml": "resources:\n- a.yaml\nnamePrefix: [x\n", "k/a.yaml": cm("a", "x")}, "k",
			"k/kustomization.yaml:3: invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			_, err := render.Render(context.Background(), root, []string{tc.path}, render.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestPlainDirectoryFollowsLinks: a link to a directory inside the
// repository is walked as if the directory were there.
func TestPlainDirectoryFollowsLinks(t *testing.T) {
	root := tree(t, map[string]string{
		"d/a.yaml":      cm("a", "x"),
		"common/c.yaml": cm("c", "x"),
		"hidden/h.yaml": cm("h", "x"),
	})
	for link, target := range map[string]string{"d/shared": "../common", "d/.cache": "../hidden", "d/notes": "../nowhere"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := render.Render(context.Background(), root, []string{"d"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ConfigMap/x/a", "ConfigMap/x/c"}, names(res)); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	for id, o := range res.Origins {
		if id.Name == "c" && o.File != "d/shared/c.yaml" {
			t.Errorf("origin of c = %s, want d/shared/c.yaml", o.File)
		}
	}
}

// TestHostileRenderDirLinks: a link in a plain directory that leaves
// the repository, or loops, is refused by name instead of skipped
// without a word (or walked forever).
func TestHostileRenderDirLinks(t *testing.T) {
	for _, tc := range []struct {
		name         string
		link, target string
		want         string
	}{
		{"directory outside the repository", "d/ext", "OUTSIDE", "d/ext is a link to outside the repository root"},
		{"loop", "d/sub/loop", "..", "d/sub/loop is a link to d, which contains it"},
		{"link to the root", "d/sub/up", "../..", "d/sub/up/d is d again, reached through a link"},
		{"manifest that leads nowhere", "d/gone.yaml", "missing.yaml", "d/gone.yaml is a link that leads nowhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, map[string]string{"d/a.yaml": cm("a", "x"), "d/sub/b.yaml": cm("b", "x")})
			outside := t.TempDir()
			os.WriteFile(filepath.Join(outside, "canary.yaml"), []byte(cm("canary-outside", "x")), 0o644)
			target := tc.target
			if target == "OUTSIDE" {
				target = outside
			}
			if err := os.Symlink(target, filepath.Join(root, tc.link)); err != nil {
				t.Fatal(err)
			}
			res, err := render.Render(context.Background(), root, []string{"d"}, render.Options{})
			if err == nil {
				t.Fatalf("rendered %v", names(res))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "canary-outside") || strings.Contains(err.Error(), outside) {
				t.Errorf("the error shows what lies outside: %v", err)
			}
		})
	}
}
