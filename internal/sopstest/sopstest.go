// Package sopstest encrypts files for tests as `sops --encrypt` would,
// with the sops library itself, so that tests need no sops binary and no
// key committed to the repository.
package sopstest

import (
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/keyservice"
	sopsversion "github.com/getsops/sops/v3/version"
)

// NewAgeKey generates an age identity. Its String() is the
// AGE-SECRET-KEY-1… text a key file holds.
func NewAgeKey(tb testing.TB) *age.X25519Identity {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// EncryptYAML encrypts the data and stringData of a YAML manifest for an
// age recipient, as `sops --encrypt --age RECIPIENT --encrypted-regex
// '^(data|stringData)$'` does.
func EncryptYAML(tb testing.TB, recipient string, plain []byte) []byte {
	tb.Helper()
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		tb.Fatal(err)
	}
	return Encrypt(tb, mk, formats.Yaml, plain, "^(data|stringData)$")
}

// Encrypt encrypts plain, a file of the given format, for one master key
// (age, PGP, ...). regex selects the keys whose values are encrypted, as
// --encrypted-regex does; empty encrypts every value not suffixed
// _unencrypted, sops' default.
func Encrypt(tb testing.TB, mk keys.MasterKey, format formats.Format, plain []byte, regex string) []byte {
	tb.Helper()
	store := common.StoreForFormat(format, config.NewStoresConfig())
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		tb.Fatal(err)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups:      []sops.KeyGroup{{mk}},
		EncryptedRegex: regex,
		Version:        sopsversion.Version,
	}}
	if regex == "" {
		tree.Metadata.UnencryptedSuffix = "_unencrypted"
	}
	key, errs := tree.GenerateDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()})
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &tree, Cipher: aes.NewCipher(), DataKey: key}); err != nil {
		tb.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
