package source_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tidegate/tidegate/internal/httpclient"
	"github.com/tidegate/tidegate/source"
	"github.com/tidegate/tidegate/source/sourcetest"
)

// fluxFixture is a bare repository as a GitRepository might name it:
// branches master and dev, tags v1.0.0 (annotated), v1.2.0 and v2.0.0
// and a non-version tag, and a pull-request head refs/pull/1/head.
type fluxFixture struct {
	root, bare string
	// commits by what they hold in version.txt
	rev map[string]string
}

func newFluxFixture(t *testing.T, defaultBranch string) fluxFixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (hack/ci-deps.sh installs it)")
	}
	root := t.TempDir()
	work := filepath.Join(root, "work")
	bare := filepath.Join(root, "repo.git")
	os.MkdirAll(work, 0o755)
	rev := map[string]string{}
	commit := func(content string) {
		write(t, filepath.Join(work, "version.txt"), content+"\n")
		gitCmd(t, work, "add", "-A")
		gitCmd(t, work, "commit", "-qm", content)
		rev[content] = gitCmd(t, work, "rev-parse", "HEAD")
	}
	gitCmd(t, work, "init", "-q", "-b", defaultBranch)
	commit("1.0.0")
	gitCmd(t, work, "tag", "-a", "-m", "release 1.0.0", "v1.0.0")
	commit("1.2.0")
	gitCmd(t, work, "tag", "v1.2.0")
	gitCmd(t, work, "tag", "not-a-version")
	commit("2.0.0")
	gitCmd(t, work, "tag", "v2.0.0")
	commit("tip")
	gitCmd(t, work, "checkout", "-qb", "dev", rev["1.0.0"])
	commit("dev")
	gitCmd(t, work, "checkout", "-qb", "pr", rev["1.2.0"])
	commit("pr")
	gitCmd(t, work, "checkout", "-q", defaultBranch)
	gitCmd(t, root, "clone", "-q", "--bare", work, bare)
	gitCmd(t, bare, "update-ref", "refs/pull/1/head", rev["pr"])
	gitCmd(t, bare, "branch", "-D", "pr")
	gitCmd(t, bare, "symbolic-ref", "HEAD", "refs/heads/"+defaultBranch)
	return fluxFixture{root: root, bare: bare, rev: rev}
}

// gitServer serves the fixture through git http-backend, checking
// credentials with check (nil: anonymous), and counts the requests.
type gitServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
}

