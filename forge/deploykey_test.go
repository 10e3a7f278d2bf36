package forge_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/forge/forgetest"
)

// newPublicKey is a fresh ed25519 key in authorized_keys format.
func newPublicKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
}

// keyFake is what the deploy key tests need from forgetest's fakes.
type keyFake interface {
	Writes() int
	DeployKeys() []forgetest.DeployKey
	SeedDeployKey(title, key string, readOnly bool)
	Requests() []string
}

func TestAddDeployKeyAgainstFakes(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			fake := tg.fake.(keyFake)
			f, err := forge.New(tg.cfg(token))
			if err != nil {
				t.Fatal(err)
			}
			adder, ok := f.(forge.DeployKeyAdder)
			if !ok {
				t.Fatalf("%T does not add deploy keys", f)
			}
			// Someone else's keys: listing them spans pages (PerPage is 1).
			fake.SeedDeployKey("ci", newPublicKey(t, "ci@example"), true)
			fake.SeedDeployKey("backup", newPublicKey(t, "backup@example"), false)

			key := newPublicKey(t, "tidegate@acme/fleet")
			if err := adder.AddDeployKey(ctx, "tidegate", key, true); err != nil {
				t.Fatal(err)
			}
			keys := fake.DeployKeys()
			if len(keys) != 3 {
				t.Fatalf("deploy keys = %+v, want the two seeded and ours", keys)
			}
			if got := keys[2]; got.Title != "tidegate" || got.Key != key || !got.ReadOnly {
				t.Errorf("added key = %+v, want read-only %q titled tidegate", got, key)
			}

			// Idempotent: the same key again, or under another comment (GitHub
			// lists keys without theirs), writes nothing.
			writes := fake.Writes()
			if err := adder.AddDeployKey(ctx, "tidegate", key, true); err != nil {
				t.Fatalf("second AddDeployKey: %v", err)
			}
			material := strings.Join(strings.Fields(key)[:2], " ")
			if err := adder.AddDeployKey(ctx, "renamed", material+" someone@laptop", true); err != nil {
				t.Fatalf("AddDeployKey with another comment: %v", err)
			}
			if w := fake.Writes(); w != writes {
				t.Errorf("AddDeployKey of an installed key wrote %d times: %v", w-writes, fake.Requests())
			}
			if n := len(fake.DeployKeys()); n != 3 {
				t.Errorf("%d deploy keys after the repeats, want 3", n)
			}

			// A key with push access, when asked for.
			rw := newPublicKey(t, "writer")
			if err := adder.AddDeployKey(ctx, "writer", rw, false); err != nil {
				t.Fatal(err)
			}
			if got := fake.DeployKeys()[3]; got.ReadOnly {
				t.Errorf("key added with readOnly=false is read-only: %+v", got)
			}

			// A malformed key is refused before any request.
			writes = fake.Writes()
			err = adder.AddDeployKey(ctx, "bad", "ssh-ed25519 not-base64", true)
			if !errors.Is(err, forge.ErrInvalid) || !strings.Contains(err.Error(), "authorized_keys") {
				t.Errorf("malformed key: %v, want ErrInvalid naming the format", err)
			}
			if fake.Writes() != writes {
				t.Error("a malformed key reached the forge")
			}
		})
	}
}

func TestAddDeployKeyErrors(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			f, err := forge.New(tg.cfg(readOnly))
			if err != nil {
				t.Fatal(err)
			}
			err = f.(forge.DeployKeyAdder).AddDeployKey(ctx, "tidegate", newPublicKey(t, "x"), true)
			var fe *forge.Error
			if !errors.Is(err, forge.ErrForbidden) || !errors.As(err, &fe) || fe.Status != http.StatusForbidden {
				t.Fatalf("read-only token: %v, want 403 ErrForbidden", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "add deploy key") || !strings.Contains(msg, "deploy keys needs") || strings.Contains(msg, readOnly) {
				t.Errorf("error %q should name the operation and the permission, not the token", msg)
			}
		})
	}
}
