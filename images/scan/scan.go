package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// Options configure a Scanner. The zero value is usable: see New for the
// defaults.
type Options struct {
	// Concurrency is how many registry requests run at once, across
	// repositories. Default 8.
	Concurrency int
	// Keychain supplies credentials for targets without their own Auth.
	// Default: anonymous.
	Keychain authn.Keychain
	// Insecure lists registry hosts (host or host:port) spoken to over
	// plain HTTP.
	Insecure []string
	// Transport is the base HTTP transport. Default: one from
	// internal/httpclient with its timeouts and 32 MiB response cap (an
	// endless tags/list fails instead of filling memory), and enough
	// idle connections per host for Concurrency.
	Transport http.RoundTripper
	// Retry configures retries on 429, 408 and 5xx answers and network
	// errors.
	Retry Retry
	// PageSize asks the registry for this many tags per page; 0 lets
	// the registry choose.
	PageSize int
	// Logger receives a debug line per repository listed. Default:
	// discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Keychain == nil {
		o.Keychain = &Keychain{}
	}
	if o.Transport == nil {
		o.Transport = httpclient.NewTransport(httpclient.WithIdleConnsPerHost(o.Concurrency))
	}
	o.Retry = o.Retry.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Scanner queries registries. It is safe for concurrent use.
type Scanner struct {
	opts      Options
	transport http.RoundTripper
}

// New returns a Scanner.
func New(opts Options) *Scanner {
	o := opts.withDefaults()
	return &Scanner{opts: o, transport: &retryTransport{inner: o.Transport, retry: o.Retry}}
}

// Target is one repository to scan.
type Target struct {
	// Repository as written in manifests: "ghcr.io/acme/app",
	// "nginx" (Docker Hub), "registry:5000/team/app".
	Repository string
	// Auth overrides the scanner's keychain, e.g. the credentials of an
	// ImageRepository's secretRef.
	Auth authn.Authenticator
	// Insecure speaks plain HTTP to this repository's registry
	// (ImageRepository spec.insecure).
	Insecure bool
}

// TagList is the answer for one Target.
type TagList struct {
	Target Target
	// Tags are the valid tags (see ValidTag), sorted.
	Tags []string
	// Invalid counts the tags the registry listed that are not valid
	// tags; they are dropped.
	Invalid int
	Err     error
}

// Tags lists the tags of every target, Concurrency at a time. The result
// has one entry per target, in the same order.
func (s *Scanner) Tags(ctx context.Context, targets []Target) []TagList {
	out := make([]TagList, len(targets))
	s.each(len(targets), func(i int) {
		out[i] = TagList{Target: targets[i]}
		start := time.Now()
		tags, err := s.list(ctx, targets[i])
		var examples []string
		out[i].Tags, out[i].Invalid, examples = validTags(tags)
		out[i].Err = err
		s.opts.Logger.Debug("listed tags", "repository", targets[i].Repository, "tags", len(out[i].Tags), "duration", time.Since(start), "error", out[i].Err)
		if out[i].Invalid > 0 {
			s.opts.Logger.Debug("skipped tags that are not valid OCI tags ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", "repository", targets[i].Repository, "invalid", out[i].Invalid, "examples", strings.Join(examples, ", "))
		}
	})
	return out
}

// Ref is a tag of a target.
type Ref struct {
	Target Target
	Tag    string
}

// Info is what a registry says about one tag.
type Info struct {
	Ref     Ref
	Digest  string    // sha256:…, the manifest (or index) digest
	Created time.Time // the image config's created time
	Err     error
}

// Digests resolves the manifest digest of each ref with HEAD requests.
func (s *Scanner) Digests(ctx context.Context, refs []Ref) []Info {
	return s.eachRef(ctx, refs, "resolve the digest of", func(r name.Reference, opts []remote.Option, info *Info) error {
		desc, err := remote.Head(r, opts...)
		if err == nil {
			info.Digest = desc.Digest.String()
		}
		return err
	})
}

