package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yaml3 "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/internal/jsonvalue"
)

// plainDir reads every manifest below dir, in lexical path order, and
// returns the objects with where each came from. A sub-directory that
// holds a kustomization is one unit, as in the kustomization Flux
// generates for a directory without one: built with kustomize, its
// objects in the place of the directory, and not descended into.
func (r *renderer) plainDir(dir, rel string) ([]rendered, error) {
	var files []plainFile
	if err := r.walkPlain(dir, dir, map[string]bool{dir: true}, false, &files); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var out []rendered
	for _, f := range files {
		if f.unit {
			objs, err := r.kustomize(f.real, r.rel(f.path))
			if err != nil {
				return nil, err
			}
			for i := range objs {
				objs[i].origin.Path = rel
			}
			out = append(out, objs...)
			continue
		}
		name := r.rel(f.path)
		data, err := readFile(f.real, name, r.lim)
		if err != nil {
			return nil, err
		}
		if isEncrypted(data) {
			// sops parses the file before decrypting it.
			if err := checkYAML(name, data, r.lim, false); err != nil {
				return nil, err
			}
			if data, err = r.dec.decrypt(r.ctx, name, data); err != nil {
				return nil, err
			}
		}
		docs, err := decode(name, data, r.lim)
		if err != nil {
			return nil, err
		}
		_, decrypted := r.dec.paths[name]
		for _, o := range docs {
			out = append(out, rendered{obj: o, origin: Origin{Path: rel, File: name, Decrypted: decrypted}})
		}
	}
	return out, nil
}

// plainFile is a manifest of a plain directory: path as walked (through
// links, so that order and errors follow the tree the user sees), real
// the file it is. unit marks a sub-directory holding a kustomization.
type plainFile struct {
	path, real string
	unit       bool
}

// walkPlain collects the manifests below real, a directory reached as
// walked, in walk order (names sorted in each directory, as
// filepath.Walk). Links are followed, to files and to directories, as
// long as they stay inside the repository; open holds the real
// directories being walked, so a link back to one of them is a loop,
// not an endless walk. Files the ignore rules match are left out. A
// sub-directory with a kustomization (one not ignored) is collected as
// a unit and not descended into.
//
// flux walks as Flux's generator does: .yaml and .yml files only, and
// hidden directories too (the ignore rules leave out .git, .github and
// the like); otherwise .json files are manifests as well and hidden
// directories are skipped (PlainManifest, PlainSkipsDir).
func (r *renderer) walkPlain(walked, real string, open map[string]bool, flux bool, out *[]plainFile) error {
	entries, err := os.ReadDir(real)
	if err != nil {
		return fmt.Errorf("read %s: %w", r.rel(walked), err)
	}
	for _, e := range entries {
		path, target := filepath.Join(walked, e.Name()), filepath.Join(real, e.Name())
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			dest, err := filepath.EvalSymlinks(target)
			if err != nil {
				if isManifestName(e.Name()) && !r.ignored(path) {
					return fmt.Errorf("%s is a link that leads nowhere (%w); fix or remove it", r.rel(path), err)
				}
				continue // not a manifest either way
			}
			fi, err := os.Stat(dest)
			if err != nil {
				return fmt.Errorf("%s: %w", r.rel(path), err)
			}
			isDir = fi.IsDir()
			if !within(r.root, dest) {
				if (isDir || isManifestName(e.Name())) && !r.ignored(path) {
					return fmt.Errorf("%s is a link to outside the repository root; tidegate reads only files of the repository (copy what it needs into the repository)", r.rel(path))
				}
				continue
			}
			target = dest
		}
		switch {
		case isDir && e.Name() == ".git":
			continue
		case isDir && !flux && PlainSkipsDir(e.Name()):
			continue // .github and friends
		case isDir:
			if open[target] {
				if e.Type()&fs.ModeSymlink != 0 {
					return fmt.Errorf("%s is a link to %s, which contains it: the directory would never end (remove the link)", r.rel(path), r.rel(target))
				}
				return fmt.Errorf("%s is %s again, reached through a link: the directory would never end (remove the link)", r.rel(path), r.rel(target))
			}
			if kfile, ok := KustomizationFile(target); ok && !r.ignored(filepath.Join(path, filepath.Base(kfile))) {
				*out = append(*out, plainFile{path: path, real: target, unit: true})
				continue
			}
			open[target] = true
			err := r.walkPlain(path, target, open, flux, out)
			delete(open, target)
			if err != nil {
				return err
			}
		case r.ignored(path):
			continue
		case flux && fluxManifest(e.Name()), !flux && PlainManifest(e.Name()):
			*out = append(*out, plainFile{path: path, real: target})
		}
	}
	return nil
}

// fluxManifest is Flux's generator's rule: the extension, as written.
func fluxManifest(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Decode splits a YAML or JSON stream into objects. Empty documents are
// skipped; a list kind (v1 List) is flattened. Errors name the file and
// the line in it. The stream is held to the default bounds (size, alias
// expansion) and may not give a key twice in one mapping.
func Decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	return decode(name, data, Options{}.limits())
}

