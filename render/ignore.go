package render

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fluxcd/pkg/sourceignore"
	"github.com/fluxcd/pkg/sourceignore/gitignore"
)

// What a Flux source leaves out. source-controller packs a repository
// into an artifact without the files its ignore rules match, so nothing
// kustomize-controller builds can see them: Flux's default patterns
// (VCS files, CI configs, images and archives, .sops.yaml), then every
// .sourceignore in the repository (each scoped to its own directory, as
// a .gitignore is), then the GitRepository's spec.ignore, later rules
// winning. render applies the same rules to the checkout, so that a file
// Flux would not ship is neither listed in a generated kustomization nor
// readable by kustomize.

// maxIgnoreFiles bounds how many .sourceignore files a repository may
// hold; each is read in full before any manifest. maxIgnorePatterns
// bounds their rules: every file of a render is matched against each
// rule, so a few megabytes of rules would make a render take hours.
// Repositories hold dozens.
const (
	maxIgnoreFiles    = 10_000
	maxIgnorePatterns = 10_000
)

// ignoreRules match repository-relative paths against the rules above.
type ignoreRules struct {
	m gitignore.Matcher
}

// loadIgnores reads every .sourceignore below the root, through the
// render's bounded reads, and adds extra (patterns relative to the
// root).
func (r *renderer) loadIgnores(extra []string) error {
	ps := append(sourceignore.VCSPatterns(nil), sourceignore.DefaultPatterns(nil)...)
	count := 0
	var walk func(dir string, domain []string) error
	walk = func(dir string, domain []string) error {
		file := filepath.Join(dir, sourceignore.IgnoreFile)
		if fi, err := os.Lstat(file); err == nil {
			if count++; count > maxIgnoreFiles {
				return fmt.Errorf("the repository holds more than %d %s files; tidegate refuses to read more (merge them)", maxIgnoreFiles, sourceignore.IgnoreFile)
			}
			rel := r.rel(file)
			real := file
			if fi.Mode()&os.ModeSymlink != 0 {
				dest, err := filepath.EvalSymlinks(file)
				if err != nil {
					return fmt.Errorf("%s is a link that leads nowhere (%w); fix or remove it", rel, err)
				}
				if !within(r.root, dest) {
					return fmt.Errorf("%s is a link to outside the repository root; tidegate reads only files of the repository (copy the rules into the file)", rel)
				}
				real = dest
			}
			data, err := readFile(real, rel, r.lim)
			if err != nil {
				return err
			}
			ps = append(ps, sourceignore.ReadPatterns(bytes.NewReader(data), domain)...)
			if len(ps) > maxIgnorePatterns {
				return fmt.Errorf("%s brings the ignore rules of the repository to more than %d; tidegate refuses more, as every file is matched against every rule (use fewer, broader patterns)", rel, maxIgnorePatterns)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read %s: %w", r.rel(dir), err)
		}
		for _, e := range entries {
			// As source-controller: real directories only, .git aside.
			if e.IsDir() && e.Name() != ".git" {
				if err := walk(filepath.Join(dir, e.Name()), append(domain[:len(domain):len(domain)], e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(r.root, nil); err != nil {
		return err
	}
	ps = append(ps, sourceignore.ReadPatterns(strings.NewReader(strings.Join(extra, "\n")), nil)...)
	r.ignore = &ignoreRules{m: gitignore.NewMatcher(ps)}
	return nil
}

// ignored reports whether the file at abs (a path inside the root, as
// walked) is left out of the source. Directories are not matched on
// their own, as source-controller does not: a rule for a directory
// ignores the files below it.
func (r *renderer) ignored(abs string) bool {
	if r.ignore == nil {
		return false
	}
	rel, err := filepath.Rel(r.root, abs)
	if err != nil || rel == "." || !within(r.root, filepath.Join(r.root, rel)) {
		return false
	}
	return r.ignore.m.Match(strings.Split(filepath.ToSlash(rel), "/"), false)
}

func ignoredError(rel string) error {
	return fmt.Errorf("%s is ignored: Flux's default ignore rules, a .sourceignore or Options.Ignore leave it out of the source, so Flux would not see it either (change the ignore rules or stop referring to the file)", rel)
}
