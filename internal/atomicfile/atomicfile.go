// Package atomicfile replaces files so that a reader sees the old
// content or the new, never half of it: a manifest that tidegate edits,
// or a metrics file that node_exporter may read at any moment.
//
// Files of a repository are written with WriteIn, never Write: the
// repository is someone else's input (a pull request may add a symbolic
// link to ~/.ssh/config or /etc/passwd), so every write is confined to
// its root, links resolved, and Resolve lets a caller check every target
// before it writes the first.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data through a temporary file in the same
// directory and a rename. An existing file keeps its mode and, when path
// is a symbolic link, the link stays and its target is replaced; a new
// file gets mode. The data and the rename are synced to disk.
func Write(path string, data []byte, mode fs.FileMode) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	switch fi, err := os.Stat(path); {
	case err == nil && fi.IsDir():
		return &fs.PathError{Op: "write", Path: path, Err: errors.New("is a directory")}
	case err == nil:
		mode = fi.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// A dot and no original extension: file collectors (*.prom) and
	// renderers (*.yaml) skip the temporary file.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	return replace(osDir{}, f, f.Name(), path, dir, data, mode)
}

// dirOps are the directory operations replace needs: the os package's
// for Write, an *os.Root's for WriteIn, which keeps every step inside
// the repository.
type dirOps interface {
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Open(name string) (*os.File, error)
}

type osDir struct{}

func (osDir) Rename(o, n string) error           { return os.Rename(o, n) }
func (osDir) Remove(name string) error           { return os.Remove(name) }
func (osDir) Open(name string) (*os.File, error) { return os.Open(name) }

// replace fills the new temporary file f (named tmp), gives it mode,
// syncs it and renames it over name in dir; on any failure the temporary
// file is removed and name is untouched.
func replace(d dirOps, f *os.File, tmp, name, dir string, data []byte, mode fs.FileMode) error {
	defer func() {
		if tmp != "" {
			// The write already failed; that error is the one to return.
			_ = f.Close()
			_ = d.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := d.Rename(tmp, name); err != nil {
		return err
	}
	tmp = ""
	// Make the rename itself durable; if this fails the new file is in
	// place and may only revert after a crash, not worth an error.
	if dd, err := d.Open(dir); err == nil {
		_ = dd.Sync()
		_ = dd.Close()
	}
	return nil
}
