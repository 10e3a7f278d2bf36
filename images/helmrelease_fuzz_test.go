package images

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tidegate/tidegate/internal/yamledit"
)

// FuzzHelmReleaseValues feeds arbitrary values and mapping annotations
// to a helm-operator HelmRelease. Whatever comes in: no panic; an error
// names the file and the object and is one line per problem; every Site
// holds exactly the scalar at its position, and rewriting its tag there
// keeps the file valid YAML with every other byte in place.
func FuzzHelmReleaseValues(f *testing.F) {
	f.Add("image: r.example/a:1\nsub:\n  image: {registry: r.example, repository: b, tag: '2'}\n", "repository.fluxcd.io/x: m.repo\ntag.fluxcd.io/x: m.tag\n")
	f.Add("m: {repo: r.example/c, tag: 3}\n", "repository.fluxcd.io/x: m.repo\ntag.fluxcd.io/x: m.tag\n")
	f.Add("image: [a]\nlist:\n- image: x:1\n", "repository.fluxcd.io/x: list.0.image\n")
	f.Add("a: &anchor r.example/a:1\nb:\n  image: *anchor\n", "repository.fluxcd.io/y: ..a\n")
	f.Add("image: |\n  r.example/a:1\ntag: 1.0\n", "registry.fluxcd.io/z: image\nfilter.fluxcd.io/z: regex:(\n")
	f.Add("image: \"r.example/a:1 # x\"\nregistry: 5\n", "repository.fluxcd.io/: image\n")
	f.Fuzz(func(t *testing.T, values, annotations string) {
		var v, a yaml.Node
		if yaml.Unmarshal([]byte(values), &v) != nil || yaml.Unmarshal([]byte(annotations), &a) != nil ||
			len(v.Content) != 1 || v.Content[0].Kind != yaml.MappingNode || len(a.Content) != 1 || a.Content[0].Kind != yaml.MappingNode {
			return
		}
		doc := "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: r\n  namespace: ns\n  annotations:\n" +
			"    fluxcd.io/automated: \"true\"\n" + indent(annotations, "    ") + "spec:\n  values:\n" + indent(values, "    ")
		src := &Sources{Repositories: map[string]*ImageRepository{}, Policies: map[string]*ImagePolicy{}, Secrets: map[string][]byte{}, Files: map[string][]byte{}}
		err := src.parseFile("r.yaml", []byte(doc))
		if err != nil {
			var fe *FileError
			for _, e := range unjoin(err) {
				if !errors.As(e, &fe) || !strings.HasPrefix(e.Error(), "r.yaml") {
					t.Fatalf("error without its file: %v", e)
				}
			}
			if strings.Contains(err.Error(), "annotation") && !strings.Contains(err.Error(), "HelmRelease.helm.fluxcd.io/ns/r") {
				t.Fatalf("annotation error without the object: %v", err)
			}
		}
		for _, s := range src.Sites {
			if s.Pattern == nil {
				continue
			}
			out, err := yamledit.Apply([]byte(doc), []yamledit.Edit{{Line: s.Line, Column: s.Column, Style: s.Style, Old: s.Value, New: "9.9.9"}})
			if err != nil {
				// yamledit refuses only what it cannot rewrite in place (a
				// plain scalar folded over lines); a position that is not
				// the scalar's is a bug.
				if !strings.Contains(err.Error(), "cannot be rewritten in place") {
					t.Fatalf("site %+v: %v", s, err)
				}
				continue
			}
			var again yaml.Node
			if err := yaml.Unmarshal(out, &again); err != nil {
				t.Fatalf("rewriting %+v left invalid YAML: %v\n%s", s, err, out)
			}
			if i := bytes.Index(out, []byte("9.9.9")); i < 0 || !bytes.Equal(out[:min(i, len(doc))], []byte(doc)[:min(i, len(doc))]) {
				t.Fatalf("rewriting %+v changed bytes before it:\n%s", s, out)
			}
		}
	})
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	if !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
