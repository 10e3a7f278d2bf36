package atomicfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.yaml")

	// A new file gets the given mode.
	if err := atomicfile.Write(p, []byte("one\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("new file: %v %v", fi.Mode(), err)
	}
	// An existing file keeps its mode, whatever mode is given.
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(p, []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two\n" {
		t.Errorf("content = %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after replace = %v, want 0600", fi.Mode())
	}

	// A symbolic link stays a link; its target gets the content.
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("a.yaml", link); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(link, []byte("three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "three\n" {
		t.Errorf("target content = %q", b)
	}

	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	// A directory or a missing directory is an error naming the path.
	if err := atomicfile.Write(dir, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("write to a directory: %v", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "missing", "a.yaml"), []byte("x"), 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
