package render_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/cmd/sops/formats"

	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/render"
)

const fuzzCanary = "fuzz-canary-Vb9Tq2Lx"

// FuzzDecryptError mutates SOPS files that hold a canary: whatever the
// file becomes, an error of the render never carries the canary's
// plaintext, raw or in base64.
func FuzzDecryptError(f *testing.F) {
	id := sopstest.NewAgeKey(f)
	r := id.Recipient().String()
	keys := render.Keys{Age: []string{id.String()}}
	manifest := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  labels:\n    team: " + fuzzCanary + "\nstringData:\n  password: " + fuzzCanary + "\n  multi: |\n    first " + fuzzCanary + "\n    second line\n  # note " + fuzzCanary + "\n  port: \"5432\"\n"
	yamlEnc := string(encrypt(f, r, formats.Yaml, []byte(manifest), "^(data|stringData|labels)$"))
	allEnc := string(encrypt(f, r, formats.Yaml, []byte(manifest), ""))
	envEnc := string(encrypt(f, r, formats.Dotenv, []byte("TOKEN="+fuzzCanary+"\nOTHER=x\n"), ""))
	typ := regexp.MustCompile(`type:str\]`)
	lastmod := regexp.MustCompile(`(?m)^.*lastmodified.*\n`)
	for _, src := range []string{yamlEnc, allEnc} {
		f.Add([]byte(src), uint8(0))
		f.Add([]byte(src), uint8(1))
		for _, t := range []string{"int", "bool", "float", "time", "bytes", "comment", "x"} {
			f.Add([]byte(typ.ReplaceAllString(src, "type:"+t+"]")), uint8(0))
			f.Add([]byte(strings.Replace(src, "type:str]", "type:"+t+"]", 1)), uint8(1))
		}
		f.Add([]byte(lastmod.ReplaceAllString(src, "")), uint8(0))
		f.Add([]byte(strings.Replace(src, "name: db", "name: dc", 1)), uint8(0))
		f.Add([]byte(strings.Replace(src, "data:", "data:A", 2)), uint8(1))
		f.Add([]byte(strings.Replace(src, "stringData:", "stringData: [", 1)), uint8(0))
	}
	f.Add([]byte(envEnc), uint8(2))
	f.Add([]byte(strings.Replace(envEnc, "type:str]", "type:int]", 1)), uint8(2))
	f.Add([]byte(strings.Replace(envEnc, "sops_lastmodified", "sops_lastmodifie", 1)), uint8(2))

	forms := []string{fuzzCanary, base64.StdEncoding.EncodeToString([]byte(fuzzCanary))}
	f.Fuzz(func(t *testing.T, data []byte, layout uint8) {
		for _, form := range forms {
			if strings.Contains(string(data), form) {
				return // the file itself holds the canary in clear
			}
		}
		root := t.TempDir()
		var files map[string]string
		switch layout % 3 {
		case 0: // a plain directory
			files = map[string]string{"d/secret.yaml": string(data)}
		case 1: // a kustomize resource
			files = map[string]string{"d/kustomization.yaml": "resources: [secret.yaml]\n", "d/secret.yaml": string(data)}
		default: // a secretGenerator's encrypted .env
			files = map[string]string{"d/kustomization.yaml": "secretGenerator:\n- name: api\n  envs: [api.env]\n", "d/api.env": string(data)}
		}
		for name, content := range files {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := render.Render(context.Background(), root, []string{"d"}, render.Options{Keys: keys})
		if err == nil {
			return
		}
		for _, form := range forms {
			if strings.Contains(err.Error(), form) {
				t.Fatalf("the error carries the plaintext %q:\n%v", form, err)
			}
		}
	})
}
