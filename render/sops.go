package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

	"github.com/tidegate/tidegate/internal/plaintext"
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
	// plain records every decrypted value; paths, per file, the key
	// paths ("data.password") whose values were decrypted.
	plain *plaintext.Set
	paths map[string]map[string]bool
	// count is the number of files decrypted so far.
	count int
	// cause is why the last key-service call failed, when that is more
	// than "no key matches" (gpg missing, a failed import).
	cause error
}

func newDecryptor(k Keys) (*decryptor, error) {
	d := &decryptor{pgpKeys: k.PGP, plain: plaintext.New(), paths: map[string]map[string]bool{}}
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
		// sops runs gpg to import the keys and would say only that the
		// import failed; say why.
		gpg := os.Getenv(pgp.SopsGpgExecEnv)
		if gpg == "" {
			gpg = "gpg"
		}
		if _, err := exec.LookPath(gpg); err != nil {
			d.gpgErr = fmt.Errorf("the PGP keys need GnuPG, but %s is not installed or not on PATH (install gnupg, or set %s to the gpg binary)", gpg, pgp.SopsGpgExecEnv)
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
				// gpg's message names the key (ID, user), never its
				// secret material.
				d.gpgErr = fmt.Errorf("import PGP key %d into GnuPG: %w (check it is an ASCII-armored private key: gpg --armor --export-secret-keys FINGERPRINT)", i+1, err)
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
			d.cause = err
			return nil, err
		}
		mk := pgp.NewMasterKeyFromFingerprint(k.PgpKey.Fingerprint)
		mk.EncryptedKey = string(req.Ciphertext)
		d.gpgHome.ApplyToMasterKey(mk)
		plain, err := mk.DecryptContext(ctx)
		if err != nil {
			if !strings.Contains(err.Error(), "No secret key") {
				d.cause = fmt.Errorf("gpg could not decrypt the data key: %w", err)
			}
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

func (d *decryptor) decryptFile(ctx context.Context, name string, data []byte) (out []byte, err error) {
	defer func() {
		// sops panics on some malformed files; its message is not shown,
		// as it may hold a value.
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%s: sops cannot read this file: it was edited after it was encrypted; re-encrypt the file with sops", name)
		}
	}()
	store := common.StoreForFormat(formatFor(name), config.NewStoresConfig())
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		if strings.Contains(err.Error(), "parsing time") {
			return nil, fmt.Errorf("%s: the SOPS metadata has no valid lastmodified time: the file was edited after it was encrypted; re-encrypt the file with sops", name)
		}
		return nil, fmt.Errorf("%s: read SOPS file: %w (if the file was edited by hand, re-encrypt the file with sops)", name, err)
	}
	d.cause = nil
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{d}, nil)
	if err != nil {
		if d.cause != nil {
			return nil, fmt.Errorf("%s: cannot decrypt: %w", name, d.cause)
		}
		return nil, fmt.Errorf("%s: cannot decrypt: it is encrypted for %s; give tidegate one of those keys (--age-key-file, SOPS_AGE_KEY, --pgp-key-file or --sops-secret)", name, recipients(tree.Metadata))
	}
	cipher := &recordingCipher{Cipher: aes.NewCipher()}
	mac, err := tree.Decrypt(key, cipher)
	for _, v := range cipher.values {
		d.plain.Add(v.value)
	}
	if err != nil {
		// sops' own error can quote the decrypted value (a type:str
		// changed to type:int: strconv.Atoi: parsing "…"); it is never
		// shown, only the key path and what to do.
		if cipher.failure != nil {
			return nil, fmt.Errorf("%s: %w", name, cipher.failure)
		}
		return nil, fmt.Errorf("%s: a value cannot be decrypted: the file was edited after it was encrypted; re-encrypt the file with sops", name)
	}
	want, err := cipher.Cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || want != mac {
		return nil, fmt.Errorf("%s: the SOPS message authentication code does not match: the file was changed after it was encrypted (a value or the lastmodified time edited); re-encrypt the file with sops", name)
	}
	out, err = store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("%s: write plaintext: %w", name, err)
	}
	// A generator may take the whole file as one value (files: of a
	// secretGenerator or configMapGenerator).
	d.plain.AddWhole(string(out))
	paths := d.paths[name]
	if paths == nil {
		paths = map[string]bool{}
		d.paths[name] = paths
	}
	for _, v := range cipher.values {
		paths[v.path] = true
	}
	d.count++
	return out, nil
}

// identity are the key paths of an object's identity. Every report
// names an object by its kind, namespace and name, so they are not
// secret even when a file encrypts every value (no --encrypted-regex);
// recording them would mask every object's name in every report.
var identity = map[string]bool{"apiVersion": true, "kind": true, "metadata.name": true, "metadata.namespace": true}

// recordingCipher is sops' AES cipher that remembers what it decrypted
// and replaces sops' errors, which can quote a value, by one that names
// the key path only.
type recordingCipher struct {
	sops.Cipher
	values  []decryptedValue
	failure error
}

type decryptedValue struct {
	path  string // "data.password"
	value any
}

func (c *recordingCipher) Decrypt(ciphertext string, key []byte, additionalData string) (v any, err error) {
	path := strings.ReplaceAll(strings.TrimSuffix(additionalData, ":"), ":", ".")
	defer func() {
		// sops' cipher panics on some edited types (type:bytes: a []byte
		// used as a map key); a hostile file must not crash the run.
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("the value at %s cannot be decrypted: sops cannot handle its ENC[…] type (it was edited); re-encrypt the file with sops", pathOrRoot(path))
			c.failure = err
		}
	}()
	v, err = c.Cipher.Decrypt(ciphertext, key, additionalData)
	if err != nil {
		c.failure = valueError(path, err)
		return nil, c.failure
	}
	if identity[path] {
		return v, nil
	}
	if cm, ok := v.(sops.Comment); ok {
		// Comments are encrypted too, and kustomize keeps some.
		c.values = append(c.values, decryptedValue{path: path, value: strings.TrimSpace(cm.Value)})
		return v, nil
	}
	c.values = append(c.values, decryptedValue{path: path, value: v})
	return v, nil
}

// valueError says what went wrong with the value at path without the
// words of sops' error, which may hold the plaintext.
func valueError(path string, err error) error {
	msg := err.Error()
	var why string
	switch {
	case strings.HasPrefix(msg, "Could not decrypt with AES_GCM"):
		why = "its ciphertext does not authenticate: it was edited, or moved from another key"
	case strings.HasPrefix(msg, "Input string") || strings.Contains(msg, "does not match sops' data format"):
		why = "it is not a SOPS-encrypted value (ENC[AES256_GCM,…]): it was edited by hand"
	case strings.HasPrefix(msg, "Unknown datatype"):
		why = "its ENC[…] type is unknown: it was edited"
	default:
		why = "it does not parse as the type its ENC[…] block names (the type: was edited)"
	}
	return fmt.Errorf("the value at %s cannot be decrypted: %s; re-encrypt the file with sops", pathOrRoot(path), why)
}

func pathOrRoot(p string) string {
	if p == "" {
		return "the top level"
	}
	return p
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
