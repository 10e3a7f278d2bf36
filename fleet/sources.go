package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/internal/gitremote"
	"github.com/tidegate/tidegate/source"
)

// Sources fetches the sources a unit names besides the run's own
// repository. secret is the data of the source's spec.secretRef, nil
// when it names none.
type Sources interface {
	Git(ctx context.Context, repo *flux.GitRepository, secret map[string][]byte) (*source.Checkout, error)
	OCI(ctx context.Context, repo *flux.OCIRepository, secret map[string][]byte) (*source.Checkout, error)
}

// fetched is a source on disk.
type fetched struct {
	root, display, revision string
	// ignore is the source's spec.ignore, applied when rendering it.
	ignore string
}

// source returns the checkout k builds from: the run's own, or a source
// fetched once per run however many units use it.
func (e *expander) source(ctx context.Context, k *flux.Kustomization) (*fetched, error) {
	ref := k.SourceRef
	name := fmt.Sprintf("Kustomization %s/%s: spec.sourceRef %s", k.Namespace, k.Name, ref)
	if why := flux.Unsupported(ref.Kind); why != "" {
		return nil, fmt.Errorf("%s: %s", name, why)
	}
	if e.isSelfSource(ref) {
		run := e.f.opts.Run
		return &fetched{root: run.Root, revision: run.Revision}, nil
	}
	key := ref.String()
	if f, ok := e.fetched[key]; ok {
		return f, nil
	}
	cl, err := e.f.clients.forUnit(ctx, k)
	if err != nil {
		return nil, err
	}
	obj, err := e.sourceObject(ctx, cl, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if e.f.opts.Sources == nil {
		return nil, fmt.Errorf("%s: this run cannot fetch other sources", name)
	}
	f, err := e.fetch(ctx, ref, obj, cl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	e.fetched[key] = f
	return f, nil
}

func (e *expander) fetch(ctx context.Context, ref flux.Ref, obj *unstructured.Unstructured, cl *clusterClient) (*fetched, error) {
	var co *source.Checkout
	var ignore string
	switch ref.Kind {
	case "GitRepository":
		repo, err := flux.ParseGitRepository(obj, "")
		if err != nil {
			return nil, err
		}
		if co, err = e.cloneGit(ctx, cl, repo); err != nil {
			return nil, err
		}
		ignore = repo.Ignore
	case "OCIRepository":
		repo, err := flux.ParseOCIRepository(obj, "")
		if err != nil {
			return nil, err
		}
		secret, err := cl.optionalSecret(ctx, repo.Namespace, repo.SecretName)
		if err != nil {
			return nil, err
		}
		if co, err = e.f.opts.Sources.OCI(ctx, repo, secret); err != nil {
			return nil, err
		}
		ignore = repo.Ignore
	default:
		return nil, fmt.Errorf("sources of kind %s are not supported", ref.Kind)
	}
	e.plan.cleanup = append(e.plan.cleanup, co.Close)
	return &fetched{root: co.Dir, display: ref.String(), revision: co.Revision, ignore: ignore}, nil
}

// cloneGit clones a Git repository with the credentials of its
// secretRef, read as the unit (or, without one, as Sources decides).
func (e *expander) cloneGit(ctx context.Context, cl *clusterClient, repo *flux.GitRepository) (*source.Checkout, error) {
	secret, err := cl.optionalSecret(ctx, repo.Namespace, repo.SecretName)
	if err != nil {
		return nil, err
	}
	return e.f.opts.Sources.Git(ctx, repo, secret)
}

// operatorGit is the clone of a Flux v1 release's spec.chart.git, made
// once per run for each URL, ref and secretRef, through the run's
// Sources like a GitRepository's: with spec.chart.secretRef's username
// and password, else the run's own credentials for the run's own host
// only. helm-operator's ref may name a branch or a tag: a branch is
// tried first, then a tag of that name.
func (e *expander) operatorGit(ctx context.Context, cl *clusterClient, repo *flux.GitRepository) (*fetched, error) {
	key := fmt.Sprintf("chart.git %s %+v %s/%s", repo.URL, repo.Ref, repo.Namespace, repo.SecretName)
	if f, ok := e.fetched[key]; ok {
		return f, nil
	}
	if e.f.opts.Sources == nil {
		return nil, errors.New("this run cannot fetch other sources")
	}
	co, err := e.cloneGit(ctx, cl, repo)
	// Only when the server answered that it has no such branch (not
	// for a refused or missing repository): package source's words.
	if name := repo.Ref.Branch; err != nil && name != "" && strings.Contains(err.Error(), fmt.Sprintf("branch %q not found", name)) {
		tag := *repo
		tag.Ref = flux.GitRef{Tag: name}
		if co, err = e.cloneGit(ctx, cl, &tag); err != nil && strings.Contains(err.Error(), fmt.Sprintf("tag %q not found", name)) {
			return nil, fmt.Errorf("%s has no branch and no tag %q: check spec.chart.ref (a branch, a tag, refs/… or a commit SHA; master when unset)", source.Redact(repo.URL), repo.Ref.Branch)
		}
	}
	if err != nil {
		return nil, err
	}
	e.plan.cleanup = append(e.plan.cleanup, co.Close)
	f := &fetched{root: co.Dir, display: co.URL, revision: co.Revision}
	e.fetched[key] = f
	return f, nil
}

// sameRepository reports whether two remotes name one repository,
// whatever their spelling (scheme, user, .git, scp-like form).
func sameRepository(a, b string) bool {
	ra, rb, ok := remotes(a, b)
	return ok && strings.EqualFold(ra.Host, rb.Host) && ra.Path == rb.Path
}

// remotes parses two remotes; false when either is not a remote (a local
// path, or not parseable), which never matches another.
func remotes(a, b string) (gitremote.Remote, gitremote.Remote, bool) {
	ra, err := gitremote.Parse(a)
	if err != nil || ra.IsLocal() {
		return ra, gitremote.Remote{}, false
	}
	rb, err := gitremote.Parse(b)
	if err != nil || rb.IsLocal() {
		return ra, rb, false
	}
	return ra, rb, true
}

// NetSources fetches GitRepository and OCIRepository sources over the
// network with package source, with its deadlines and size caps.
type NetSources struct {
	Logger *slog.Logger
	// RunAuth are the run's own Git credentials (--git-token,
	// --ssh-key-file…) for RunRemote, the run's --source. A GitRepository
	// without a secretRef on the same host, reached the same way (HTTPS
	// or SSH), is cloned with them; no other host ever sees them.
	RunAuth   source.Auth
	RunRemote string
}

// Git clones repo at its spec.ref with the credentials of its secretRef,
// or the run's own for a repository on the run's host without one.
func (n NetSources) Git(ctx context.Context, repo *flux.GitRepository, secret map[string][]byte) (*source.Checkout, error) {
	auth, err := source.AuthFromSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("spec.secretRef %s: %w", repo.SecretName, err)
	}
	if secret == nil && sameHost(repo.URL, n.RunRemote) {
		auth = n.RunAuth
	}
	r := repo.Ref
	opts := []source.Option{source.WithGitRef(source.GitRef{Branch: r.Branch, Tag: r.Tag, SemVer: r.SemVer, Name: r.Name, Commit: r.Commit}), source.WithAuth(auth), source.WithIgnore(repo.Ignore)}
	if n.Logger != nil {
		opts = append(opts, source.WithLogger(n.Logger))
	}
	if repo.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, repo.Timeout)
		defer cancel()
	}
	return source.Open(ctx, repo.URL, opts...)
}

