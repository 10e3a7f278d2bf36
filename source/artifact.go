package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// The media types of an artifact as `flux push artifact` makes it: an OCI
// image manifest with this config and one layer, a tar+gzip of the
// directory pushed.
const (
	FluxContentMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
	FluxConfigMediaType  = "application/vnd.cncf.flux.config.v1+json"
)

// Defaults of the artifact limits, documented in the README's "Sources of
// Flux Kustomizations".
const (
	// DefaultArtifactMaxBytes caps the layer downloaded and, separately,
	// the bytes extracted from it: Flux's own untar limit.
	DefaultArtifactMaxBytes = 100 << 20
	// DefaultArtifactMaxFiles caps the entries of the layer's tar.
	DefaultArtifactMaxFiles = 20000
	// DefaultArtifactTimeout bounds a whole pull: resolving the ref,
	// the manifest and the layer.
	DefaultArtifactTimeout = 5 * time.Minute
)

// The layer operations of an OCIRepository's spec.layerSelector.
const (
	LayerExtract = "extract"
	LayerCopy    = "copy"
)

// OCIRef is an OCIRepository's spec.ref. The field that wins is Flux's:
// Digest, then SemVer, then Tag; the zero OCIRef is the tag "latest".
type OCIRef struct {
	Tag string
	// SemVer is a range (Masterminds/semver syntax): the highest tag that
	// parses as a version and matches is pulled.
	SemVer string
	// SemVerFilter is a regular expression the tags must match before
	// SemVer is applied (spec.ref.semverFilter).
	SemVerFilter string
	// Digest is sha256:<hex> of the manifest.
	Digest string
}

// String names the ref the way an OCIRepository spells it, for messages.
func (r OCIRef) String() string {
	switch {
	case r.Digest != "":
		return "digest " + r.Digest
	case r.SemVer != "" && r.SemVerFilter != "":
		return fmt.Sprintf("semver %s (tags matching %s)", r.SemVer, r.SemVerFilter)
	case r.SemVer != "":
		return "semver " + r.SemVer
	case r.Tag != "":
		return "tag " + r.Tag
	}
	return "tag latest (no spec.ref)"
}

type artifactOptions struct {
	auth      authn.Authenticator
	insecure  bool
	mediaType string
	operation string
	ignore    string
	maxBytes  int64
	maxFiles  int
	timeout   time.Duration
	transport http.RoundTripper
	log       *slog.Logger
}

// ArtifactOption configures PullArtifact.
type ArtifactOption func(*artifactOptions)

