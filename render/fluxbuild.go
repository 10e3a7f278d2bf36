package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
)

// fluxBuild builds dir as kustomize-controller builds a Flux
// Kustomization's spec.path (fluxcd/pkg/kustomize GenerateManifest,
// reproduced here): the directory's kustomization, or the one Flux
// generates when it has none, with the object's build fields merged
// over it, served to krusty from memory; then postBuild and
// commonMetadata.
func (r *renderer) fluxBuild(dir, rel string, fx *Flux) ([]rendered, error) {
	if fx.Kustomization == nil {
		return nil, fmt.Errorf("path %s: Options.Flux has no Kustomization object", rel)
	}
	unit := object.FromUnstructured(fx.Kustomization)
	for k, secret := range fx.SecretVars {
		if secret {
			// Recorded whether or not an object uses it: it is a
			// secret either way.
			r.dec.plain.Add(strings.ReplaceAll(fx.Vars[k], "\n", ""))
		}
	}
	spec := buildSpec{flux: fx}
	var k types.Kustomization
	var plainDir *plainUnit
	kfile, existing := KustomizationFile(dir)
	if existing && r.ignored(kfile) {
		existing = false
	}
	if existing {
		if err := r.scanner().kustomization(dir); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", rel, err)
		}
		krel := r.rel(kfile)
		data, err := readFile(kfile, krel, r.lim)
		if err != nil {
			return nil, err
		}
		if isEncrypted(data) {
			if data, err = r.dec.decrypt(r.ctx, krel, data); err != nil {
				return nil, err
			}
		}
		parsed, err := parseKustomization(krel, data, r.lim)
		if err != nil {
			return nil, err
		}
		k = *parsed
		if len(k.Resources) == 0 {
			// Flux's own rule, so that a kustomization of components or
			// generators only is not "empty"; its objects then carry
			// origin annotations in the cluster too.
			k.BuildMetadata = []string{types.OriginAnnotations}
		}
	} else {
		kfile = filepath.Join(dir, kustomizationFiles[0])
		listed, p, err := r.generate(dir, &k)
		if err != nil {
			return nil, err
		}
		spec.listed, plainDir = listed, p
	}
	if k.APIVersion == "" && k.Kind == "" {
		k.APIVersion, k.Kind = types.KustomizationVersion, types.KustomizationKind
	}
	if err := r.mergeFlux(dir, &k, fx); err != nil {
		return nil, fmt.Errorf("%s: path %s: %w", unit, rel, err)
	}
	if existing && r.lazyFiles {
		// A generated kustomization always tracks: its listed files'
		// objects are named by their file.
		plain, err := yaml.Marshal(k)
		if err != nil {
			return nil, err
		}
		spec.untracked = &buildSpec{kfile: kfile, virtual: plain, keepOrigin: true, keepTransformations: true, flux: fx}
	}
	spec.track(&k)
	krel := r.rel(kfile)
	if err := errors.Join(inlineChecks(krel, &k, r.lim), kustomizationChecks(krel, &k, r.helm != nil)); err != nil {
		return nil, fmt.Errorf("%s: path %s: %w", unit, rel, err)
	}
	if errs := r.scanner().entries(dir, krel, &k); len(errs) > 0 {
		return nil, fmt.Errorf("%s: path %s: %w", unit, rel, errors.Join(errs...))
	}
	if out, ok := r.plainBuild(rel, &k, spec, plainDir); ok {
		return out, nil
	}
	data, err := yaml.Marshal(k)
	if err != nil {
		return nil, err
	}
	spec.kfile, spec.virtual = kfile, data
	objs, err := r.buildUnit(dir, rel, spec)
	if oe := (objectError{}); errors.As(err, &oe) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s (%s): %w", rel, unit, err)
	}
	return objs, nil
}

