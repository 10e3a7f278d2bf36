package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutside is matched (errors.Is) by every *EscapeError.
var ErrOutside = errors.New("outside the repository")

// EscapeError refuses a path below a repository root that leads out of
// it, lexically (../x, /etc/x) or through a symbolic link.
type EscapeError struct {
	// File is the path as given, relative to Root.
	File string
	// Link is the symbolic link, relative to Root, that leads out; empty
	// when File itself climbs out.
	Link string
	// Target is where File resolves to, absolute.
	Target string
	Root   string
}

func (e *EscapeError) Error() string {
	if e.Link == "" {
		return fmt.Sprintf("%s is outside the repository %s: tidegate reads and writes only inside the repository; give a path relative to its root, without ..", e.File, e.Root)
	}
	what := "the symbolic link " + e.Link
	if e.Link == e.File {
		what = "it is a symbolic link that"
	}
	return fmt.Sprintf("%s: %s points to %s, outside the repository %s; tidegate writes only inside the repository: replace the link with the file or directory it stands for (or a link that stays inside the repository)", e.File, what, e.Target, e.Root)
}

// Is makes errors.Is(err, ErrOutside) hold.
func (e *EscapeError) Is(target error) bool { return target == ErrOutside }

// maxLinks bounds link chains, as the kernel's ELOOP does.
const maxLinks = 40

// Resolve returns where writing rel (slash- or OS-separated, relative to
// root) would land, relative to the resolved root: every symbolic link
// on the way followed, including a dangling last one, and the parts that
// do not exist yet taken as they are. A path that ends up outside root
// is an *EscapeError naming the link that leads out.
func Resolve(root, rel string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("repository root %s: %w", root, err)
	}
	if realRoot, err = filepath.Abs(realRoot); err != nil {
		return "", err
	}
	given := filepath.ToSlash(rel)
	clean := filepath.Clean(filepath.FromSlash(rel))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", &EscapeError{File: given, Target: filepath.Join(realRoot, clean), Root: realRoot}
	}
	inside := func(p string) (string, bool) {
		r, err := filepath.Rel(realRoot, p)
		return r, err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
	}

	// cur is always a path with every link resolved, so ".." is lexical.
	cur := realRoot
	todo := splitPath(clean)
	links, firstLink := 0, ""
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing (created by the write) or a plain entry.
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", given)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("%s: %w", given, err)
		}
		if linkRel, ok := inside(next); ok && firstLink == "" {
			if _, ok := inside(resolveLexical(cur, target)); !ok {
				firstLink = filepath.ToSlash(linkRel)
			}
		}
		if filepath.IsAbs(target) {
			cur = string(filepath.Separator)
		}
		todo = append(splitPath(target), todo...)
	}
	r, ok := inside(cur)
	if !ok {
		link := firstLink
		if link == "" {
			link = given
		}
		return "", &EscapeError{File: given, Link: link, Target: cur, Root: realRoot}
	}
	return filepath.ToSlash(r), nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

// resolveLexical is where a link in dir pointing to target leads before
// any further link is followed: enough to name the link that leaves.
func resolveLexical(dir, target string) string {
	if filepath.IsAbs(target) {
		return filepath.Clean(target)
	}
	return filepath.Join(dir, target)
}

// WriteIn replaces rel below root as Write does, but only inside root:
// the target is found with Resolve (so a link inside the repository has
// its target replaced, and one leading out is refused with an
// *EscapeError before anything is written), missing directories are
// created (0755), and the file operations go through an os.Root, which
// refuses any escape that appears between the check and the write.
func WriteIn(root, rel string, data []byte, mode fs.FileMode) error {
	target, err := Resolve(root, rel)
	if err != nil {
		return err
	}
	if target == "." {
		return &fs.PathError{Op: "write", Path: rel, Err: errors.New("is the repository root")}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	r, err := os.OpenRoot(realRoot)
	if err != nil {
		return err
	}
	defer r.Close()
	name := filepath.FromSlash(target)
	switch fi, err := r.Stat(name); {
	case err == nil && fi.IsDir():
		return &fs.PathError{Op: "write", Path: rel, Err: errors.New("is a directory")}
	case err == nil && !fi.Mode().IsRegular():
		return &fs.PathError{Op: "write", Path: rel, Err: fmt.Errorf("is not a regular file (%s)", fi.Mode().Type())}
	case err == nil:
		mode = fi.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	if err := r.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	// The temporary file's name follows Write's convention.
	tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return replace(r, f, tmp, name, dir, data, mode)
}
