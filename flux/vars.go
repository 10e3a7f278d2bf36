package flux

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Lookup reads one ConfigMap or Secret: from the objects of the run (a
// ConfigMap in Git next to the Kustomization) or from the cluster, as the
// caller decides. found is false, with a nil error, when the object does
// not exist. A Secret's data comes already base64-decoded.
type Lookup interface {
	Get(ctx context.Context, kind, namespace, name string) (data map[string]string, found bool, err error)
}

// varName is the pattern Flux's substitution requires of every variable
// name (fluxcd/pkg/kustomize); a ConfigMap key outside it fails Flux's
// build, so it fails here, naming where it came from.
var varName = regexp.MustCompile(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)

// Vars resolves spec.postBuild.substituteFrom as kustomize-controller
// does: each reference read in order from the Kustomization's namespace,
// later ones overriding earlier ones, every "\n" removed from the values.
// A missing reference marked optional is skipped; a missing required one
// is an error. secret names the variables whose value came from a Secret.
// spec.postBuild.substitute is not merged in: render does that, over these.
func Vars(ctx context.Context, k *Kustomization, lookup Lookup) (vars map[string]string, secret map[string]bool, err error) {
	vars, secret = map[string]string{}, map[string]bool{}
	if k == nil {
		return vars, secret, nil
	}
	if lookup == nil && len(k.SubstituteFrom) > 0 {
		return nil, nil, &Error{Object: k.Ref(), File: k.File, Field: "spec.postBuild.substituteFrom", Err: errors.New("no source of ConfigMaps and Secrets was given to read it from")}
	}
	for i, ref := range k.SubstituteFrom {
		field := fmt.Sprintf("spec.postBuild.substituteFrom[%d]", i)
		obj := Ref{Kind: ref.Kind, Namespace: k.Namespace, Name: ref.Name}
		data, found, err := lookup.Get(ctx, ref.Kind, k.Namespace, ref.Name)
		if err != nil {
			return nil, nil, &Error{Object: k.Ref(), File: k.File, Field: field, Err: fmt.Errorf("reading %s: %w", obj, err)}
		}
		if !found {
			if ref.Optional {
				continue
			}
			return nil, nil, &Error{Object: k.Ref(), File: k.File, Field: field, Err: fmt.Errorf("%s does not exist, in the run or in the cluster: create it, or mark the reference optional: true", obj)}
		}
		keys := make([]string, 0, len(data))
		for key := range data {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if !varName.MatchString(key) {
				return nil, nil, &Error{Object: k.Ref(), File: k.File, Field: field, Err: fmt.Errorf("%s has the key %s, which is not a variable name Flux accepts (letters, digits and _, not starting with a digit): rename the key, or move it to another %s", obj, quote(key), ref.Kind)}
			}
			vars[key] = strings.ReplaceAll(data[key], "\n", "")
			secret[key] = ref.Kind == "Secret"
		}
	}
	for key, s := range secret {
		if !s {
			delete(secret, key)
		}
	}
	return vars, secret, nil
}
