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
	"sigs.k8s.io/yaml"
)

// plainDir reads every manifest below dir, in lexical path order, and
// returns the objects with the repository-relative file of each.
func (r *renderer) plainDir(dir string) ([]*unstructured.Unstructured, []string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .git, .github and friends
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", dir, err)
	}
	sort.Strings(paths)
	var objs []*unstructured.Unstructured
	var files []string
	for _, p := range paths {
		rel, _ := filepath.Rel(r.root, p)
		rel = filepath.ToSlash(rel)
		if d := filepath.Base(p); d == ".sops.yaml" {
			continue // SOPS' creation rules, not a manifest
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rel, err)
		}
		if !within(r.root, real) {
			return nil, nil, fmt.Errorf("%s is a link to outside the repository root; tidegate reads only files of the repository", rel)
		}
		data, err := os.ReadFile(real)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rel, err)
		}
		if isEncrypted(data) {
			if data, err = r.dec.decrypt(r.ctx, rel, data); err != nil {
				return nil, nil, err
			}
		}
		docs, err := Decode(rel, data)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range docs {
			objs = append(objs, o)
			files = append(files, rel)
		}
	}
	return objs, files, nil
}

// Decode splits a YAML or JSON stream into objects. Empty documents are
// skipped; a list kind (v1 List) is flattened. Errors name the file and
// the line in it.
func Decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, d := range splitDocuments(data) {
		if isBlank(d.text) {
			continue
		}
		j, err := yaml.YAMLToJSON(d.text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: invalid YAML: %s (fix the file; nothing was applied)", name, d.line+lineOf(err)-1, strings.TrimPrefix(trimLine(err.Error()), "yaml: "))
		}
		m, err := jsonObject(j)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: the document is not a mapping: %w", name, d.line, err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, d.line, err)
			}
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s:%d: the document has no apiVersion or kind; every document in a plain directory must be a Kubernetes object (move other YAML out of the --path)", name, d.line)
		}
		out = append(out, u)
	}
	return out, nil
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
