package source

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// GitRef is a Flux GitRepository's spec.ref. Several fields may be set;
// the one that wins is Flux's: Commit, then Name, then SemVer, then Tag,
// then Branch. Commit may come with Branch, in which case only that
// branch is fetched and the commit must be on it. The zero GitRef is
// Flux's default, the branch "master" (not the remote's default branch:
// a GitRepository without a ref reads master or fails, and tidegate
// builds what Flux would build).
type GitRef struct {
	Branch string
	Tag    string
	// SemVer is a range (Masterminds/semver syntax, as Flux): the highest
	// tag that parses as a version and matches is checked out.
	SemVer string
	// Name is a full reference name: refs/heads/main, refs/tags/v1,
	// refs/pull/42/head.
	Name string
	// Commit is a commit SHA.
	Commit string
}

// FluxDefaultBranch is the branch of a GitRepository without spec.ref.
const FluxDefaultBranch = "master"

// String names the ref the way a GitRepository spells it, for messages.
func (r GitRef) String() string {
	switch {
	case r.Commit != "" && r.Branch != "":
		return fmt.Sprintf("commit %s on branch %s", r.Commit, r.Branch)
	case r.Commit != "":
		return "commit " + r.Commit
	case r.Name != "":
		return "name " + r.Name
	case r.SemVer != "":
		return "semver " + r.SemVer
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Branch != "":
		return "branch " + r.Branch
	}
	return "branch " + FluxDefaultBranch + " (no spec.ref)"
}

// WithGitRef selects what to check out with a GitRepository's spec.ref
// and its precedence; it replaces WithRef.
func WithGitRef(r GitRef) Option {
	return func(o *options) {
		o.gitRef = &r
		o.ref = ""
	}
}

// WithIgnore carries a GitRepository's (or OCIRepository's) spec.ignore
// to Checkout.Ignore: the files are all cloned, and render leaves out
// what the patterns (.gitignore syntax) match, as source-controller does
// when it archives the checkout.
func WithIgnore(patterns string) Option { return func(o *options) { o.ignore = patterns } }

// cloneGitRef clones rawURL at a GitRepository ref.
func cloneGitRef(ctx context.Context, rawURL string, o options) (*Checkout, error) {
	ref := *o.gitRef
	safe := Redact(rawURL)
	if ref.Commit != "" && !shaPattern.MatchString(ref.Commit) {
		return nil, fmt.Errorf("%s: spec.ref.commit %q is not a commit SHA (7 to 40 lowercase hex digits)", safe, ref.Commit)
	}
	var constraint *semver.Constraints
	if ref.Commit == "" && ref.Name == "" && ref.SemVer != "" {
		c, err := semver.NewConstraint(ref.SemVer)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.ref.semver %q is not a version range: %w (see https://github.com/Masterminds/semver#checking-version-constraints)", safe, ref.SemVer, err)
		}
		constraint = c
	}
	c, auth, err := newClone(rawURL, ref.String(), o)
	if err != nil {
		return nil, err
	}
	c.Ignore = o.ignore
	endpoint, dir := c.remote, c.Dir
	start := time.Now()
	o.log.Info("cloning", "source", safe, "ref", ref.String())
	ctx, cancel := o.net.bound(ctx, "the clone")
	defer cancel()

	var repo *git.Repository
	err = untilDone(ctx, dir, func() (err error) {
		repo, err = fetchGitRef(ctx, dir, endpoint, auth, ref, constraint, c)
		return err
	})
	if err != nil {
		c.Close()
		// Errors name the URL and the ref, like PullArtifact's.
		label := safe + " (" + ref.String() + ")"
		var nf *refError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%s: %s", label, nf.msg)
		}
		return nil, explainGitRef(interrupted(ctx, err), label, rawURL, o.auth)
	}
	head, err := repo.Head()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s at %s: %w", safe, ref, err)
	}
	c.Revision = head.Hash().String()
	if head.Name().IsBranch() {
		c.Branch = head.Name().Short()
	}
	o.log.Info("cloned", "source", safe, "ref", ref.String(), "revision", c.Revision, "duration", time.Since(start).Round(time.Millisecond))
	return c, nil
}

