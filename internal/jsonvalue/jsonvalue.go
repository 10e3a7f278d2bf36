// Package jsonvalue parses a JSON document into the values an
// unstructured Kubernetes object holds (map[string]any, []any, string,
// int64, float64, bool, nil) in one pass, for the two places where
// encoding/json's reflection is most of a run's time: the API server's
// LIST responses and manifests written as JSON.
//
// It is a fast path, never the only one: it declines (ErrDeclined) what
// it does not read exactly as the decoder it stands in for would, and
// the caller then uses that decoder. Options say which decoder that is.
package jsonvalue

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrDeclined is returned for a document Parse leaves to the slow path:
// one it cannot read exactly as that would, or one that is not valid.
var ErrDeclined = errors.New("jsonvalue: declined")

// Options choose whose reading Parse matches.
type Options struct {
	// YAML11 reads as sigs.k8s.io/yaml (goyaml.v2, YAML 1.1) reads the
	// same text, kubectl's reading of a manifest: it declines floats,
	// integers beyond int64, a key given twice, the merge key "<<", a
	// key YAML cannot read as a simple key (a line break before its ':',
	// or more than 1,000 bytes),
	// escapes other than \" \\ \n \t \r \b \f and \u of printable ASCII,
	// characters YAML 1.1 refuses or treats apart (DEL, C1 controls,
	// line and paragraph separators, NEL, BOM) and whitespace other than
	// spaces and newlines. Without it Parse reads as apimachinery's JSON decoder
	// (sigs.k8s.io/json with PreserveInts): int64 or float64 numbers,
	// the last of a repeated key.
	YAML11 bool
}

// maxDepth bounds the nesting Parse follows; encoding/json allows
// 10,000 levels, the slow path handles what lies between.
const maxDepth = 512

// Parse reads the one JSON value data holds.
func Parse(data []byte, o Options) (any, error) {
	if !utf8.Valid(data) {
		return nil, ErrDeclined
	}
	p := parser{b: data, o: o, intern: map[string]string{}}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, ErrDeclined
	}
	return v, nil
}

// parser reads one JSON document. Strings that repeat (keys, and short
// values such as field managers) are kept once: most of a LIST is the
// same few dozen keys.
type parser struct {
	b      []byte
	i      int
	o      Options
	intern map[string]string
}

// maxIntern bounds what the intern table keeps, so that a document of
// unique values does not grow it without use.
const (
	maxInternLen     = 64
	maxInternEntries = 8192
)

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\n':
		case '\t', '\r':
			if p.o.YAML11 {
				return
			}
		default:
			return
		}
		p.i++
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

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, ErrDeclined
	}
	p.space()
	if p.i >= len(p.b) {
		return nil, ErrDeclined
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		return p.object(depth)
	case c == '[':
		p.i++
		return p.array(depth)
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
	return nil, ErrDeclined
}

func (p *parser) object(depth int) (any, error) {
	m := map[string]any{}
	p.space()
	if p.next('}') {
		return m, nil
	}
	for {
		p.space()
		from := p.i
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.o.YAML11 && !p.yamlKey(m, key, from) {
			return nil, ErrDeclined
		}
		if !p.next(':') {
			return nil, ErrDeclined
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[key] = v
		p.space()
		if p.next(',') {
			continue
		}
		if p.next('}') {
			return m, nil
		}
		return nil, ErrDeclined
	}
}

// yamlKey tells whether YAML 1.1 reads the key from from to the parser
// (at its ':') as JSON does: a key of flow mapping is a YAML simple
// key, which must end on the line it starts on and within 1024
// characters; the merge key "<<" and a key given twice read otherwise.
func (p *parser) yamlKey(m map[string]any, key string, from int) bool {
	if _, dup := m[key]; dup || key == "<<" {
		return false
	}
	span := p.b[from:p.i]
	return len(span) <= 1000 && bytes.IndexByte(span, '\n') < 0
}

func (p *parser) array(depth int) (any, error) {
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
		return nil, ErrDeclined
	}
}

func (p *parser) literal(word string) error {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return ErrDeclined
	}
	p.i += len(word)
	return nil
}

// number reads a JSON number as sigs.k8s.io/json does with PreserveInts:
// an int64 when it has no '.' and fits, a float64 otherwise. For YAML11
// only the int64 are read.
func (p *parser) number() (any, error) {
	start := p.i
	p.next('-')
	switch {
	case p.next('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, ErrDeclined
	}
	frac := false
	if p.next('.') {
		frac = true
		if p.digits() == 0 {
			return nil, ErrDeclined
		}
	}
	if p.next('e') || p.next('E') {
		if !p.next('+') {
			p.next('-')
		}
		if p.digits() == 0 {
			return nil, ErrDeclined
		}
	}
	s := string(p.b[start:p.i])
	if !frac {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	if p.o.YAML11 {
		return nil, ErrDeclined
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, ErrDeclined
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

// str reads a string at the parser. The document is valid UTF-8 (Parse
// checked), so bytes are copied as they are.
func (p *parser) str() (string, error) {
	if !p.next('"') {
		return "", ErrDeclined
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
		case c < 0x20, c == 0x7F && p.o.YAML11:
			return "", ErrDeclined
		case c >= 0x80 && p.o.YAML11:
			if !p.yamlRune() {
				return "", ErrDeclined
			}
			continue
		}
		p.i++
	}
	return "", ErrDeclined
}

// yamlRune consumes the multi-byte character at the parser if YAML 1.1
// reads it in a double-quoted scalar as JSON does: printable, and no
// line break (U+0085, U+2028, U+2029) or byte order mark.
func (p *parser) yamlRune() bool {
	r, n := utf8.DecodeRune(p.b[p.i:])
	p.i += n
	switch {
	case r == 0x2028 || r == 0x2029 || r == 0xFEFF:
		return false
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
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
// start. A \u escape of a UTF-16 surrogate is declined: pairing them,
// and replacing the unpaired, is encoding/json's to do.
func (p *parser) escaped(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20, c == 0x7F && p.o.YAML11:
			return "", ErrDeclined
		case c >= 0x80 && p.o.YAML11:
			from := p.i
			if !p.yamlRune() {
				return "", ErrDeclined
			}
			out = append(out, p.b[from:p.i]...)
			continue
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", ErrDeclined
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\':
			out = append(out, e)
		case '/':
			if p.o.YAML11 {
				return "", ErrDeclined
			}
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
				return "", ErrDeclined
			}
			r, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
			if err != nil || r >= 0xD800 && r <= 0xDFFF || p.o.YAML11 && (r < 0x20 || r > 0x7E) {
				return "", ErrDeclined
			}
			out = utf8.AppendRune(out, rune(r))
			p.i += 4
		default:
			return "", ErrDeclined
		}
	}
	return "", ErrDeclined
}