func serveGit(t *testing.T, root string, check func(r *http.Request) bool, tlsServer bool) *gitServer {
	t.Helper()
	h := sourcetest.HTTPBackend(t, root)
	g := &gitServer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests++
		g.mu.Unlock()
		if check != nil && !check(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	if tlsServer {
		g.Server = httptest.NewTLSServer(handler)
	} else {
		g.Server = httptest.NewServer(handler)
	}
	t.Cleanup(g.Close)
	return g
}

// isolatedTemp points os.TempDir at a fresh directory, so a test can see
// every temporary directory a call leaves behind.
func isolatedTemp(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", dir)
	return dir
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

func TestGitRefs(t *testing.T) {
	f := newFluxFixture(t, "master")
	srv := serveGit(t, f.root, nil, false)
	url := srv.URL + "/repo.git"
	for _, tc := range []struct {
		name     string
		ref      source.GitRef
		want     string // version.txt
		wantTag  string
		wantBrch string
	}{
		{"no ref is master, as in Flux", source.GitRef{}, "tip", "", "master"},
		{"branch", source.GitRef{Branch: "dev"}, "dev", "", "dev"},
		{"tag", source.GitRef{Tag: "v1.2.0"}, "1.2.0", "v1.2.0", ""},
		{"annotated tag", source.GitRef{Tag: "v1.0.0"}, "1.0.0", "v1.0.0", ""},
		{"semver ~1.0", source.GitRef{SemVer: "~1.0"}, "1.0.0", "v1.0.0", ""},
		{"semver >=1.1 <2", source.GitRef{SemVer: ">=1.1 <2"}, "1.2.0", "v1.2.0", ""},
		{"semver * takes the highest", source.GitRef{SemVer: "*"}, "2.0.0", "v2.0.0", ""},
		{"name of a tag", source.GitRef{Name: "refs/tags/v2.0.0"}, "2.0.0", "v2.0.0", ""},
		{"name of a branch", source.GitRef{Name: "refs/heads/dev"}, "dev", "", "dev"},
		{"name of a pull request head", source.GitRef{Name: "refs/pull/1/head"}, "pr", "", ""},
		{"commit pin", source.GitRef{Commit: f.rev["1.2.0"]}, "1.2.0", "", ""},
		{"commit pin on a branch", source.GitRef{Branch: "master", Commit: f.rev["2.0.0"]}, "2.0.0", "", ""},
		// Precedence: commit > name > semver > tag > branch.
		{"tag beats branch", source.GitRef{Branch: "dev", Tag: "v1.2.0"}, "1.2.0", "v1.2.0", ""},
		{"semver beats tag", source.GitRef{Tag: "v1.2.0", SemVer: "~1.0"}, "1.0.0", "v1.0.0", ""},
		{"name beats semver", source.GitRef{SemVer: "~1.0", Name: "refs/heads/dev"}, "dev", "", "dev"},
		{"commit beats name", source.GitRef{Name: "refs/heads/dev", Commit: f.rev["1.0.0"]}, "1.0.0", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co, err := source.Open(context.Background(), url, source.WithGitRef(tc.ref), source.WithIgnore("/docs\n*.md\n"))
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			if got := strings.TrimSpace(read(t, filepath.Join(co.Dir, "version.txt"))); got != tc.want {
				t.Errorf("version.txt = %q, want %q", got, tc.want)
			}
			if co.Revision != f.rev[tc.want] {
				t.Errorf("revision = %s, want %s", co.Revision, f.rev[tc.want])
			}
			if co.Tag != tc.wantTag || co.Branch != tc.wantBrch {
				t.Errorf("tag %q branch %q, want %q %q", co.Tag, co.Branch, tc.wantTag, tc.wantBrch)
			}
			if co.Ignore != "/docs\n*.md\n" {
				t.Errorf("Ignore = %q, want the spec.ignore given", co.Ignore)
			}
			pointer := map[string]string{
				"no ref is master, as in Flux": "master", "branch": "dev", "tag": "v1.2.0", "semver >=1.1 <2": "v1.2.0",
				"name of a pull request head": "refs/pull/1/head", "commit pin": "", "commit pin on a branch": "master",
			}
			if p, ok := pointer[tc.name]; ok {
				want := "sha1:" + co.Revision
				if p != "" {
					want = p + "@" + want
				}
				if got := co.FluxRevision(); got != want {
					t.Errorf("FluxRevision = %q, want %q", got, want)
				}
			}
			if co.Ref != tc.ref.String() || co.Ref == "" {
				t.Errorf("Ref = %q, want %q", co.Ref, tc.ref.String())
			}
		})
	}
}

func TestGitRefNotFound(t *testing.T) {
	f := newFluxFixture(t, "main")
	srv := serveGit(t, f.root, nil, false)
	url := srv.URL + "/repo.git"
	missing := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		name string
		ref  source.GitRef
		want []string
	}{
		{"no ref reads master, which this repository lacks", source.GitRef{}, []string{`branch "master" not found`, "as Flux does", "spec.ref.branch"}},
		{"branch", source.GitRef{Branch: "nope"}, []string{`branch "nope" not found`, "check spec.ref.branch"}},
		{"tag", source.GitRef{Tag: "v9.9.9"}, []string{`tag "v9.9.9" not found`, "check spec.ref.tag"}},
		{"semver without a match", source.GitRef{SemVer: ">=9"}, []string{`no tag matches spec.ref.semver ">=9"`, "4 tags, 3 of them versions"}},
		{"semver that is no range", source.GitRef{SemVer: "not a range!"}, []string{"spec.ref.semver", "is not a version range"}},
		{"name", source.GitRef{Name: "refs/heads/nope"}, []string{"reference refs/heads/nope not found", "spec.ref.name"}},
		{"name of another kind", source.GitRef{Name: "refs/pull/9/head"}, []string{"reference refs/pull/9/head not found", "spec.ref.name"}},
		{"short name", source.GitRef{Name: "main"}, []string{"not a full reference name"}},
		{"commit", source.GitRef{Commit: missing}, []string{"commit " + missing + " not found in the repository", "spec.ref.commit"}},
		{"commit not on the branch", source.GitRef{Branch: "dev", Commit: f.rev["2.0.0"]}, []string{"not found in branch dev"}},
		{"commit that is no SHA", source.GitRef{Commit: "HEAD~1"}, []string{"is not a commit SHA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := isolatedTemp(t)
			_, err := source.Open(context.Background(), url, source.WithGitRef(tc.ref))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, srv.URL) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			assertEmptyDir(t, tmp)
		})
	}
}

