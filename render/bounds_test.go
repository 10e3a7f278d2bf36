package render_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tidegate/tidegate/render"
)

// billionLaughs is the classic: nine levels of nine aliases each, under
// a kilobyte that expands to 9^9 (387 million) strings.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\n  namespace: x\ndata:\n")
	b.WriteString("  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [", i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+by) + "\n"
}

// TestHostileRenderBounds: a file that would exhaust memory is refused
// before kustomize or the YAML reader expands it, naming the file and
// the limit, and nothing is rendered.
func TestHostileRenderBounds(t *testing.T) {
	bomb := billionLaughs()
	for _, tc := range []struct {
		name  string
		files map[string]string
		path  string
		opts  render.Options
		want  []string
	}{
		{"billion laughs in a kustomization", map[string]string{
			"k/kustomization.yaml": "resources:\n- ok.yaml\n- lol.yaml\n",
			"k/ok.yaml":            cm("ok", "x"),
			"k/lol.yaml":           bomb,
		}, "k", render.Options{}, []string{"k/lol.yaml:", "more than 100000 nodes", "billion laughs", "listed in resources of k/kustomization.yaml"}},
		{"billion laughs in a base", map[string]string{
			"o/kustomization.yaml": "resources:\n- ../b\n",
			"b/kustomization.yaml": "resources:\n- lol.yaml\n",
			"b/lol.yaml":           bomb,
		}, "o", render.Options{}, []string{"kustomize build o", "b/lol.yaml:", "more than 100000 nodes"}},
		{"billion laughs in a patch", map[string]string{
			"k/kustomization.yaml": "resources:\n- ok.yaml\npatches:\n- path: lol.yaml\n",
			"k/ok.yaml":            cm("lol", "x"),
			"k/lol.yaml":           bomb,
		}, "k", render.Options{}, []string{"k/lol.yaml:", "more than 100000 nodes"}},
		{"billion laughs as the kustomization", map[string]string{
			"k/kustomization.yaml": "commonAnnotations:\n" + strings.SplitN(bomb, "data:\n", 2)[1],
		}, "k", render.Options{}, []string{"k/kustomization.yaml:", "more than 100000 nodes"}},
		{"billion laughs in an inline patch", map[string]string{
			"k/kustomization.yaml": "resources:\n- ok.yaml\npatches:\n- patch: |\n" + indent(bomb, "    "),
			"k/ok.yaml":            cm("lol", "x"),
		}, "k", render.Options{}, []string{"k/kustomization.yaml (patches[0].patch):", "more than 100000 nodes"}},
		{"billion laughs in an inline transformer", map[string]string{
			"k/kustomization.yaml": "resources:\n- ok.yaml\ntransformers:\n- |\n" + indent(strings.Replace(bomb, "apiVersion: v1\nkind: ConfigMap", "apiVersion: builtin\nkind: LabelTransformer", 1), "  "),
			"k/ok.yaml":            cm("lol", "x"),
		}, "k", render.Options{}, []string{"k/kustomization.yaml (transformers[0]):", "more than 100000 nodes"}},
		{"billion laughs in a generator's file", map[string]string{
			"k/kustomization.yaml": "configMapGenerator:\n- name: g\n  files:\n  - lol.yaml\n",
			"k/lol.yaml":           bomb,
		}, "k", render.Options{}, []string{"k/lol.yaml:", "more than 100000 nodes"}},
		{"billion laughs in a plain directory", map[string]string{
			"d/a.yaml":   cm("a", "x"),
			"d/lol.yaml": bomb,
		}, "d", render.Options{}, []string{"d/lol.yaml:", "more than 100000 nodes"}},
		{"a lower alias limit", map[string]string{
			"d/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {a: b, c: d}\n  annotations: *l\n",
		}, "d", render.Options{MaxAliasNodes: 2}, []string{"d/a.yaml:1:", "more than 2 nodes"}},
		{"an alias that contains itself", map[string]string{
			"d/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: &d\n  self: *d\n",
		}, "d", render.Options{}, []string{"d/a.yaml:6:", "refers to the node that contains it"}},
		{"a file over the size limit in a plain directory", map[string]string{
			"d/big.yaml": cm("big", "x") + "  pad: " + strings.Repeat("x", 4096) + "\n",
		}, "d", render.Options{MaxFileBytes: 4096}, []string{"d/big.yaml is 4", "limit of 4096 bytes"}},
		{"a file over the size limit in a kustomization", map[string]string{
			"k/kustomization.yaml": "resources:\n- big.yaml\n",
			"k/big.yaml":           cm("big", "x") + "  pad: " + strings.Repeat("x", 4096) + "\n",
		}, "k", render.Options{MaxFileBytes: 4096}, []string{"k/big.yaml is 4", "limit of 4096 bytes"}},
		{"a generator's data file over the size limit", map[string]string{
			"k/kustomization.yaml": "secretGenerator:\n- name: s\n  files:\n  - big.bin\n",
			"k/big.bin":            strings.Repeat("\x00", 5000),
		}, "k", render.Options{MaxFileBytes: 4096}, []string{"k/big.bin is 5000 bytes", "limit of 4096 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			res, err := render.Render(context.Background(), root, []string{tc.path}, tc.opts)
			if err == nil {
				t.Fatalf("rendered %v", names(res))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if res != nil {
				t.Errorf("a failed render returned objects: %v", names(res))
			}
		})
	}
}

// anchored is a ConfigMap whose alias adds 4 nodes: a mapping of two
// pairs (5 nodes) in place of the alias (1).
func anchored(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: x\n  labels: &l {a: b, c: d}\n  annotations: *l\n"
}

// TestHostileRenderAliasBudget: many files, each under the alias limit,
// cannot together add more than one file may; a file read for several
// paths counts once.
func TestHostileRenderAliasBudget(t *testing.T) {
	opts := render.Options{MaxAliasNodes: 6}
	root := tree(t, map[string]string{
		"d/a.yaml":                anchored("a"),
		"d/b.yaml":                anchored("b"),
		"base/kustomization.yaml": "resources:\n- a.yaml\n",
		"base/a.yaml":             anchored("base"),
		"o1/kustomization.yaml":   "resources:\n- ../base\nnamePrefix: one-\n",
		"o2/kustomization.yaml":   "resources:\n- ../base\nnamePrefix: two-\n",
	})
	_, err := render.Render(context.Background(), root, []string{"d"}, opts)
	if err == nil || !strings.Contains(err.Error(), "d/b.yaml: YAML aliases in this file bring the nodes aliases add in this render to more than 6") {
		t.Errorf("err = %v, want d/b.yaml refused for the render's budget", err)
	}
	res, err := render.Render(context.Background(), root, []string{"o1", "o2"}, opts)
	if err != nil {
		t.Fatalf("a shared base was counted twice: %v", err)
	}
	if len(res.Objects) != 2 {
		t.Errorf("objects = %v", names(res))
	}
}

// TestHostileRenderFIFO: a named pipe called x.yaml would block the
// reader forever; it is refused without being opened for a read that
// waits.
func TestHostileRenderFIFO(t *testing.T) {
	for _, layout := range []string{"plain", "kustomize"} {
		t.Run(layout, func(t *testing.T) {
			files := map[string]string{"d/a.yaml": cm("a", "x")}
			if layout == "kustomize" {
				files["d/kustomization.yaml"] = "resources:\n- a.yaml\n- pipe.yaml\n"
			}
			root := tree(t, files)
			if err := syscall.Mkfifo(filepath.Join(root, "d", "pipe.yaml"), 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			// No writer: even opening the pipe for reading would wait
			// forever.
			_, err := render.Render(context.Background(), root, []string{"d"}, render.Options{})
			if err == nil || !strings.Contains(err.Error(), "d/pipe.yaml is not a regular file") {
				t.Fatalf("err = %v, want a refusal naming d/pipe.yaml", err)
			}
		})
	}
}
