package forge

import (
	"bytes"
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// DeployKeyAdder installs SSH deploy keys: the credential a CronJob reads
// its repository with. It is separate from Forge because only `tidegate
// init` needs it, and a token that may open pull requests often may not
// manage keys. GitHub, GitLab and Gitea all implement it.
type DeployKeyAdder interface {
	// AddDeployKey adds publicKey, one authorized_keys line ("ssh-ed25519
	// AAAA… comment"), as a deploy key of the repository, read-only or
	// with push access. It lists the repository's keys first and does
	// nothing when one has the same key material, whatever its title,
	// comment or access: a key someone already installed is theirs to
	// change, and a second run must not fail on GitHub's "key is already
	// in use".
	AddDeployKey(ctx context.Context, title, publicKey string, readOnly bool) error
}

// parseDeployKey checks a public key before any request, so a malformed
// key is reported as such instead of as the forge's validation error.
func parseDeployKey(p Provider, repo, publicKey string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(publicKey))
	if err != nil {
		return nil, &Error{Provider: p, Repo: repo, Op: "add deploy key", Message: fmt.Sprintf("the public key is not in authorized_keys format (ssh-ed25519 AAAA… comment): %v", err), kind: ErrInvalid, err: err}
	}
	return k, nil
}

// sameKey compares key material: forges return keys without the comment
// (GitHub) or normalized, so the text differs from what was sent.
func sameKey(want ssh.PublicKey, listed string) bool {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(listed))
	return err == nil && bytes.Equal(k.Marshal(), want.Marshal())
}
