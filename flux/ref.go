package flux

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Ref names one Flux object or one object a Flux object points at.
// Kind, Namespace and Name identify it; APIVersion is kept where Flux
// carries one (sourceRef, healthChecks) and is not part of its identity.
type Ref struct {
	Kind, Namespace, Name string
	APIVersion            string
}

// String formats the reference as Kind/namespace/name (Kind/name when it
// has no namespace), the prefix of every message about the object. A part
// that is not plain printable text (control characters, quotes, slashes,
// spaces) is quoted, so a hostile name cannot forge or hide output.
func (r Ref) String() string {
	if r.Namespace == "" {
		return quote(r.Kind) + "/" + quote(r.Name)
	}
	return quote(r.Kind) + "/" + quote(r.Namespace) + "/" + quote(r.Name)
}

// key is the identity of r, its APIVersion left out.
func (r Ref) key() Ref { return Ref{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name} }

// quote returns s as it is when it is plain printable text, else quoted
// Go-style. Long values are cut so that an error stays readable.
func quote(s string) string {
	const max = 256
	if s != "" && len(s) <= max && plain(s) {
		return s
	}
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

func plain(s string) bool {
	for _, r := range s {
		if r == '"' || r == '/' || r == '\\' || r == '`' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Error is a problem with one Flux object read from the repository: which
// object, from which file, which field, and what is wrong with it. The
// message starts with the object (Kind/namespace/name) and the file.
type Error struct {
	Object Ref
	// File is the repository file the object came from; "" if unknown.
	File string
	// Field is the field at fault, such as spec.path or
	// spec.dependsOn[2].name; "" when the object as a whole is.
	Field string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Object.String())
	if e.File != "" {
		fmt.Fprintf(&b, " (%s)", quotePath(e.File))
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// quotePath is quote for file paths, whose slashes are plain.
func quotePath(p string) string {
	const max = 1024
	if len(p) > max {
		return strconv.Quote(p[:max]) + "…"
	}
	for _, r := range p {
		if r == '"' || r == '\\' || unicode.IsSpace(r) && r != ' ' || !unicode.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}
