// Package source fetches the Git repository tidegate reconciles, and on
// the write side pushes the branches that pull requests propose.
//
// A source is a local directory (used as it is, uncommitted edits
// included, which is what a laptop dry-run wants), a local bare repository
// or file:// URL, an https:// URL (token or basic auth), an ssh:// or
// scp-like git@host:org/repo URL (deploy key, host checked against
// known_hosts), or a git:// URL. Remotes are cloned into a temporary
// directory that Close removes, shallowly when the ref allows it.
//
// The sources a Flux Kustomization names come the same way: a
// GitRepository is Open with WithGitRef (its spec.ref, with Flux's
// precedence and its "master" default) and the credentials AuthFromSecret
// reads from its secretRef; an OCIRepository is an artifact that
// PullArtifact pulls from a registry, as `flux push artifact` made it,
// into a temporary directory. An artifact is untrusted input: its layer's
// digest is checked and its extraction is confined and capped.
//
// Credentials never appear in what tidegate prints: URLs are redacted
// with Redact, and errors from the Git libraries are redacted before they
// are returned.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// Auth holds the credentials for a remote. The zero value is anonymous.
type Auth struct {
	// Username and Password are HTTPS basic auth; Token alone is sent as
	// the password of a basic-auth user (GitHub, GitLab and Gitea accept
	// any user name with a token).
	Username, Password, Token string
	// SSHKey is a PEM private key (deploy key) and SSHKeyPassphrase its
	// passphrase, if any.
	SSHKey           []byte
	SSHKeyPassphrase string
	// KnownHosts is the contents of a known_hosts file; unknown host keys
	// are refused unless InsecureIgnoreHostKey is set.
	KnownHosts            []byte
	InsecureIgnoreHostKey bool
	// BearerToken is sent as "Authorization: Bearer" over HTTPS (a Flux
	// secret's bearerToken), instead of basic auth.
	BearerToken string
	// CACert is PEM certificates trusted for the HTTPS server besides
	// the system's (a Flux secret's ca.crt).
	CACert []byte
}

// Checkout is a repository on local disk at a resolved revision.
type Checkout struct {
	// Dir is the working tree root.
	Dir string
	// Revision is the resolved commit SHA, empty for a directory that is
	// not a Git repository.
	Revision string
	// Ref is the ref that was asked for; Branch the branch checked out
	// (the remote's default branch when Ref was empty).
	Ref, Branch string
	// URL is the source with credentials removed, safe to print.
	URL string
	// Tag is the tag checked out when a GitRef named one (Tag, SemVer, or
	// a Name under refs/tags/), or the OCI tag pulled.
	Tag string
	// Ignore is the spec.ignore given with WithIgnore, for render to
	// apply (.gitignore syntax).
	Ignore string
	// File is the layer of an OCI artifact pulled with operation "copy":
	// the tar+gzip blob as it is, inside Dir. Empty otherwise.
	File string
	// Annotations are the OCI artifact's manifest annotations
	// (org.opencontainers.image.source, .revision, .created as
	// `flux push artifact` sets them). Nil for Git.
	Annotations map[string]string

	remote  string // where to fetch and push; "" when there is none
	pointer string // the branch, tag or ref name of a GitRef, for FluxRevision
	auth    Auth
	net     network
	log     *slog.Logger
	cleanup func() error
}

// Temporary reports whether Dir is a clone that Close removes: edits
// written there are lost unless they are pushed.
func (c *Checkout) Temporary() bool { return c != nil && c.cleanup != nil }

// Remote is where the checkout fetches from and pushes to, its password
// or token masked (see Redact): the URL of a cloned source, the origin
// remote of a working tree, "" when there is none.
func (c *Checkout) Remote() string {
	if c == nil || c.remote == "" {
		return ""
	}
	return Redact(c.remote)
}

// Close removes a temporary clone; it is a no-op for a local directory.
func (c *Checkout) Close() error {
	if c == nil || c.cleanup == nil {
		return nil
	}
	return c.cleanup()
}

type options struct {
	ref    string
	gitRef *GitRef
	ignore string
	auth   Auth
	log    *slog.Logger
	net    network
}

// Option configures Open.
type Option func(*options)

// WithRef selects a branch, tag or commit SHA.
func WithRef(ref string) Option { return func(o *options) { o.ref = ref } }

// WithAuth sets the credentials for a remote.
func WithAuth(a Auth) Option { return func(o *options) { o.auth = a } }

