package atomicfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// TestHostileWriteIn: every way out of the root is refused with an error
// naming the file, the link and where it points, and nothing is written,
// neither outside nor inside.
func TestHostileWriteIn(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "apps"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "victim.yaml")
	if err := os.WriteFile(secret, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"apps/abs.yaml":      secret,
		"apps/rel.yaml":      "../../outside/victim.yaml",
		"apps/chain.yaml":    "abs.yaml",
		"apps/dangling.yaml": filepath.Join(outside, "new.yaml"),
		"shared":             outside,
		"apps/loop.yaml":     "loop.yaml",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(l))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ rel, link, want string }{
		{"apps/abs.yaml", "apps/abs.yaml", "points to " + secret},
		{"apps/rel.yaml", "apps/rel.yaml", "points to " + secret},
		{"apps/chain.yaml", "apps/abs.yaml", "the symbolic link apps/abs.yaml points to " + secret},
		{"apps/dangling.yaml", "apps/dangling.yaml", "new.yaml"},
		{"shared/victim.yaml", "shared", "the symbolic link shared points to " + secret},
		{"shared/sub/new.yaml", "shared", "the symbolic link shared"},
		{"../outside/victim.yaml", "", "is outside the repository"},
		{"apps/../../outside/victim.yaml", "", "is outside the repository"},
		{secret, "", "is outside the repository"},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			before := tree(t, base)
			err := atomicfile.WriteIn(root, tc.rel, []byte("pwned\n"), 0o644)
			var esc *atomicfile.EscapeError
			if !errors.As(err, &esc) || !errors.Is(err, atomicfile.ErrOutside) {
				t.Fatalf("WriteIn(%s) = %v, want an *EscapeError", tc.rel, err)
			}
			if esc.Link != tc.link || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), filepath.ToSlash(tc.rel)) {
				t.Errorf("error = %q (link %q), want link %q and %q", err, esc.Link, tc.link, tc.want)
			}
			if after := tree(t, base); after != before {
				t.Errorf("the refused write changed the file system:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if err := atomicfile.WriteIn(root, "apps/loop.yaml", []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("link loop: %v", err)
	}
}

// A link that stays inside the root has its target replaced; new files
// get their directories.
func TestWriteInFollowsLinksInside(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"base", "apps"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "base", "app.yaml"), []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../base/app.yaml", filepath.Join(root, "apps", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if got, err := atomicfile.Resolve(root, "apps/link.yaml"); err != nil || got != "base/app.yaml" {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	if err := atomicfile.WriteIn(root, "apps/link.yaml", []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "base", "app.yaml")); string(b) != "two\n" {
		t.Errorf("target = %q", b)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "apps", "link.yaml")); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
	if fi, _ := os.Stat(filepath.Join(root, "base", "app.yaml")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 kept", fi.Mode())
	}
	if err := atomicfile.WriteIn(root, "new/dir/x.yaml", []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "new", "dir", "x.yaml")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("new file: %v %v", fi, err)
	}
	if err := atomicfile.WriteIn(root, "base", []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "base"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// tree lists every path below dir with its link target or content.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + fi.Mode().String())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			b.WriteString(" -> " + l)
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			b.WriteString(" " + string(c))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
