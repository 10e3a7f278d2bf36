package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestKeys generates both keys, saves them 0600, and reads them back as
// the same recipient and public key; a second save never replaces them.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	ageFile, sshFile := filepath.Join(dir, "new", "age.agekey"), filepath.Join(dir, "new", "deploy")
	ak, err := LoadAgeKey(ageFile, false)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := LoadDeployKey(sshFile, "tidegate@acme/fleet", false)
	if err != nil {
		t.Fatal(err)
	}
	if !ak.Created || !strings.HasPrefix(ak.Recipient, "age1") || !dk.Created || !strings.HasPrefix(dk.PublicKey, "ssh-ed25519 ") || !strings.HasSuffix(dk.PublicKey, " tidegate@acme/fleet") {
		t.Fatalf("age %+v, deploy %+v", ak, dk)
	}
	if Fingerprint(dk.PublicKey) == "" || Fingerprint("not a key") != "" {
		t.Errorf("fingerprint of %q: %q", dk.PublicKey, Fingerprint(dk.PublicKey))
	}
	if err := WriteKeys(ak, dk); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ageFile, sshFile} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	ak2, err := LoadAgeKey(ageFile, false)
	if err != nil || ak2.Created || ak2.Recipient != ak.Recipient {
		t.Errorf("reloaded age key %+v (%v), want recipient %s", ak2, err, ak.Recipient)
	}
	dk2, err := LoadDeployKey(sshFile, "tidegate@acme/fleet", false)
	if err != nil || dk2.Created || dk2.PublicKey != dk.PublicKey {
		t.Errorf("reloaded deploy key %+v (%v), want %s", dk2, err, dk.PublicKey)
	}
	before, _ := os.ReadFile(ageFile)
	if err := WriteKeys(ak, nil); err == nil || !strings.Contains(err.Error(), "--age-key-out") {
		t.Errorf("saving over an existing key: err %v", err)
	}
	if after, _ := os.ReadFile(ageFile); string(after) != string(before) {
		t.Error("an existing age key file was replaced")
	}
	dry, err := LoadAgeKey(filepath.Join(dir, "dry.agekey"), true)
	if err != nil || !dry.Created || dry.identity != nil {
		t.Errorf("dry run: %+v %v", dry, err)
	}
	if err := WriteKeys(dry, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dry.agekey")); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote its key: %v", err)
	}
}

// TestHostileKeyFiles: a key file that is a pipe, a directory or holds
// something else is refused with its name, and left as it was.
func TestHostileKeyFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "notes.txt")
	const canary = "CANARY-not-a-key"
	if err := os.WriteFile(other, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"pipe", fifo, "is not a regular file"},
		{"directory", dir, "is not a regular file"},
		{"other content", other, "holds no age key"},
	} {
		t.Run("age "+tc.name, func(t *testing.T) {
			_, err := LoadAgeKey(tc.file, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) || strings.Contains(err.Error(), canary) {
				t.Errorf("err %v, want %q naming %s and not its content", err, tc.want, tc.file)
			}
		})
		t.Run("deploy "+tc.name, func(t *testing.T) {
			want := tc.want
			if tc.name == "other content" {
				want = "is not an SSH private key"
			}
			_, err := LoadDeployKey(tc.file, "c", false)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.file) || strings.Contains(err.Error(), canary) {
				t.Errorf("err %v, want %q naming %s and not its content", err, want, tc.file)
			}
		})
	}
	if b, _ := os.ReadFile(other); string(b) != canary+"\n" {
		t.Errorf("%s changed: %q", other, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the refusals wrote files: %v", entries)
	}
}
