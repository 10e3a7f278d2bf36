package source_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tidegate/tidegate/source"
	"github.com/tidegate/tidegate/source/sourcetest"
)

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// fixture is a bare repository with main (two commits), a branch "next"
// and a tag v1 on the first commit.
type fixture struct {
	bare             string
	first, second    string
	nextTip, workDir string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (hack/ci-deps.sh installs it)")
	}
	root := t.TempDir()
	work := filepath.Join(root, "work")
	bare := filepath.Join(root, "repo.git")
	os.MkdirAll(work, 0o755)
	gitCmd(t, work, "init", "-q", "-b", "main")
	write(t, filepath.Join(work, "apps/a.yaml"), "version: 1\n")
	gitCmd(t, work, "add", "-A")
	gitCmd(t, work, "commit", "-qm", "one")
	first := gitCmd(t, work, "rev-parse", "HEAD")
	gitCmd(t, work, "tag", "v1")
	write(t, filepath.Join(work, "apps/a.yaml"), "version: 2\n")
	gitCmd(t, work, "commit", "-qam", "two")
	second := gitCmd(t, work, "rev-parse", "HEAD")
	gitCmd(t, work, "checkout", "-qb", "next", first)
	write(t, filepath.Join(work, "apps/a.yaml"), "version: next\n")
	gitCmd(t, work, "commit", "-qam", "next")
	next := gitCmd(t, work, "rev-parse", "HEAD")
	gitCmd(t, work, "checkout", "-q", "main")
	gitCmd(t, root, "clone", "-q", "--bare", work, bare)
	gitCmd(t, bare, "symbolic-ref", "HEAD", "refs/heads/main")
	return fixture{bare: bare, first: first, second: second, nextTip: next, workDir: work}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenRefs(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, url, ref, wantRev, wantContent string
	}{
		{"default branch over file://", "file://" + f.bare, "", f.second, "version: 2\n"},
		{"bare path", f.bare, "", f.second, "version: 2\n"},
		{"branch", "file://" + f.bare, "next", f.nextTip, "version: next\n"},
		{"tag", "file://" + f.bare, "v1", f.first, "version: 1\n"},
		{"full SHA", "file://" + f.bare, f.first, f.first, "version: 1\n"},
		{"short SHA", "file://" + f.bare, f.first[:10], f.first, "version: 1\n"},
		{"working tree", f.workDir, "", f.second, "version: 2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co, err := source.Open(context.Background(), tc.url, source.WithRef(tc.ref))
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			if co.Revision != tc.wantRev {
				t.Errorf("revision = %s, want %s", co.Revision, tc.wantRev)
			}
			if got := read(t, filepath.Join(co.Dir, "apps/a.yaml")); got != tc.wantContent {
				t.Errorf("content = %q, want %q", got, tc.wantContent)
			}
		})
	}
	t.Run("unknown ref", func(t *testing.T) {
		_, err := source.Open(context.Background(), "file://"+f.bare, source.WithRef("nope"))
		if err == nil || !strings.Contains(err.Error(), `"nope" not found`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("clone is removed on Close", func(t *testing.T) {
		co, err := source.Open(context.Background(), "file://"+f.bare)
		if err != nil {
			t.Fatal(err)
		}
		co.Close()
		if _, err := os.Stat(co.Dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Close", co.Dir)
		}
	})
}

// httpServer serves the bare repository's parent through git
// http-backend, the smart HTTP server GitHub-like hosts speak, behind
// basic auth with a token.
func httpServer(t *testing.T, root, token string) *httptest.Server {
	t.Helper()
	h := sourcetest.HTTPBackend(t, root)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPS(t *testing.T) {
	f := newFixture(t)
	gitCmd(t, f.bare, "config", "http.receivepack", "true")
	srv := httpServer(t, filepath.Dir(f.bare), "tok-secret-123")
	url := srv.URL + "/repo.git"

	co, err := source.Open(context.Background(), url, source.WithAuth(source.Auth{Token: "tok-secret-123"}))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.Revision != f.second || co.Branch != "main" {
		t.Errorf("revision %s branch %s, want %s main", co.Revision, co.Branch, f.second)
	}

	_, err = source.Open(context.Background(), url, source.WithAuth(source.Auth{Token: "wrong-token-456"}))
	if err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if strings.Contains(err.Error(), "wrong-token-456") || !strings.Contains(err.Error(), "--git-token") {
		t.Errorf("error leaks the token or gives no advice: %v", err)
	}

	// A token in the URL is redacted in everything tidegate prints.
	withCreds := strings.Replace(url, "http://", "http://git:url-token-789@", 1)
	_, err = source.Open(context.Background(), withCreds)
	if err == nil || strings.Contains(err.Error(), "url-token-789") {
		t.Errorf("err = %v, want an auth error without the token", err)
	}

	// Write side over HTTP.
	res, err := co.Propose(context.Background(), "main", "tidegate/images/x", source.Change{
		Files: map[string][]byte{"apps/a.yaml": []byte("version: 3\n")}, Message: "bump", Author: source.Signature{Name: "bot", Email: "bot@example.invalid"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || !res.Created {
		t.Errorf("first propose: %+v, want pushed and created", res)
	}
	if got := gitCmd(t, f.bare, "show", "tidegate/images/x:apps/a.yaml"); got != "version: 3" {
		t.Errorf("pushed content = %q", got)
	}
}

func TestProposeIsIdempotentAndNeverPushesToBase(t *testing.T) {
	f := newFixture(t)
	co, err := source.Open(context.Background(), "file://"+f.bare)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	ch := source.Change{
		Files:   map[string][]byte{"apps/a.yaml": []byte("version: 3\n"), "apps/new.yaml": []byte("new: true\n")},
		Message: "Update images", Author: source.Signature{Name: "tidegate", Email: "bot@example.invalid"},
	}
	ctx := context.Background()
	first, err := co.Propose(ctx, "main", "bump", ch)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Pushed || !first.Created {
		t.Fatalf("first: %+v", first)
	}
	second, err := co.Propose(ctx, "main", "bump", ch)
	if err != nil {
		t.Fatal(err)
	}
	if second.Pushed || second.Commit != first.Commit {
		t.Errorf("second identical propose wrote: %+v (first %+v)", second, first)
	}
	if tip, _ := co.RemoteBranch(ctx, "bump"); tip != first.Commit {
		t.Errorf("remote tip %s, want %s", tip, first.Commit)
	}

	// The base moves on: the branch is rebuilt on the new base.
	gitCmd(t, f.workDir, "push", "-q", f.bare, "main")
	write(t, filepath.Join(f.workDir, "other.txt"), "x\n")
	gitCmd(t, f.workDir, "add", "-A")
	gitCmd(t, f.workDir, "commit", "-qm", "base moves")
	gitCmd(t, f.workDir, "push", "-q", f.bare, "main")
	newBase := gitCmd(t, f.bare, "rev-parse", "main")
	third, err := co.Propose(ctx, "main", "bump", ch)
	if err != nil {
		t.Fatal(err)
	}
	if !third.Pushed || third.Created {
		t.Errorf("third: %+v, want a push to the existing branch", third)
	}
	if parent := gitCmd(t, f.bare, "rev-parse", "bump^"); parent != newBase {
		t.Errorf("branch parent %s, want the new base %s", parent, newBase)
	}
	if got := gitCmd(t, f.bare, "show", "main:apps/a.yaml"); got != "version: 2" {
		t.Errorf("main changed: %q", got)
	}

	for _, branch := range []string{"main", ""} {
		if _, err := co.Propose(ctx, "main", branch, ch); !errors.Is(err, source.ErrProtectedBranch) {
			t.Errorf("propose to %q: err = %v, want ErrProtectedBranch", branch, err)
		}
	}
	// The default branch is protected even when it is not the base.
	if _, err := co.Propose(ctx, "next", "main", ch); !errors.Is(err, source.ErrProtectedBranch) {
		t.Errorf("propose onto the default branch: err = %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://git:tok@github.com/acme/fleet":   "https://git:***@github.com/acme/fleet",
		"https://github.com/acme/fleet":           "https://github.com/acme/fleet",
		"git@github.com:acme/fleet.git":           "git@github.com:acme/fleet.git",
		"ssh://git@host:2222/acme/fleet.git":      "ssh://git@host:2222/acme/fleet.git",
		"ssh://git:hunter2@host/acme/fleet.git":   "ssh://git:***@host/acme/fleet.git",
		"https://user:p%40ss@gitlab.example/a/b":  "https://***:***@gitlab.example/a/b",
		"file:///srv/git/fleet.git":               "file:///srv/git/fleet.git",
		"https://oauth2:glpat-xyz@gitlab.com/a/b": "https://oauth2:***@gitlab.com/a/b",
		"/srv/git/fleet":                          "/srv/git/fleet",
		".":                                       ".",
	} {
		if got := source.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostileRedact: a token as the URL's user, a URL that does not
// parse, and the odd forms url.Parse accepts never print the token.
func TestHostileRedact(t *testing.T) {
	const tok = "ghp_S3cretT0ken"
	for _, in := range []string{
		"https://" + tok + "@github.com/acme/fleet",
		"https://" + tok + ":x-oauth-basic@github.com/acme/fleet",
		"https://" + tok + ":@github.com/acme/fleet",
		"https://" + tok + "@github.com/%zz",
		"https://" + tok + "@github.com/a\nb",
		"https://git:" + tok + "@github.com/a\x7f",
		"https://git:" + tok + "%zz@github.com/a",
		"https:" + tok + "@github.com/acme/fleet",
		"//" + tok + "@github.com/acme/fleet",
		"HTTPS://" + tok + "@github.com/acme/fleet",
		"git+https://u@x:" + tok + "@github.com/acme/fleet",
		tok + "%zz@github.com:acme/fleet",
		"https://git:" + tok + "@[::1/x",
	} {
		out := source.Redact(in)
		if strings.Contains(out, tok) || strings.Contains(out, "S3cret") {
			t.Errorf("Redact(%q) = %q keeps the token", in, out)
		}
		if out == in {
			t.Errorf("Redact(%q) returned its input", in)
		}
	}
}

// FuzzRedact: a URL with credentials never keeps them, and a string that
// does not parse as a URL never comes back as it was.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"https://git:tok@github.com/acme/fleet",
		"ssh://git@host:22/x",
		"https://u:p%40ss@h/x",
		"https://ghp_S3cretT0ken@github.com/acme/fleet",
		"https://ghp_S3cretT0ken:x-oauth-basic@github.com/a",
		"https://tok@h/%zz",
		"https://u:tok@h/\x00",
		"https:tok@h/x",
		"%zz",
		"git@h:o/r.git",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := source.Redact(s)
		u, err := neturl.Parse(s)
		if err != nil {
			if out == s && !scpForm(s) {
				t.Fatalf("Redact(%q) returned an unparsable URL as it was", s)
			}
			return
		}
		if u.User == nil {
			return
		}
		back, err := neturl.Parse(out)
		if err != nil || back.User == nil {
			t.Fatalf("Redact(%q) = %q: the masked URL does not parse back (%v)", s, out, err)
		}
		if p, has := back.User.Password(); has && p != "***" {
			t.Errorf("Redact(%q) = %q keeps the password", s, out)
		}
		if name := back.User.Username(); name != "***" && name != u.User.Username() {
			t.Errorf("Redact(%q) = %q invents the user %q", s, out, name)
		}
	})
}

// FuzzRedactToken builds URLs around a token in every userinfo position
// and checks that the token is gone from the output.
func FuzzRedactToken(f *testing.F) {
	f.Add("ghp_S3cretT0ken", "github.com", "acme/fleet", uint8(0))
	f.Add("glpat-Abc123456", "gitlab.example:8443", "%zz", uint8(1))
	f.Add("tok3n12345", "h", "a\nb", uint8(2))
	f.Add("Zm9vYmFyYmF6", "[::1]", "x", uint8(3))
	f.Fuzz(func(t *testing.T, tok, host, path string, shape uint8) {
		if len(tok) < 8 || strings.Contains(host+path, tok) || strings.ContainsAny(tok, "@/:?#") {
			return
		}
		esc := neturl.PathEscape(tok)
		if strings.Contains(host+path, esc) {
			return
		}
		scheme := [...]string{"https://", "https://", "https://", "https:", "http://"}[int(shape)%5]
		info := [...]string{esc + "@", esc + ":x-oauth-basic@", "git:" + esc + "@", esc + "@", tok + "@"}[int(shape)%5]
		in := scheme + info + host + "/" + path
		// The host and path may print as escapes that spell the token
		// (a host byte \xd0 is %D0): count only what the userinfo adds.
		bare := scheme + host + "/" + path
		if u, err := neturl.Parse(bare); err == nil {
			bare += " " + u.String()
		}
		out := source.Redact(in)
		for _, secret := range []string{tok, esc} {
			if strings.Count(out, secret) > strings.Count(bare, secret) {
				t.Errorf("Redact(%q) = %q keeps the token %q", in, out, tok)
			}
		}
	})
}

// scpForm is git's user@host:path with a plain SSH login name, which
// url.Parse rejects and Redact may print as it is: SSH users
// authenticate with a key, never with a token in the name.
func scpForm(s string) bool {
	return regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}@[A-Za-z0-9.-]+:[^\x00-\x1f\x7f]*$`).MatchString(s)
}

// sshServer starts Debian's sshd on a loopback port serving the fixture
// to a generated client key. It returns the URL, the client key (PEM)
// and the server's known_hosts line.
func sshServer(t *testing.T, repoDir string) (url string, clientKey []byte, knownHosts []byte) {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/sshd"); err2 != nil {
			t.Skip("sshd is not installed (hack/ci-deps.sh installs openssh-server)")
		}
		sshd = "/usr/sbin/sshd"
	}
	dir := t.TempDir()
	hostPub, hostPEM := newKey(t)
	clientPub, clientPEM := newKey(t)
	write(t, filepath.Join(dir, "host_key"), string(hostPEM))
	os.Chmod(filepath.Join(dir, "host_key"), 0o600)
	write(t, filepath.Join(dir, "authorized_keys"), string(ssh.MarshalAuthorizedKey(clientPub)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	gitPath, _ := exec.LookPath("git")
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
SetEnv PATH=%s:/usr/bin:/bin
`, port, filepath.Join(dir, "host_key"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), filepath.Dir(gitPath))
	write(t, filepath.Join(dir, "sshd_config"), cfg)
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(hostPub))
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", user, port, repoDir), clientPEM, []byte(known)
}

func newKey(t *testing.T) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp, pem.EncodeToMemory(block)
}

func TestSSH(t *testing.T) {
	f := newFixture(t)
	url, key, known := sshServer(t, f.bare)
	ctx := context.Background()

	co, err := source.Open(ctx, url, source.WithAuth(source.Auth{SSHKey: key, KnownHosts: known}))
	if err != nil {
		t.Fatalf("clone over SSH with a known host: %v", err)
	}
	defer co.Close()
	if co.Revision != f.second {
		t.Errorf("revision %s, want %s", co.Revision, f.second)
	}

	_, otherHost := newKey(t)
	otherPub, _ := ssh.ParsePrivateKey(otherHost)
	wrongKnown := []byte(strings.SplitN(string(known), " ", 2)[0] + " " + string(ssh.MarshalAuthorizedKey(otherPub.PublicKey())))
	if _, err := source.Open(ctx, url, source.WithAuth(source.Auth{SSHKey: key, KnownHosts: wrongKnown})); err == nil || !strings.Contains(err.Error(), "known-hosts") {
		t.Errorf("a host key mismatch: err = %v", err)
	}
	unrelated := []byte("[example.invalid]:22 " + string(ssh.MarshalAuthorizedKey(otherPub.PublicKey())))
	if _, err := source.Open(ctx, url, source.WithAuth(source.Auth{SSHKey: key, KnownHosts: unrelated})); err == nil || !strings.Contains(err.Error(), "--known-hosts") {
		t.Errorf("an unknown host: err = %v", err)
	}
	if _, err := source.Open(ctx, url, source.WithAuth(source.Auth{SSHKey: key})); err == nil || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Errorf("no known_hosts: err = %v", err)
	}
	insecure, err := source.Open(ctx, url, source.WithAuth(source.Auth{SSHKey: key, InsecureIgnoreHostKey: true}))
	if err != nil {
		t.Errorf("--insecure-skip-host-key-check: %v", err)
	} else {
		insecure.Close()
	}
	_, wrongClient := newKey(t)
	if _, err := source.Open(ctx, url, source.WithAuth(source.Auth{SSHKey: wrongClient, KnownHosts: known})); err == nil {
		t.Error("an unauthorized deploy key was accepted")
	}

	res, err := co.Propose(ctx, "main", "bump-ssh", source.Change{Files: map[string][]byte{"apps/a.yaml": []byte("version: ssh\n")}, Message: "m", Author: source.Signature{Name: "b", Email: "b@example.invalid"}})
	if err != nil {
		t.Fatalf("push over SSH: %v", err)
	}
	if !res.Pushed {
		t.Errorf("push over SSH: %+v", res)
	}
}
