package render

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// postRenderFields are the fields of a HelmRelease's
// postRenderers[].kustomize, in the order kustomize applies them:
// strategic merge patches, patches, JSON 6902 patches, images.
var postRenderFields = []string{"patchesStrategicMerge", "patches", "patchesJson6902", "images"}

// PostRender applies one spec.postRenderers[].kustomize of a Flux
// HelmRelease (spec as written: patches, patchesStrategicMerge,
// patchesJson6902, images) to objs, as helm-controller's kustomize
// post-renderer does: a kustomization whose only resource is the
// release's rendered objects, built in memory with builtin transformers
// only. Nothing else is in the build, so a patch can change only the
// release's own objects, and nothing is read from disk or the network.
// objs are not changed. Errors name the field and index of the patch
// ("patches[1]: …").
func PostRender(objs []*unstructured.Unstructured, spec map[string]any) ([]*unstructured.Unstructured, error) {
	for k := range spec {
		known := false
		for _, f := range postRenderFields {
			known = known || k == f
		}
		if !known {
			return nil, fmt.Errorf("%s: not a field of a post-renderer's kustomize (it has patches, patchesStrategicMerge, patchesJson6902 and images)", k)
		}
	}
	k, steps, err := postRenderKustomization(spec)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, nil
	}
	out, err := postRenderBuild(objs, k)
	if err == nil {
		return out, nil
	}
	// Which patch failed: kustomize does not say. The objects alone
	// first (two with one identity fail without any patch), then each
	// patch alone, in kustomize's order, on what the ones before made.
	if _, inErr := postRenderBuild(objs, types.Kustomization{}); inErr != nil {
		return nil, fmt.Errorf("the rendered objects, before any patch: %w", inErr)
	}
	cur := objs
	for _, s := range steps {
		next, stepErr := postRenderBuild(cur, s.k)
		if stepErr != nil {
			return nil, fmt.Errorf("%s: %w", s.name, stepErr)
		}
		cur = next
	}
	return nil, err
}

type postRenderStep struct {
	name string
	k    types.Kustomization
}

// postRenderKustomization is spec as a kustomization, and as one
// kustomization per patch for naming the one that fails.
func postRenderKustomization(spec map[string]any) (types.Kustomization, []postRenderStep, error) {
	var all types.Kustomization
	var steps []postRenderStep
	lim := Options{}.limits()
	for _, field := range postRenderFields {
		raw, ok := spec[field]
		if !ok || raw == nil {
			continue
		}
		items, ok := raw.([]any)
		if !ok {
			return all, nil, fmt.Errorf("%s is a %T, want a list", field, raw)
		}
		for i, it := range items {
			name := fmt.Sprintf("%s[%d]", field, i)
			m, ok := it.(map[string]any)
			if !ok {
				return all, nil, fmt.Errorf("%s is a %T, want a mapping", name, it)
			}
			var one types.Kustomization
			switch field {
			case "patchesStrategicMerge":
				j, err := json.Marshal(m)
				if err != nil {
					return all, nil, fmt.Errorf("%s: %w", name, err)
				}
				// As `kustomize edit fix` rewrites the deprecated
				// lists: one patch each, in kustomize's order, without
				// its deprecation warning on stderr.
				one.Patches = []types.Patch{{Patch: string(j)}}
			case "patches":
				if _, ok := m["path"]; ok {
					return all, nil, fmt.Errorf("%s.path: a post-renderer's patches are inline (the API has no path); give the patch in %s.patch", name, name)
				}
				var p struct {
					Patch  string        `json:"patch"`
					Target *fluxSelector `json:"target,omitempty"`
				}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &p); err != nil {
					return all, nil, fmt.Errorf("%s: %w", name, err)
				}
				if p.Patch == "" {
					return all, nil, fmt.Errorf("%s.patch is missing: give the patch (a strategic merge patch or a JSON 6902 list of operations)", name)
				}
				// The patch is YAML kustomize parses: its aliases are
				// bounded as in every file tidegate reads.
				if err := checkYAML(name+".patch", []byte(p.Patch), lim, false); err != nil {
					return all, nil, err
				}
				one.Patches = []types.Patch{{Patch: p.Patch, Target: p.Target.kustomize()}}
			case "patchesJson6902":
				var p struct {
					Patch  []any        `json:"patch"`
					Target fluxSelector `json:"target"`
				}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &p); err != nil {
					return all, nil, fmt.Errorf("%s: %w", name, err)
				}
				j, err := json.Marshal(p.Patch)
				if err != nil {
					return all, nil, fmt.Errorf("%s: %w", name, err)
				}
				one.Patches = []types.Patch{{Patch: string(j), Target: p.Target.kustomize()}}
			case "images":
				var img fluxImage
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &img); err != nil {
					return all, nil, fmt.Errorf("%s: %w", name, err)
				}
				if img.Name == "" {
					return all, nil, fmt.Errorf("%s.name is missing: name the image to replace", name)
				}
				one.Images = []types.Image{{Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest}}
			}
			all.Patches = append(all.Patches, one.Patches...)
			all.Images = append(all.Images, one.Images...)
			steps = append(steps, postRenderStep{name: name, k: one})
		}
	}
	return all, steps, nil
}

// postRenderBuild builds k over objs in an in-memory filesystem.
func postRenderBuild(objs []*unstructured.Unstructured, k types.Kustomization) (out []*unstructured.Unstructured, err error) {
	const input = "helm-output.yaml"
	var stream []byte
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s/%s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		stream = append(stream, "---\n"...)
		stream = append(stream, b...)
	}
	k.APIVersion, k.Kind = types.KustomizationVersion, types.KustomizationKind
	k.Resources = []string{input}
	kdata, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile(input, stream); err != nil {
		return nil, err
	}
	if err := fs.WriteFile("kustomization.yaml", kdata); err != nil {
		return nil, err
	}
	krustyMu.Lock()
	defer krustyMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("kustomize failed on this post-renderer (%v); check its patches", p)
		}
	}()
	opts := krusty.MakeDefaultOptions()
	opts.PluginConfig = types.DisabledPluginConfig()
	resMap, err := krusty.MakeKustomizer(opts).Run(fs, ".")
	if err != nil {
		return nil, err
	}
	for _, res := range resMap.Resources() {
		o, err := toUnstructured(res)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if len(out) == 0 && len(objs) > 0 {
		return nil, errors.New("kustomize returned no object")
	}
	return out, nil
}
