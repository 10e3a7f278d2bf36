package yamledit

import (
	"bytes"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FuzzApplyEdits rewrites the first scalar value of arbitrary YAML to an
// arbitrary string. Whenever Apply accepts, the result must parse,
// hold the new value at the same position, and keep every byte before the
// scalar.
func FuzzApplyEdits(f *testing.F) {
	f.Add("image: a:1 # {\"$imagepolicy\": \"n:p\"}\n", "a:2")
	f.Add("x:\n  - tag: 'v1'\n", "it's")
	f.Add("k: \"v\\\"1\" # c\n", "1.0")
	f.Add("{a: b, c: d}\n", "x, y")
	f.Add("é: ü #\n", "#hash")
	f.Fuzz(func(t *testing.T, src, newValue string) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			return
		}
		n := firstValue(&doc)
		if n == nil || n.Tag == "!!null" || n.Alias != nil || n.Anchor != "" || n.Tag != "" && n.Tag[0] == '!' && n.Style&yaml.TaggedStyle != 0 {
			return
		}
		out, err := Apply([]byte(src), []Edit{{Line: n.Line, Column: n.Column, Style: n.Style, Old: n.Value, New: newValue}})
		if err != nil {
			return
		}
		start, _ := offset([]byte(src), n.Line, n.Column)
		if !bytes.Equal(out[:start], []byte(src)[:start]) {
			t.Fatalf("bytes before the scalar changed:\n%q\n%q", src, out)
		}
		var again yaml.Node
		if err := yaml.Unmarshal(out, &again); err != nil {
			t.Fatalf("rewritten YAML does not parse: %v\n%q -> %q", err, src, out)
		}
		m := firstValue(&again)
		if m == nil || m.Value != newValue || m.Line != n.Line || m.Column != n.Column {
			t.Fatalf("rewritten scalar = %+v, want %q at %d:%d\n%q -> %q", m, newValue, n.Line, n.Column, src, out)
		}
	})
}

// firstValue returns the first scalar that is a mapping value.
func firstValue(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 1; i < len(n.Content); i += 2 {
			if n.Content[i].Kind == yaml.ScalarNode {
				return n.Content[i]
			}
		}
	}
	for _, c := range n.Content {
		if f := firstValue(c); f != nil {
			return f
		}
	}
	return nil
}