func artifactDefaults(opts []ArtifactOption) artifactOptions {
	o := artifactOptions{
		auth:     authn.Anonymous,
		maxBytes: DefaultArtifactMaxBytes, maxFiles: DefaultArtifactMaxFiles,
		timeout: DefaultArtifactTimeout,
		log:     slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.transport == nil {
		// The layer is read through a cap of its own (maxBytes); the
		// transport's cap only has to let it through. No per-request
		// deadline: the pull's timeout covers the whole of it.
		o.transport = httpclient.NewTransport(
			httpclient.WithMaxBodyBytes(max(o.maxBytes, 4<<20)+1),
			httpclient.WithRequestTimeout(0),
		)
	}
	return o
}

// WithArtifactAuth sets basic-auth credentials for the registry.
func WithArtifactAuth(username, password string) ArtifactOption {
	return func(o *artifactOptions) {
		o.auth = &authn.Basic{Username: username, Password: password}
	}
}

// WithInsecure speaks plain HTTP to the registry (spec.insecure).
func WithInsecure(insecure bool) ArtifactOption {
	return func(o *artifactOptions) { o.insecure = insecure }
}

// WithLayer is an OCIRepository's spec.layerSelector: the first layer of
// mediaType ("" for the first layer, as Flux), and what to do with it:
// LayerExtract (the default, "") or LayerCopy.
func WithLayer(mediaType, operation string) ArtifactOption {
	return func(o *artifactOptions) { o.mediaType, o.operation = mediaType, operation }
}

// WithArtifactLimits caps the layer: maxBytes both for the blob
// downloaded and for the bytes extracted, maxFiles for its tar entries.
// Zero or less keeps the default.
func WithArtifactLimits(maxBytes int64, maxFiles int) ArtifactOption {
	return func(o *artifactOptions) {
		if maxBytes > 0 {
			o.maxBytes = maxBytes
		}
		if maxFiles > 0 {
			o.maxFiles = maxFiles
		}
	}
}

// WithArtifactTimeout bounds the whole pull (default 5 minutes); zero or
// less leaves only ctx.
func WithArtifactTimeout(d time.Duration) ArtifactOption {
	return func(o *artifactOptions) { o.timeout = d }
}

// WithArtifactTransport sets the HTTP transport. The default comes from
// internal/httpclient: connect, TLS, response-header and stall timeouts,
// and a body cap just above the layer cap.
func WithArtifactTransport(rt http.RoundTripper) ArtifactOption {
	return func(o *artifactOptions) {
		if rt != nil {
			o.transport = rt
		}
	}
}

// WithArtifactIgnore carries spec.ignore to Checkout.Ignore, as
// WithIgnore does for Git.
func WithArtifactIgnore(patterns string) ArtifactOption {
	return func(o *artifactOptions) { o.ignore = patterns }
}

// WithArtifactLogger sets where progress goes.
func WithArtifactLogger(l *slog.Logger) ArtifactOption {
	return func(o *artifactOptions) {
		if l != nil {
			o.log = l
		}
	}
}

// PullArtifact pulls the artifact at oci://host/repository and ref into
// a fresh temporary directory: the layer extracted (LayerExtract) or the
// layer copied as the file Checkout.File (LayerCopy). Checkout.Revision
// is Flux's "<tag>@sha256:<manifest digest>" ("sha256:…" for a digest
// ref). The layer's digest is verified before anything is written, and
// extraction refuses what could write outside the directory or fill the
// disk (see extractLayer). Close removes the directory; a failed pull
// leaves nothing behind.
func PullArtifact(ctx context.Context, url string, ref OCIRef, opts ...ArtifactOption) (*Checkout, error) {
	o := artifactDefaults(opts)
	safe := Redact(url)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s (%s): "+format, append([]any{safe, ref}, args...)...)
	}
	switch o.operation {
	case "", LayerExtract, LayerCopy:
	default:
		return nil, fail("spec.layerSelector.operation %q: Flux knows %q and %q", o.operation, LayerExtract, LayerCopy)
	}
	repo, err := parseOCIURL(url, o.insecure)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safe, err)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, &DeadlineError{Op: "pulling " + safe, After: o.timeout, Peer: "the registry"})
		defer cancel()
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(o.transport),
		remote.WithAuth(o.auth),
		remote.WithUserAgent("tidegate"),
		// One attempt per request: the pull's deadline stays the bound,
		// as in images/scan.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
	start := time.Now()
	o.log.Info("pulling artifact", "source", safe, "ref", ref.String())

	target, tag, err := resolveOCIRef(repo, ref, ropts)
	if err != nil {
		return nil, explainRegistry(ctx, err, safe, ref)
	}
	desc, err := remote.Get(target, ropts...)
	if err != nil {
		return nil, explainRegistry(ctx, err, safe, ref)
	}
	if desc.MediaType.IsIndex() {
		return nil, fail("the manifest is an image index (%s), not an artifact: point spec.url at an artifact that flux push artifact made", desc.MediaType)
	}
	if !desc.MediaType.IsImage() {
		return nil, fail("the manifest has media type %s, not an OCI image manifest as flux push artifact makes", desc.MediaType)
	}
	manifest, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil, fail("the manifest is not valid JSON: %w", err)
	}
	layer, err := selectLayer(manifest, o.mediaType)
	if err != nil {
		return nil, fail("%w", err)
	}
	if layer.Size > o.maxBytes {
		return nil, fail("the layer %s is %d bytes, more than the limit of %d; raise the limit or make the artifact smaller", layer.Digest, layer.Size, o.maxBytes)
	}
	if manifest.Config.MediaType != FluxConfigMediaType {
		o.log.Debug("artifact config is not Flux's", "source", safe, "mediaType", manifest.Config.MediaType)
	}

	work, err := os.MkdirTemp("", "tidegate-artifact-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(work)
		}
	}()
	blob := filepath.Join(work, "layer.blob")
	if err := download(repo.Digest(layer.Digest.String()), layer, blob, o.maxBytes, ropts); err != nil {
		return nil, explainRegistry(ctx, err, safe, ref)
	}
	dir := filepath.Join(work, "artifact")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	c := &Checkout{Dir: dir, URL: safe, Ref: ref.String(), Tag: tag, Ignore: o.ignore,
		Annotations: manifest.Annotations, log: o.log,
		cleanup: func() error { return os.RemoveAll(work) }}
	c.Revision = desc.Digest.String()
	if tag != "" {
		c.Revision = tag + "@" + c.Revision
	}
	if o.operation == LayerCopy {
		c.File = filepath.Join(dir, "artifact.tgz")
		if err := os.Rename(blob, c.File); err != nil {
			return nil, err
		}
	} else {
		if err := extractFile(blob, dir, o.maxBytes, o.maxFiles); err != nil {
			return nil, fail("layer %s: %w", layer.Digest, err)
		}
		if err := os.Remove(blob); err != nil {
			return nil, err
		}
	}
	ok = true
	o.log.Info("pulled artifact", "source", safe, "revision", c.Revision, "duration", time.Since(start).Round(time.Millisecond))
	return c, nil
}