// FluxRevision is the revision as Flux writes it in an artifact's
// status.artifact.revision: "<branch, tag or ref name>@sha1:<commit>"
// ("sha1:<commit>" for a bare commit pin) for a GitRepository,
// "<tag>@sha256:<digest>" for an OCI artifact. Empty for a working tree.
func (c *Checkout) FluxRevision() string {
	switch {
	case c == nil || c.Revision == "":
		return ""
	case c.Annotations != nil || strings.Contains(c.Revision, "sha256:"):
		return c.Revision
	case c.pointer != "":
		return c.pointer + "@sha1:" + c.Revision
	}
	return "sha1:" + c.Revision
}

// refError is a ref the remote does not have; its message is safe to
// print and says what to change.
type refError struct{ msg string }

func (e *refError) Error() string { return e.msg }

func fetchGitRef(ctx context.Context, dir, endpoint string, auth transport.AuthMethod, ref GitRef, constraint *semver.Constraints, c *Checkout) (*git.Repository, error) {
	clone := func(name plumbing.ReferenceName, depth int) (*git.Repository, error) {
		return git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
			URL: endpoint, Auth: auth, ReferenceName: name, SingleBranch: name != "", Depth: depth, Tags: git.NoTags,
		})
	}
	switch {
	case ref.Commit != "":
		// A commit needs the history that holds it: the whole branch
		// when one is named, else everything.
		var name plumbing.ReferenceName
		if ref.Branch != "" {
			name = plumbing.NewBranchReferenceName(ref.Branch)
			c.pointer = ref.Branch
		}
		repo, err := clone(name, 0)
		if isRefNotFound(err) {
			return nil, &refError{fmt.Sprintf("branch %q not found (check spec.ref.branch)", ref.Branch)}
		}
		if err != nil {
			return nil, err
		}
		h, err := repo.ResolveRevision(plumbing.Revision(ref.Commit))
		if err != nil {
			where := "the repository"
			if ref.Branch != "" {
				where = "branch " + ref.Branch
			}
			return nil, &refError{fmt.Sprintf("commit %s not found in %s (check spec.ref.commit)", ref.Commit, where)}
		}
		wt, err := repo.Worktree()
		if err != nil {
			return nil, err
		}
		return repo, wt.Checkout(&git.CheckoutOptions{Hash: *h})
	case ref.Name != "":
		name := plumbing.ReferenceName(ref.Name)
		if !strings.HasPrefix(ref.Name, "refs/") {
			return nil, &refError{fmt.Sprintf("spec.ref.name %q is not a full reference name (refs/heads/…, refs/tags/…, refs/pull/…)", ref.Name)}
		}
		c.pointer = ref.Name
		if name.IsBranch() || name.IsTag() {
			repo, err := clone(name, 1)
			if isRefNotFound(err) {
				return nil, &refError{fmt.Sprintf("reference %s not found (check spec.ref.name)", ref.Name)}
			}
			if name.IsTag() {
				c.Tag = name.Short()
			}
			return repo, err
		}
		return fetchOther(ctx, dir, endpoint, auth, name)
	case constraint != nil:
		tags, err := listTags(ctx, endpoint, auth)
		if err != nil {
			return nil, err
		}
		tag, err := highestTag(tags, constraint, ref.SemVer)
		if err != nil {
			return nil, err
		}
		c.Tag, c.pointer = tag, tag
		return clone(plumbing.NewTagReferenceName(tag), 1)
	case ref.Tag != "":
		repo, err := clone(plumbing.NewTagReferenceName(ref.Tag), 1)
		if isRefNotFound(err) {
			return nil, &refError{fmt.Sprintf("tag %q not found (check spec.ref.tag)", ref.Tag)}
		}
		c.Tag, c.pointer = ref.Tag, ref.Tag
		return repo, err
	}
	branch := ref.Branch
	if branch == "" {
		branch = FluxDefaultBranch
	}
	c.pointer = branch
	repo, err := clone(plumbing.NewBranchReferenceName(branch), 1)
	if isRefNotFound(err) {
		if ref.Branch == "" {
			return nil, &refError{fmt.Sprintf("branch %q not found: a GitRepository without spec.ref reads %s, as Flux does; set spec.ref.branch", branch, FluxDefaultBranch)}
		}
		return nil, &refError{fmt.Sprintf("branch %q not found (check spec.ref.branch)", branch)}
	}
	return repo, err
}

