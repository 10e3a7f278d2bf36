package render_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/pgp"
	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/render"
)

// tree writes files (slash paths → content) into a fresh directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func names(res *render.Result) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

func cm(name, ns string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\ndata:\n  k: v\n"
}

func TestPlainDirectoryOrder(t *testing.T) {
	root := tree(t, map[string]string{
		"infra/002-b.yaml":          cm("b", "x"),
		"infra/001-a.yaml":          cm("a", "x") + "---\n# only a comment\n---\n" + cm("a2", "x"),
		"infra/sub/003-c.yml":       cm("c", "x"),
		"infra/notes.txt":           "not yaml",
		"infra/.github/ignored.yml": "name: ci\n",
		"infra/004-list.json":       `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","namespace":"x"}}]}`,
	})
	res, err := render.Render(context.Background(), root, []string{"infra"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ConfigMap/x/a", "ConfigMap/x/a2", "ConfigMap/x/b", "ConfigMap/x/d", "ConfigMap/x/c"}
	if d := cmp.Diff(want, names(res)); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	for _, o := range res.Objects {
		if o.GetName() == "c" {
			id := render.Origin{Path: "infra", File: "infra/sub/003-c.yml"}
			for k, v := range res.Origins {
				if k.Name == "c" && v != id {
					t.Errorf("origin of c = %+v, want %+v", v, id)
				}
			}
		}
	}
}

func TestKustomizeOverlay(t *testing.T) {
	root := tree(t, map[string]string{
		"apps/base/kustomization.yaml": "resources:\n- deploy.yaml\n",
		"apps/base/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.0.0
`,
		"apps/prod/kustomization.yaml": `namespace: prod
resources:
- ../base
patches:
- target: {kind: Deployment, name: web}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 3
configMapGenerator:
- name: settings
  literals: [mode=prod]
`,
	})
	res, err := render.Render(context.Background(), root, []string{"apps/prod"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := names(res)
	if len(got) != 2 || got[0] != "Deployment/prod/web" || !strings.HasPrefix(got[1], "ConfigMap/prod/settings-") {
		t.Fatalf("objects = %v", got)
	}
	// Objects must hold JSON types only (int64, not int): client-go deep
	// copies them and panics on anything else.
	for _, o := range res.Objects {
		_ = o.DeepCopy()
	}
	if r, _, _ := unstructuredInt(res.Objects[0].Object, "spec", "replicas"); r != 3 {
		t.Errorf("replicas = %d, want 3", r)
	}
}

func unstructuredInt(m map[string]any, path ...string) (int64, bool, error) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		cur = mm[p]
	}
	switch v := cur.(type) {
	case int64:
		return v, true, nil
	case int:
		return int64(v), true, nil
	case float64:
		return int64(v), true, nil
	}
	return 0, false, nil
}

func TestErrorsNameTheFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		paths []string
		want  []string
	}{
		{
			name:  "invalid YAML",
			files: map[string]string{"d/a.yaml": cm("a", "x") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata: [oops\n"},
			paths: []string{"d"},
			want:  []string{"d/a.yaml:", "invalid YAML"},
		},
		{
			name:  "resource outside the root",
			files: map[string]string{"d/kustomization.yaml": "resources:\n- ../../outside.yaml\n"},
			paths: []string{"d"},
			want:  []string{"outside", "outside the repository root"},
		},
		{
			name:  "path outside the root",
			files: map[string]string{"d/a.yaml": cm("a", "x")},
			paths: []string{"../"},
			want:  []string{"outside the repository root"},
		},
		{
			name:  "missing path",
			files: map[string]string{"d/a.yaml": cm("a", "x")},
			paths: []string{"nope"},
			want:  []string{"path nope does not exist"},
		},
		{
			name:  "missing file in kustomization",
			files: map[string]string{"d/kustomization.yaml": "resources:\n- gone.yaml\n"},
			paths: []string{"d"},
			want:  []string{"kustomize build d", "gone.yaml"},
		},
		{
			name:  "duplicate across paths",
			files: map[string]string{"a/x.yaml": cm("same", "x"), "b/y.yaml": cm("same", "x")},
			paths: []string{"a", "b"},
			want:  []string{"ConfigMap/x/same is rendered twice", "a/x.yaml", "b/y.yaml"},
		},
		{
			name:  "not an object",
			files: map[string]string{"d/values.yaml": "replicas: 3\n"},
			paths: []string{"d"},
			want:  []string{"d/values.yaml:1", "no apiVersion or kind"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			if tc.name == "resource outside the root" {
				if err := os.WriteFile(filepath.Join(filepath.Dir(root), "outside.yaml"), []byte(cm("o", "x")), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := render.Render(context.Background(), root, tc.paths, render.Options{})
			if err == nil {
				t.Fatal("rendered without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), root) {
				t.Errorf("error shows the machine's path %s: %v", root, err)
			}
		})
	}
}

func TestInvalidYAMLLine(t *testing.T) {
	root := tree(t, map[string]string{"d/a.yaml": cm("a", "x") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n"})
	_, err := render.Render(context.Background(), root, []string{"d"}, render.Options{})
	// The second document starts on line 9; its error is on its line 4 or 5.
	if err == nil || !(strings.Contains(err.Error(), "d/a.yaml:12") || strings.Contains(err.Error(), "d/a.yaml:13")) {
		t.Fatalf("error = %v, want it to point at line 12 or 13 of d/a.yaml", err)
	}
}

// encrypt encrypts plaintext of the given format for an age recipient
// with the sops library, as `sops --encrypt --encrypted-regex REGEX` would.
func encrypt(t testing.TB, recipient string, format formats.Format, plain []byte, regex string) []byte {
	t.Helper()
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	return sopstest.Encrypt(t, mk, format, plain, regex)
}

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
stringData:
  password: s3cr3t-value
`

func TestSOPSAge(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	enc := encrypt(t, id.Recipient().String(), formats.Yaml, []byte(secretYAML), "^(data|stringData)$")
	if strings.Contains(string(enc), "s3cr3t-value") {
		t.Fatal("the test's encryption left the value in clear")
	}
	envEnc := encrypt(t, id.Recipient().String(), formats.Dotenv, []byte("API_TOKEN=tok-123\n"), "")
	root := tree(t, map[string]string{
		"plain/secret.yaml":        string(enc),
		"kust/kustomization.yaml":  "namespace: prod\nsecretGenerator:\n- name: api\n  envs: [api.env]\n",
		"kust/api.env":             string(envEnc),
		"kust2/kustomization.yaml": "resources:\n- secret.yaml\n",
		"kust2/secret.yaml":        string(enc),
	})
	keys := render.Keys{Age: []string{"# created: today\n" + id.String() + "\n"}}

	t.Run("plain directory", func(t *testing.T) {
		res, err := render.Render(context.Background(), root, []string{"plain"}, render.Options{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		sd := res.Objects[0].Object["stringData"].(map[string]any)
		if sd["password"] != "s3cr3t-value" {
			t.Errorf("password = %v", sd["password"])
		}
		if _, ok := res.Objects[0].Object["sops"]; ok {
			t.Error("the sops block survived decryption")
		}
	})
	t.Run("kustomize resource", func(t *testing.T) {
		res, err := render.Render(context.Background(), root, []string{"kust2"}, render.Options{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		if sd := res.Objects[0].Object["stringData"].(map[string]any); sd["password"] != "s3cr3t-value" {
			t.Errorf("password = %v", sd["password"])
		}
	})
	t.Run("secretGenerator over an encrypted .env", func(t *testing.T) {
		res, err := render.Render(context.Background(), root, []string{"kust"}, render.Options{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		data := res.Objects[0].Object["data"].(map[string]any)
		if data["API_TOKEN"] != "dG9rLTEyMw==" { // base64("tok-123")
			t.Errorf("API_TOKEN = %v, want base64 of tok-123", data["API_TOKEN"])
		}
	})
	t.Run("wrong key names the recipients", func(t *testing.T) {
		_, err := render.Render(context.Background(), root, []string{"plain"}, render.Options{Keys: render.Keys{Age: []string{other.String()}}})
		if err == nil {
			t.Fatal("decrypted with the wrong key")
		}
		for _, w := range []string{"plain/secret.yaml", id.Recipient().String(), "--age-key-file"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
		if strings.Contains(err.Error(), other.String()) {
			t.Error("the error shows a private key")
		}
	})
	t.Run("no key at all", func(t *testing.T) {
		_, err := render.Render(context.Background(), root, []string{"kust"}, render.Options{})
		if err == nil || !strings.Contains(err.Error(), "kust/api.env") {
			t.Fatalf("err = %v, want it to name kust/api.env", err)
		}
		if strings.Contains(err.Error(), "tok-123") {
			t.Error("the error shows plaintext")
		}
	})
	t.Run("invalid key", func(t *testing.T) {
		_, err := render.Render(context.Background(), root, []string{"plain"}, render.Options{Keys: render.Keys{Age: []string{"AGE-SECRET-KEY-1NOTAKEY"}}})
		if err == nil || strings.Contains(err.Error(), "NOTAKEY") {
			t.Fatalf("err = %v, want an error that does not echo the key", err)
		}
	})
}

func TestSOPSPGP(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg is not installed (hack/ci-deps.sh installs gnupg)")
	}
	home := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	run("--quick-generate-key", "tidegate test <test@example.invalid>", "rsa2048", "encrypt,sign", "never")
	var fpr string
	for _, l := range strings.Split(string(run("--list-secret-keys", "--with-colons")), "\n") {
		if strings.HasPrefix(l, "fpr:") {
			fpr = strings.Split(l, ":")[9]
			break
		}
	}
	armored := run("--armor", "--export-secret-keys", fpr)
	mk := pgp.NewMasterKeyFromFingerprint(fpr)
	t.Setenv("GNUPGHOME", home) // the test's encryption uses gpg's public key
	enc := sopstest.Encrypt(t, mk, formats.Yaml, []byte(secretYAML), "^(data|stringData)$")
	os.RemoveAll(home) // render must use only the key it is given

	root := tree(t, map[string]string{"plain/secret.yaml": string(enc)})
	res, err := render.Render(context.Background(), root, []string{"plain"}, render.Options{Keys: render.Keys{PGP: [][]byte{armored}}})
	if err != nil {
		t.Fatal(err)
	}
	if sd := res.Objects[0].Object["stringData"].(map[string]any); sd["password"] != "s3cr3t-value" {
		t.Errorf("password = %v", sd["password"])
	}
	_, err = render.Render(context.Background(), root, []string{"plain"}, render.Options{})
	if err == nil || !strings.Contains(err.Error(), "PGP "+fpr) {
		t.Errorf("without the key: err = %v, want it to name the PGP fingerprint", err)
	}
}

func TestSOPSLeftoverIsRefused(t *testing.T) {
	// A document with a sops block that is not a complete SOPS file (here:
	// no MAC) is neither decrypted nor applied.
	root := tree(t, map[string]string{"d/s.yaml": secretYAML + "sops:\n  version: 3.13.3\n"})
	_, err := render.Render(context.Background(), root, []string{"d"}, render.Options{})
	if err == nil || !strings.Contains(err.Error(), "SOPS metadata") {
		t.Fatalf("err = %v, want a refusal of the sops block", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(cm("a", "b") + "---\n" + cm("c", "d")))
	f.Add([]byte("---\n---\n# c\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[]}`))
	f.Add([]byte("a: [\n"))
	f.Add([]byte(billionLaughs()))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("a: &a {b: *a}\n---\nc: *a\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"))
	f.Add([]byte("<<: {a: 1}\n<<: {b: 2}\napiVersion: v1\nkind: X\n"))
	f.Add([]byte(strings.Repeat("[", 200) + strings.Repeat("]", 200)))
	f.Add([]byte("%YAML 1.1\n--- !!map\n? [a, b]\n: c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := render.Decode("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Errorf("error does not start with the file name: %v", err)
			}
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetAPIVersion() == "" {
				if !o.IsList() {
					t.Errorf("decoded an object without kind or apiVersion: %v", o.Object)
				}
			}
		}
	})
}
