// Package yamlfiles visits the YAML files below a repository's paths, the
// set that image automation and workload edits read (render has its own
// rules, those of kustomize and plain directories).
package yamlfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// Option configures Walk.
type Option func(*options)

type options struct {
	skip func(rel, reason string)
}

// OnSkip is told about every entry Walk passes over that a reader might
// have expected it to read: a dangling symbolic link, a link to a
// directory, a device or a pipe. Default: nobody.
func OnSkip(fn func(rel, reason string)) Option {
	return func(o *options) { o.skip = fn }
}

// IsYAML reports whether a file name is one Walk reads: *.yaml, *.yml,
// and kustomize's extension-less Kustomization.
func IsYAML(name string) bool {
	base := filepath.Base(name)
	if base == "Kustomization" {
		return true
	}
	ext := strings.ToLower(filepath.Ext(base))
	return ext == ".yaml" || ext == ".yml"
}

// Walk calls fn with every YAML file (see IsYAML) below paths (relative
// to root; "." when empty), once each even when paths overlap, skipping
// .git. rel is slash-separated and relative to root with its links
// resolved. A path that leads out of root (../x, or through a symbolic
// link) or cannot be read is reported in the joined error; the other
// paths are still walked. Symbolic links to files are followed; dangling
// ones, links to directories and anything but a regular file are passed
// over and reported to OnSkip, so that one broken link does not stop a
// run half-way (and a FIFO cannot hang it).
func Walk(root string, paths []string, fn func(rel string, data []byte), opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	skip := func(rel, reason string) {
		if o.skip != nil {
			o.skip(rel, reason)
		}
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("read the repository %s: %w", root, err)
	}
	seen := map[string]bool{}
	var errs []error
	for _, p := range paths {
		start, err := atomicfile.Resolve(realRoot, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("--path %s: %w", p, err))
			continue
		}
		err = filepath.WalkDir(filepath.Join(realRoot, filepath.FromSlash(start)), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == ".git" {
					return filepath.SkipDir
				}
				return nil
			}
			if !IsYAML(path) {
				return nil
			}
			rel, err := filepath.Rel(realRoot, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if seen[rel] {
				return nil
			}
			seen[rel] = true
			fi, err := os.Stat(path)
			switch {
			case err != nil && d.Type()&fs.ModeSymlink != 0:
				skip(rel, "a dangling symbolic link")
				return nil
			case err != nil:
				return err
			case fi.IsDir():
				skip(rel, "a symbolic link to a directory, which is not followed")
				return nil
			case !fi.Mode().IsRegular():
				skip(rel, fmt.Sprintf("not a regular file (%s)", fi.Mode().Type()))
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fn(rel, data)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
