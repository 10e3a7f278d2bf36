// Package listjson decodes the API server's JSON LIST responses into
// unstructured lists in one pass, and wraps a dynamic client so that its
// List does.
//
// client-go's unstructured decoder reads a LIST three times (to find the
// items, to decode the whole list into a map it then drops the items
// from, and to decode each item), through encoding/json's reflection:
// at a thousand objects that is most of a run's wait for the cluster.
// Decode reads it once, with a parser that knows only the JSON values an
// unstructured object holds. It gives up on what it does not handle
// exactly as apimachinery does (invalid UTF-8, surrogate escapes, numbers
// that are neither int64 nor float64, very deep nesting): the caller then
// decodes the slow way, so a result is never different, only sometimes
// slower.
package listjson

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ErrSlow is returned by Decode for a document it leaves to
// apimachinery's decoder: one it cannot decode exactly as that would, or
// one that is not a valid list.
var ErrSlow = errors.New("listjson: not decoded on the fast path")

// maxDepth bounds the nesting Decode follows; encoding/json allows
// 10,000 levels, the slow path handles what lies between.
const maxDepth = 512

// Decode decodes a LIST response as
// runtime.DecodeInto(unstructured.UnstructuredJSONScheme, data, list)
// would, or returns ErrSlow.
func Decode(data []byte) (*unstructured.UnstructuredList, error) {
	if !utf8.Valid(data) {
		return nil, ErrSlow
	}
	p := parser{b: data, intern: map[string]string{}}
	p.space()
	if !p.next('{') {
		return nil, ErrSlow
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{}}
	var items []any
	sawItems := false
	err := p.members(func(key string) error {
		if key != "items" {
			v, err := p.value(1)
			list.Object[key] = v
			return err
		}
		// The last "items" wins, as it does for apimachinery.
		v, err := p.value(1)
		if err != nil {
			return err
		}
		switch v := v.(type) {
		case nil:
			items, sawItems = nil, true
		case []any:
			items, sawItems = v, true
		default:
			return ErrSlow
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, ErrSlow
	}
	// A response without kind or apiVersion is an error for client-go,
	// and one without items is no LIST: the slow path says which.
	if list.GetKind() == "" || list.GetAPIVersion() == "" || !sawItems {
		return nil, ErrSlow
	}
	// The API server leaves out the items' kind and apiVersion: they are
	// the list's, as apimachinery fills them in.
	apiVersion, kind := list.GetAPIVersion(), strings.TrimSuffix(list.GetKind(), "List")
	list.Items = make([]unstructured.Unstructured, len(items))
	for i, it := range items {
		var m map[string]any
		switch it := it.(type) {
		case nil:
			m = map[string]any{}
		case map[string]any:
			m = it
		default:
			return nil, ErrSlow
		}
		u := unstructured.Unstructured{Object: m}
		if u.GetKind() == "" && u.GetAPIVersion() == "" {
			u.SetKind(kind)
			u.SetAPIVersion(apiVersion)
		}
		list.Items[i] = u
	}
	return list, nil
}

// parser reads one JSON document. Strings that repeat across a list's
// items (keys, and short values such as field managers and operations)
// are kept once: most of a list is the same few dozen keys.
type parser struct {
	b      []byte
	i      int
	intern map[string]string
}

// maxIntern bounds what the intern table keeps, so that a list of
// unique values does not grow it without use.
const (
	maxInternLen     = 64
	maxInternEntries = 8192
)

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next consumes c if it is the next byte.
func (p *parser) next(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// members reads an object's members after its '{', calling member with
// each key with the parser at the value.
func (p *parser) members(member func(key string) error) error {
	p.space()
	if p.next('}') {
		return nil
	}
	for {
		p.space()
		key, err := p.str()
		if err != nil {
			return err
		}
		p.space()
		if !p.next(':') {
			return ErrSlow
		}
		if err := member(key); err != nil {
			return err
		}
		p.space()
		if p.next(',') {
			continue
		}
		if p.next('}') {
			return nil
		}
		return ErrSlow
	}
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, ErrSlow
	}
	p.space()
	if p.i >= len(p.b) {
		return nil, ErrSlow
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		m := map[string]any{}
		err := p.members(func(key string) error {
			v, err := p.value(depth + 1)
			m[key] = v
			return err
		})
		return m, err
	case c == '[':
		p.i++
		a := []any{}
		p.space()
		if p.next(']') {
			return a, nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			p.space()
			if p.next(',') {
				continue
			}
			if p.next(']') {
				return a, nil
			}
			return nil, ErrSlow
		}
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, ErrSlow
}

func (p *parser) literal(word string) error {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return ErrSlow
	}
	p.i += len(word)
	return nil
}

// number reads a JSON number as sigs.k8s.io/json does with PreserveInts:
// an int64 when it has no '.' and fits, a float64 otherwise.
func (p *parser) number() (any, error) {
	start := p.i
	p.next('-')
	switch {
	case p.next('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, ErrSlow
	}
	frac := false
	if p.next('.') {
		frac = true
		if p.digits() == 0 {
			return nil, ErrSlow
		}
	}
	if p.next('e') || p.next('E') {
		if !p.next('+') {
			p.next('-')
		}
		if p.digits() == 0 {
			return nil, ErrSlow
		}
	}
	s := string(p.b[start:p.i])
	if !frac {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, ErrSlow
	}
	return f, nil
}

func (p *parser) digits() int {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// str reads a string at the parser. The document is valid UTF-8
// (Decode checked), so bytes are copied as they are.
func (p *parser) str() (string, error) {
	if !p.next('"') {
		return "", ErrSlow
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			raw := p.b[start:p.i]
			p.i++
			return p.keep(raw), nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", ErrSlow
		}
		p.i++
	}
	return "", ErrSlow
}

// keep returns raw as a string, the interned copy when there is one.
func (p *parser) keep(raw []byte) string {
	if len(raw) > maxInternLen {
		return string(raw)
	}
	if s, ok := p.intern[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if len(p.intern) < maxInternEntries {
		p.intern[s] = s
	}
	return s
}

// escaped finishes a string that has escapes, from its first byte at
// start. A \u escape of a UTF-16 surrogate goes the slow way: pairing
// them, and replacing the unpaired, is encoding/json's to do.
func (p *parser) escaped(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", ErrSlow
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", ErrSlow
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if p.i+4 > len(p.b) {
				return "", ErrSlow
			}
			r, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
			if err != nil || r >= 0xD800 && r <= 0xDFFF {
				return "", ErrSlow
			}
			out = utf8.AppendRune(out, rune(r))
			p.i += 4
		default:
			return "", ErrSlow
		}
	}
	return "", ErrSlow
}