// parseOCIURL reads oci://host[:port]/repository. A tag, digest or
// credentials in the URL are refused, as Flux refuses them: they belong in
// spec.ref and spec.secretRef.
func parseOCIURL(url string, insecure bool) (name.Repository, error) {
	rest, ok := strings.CutPrefix(url, "oci://")
	if !ok {
		return name.Repository{}, errors.New("an OCIRepository URL starts with oci:// (oci://registry.example.com/org/repo)")
	}
	if host, _, _ := strings.Cut(rest, "/"); strings.Contains(host, "@") {
		return name.Repository{}, errors.New("the URL holds credentials: put them in the OCIRepository's spec.secretRef (a docker-registry Secret), never in spec.url")
	}
	if !strings.Contains(strings.Trim(rest, "/"), "/") {
		return name.Repository{}, errors.New("no repository after the host (oci://host/org/repo)")
	}
	last := rest[strings.LastIndex(rest, "/")+1:]
	if strings.ContainsAny(last, ":@") {
		return name.Repository{}, errors.New("the URL holds a tag or digest: give the repository only and put the tag, semver or digest in spec.ref")
	}
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(rest, nopts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("not a repository (oci://host/org/repo): %w", err)
	}
	return repo, nil
}

// resolveOCIRef turns ref into what to fetch, and the tag it names ("" for
// a digest).
func resolveOCIRef(repo name.Repository, ref OCIRef, ropts []remote.Option) (name.Reference, string, error) {
	switch {
	case ref.Digest != "":
		// Parsed only to validate: repo.Digest keeps the registry's
		// insecure flag, a fresh parse would not.
		if _, err := name.NewDigest(repo.String()+"@"+ref.Digest, name.WeakValidation); err != nil || !strings.HasPrefix(ref.Digest, "sha256:") {
			return nil, "", &refError{fmt.Sprintf("spec.ref.digest %q is not sha256:<64 hex digits>", ref.Digest)}
		}
		return repo.Digest(ref.Digest), "", nil
	case ref.SemVer != "":
		c, err := semver.NewConstraint(ref.SemVer)
		if err != nil {
			return nil, "", &refError{fmt.Sprintf("spec.ref.semver %q is not a version range: %v", ref.SemVer, err)}
		}
		var filter *regexp.Regexp
		if ref.SemVerFilter != "" {
			if filter, err = regexp.Compile(ref.SemVerFilter); err != nil {
				return nil, "", &refError{fmt.Sprintf("spec.ref.semverFilter %q is not a regular expression: %v", ref.SemVerFilter, err)}
			}
		}
		tags, err := remote.List(repo, ropts...)
		if err != nil {
			return nil, "", err
		}
		if filter != nil {
			kept := tags[:0]
			for _, t := range tags {
				if filter.MatchString(t) {
					kept = append(kept, t)
				}
			}
			tags = kept
		}
		tag, err := highestTag(tags, c, ref.SemVer)
		if err != nil {
			return nil, "", err
		}
		return repo.Tag(tag), tag, nil
	}
	tag := ref.Tag
	if tag == "" {
		tag = "latest"
	}
	if _, err := name.NewTag(repo.String()+":"+tag, name.WeakValidation); err != nil {
		return nil, "", &refError{fmt.Sprintf("spec.ref.tag %q is not a valid tag", tag)}
	}
	return repo.Tag(tag), tag, nil
}

