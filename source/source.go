// Package source fetches the Git repository tidegate reconciles from.
//
// LEAD'S STUB: only local directories work; the source helper replaces the
// internals (go-git clone over file://, HTTPS, SSH) while keeping this API.
package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
}

// Checkout is a repository on local disk at a resolved revision.
type Checkout struct {
	// Dir is the working tree root.
	Dir string
	// Revision is the resolved commit SHA, empty for a directory that is
	// not a Git repository.
	Revision string
	// Ref is the ref that was asked for, empty for the default branch.
	Ref string
	// URL is the source with credentials removed, safe to print.
	URL string

	cleanup func() error
}

// Close removes a temporary clone; it is a no-op for a local directory.
func (c *Checkout) Close() error {
	if c == nil || c.cleanup == nil {
		return nil
	}
	return c.cleanup()
}

type options struct {
	ref  string
	auth Auth
}

// Option configures Open.
type Option func(*options)

// WithRef selects a branch, tag or commit SHA.
func WithRef(ref string) Option { return func(o *options) { o.ref = ref } }

// WithAuth sets the credentials for a remote.
func WithAuth(a Auth) Option { return func(o *options) { o.auth = a } }

// Open makes the repository at url available on local disk.
func Open(ctx context.Context, url string, opts ...Option) (*Checkout, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := filepath.Abs(url)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("source %s is not a directory (remote sources are not implemented yet)", url)
	}
	return &Checkout{Dir: dir, Ref: o.ref, URL: url}, nil
}
