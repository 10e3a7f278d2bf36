package render_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

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

// TestLazyFiles: with Options.LazyFiles the objects are the same, byte
// for byte and with the same Origin.String; a kustomization's objects
// lose their file unless the build decrypted a SOPS file or renders Flux
// objects, and then they have exactly the file an eager render gives.
func TestLazyFiles(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, id.Recipient().String(), formats.Yaml, []byte(secretYAML), "^(data|stringData)$")
	root := tree(t, map[string]string{
		"over/kustomization.yaml":  "namespace: prod\nnamePrefix: p-\nresources: [../base]\ncommonLabels: {tier: web}\n",
		"base/kustomization.yaml":  "resources: [cm.yaml]\nconfigMapGenerator: [{name: gen, literals: [k=v]}]\n",
		"base/cm.yaml":             cm("a", "x"),
		"sops/kustomization.yaml":  "namespace: prod\nresources: [secret.yaml, cm.yaml]\n",
		"sops/secret.yaml":         string(enc),
		"sops/cm.yaml":             cm("plain-beside-sops", "x"),
		"flux/kustomization.yaml":  "namespace: flux-system\nresources: [sync.yaml, cm.yaml]\n",
		"flux/sync.yaml":           "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\nspec: {path: ./apps, sourceRef: {kind: GitRepository, name: flux-system}, interval: 10m, prune: true}\n",
		"flux/cm.yaml":             cm("beside-flux", "x"),
		"plain/cm.yaml":            cm("plain", "x"),
		"asked/kustomization.yaml": "buildMetadata: [originAnnotations]\nnamespace: prod\nresources: [cm.yaml]\n",
		"asked/cm.yaml":            cm("asked", "x"),
	})
	paths := []string{"over", "sops", "flux", "plain", "asked"}
	keys := render.Keys{Age: []string{id.String()}}
	eager, err := render.Render(context.Background(), root, paths, render.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := render.Render(context.Background(), root, paths, render.Options{Keys: keys, LazyFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	dump := func(res *render.Result) string {
		var b strings.Builder
		for _, o := range res.Objects {
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			origin := res.Origins[object.FromUnstructured(o)]
			fmt.Fprintf(&b, "# from %s decrypted %v\n%s---\n", origin, origin.Decrypted, y)
		}
		return b.String()
	}
	if d := cmp.Diff(dump(eager), dump(lazy)); d != "" {
		t.Errorf("lazy render differs (-eager +lazy):\n%s", d)
	}
	files := func(res *render.Result) map[string]string {
		out := map[string]string{}
		for _, o := range res.Objects {
			out[o.GetName()] = res.Origins[object.FromUnstructured(o)].File
		}
		return out
	}
	want := files(eager)
	for name := range want {
		switch {
		case strings.HasPrefix(name, "p-"):
			want[name] = "" // over: nothing in it needs the file
		}
	}
	if d := cmp.Diff(want, files(lazy)); d != "" {
		t.Errorf("lazy Origin.File (-want +got):\n%s", d)
	}
	if f := files(eager)["p-a"]; f != "base/cm.yaml" {
		t.Errorf("eager Origin.File of p-a = %q", f)
	}
	for _, n := range []string{"db", "plain-beside-sops", "apps", "beside-flux", "plain", "asked"} {
		if files(lazy)[n] == "" {
			t.Errorf("lazy render left %s without its file", n)
		}
	}
}

// TestLazyFilesFlux: a Flux build of an existing kustomization (merged
// build fields, postBuild) gives the same objects lazily.
func TestLazyFilesFlux(t *testing.T) {
	for _, tc := range []struct{ path, file, name string }{
		{"apps/production", "clusters/production/apps.yaml", "apps"},
		{"clusters/production", "clusters/production/flux-system/gotk-sync.yaml", "flux-system"},
	} {
		var dumps []string
		for _, lazy := range []bool{false, true} {
			opts := render.Options{LazyFiles: lazy, Flux: &render.Flux{Kustomization: fluxObject(t, tc.file, tc.name),
				Vars: map[string]string{"CLUSTER_NAME": "from-configmap", "TIER": "gold\n"}}}
			res, err := render.Render(context.Background(), fluxRoot, []string{tc.path}, opts)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, o := range res.Objects {
				y, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "# from %s\n%s---\n", res.Origins[object.FromUnstructured(o)], y)
			}
			dumps = append(dumps, b.String())
		}
		if d := cmp.Diff(dumps[0], dumps[1]); d != "" {
			t.Errorf("%s: lazy render differs (-eager +lazy):\n%s", tc.path, d)
		}
	}
}
