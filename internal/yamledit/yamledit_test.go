package yamledit

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestApplyEdits rewrites single scalars located the way Load locates
// them and checks the rest of the text is untouched.
func TestApplyEdits(t *testing.T) {
	tests := []struct {
		name, in, old, new, want string
		wantErr                  string
	}{
		{name: "plain with comment", in: "image: a:1   # {\"$imagepolicy\": \"n:p\"}\n", old: "a:1", new: "a:2",
			want: "image: a:2   # {\"$imagepolicy\": \"n:p\"}\n"},
		{name: "double quoted", in: "x: 1\nimage: \"a:1\" # c\n", old: "a:1", new: "a:22", want: "x: 1\nimage: \"a:22\" # c\n"},
		{name: "single quoted with escaped quote", in: "tag: 'it''s' # c\n", old: "it's", new: "it''s", want: "tag: 'it''''s' # c\n"},
		{name: "no trailing newline", in: "tag: v1", old: "v1", new: "v2", want: "tag: v2"},
		{name: "CRLF", in: "a: b\r\ntag: v1 # c\r\nz: 1\r\n", old: "v1", new: "v2", want: "a: b\r\ntag: v2 # c\r\nz: 1\r\n"},
		{name: "flow sequence", in: "tags: [v1, v9]\n", old: "v1", new: "v2", want: "tags: [v2, v9]\n"},
		{name: "flow mapping", in: "img: {tag: v1, name: x}\n", old: "v1", new: "v10", want: "img: {tag: v10, name: x}\n"},
		{name: "unicode before the scalar", in: "é: ü\n", old: "ü", new: "ö", want: "é: ö\n"},
		{name: "hash inside a plain scalar", in: "tag: a#b # c\n", old: "a#b", new: "a#c", want: "tag: a#c # c\n"},
		{name: "plain becomes quoted when it would read as a number", in: "tag: v1 # c\n", old: "v1", new: "1.10", want: "tag: \"1.10\" # c\n"},
		{name: "number-like plain stays plain", in: "tag: 1.0 # c\n", old: "1.0", new: "1.10", want: "tag: 1.10 # c\n"},
		{name: "block scalar refused", in: "tag: |\n  v1\n", old: "v1\n", new: "v2", wantErr: "block scalars"},
		{name: "stale content refused", in: "tag: v3\n", old: "v1", new: "v2", wantErr: `expected "v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.in), &doc); err != nil {
				t.Fatal(err)
			}
			n := findScalar(&doc, tt.old)
			if n == nil {
				// For the stale case the position is that of the value
				// actually there.
				n = findScalar(&doc, "v3")
			}
			got, err := Apply([]byte(tt.in), []Edit{{Line: n.Line, Column: n.Column, Style: n.Style, Old: tt.old, New: tt.new}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Apply() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestApplyEditsSeveralOnOneLine(t *testing.T) {
	in := "images: [{newName: a, newTag: v1}]\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(in), &doc); err != nil {
		t.Fatal(err)
	}
	a, v := findScalar(&doc, "a"), findScalar(&doc, "v1")
	got, err := Apply([]byte(in), []Edit{
		{Line: a.Line, Column: a.Column, Old: "a", New: "registry/longer-name"},
		{Line: v.Line, Column: v.Column, Old: "v1", New: "v2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "images: [{newName: registry/longer-name, newTag: v2}]\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func findScalar(n *yaml.Node, value string) *yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Value == value {
		return n
	}
	for i, c := range n.Content {
		// Skip mapping keys.
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue
		}
		if f := findScalar(c, value); f != nil {
			return f
		}
	}
	return nil
}

func TestReplaceLines(t *testing.T) {
	const in = "a: 1\nb: 2\nc: 3\n"
	for _, tt := range []struct {
		name     string
		data     string
		from, to int
		repl     []string
		want     string
		wantErr  bool
	}{
		{name: "replace one", data: in, from: 2, to: 2, repl: []string{"b: 20"}, want: "a: 1\nb: 20\nc: 3\n"},
		{name: "insert before", data: in, from: 2, to: 1, repl: []string{"x: 0"}, want: "a: 1\nx: 0\nb: 2\nc: 3\n"},
		{name: "delete two", data: in, from: 1, to: 2, want: "c: 3\n"},
		{name: "append", data: in, from: 4, to: 3, repl: []string{"d: 4"}, want: in + "d: 4\n"},
		{name: "append without final newline", data: "a: 1", from: 2, to: 1, repl: []string{"b: 2"}, want: "a: 1\nb: 2\n"},
		{name: "keeps CRLF of other lines", data: "a: 1\r\nb: 2\r\n", from: 2, to: 1, repl: []string{"x: 0"}, want: "a: 1\r\nx: 0\nb: 2\r\n"},
		{name: "past the end", data: in, from: 9, to: 9, wantErr: true},
		{name: "line break in a line", data: in, from: 1, to: 1, repl: []string{"a\nb"}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceLines([]byte(tt.data), tt.from, tt.to, tt.repl)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ReplaceLines = %q, want an error", got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReplaceLines = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if got := Line([]byte("a\r\nb\n"), 1); got != "a" {
		t.Errorf("Line(1) = %q", got)
	}
	if got := Line([]byte("a\nb"), 2); got != "b" {
		t.Errorf("Line(2) = %q", got)
	}
}
