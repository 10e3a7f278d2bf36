package render_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// TestKustomizeOriginKustomizations: each object of a kustomize build
// names the kustomizations whose transformers built it, outermost first
// (a base that only lists resources transforms nothing), from
// kustomize's transformer annotations, which render adds and strips
// unless the kustomization asks for them itself.
func TestKustomizeOriginKustomizations(t *testing.T) {
	root := tree(t, map[string]string{
		"clusters/prod/kustomization.yaml": "namespace: prod\nnamePrefix: p-\nresources: [../../apps/overlay]\nimages: [{name: registry.example/app, newTag: '2'}]\n",
		"apps/overlay/kustomization.yaml":  "resources: [../base]\npatches: [{path: patch.yaml}]\n",
		"apps/overlay/patch.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {patched: 'yes'}\n",
		"apps/base/kustomization.yaml":     "resources: [cm.yaml]\n",
		"apps/base/cm.yaml":                cm("a", "x"),
		"plain/cm.yaml":                    cm("plain", "x"),
		"keep/kustomization.yaml":          "buildMetadata: [transformerAnnotations]\nnamespace: kept\nresources: [cm.yaml]\n",
		"keep/cm.yaml":                     cm("kept", "x"),
	})
	res, err := render.Render(context.Background(), root, []string{"clusters/prod", "plain", "keep"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		File           string
		Kustomizations []string
		Annotations    []string
	}
	gots := map[string]got{}
	for _, o := range res.Objects {
		origin := res.Origins[object.FromUnstructured(o)]
		g := got{File: origin.File, Kustomizations: origin.Kustomizations()}
		for k := range o.GetAnnotations() {
			if strings.Contains(k, "config.kubernetes.io/") {
				g.Annotations = append(g.Annotations, k)
			}
		}
		gots[o.GetName()] = g
	}
	want := map[string]got{
		"p-a":   {File: "apps/base/cm.yaml", Kustomizations: []string{"clusters/prod/kustomization.yaml", "apps/overlay/kustomization.yaml"}},
		"plain": {File: "plain/cm.yaml"},
		"kept": {File: "keep/cm.yaml", Kustomizations: []string{"keep/kustomization.yaml"},
			Annotations: []string{"alpha.config.kubernetes.io/transformations"}},
	}
	if d := cmp.Diff(want, gots); d != "" {
		t.Errorf("origins (-want +got):\n%s", d)
	}
}