func TestGitRefLocalWorkingTreeRefused(t *testing.T) {
	dir := t.TempDir()
	_, err := source.Open(context.Background(), dir, source.WithGitRef(source.GitRef{Branch: "main"}))
	if err == nil || !strings.Contains(err.Error(), "file://") {
		t.Fatalf("err = %v, want advice to pass the repository as file://", err)
	}
}

func TestAuthFromSecretKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    map[string]string
		want    source.Auth
		wantErr string
	}{
		{"empty is anonymous", nil, source.Auth{}, ""},
		{"basic", map[string]string{"username": "bot", "password": "pw-1"}, source.Auth{Username: "bot", Password: "pw-1"}, ""},
		{"bearer", map[string]string{"bearerToken": "tok-1\n"}, source.Auth{BearerToken: "tok-1"}, ""},
		{"ssh with passphrase", map[string]string{"identity": "KEY", "password": "pp-1", "known_hosts": "host ssh-ed25519 AAAA"},
			source.Auth{SSHKey: []byte("KEY"), SSHKeyPassphrase: "pp-1", KnownHosts: []byte("host ssh-ed25519 AAAA")}, ""},
		{"ca.crt before caFile", map[string]string{"ca.crt": "A", "caFile": "B"}, source.Auth{CACert: []byte("A")}, ""},
		{"caFile", map[string]string{"caFile": "B"}, source.Auth{CACert: []byte("B")}, ""},
		{"other keys ignored", map[string]string{"foo": "bar"}, source.Auth{}, ""},
		{"password without username", map[string]string{"password": "pw-secret-2"}, source.Auth{}, "password but no username"},
		{"basic and bearer", map[string]string{"username": "u", "password": "pw-secret-3", "bearerToken": "tok-secret-3"}, source.Auth{}, "keep one"},
		{"identity without known_hosts", map[string]string{"identity": "KEY"}, source.Auth{}, "no known_hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tc.data {
				data[k] = []byte(v)
			}
			got, err := source.AuthFromSecret(data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				for _, v := range tc.data {
					if len(v) > 4 && strings.Contains(err.Error(), v) {
						t.Errorf("error shows a secret value %q: %v", v, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.SSHKey) != string(tc.want.SSHKey) || string(got.KnownHosts) != string(tc.want.KnownHosts) || string(got.CACert) != string(tc.want.CACert) ||
				got.Username != tc.want.Username || got.Password != tc.want.Password || got.BearerToken != tc.want.BearerToken || got.SSHKeyPassphrase != tc.want.SSHKeyPassphrase {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAuthFromSecretOverHTTP clones through the credentials a Flux secret
// holds, against servers that check them.
func TestAuthFromSecretOverHTTP(t *testing.T) {
	f := newFluxFixture(t, "master")
	basic := serveGit(t, f.root, func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "flux" && p == "basic-secret-123"
	}, false)
	bearer := serveGit(t, f.root, func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer bearer-secret-456"
	}, false)
	tlsSrv := serveGit(t, f.root, nil, true)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})

	for _, tc := range []struct {
		name string
		url  string
		data map[string][]byte
	}{
		{"basic", basic.URL + "/repo.git", map[string][]byte{"username": []byte("flux"), "password": []byte("basic-secret-123")}},
		{"bearer", bearer.URL + "/repo.git", map[string][]byte{"bearerToken": []byte("bearer-secret-456")}},
		{"private CA", tlsSrv.URL + "/repo.git", map[string][]byte{"ca.crt": caPEM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := source.AuthFromSecret(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			co, err := source.Open(context.Background(), tc.url, source.WithGitRef(source.GitRef{SemVer: "^1"}), source.WithAuth(auth))
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			if co.Tag != "v1.2.0" || co.Revision != f.rev["1.2.0"] {
				t.Errorf("tag %s revision %s, want v1.2.0 %s", co.Tag, co.Revision, f.rev["1.2.0"])
			}
		})
	}
}

// TestHostileGitSecrets: wrong or missing credentials fail with advice
// and without the secret, and leave no clone behind.
func TestHostileGitSecrets(t *testing.T) {
	f := newFluxFixture(t, "master")
	basic := serveGit(t, f.root, func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "flux" && p == "right-secret-123"
	}, false)
	tlsSrv := serveGit(t, f.root, nil, true)
	otherCA := selfSignedCA(t)

	for _, tc := range []struct {
		name   string
		url    string
		data   map[string][]byte
		ref    source.GitRef
		want   string
		secret string
	}{
		{"wrong password", basic.URL + "/repo.git", map[string][]byte{"username": []byte("flux"), "password": []byte("wrong-secret-789")}, source.GitRef{}, "check the GitRepository's spec.secretRef", "wrong-secret-789"},
		{"wrong password while listing tags for semver", basic.URL + "/repo.git", map[string][]byte{"username": []byte("flux"), "password": []byte("wrong-secret-790")}, source.GitRef{SemVer: "^1"}, "check the GitRepository's spec.secretRef", "wrong-secret-790"},
		{"password in the URL", strings.Replace(basic.URL, "http://", "http://flux:url-secret-111@", 1) + "/repo.git", nil, source.GitRef{}, "spec.secretRef", "url-secret-111"},
		{"CA of another server", tlsSrv.URL + "/repo.git", map[string][]byte{"ca.crt": otherCA}, source.GitRef{}, "certificate", ""},
		{"CA that is no PEM", tlsSrv.URL + "/repo.git", map[string][]byte{"ca.crt": []byte("not-pem-secret-222")}, source.GitRef{}, "holds no PEM certificate", "not-pem-secret-222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := isolatedTemp(t)
			auth, err := source.AuthFromSecret(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			_, err = source.Open(context.Background(), tc.url, source.WithGitRef(tc.ref), source.WithAuth(auth))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error shows the secret: %v", err)
			}
			assertEmptyDir(t, tmp)
		})
	}
}

