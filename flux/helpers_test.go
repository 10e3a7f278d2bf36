package flux

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// obj reads one object from YAML, failing the test on a bad document.
func obj(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("test YAML: %v\n%s", err, doc)
	}
	return &unstructured.Unstructured{Object: m}
}

// fileObject is an object of a testdata tree and the file it came from.
type fileObject struct {
	file string
	u    *unstructured.Unstructured
}

// readTree reads every YAML document of every file under root, in path
// order, skipping kustomize's own kustomization files.
func readTree(t *testing.T, root string) []fileObject {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && d.Name() != "kustomization.yaml" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []fileObject
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			m := map[string]any{}
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(m) > 0 {
				out = append(out, fileObject{file: filepath.ToSlash(rel), u: &unstructured.Unstructured{Object: m}})
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no objects under %s: the test would prove nothing", root)
	}
	return out
}

// wantErr checks that err is non-nil and holds every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not contain %q:\n%v", p, err)
		}
	}
}
