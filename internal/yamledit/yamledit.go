// Package yamledit changes YAML files the way a person would: only the
// bytes of the values that change, so comments, quoting, key order and
// indentation survive. Reviewers of a pull request see a one-line diff,
// not a re-serialised file.
package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Edit replaces the scalar that starts at line:column (1-based, column in
// characters, as yaml.v3 reports them). Old is the value expected there.
type Edit struct {
	Line, Column int
	Style        yaml.Style
	Old, New     string
}

// Apply rewrites only the bytes of each edited scalar. It checks that
// the text at each position still decodes to the expected old value, so a
// file changed since Load is never corrupted.
func Apply(data []byte, edits []Edit) ([]byte, error) {
	type span struct {
		start, end int
		text       string
	}
	var spans []span
	for _, e := range edits {
		if !utf8.ValidString(e.New) {
			return nil, fmt.Errorf("line %d: the new value %q is not valid UTF-8", e.Line, e.New)
		}
		start, err := offset(data, e.Line, e.Column)
		if err != nil {
			return nil, err
		}
		end, err := scalarEnd(data, start, e)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", e.Line, err)
		}
		spans = append(spans, span{start, end, render(e)})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start > spans[j].start })
	out := bytes.Clone(data)
	for i, s := range spans {
		if i > 0 && s.end > spans[i-1].start {
			return nil, errors.New("overlapping edits")
		}
		out = append(out[:s.start:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	return out, nil
}

func offset(data []byte, line, column int) (int, error) {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return 0, fmt.Errorf("line %d is past the end of the file", line)
		}
		off += i + 1
	}
	for c := 1; c < column; c++ {
		if off >= len(data) || data[off] == '\n' {
			return 0, fmt.Errorf("line %d has no column %d", line, column)
		}
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off, nil
}

// scalarEnd finds where the single-line scalar starting at start ends and
// verifies that it holds e.Old.
func scalarEnd(data []byte, start int, e Edit) (int, error) {
	lineEnd := bytes.IndexByte(data[start:], '\n')
	if lineEnd < 0 {
		lineEnd = len(data)
	} else {
		lineEnd += start
	}
	rest := data[start:lineEnd]
	var candidates []int
	switch e.Style {
	case yaml.DoubleQuotedStyle:
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == '"' {
				candidates = append(candidates, i+1)
				break
			}
		}
	case yaml.SingleQuotedStyle:
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\'' {
				if i+1 < len(rest) && rest[i+1] == '\'' {
					i++
					continue
				}
				candidates = append(candidates, i+1)
				break
			}
		}
	case yaml.LiteralStyle, yaml.FoldedStyle:
		return 0, errors.New("block scalars (| and >) cannot be rewritten in place; write the image on one line")
	default:
		// A plain scalar ends before " #" or the end of the line, or in
		// a flow collection before ",", "]" or "}".
		end := len(rest)
		if i := bytes.Index(rest, []byte(" #")); i >= 0 {
			end = i
		}
		if i := bytes.Index(rest, []byte("\t#")); i >= 0 && i < end {
			end = i
		}
		candidates = append(candidates, len(bytes.TrimRight(rest[:end], " \t\r")))
		if i := bytes.IndexAny(rest, ",]}"); i >= 0 {
			candidates = append(candidates, len(bytes.TrimRight(rest[:i], " \t")))
		}
	}
	for _, c := range candidates {
		var got string
		if err := yaml.Unmarshal(rest[:c], &got); err == nil && got == e.Old {
			return start + c, nil
		}
	}
	return 0, fmt.Errorf("expected %q at column %d but found %q (multi-line scalars cannot be rewritten in place)", e.Old, e.Column, strings.TrimSpace(string(rest)))
}

func render(e Edit) string {
	switch e.Style {
	case yaml.DoubleQuotedStyle:
		return DoubleQuote(e.New)
	case yaml.SingleQuotedStyle:
		// Single quotes cannot escape control characters.
		if strings.IndexFunc(e.New, func(r rune) bool { return !unicode.IsPrint(r) || r == 0xfeff }) < 0 {
			return "'" + strings.ReplaceAll(e.New, "'", "''") + "'"
		}
		return DoubleQuote(e.New)
	}
	// Keep plain scalars plain unless the new value would read as
	// something else (a number, a comment); a value that already was
	// ambiguous stays as the author wrote it.
	// Flow indicators are harmless in block context but end a plain
	// scalar inside [...] or {...}, and which one we are in is not known
	// here.
	if plainKeeps(e.New) && (!needsQuotes(e.New) || needsQuotes(e.Old)) && !strings.ContainsAny(e.New, ",[]{}") {
		return e.New
	}
	return DoubleQuote(e.New)
}

// plainKeeps reports whether s, written as a plain scalar, reads back as
// the same text (whatever type YAML then gives it).
func plainKeeps(s string) bool {
	var n yaml.Node
	if s == "" || yaml.Unmarshal([]byte(s), &n) != nil || len(n.Content) != 1 {
		return false
	}
	v := n.Content[0]
	return v.Kind == yaml.ScalarNode && v.Style == 0 && v.Value == s && v.LineComment == "" && v.HeadComment == "" && v.FootComment == ""
}

func needsQuotes(s string) bool {
	out, err := yaml.Marshal(s)
	if err != nil {
		return true
	}
	return strings.TrimSuffix(string(out), "\n") != s
}

func DoubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			switch {
			case r < 0x80 && !unicode.IsPrint(r):
				fmt.Fprintf(&b, `\x%02x`, r)
			case !unicode.IsPrint(r) || r == 0xfeff:
				fmt.Fprintf(&b, `\U%08x`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ReplaceLines replaces lines from..to (1-based, inclusive) with repl,
// each of which becomes one line. to = from-1 inserts repl before line
// from; repl = nil deletes. Structural edits (a key added or removed)
// work on whole lines so that the untouched lines stay byte for byte.
func ReplaceLines(data []byte, from, to int, repl []string) ([]byte, error) {
	start, err := lineStart(data, from)
	if err != nil {
		return nil, err
	}
	end := start
	if to >= from {
		if end, err = lineStart(data, to+1); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	b.Write(data[:start])
	if start == len(data) && start > 0 && data[start-1] != '\n' && len(repl) > 0 {
		b.WriteByte('\n')
	}
	for _, l := range repl {
		if strings.Contains(l, "\n") {
			return nil, fmt.Errorf("replacement line %q holds a line break", l)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.Write(data[end:])
	return b.Bytes(), nil
}

// lineStart is the offset of line n (1-based); the line after the last
// is the end of the data, so that a file without a final newline can
// still be appended to.
func lineStart(data []byte, n int) (int, error) {
	off := 0
	for l := 1; l < n; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			if l == n-1 && off < len(data) {
				return len(data), nil
			}
			return 0, fmt.Errorf("line %d is past the end of the file", n)
		}
		off += i + 1
	}
	return off, nil
}

// Line returns line n (1-based) without its line break.
func Line(data []byte, n int) string {
	start, err := lineStart(data, n)
	if err != nil || start >= len(data) {
		return ""
	}
	rest := data[start:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSuffix(string(rest), "\r")
}
