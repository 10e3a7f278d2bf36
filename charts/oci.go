package charts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ChartLayerMediaType is the layer of an OCI artifact that holds the
// chart archive (helm push writes it).
const ChartLayerMediaType types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// OCIReference is an OCIRepository's spec.ref: Digest wins over SemVer,
// SemVer over Tag, and an empty reference means the tag latest, as in
// Flux.
type OCIReference struct {
	Tag, SemVer, Digest string
}

// FromOCI fetches the chart at repo.URL (oci://host/path/name) and ref,
// as an OCIRepository that helm-controller's chartRef names.
func (f *Fetcher) FromOCI(ctx context.Context, repo Repository, ref OCIReference) (*Chart, error) {
	c, err := f.fromOCI(ctx, repo, ref)
	return c, scrub(err, repo)
}

func (f *Fetcher) fromOCIRepository(ctx context.Context, repo Repository, chart, versionRange string) (*Chart, error) {
	r := repo
	r.URL = strings.TrimSuffix(repo.URL, "/") + "/" + chart
	if versionRange == "" {
		versionRange = "*"
	}
	return f.fromOCI(ctx, r, OCIReference{SemVer: versionRange})
}

func (f *Fetcher) fromOCI(ctx context.Context, repo Repository, ref OCIReference) (*Chart, error) {
	where := "chart " + redact(repo.URL)
	repoName, err := ociRepository(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	chartName := repoName.RepositoryStr()[strings.LastIndex(repoName.RepositoryStr(), "/")+1:]
	auth, err := ociAuth(repo, repoName.RegistryStr())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	rt, err := f.transport(repo, max(f.opts.MaxIndexBytes, f.opts.MaxArchiveBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt)}

	var target name.Reference
	switch {
	case ref.Digest != "":
		target, err = name.NewDigest(repoName.Name()+"@"+ref.Digest, nameOpts(repo)...)
		if err != nil {
			return nil, fmt.Errorf("%s: digest %q: %w", where, ref.Digest, err)
		}
	case ref.SemVer != "":
		tag, err := f.pickTag(repoName, ref.SemVer, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		target = repoName.Tag(tag)
	default:
		tag := ref.Tag
		if tag == "" {
			tag = "latest"
		}
		target = repoName.Tag(tag)
	}
	where = "chart " + redact("oci://"+target.Name())

	img, err := remote.Image(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", where, err)
	}
	var layer *v1.Descriptor
	for i := range m.Layers {
		if m.Layers[i].MediaType == ChartLayerMediaType {
			layer = &m.Layers[i]
			break
		}
	}
	if layer == nil {
		return nil, fmt.Errorf("%s: the artifact has no layer of media type %s: push the chart with helm push", where, ChartLayerMediaType)
	}
	if layer.Size > f.opts.MaxArchiveBytes {
		return nil, fmt.Errorf("%s: the chart layer is %d bytes, over the %s limit: raise the limit if the registry is trusted", where, layer.Size, size(f.opts.MaxArchiveBytes))
	}
	digest := layer.Digest.String()
	if data, ok := f.cached(digest); ok {
		return f.load(data, digest, where[len("chart "):], chartName, "", true)
	}
	l, err := img.LayerByDigest(layer.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: chart layer: %w", where, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("%s: chart layer: %w", where, err)
	}
	defer rc.Close()
	// The reader checks the digest at EOF; the limit stops a blob that
	// is larger than its descriptor says before that.
	data, err := io.ReadAll(io.LimitReader(rc, f.opts.MaxArchiveBytes+1))
	if err != nil {
		// go-containerregistry's verifying reader has no exported
		// error type; its message is all there is to tell.
		if strings.Contains(err.Error(), "error verifying") {
			return nil, fmt.Errorf("%s: chart layer: %w: the registry served other bytes than the manifest names (%w); nothing was rendered", where, ErrDigestMismatch, err)
		}
		return nil, fmt.Errorf("%s: chart layer: %w", where, err)
	}
	if int64(len(data)) > f.opts.MaxArchiveBytes {
		return nil, fmt.Errorf("%s: the chart layer is over the %s limit: raise the limit if the registry is trusted", where, size(f.opts.MaxArchiveBytes))
	}
	if got := digestOf(data); got != digest {
		return nil, fmt.Errorf("%s: chart layer: %w: the manifest names %s, the registry served %s; nothing was rendered", where, ErrDigestMismatch, digest, got)
	}
	c, err := f.load(data, digest, where[len("chart "):], chartName, "", false)
	if err != nil {
		return nil, err
	}
	f.store(digest, data)
	return c, nil
}

func nameOpts(repo Repository) []name.Option {
	if repo.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func ociRepository(repo Repository) (name.Repository, error) {
	rest, ok := strings.CutPrefix(repo.URL, "oci://")
	if !ok {
		return name.Repository{}, errors.New("an OCI URL starts with oci://")
	}
	r, err := name.NewRepository(strings.TrimSuffix(rest, "/"), nameOpts(repo)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("not an OCI repository (oci://host/path/chart): %w", err)
	}
	return r, nil
}

// pickTag lists the repository's tags and picks the highest that
// matches; helm push writes "+" of a version as "_" in the tag.
func (f *Fetcher) pickTag(repo name.Repository, versionRange string, opts []remote.Option) (string, error) {
	if v, err := semver.StrictNewVersion(strings.TrimPrefix(versionRange, "v")); err == nil && !strings.ContainsAny(versionRange, "<>=~^*|, ") {
		return strings.ReplaceAll(v.Original(), "+", "_"), nil
	}
	c, err := semver.NewConstraint(versionRange)
	if err != nil {
		return "", fmt.Errorf("version %q is not a semver range: %w", versionRange, err)
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		return "", fmt.Errorf("listing tags: %w", err)
	}
	var best string
	var bestV *semver.Version
	for _, t := range tags {
		v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+"))
		if err != nil || !c.Check(v) {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = t, v
		}
	}
	if bestV == nil {
		return "", fmt.Errorf("no tag matches %q among the %d listed: widen the range or push the version", versionRange, len(tags))
	}
	return best, nil
}

// dockerConfig is the part of a .dockerconfigjson a fetch reads.
type dockerConfig struct {
	Auths map[string]struct {
		Username, Password, Auth string
	} `json:"auths"`
}

// dockerPasswords lists a .dockerconfigjson's secrets (passwords and
// auth strings, encoded and decoded) for scrubbing errors.
func dockerPasswords(raw []byte) []string {
	var cfg dockerConfig
	if len(raw) == 0 || json.Unmarshal(raw, &cfg) != nil {
		return nil
	}
	var out []string
	for _, a := range cfg.Auths {
		out = append(out, a.Password, a.Auth)
		if dec, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			_, p, _ := strings.Cut(string(dec), ":")
			out = append(out, p)
		}
	}
	return out
}

// ociAuth reads basic credentials or a .dockerconfigjson for host.
func ociAuth(repo Repository, host string) (authn.Authenticator, error) {
	creds, err := repo.basicAuth()
	if err != nil {
		return nil, err
	}
	if creds.user != "" {
		return &authn.Basic{Username: creds.user, Password: creds.pass}, nil
	}
	raw, ok := repo.Secret[keyDocker]
	if !ok {
		return authn.Anonymous, nil
	}
	var cfg dockerConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("the secret's %s is not JSON: recreate it with kubectl create secret docker-registry", keyDocker)
	}
	for h, a := range cfg.Auths {
		h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
		if strings.TrimSuffix(h, "/") != host {
			continue
		}
		if a.Username == "" && a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("the secret's %s has an auth for %s that is not base64", keyDocker, host)
			}
			a.Username, a.Password, _ = strings.Cut(string(dec), ":")
		}
		return &authn.Basic{Username: a.Username, Password: a.Password}, nil
	}
	return authn.Anonymous, nil
}
