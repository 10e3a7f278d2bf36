// Package marker parses Flux image setter markers: the YAML line comments
// that tell image automation which scalar a policy may rewrite.
//
// A marker names an ImagePolicy by namespace and name, and optionally the
// part of the image reference the field holds:
//
//	image: ghcr.io/acme/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
//	newName: ghcr.io/acme/app     # {"$imagepolicy": "flux-system:app:name"}
//	newTag: 1.0.0                 # {"$imagepolicy": "flux-system:app:tag"}
//	digest: sha256:…              # {"$imagepolicy": "flux-system:app:digest"}
//
// Without a suffix the field holds the whole reference, name:tag, and is
// replaced by the policy's image and selected tag. A colon separates the
// parts because Flux's setters use "/" as a JSON-pointer separator.
//
// Markers are parsed once, at the edge, into Marker values; malformed ones
// are reported as *Error, never silently skipped, because a typo in a
// marker otherwise means an image that quietly stops being updated.
package marker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Key is the JSON key Flux's image-automation-controller registers as its
// setter shorthand.
const Key = "$imagepolicy"

// Field says which part of an image reference a marked scalar holds.
type Field string

const (
	// Image is the whole reference, name:tag.
	Image Field = ""
	// Tag is the tag alone (kustomize newTag, Helm values image.tag).
	Tag Field = "tag"
	// Name is the repository alone (kustomize newName, image.repository).
	Name Field = "name"
	// Digest is the manifest digest of the selected tag, sha256:….
	Digest Field = "digest"
)

// Marker is a parsed setter marker.
type Marker struct {
	Namespace string
	Name      string
	Field     Field
}

// Policy returns the key of the ImagePolicy the marker names,
// "namespace:name".
func (m Marker) Policy() string { return m.Namespace + ":" + m.Name }

// String returns the marker's setter name as written in the comment.
func (m Marker) String() string {
	if m.Field == Image {
		return m.Policy()
	}
	return m.Policy() + ":" + string(m.Field)
}

// Error reports a malformed marker.
type Error struct {
	Comment string
	Reason  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("malformed image policy marker %q: %s", e.Comment, e.Reason)
}

// ErrNoMarker is returned by Parse for comments that carry no marker.
var ErrNoMarker = errors.New("no image policy marker")

// Parse parses a YAML line comment, with or without its leading "#". It
// returns ErrNoMarker when the comment does not mention Key and *Error
// when it does but cannot be understood.
func Parse(comment string) (Marker, error) {
	if !strings.Contains(comment, Key) {
		return Marker{}, ErrNoMarker
	}
	text := strings.TrimSpace(comment)
	text = strings.TrimSpace(strings.TrimLeft(text, "#"))
	var obj map[string]any
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return Marker{}, &Error{Comment: comment, Reason: `want a JSON object like {"$imagepolicy": "namespace:name"}`}
	}
	raw, ok := obj[Key]
	if !ok {
		return Marker{}, &Error{Comment: comment, Reason: fmt.Sprintf("the object has no %q key", Key)}
	}
	setter, ok := raw.(string)
	if !ok {
		return Marker{}, &Error{Comment: comment, Reason: fmt.Sprintf("the value of %q must be a string", Key)}
	}
	return ParseSetter(setter, comment)
}

// ParseSetter parses the setter name alone, "namespace:name[:field]".
// comment is only used in errors.
func ParseSetter(setter, comment string) (Marker, error) {
	parts := strings.Split(setter, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Marker{}, &Error{Comment: comment, Reason: fmt.Sprintf("%q is not namespace:name or namespace:name:tag|name|digest", setter)}
	}
	m := Marker{Namespace: parts[0], Name: parts[1]}
	for _, p := range parts[:2] {
		if !isDNSLabel(p) {
			return Marker{}, &Error{Comment: comment, Reason: fmt.Sprintf("%q is not a valid Kubernetes namespace or name", p)}
		}
	}
	if len(parts) == 3 {
		switch f := Field(parts[2]); f {
		case Tag, Name, Digest:
			m.Field = f
		default:
			return Marker{}, &Error{Comment: comment, Reason: fmt.Sprintf("unknown field %q: want tag, name or digest", parts[2])}
		}
	}
	return m, nil
}

// isDNSLabel accepts Kubernetes object names as ImagePolicies use them:
// lower-case alphanumerics, '-' and '.', starting and ending with an
// alphanumeric, at most 253 characters.
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if alnum {
			continue
		}
		if (r == '-' || r == '.') && i != 0 && i != len(s)-1 {
			continue
		}
		return false
	}
	return true
}
