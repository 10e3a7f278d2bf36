package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/Masterminds/semver/v3"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/provenance"
)

// ErrLockOutOfSync is wrapped when a Chart.lock was written for other
// dependencies than Chart.yaml declares.
var ErrLockOutOfSync = errors.New("lock file out of sync")

// dependencies does what helm dependency build (and Flux's
// source-controller for a chart directory) does before a render: every
// dependency the chart declares that is not in its charts/ is fetched
// from its repository, at the version its lock file names or else the
// highest its range allows, and added to the chart. Conditions and tags
// are the render's business, so every declared dependency is fetched.
// The dependencies count against the chart's unpacked size (budget),
// and they get no credentials: a one-shot run has no repository config
// to take them from.
func (f *Fetcher) dependencies(ctx context.Context, fsys fs.FS, dir string, ch *chartv2.Chart, budget int64) error {
	reqs := ch.Metadata.Dependencies
	if len(reqs) == 0 {
		return nil
	}
	file, lockFile := "Chart.yaml", "Chart.lock"
	if ch.Metadata.APIVersion == chartv2.APIVersionV1 {
		file, lockFile = "requirements.yaml", "requirements.lock"
	}
	var lock []*chartv2.Dependency
	checked := false
	for i, d := range reqs {
		if d == nil || vendored(ch, d.Name) {
			continue
		}
		// The lock matters only to what is fetched: a chart with all
		// its sub-charts vendored renders whatever its lock says.
		if !checked && ch.Lock != nil {
			if err := lockInSync(ch, reqs); err != nil {
				return fmt.Errorf("%s: %w: it was written for other dependencies than %s declares: run helm dependency update and commit %s", lockFile, ErrLockOutOfSync, file, lockFile)
			}
			lock = ch.Lock.Dependencies
		}
		checked = true
		where := fmt.Sprintf("%s dependency %s", file, d.Name)
		version := d.Version
		if l := locked(lock, i, d); l != nil {
			version = l.Version
			where += " " + l.Version + " (" + lockFile + ")"
		}
		if budget <= 0 {
			return fmt.Errorf("%s: the chart and its dependencies are larger than %s: raise the limit if the repository is trusted", where, size(f.opts.MaxChartBytes))
		}
		sub, err := f.dependency(ctx, fsys, dir, d, version, budget)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		budget -= rawSize(sub)
		if budget < 0 {
			return fmt.Errorf("%s: the chart and its dependencies are larger than %s: raise the limit if the repository is trusted", where, size(f.opts.MaxChartBytes))
		}
		ch.AddDependency(sub)
	}
	return nil
}

// dependency fetches one dependency; limit caps its unpacked size.
func (f *Fetcher) dependency(ctx context.Context, fsys fs.FS, dir string, d *chartv2.Dependency, version string, limit int64) (*chartv2.Chart, error) {
	repo := d.Repository
	switch {
	case repo == "":
		return nil, errors.New("no repository, and it is not in charts/: vendor it under charts/ or set its repository to its URL")
	case strings.HasPrefix(repo, "@") || strings.HasPrefix(repo, "alias:"):
		return nil, fmt.Errorf("repository %q names a repository added with helm repo add, and a one-shot run has no repository config: write the repository's URL (https://… or oci://…) instead", repo)
	case strings.HasPrefix(repo, "file://"):
		return f.localDependency(fsys, dir, d, version, limit)
	}
	u, err := url.Parse(repo)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "oci") {
		return nil, fmt.Errorf("repository %q is not https://, oci:// or file://: vendor the dependency under charts/ or point at a chart repository", redact(repo))
	}
	if u.User != nil {
		return nil, fmt.Errorf("repository %s has credentials in its URL: dependencies are fetched without credentials; vendor private dependencies under charts/", redact(repo))
	}
	sub := &Fetcher{opts: f.opts}
	sub.opts.MaxChartBytes = limit
	c, err := sub.FromRepository(ctx, Repository{URL: repo}, d.Name, version)
	if err != nil {
		return nil, err
	}
	return c.Chart, nil
}

