package render_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/render"
)

const outsideCanary = "CANARY-FROM-OUTSIDE-THE-REPO"

// TestHostileFluxBuild: a Flux Kustomization or a repository that
// reaches outside the repository through components, patches, links or
// ignore files is refused with an error that names the object, the
// field or the file; nothing outside is read, fetched or run, and the
// checkout is not written to.
func TestHostileFluxBuild(t *testing.T) {
	rec := newRecorder(t)
	marker := programStubs(t)
	for _, tc := range []struct {
		name  string
		files map[string]string
		links map[string]string // link (in the repo) → target, relative to the link's directory
		spec  string            // nil Flux when "-"
		want  []string
	}{
		{"component leaving the repository", map[string]string{"app/cm.yaml": cm("a", "x")}, nil,
			"  components:\n  - ../../outside/comp\n",
			[]string{"Kustomization.kustomize.toolkit.fluxcd.io/flux-system/app", "spec.components[0]", "leads outside the repository root"}},
		{"component through a link", map[string]string{"app/cm.yaml": cm("a", "x")}, map[string]string{"comp": "../outside/comp"},
			"  components:\n  - ../comp\n",
			[]string{"spec.components[0]", "through a link, outside the repository root"}},
		{"absolute component", map[string]string{"app/cm.yaml": cm("a", "x")}, nil,
			"  components:\n  - " + filepath.Join(os.TempDir(), "comp") + "\n",
			[]string{"spec.components[0]", "must be local and relative"}},
		{"remote component", map[string]string{"app/cm.yaml": cm("a", "x")}, nil,
			"  components:\n  - " + rec.url + "/comp\n",
			[]string{"spec.components[0]", "must be local and relative"}},
		{"missing component leaving the repository, ignoreMissingComponents", map[string]string{"app/cm.yaml": cm("a", "x")}, nil,
			"  ignoreMissingComponents: true\n  components:\n  - ../../../../nowhere\n",
			[]string{"spec.components[0]", "leads outside the repository root"}},
		{"patch path in the Flux object", map[string]string{"app/cm.yaml": cm("a", "x")}, nil,
			"  patches:\n  - path: ../../outside/patch.yaml\n",
			[]string{"spec.patches[0].path", "inline"}},
		{"patch path in the directory's kustomization", map[string]string{"app/kustomization.yaml": "resources:\n- cm.yaml\npatches:\n- path: ../../outside/patch.yaml\n", "app/cm.yaml": cm("a", "x")}, nil,
			"  targetNamespace: t\n",
			[]string{"app/kustomization.yaml", "patches", "leads outside the repository root"}},
		{"generated directory with a unit linked outside", map[string]string{"app/cm.yaml": cm("a", "x")}, map[string]string{"app/unit": "../../outside/comp"},
			"",
			[]string{"app/unit is a link to outside the repository root"}},
		{"generated directory with a manifest linked outside", map[string]string{"app/cm.yaml": cm("a", "x")}, map[string]string{"app/stolen.yaml": "../../outside/cm.yaml"},
			"",
			[]string{"app/stolen.yaml is a link to outside the repository root"}},
		{"plain directory with a unit linked outside", map[string]string{"app/cm.yaml": cm("a", "x")}, map[string]string{"app/unit": "../../outside/comp"},
			"-",
			[]string{"app/unit is a link to outside the repository root"}},
		{".sourceignore linked outside", map[string]string{"app/cm.yaml": cm("a", "x")}, map[string]string{"app/.sourceignore": "../../outside/rules"},
			"",
			[]string{"app/.sourceignore is a link to outside the repository root"}},
		{".sourceignore linked outside, plain", map[string]string{"app/cm.yaml": cm("a", "x")}, map[string]string{".sourceignore": "../outside/rules"},
			"-",
			[]string{".sourceignore is a link to outside the repository root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			root := filepath.Join(top, "repo")
			writeFiles(t, root, tc.files)
			writeFiles(t, filepath.Join(top, "outside"), map[string]string{
				"cm.yaml":                 cm(outsideCanary, "x"),
				"patch.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  stolen: " + outsideCanary + "\n",
				"rules":                   "!" + outsideCanary + "\n",
				"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- cm.yaml\n",
				"comp/cm.yaml":            cm(strings.ToLower(outsideCanary), "x"),
			})
			for link, target := range tc.links {
				p := filepath.Join(root, filepath.FromSlash(link))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.FromSlash(target), p); err != nil {
					t.Fatal(err)
				}
			}
			before := checkout(t, top)
			var fx *render.Flux
			if tc.spec != "-" {
				fx = &render.Flux{Kustomization: ks(t, tc.spec)}
			}
			var logs bytes.Buffer
			res, err := render.Render(context.Background(), root, []string{"app"}, render.Options{Flux: fx, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err == nil {
				t.Fatalf("rendered %v; want a refusal", names(res))
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(strings.ToLower(err.Error()+logs.String()), strings.ToLower(outsideCanary)) {
				t.Errorf("the error or the log shows what is outside the repository: %v", err)
			}
			if reqs := rec.requests(); len(reqs) > 0 {
				t.Errorf("fetched %v", reqs)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("a program ran")
			}
			if after := checkout(t, top); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Error("the render wrote to the file system")
			}
		})
	}
}

// TestHostileSourceIgnoreUnignore: a .sourceignore in a sub-directory
// cannot bring back what the root's rules leave out elsewhere: its
// patterns apply below its own directory only, whatever they say.
func TestHostileSourceIgnoreUnignore(t *testing.T) {
	for _, rules := range []string{
		"!../secret/bad.yaml\n",
		"!/app/secret/bad.yaml\n",
		"!/secret/bad.yaml\n",
		"!**/bad.yaml\n!*\n",
		"!../../app/secret/*\n",
	} {
		t.Run(strings.TrimSpace(rules), func(t *testing.T) {
			root := tree(t, map[string]string{
				".sourceignore":         "/app/secret/\n",
				"app/cm.yaml":           cm("a", "x"),
				"app/sub/.sourceignore": rules,
				"app/sub/b.yaml":        cm("b", "x"),
				"app/secret/bad.yaml":   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + strings.ToLower(outsideCanary) + "\nstringData:\n  k: " + outsideCanary + "\n",
			})
			for _, fx := range []*render.Flux{nil, {Kustomization: ks(t, "")}} {
				res, err := render.Render(context.Background(), root, []string{"app"}, render.Options{Flux: fx})
				if err != nil {
					t.Fatal(err)
				}
				out, _ := yaml.Marshal(res.Objects)
				if strings.Contains(strings.ToLower(string(out)), strings.ToLower(outsideCanary)) {
					t.Errorf("flux=%v: the ignored file was rendered: %v", fx != nil, names(res))
				}
				if len(res.Objects) != 2 {
					t.Errorf("flux=%v: objects %v, want a and b", fx != nil, names(res))
				}
			}
		})
	}
}

// TestHostileSecretVarInFailingObject: a failing substitution never
// quotes a value that came from a Secret, in its error or the log.
func TestHostileSecretVarInFailingObject(t *testing.T) {
	const secret = "S3CRET-canary-value"
	for _, tc := range []struct {
		name  string
		obj   string
		spec  string
		value string
		want  []string
	}{
		{"value breaks the YAML", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\ndata:\n  k: ${PASSWORD}\n", "  postBuild: {}\n", secret + ": [",
			[]string{"ConfigMap/ns/cm", "postBuild of app", "not valid YAML once its variables are substituted"}},
		{"invalid variable name beside it", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\ndata:\n  k: ${PASSWORD}\n", "  postBuild:\n    substitute:\n      bad.name: x\n", secret,
			[]string{"ConfigMap/ns/cm", `"bad.name" is invalid`}},
		{"bad substitution in the object", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\ndata:\n  k: ${PASSWORD}\n  j: ${PASSWORD\n", "  postBuild: {}\n", secret,
			[]string{"ConfigMap/ns/cm", "variable substitution failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, map[string]string{"app/cm.yaml": tc.obj})
			var logs bytes.Buffer
			_, err := render.Render(context.Background(), root, []string{"app"}, render.Options{
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Flux: &render.Flux{
					Kustomization: ks(t, tc.spec),
					Vars:          map[string]string{"PASSWORD": tc.value},
					SecretVars:    map[string]bool{"PASSWORD": true},
				},
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error()+logs.String(), secret) {
				t.Errorf("the Secret's value is in the error or the log: %v", err)
			}
		})
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestHostileSourceIgnoreBounds: ignore files are bounded like every
// file render reads, and their rules in number, so that a hostile
// .sourceignore cannot make a render read or match without end.
func TestHostileSourceIgnoreBounds(t *testing.T) {
	many := strings.Repeat("no-such-file-*.yaml\n", 10_001)
	for _, tc := range []struct {
		name  string
		files map[string]string
		opts  render.Options
		fifo  string
		want  []string
	}{
		{"too many rules", map[string]string{"app/cm.yaml": cm("a", "x"), "app/.sourceignore": many}, render.Options{},
			"", []string{"app/.sourceignore brings the ignore rules", "more than 10000"}},
		{"too big", map[string]string{"app/cm.yaml": cm("a", "x"), ".sourceignore": strings.Repeat("#", 4096)}, render.Options{MaxFileBytes: 1024},
			"", []string{".sourceignore is 4096 bytes", "limit of 1024"}},
		{"a FIFO", map[string]string{"app/cm.yaml": cm("a", "x")}, render.Options{},
			"app/sub/.sourceignore", []string{"app/sub/.sourceignore is not a regular file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			if tc.fifo != "" {
				p := filepath.Join(root, filepath.FromSlash(tc.fifo))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Skip("no FIFOs here:", err)
				}
			}
			done := make(chan error, 1)
			go func() {
				_, err := render.Render(context.Background(), root, []string{"app"}, tc.opts)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the render did not end")
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestHostileFluxBoundsAndSyntax: a directory Flux generates a
// kustomization for is held to the plain directory's rules: bounded
// files, alias expansion counted, duplicate keys refused, errors naming
// the file and line; and so are the inline patches of the Flux object.
func TestHostileFluxBoundsAndSyntax(t *testing.T) {
	renamed := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: harmless\n  namespace: x\n  name: kube-proxy\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		spec  string
		opts  render.Options
		want  []string
	}{
		{"duplicate key", map[string]string{"app/a.yaml": cm("ok", "x") + "---\n" + renamed}, "", render.Options{},
			[]string{`app/a.yaml:14: the key "name" is given twice`}},
		{"duplicate key in a unit", map[string]string{"app/u/kustomization.yaml": "resources: [a.yaml]\n", "app/u/a.yaml": renamed}, "", render.Options{},
			[]string{`app/u/a.yaml:6: the key "name" is given twice`}},
		{"not an object", map[string]string{"app/values.yaml": "replicas: 3\n"}, "", render.Options{},
			[]string{"app/values.yaml:1", "no apiVersion or kind"}},
		{"invalid YAML", map[string]string{"app/a.yaml": cm("a", "x") + "  bad: [\n"}, "", render.Options{},
			[]string{"app/a.yaml:", "invalid YAML"}},
		{"billion laughs", map[string]string{"app/lol.yaml": billionLaughs()}, "", render.Options{},
			[]string{"app/lol.yaml:", "more than 100000 nodes"}},
		{"too big", map[string]string{"app/big.yaml": cm("big", "x") + "# " + strings.Repeat("x", 2048) + "\n"}, "", render.Options{MaxFileBytes: 1024},
			[]string{"app/big.yaml is", "limit of 1024"}},
		{"billion laughs in an inline patch", map[string]string{"app/a.yaml": cm("a", "x")},
			"  patches:\n  - patch: |\n" + indent(billionLaughs(), "      ") + "    target: {kind: ConfigMap}\n", render.Options{},
			[]string{"patches[0].patch", "more than 100000 nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			opts := tc.opts
			opts.Flux = &render.Flux{Kustomization: ks(t, tc.spec)}
			res, err := render.Render(context.Background(), root, []string{"app"}, opts)
			if err == nil {
				t.Fatalf("rendered %v", names(res))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), root) {
				t.Errorf("error shows the machine's path: %v", err)
			}
		})
	}
}
