package render

import (
	"bytes"
	"strconv"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The fast path of decode: checkYAML has already parsed each document
// (yaml.v3 nodes) to bound it, and converting those nodes is several
// times cheaper than parsing the text again with sigs.k8s.io/yaml, as
// kubectl does. But the two parsers read some plain scalars differently
// (YAML 1.1 there: yes, on, 0755, 1_000; YAML 1.2 here), and kubectl's
// reading is the one users expect. So the nodes are converted only where
// both agree by construction, and a document holding anything else
// (a number that is not a plain decimal integer, a tag, an alias, a merge
// key, a non-mapping root) is parsed again the old way. The result is
// the value jsonObject(yaml.YAMLToJSON(doc)) gives; TestNodeValueMatches
// compares the two.

// yaml11Words are the plain scalars goyaml.v2 (behind sigs.k8s.io/yaml)
// resolves to booleans and null: its resolve table, for the words that
// start with a letter or ~.
var yaml11Words = map[string]any{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"true": true, "True": true, "TRUE": true,
	"on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false,
	"false": false, "False": false, "FALSE": false,
	"off": false, "Off": false, "OFF": false,
	"~": nil, "null": nil, "Null": nil, "NULL": nil,
}

// fastObject is the object document d holds, read from its parsed root;
// false when root is nil, not a mapping, or holds something only the
// slow path reads. A document with a "!" anywhere takes the slow path:
// yaml.v3 drops the non-specific tag "!" from its nodes (goyaml.v2 reads
// "a: !" as a string, yaml.v3 as null), so only the text can tell.
func fastObject(d document, root *yaml.Node) (map[string]any, bool) {
	if root == nil || bytes.IndexByte(d.text, '!') >= 0 {
		return nil, false
	}
	return objectOf(root)
}

// objectOf is the object a document's root node holds; false when the
// node is not a mapping or holds something only the slow path reads.
func objectOf(n *yaml.Node) (map[string]any, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	v, ok := nodeValue(n)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any) // a mapping node's value is one
	return m, ok
}

// resolvedTags are the tags yaml.v3 gives nodes written without one; a
// node with any other (a "!" or "!custom" tag, however it is spelled)
// takes the slow path.
var resolvedTags = map[string]bool{"!!map": true, "!!seq": true, "!!str": true, "!!null": true, "!!bool": true, "!!int": true, "!!float": true, "!!timestamp": true}

func nodeValue(n *yaml.Node) (any, bool) {
	if n.Style&yaml.TaggedStyle != 0 || !resolvedTags[n.Tag] {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, ok := keyOf(n.Content[i])
			if !ok {
				return nil, false
			}
			v, ok := nodeValue(n.Content[i+1])
			if !ok {
				return nil, false
			}
			// A key given twice was refused by checkYAML (strict).
			m[k] = v
		}
		return m, true
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, ok := nodeValue(c)
			if !ok {
				return nil, false
			}
			s = append(s, v)
		}
		return s, true
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	// Aliases (and anything else): the slow path expands them.
	return nil, false
}

// scalarValue reads a scalar as goyaml.v2 resolves it, where that is
// certain: quoted and block scalars are strings; plain ones are strings
// when they start with a letter (and are not one of yaml11Words) or
// with / _ $, and integers when they are plain decimal integers.
func scalarValue(n *yaml.Node) (any, bool) {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, true
	}
	s := n.Value
	if s == "" {
		return nil, true
	}
	if v, ok := yaml11Words[s]; ok {
		return v, true
	}
	switch c := s[0]; {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '/', c == '_', c == '$':
		return s, true
	}
	if decimalInteger(s) {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
	}
	return nil, false
}

// keyOf is a mapping key as sigs.k8s.io/yaml writes it to JSON: strings
// as they are, integers in decimal.
func keyOf(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Style&yaml.TaggedStyle != 0 || !resolvedTags[n.Tag] {
		return "", false
	}
	v, ok := scalarValue(n)
	if !ok {
		return "", false
	}
	switch k := v.(type) {
	case string:
		return k, true
	case int64:
		return strconv.FormatInt(k, 10), true
	}
	// true, null…: JSON keys the slow path spells.
	return "", false
}

// decimalInteger reports whether s is -?(0|[1-9][0-9]*): the integers
// YAML 1.1 and 1.2 read alike (a leading 0 is octal in 1.1).
func decimalInteger(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pairDocuments matches the documents checkYAML parsed with the ones
// splitDocuments cut: at[i] is the root node of docs[i], nil where the
// slow path reads it. Each parsed document is placed by the line its
// content starts on; if two fall into one cut document (a "..." end
// marker, a "--- {...}" line the cut does not split at) the cut and the
// parse disagree, and the whole file takes the slow path.
func pairDocuments(docs []document, parsed []*yaml.Node) []*yaml.Node {
	at := make([]*yaml.Node, len(docs))
	j := 0
	for _, d := range parsed {
		if len(d.Content) != 1 {
			continue
		}
		root := d.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document; the slow path skips it alike
		}
		for j+1 < len(docs) && docs[j+1].line <= root.Line {
			j++
		}
		if at[j] != nil || root.Line < docs[j].line {
			return make([]*yaml.Node, len(docs))
		}
		at[j] = root
	}
	return at
}