// selfSignedCA is the PEM of a fresh CA that signed nothing the tests
// serve (httptest's TLS servers all share one certificate).
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tidegate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestSupportedKind(t *testing.T) {
	for kind, want := range map[string]string{
		"GitRepository":     "",
		"OCIRepository":     "",
		"Bucket":            "Bucket is not supported yet",
		"ArtifactGenerator": "ArtifactGenerator is not supported yet",
		"ExternalArtifact":  "ExternalArtifact is not supported yet",
		"":                  "has no kind",
		"HelmRepository":    `"HelmRepository" is not a Flux source tidegate knows`,
	} {
		err := source.SupportedKind(kind)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", kind, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: err = %v, want %q", kind, err, want)
		}
	}
}

// TestAuthFromSecretOverSSH clones with a secret as flux create secret
// git makes it for SSH: identity and known_hosts.
func TestAuthFromSecretOverSSH(t *testing.T) {
	f := newFluxFixture(t, "master")
	url, key, known := sshServer(t, f.bare)
	auth, err := source.AuthFromSecret(map[string][]byte{"identity": key, "known_hosts": known})
	if err != nil {
		t.Fatal(err)
	}
	co, err := source.Open(context.Background(), url, source.WithGitRef(source.GitRef{SemVer: "~1.0"}), source.WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.Tag != "v1.0.0" || co.Revision != f.rev["1.0.0"] {
		t.Errorf("tag %s revision %s, want v1.0.0 %s", co.Tag, co.Revision, f.rev["1.0.0"])
	}

	tmp := isolatedTemp(t)
	_, otherKey := newKey(t)
	auth, err = source.AuthFromSecret(map[string][]byte{"identity": otherKey, "known_hosts": known})
	if err != nil {
		t.Fatal(err)
	}
	_, err = source.Open(context.Background(), url, source.WithGitRef(source.GitRef{Tag: "v1.0.0"}), source.WithAuth(auth))
	if err == nil || !strings.Contains(err.Error(), "the secret's identity") {
		t.Errorf("a key the server does not know: err = %v", err)
	}
	assertEmptyDir(t, tmp)
}

// TestHostileGitRefStall: a Git server that stops in the middle of the
// pack holds a GitRepository clone no longer than its deadline, and the
// half clone goes.
func TestHostileGitRefStall(t *testing.T) {
	f := newFluxFixture(t, "master")
	srv := httptest.NewServer(sourcetest.StallingBackend(t, f.root, 64))
	t.Cleanup(srv.Close)
	for _, ref := range []source.GitRef{{Tag: "v1.0.0"}, {SemVer: "~1.0"}, {Commit: f.rev["1.0.0"]}, {Name: "refs/pull/1/head"}} {
		t.Run(ref.String(), func(t *testing.T) {
			tmp := isolatedTemp(t)
			start := time.Now()
			_, err := source.Open(context.Background(), srv.URL+"/repo.git", source.WithGitRef(ref),
				source.WithHTTPClient(httpclient.New(httpclient.WithStallTimeout(0), httpclient.WithRequestTimeout(0))), source.WithTimeout(500*time.Millisecond))
			var de *source.DeadlineError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), "did not finish within 500ms") || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("err = %v, want the deadline naming the URL", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s past a 500ms deadline", d)
			}
			assertEmptyDir(t, tmp)
		})
	}
}