func selectLayer(m *v1.Manifest, mediaType string) (v1.Descriptor, error) {
	if len(m.Layers) == 0 {
		return v1.Descriptor{}, errors.New("the artifact has no layer")
	}
	if mediaType == "" {
		return m.Layers[0], nil
	}
	var have []string
	for _, l := range m.Layers {
		if string(l.MediaType) == mediaType {
			return l, nil
		}
		have = append(have, string(l.MediaType))
	}
	return v1.Descriptor{}, fmt.Errorf("no layer of media type %s (spec.layerSelector.mediaType); the artifact has %s", mediaType, strings.Join(have, ", "))
}

// download writes the layer blob to path, at most maxBytes of it, and
// checks that what came is what the manifest names.
func download(ref name.Digest, want v1.Descriptor, path string, maxBytes int64, ropts []remote.Option) error {
	l, err := remote.Layer(ref, ropts...)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, copyErr := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, maxBytes+1))
	if err := f.Close(); err != nil && copyErr == nil {
		copyErr = err
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	switch {
	case n > maxBytes:
		return &layerError{fmt.Sprintf("the registry sent more than %d bytes for layer %s; raise the limit or make the artifact smaller", maxBytes, want.Digest)}
	case want.Digest.Algorithm != "sha256":
		return &layerError{fmt.Sprintf("layer digest %s: only sha256 is supported", want.Digest)}
	case got != want.Digest.String() && (copyErr == nil || isVerifyError(copyErr)):
		return &layerError{fmt.Sprintf("layer %s: the registry sent %d bytes whose digest is %s: the blob was tampered with or corrupted, nothing was extracted; push the artifact again", want.Digest, n, got)}
	case copyErr != nil:
		return copyErr
	case n != want.Size:
		return &layerError{fmt.Sprintf("layer %s: the registry sent %d bytes, the manifest says %d; push the artifact again", want.Digest, n, want.Size)}
	}
	return nil
}

// isVerifyError tells go-containerregistry's digest check, which fails the
// read at the end of a blob whose digest is wrong.
func isVerifyError(err error) bool {
	return strings.Contains(err.Error(), "error verifying")
}

// layerError is a refusal of the layer; its message is safe to print.
type layerError struct{ msg string }

func (e *layerError) Error() string { return e.msg }

// explainRegistry says what went wrong talking to the registry, without
// credentials (go-containerregistry's errors carry none; the URL is
// redacted) and with what to do.
func explainRegistry(ctx context.Context, err error, safe string, ref OCIRef) error {
	var de *DeadlineError
	if cause := context.Cause(ctx); ctx.Err() != nil && errors.As(cause, &de) {
		return fmt.Errorf("%s (%s): %w", safe, ref, de)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s (%s): interrupted: %w", safe, ref, context.Cause(ctx))
	}
	var re *refError
	var le *layerError
	var lim *httpclient.LimitError
	var te *transport.Error
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("%s (%s): %s", safe, ref, re.msg)
	case errors.As(err, &le):
		return fmt.Errorf("%s (%s): %s", safe, ref, le.msg)
	case errors.As(err, &lim):
		return fmt.Errorf("%s (%s): %w", safe, ref, lim)
	case errors.As(err, &te):
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s (%s): the registry refused the credentials (HTTP %d): check the OCIRepository's spec.secretRef (a docker-registry Secret for this host)", safe, ref, te.StatusCode)
		case http.StatusNotFound:
			return fmt.Errorf("%s (%s): not found in the registry (HTTP 404): check spec.url and spec.ref", safe, ref)
		}
		return fmt.Errorf("%s (%s): the registry answered HTTP %d: %w", safe, ref, te.StatusCode, err)
	}
	return fmt.Errorf("%s (%s): %w", safe, ref, err)
}
