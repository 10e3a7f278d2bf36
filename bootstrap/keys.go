package bootstrap

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// AgeKey is the recipient of .sops.yaml and, when init made it, the file
// holding its private key.
type AgeKey struct {
	Recipient string `json:"recipient"`
	File      string `json:"file,omitempty"`
	// Created: this run generated the key (in a dry run: would generate).
	Created  bool `json:"created"`
	identity *age.X25519Identity
}

// DeployKey is the SSH key a CronJob reads the repository with.
type DeployKey struct {
	PublicKey string `json:"publicKey,omitempty"`
	File      string `json:"file"`
	Created   bool   `json:"created"`
	Installed bool   `json:"installed"`
	pem       []byte
}

// LoadAgeKey reads the age key of an existing file (the --age-key-out
// value), or makes a new one that WriteKeys saves. A dry run makes none:
// its recipient is a placeholder naming the file.
func LoadAgeKey(file string, dryRun bool) (*AgeKey, error) {
	b, err := readKeyFile(file)
	switch {
	case err == nil:
		ids, err := age.ParseIdentities(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("--age-key-out %s exists but holds no age key: %w; remove it, or name another file", file, err)
		}
		for _, id := range ids {
			if x, ok := id.(*age.X25519Identity); ok {
				return &AgeKey{Recipient: x.Recipient().String(), File: file}, nil
			}
		}
		return nil, fmt.Errorf("--age-key-out %s holds no X25519 age key (AGE-SECRET-KEY-1…); name another file", file)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case dryRun:
		return &AgeKey{Recipient: "NEW-AGE-RECIPIENT-OF-" + filepath.Base(file), File: file, Created: true}, nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate an age key: %w", err)
	}
	return &AgeKey{Recipient: id.Recipient().String(), File: file, Created: true, identity: id}, nil
}

// LoadDeployKey reads the deploy key of an existing file (the
// --deploy-key-out value), so that a second run installs and configures
// the same key, or makes an ed25519 key that WriteKeys saves.
func LoadDeployKey(file, comment string, dryRun bool) (*DeployKey, error) {
	b, err := readKeyFile(file)
	switch {
	case err == nil:
		var pub ssh.PublicKey
		signer, err := ssh.ParsePrivateKey(b)
		var missing *ssh.PassphraseMissingError
		switch {
		case err == nil:
			pub = signer.PublicKey()
		case errors.As(err, &missing) && missing.PublicKey != nil:
			// The CronJob then needs TIDEGATE_SSH_KEY_PASSPHRASE; the public
			// key is all init needs.
			pub = missing.PublicKey
		default:
			return nil, fmt.Errorf("--deploy-key-out %s exists but is not an SSH private key: %w; remove it, or name another file", file, err)
		}
		return &DeployKey{PublicKey: authorizedKey(pub, comment), File: file}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case dryRun:
		return &DeployKey{File: file, Created: true}, nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the deploy key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encode the deploy key: %w", err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode the deploy key: %w", err)
	}
	return &DeployKey{PublicKey: authorizedKey(sp, comment), File: file, Created: true, pem: pem.EncodeToMemory(block)}, nil
}

// readKeyFile reads an existing key file; anything but a regular file
// (a terminal, a pipe) is refused, so no key is ever echoed.
func readKeyFile(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: tidegate writes private keys only to files", p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

func authorizedKey(pub ssh.PublicKey, comment string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment
}

// Fingerprint is the SHA256 fingerprint of an authorized_keys line, ""
// when it is none.
func Fingerprint(authorized string) string {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorized))
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}

// WriteKeys saves the keys this run generated. A file is created, never
// replaced: losing a key that is installed somewhere locks the cluster
// out.
func WriteKeys(ak *AgeKey, dk *DeployKey) error {
	if ak != nil && ak.identity != nil {
		text := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), ak.Recipient, ak.identity)
		if err := writeSecretFile(ak.File, []byte(text)); err != nil {
			return fmt.Errorf("--age-key-out: %w", err)
		}
	}
	if dk != nil && dk.pem != nil {
		if err := writeSecretFile(dk.File, dk.pem); err != nil {
			return fmt.Errorf("--deploy-key-out: %w", err)
		}
	}
	return nil
}

// writeSecretFile creates p with mode 0600, failing when it exists. Key
// files live outside the repository, so atomicfile.WriteIn (confined to
// it) does not apply; O_EXCL is what keeps an existing key.
func writeSecretFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("create the directory of %s: %w", p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // the write error is the one to report
		os.Remove(p)
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(p)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