// Created reads the creation time of each ref's image from its config
// blob (for an index, the linux/amd64 image). Flux v1 glob and regex
// patterns order tags by it.
func (s *Scanner) Created(ctx context.Context, refs []Ref) []Info {
	return s.eachRef(ctx, refs, "read the creation time of", func(r name.Reference, opts []remote.Option, info *Info) error {
		img, err := remote.Image(r, opts...)
		if err != nil {
			return err
		}
		cfg, err := img.ConfigFile()
		if err == nil {
			info.Created = cfg.Created.Time
		}
		return err
	})
}

// eachRef runs read for every ref in parallel; what fails is explained
// as "<what> <ref>".
func (s *Scanner) eachRef(ctx context.Context, refs []Ref, what string, read func(name.Reference, []remote.Option, *Info) error) []Info {
	out := make([]Info, len(refs))
	s.each(len(refs), func(i int) {
		out[i] = Info{Ref: refs[i]}
		r, err := s.reference(refs[i])
		if err != nil {
			out[i].Err = err
			return
		}
		if err := read(r, s.remoteOptions(ctx, refs[i].Target), &out[i]); err != nil {
			out[i].Err = explain(fmt.Sprintf("%s %s", what, r), r.Context().RegistryStr(), err)
		}
	})
	return out
}

func (s *Scanner) list(ctx context.Context, t Target) ([]string, error) {
	repo, err := s.repository(t)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, s.remoteOptions(ctx, t)...)
	if err != nil {
		return nil, explain(fmt.Sprintf("list the tags of %s", repo), repo.RegistryStr(), err)
	}
	sort.Strings(tags)
	return tags, nil
}

func (s *Scanner) repository(t Target) (name.Repository, error) {
	var opts []name.Option
	if t.Insecure || s.insecure(t.Repository) {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(t.Repository, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("image repository %q: %w", t.Repository, err)
	}
	return repo, nil
}

func (s *Scanner) insecure(repository string) bool {
	r, err := name.NewRepository(repository)
	if err != nil {
		return false
	}
	return slices.Contains(s.opts.Insecure, r.RegistryStr())
}

func (s *Scanner) reference(r Ref) (name.Tag, error) {
	repo, err := s.repository(r.Target)
	if err != nil {
		return name.Tag{}, err
	}
	return repo.Tag(r.Tag), nil
}

func (s *Scanner) remoteOptions(ctx context.Context, t Target) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.transport),
		remote.WithUserAgent("tidegate"),
		// Retries happen in s.transport, which honours Retry-After;
		// go-containerregistry's own retry would multiply them.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
	if s.opts.PageSize > 0 {
		opts = append(opts, remote.WithPageSize(s.opts.PageSize))
	}
	if t.Auth != nil {
		opts = append(opts, remote.WithAuth(t.Auth))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(s.opts.Keychain))
	}
	return opts
}

// each runs fn(0..n-1), Concurrency at a time, and waits for all.
// fn records its own error in its result, so one failed registry does not
// stop the others.
func (s *Scanner) each(n int, fn func(i int)) {
	var g errgroup.Group
	g.SetLimit(s.opts.Concurrency)
	for i := range n {
		// Once ctx is done fn returns at once, so waiting for a slot
		// costs nothing and keeps every result filled in.
		g.Go(func() error {
			fn(i)
			return nil
		})
	}
	_ = g.Wait() // always nil: fn returns nothing
}

// explain wraps a registry error with what tidegate was doing and, for
// the common failures, what the user can do about it.
func explain(doing, registry string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: access denied by %s (check the credentials for %s in --docker-config or the ImageRepository's secretRef): %w", doing, registry, registry, err)
		case http.StatusNotFound:
			return fmt.Errorf("%s: the repository does not exist on %s or is not visible with these credentials: %w", doing, registry, err)
		}
	}
	return fmt.Errorf("%s: %w", doing, err)
}