func decode(name string, data []byte, lim limits) ([]*unstructured.Unstructured, error) {
	if objs, ok := jsonManifests(data, lim); ok {
		return objs, nil
	}
	objs, _, _, err := decodeDocuments(name, data, lim)
	return objs, err
}

// jsonManifests reads a file of JSON objects (generated manifests:
// jsonnet, CUE, kubectl -o json) without the YAML parser, as kubectl
// reads the same text as YAML 1.1; false for anything else: a document
// that is not a JSON object, holds what YAML reads differently from
// JSON (package jsonvalue's YAML11 rules: floats, a repeated key,
// some escapes and characters), is a List or lacks apiVersion or kind.
// The YAML path then reads the file, and says what is wrong with it.
// JSON has no aliases or tags: the YAML bounds have nothing to count.
func jsonManifests(data []byte, lim limits) ([]*unstructured.Unstructured, bool) {
	if int64(len(data)) > lim.fileBytes || !startsJSON(data) {
		return nil, false
	}
	var out []*unstructured.Unstructured
	for _, d := range splitDocuments(data) {
		if isBlank(d.text) {
			continue
		}
		v, err := jsonvalue.Parse(d.text, jsonvalue.Options{YAML11: true})
		if err != nil {
			return nil, false
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() || u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, false
		}
		out = append(out, u)
	}
	return out, true
}

// startsJSON tells whether the first line of data that is not blank, a
// comment or a document separator opens a JSON object: a YAML file is
// told apart without reading it twice.
func startsJSON(data []byte) bool {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || string(t) == "---" {
			continue
		}
		return t[0] == '{'
	}
	return false
}

// decodeDocuments is decode that also returns the documents and their
// parsed roots (see documents), for a reader that needs them again.
func decodeDocuments(name string, data []byte, lim limits) ([]*unstructured.Unstructured, []document, []*yaml3.Node, error) {
	docs, roots, err := documents(name, data, lim)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []*unstructured.Unstructured
	for i, d := range docs {
		if isBlank(d.text) {
			continue
		}
		m, fast := fastObject(d, roots[i])
		if !fast {
			j, err := yaml.YAMLToJSON(d.text)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s:%d: invalid YAML: %s (fix the file; nothing was applied)", name, d.line+lineOf(err)-1, strings.TrimPrefix(trimLine(err.Error()), "yaml: "))
			}
			if m, err = jsonObject(j); err != nil {
				return nil, nil, nil, fmt.Errorf("%s:%d: the document is not a mapping: %w", name, d.line, err)
			}
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s:%d: %w", name, d.line, err)
			}
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, nil, nil, fmt.Errorf("%s:%d: the document has no apiVersion or kind; every document in a plain directory must be a Kubernetes object (move other YAML out of the --path)", name, d.line)
		}
		out = append(out, u)
	}
	return out, docs, roots, nil
}

// documents bounds and parses data (checkYAML, strict) and cuts it into
// documents; roots[i] is the parsed root of docs[i] where the two agree
// (see pairDocuments).
func documents(name string, data []byte, lim limits) (docs []document, roots []*yaml3.Node, err error) {
	// splitDocuments ends every line with a newline; the parse must see
	// the same text, or a block scalar on the last line of a file without
	// one reads differently (clipped: "x" here, "x\n" there).
	text := data
	if len(text) > 0 && text[len(text)-1] != '\n' {
		text = append(data[:len(data):len(data)], '\n')
	}
	parsed, err := parseYAML(name, text, lim, true, true)
	if err != nil {
		return nil, nil, err
	}
	docs = splitDocuments(data)
	return docs, pairDocuments(docs, parsed), nil
}

type document struct {
	text []byte
	line int // 1-based line of the document's first line in the file
}

// splitDocuments splits at "---" separator lines, remembering where each
// document starts so that errors can point at the right line.
func splitDocuments(data []byte) []document {
	var docs []document
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	var cur bytes.Buffer
	start, n := 1, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.SplitN(line, "#", 2)[0]) == "---" {
			docs = append(docs, document{text: append([]byte(nil), cur.Bytes()...), line: start})
			cur.Reset()
			start = n + 1
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, document{text: cur.Bytes(), line: start})
	return docs
}

func isBlank(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// lineOf reads the document-relative line from a YAML parser error, 1
// when it names none.
func lineOf(err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 1
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 {
		return 1
	}
	return n
}

// trimLine drops the parser's own "line N:" now that the line is in front.
func trimLine(s string) string {
	return yamlLine.ReplaceAllStringFunc(s, func(string) string { return "" })
}

// jsonObject decodes a JSON object with the number types Kubernetes'
// unstructured objects use: int64 for integers, float64 otherwise.
func jsonObject(j []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	m, ok := normalizeNumbers(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("got %T", v)
	}
	return m, nil
}

func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}
