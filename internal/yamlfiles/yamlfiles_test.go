package yamlfiles_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// Kustomize's names are read like any YAML file; what cannot be read as
// a file is passed over and reported, never a reason to stop; a path out
// of the root is an error naming it.
func TestWalkNamesLinksAndEscapes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	for _, f := range []string{"k/Kustomization", "k/kustomization.yml", "k/README", "real/a.yaml", "../outside/o.yaml"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"k/dangling.yaml": "missing.yaml",
		"k/dir.yaml":      "../real",
		"k/out.yaml":      "../../outside/o.yaml",
		"out":             "../outside",
	} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "k", "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got, skipped []string
	err := yamlfiles.Walk(root, []string{"k", "../outside", "out"}, func(rel string, data []byte) {
		got = append(got, rel+"="+string(data))
	}, yamlfiles.OnSkip(func(rel, reason string) { skipped = append(skipped, rel+": "+reason) }))
	// A link to a file is read (writers refuse to write through it).
	if want := []string{"k/Kustomization=k/Kustomization", "k/kustomization.yml=k/kustomization.yml", "k/out.yaml=../outside/o.yaml"}; !slices.Equal(got, want) {
		t.Errorf("visited %v, want %v", got, want)
	}
	if want := []string{"k/dangling.yaml: a dangling symbolic link", "k/dir.yaml: a symbolic link to a directory, which is not followed", "k/pipe.yaml: not a regular file (p---------)"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
	for _, want := range []string{"--path ../outside: ../outside is outside the repository", "--path out: out: it is a symbolic link that points to " + filepath.Join(base, "outside")} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}
