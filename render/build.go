package render

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// buildSpec says how one kustomize build is served and read.
type buildSpec struct {
	// kfile is the absolute path of the kustomization file served from
	// memory (virtual), "" when the file on disk is read as it is.
	kfile   string
	virtual []byte
	// keepOrigin, keepTransformations: the kustomization asked for
	// origin or transformer annotations itself (buildMetadata), so they
	// are part of what it renders and stay. Otherwise render adds them
	// to learn Origin.File and Origin.Kustomizations and strips them.
	keepOrigin, keepTransformations bool
	// listed are the files a generated kustomization lists directly
	// (repository-relative): their objects are plain manifests, not a
	// kustomization's output.
	listed map[string]bool
	// flux, when set, adds postBuild and commonMetadata (postbuild.go).
	flux *Flux
	// untracked, when set, is the build without the tracking render
	// adds, for Options.LazyFiles.
	untracked *buildSpec
}

// originSpec serves dir's kustomization with origin annotations turned
// on, so that each object says which file it came from. The file is
// re-encoded as Flux re-encodes it; an encrypted kustomization is left
// as it is (its objects then have no Origin.File).
func (r *renderer) originSpec(dir string) (buildSpec, error) {
	kfile, ok := KustomizationFile(dir)
	if !ok {
		return buildSpec{}, nil // krusty says so in its words
	}
	rel := r.rel(kfile)
	data, err := readFile(kfile, rel, r.lim)
	if err != nil {
		return buildSpec{}, err
	}
	if isEncrypted(data) {
		return buildSpec{}, nil
	}
	k, err := parseKustomization(rel, data, r.lim)
	if err != nil {
		return buildSpec{}, err
	}
	var spec buildSpec
	if !spec.track(k) {
		return spec, nil
	}
	out, err := yaml.Marshal(k)
	if err != nil {
		return buildSpec{}, fmt.Errorf("%s: %w", rel, err)
	}
	spec.kfile, spec.virtual = kfile, out
	spec.untracked = &buildSpec{keepOrigin: true, keepTransformations: true}
	return spec, nil
}

// track turns on the origin and transformer annotations k does not ask
// for, notes which it asked for, and reports whether k changed. Both
// cost nothing more than one: kustomize records the transformations
// whenever it tracks origins, and drops them at the end unless asked.
func (s *buildSpec) track(k *types.Kustomization) bool {
	s.keepOrigin = slices.Contains(k.BuildMetadata, types.OriginAnnotations)
	s.keepTransformations = slices.Contains(k.BuildMetadata, types.TransformerAnnotations)
	if !s.keepOrigin {
		k.BuildMetadata = append(k.BuildMetadata, types.OriginAnnotations)
	}
	if !s.keepTransformations {
		k.BuildMetadata = append(k.BuildMetadata, types.TransformerAnnotations)
	}
	return !s.keepOrigin || !s.keepTransformations
}

// transformationsKey is the annotation kustomize's transformer
// annotations are written to.
const transformationsKey = "alpha.config.kubernetes.io/transformations"

// kustomizations lists, outermost first, the repository's kustomization
// files whose transformers ran over an object, from its transformer
// annotation raw, one a line. Objects of one kustomization share the
// annotation, so each distinct one is parsed once (seen).
func (r *renderer) kustomizations(dir, raw string, seen map[string]string) string {
	if raw == "" {
		return ""
	}
	if v, ok := seen[raw]; ok {
		return v
	}
	var ts resource.Transformations
	var files []string
	if yaml.Unmarshal([]byte(raw), &ts) == nil {
		for i := len(ts) - 1; i >= 0; i-- {
			t := ts[i]
			if t == nil || t.Repo != "" || t.ConfiguredIn == "" {
				continue
			}
			abs := filepath.Join(dir, filepath.FromSlash(t.ConfiguredIn))
			f := r.rel(abs)
			if slices.Contains(files, f) {
				continue
			}
			if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
				continue // generated for a directory, never on disk
			}
			files = append(files, f)
		}
	}
	v := strings.Join(files, "\n")
	seen[raw] = v
	return v
}

