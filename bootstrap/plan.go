package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// What init does with one file of the repository.
const (
	Create    = "create"
	Overwrite = "overwrite"
	Unchanged = "unchanged"
	Skip      = "skip"
)

// ReasonHasTemplate says an existing .gitlab-ci.yml needs no snippet.
const ReasonHasTemplate = "already includes tidegate's template"

// File is one file init writes, proposes or leaves alone.
type File struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Content is shown by --dry-run only.
	Content string `json:"content,omitempty"`
	// Data is what the file would hold; never printed as such, since
	// Content says when it is shown.
	Data []byte `json:"-"`
}

// Writes reports whether the file is created or overwritten.
func (f File) Writes() bool { return f.Action == Create || f.Action == Overwrite }

// Plan decides, per file, what writing it means for the repository at
// dir: create, unchanged, overwrite (with force) or skip with a reason.
// It only reads; writing stays with the caller.
func Plan(dir string, files map[string][]byte, force bool) ([]File, error) {
	var out []File
	for _, p := range slices.Sorted(maps.Keys(files)) {
		f := File{Path: p, Data: files[p]}
		// Before any key is saved or file read: a file of the repository
		// that resolves outside it is never read, written or proposed.
		if _, err := atomicfile.Resolve(dir, p); err != nil {
			return nil, fmt.Errorf("%w (nothing was written)", err)
		}
		old, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			f.Action = Create
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", p, err)
		case bytes.Equal(old, f.Data):
			f.Action = Unchanged
		case p == GitLabCIFile:
			// The project's whole pipeline: merging is a person's job.
			f.Action, f.Reason = Skip, "holds the project's pipeline: add the snippet below to it (never overwritten, even with --force)"
			if bytes.Contains(old, []byte(GitLabTemplate)) {
				f.Reason = ReasonHasTemplate
			}
		case force:
			f.Action = Overwrite
		default:
			f.Action, f.Reason = Skip, "exists with other content; --force overwrites it"
		}
		out = append(out, f)
	}
	return out, nil
}
