package images

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/tidegate/tidegate/internal/atomicfile"
	"github.com/tidegate/tidegate/internal/yamledit"
)

// FileEdit is the before and after content of one rewritten file.
type FileEdit struct {
	File          string
	Before, After []byte
}

// Rewrite computes the new content of every file the plan changes. It
// reads nothing from disk: the content is the one Load parsed.
func (p *Plan) Rewrite() ([]FileEdit, error) {
	byFile := map[string][]yamledit.Edit{}
	for _, c := range p.Changes {
		site, ok := p.site(c)
		if !ok {
			return nil, fmt.Errorf("%s:%d: change has no site", c.File, c.Line)
		}
		byFile[c.File] = append(byFile[c.File], yamledit.Edit{Line: site.Line, Column: site.Column, Style: site.Style, Old: c.Old, New: c.New})
	}
	var files []string
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	var out []FileEdit
	var errs []error
	for _, f := range files {
		before := p.sources.Files[f]
		after, err := yamledit.Apply(before, byFile[f])
		if err != nil {
			errs = append(errs, &FileError{File: f, Err: err})
			continue
		}
		out = append(out, FileEdit{File: f, Before: before, After: after})
	}
	return out, errors.Join(errs...)
}

func (p *Plan) site(c Change) (Site, bool) {
	for _, s := range p.sources.Sites {
		if s.File == c.File && s.Line == c.Line && s.Value == c.Old && s.Object == c.Object {
			return s, true
		}
	}
	return Site{}, false
}

// Result is what Update computed.
type Result struct {
	*Plan
	// Files are the files to rewrite; the caller writes them (the
	// delivery: in place, as a diff, or on a proposal's branch).
	Files []FileEdit
}

// Diff returns a unified diff of every rewritten file, paths prefixed
// a/ and b/ like git.
func (r *Result) Diff() string {
	var b strings.Builder
	for _, f := range r.Files {
		d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(string(f.Before)),
			B:        difflib.SplitLines(string(f.After)),
			FromFile: "a/" + f.File,
			ToFile:   "b/" + f.File,
			Context:  3,
		})
		b.WriteString(d)
	}
	return b.String()
}

// Update loads dir, resolves the policies and computes the rewrite of
// the files that change; it writes nothing. Registry failures leave the
// affected entries untouched and are returned joined with the Result;
// everything that could be resolved is still in it. Every target is
// checked, so that a file that leads out of the repository leaves no
// file to write rather than half of them.
func Update(ctx context.Context, dir string, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	src, loadErr := Load(dir, opts.Paths...)
	plan, resolveErr := Resolve(ctx, src, opts)
	res := &Result{Plan: plan}
	files, err := plan.Rewrite()
	if err != nil {
		return res, errors.Join(loadErr, resolveErr, err)
	}
	if err := CheckTargets(dir, files); err != nil {
		return res, errors.Join(loadErr, resolveErr, err)
	}
	res.Files = files
	return res, errors.Join(loadErr, resolveErr)
}

// CheckTargets refuses edits whose file resolves outside dir (a
// symbolic link leading out of the repository): all of them are named,
// and the caller writes none.
func CheckTargets(dir string, files []FileEdit) error {
	var errs []error
	for _, f := range files {
		if _, err := atomicfile.Resolve(dir, f.File); err != nil {
			errs = append(errs, fmt.Errorf("%w (nothing was written)", err))
		}
	}
	return errors.Join(errs...)
}

// List loads dir and resolves the policies without rewriting anything.
func List(ctx context.Context, dir string, opts Options) (*Plan, error) {
	opts = opts.withDefaults()
	src, loadErr := Load(dir, opts.Paths...)
	plan, err := Resolve(ctx, src, opts)
	return plan, errors.Join(loadErr, err)
}