// buildUnit builds dir with krusty as spec says and returns the objects
// with their origins. With Options.LazyFiles a kustomization is first
// built as it is, and built again with tracking only when its objects
// need their files: it decrypted a SOPS file (masking reads the file's
// decrypted key paths) or renders Flux objects (their errors name it).
func (r *renderer) buildUnit(dir, rel string, spec buildSpec) ([]rendered, error) {
	if r.lazyFiles && spec.untracked != nil {
		before := r.dec.count
		objs, err := r.buildOnce(dir, rel, *spec.untracked)
		if err != nil || r.dec.count == before && !rendersFlux(objs) {
			return objs, err
		}
	}
	return r.buildOnce(dir, rel, spec)
}

// rendersFlux reports whether any object is of one of Flux's API groups.
func rendersFlux(objs []rendered) bool {
	for _, o := range objs {
		if strings.HasSuffix(o.obj.GroupVersionKind().Group, ".toolkit.fluxcd.io") {
			return true
		}
	}
	return false
}

// buildOnce is one krusty build of dir as spec says: the objects, the
// file of each from kustomize's origin annotation, and whether it holds
// decrypted values.
func (r *renderer) buildOnce(dir, rel string, spec buildSpec) ([]rendered, error) {
	before := r.dec.count
	if spec.kfile != "" {
		if r.virtual == nil {
			r.virtual = map[string][]byte{}
		}
		r.virtual[spec.kfile] = spec.virtual
		defer delete(r.virtual, spec.kfile)
	}
	m, err := r.run(dir)
	if err != nil {
		return nil, err
	}
	resources := m.Resources()
	files := make([]string, len(resources))
	fromSOPS := make([]bool, len(resources))
	via := make([]string, len(resources))
	seen := map[string]string{}
	for i, res := range resources {
		via[i] = r.kustomizations(dir, res.GetAnnotations()[transformationsKey], seen)
		o, err := res.GetOrigin()
		if err != nil || o == nil || o.Repo != "" {
			continue
		}
		p := o.Path
		if p == "" {
			p = o.ConfiguredIn
		}
		if p != "" {
			abs := filepath.Join(dir, filepath.FromSlash(p))
			files[i] = r.rel(abs)
			if k, ok := r.helmOrigins[abs]; ok {
				files[i] = k // a chart's objects: the kustomization inflating it
				fromSOPS[i] = r.helmDecrypted[abs]
				if spec.keepOrigin {
					// What kustomize writes for its generator, not the
					// file render served the objects under.
					err := res.SetOrigin(&resource.Origin{
						ConfiguredIn: filepath.Join(filepath.Dir(p), filepath.Base(k)),
						ConfiguredBy: kyaml.ResourceIdentifier{TypeMeta: kyaml.TypeMeta{APIVersion: builtinVersion, Kind: "HelmChartInflationGenerator"}},
					})
					if err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if !spec.keepOrigin {
		if err := m.RemoveOriginAnnotations(); err != nil {
			return nil, err
		}
	}
	if !spec.keepTransformations {
		if err := m.RemoveTransformerAnnotations(); err != nil {
			return nil, err
		}
	}
	secret, err := r.postBuild(resources, spec.flux, rel)
	if err != nil {
		return nil, err
	}
	out := make([]rendered, 0, len(resources))
	for i, res := range resources {
		o, err := toUnstructured(res)
		if err != nil {
			return nil, err
		}
		if err := commonMetadata(o, spec.flux); err != nil {
			return nil, err
		}
		origin := Origin{Path: rel, File: files[i], kustomized: !spec.listed[files[i]], via: via[i]}
		_, fromFile := r.dec.paths[files[i]]
		origin.Decrypted = fromFile && files[i] != "" || secret[i] || fromSOPS[i] ||
			// A value decrypted on the way (a secretGenerator's
			// encrypted env file, an encrypted patch) is in the
			// object, whatever its file says.
			r.dec.count > before && holdsPlaintext(o.Object, r.dec.plain)
		out = append(out, rendered{obj: o, origin: origin})
	}
	return out, nil
}