// WithLogger sets where progress goes.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Open makes the repository at rawURL available on local disk.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Checkout, error) {
	o := options{log: slog.New(slog.DiscardHandler), net: defaultNetwork()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.gitRef != nil {
		if isLocalDir(rawURL) {
			return nil, fmt.Errorf("%s is a working tree: a GitRepository ref (%s) needs a repository to clone; pass it as file://%s", rawURL, o.gitRef, absPath(rawURL))
		}
		return cloneGitRef(ctx, rawURL, o)
	}
	if isLocalDir(rawURL) {
		c, err := openDir(rawURL, o)
		if c != nil {
			c.Ignore = o.ignore
		}
		return c, err
	}
	c, err := clone(ctx, rawURL, o)
	if c != nil {
		c.Ignore = o.ignore
	}
	return c, err
}

// isLocalDir tells a working tree (or any directory that is not a bare
// repository) from a URL or a bare repository to clone.
func isLocalDir(s string) bool {
	if strings.Contains(s, "://") {
		return false
	}
	fi, err := os.Stat(s)
	if err != nil || !fi.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(s, "HEAD"))
	bare := err == nil && exists(filepath.Join(s, "objects")) && !exists(filepath.Join(s, ".git"))
	return !bare
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func openDir(path string, o options) (*Checkout, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c := &Checkout{Dir: dir, URL: path, Ref: o.ref, auth: o.auth, log: o.log, net: o.net}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if o.ref != "" {
			return nil, fmt.Errorf("--ref %s: %s is not a Git repository", o.ref, path)
		}
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if o.ref != "" {
		// A working tree is read as it is; --ref would silently be
		// ignored, so say what to do instead.
		return nil, fmt.Errorf("--ref %s with a local working tree: check the ref out first, or pass the repository as file://%s", o.ref, dir)
	}
	if head, err := repo.Head(); err == nil {
		c.Revision = head.Hash().String()
		if head.Name().IsBranch() {
			c.Branch = head.Name().Short()
		}
	}
	if rem, err := repo.Remote("origin"); err == nil && len(rem.Config().URLs) > 0 {
		c.remote = rem.Config().URLs[0]
	}
	return c, nil
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// newClone prepares a clone of rawURL at ref: the endpoint (a local
// repository by its absolute path), its transport credentials, and a
// Checkout in a fresh temporary directory that Close removes.
func newClone(rawURL, ref string, o options) (*Checkout, transport.AuthMethod, error) {
	endpoint := rawURL
	if fi, err := os.Stat(rawURL); err == nil && fi.IsDir() {
		endpoint = absPath(rawURL)
	}
	auth, err := transportAuth(endpoint, o.auth, o.net)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "tidegate-source-")
	if err != nil {
		return nil, nil, err
	}
	c := &Checkout{Dir: dir, URL: Redact(rawURL), Ref: ref, remote: endpoint, auth: o.auth, log: o.log, net: o.net,
		cleanup: func() error { return os.RemoveAll(dir) }}
	return c, auth, nil
}

func clone(ctx context.Context, rawURL string, o options) (*Checkout, error) {
	c, auth, err := newClone(rawURL, o.ref, o)
	if err != nil {
		return nil, err
	}
	safe, endpoint, dir := c.URL, c.remote, c.Dir
	start := time.Now()
	o.log.Info("cloning", "source", safe, "ref", o.ref)
	ctx, cancel := o.net.bound(ctx, "the clone")
	defer cancel()

	var repo *git.Repository
	cloneOpts := func(ref plumbing.ReferenceName, depth int) *git.CloneOptions {
		return &git.CloneOptions{URL: endpoint, Auth: auth, ReferenceName: ref, SingleBranch: ref != "", Depth: depth, Tags: git.NoTags}
	}
	err = untilDone(ctx, dir, func() (err error) {
		switch {
		case o.ref == "":
			repo, err = git.PlainCloneContext(ctx, dir, false, cloneOpts("", 1))
		case shaPattern.MatchString(o.ref):
			// A commit needs the history that holds it.
			repo, err = git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: endpoint, Auth: auth, Tags: git.NoTags})
			if err == nil {
				err = checkoutCommit(repo, o.ref)
			}
		default:
			repo, err = git.PlainCloneContext(ctx, dir, false, cloneOpts(plumbing.NewBranchReferenceName(o.ref), 1))
			if isRefNotFound(err) {
				_ = os.RemoveAll(dir)
				_ = os.MkdirAll(dir, 0o700)
				repo, err = git.PlainCloneContext(ctx, dir, false, cloneOpts(plumbing.NewTagReferenceName(o.ref), 1))
			}
			if isRefNotFound(err) {
				err = fmt.Errorf("branch or tag %q not found in %s (check --ref)", o.ref, safe)
			}
		}
		return err
	})
	if err != nil {
		c.Close()
		return nil, explainRemote(interrupted(ctx, err), safe, rawURL, o.auth)
	}
	head, err := repo.Head()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", safe, err)
	}
	c.Revision = head.Hash().String()
	if head.Name().IsBranch() {
		c.Branch = head.Name().Short()
	}
	o.log.Info("cloned", "source", safe, "revision", c.Revision, "duration", time.Since(start).Round(time.Millisecond))
	return c, nil
}

