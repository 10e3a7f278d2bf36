package main

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidegate/tidegate/cli"
	"github.com/tidegate/tidegate/source/sourcetest"
)

// TestHostileNetworkSIGTERMMidClone runs the binary against a Git server
// that stalls in the middle of the pack, the way a CronJob pod is ended
// while its clone hangs: SIGTERM must end the run at once, as a failure
// (not 0, not 2 "changes found"), with nothing of the clone left behind.
func TestHostileNetworkSIGTERMMidClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	work := filepath.Join(root, "work")
	bare := filepath.Join(root, "repos", "fleet.git")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", work},
		{"-C", work, "add", "-A"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "one"},
		{"clone", "-q", "--bare", work, bare},
	} {
		if args[0] == "-C" && args[2] == "add" {
			if err := os.WriteFile(filepath.Join(work, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	stall := sourcetest.StallingBackend(t, filepath.Join(root, "repos"), 64)
	srv := httptest.NewServer(stall)
	defer srv.Close()

	bin := filepath.Join(t.TempDir(), "tidegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cwd, tmp := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "render", "--source", srv.URL+"/fleet.git")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-stall.Stalled():
	case err := <-exited:
		t.Fatalf("tidegate ended before the clone stalled: %v\n%s", err, stderr.String())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the clone never reached the stalling pack")
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "tidegate-source-*")); len(left) != 1 {
		t.Fatalf("clone directories while cloning: %v, want one (else the check below proves nothing)", left)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("tidegate still running 15s after SIGTERM\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("tidegate after SIGTERM: %v, want a non-zero exit\n%s", err, stderr.String())
	}
	if code := ee.ExitCode(); code == cli.ExitOK || code == cli.ExitChanges || code < 0 {
		t.Errorf("exit code %d after SIGTERM, want a failure other than %d (changes found)", code, cli.ExitChanges)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", stderr.String())
	}
	for _, dir := range []string{tmp, cwd} {
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("%s holds %d entries after SIGTERM, want none (half clone?)", dir, len(left))
		}
	}
}
