package render

import (
	"os"
	"path/filepath"
	"strings"
)

// The file rules below are render's, exported for the commands that read
// the repository's files as written (workloads list joins their comments
// and annotations to the render): one definition, so that what they read
// is what render reads.

// KustomizationFile returns the kustomization file of dir, and false when
// dir is not a kustomization (render then reads it as a plain directory).
func KustomizationFile(dir string) (string, bool) {
	for _, name := range kustomizationFiles {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// PlainManifest reports whether a plain directory contributes the file
// named name: YAML and JSON files, except SOPS' creation rules
// (.sops.yaml).
func PlainManifest(name string) bool {
	return isManifestName(name) && name != ".sops.yaml"
}

// PlainSkipsDir reports whether a plain directory's walk leaves out the
// subdirectory named name: hidden ones, such as .git and .github.
func PlainSkipsDir(name string) bool {
	return strings.HasPrefix(name, ".")
}
