package images

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencies keeps the images stage independent: stage packages do
// not import each other (reconcile and cli put them in order), and
// nothing here imports kong or client-go.
func TestDependencies(t *testing.T) {
	forbidden := []string{
		"github.com/tidegate/tidegate/source", "github.com/tidegate/tidegate/render",
		"github.com/tidegate/tidegate/apply", "github.com/tidegate/tidegate/prune",
		"github.com/tidegate/tidegate/forge", "github.com/tidegate/tidegate/reconcile",
		"github.com/tidegate/tidegate/cli", "github.com/alecthomas/kong",
		"github.com/sethvargo/go-githubactions", "k8s.io/client-go",
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			for _, bad := range forbidden {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					t.Errorf("%s imports %s", path, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
