package render_test

import (
	"context"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/cmd/sops/formats"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/internal/plaintext"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

const canary = "canary-Zq8vX3kP-plaintext"

// leaks reports the forms of canary found in s.
func leaks(s string, canaries ...string) []string {
	var out []string
	for _, c := range canaries {
		for _, f := range []string{c, base64.StdEncoding.EncodeToString([]byte(c))} {
			if strings.Contains(s, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

var encValue = regexp.MustCompile(`ENC\[AES256_GCM,data:([^,]*),iv:[^,]*,tag:[^,]*,type:str\]`)

// TestHostileSecretSOPSErrors: files edited after encryption fail with
// an error that names the file and the key, says to re-encrypt, and
// never quotes the plaintext, which sops' own errors do.
func TestHostileSecretSOPSErrors(t *testing.T) {
	id := sopstest.NewAgeKey(t)
	keys := render.Keys{Age: []string{id.String()}}
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: " + canary + "\n"
	enc := string(encrypt(t, id.Recipient().String(), formats.Yaml, []byte(plain), "^(data|stringData)$"))
	if !strings.Contains(enc, ",type:str]") || strings.Contains(enc, canary) {
		t.Fatal("unexpected encryption output")
	}
	firstValue := func(s, typ string) string {
		loc := encValue.FindStringIndex(s)
		return s[:loc[0]] + strings.Replace(s[loc[0]:loc[1]], "type:str", "type:"+typ, 1) + s[loc[1]:]
	}
	lastmod := regexp.MustCompile(`(?m)^\s+lastmodified:.*\n`)
	cases := []struct {
		name, file, want string
	}{
		{"type str to int", firstValue(enc, "int"), "stringData.password"},
		{"type str to bool", firstValue(enc, "bool"), "stringData.password"},
		{"type str to float", firstValue(enc, "float"), "stringData.password"},
		{"type str to time", firstValue(enc, "time"), "stringData.password"},
		{"unknown type", firstValue(enc, "nope"), "stringData.password"},
		// found by FuzzDecryptError: sops' cipher panics on it
		{"type str to bytes", firstValue(enc, "bytes"), "stringData.password"},
		{"ciphertext edited", strings.Replace(enc, "password: ENC[AES256_GCM,data:", "password: ENC[AES256_GCM,data:AAAA", 1), "stringData.password"},
		{"value replaced in clear", strings.Replace(enc, encValue.FindString(enc), "now-in-clear", 1), "stringData.password"},
		{"unencrypted field edited (MAC mismatch)", strings.Replace(enc, "name: db", "name: db2", 1), "message authentication code"},
		{"lastmodified removed", lastmod.ReplaceAllString(enc, ""), "lastmodified"},
		{"lastmodified edited", regexp.MustCompile(`lastmodified: "\d{4}`).ReplaceAllString(enc, `lastmodified: "1999`), "message authentication code"},
	}
	for _, tc := range cases {
		for _, layout := range []struct{ name, path string }{{"plain", "p"}, {"kustomize", "k"}} {
			t.Run(tc.name+"/"+layout.name, func(t *testing.T) {
				if tc.file == enc {
					t.Fatal("the tampering changed nothing")
				}
				root := tree(t, map[string]string{
					"p/secret.yaml":        tc.file,
					"k/kustomization.yaml": "resources: [secret.yaml]\n",
					"k/secret.yaml":        tc.file,
				})
				file := layout.path + "/secret.yaml"
				set := plaintext.New()
				res, err := render.Render(context.Background(), root, []string{layout.path}, render.Options{Keys: keys, Plaintext: set})
				if err == nil {
					t.Fatalf("rendered a tampered file: %v", res.Objects)
				}
				msg := err.Error()
				for _, w := range []string{file, tc.want, "re-encrypt the file with sops"} {
					if !strings.Contains(msg, w) {
						t.Errorf("error lacks %q:\n%s", w, msg)
					}
				}
				if l := leaks(msg, canary); len(l) > 0 {
					t.Errorf("error carries the plaintext %q:\n%s", l, msg)
				}
				if res != nil {
					t.Error("a failed render returned objects")
				}
			})
		}
	}
	// The untouched file renders, and its value is recorded.
	root := tree(t, map[string]string{"p/secret.yaml": enc})
	set := plaintext.New()
	if _, err := render.Render(context.Background(), root, []string{"p"}, render.Options{Keys: keys, Plaintext: set}); err != nil {
		t.Fatal(err)
	}
	if !set.Has(canary) || !set.Has(base64.StdEncoding.EncodeToString([]byte(canary))) || set.Has("db") || set.Has("Secret") {
		t.Error("the set does not hold exactly the decrypted value and its base64")
	}
}

// TestHostileSecretPGPCause: a PGP key without gpg says so, instead of
// "none of the keys matches".
func TestHostileSecretPGPCause(t *testing.T) {
	id := sopstest.NewAgeKey(t)
	enc := string(encrypt(t, id.Recipient().String(), formats.Yaml, []byte(secretYAML), "^(data|stringData)$"))
	// The same file, encrypted (as far as its metadata says) for a PGP
	// key only.
	pgpBlock := "    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n          enc: |\n            -----BEGIN PGP MESSAGE-----\n            AAAA\n            -----END PGP MESSAGE-----\n          fp: 0123456789ABCDEF0123456789ABCDEF01234567\n"
	file := regexp.MustCompile(`(?s)    age:\n.*?recipient: age1\w+\n`).ReplaceAllString(enc, pgpBlock)
	if file == enc {
		t.Fatal("the test did not replace the age block")
	}
	root := tree(t, map[string]string{"p/secret.yaml": file})
	t.Setenv("PATH", t.TempDir())
	t.Setenv("SOPS_GPG_EXEC", "")
	_, err := render.Render(context.Background(), root, []string{"p"}, render.Options{Keys: render.Keys{PGP: [][]byte{[]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\nsecret-key-material\n-----END PGP PRIVATE KEY BLOCK-----\n")}}})
	if err == nil {
		t.Fatal("decrypted without gpg")
	}
	for _, w := range []string{"p/secret.yaml", "gpg is not installed or not on PATH", "gnupg"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "secret-key-material") {
		t.Errorf("error shows the private key: %v", err)
	}
}

// TestHostileSecretProvenance: objects from SOPS files are masked
// whatever their kind, short values included; kustomize copies of a
// decrypted value are found too; kustomize errors that dump a node are
// scrubbed.
func TestHostileSecretProvenance(t *testing.T) {
	id := sopstest.NewAgeKey(t)
	keys := render.Keys{Age: []string{id.String()}}
	r := id.Recipient().String()
	sopsCM := encrypt(t, r, formats.Yaml, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sops-cm\n  namespace: prod\ndata:\n  token: "+canary+"\n  pin: \"7\"\n"), "^(data|stringData)$")
	sopsDeploy := encrypt(t, r, formats.Yaml, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        env:\n        - name: SHORT\n          value: \"ab\"\n"), "^value$")
	secret := encrypt(t, r, formats.Yaml, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: "+canary+"\n"), "^(data|stringData)$")
	envFile := encrypt(t, r, formats.Dotenv, []byte("API_TOKEN=x9\n"), "")
	root := tree(t, map[string]string{
		"plain/cm.yaml":        string(sopsCM),
		"plain/deploy.yaml":    string(sopsDeploy),
		"plain/clear.yaml":     cm("clear-plain", "prod"),
		"k/kustomization.yaml": "resources: [secret.yaml, clear.yaml]\nsecretGenerator:\n- name: api\n  namespace: prod\n  envs: [api.env]\n  options: {disableNameSuffixHash: true}\nreplacements:\n- source: {kind: Secret, name: db, fieldPath: stringData.password}\n  targets:\n  - select: {kind: ConfigMap, name: clear}\n    fieldPaths: [data.k]\n",
		"k/secret.yaml":        string(secret),
		"k/clear.yaml":         cm("clear", "prod"),
		"k/api.env":            string(envFile),
	})

	res, err := render.Render(context.Background(), root, []string{"plain", "k"}, render.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	decrypted := map[string]bool{}
	for _, o := range res.Objects {
		decrypted[o.GetKind()+"/"+o.GetName()] = res.Origins[object.FromUnstructured(o)].Decrypted
	}
	want := map[string]bool{"ConfigMap/sops-cm": true, "Deployment/web": true, "ConfigMap/clear-plain": false, "ConfigMap/clear": true, "Secret/db": true, "Secret/api": true}
	for k, v := range want {
		if decrypted[k] != v {
			t.Errorf("%s: Decrypted = %v, want %v", k, decrypted[k], v)
		}
	}
	for _, o := range res.Objects {
		id := object.FromUnstructured(o)
		c := o.DeepCopy()
		res.Mask(c, nil)
		y := toYAML(t, c.Object)
		switch {
		case id.String() == "ConfigMap/prod/clear-plain":
			if res.Origins[id].Decrypted || strings.Contains(y, object.Redacted) {
				t.Errorf("a ConfigMap of no SOPS file was masked:\n%s", y)
			}
		case id.String() == "ConfigMap/prod/clear":
			// kustomize replacements copied the Secret's value here.
			if !res.Origins[id].Decrypted || strings.Contains(y, canary) {
				t.Errorf("the ConfigMap kustomize copied a decrypted value into is not masked:\n%s", y)
			}
		default:
			if l := leaks(y, canary, "x9"); len(l) > 0 || strings.Contains(y, `"7"`) || strings.Contains(y, "ab\n") {
				t.Errorf("%s: masked object still shows %q:\n%s", id, l, y)
			}
			if !strings.Contains(y, object.Redacted) {
				t.Errorf("%s: nothing was masked:\n%s", id, y)
			}
		}
	}
	// Diffs: the live side is masked at the same places and a changed
	// value is marked, never shown.
	for _, o := range res.Objects {
		if o.GetName() != "sops-cm" {
			continue
		}
		desired, live := o.DeepCopy(), o.DeepCopy()
		live.Object["data"].(map[string]any)["token"] = "old-live-value-123"
		res.Mask(desired, live)
		if y := toYAML(t, desired.Object) + toYAML(t, live.Object); strings.Contains(y, "old-live-value") || strings.Contains(y, canary) || !strings.Contains(y, "(changed)") {
			t.Errorf("diff sides:\n%s", y)
		}
	}

	t.Run("kustomize error dumping a node", func(t *testing.T) {
		// Every value encrypted (no --encrypted-regex) and no name:
		// kustomize's error prints the metadata it read.
		bad := encrypt(t, r, formats.Yaml, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    team: "+canary+"\ndata:\n  k: v\n"), "")
		root := tree(t, map[string]string{"k/kustomization.yaml": "resources: [cm.yaml]\n", "k/cm.yaml": string(bad)})
		_, err := render.Render(context.Background(), root, []string{"k"}, render.Options{Keys: keys})
		if err == nil || !strings.Contains(err.Error(), "missing metadata.name") {
			t.Fatalf("err = %v, want kustomize's missing metadata.name", err)
		}
		if l := leaks(err.Error(), canary); len(l) > 0 || !strings.Contains(err.Error(), plaintext.Mask) {
			t.Errorf("kustomize's error is not scrubbed: %v", err)
		}
	})
}

func toYAML(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