// generate fills k as Flux's generator does for a directory without a
// kustomization: every manifest below it, and every sub-directory with
// a kustomization as one entry, in walk order. The manifests are
// checked here as a plain directory's are (bounds, duplicate keys,
// lines, objects given twice); it returns them, repository-relative.
func (r *renderer) generate(dir string, k *types.Kustomization) (map[string]bool, *plainUnit, error) {
	var files []plainFile
	if err := r.walkPlain(dir, dir, map[string]bool{dir: true}, true, &files); err != nil {
		return nil, nil, err
	}
	plain := &plainUnit{}
	listed := map[string]bool{}
	seen := map[object.ID]string{}
	var errs []error
	for _, f := range files {
		entry, err := filepath.Rel(dir, f.path)
		if err != nil {
			return nil, nil, err
		}
		k.Resources = append(k.Resources, "./"+filepath.ToSlash(entry))
		if f.unit {
			if err := r.scanner().kustomization(f.real); err != nil {
				errs = append(errs, err)
			}
			plain = nil
			continue
		}
		name := r.rel(f.path)
		listed[name] = true
		data, err := readFile(f.real, name, r.lim)
		if err != nil {
			return nil, nil, err
		}
		if isEncrypted(data) {
			// Decrypted as krusty reads it; the plaintext is checked then.
			if err := checkYAML(name, data, r.lim, false); err != nil {
				return nil, nil, err
			}
			plain = nil
			continue
		}
		docs, texts, roots, err := decodeDocuments(name, data, r.lim)
		if err != nil {
			return nil, nil, err
		}
		if plain != nil {
			plain.files = append(plain.files, plainDocs{name: name, docs: texts, roots: roots})
		}
		r.scanner().checked[f.real] = true
		for _, o := range docs {
			id := object.FromUnstructured(o)
			if prev, dup := seen[id]; dup {
				errs = append(errs, fmt.Errorf("%s is rendered twice: from %s and from %s; keep one of them", id, prev, name))
				continue
			}
			seen[id] = name
		}
	}
	if len(k.Resources) == 0 {
		// Flux's placeholder, so that kustomize does not call the
		// kustomization empty.
		k.Namespace = "_placeholder"
	}
	if len(k.Resources) == 0 {
		plain = nil
	}
	return listed, plain, errors.Join(errs...)
}

// fluxSelector is a patch target as Flux's API gives it.
type fluxSelector struct {
	Group              string `json:"group,omitempty"`
	Version            string `json:"version,omitempty"`
	Kind               string `json:"kind,omitempty"`
	Name               string `json:"name,omitempty"`
	Namespace          string `json:"namespace,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty"`
}

func (s *fluxSelector) kustomize() *types.Selector {
	if s == nil {
		return nil
	}
	out := &types.Selector{AnnotationSelector: s.AnnotationSelector, LabelSelector: s.LabelSelector}
	out.Group, out.Version, out.Kind = s.Group, s.Version, s.Kind
	out.Name, out.Namespace = s.Name, s.Namespace
	return out
}

type fluxImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// mergeFlux merges the Flux Kustomization's build fields over k, field
// by field as GenerateManifest does. Errors name the field.
func (r *renderer) mergeFlux(dir string, k *types.Kustomization, fx *Flux) error {
	obj := fx.Kustomization.Object
	for _, f := range []struct {
		field string
		dst   *string
	}{{"targetNamespace", &k.Namespace}, {"namePrefix", &k.NamePrefix}, {"nameSuffix", &k.NameSuffix}} {
		v, ok, err := unstructured.NestedString(obj, "spec", f.field)
		if err != nil {
			return fmt.Errorf("spec.%s: %w", f.field, err)
		}
		if ok {
			*f.dst = v
		}
	}
	list := func(field string) ([]map[string]any, error) {
		items, _, err := unstructured.NestedSlice(obj, "spec", field)
		if err != nil {
			return nil, fmt.Errorf("spec.%s: %w", field, err)
		}
		out := make([]map[string]any, 0, len(items))
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("spec.%s[%d] is a %T, not a mapping", field, i, it)
			}
			out = append(out, m)
		}
		return out, nil
	}
	convert := func(field string, i int, in map[string]any, out any) error {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in, out); err != nil {
			return fmt.Errorf("spec.%s[%d]: %w", field, i, err)
		}
		return nil
	}

	patches, err := list("patches")
	if err != nil {
		return err
	}
	for i, p := range patches {
		if _, ok := p["path"]; ok {
			return fmt.Errorf("spec.patches[%d].path: a Flux Kustomization's patches are inline (the API has no path, and Flux drops it); give the patch in spec.patches[%d].patch", i, i)
		}
		var fp struct {
			Patch  string        `json:"patch"`
			Target *fluxSelector `json:"target,omitempty"`
		}
		if err := convert("patches", i, p, &fp); err != nil {
			return err
		}
		k.Patches = append(k.Patches, types.Patch{Patch: fp.Patch, Target: fp.Target.kustomize()})
	}

	components, _, err := unstructured.NestedStringSlice(obj, "spec", "components")
	if err != nil {
		return fmt.Errorf("spec.components: %w", err)
	}
	ignoreMissing, _, _ := unstructured.NestedBool(obj, "spec", "ignoreMissingComponents")
	for i, c := range components {
		if !localRelative(c) {
			return fmt.Errorf("spec.components[%d]: component path '%s' must be local and relative", i, c)
		}
		abs := filepath.Join(dir, filepath.FromSlash(c))
		if !within(r.root, abs) {
			return fmt.Errorf("spec.components[%d]: %q leads outside the repository root; tidegate reads only files of the repository", i, c)
		}
		real, err := filepath.EvalSymlinks(abs)
		switch {
		case err != nil && errors.Is(err, os.ErrNotExist):
			if ignoreMissing {
				continue
			}
		case err != nil:
			return fmt.Errorf("spec.components[%d]: %w", i, err)
		case !within(r.root, real):
			return fmt.Errorf("spec.components[%d]: %q leads, through a link, outside the repository root; tidegate reads only files of the repository", i, c)
		}
		k.Components = append(k.Components, c)
	}

	psm, err := list("patchesStrategicMerge")
	if err != nil {
		return err
	}
	for i, p := range psm {
		j, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("spec.patchesStrategicMerge[%d]: %w", i, err)
		}
		k.PatchesStrategicMerge = append(k.PatchesStrategicMerge, types.PatchStrategicMerge(j))
	}

	pj, err := list("patchesJson6902")
	if err != nil {
		return err
	}
	for i, p := range pj {
		var fp struct {
			Patch  []any        `json:"patch"`
			Target fluxSelector `json:"target"`
		}
		if err := convert("patchesJson6902", i, p, &fp); err != nil {
			return err
		}
		j, err := json.Marshal(fp.Patch)
		if err != nil {
			return fmt.Errorf("spec.patchesJson6902[%d]: %w", i, err)
		}
		k.PatchesJson6902 = append(k.PatchesJson6902, types.Patch{Patch: string(j), Target: fp.Target.kustomize()})
	}

	images, err := list("images")
	if err != nil {
		return err
	}
	for i, m := range images {
		var img fluxImage
		if err := convert("images", i, m, &img); err != nil {
			return err
		}
		at := -1
		for j := range k.Images {
			if k.Images[j].Name == img.Name {
				at = j
				break
			}
		}
		if at < 0 {
			k.Images = append(k.Images, types.Image{Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest})
			continue
		}
		// Flux's merge: fields the object sets win; a tag and a digest
		// are one choice, so setting either replaces both.
		if img.NewName != "" {
			k.Images[at].NewName = img.NewName
		}
		if img.NewTag != "" || img.Digest != "" {
			k.Images[at].NewTag, k.Images[at].Digest = img.NewTag, img.Digest
		}
	}

	bm, _, err := unstructured.NestedStringSlice(obj, "spec", "buildMetadata")
	if err != nil {
		return fmt.Errorf("spec.buildMetadata: %w", err)
	}
	if len(bm) > 0 {
		k.BuildMetadata = bm
	}
	return nil
}

// localRelative is Flux's IsLocalRelativePath: no Git or HTTP address
// (kustomize's forms, file:// aside) and not absolute.
func localRelative(p string) bool {
	for _, prefix := range []string{"git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/"} {
		if len(prefix) < len(p) && strings.EqualFold(p[:len(prefix)], prefix) {
			return false
		}
	}
	return !filepath.IsAbs(p) && !filepath.IsAbs(strings.TrimPrefix(strings.ToLower(p), "file://"))
}