// localDependency loads a file:// dependency, a directory relative to
// the chart that must stay inside the checkout. As with helm dependency
// build, its own dependencies are what its charts/ holds.
func (f *Fetcher) localDependency(fsys fs.FS, dir string, d *chartv2.Dependency, version string, limit int64) (*chartv2.Chart, error) {
	rel := strings.TrimPrefix(d.Repository, "file://")
	if rel == "" || path.IsAbs(rel) {
		return nil, fmt.Errorf("repository %q: a file:// dependency is a path relative to the chart, inside the repository", d.Repository)
	}
	p := path.Clean(path.Join(dir, rel))
	if p == ".." || strings.HasPrefix(p, "../") {
		return nil, fmt.Errorf("repository %q leaves the repository: vendor the dependency under charts/ or keep it in the same repository", d.Repository)
	}
	ch, _, err := f.readDirectory(fsys, p, limit)
	if err != nil {
		return nil, fmt.Errorf("repository %q (%s, read inside the repository only): %w", d.Repository, p, err)
	}
	if ch.Metadata.Name != d.Name {
		return nil, fmt.Errorf("repository %q holds chart %q: name the dependency after the chart (an alias renames it)", d.Repository, ch.Metadata.Name)
	}
	if version != "" {
		c, err := semver.NewConstraint(version)
		if err != nil {
			return nil, fmt.Errorf("version %q is not a semver range: %w", version, err)
		}
		v, err := semver.NewVersion(ch.Metadata.Version)
		if err != nil || !c.Check(v) {
			return nil, fmt.Errorf("repository %q holds version %s, which %q does not allow: change the version or the chart", d.Repository, ch.Metadata.Version, version)
		}
	}
	return ch, nil
}

// vendored is the SDK's match of a declared dependency with a sub-chart
// of charts/: by the chart's name (an alias only renames it).
func vendored(ch *chartv2.Chart, name string) bool {
	for _, sub := range ch.Dependencies() {
		if sub.Name() == name {
			return true
		}
	}
	return false
}

// locked is the lock entry of the i-th dependency: helm writes them in
// the same order, so the index is tried first.
func locked(lock []*chartv2.Dependency, i int, d *chartv2.Dependency) *chartv2.Dependency {
	if i < len(lock) && lock[i] != nil && lock[i].Name == d.Name && lock[i].Repository == d.Repository {
		return lock[i]
	}
	for _, l := range lock {
		if l != nil && l.Name == d.Name && l.Repository == d.Repository {
			return l
		}
	}
	return nil
}

// lockInSync is helm dependency build's check: the lock's digest is
// the sha256 of the JSON of the declared and the locked dependencies
// (or, for a Helm 2 requirements.lock, of the declared ones alone).
func lockInSync(ch *chartv2.Chart, reqs []*chartv2.Dependency) error {
	sum, err := digestJSON([2][]*chartv2.Dependency{reqs, ch.Lock.Dependencies})
	if err != nil {
		return err
	}
	if sum == ch.Lock.Digest {
		return nil
	}
	if ch.Metadata.APIVersion == chartv2.APIVersionV1 {
		if v2, err := digestJSON(map[string][]*chartv2.Dependency{"dependencies": reqs}); err == nil && v2 == ch.Lock.Digest {
			return nil
		}
	}
	return errors.New("digest differs")
}

func digestJSON(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	s, err := provenance.Digest(bytes.NewReader(data))
	return "sha256:" + s, err
}

// rawSize is a loaded chart's unpacked size, sub-charts included (the
// loader keeps every file in Raw).
func rawSize(ch *chartv2.Chart) int64 {
	var n int64
	for _, f := range ch.Raw {
		n += int64(len(f.Data))
	}
	return n
}
