package render

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/internal/plaintext"
	"github.com/tidegate/tidegate/object"
)

// wholesale are the top-level fields masked entirely in an object that
// came from a decrypted file, as a Secret's are: a SOPS-encrypted
// ConfigMap keeps its plaintext there, and the live object's values,
// decrypted in an earlier run, are in no Plaintext set.
var wholesale = map[string]bool{"data": true, "stringData": true, "binaryData": true}

// Mask masks, in place, what of o came from a decrypted file: every
// value of data, stringData and binaryData, every value at a key path
// that was encrypted in its file, and every value equal to a decrypted
// one, however short. other, when not nil, is the same object on the
// other side of a diff (live): it is masked at the same places, and a
// masked value that differs between the two is marked "(changed)" in o.
// Objects of no decrypted origin are left as they are (Secrets are
// masked by kind elsewhere: object.RedactSecret). Mask is safe for
// concurrent use on distinct objects.
func (r *Result) Mask(o, other *unstructured.Unstructured) {
	if r == nil || o == nil {
		return
	}
	origin, ok := r.Origins[object.FromUnstructured(o)]
	if !ok || !origin.Decrypted {
		return
	}
	m := masker{set: r.Plaintext, paths: r.paths[origin.File]}
	if other == nil {
		m.node(o.Object, nil, "", false)
		return
	}
	m.node(o.Object, other.Object, "", false)
	m.node(other.Object, nil, "", false)
}

type masker struct {
	set   *plaintext.Set
	paths map[string]bool
}

// node masks v, found at key path p, and other, the value at the same
// place on the other side; it returns both, masked. Lists add nothing to
// a key path, as in sops.
func (m masker) node(v, other any, p string, whole bool) (any, any) {
	switch t := v.(type) {
	case map[string]any:
		om, _ := other.(map[string]any)
		for k, e := range t {
			oe, inOther := om[k]
			var masked any
			t[k], masked = m.node(e, oe, join(p, k), whole || (p == "" && wholesale[k]))
			if inOther {
				om[k] = masked
			}
		}
		return t, other
	case []any:
		ol, _ := other.([]any)
		for i := range t {
			var oe any
			if i < len(ol) {
				oe = ol[i]
			}
			var masked any
			t[i], masked = m.node(t[i], oe, p, whole)
			if i < len(ol) {
				ol[i] = masked
			}
		}
		return t, other
	case nil:
		return v, other
	}
	if whole || m.paths[p] || m.set.Has(scalarText(v)) {
		out := object.Redacted
		if other != nil && !reflect.DeepEqual(other, v) {
			out += " (changed)"
		}
		if other != nil {
			other = object.Redacted
		}
		return out, other
	}
	if s, ok := v.(string); ok {
		return m.set.Scrub(s), other
	}
	return v, other
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

func scalarText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// holdsPlaintext reports whether a string anywhere in doc is a
// decrypted value, or holds one of at least plaintext.MinScrub bytes.
func holdsPlaintext(v any, set *plaintext.Set) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if holdsPlaintext(e, set) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if holdsPlaintext(e, set) {
				return true
			}
		}
	case string:
		return set.Has(t) || set.Scrub(t) != t
	}
	return false
}
