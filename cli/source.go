package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/tidegate/tidegate/source"
)

// SourceFlags select the repository, revision and paths a command reads.
// Commands embed it so that render, diff, reconcile and images all accept
// the same flags.
type SourceFlags struct {
	Source string   `help:"Git repository: a local directory, a file:// or bare repo path, https://host/org/repo, or git@host:org/repo.git (SSH)." default:"." env:"TIDEGATE_SOURCE" placeholder:"URL|DIR"`
	Ref    string   `help:"Branch, tag or commit SHA to read. Empty: the remote's default branch, or the directory as it is." env:"TIDEGATE_REF" placeholder:"REF"`
	Path   []string `help:"Path inside the repository to render: a kustomize overlay or a plain YAML directory. Repeatable." default:"." env:"TIDEGATE_PATHS" sep:"," type:"paths" placeholder:"DIR"`

	GitUsername              string `help:"HTTPS user name (default with a token: git)." env:"TIDEGATE_GIT_USERNAME" placeholder:"USER"`
	GitPassword              string `help:"HTTPS password." env:"TIDEGATE_GIT_PASSWORD" placeholder:"PASSWORD"`
	GitToken                 string `help:"HTTPS token (GitHub, GitLab, Gitea). Never logged." env:"TIDEGATE_GIT_TOKEN" placeholder:"TOKEN"`
	SSHKeyFile               string `help:"SSH private key (deploy key) for git@ and ssh:// sources." env:"TIDEGATE_SSH_KEY_FILE" type:"path" placeholder:"FILE"`
	SSHPassphrase            string `help:"Passphrase of --ssh-key-file, if it has one." env:"TIDEGATE_SSH_KEY_PASSPHRASE" placeholder:"PASS"`
	KnownHosts               string `help:"known_hosts file used to verify the SSH server. Unknown hosts are refused." env:"TIDEGATE_KNOWN_HOSTS" type:"path" placeholder:"FILE"`
	InsecureSkipHostKeyCheck bool   `help:"Accept any SSH host key. Only for throwaway test servers." env:"TIDEGATE_INSECURE_SKIP_HOST_KEY_CHECK"`
}

// Open fetches the source. The caller closes the checkout.
func (f *SourceFlags) Open(ctx context.Context) (*source.Checkout, error) {
	auth, err := f.auth()
	if err != nil {
		return nil, err
	}
	return source.Open(ctx, f.Source, source.WithRef(f.Ref), source.WithAuth(auth))
}

// auth is the credentials the flags give for the source's host.
func (f *SourceFlags) auth() (source.Auth, error) {
	auth := source.Auth{
		Username:              f.GitUsername,
		Password:              f.GitPassword,
		Token:                 f.GitToken,
		SSHKeyPassphrase:      f.SSHPassphrase,
		InsecureIgnoreHostKey: f.InsecureSkipHostKeyCheck,
	}
	var err error
	if f.SSHKeyFile != "" {
		if auth.SSHKey, err = os.ReadFile(f.SSHKeyFile); err != nil {
			return auth, fmt.Errorf("read --ssh-key-file: %w", err)
		}
	}
	if f.KnownHosts != "" {
		if auth.KnownHosts, err = os.ReadFile(f.KnownHosts); err != nil {
			return auth, fmt.Errorf("read --known-hosts: %w", err)
		}
	}
	return auth, nil
}