// TestConcurrentSources fetches Git and OCI sources at once, as the
// orchestrator does for independent units (run with -race).
func TestConcurrentSources(t *testing.T) {
	f := newFluxFixture(t, "master")
	srv := serveGit(t, f.root, nil, false)
	reg := newOCIRegistry(t, "", "")
	for _, v := range []string{"1", "2"} {
		push(t, reg.host(), authn.Anonymous, "acme/app", fluxArtifact(t, tarGz(t, file("v.txt", v)), "r"+v), "v"+v)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	check := func(co *source.Checkout, err error, file, want string) {
		if err != nil {
			errs <- err
			return
		}
		defer co.Close()
		if got := strings.TrimSpace(read(t, filepath.Join(co.Dir, file))); got != want {
			errs <- fmt.Errorf("%s %s: %s = %q, want %q", co.URL, co.Ref, file, got, want)
		}
	}
	for i := range 2 {
		wg.Go(func() {
			co, err := source.Open(context.Background(), srv.URL+"/repo.git", source.WithGitRef(source.GitRef{Tag: "v1.2.0"}))
			check(co, err, "version.txt", "1.2.0")
		})
		wg.Go(func() {
			co, err := source.Open(context.Background(), srv.URL+"/repo.git", source.WithGitRef(source.GitRef{Branch: "dev"}))
			check(co, err, "version.txt", "dev")
		})
		wg.Go(func() {
			v := fmt.Sprint(i + 1)
			co, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/app", source.OCIRef{Tag: "v" + v}, source.WithInsecure(true))
			check(co, err, "v.txt", v)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
