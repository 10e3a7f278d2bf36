package chartrender

import (
	"fmt"
	"path"
	"sort"
	"strings"

	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// PostRenderer changes a release's rendered template objects, as a Helm
// post-renderer changes the rendered stream: it may patch, drop or
// reorder them. The objects are the renderer's to change.
type PostRenderer func([]*unstructured.Unstructured) ([]*unstructured.Unstructured, error)

// PostRenderStrategy says whether hooks go through the post-renderer,
// with the names of the Helm SDK and of a HelmRelease's
// spec.postRenderStrategy.
type PostRenderStrategy string

const (
	// PostRenderCombined sends hooks and regular objects together (Helm
	// 4's and helm-controller's default).
	PostRenderCombined PostRenderStrategy = "combined"
	// PostRenderSeparate sends hooks and regular objects in two calls.
	PostRenderSeparate PostRenderStrategy = "separate"
	// PostRenderNoHooks sends regular objects only (Helm 3's way).
	PostRenderNoHooks PostRenderStrategy = "nohooks"
)

// ParsePostRenderStrategy accepts the three strategies; "" is combined.
func ParsePostRenderStrategy(s string) (PostRenderStrategy, error) {
	switch p := PostRenderStrategy(s); p {
	case "":
		return PostRenderCombined, nil
	case PostRenderCombined, PostRenderSeparate, PostRenderNoHooks:
		return p, nil
	}
	return "", fmt.Errorf("post-render strategy %q: use combined, separate or nohooks", s)
}

// fileAnnotation carries each object's template file through the
// post-renderer, so that hooks and sources are sorted out after it as
// before (the SDK's own annotation).
const fileAnnotation = "postrenderer.helm.sh/postrender-filename"

// postRender runs pr over the rendered template files as the SDK's
// renderResources does, and returns the files it gives back; crds/ files
// are not templates and do not pass through it.
func postRender(files map[string]string, pr PostRenderer, strategy PostRenderStrategy) (map[string]string, error) {
	if strategy == PostRenderCombined || strategy == "" {
		return postRenderGroup(files, pr, "")
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("rendered manifests: %w", err)
	}
	hookFiles, manifestFiles := map[string]string{}, map[string]string{}
	for _, h := range hooks {
		hookFiles[h.Path] = join(hookFiles[h.Path], h.Manifest)
	}
	for _, m := range manifests {
		manifestFiles[m.Name] = join(manifestFiles[m.Name], m.Content)
	}
	out, err := postRenderGroup(manifestFiles, pr, "")
	if err != nil {
		return nil, err
	}
	if strategy == PostRenderSeparate {
		if hookFiles, err = postRenderGroup(hookFiles, pr, "hooks-"); err != nil {
			return nil, fmt.Errorf("hooks: %w", err)
		}
	}
	for name, text := range hookFiles {
		out[name] = join(out[name], text)
	}
	return out, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n---\n" + b
}

// postRenderGroup decodes files, names each object's file in an
// annotation, runs pr and writes the objects back into their files.
func postRenderGroup(files map[string]string, pr PostRenderer, fallback string) (map[string]string, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		text := files[name]
		if strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(text) == "" {
			continue
		}
		decoded, err := decode(name, []byte(text))
		if err != nil {
			return nil, err
		}
		for _, d := range decoded {
			a := d.Object.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			a[fileAnnotation] = name
			d.Object.SetAnnotations(a)
			objs = append(objs, d.Object)
		}
	}
	if len(objs) == 0 {
		return map[string]string{}, nil
	}
	res, err := pr(objs)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, o := range res {
		a := o.GetAnnotations()
		name := a[fileAnnotation]
		if name == "" {
			name = fmt.Sprintf("generated-by-postrender-%s%d.yaml", fallback, i)
		}
		delete(a, fileAnnotation)
		if len(a) == 0 {
			unstructured.RemoveNestedField(o.Object, "metadata", "annotations")
		} else {
			o.SetAnnotations(a)
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: post-rendered %s/%s: %w", name, o.GetKind(), o.GetName(), err)
		}
		out[name] = join(out[name], string(b))
	}
	return out, nil
}
