package charts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
)

// index is the part of a repository's index.yaml a fetch reads.
type index struct {
	APIVersion string             `json:"apiVersion"`
	Entries    map[string][]entry `json:"entries"`
}

type entry struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	// Digest is the package's sha256 in hex, as helm repo index
	// writes it.
	Digest string `json:"digest"`
}

// FromRepository fetches chart name at the highest version matching
// versionRange ("" or "*" for the latest stable) from repo: an HTTP(S)
// index, or an OCI registry when repo.URL is oci:// (HelmRepository of
// type oci).
func (f *Fetcher) FromRepository(ctx context.Context, repo Repository, name, versionRange string) (*Chart, error) {
	if strings.HasPrefix(repo.URL, "oci://") {
		c, err := f.fromOCIRepository(ctx, repo, name, versionRange)
		return c, scrub(err, repo)
	}
	c, err := f.fromIndex(ctx, repo, name, versionRange)
	return c, scrub(err, repo)
}

func (f *Fetcher) fromIndex(ctx context.Context, repo Repository, name, versionRange string) (*Chart, error) {
	where := fmt.Sprintf("chart %s from %s", name, redact(repo.URL))
	base, err := url.Parse(repo.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%s: the repository URL must be http(s)://host/path or oci://host/path", where)
	}
	base.User = nil
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	creds, err := repo.basicAuth()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	client, err := f.client(repo, base, creds, max(f.opts.MaxIndexBytes, f.opts.MaxArchiveBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}

	indexURL := base.ResolveReference(&url.URL{Path: "index.yaml"})
	data, err := get(ctx, client, indexURL, creds, base, repo.PassCredentials, f.opts.MaxIndexBytes, "index.yaml")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var idx index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: index.yaml: %w", where, err)
	}
	e, err := pick(idx.Entries[name], versionRange)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	where = fmt.Sprintf("chart %s %s from %s", name, e.Version, redact(repo.URL))
	if len(e.URLs) == 0 {
		return nil, fmt.Errorf("%s: index.yaml lists no URL for this version: the index is broken, ask its owner", where)
	}
	pkg, err := base.Parse(e.URLs[0])
	if err != nil || (pkg.Scheme != "http" && pkg.Scheme != "https") {
		return nil, fmt.Errorf("%s: index.yaml's package URL %q is not http(s)", where, redact(e.URLs[0]))
	}
	var want string
	if e.Digest != "" {
		want = "sha256:" + strings.ToLower(e.Digest)
		if c, ok := f.cached(want); ok {
			return f.load(c, want, redact(pkg.String()), name, e.Version, true)
		}
	}
	archive, err := get(ctx, client, pkg, creds, base, repo.PassCredentials, f.opts.MaxArchiveBytes, "chart archive")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	got := digestOf(archive)
	if want != "" && got != want {
		return nil, fmt.Errorf("%s: %w: index.yaml says %s, the archive at %s is %s: the repository is inconsistent or was tampered with; nothing was rendered", where, ErrDigestMismatch, want, redact(pkg.String()), got)
	}
	c, err := f.load(archive, got, redact(pkg.String()), name, e.Version, false)
	if err != nil {
		return nil, err
	}
	f.store(got, archive)
	return c, nil
}

// ErrDigestMismatch is wrapped when an archive is not what its index or
// manifest says.
var ErrDigestMismatch = errors.New("digest mismatch")

// pick returns the highest version matching the range; "" and "*" mean
// the latest stable, as in Flux. Versions that are not semver are
// skipped, as helm does.
func pick(entries []entry, versionRange string) (entry, error) {
	if len(entries) == 0 {
		return entry{}, errors.New("index.yaml has no such chart: check the chart name and the repository URL")
	}
	if versionRange == "" {
		versionRange = "*"
	}
	c, err := semver.NewConstraint(versionRange)
	if err != nil {
		return entry{}, fmt.Errorf("version %q is not a semver range: %w", versionRange, err)
	}
	var best entry
	var bestV *semver.Version
	for _, e := range entries {
		v, err := semver.NewVersion(e.Version)
		if err != nil || !c.Check(v) {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = e, v
		}
	}
	if bestV == nil {
		return entry{}, fmt.Errorf("no version matches %q among the %d listed: widen the range or check the repository", versionRange, len(entries))
	}
	return best, nil
}

// client is a bounded client that follows redirects without carrying
// the credentials to another host unless they may pass.
func (f *Fetcher) client(repo Repository, base *url.URL, creds credentials, maxBody int64) (*http.Client, error) {
	rt, err := f.transport(repo, maxBody)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		req.Header.Del("Authorization")
		if creds.user != "" && (repo.PassCredentials || sameHost(req.URL, base)) {
			req.SetBasicAuth(creds.user, creds.pass)
		}
		return nil
	}}, nil
}

// get reads u with the repository's credentials when it is on the
// repository's host (or they may pass), up to limit bytes.
func get(ctx context.Context, client *http.Client, u *url.URL, creds credentials, base *url.URL, pass bool, limit int64, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if creds.user != "" && (pass || sameHost(u, base)) {
		req.SetBasicAuth(creds.user, creds.pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s at %s: %s: check the credentials in the repository's secretRef", what, redact(u.String()), resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s at %s: %s", what, redact(u.String()), resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%s at %s is %d bytes, over the %s limit: raise the limit if the repository is trusted", what, redact(u.String()), resp.ContentLength, size(limit))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", what, redact(u.String()), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s at %s is over the %s limit: raise the limit if the repository is trusted", what, redact(u.String()), size(limit))
	}
	return data, nil
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
