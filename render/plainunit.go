package render

import (
	"bytes"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A Flux unit's plain directory is built by kustomize from a generated
// kustomization that lists its files. When nothing else is in that
// kustomization (Flux sets no targetNamespace, prefix, patch, image or
// component) and the unit substitutes no variables, kustomize's output
// is the files' documents as kustomize reads them, in order (tidegate
// builds without reordering): the same yaml.v3 nodes checkYAML already
// parsed, decoded the way kustomize decodes them (see objectOfNode). That
// reading is several times cheaper than a kustomize build, which a Flux
// run does one unit at a time. Anything kustomize would treat specially
// (a List, a config.kubernetes.io annotation such as local-config, a tag,
// an anchor, a document without a name, an encrypted file, a
// sub-directory unit) takes the build. TestPlainUnitMatchesKustomize
// compares the two.

// plainUnit is what generate read of a unit's plain directory, for
// plainBuild; nil when the directory holds anything but plain files.
type plainUnit struct{ files []plainDocs }

// plainDocs is one listed file: its repository-relative name, its
// documents and their parsed roots.
type plainDocs struct {
	name  string
	docs  []document
	roots []*yaml.Node
}

// plainBuild returns the unit's objects read from plain, false when the
// build must run instead.
func (r *renderer) plainBuild(rel string, k *types.Kustomization, spec buildSpec, plain *plainUnit) ([]rendered, bool) {
	if plain == nil || r.noPlainBuild {
		return nil, false
	}
	rest := *k
	// A generated kustomization holds the files and the origin tracking
	// render added (buildSpec.track); anything else came from Flux.
	rest.APIVersion, rest.Kind, rest.Resources, rest.BuildMetadata = "", "", nil, nil
	if !reflect.DeepEqual(rest, types.Kustomization{}) {
		return nil, false
	}
	if v, ok, err := fluxVars(spec.flux); err != nil || ok && len(v.vars) > 0 {
		return nil, false
	}
	var out []rendered
	for _, f := range plain.files {
		for i, d := range f.docs {
			if isBlank(d.text) {
				continue
			}
			root := f.roots[i]
			if root == nil || bytes.ContainsAny(d.text, "!&*") {
				return nil, false
			}
			m, ok := objectOfNode(root)
			if !ok || !kustomizeReadsAsIs(m) {
				return nil, false
			}
			o := &unstructured.Unstructured{Object: m}
			if err := commonMetadata(o, spec.flux); err != nil {
				return nil, false // the build reports it
			}
			out = append(out, rendered{obj: o, origin: Origin{Path: rel, File: f.name}})
		}
	}
	r.plainBuilds++
	return out, true
}

// kustomizeReadsAsIs reports whether kustomize would pass object m
// through a build that transforms nothing, unchanged.
func kustomizeReadsAsIs(m map[string]any) bool {
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if kind == "" || apiVersion == "" || name == "" || strings.HasSuffix(kind, "List") {
		return false
	}
	if _, ok := m["items"]; ok {
		return false
	}
	for _, field := range []string{"annotations", "labels"} {
		v, present := meta[field]
		if !present {
			continue
		}
		kv, ok := v.(map[string]any)
		if !ok || len(kv) == 0 {
			return false // kustomize may drop or refuse it
		}
		for key, val := range kv {
			if _, ok := val.(string); !ok {
				return false
			}
			if field == "annotations" && (strings.Contains(key, "config.kubernetes.io/") || strings.Contains(key, "kustomize.config.k8s.io/") || strings.Contains(key, "config.k8s.io/")) {
				return false
			}
		}
	}
	return true
}
