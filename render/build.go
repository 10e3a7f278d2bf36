package render

import (
	"fmt"
	"path/filepath"
	"slices"

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
	// keepOrigin: the kustomization asked for origin annotations itself
	// (buildMetadata), so they are part of what it renders and stay.
	// Otherwise render adds them to learn Origin.File and strips them.
	keepOrigin bool
	// listed are the files a generated kustomization lists directly
	// (repository-relative): their objects are plain manifests, not a
	// kustomization's output.
	listed map[string]bool
	// flux, when set, adds postBuild and commonMetadata (postbuild.go).
	flux *Flux
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
	if slices.Contains(k.BuildMetadata, types.OriginAnnotations) {
		return buildSpec{keepOrigin: true}, nil
	}
	k.BuildMetadata = append(k.BuildMetadata, types.OriginAnnotations)
	out, err := yaml.Marshal(k)
	if err != nil {
		return buildSpec{}, fmt.Errorf("%s: %w", rel, err)
	}
	return buildSpec{kfile: kfile, virtual: out}, nil
}

// buildUnit builds dir with krusty as spec says and returns the objects
// with their origins: the file of each from kustomize's origin
// annotation, and whether it holds decrypted values.
func (r *renderer) buildUnit(dir, rel string, spec buildSpec) ([]rendered, error) {
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
	for i, res := range resources {
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
		origin := Origin{Path: rel, File: files[i], kustomized: !spec.listed[files[i]]}
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