// fetchOther fetches a reference that is neither a branch nor a tag
// (refs/pull/42/head), which go-git's clone cannot ask for.
func fetchOther(ctx context.Context, dir, endpoint string, auth transport.AuthMethod, name plumbing.ReferenceName) (*git.Repository, error) {
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{endpoint}}); err != nil {
		return nil, err
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", Auth: auth, Depth: 1, Tags: git.NoTags,
		RefSpecs: []config.RefSpec{config.RefSpec("+" + name.String() + ":" + name.String())},
	})
	if isRefNotFound(err) {
		return nil, &refError{fmt.Sprintf("reference %s not found (check spec.ref.name)", name)}
	}
	if err != nil {
		return nil, err
	}
	r, err := repo.Reference(name, true)
	if err != nil {
		return nil, &refError{fmt.Sprintf("reference %s not found (check spec.ref.name)", name)}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: r.Hash()}); err != nil {
		return nil, err
	}
	return repo, nil
}

func listTags(ctx context.Context, endpoint string, auth transport.AuthMethod) ([]string, error) {
	rem := git.NewRemote(nil, &config.RemoteConfig{Name: "origin", URLs: []string{endpoint}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, r := range refs {
		if r.Name().IsTag() && !strings.HasSuffix(r.Name().String(), "^{}") {
			tags = append(tags, r.Name().Short())
		}
	}
	return tags, nil
}

// highestTag is the highest tag that parses as a version and satisfies
// c. Flux parses tags leniently (v1.2, 1.2.0 both count) and so does
// this.
func highestTag(tags []string, c *semver.Constraints, rangeText string) (string, error) {
	type tv struct {
		tag string
		v   *semver.Version
	}
	var match []tv
	versions := 0
	for _, t := range tags {
		v, err := semver.NewVersion(t)
		if err != nil {
			continue
		}
		versions++
		if c.Check(v) {
			match = append(match, tv{t, v})
		}
	}
	if len(match) == 0 {
		return "", &refError{fmt.Sprintf("no tag matches spec.ref.semver %q (%d tags, %d of them versions); check the range or push a matching tag", rangeText, len(tags), versions)}
	}
	sort.SliceStable(match, func(i, j int) bool { return match[i].v.GreaterThan(match[j].v) })
	return match[0].tag, nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// explainGitRef is explainRemote for a GitRepository, whose credentials
// come from its spec.secretRef (or the flags that stand in for it).
func explainGitRef(err error, safe, raw string, a Auth) error {
	msg := redactText(err.Error(), raw, a)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%s: %s (check the GitRepository's spec.secretRef: username and password, or bearerToken; or --git-token/--git-username/--git-password)", safe, msg)
	case strings.Contains(msg, "knownhosts: key is unknown"):
		return fmt.Errorf("%s: the SSH host key is not in known_hosts (the secret's known_hosts or --known-hosts); add it: ssh-keyscan prints it", safe)
	case strings.Contains(msg, "knownhosts: key mismatch"):
		return fmt.Errorf("%s: the SSH host key does NOT match known_hosts: the server changed its key or someone is in between; check with the server's owner", safe)
	case strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("%s: the SSH server refused the key (the secret's identity): add its public half to the repository as a deploy key", safe)
	}
	return explainRemote(err, safe, raw, a)
}
