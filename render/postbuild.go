package render

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/envsubst"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
)

// After kustomize, kustomize-controller substitutes spec.postBuild
// variables in each object (fluxcd/pkg/kustomize SubstituteVariables,
// reproduced here: that package pulls controller-runtime into the
// binary), and, when it applies them, sets spec.commonMetadata on each.
// The substitution runs on the object's YAML text with Flux's own
// engine (fluxcd/pkg/envsubst), so ${var}, ${var:=default} and the
// other bash forms behave as in the cluster, a variable that is not
// set becomes empty (Flux's non-strict default), and an object labelled
// or annotated kustomize.toolkit.fluxcd.io/substitute: disabled is left
// as it is.

const (
	substituteKey      = "kustomize.toolkit.fluxcd.io/substitute"
	substituteDisabled = "disabled"
)

// varName is Flux's rule for variable names (varsubRegex).
var varName = regexp.MustCompile(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)

// postVars are the variables of one Flux Kustomization.
type postVars struct {
	vars   map[string]string
	secret map[string]bool
	names  []string // sorted, for deterministic errors
}

// fluxVars merges spec.postBuild.substitute over fx.Vars, with newlines
// stripped from every value, as Flux does. ok is false when the object
// has no spec.postBuild: Flux then substitutes nothing.
func fluxVars(fx *Flux) (postVars, bool, error) {
	if fx == nil || fx.Kustomization == nil {
		return postVars{}, false, nil
	}
	pb, found, _ := unstructured.NestedFieldNoCopy(fx.Kustomization.Object, "spec", "postBuild")
	if !found || pb == nil {
		return postVars{}, false, nil
	}
	v := postVars{vars: map[string]string{}, secret: map[string]bool{}}
	for k, val := range fx.Vars {
		v.vars[k] = strings.ReplaceAll(val, "\n", "")
		v.secret[k] = fx.SecretVars[k]
	}
	inline, _, err := unstructured.NestedStringMap(fx.Kustomization.Object, "spec", "postBuild", "substitute")
	if err != nil {
		return postVars{}, false, fmt.Errorf("%s: spec.postBuild.substitute: %w (give every value as a string)", object.FromUnstructured(fx.Kustomization), err)
	}
	for k, val := range inline {
		v.vars[k] = strings.ReplaceAll(val, "\n", "")
		v.secret[k] = false // the object's own value, in Git
	}
	for k := range v.vars {
		v.names = append(v.names, k)
	}
	sort.Strings(v.names)
	return v, true, nil
}

// postBuild substitutes the variables in each resource and says which
// resources received a value that came from a Secret.
func (r *renderer) postBuild(resources []*resource.Resource, fx *Flux, rel string) ([]bool, error) {
	secret := make([]bool, len(resources))
	v, ok, err := fluxVars(fx)
	if err != nil {
		return nil, objectError{err}
	}
	if !ok || len(v.vars) == 0 {
		return secret, nil
	}
	unit := object.FromUnstructured(fx.Kustomization)
	for i, res := range resources {
		if res.GetLabels()[substituteKey] == substituteDisabled || res.GetAnnotations()[substituteKey] == substituteDisabled {
			continue
		}
		id := resourceID(res)
		for _, name := range v.names {
			if !varName.MatchString(name) {
				return nil, objectError{fmt.Errorf("%s: postBuild of %s (%s): the variable name %q is invalid; it must match %s (rename it in spec.postBuild.substitute or in its substituteFrom ConfigMap or Secret)", id, rel, unit, name, varName)}
			}
		}
		data, err := res.AsYAML()
		if err != nil {
			return nil, objectError{fmt.Errorf("%s: postBuild of %s (%s): %w", id, rel, unit, err)}
		}
		used := false
		out, err := envsubst.Eval(string(data), func(name string) (string, bool) {
			val := v.vars[name]
			if v.secret[name] && val != "" {
				used = true
			}
			return val, true
		})
		if err != nil {
			return nil, objectError{fmt.Errorf("%s: postBuild of %s (%s): variable substitution failed: %w (check the ${...} expressions in the object)", id, rel, unit, err)}
		}
		j, err := yaml.YAMLToJSON([]byte(out))
		if err != nil {
			return nil, objectError{fmt.Errorf("%s: postBuild of %s (%s): the object is not valid YAML once its variables are substituted: %w (quote the expression, or fix the variable's value)", id, rel, unit, r.dec.plain.ScrubError(err))}
		}
		if err := res.UnmarshalJSON(j); err != nil {
			return nil, objectError{fmt.Errorf("%s: postBuild of %s (%s): %w", id, rel, unit, r.dec.plain.ScrubError(err))}
		}
		secret[i] = used
	}
	return secret, nil
}

// objectError is an error about one object that already starts with
// its Kind/namespace/name, so that callers do not put a prefix before it.
type objectError struct{ err error }

func (e objectError) Error() string { return e.err.Error() }
func (e objectError) Unwrap() error { return e.err }

func resourceID(res *resource.Resource) object.ID {
	gvk := res.GetGvk()
	return object.ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: res.GetNamespace(), Name: res.GetName()}
}

// commonMetadata sets spec.commonMetadata's labels and annotations on o,
// over what it has (ssautil.SetCommonMetadata in kustomize-controller).
func commonMetadata(o *unstructured.Unstructured, fx *Flux) error {
	if fx == nil || fx.Kustomization == nil {
		return nil
	}
	for _, f := range []struct {
		field string
		get   func() map[string]string
		set   func(map[string]string)
	}{
		{"labels", o.GetLabels, o.SetLabels},
		{"annotations", o.GetAnnotations, o.SetAnnotations},
	} {
		add, _, err := unstructured.NestedStringMap(fx.Kustomization.Object, "spec", "commonMetadata", f.field)
		if err != nil {
			return objectError{fmt.Errorf("%s: spec.commonMetadata.%s: %w (give every value as a string)", object.FromUnstructured(fx.Kustomization), f.field, err)}
		}
		if len(add) == 0 {
			continue
		}
		have := f.get()
		if have == nil {
			have = map[string]string{}
		}
		for k, val := range add {
			have[k] = val
		}
		f.set(have)
	}
	return nil
}
