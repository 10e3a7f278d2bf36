package render_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/render"
)

// FuzzFluxPostBuildSecret: whatever the object and the Secret's value,
// a postBuild render never panics, and the value is in neither its
// error nor, once masked, the values of what it rendered.
func FuzzFluxPostBuildSecret(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: ${S}\n", "s3cr3t-value")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: ${S}\n", "s3cr3t: [")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: \"${S}\"\n", "quo\"te")
	f.Add("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: ${S:=1}\n", "12345")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: ${S\n", "s3cr3t-value")
	ks := func(t *testing.T) *render.Flux {
		objs, err := render.Decode("ks.yaml", []byte("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: flux-system\nspec:\n  postBuild: {}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return &render.Flux{Kustomization: objs[0]}
	}
	f.Fuzz(func(t *testing.T, obj, secret string) {
		secret = strings.ReplaceAll(secret, "\n", "") // Flux strips newlines
		if len(secret) < 4 || strings.Contains(obj, secret) || strings.Contains("S=app/cm.yaml ConfigMap Deployment Kustomization flux-system postBuild", secret) {
			return // short values are not scrubbed from text; the rest is not the secret's
		}
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "app", "cm.yaml"), []byte(obj), 0o644); err != nil {
			t.Fatal(err)
		}
		fx := ks(t)
		fx.Vars = map[string]string{"S": secret}
		fx.SecretVars = map[string]bool{"S": true}
		res, err := render.Render(context.Background(), root, []string{"app"}, render.Options{Flux: fx, MaxAliasNodes: 1000})
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the Secret's value: %v", err)
			}
			return
		}
		for _, o := range res.Objects {
			res.Mask(o, nil)
			if valueHolds(o.Object, secret) {
				b, _ := yaml.Marshal(o.Object)
				t.Errorf("a masked value still holds the Secret's value:\n%s", b)
			}
		}
	})
}

// valueHolds reports whether a value (not a key: names are not masked) in v
// holds secret.
func valueHolds(v any, secret string) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if k == "metadata" {
				continue // identity, never masked (object.ID)
			}
			if valueHolds(e, secret) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if valueHolds(e, secret) {
				return true
			}
		}
	case string:
		return strings.Contains(t, secret)
	}
	return false
}