func checkoutCommit(repo *git.Repository, ref string) error {
	h, err := repo.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return fmt.Errorf("commit %q not found (check --ref): %w", ref, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	return wt.Checkout(&git.CheckoutOptions{Hash: *h})
}

func isRefNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nf git.NoMatchingRefSpecError
	return errors.As(err, &nf) || errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// transportAuth turns Auth into go-git's, for the URL's protocol, with
// the network limits of n.
func transportAuth(rawURL string, a Auth, n network) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", Redact(rawURL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		installRouter()
		user, pass := a.Username, a.Password
		if a.Token != "" {
			pass = a.Token
			if user == "" {
				user = "git"
			}
		}
		if user == "" && pass == "" && ep.User != "" {
			user, pass = ep.User, ep.Password
		}
		h := &httpAuth{client: n.client}
		if len(a.CACert) > 0 {
			c, err := clientWithCA(a.CACert)
			if err != nil {
				return nil, err
			}
			h.client = c
		}
		switch {
		case user != "" || pass != "":
			h.inner = &githttp.BasicAuth{Username: user, Password: pass}
		case a.BearerToken != "":
			h.inner = &githttp.TokenAuth{Token: a.BearerToken}
		}
		return h, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		if len(a.SSHKey) == 0 {
			return nil, fmt.Errorf("source %s is SSH: give a deploy key with --ssh-key-file", Redact(rawURL))
		}
		keys, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("read the SSH key: %w (a PEM or OpenSSH private key; pass --ssh-passphrase if it is encrypted)", err)
		}
		if a.InsecureIgnoreHostKey {
			//nolint:gosec // G106: only with --insecure-skip-host-key-check, which the user asked for
			keys.HostKeyCallback = ssh.InsecureIgnoreHostKey()
			return sshAuth{AuthMethod: keys, dial: n.sshDial}, nil
		}
		if len(a.KnownHosts) == 0 {
			return nil, fmt.Errorf("source %s is SSH and no known_hosts was given: pass --known-hosts FILE (get the line with: ssh-keyscan -p %d %s)", Redact(rawURL), portOr(ep.Port, 22), ep.Host)
		}
		cb, algos, err := knownHosts(a.KnownHosts, net.JoinHostPort(ep.Host, fmt.Sprint(portOr(ep.Port, 22))))
		if err != nil {
			return nil, err
		}
		keys.HostKeyCallback, keys.HostKeyAlgorithms = cb, algos
		return sshAuth{AuthMethod: keys, dial: n.sshDial}, nil
	}
	return nil, nil
}

func portOr(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

// knownHosts builds a host key check from known_hosts text. The file
// exists only for the call: the parser reads files.
func knownHosts(text []byte, hostport string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "tidegate-known-hosts-")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(text); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	// A failed close can leave the file short, which would silently
	// trust fewer (or garbled) host keys than --known-hosts gave.
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("read --known-hosts: %w", err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostport), nil
}

// explainRemote redacts a Git error and says what to do about it.
func explainRemote(err error, safe, raw string, a Auth) error {
	msg := redactText(err.Error(), raw, a)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%s: %s (check --git-token or --git-username/--git-password, and that the token may read the repository)", safe, msg)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s: repository not found (check the URL, and that the credentials can see it)", safe)
	case strings.Contains(msg, "knownhosts: key is unknown"):
		return fmt.Errorf("%s: the SSH host key is not in --known-hosts; add it (ssh-keyscan prints it) or, for a throwaway server only, pass --insecure-skip-host-key-check", safe)
	case strings.Contains(msg, "knownhosts: key mismatch"):
		return fmt.Errorf("%s: the SSH host key does NOT match --known-hosts: the server changed its key or someone is in between; check with the server's owner", safe)
	case strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("%s: the SSH server refused the key (add the deploy key's public half to the repository)", safe)
	}
	// Keep these in the chain for callers to tell apart: they carry no
	// credentials (the limit names the host only), unlike the transport
	// errors around them.
	var de *DeadlineError
	var le *httpclient.LimitError
	switch {
	case errors.As(err, &de):
		return fmt.Errorf("%s: %w", safe, de)
	case errors.Is(err, context.Canceled) && strings.HasPrefix(err.Error(), "interrupted"):
		return fmt.Errorf("%s: %w", safe, err)
	case errors.As(err, &le):
		return fmt.Errorf("%s: %w", safe, le)
	}
	return fmt.Errorf("%s: %s", safe, msg)
}

// redactText removes every credential from s.
func redactText(s, raw string, a Auth) string {
	if raw != "" {
		s = strings.ReplaceAll(s, raw, Redact(raw))
	}
	for _, secret := range []string{a.Token, a.Password, a.SSHKeyPassphrase, a.BearerToken} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}