// OCI pulls repo's artifact at its spec.ref with the credentials of its
// secretRef.
func (n NetSources) OCI(ctx context.Context, repo *flux.OCIRepository, secret map[string][]byte) (*source.Checkout, error) {
	r := repo.Ref
	opts := []source.ArtifactOption{source.WithInsecure(repo.Insecure), source.WithLayer(repo.MediaType, repo.Operation), source.WithArtifactIgnore(repo.Ignore)}
	if n.Logger != nil {
		opts = append(opts, source.WithArtifactLogger(n.Logger))
	}
	if repo.Timeout > 0 {
		opts = append(opts, source.WithArtifactTimeout(repo.Timeout))
	}
	if secret != nil {
		auth, err := source.ArtifactAuthFromSecret(secret, registryHost(repo.URL))
		if err != nil {
			return nil, fmt.Errorf("spec.secretRef %s: %w", repo.SecretName, err)
		}
		opts = append(opts, auth)
	}
	return source.PullArtifact(ctx, repo.URL, source.OCIRef{Tag: r.Tag, SemVer: r.SemVer, SemVerFilter: r.SemverFilter, Digest: r.Digest}, opts...)
}

// registryHost is host[:port] of an oci:// URL.
func registryHost(url string) string {
	rest := strings.TrimPrefix(url, "oci://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// sameHost reports whether two remotes are on one Git server reached the
// same way: the same host and port over HTTP(S), or the same host over
// SSH. Credentials for one are never sent to the other.
func sameHost(a, b string) bool {
	ra, rb, ok := remotes(a, b)
	if !ok || ra.Web() != rb.Web() || ra.SSH() != rb.SSH() {
		return false
	}
	return strings.EqualFold(ra.Host, rb.Host) && ra.Port == rb.Port && (ra.Scheme == rb.Scheme || ra.SSH())
}
