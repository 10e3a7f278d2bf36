package flux

import (
	"bytes"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/google/go-cmp/cmp"
)

func TestDecryptionKeys(t *testing.T) {
	x1, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	x2, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	private, public := pgpKey(t)

	data := map[string][]byte{
		"b.agekey":         []byte("# created: now\r\n# public key: " + x2.Recipient().String() + "\r\n" + x2.String() + "\r\n"),
		"a.agekey":         []byte(x1.String() + "\n\n" + pq.String() + "\n"),
		"team.asc":         private,
		"sops.vault-token": []byte("hvs.not-a-key"),
		"sops.aws-kms":     []byte("aws_access_key_id: x"),
		"README":           []byte("keys"),
	}
	ageKeys, pgpKeys, err := DecryptionKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{x1.String(), pq.String(), x2.String()}, ageKeys); diff != "" {
		t.Errorf("age (-want +got):\n%s", diff)
	}
	if len(pgpKeys) != 1 || !bytes.Equal(pgpKeys[0], private) {
		t.Errorf("pgp = %d keys, want the one private key", len(pgpKeys))
	}
	// The identities read are ones age itself reads.
	for _, k := range ageKeys {
		if _, err := age.ParseIdentities(strings.NewReader(k)); err != nil {
			t.Errorf("age cannot read an identity DecryptionKeys returned: %v", err)
		}
	}

	none, nonePGP, err := DecryptionKeys(map[string][]byte{"sops.gcp-kms": []byte("{}")})
	if err != nil || none != nil || nonePGP != nil {
		t.Errorf("a Secret without SOPS keys = %v, %v, %v; want nothing and no error", none, nonePGP, err)
	}

	for _, tc := range []struct {
		name string
		data map[string][]byte
		want []string
	}{
		{"empty age file", map[string][]byte{"k.agekey": []byte("# only a comment\n")}, []string{`data key k.agekey: holds no age identity`}},
		{"a public key in the age file", map[string][]byte{"k.agekey": []byte(x1.Recipient().String() + "\n")}, []string{"data key k.agekey: line 1 is not an age identity"}},
		{"a broken identity on line 2", map[string][]byte{"k.agekey": []byte(x1.String() + "\n" + strings.ToLower(x2.String()) + "\n")}, []string{"line 2 is not an age identity"}},
		{"a PGP public key", map[string][]byte{"k.asc": public}, []string{"data key k.asc: is a PGP public key", "--export-secret-keys"}},
		{"not armored", map[string][]byte{"k.asc": []byte("binary")}, []string{"data key k.asc: is not an armored PGP private key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecryptionKeys(tc.data)
			wantErr(t, err, tc.want...)
			for _, secret := range []string{x1.String(), x2.String(), x1.Recipient().String()} {
				if strings.Contains(strings.ToUpper(err.Error()), strings.ToUpper(secret[20:40])) {
					t.Errorf("error shows key material: %v", err)
				}
			}
		})
	}
}

// pgpKey makes an armored PGP key pair inside the test.
func pgpKey(t *testing.T) (private, public []byte) {
	t.Helper()
	e, err := openpgp.NewEntity("tidegate test", "", "test@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return priv.Bytes(), pub.Bytes()
}

func TestKubeConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		key  string
		want string
		err  string
	}{
		{"given key", map[string][]byte{"spoke": []byte("a"), "value": []byte("b")}, "spoke", "a", ""},
		{"value", map[string][]byte{"value": []byte("b"), "value.yaml": []byte("c")}, "", "b", ""},
		{"value.yaml", map[string][]byte{"value.yaml": []byte("c")}, "", "c", ""},
		{"given key missing does not fall back", map[string][]byte{"value": []byte("b")}, "spoke", "", `has no data key spoke with a kubeconfig`},
		{"nothing", map[string][]byte{"other": []byte("x")}, "", "", `has no data key "value" or "value.yaml"`},
		{"empty value", map[string][]byte{"value": {}}, "", "", `has no data key "value"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KubeConfig(tc.data, tc.key)
			if tc.err != "" {
				wantErr(t, err, tc.err)
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("KubeConfig = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
