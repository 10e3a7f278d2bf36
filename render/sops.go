package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/pgp"
	"google.golang.org/grpc"
)

// Keys are the private keys a render may decrypt SOPS files with. Only
// these are used: not ~/.gnupg, not SOPS_AGE_KEY, not a cloud KMS, so a
// render on a laptop and in CI decrypts exactly the same files.
type Keys struct {
	// Age holds age identity files' text ("AGE-SECRET-KEY-1…" lines;
	// comments allowed).
	Age []string
	// PGP holds ASCII-armored PGP private keys. They are imported into a
	// throwaway GnuPG home for the render (gpg must be installed).
	PGP [][]byte
}

// Empty reports whether no key was given.
func (k Keys) Empty() bool { return len(k.Age) == 0 && len(k.PGP) == 0 }

// decryptor decrypts SOPS files with the given keys only. It implements
// sops' KeyServiceClient in process, as the key service Flux runs.
type decryptor struct {
	age     age.ParsedIdentities
	pgpKeys [][]byte

	once    sync.Once
	gpgHome pgp.GnuPGHome
	gpgErr  error

	// report is Options.Decrypted.
	report func(file string, err error)
}

func newDecryptor(k Keys) (*decryptor, error) {
	d := &decryptor{pgpKeys: k.PGP}
	for i, text := range k.Age {
		if err := d.age.Import(text); err != nil {
			// The error of age's parser may quote the key; say which one
			// failed instead.
			return nil, fmt.Errorf("age key %d is not a valid age identity file (expected AGE-SECRET-KEY-1… lines)", i+1)
		}
	}
	return d, nil
}

func (d *decryptor) close() {
	if d.gpgHome != "" {
		_ = d.gpgHome.Cleanup()
	}
}

// importPGP creates the GnuPG home on first use: most repositories use
// age only and should not need gpg installed.
func (d *decryptor) importPGP(ctx context.Context) error {
	d.once.Do(func() {
		if len(d.pgpKeys) == 0 {
			return
		}
		home, err := pgp.NewGnuPGHome()
		if err != nil {
			d.gpgErr = fmt.Errorf("create a GnuPG home for the PGP keys: %w", err)
			return
		}
		d.gpgHome = home
		for i, k := range d.pgpKeys {
			if err := home.ImportContext(ctx, k); err != nil {
				d.gpgErr = fmt.Errorf("import PGP key %d: %w (is gpg installed?)", i+1, err)
				return
			}
		}
	})
	return d.gpgErr
}

// Encrypt is not needed for rendering.
func (d *decryptor) Encrypt(context.Context, *keyservice.EncryptRequest, ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return nil, errors.New("tidegate does not encrypt")
}

// Decrypt decrypts one data key with the age or PGP keys given.
func (d *decryptor) Decrypt(ctx context.Context, req *keyservice.DecryptRequest, _ ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	switch k := req.GetKey().GetKeyType().(type) {
	case *keyservice.Key_AgeKey:
		mk := &age.MasterKey{Recipient: k.AgeKey.Recipient, EncryptedKey: string(req.Ciphertext)}
		if len(d.age) == 0 {
			return nil, errors.New("no age key given")
		}
		d.age.ApplyToMasterKey(mk)
		plain, err := mk.Decrypt()
		if err != nil {
			return nil, errors.New("none of the age keys given matches")
		}
		return &keyservice.DecryptResponse{Plaintext: plain}, nil
	case *keyservice.Key_PgpKey:
		if len(d.pgpKeys) == 0 {
			return nil, errors.New("no PGP key given")
		}
		if err := d.importPGP(ctx); err != nil {
			return nil, err
		}
		mk := pgp.NewMasterKeyFromFingerprint(k.PgpKey.Fingerprint)
		mk.EncryptedKey = string(req.Ciphertext)
		d.gpgHome.ApplyToMasterKey(mk)
		plain, err := mk.DecryptContext(ctx)
		if err != nil {
			return nil, errors.New("none of the PGP keys given matches")
		}
		return &keyservice.DecryptResponse{Plaintext: plain}, nil
	default:
		return nil, fmt.Errorf("key type %T is not supported (tidegate decrypts with age and PGP keys only)", k)
	}
}

// sopsMAC finds the marker every SOPS-encrypted file carries, whatever
// its format: the "mac" of the sops metadata block, or sops_mac= in
// dotenv files.
var sopsMAC = regexp.MustCompile(`(?m)(^|["\s])(sops_)?mac["']?\s*[:=]\s*["']?ENC\[`)

// isEncrypted reports whether data looks like a SOPS file.
func isEncrypted(data []byte) bool {
	return bytes.Contains(data, []byte("sops")) && sopsMAC.Match(data)
}

func formatFor(path string) formats.Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return formats.Yaml
	case ".json":
		return formats.Json
	case ".env":
		return formats.Dotenv
	case ".ini":
		return formats.Ini
	}
	if strings.HasSuffix(strings.ToLower(path), ".env") {
		return formats.Dotenv
	}
	return formats.Yaml
}

// decrypt returns the plaintext of a SOPS file. name is what errors
// call the file (repository-relative).
func (d *decryptor) decrypt(ctx context.Context, name string, data []byte) ([]byte, error) {
	plain, err := d.decryptFile(ctx, name, data)
	if d.report != nil {
		d.report(name, err)
	}
	return plain, err
}

func (d *decryptor) decryptFile(ctx context.Context, name string, data []byte) ([]byte, error) {
	store := common.StoreForFormat(formatFor(name), config.NewStoresConfig())
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: read SOPS file: %w", name, err)
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{d}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decrypt: it is encrypted for %s; give tidegate one of those keys (--age-key-file, SOPS_AGE_KEY, --pgp-key-file or --sops-secret)", name, recipients(tree.Metadata))
	}
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		return nil, fmt.Errorf("%s: decrypt values: %w", name, err)
	}
	want, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || want != mac {
		return nil, fmt.Errorf("%s: the SOPS message authentication code does not match: the file was changed after it was encrypted; re-encrypt it with sops", name)
	}
	out, err := store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("%s: write plaintext: %w", name, err)
	}
	return out, nil
}

// recipients lists who can decrypt a file, for errors: age recipients
// and PGP fingerprints are public.
func recipients(m sops.Metadata) string {
	var out []string
	for _, g := range m.KeyGroups {
		for _, k := range g {
			switch k := k.(type) {
			case *age.MasterKey:
				out = append(out, "age "+k.Recipient)
			case *pgp.MasterKey:
				out = append(out, "PGP "+k.Fingerprint)
			default:
				out = append(out, k.TypeToIdentifier()+" "+k.ToString())
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "no known recipient"
	}
	return strings.Join(out, ", ")
}
