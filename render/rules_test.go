package render_test

import (
	"context"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/render"
)

// The exported file rules are the ones Render follows: every file of a
// plain directory that they say is read is in the render, and no other.
func TestFileRulesAreRendersOwn(t *testing.T) {
	files := map[string]string{
		"apps/a.yaml":            cm("a", "team"),
		"apps/b.YML":             cm("b", "team"),
		"apps/c.json":            `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team"}}`,
		"apps/sub/d.yaml":        cm("d", "team"),
		"apps/.hidden/e.yaml":    cm("e", "team"),
		"apps/.sops.yaml":        "creation_rules: []\n",
		"apps/notes.txt":         cm("f", "team"),
		"apps/.github/ci.yaml":   cm("g", "team"),
		"base/kustomization.yml": "resources: [x.yaml]\n",
		"base/x.yaml":            cm("x", "team"),
	}
	root := tree(t, files)
	res, err := render.Render(context.Background(), root, []string{"apps"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rendered []string
	for _, o := range res.Origins {
		rendered = append(rendered, o.File)
	}
	var predicted []string
	for name := range files {
		dir, base := path.Split(name)
		if !strings.HasPrefix(dir, "apps/") || !render.PlainManifest(base) {
			continue
		}
		skipped := false
		for _, d := range strings.Split(strings.Trim(strings.TrimPrefix(dir, "apps/"), "/"), "/") {
			skipped = skipped || render.PlainSkipsDir(d)
		}
		if !skipped {
			predicted = append(predicted, name)
		}
	}
	slices.Sort(rendered)
	slices.Sort(predicted)
	if !slices.Equal(rendered, predicted) || len(rendered) != 4 {
		t.Errorf("render read %v, the rules predict %v (want the four manifests outside hidden directories)", rendered, predicted)
	}

	for dir, want := range map[string]string{"base": "kustomization.yml", "apps": ""} {
		f, ok := render.KustomizationFile(filepath.Join(root, dir))
		if ok != (want != "") || filepath.Base(f) != want && want != "" {
			t.Errorf("KustomizationFile(%s) = %q %v, want %q", dir, f, ok, want)
		}
	}
}
