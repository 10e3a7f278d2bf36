package flux

// postRenderFields are the fields of postRenderers[].kustomize: patches
// and images in v2, and the strategic merge and JSON 6902 lists v2beta1
// and v2beta2 also have.
var postRenderFields = map[string]bool{"patches": true, "patchesStrategicMerge": true, "patchesJson6902": true, "images": true}

// parsePostRenderers reads spec.postRenderers and
// spec.postRenderStrategy; each entry's kustomize is kept as written,
// its shape checked here and its patches by the renderer.
func parsePostRenderers(s fields, spec map[string]any, h *HelmRelease) {
	s.items(spec, func(i fields, item map[string]any) {
		for k := range item {
			if k != "kustomize" {
				i.fail(i.name(k), "is not a post-renderer: helm-controller has kustomize only")
			}
		}
		k, ok := i.mapping(item, "kustomize")
		if !ok {
			return
		}
		for field := range k {
			if !postRenderFields[field] {
				i.fail(i.name("kustomize", field), "is not a field of a kustomize post-renderer: use patches, patchesStrategicMerge, patchesJson6902 or images")
				continue
			}
			i.at(i.name("kustomize")).list(k, field)
		}
		h.PostRenderKustomize = append(h.PostRenderKustomize, k)
	}, "postRenderers")
	h.PostRenderStrategy = s.str(spec, "postRenderStrategy")
	switch h.PostRenderStrategy {
	case "", "combined", "separate", "nohooks":
	default:
		s.fail("spec.postRenderStrategy", "is %s: use combined, separate or nohooks", quote(h.PostRenderStrategy))
	}
}
