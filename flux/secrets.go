package flux

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// The key suffixes kustomize-controller reads in a decryption Secret.
const (
	ageKeySuffix = ".agekey"
	pgpKeySuffix = ".asc"
)

// bech32 is the alphabet of age's identities (upper case, as age writes
// secret keys).
const bech32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"

// DecryptionKeys reads the SOPS keys of a spec.decryption.secretRef Secret
// as kustomize-controller does: a data key ending in .agekey holds age
// identities (one a line, # comments), one ending in .asc an armored PGP
// private key; other keys (cloud KMS credentials, a Vault token) are
// ignored. Keys are read in name order. Errors name the data key and the
// line, never the key material.
func DecryptionKeys(data map[string][]byte) (age []string, pgp [][]byte, err error) {
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch filepath.Ext(name) {
		case ageKeySuffix:
			ids, err := ageIdentities(data[name])
			if err != nil {
				return nil, nil, fmt.Errorf("data key %s: %w", quote(name), err)
			}
			age = append(age, ids...)
		case pgpKeySuffix:
			if err := armoredPrivateKey(data[name]); err != nil {
				return nil, nil, fmt.Errorf("data key %s: %w", quote(name), err)
			}
			pgp = append(pgp, data[name])
		}
	}
	return age, pgp, nil
}

// ageIdentities reads a file of age identities as age.ParseIdentities
// does: blank lines and # comments skipped, every other line one native
// identity (X25519 AGE-SECRET-KEY-1…, or the post-quantum
// AGE-SECRET-KEY-PQ-1…), at least one.
func ageIdentities(b []byte) ([]string, error) {
	const maxFile = 1 << 24 // age's own limit for an identities file
	if len(b) > maxFile {
		return nil, errors.New("is larger than 16 MiB, age's limit for an identities file")
	}
	var ids []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		body, ok := strings.CutPrefix(line, "AGE-SECRET-KEY-1")
		if !ok {
			body, ok = strings.CutPrefix(line, "AGE-SECRET-KEY-PQ-1")
		}
		if !ok || body == "" || strings.Trim(body, bech32) != "" {
			return nil, fmt.Errorf("line %d is not an age identity (AGE-SECRET-KEY-1…): put one age secret key a line, as age-keygen writes them", i+1)
		}
		ids = append(ids, line)
	}
	if len(ids) == 0 {
		return nil, errors.New("holds no age identity: put the output of age-keygen in it")
	}
	return ids, nil
}

func armoredPrivateKey(b []byte) error {
	const begin, end = "-----BEGIN PGP PRIVATE KEY BLOCK-----", "-----END PGP PRIVATE KEY BLOCK-----"
	if bytes.Contains(b, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) && !bytes.Contains(b, []byte(begin)) {
		return errors.New("is a PGP public key: decryption needs the private key (gpg --export-secret-keys --armor)")
	}
	i := bytes.Index(b, []byte(begin))
	if i < 0 || !bytes.Contains(b[i:], []byte(end)) {
		return errors.New("is not an armored PGP private key (" + begin + " … " + end + "): export it with gpg --export-secret-keys --armor")
	}
	return nil
}

// KubeConfig picks the kubeconfig out of a spec.kubeConfig.secretRef
// Secret as kustomize-controller does: the data key key when given, else
// "value", else "value.yaml".
func KubeConfig(data map[string][]byte, key string) ([]byte, error) {
	if key != "" {
		if v, ok := data[key]; ok && len(v) > 0 {
			return v, nil
		}
		return nil, fmt.Errorf("has no data key %s with a kubeconfig: add it, or fix spec.kubeConfig.secretRef.key", quote(key))
	}
	for _, k := range []string{"value", "value.yaml"} {
		if v, ok := data[k]; ok && len(v) > 0 {
			return v, nil
		}
	}
	return nil, errors.New(`has no data key "value" or "value.yaml" with a kubeconfig: store the kubeconfig under value, or name its key in spec.kubeConfig.secretRef.key`)
}
