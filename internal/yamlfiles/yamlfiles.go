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
)

// Walk calls fn with every *.yaml and *.yml file below paths (relative to
// root; "." when empty), once each even when paths overlap, skipping .git.
// rel is slash-separated and relative to root. A path that cannot be read
// is reported in the joined error; the other paths are still walked.
func Walk(root string, paths []string, fn func(rel string, data []byte)) error {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	seen := map[string]bool{}
	var errs []error
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(p)), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == ".git" {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := strings.ToLower(filepath.Ext(path)); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if seen[rel] {
				return nil
			}
			seen[rel] = true
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
