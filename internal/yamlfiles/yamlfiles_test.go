package yamlfiles_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/internal/yamlfiles"
)

func TestWalk(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"a/x.yaml", "a/b/y.YML", "a/notes.txt", "a/.git/config.yaml", "c/z.yml"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	// Overlapping paths visit a file once; a missing path is an error
	// that does not stop the others.
	err := yamlfiles.Walk(root, []string{"a", "a/b", "missing", "c"}, func(rel string, data []byte) {
		if string(data) != rel {
			t.Errorf("%s holds %q", rel, data)
		}
		got = append(got, rel)
	})
	if want := []string{"a/b/y.YML", "a/x.yaml", "c/z.yml"}; !slices.Equal(got, want) {
		t.Errorf("visited %v, want %v", got, want)
	}
	if err == nil || !strings.Contains(err.Error(), "read missing") {
		t.Errorf("err = %v, want one naming the missing path", err)
	}
	got = nil
	if err := yamlfiles.Walk(filepath.Join(root, "c"), nil, func(rel string, _ []byte) { got = append(got, rel) }); err != nil || !slices.Equal(got, []string{"z.yml"}) {
		t.Errorf("default path: %v, %v", got, err)
	}
}
