package scan

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tidegate/tidegate/images/registrytest"
)

func dockerConfigJSON(host, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth))
}

func TestTagsAcrossRepositories(t *testing.T) {
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host(), authn.Anonymous, "team/app", time.Time{}, "1.0.0", "1.1.0", "latest")
	registrytest.Push(t, reg.Host(), authn.Anonymous, "team/worker", time.Time{}, "v2", "v1")

	s := New(Options{Concurrency: 2})
	got := s.Tags(context.Background(), []Target{
		{Repository: reg.Host() + "/team/app"},
		{Repository: reg.Host() + "/team/missing"},
		{Repository: reg.Host() + "/team/worker"},
	})
	if diff := cmp.Diff([]string{"1.0.0", "1.1.0", "latest"}, got[0].Tags); diff != "" || got[0].Err != nil {
		t.Errorf("team/app: err %v, tags (-want +got):\n%s", got[0].Err, diff)
	}
	if got[1].Err == nil || !strings.Contains(got[1].Err.Error(), "team/missing") || !strings.Contains(got[1].Err.Error(), "does not exist") {
		t.Errorf("team/missing: error = %v, want one naming the repository and saying it does not exist", got[1].Err)
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, got[2].Tags); diff != "" || got[2].Err != nil {
		t.Errorf("team/worker after a failing repository: err %v, tags (-want +got):\n%s", got[2].Err, diff)
	}
}

func TestAuthInProcess(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithBasicAuth("robot", "s3cret"))
	registrytest.Push(t, reg.Host(), reg.Auth(), "private/app", time.Time{}, "1.0.0")
	repo := reg.Host() + "/private/app"

	good, err := ParseDockerConfig(dockerConfigJSON("http://"+reg.Host()+"/v1/", "robot", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := ParseDockerConfig(dockerConfigJSON(reg.Host(), "robot", "wrong"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		keychain authn.Keychain
		auth     authn.Authenticator
		denied   bool
	}{
		{name: "docker config", keychain: good},
		{name: "target auth overrides keychain", keychain: bad, auth: &authn.Basic{Username: "robot", Password: "s3cret"}},
		{name: "wrong password", keychain: bad, denied: true},
		{name: "anonymous", denied: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Keychain: tt.keychain})
			got := s.Tags(context.Background(), []Target{{Repository: repo, Auth: tt.auth}})[0]
			if tt.denied {
				if got.Err == nil || !strings.Contains(got.Err.Error(), "access denied") {
					t.Fatalf("error = %v, want access denied", got.Err)
				}
				if strings.Contains(got.Err.Error(), "wrong") || strings.Contains(got.Err.Error(), "s3cret") {
					t.Fatalf("error leaks a password: %v", got.Err)
				}
				return
			}
			if got.Err != nil || len(got.Tags) != 1 {
				t.Fatalf("Tags() = %v, %v", got.Tags, got.Err)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	fast := Retry{Attempts: 4, Initial: 5 * time.Millisecond, Max: 3 * time.Second}
	tests := []struct {
		name       string
		status     int
		n          int
		retryAfter string
		retry      Retry
		wantErr    string
		minGap     time.Duration // between the first failure and the success
	}{
		{name: "429 honours Retry-After", status: 429, n: 1, retryAfter: "1", retry: fast, minGap: time.Second},
		{name: "500 retried with backoff", status: 500, n: 2, retry: fast},
		{name: "503 retried", status: 503, n: 3, retry: fast},
		{name: "too many failures", status: 502, n: 10, retry: fast, wantErr: "502"},
		{name: "Retry-After beyond Max is not waited for", status: 429, n: 1, retryAfter: "3600", retry: fast, wantErr: "429"},
		{name: "404 is not retried", status: 404, n: 1, retry: fast, wantErr: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registrytest.New(t)
			registrytest.Push(t, reg.Host(), authn.Anonymous, "app", time.Time{}, "1.0.0")
			reg.Fail("/tags/list", tt.status, tt.n, tt.retryAfter)
			start := time.Now()
			got := New(Options{Retry: tt.retry}).Tags(context.Background(), []Target{{Repository: reg.Host() + "/app"}})[0]
			if tt.wantErr != "" {
				if got.Err == nil || !strings.Contains(got.Err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", got.Err, tt.wantErr)
				}
				if time.Since(start) > 2*time.Second {
					t.Errorf("gave up after %v, want promptly", time.Since(start))
				}
				return
			}
			if got.Err != nil {
				t.Fatalf("Tags() error = %v", got.Err)
			}
			var failed, ok []time.Time
			for _, r := range reg.Requests() {
				if !strings.HasSuffix(r.Path, "/tags/list") {
					continue
				}
				if r.Status == tt.status {
					failed = append(failed, r.At)
				} else if r.Status == 200 {
					ok = append(ok, r.At)
				}
			}
			if len(failed) != tt.n || len(ok) != 1 {
				t.Fatalf("registry saw %d failed and %d good tag requests, want %d and 1", len(failed), len(ok), tt.n)
			}
			if gap := ok[0].Sub(failed[len(failed)-1]); gap < tt.minGap {
				t.Errorf("retried after %v, want at least %v (Retry-After)", gap, tt.minGap)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{in: "", ok: false},
		{in: "7", want: 7 * time.Second, ok: true},
		{in: "Thu, 01 Jan 2026 12:00:30 GMT", want: 30 * time.Second, ok: true},
		{in: "Thu, 01 Jan 2026 11:00:00 GMT", want: 0, ok: true},
		{in: "soon", ok: false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDigestsAndCreated(t *testing.T) {
	reg := registrytest.New(t)
	t1 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	d1 := registrytest.Push(t, reg.Host(), authn.Anonymous, "app", t1, "a", "b")
	d2 := registrytest.Push(t, reg.Host(), authn.Anonymous, "app", t1.Add(time.Hour), "c")
	target := Target{Repository: reg.Host() + "/app"}
	s := New(Options{})
	refs := []Ref{{target, "a"}, {target, "b"}, {target, "c"}, {target, "nope"}}
	dig := s.Digests(context.Background(), refs)
	cre := s.Created(context.Background(), refs)
	for i, want := range []string{d1, d1, d2} {
		if dig[i].Err != nil || dig[i].Digest != want {
			t.Errorf("digest of %s = %q, %v; want %q", refs[i].Tag, dig[i].Digest, dig[i].Err, want)
		}
	}
	for i, want := range []time.Time{t1, t1, t1.Add(time.Hour)} {
		if cre[i].Err != nil || !cre[i].Created.Equal(want) {
			t.Errorf("created of %s = %v, %v; want %v", refs[i].Tag, cre[i].Created, cre[i].Err, want)
		}
	}
	if dig[3].Err == nil || cre[3].Err == nil {
		t.Errorf("a missing tag resolved: %+v %+v", dig[3], cre[3])
	}
}

// TestInsecureRegistry reaches a plain-HTTP registry under a name that is
// not loopback (go-containerregistry already uses HTTP for localhost), so
// only --insecure-registry makes it work.
func TestInsecureRegistry(t *testing.T) {
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host(), authn.Anonymous, "app", time.Time{}, "1.0.0")
	_, port, _ := net.SplitHostPort(reg.Host())
	host := "registry.tidegate.test:" + port
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == host {
			addr = reg.Host()
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	target := []Target{{Repository: host + "/app"}}
	fast := Retry{Attempts: 1}

	got := New(Options{Transport: base, Retry: fast}).Tags(context.Background(), target)[0]
	if got.Err == nil {
		t.Fatalf("HTTPS to a plain HTTP registry succeeded: %v", got.Tags)
	}
	got = New(Options{Transport: base, Retry: fast, Insecure: []string{host}}).Tags(context.Background(), target)[0]
	if got.Err != nil || len(got.Tags) != 1 {
		t.Fatalf("with --insecure-registry: %v, %v", got.Tags, got.Err)
	}
}

func TestDistributionRegistry(t *testing.T) {
	d := registrytest.StartDistribution(t, "ci", "hunter2-hunter2")
	auth := &authn.Basic{Username: d.User, Password: d.Pass}
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("1.%02d.0", i))
	}
	digest := registrytest.Push(t, d.Host, auth, "team/app", time.Time{}, want...)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), dockerConfigJSON(d.Host, d.User, d.Pass), 0o600); err != nil {
		t.Fatal(err)
	}
	kc, err := LoadDockerConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A page size below the tag count makes distribution answer with Link
	// headers; every tag must still arrive.
	s := New(Options{Keychain: kc, PageSize: 10})
	target := Target{Repository: d.Host + "/team/app"}
	got := s.Tags(context.Background(), []Target{target})[0]
	if got.Err != nil {
		t.Fatal(got.Err)
	}
	if diff := cmp.Diff(want, got.Tags); diff != "" {
		t.Errorf("paginated tags (-want +got):\n%s", diff)
	}
	dig := s.Digests(context.Background(), []Ref{{target, "1.07.0"}})[0]
	if dig.Err != nil || dig.Digest != digest {
		t.Errorf("digest = %q, %v; want %q", dig.Digest, dig.Err, digest)
	}

	wrong, _ := ParseDockerConfig(dockerConfigJSON(d.Host, d.User, "nope"))
	got = New(Options{Keychain: wrong}).Tags(context.Background(), []Target{target})[0]
	if got.Err == nil || !strings.Contains(got.Err.Error(), "access denied") || !strings.Contains(got.Err.Error(), d.Host) {
		t.Errorf("wrong credentials: error = %v, want access denied naming %s", got.Err, d.Host)
	}
}

func TestParseDockerConfig(t *testing.T) {
	kc, err := ParseDockerConfig([]byte(`{"auths": {"https://index.docker.io/v1/": {"username": "u", "password": "p"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(mustRepo(t, "nginx"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := a.Authorization()
	if cfg.Username != "u" || cfg.Password != "p" {
		t.Errorf("Docker Hub credentials not found for nginx: %+v", cfg)
	}
	for _, bad := range []string{`not json`, `{"auths": {"h": {"auth": "***"}}}`, `{"auths": {"h": {"auth": "bm9jb2xvbg=="}}}`} {
		if _, err := ParseDockerConfig([]byte(bad)); err == nil {
			t.Errorf("ParseDockerConfig(%q) accepted it", bad)
		}
	}
}

func TestRetryableErr(t *testing.T) {
	// go-containerregistry probes HTTPS before HTTP on loopback and
	// insecure registries; retrying that TLS failure once cost 300ms per
	// repository (found by BenchmarkScan).
	tests := []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, false},
		{errors.New("http: server gave HTTP response to HTTPS client"), false},
	}
	for _, tt := range tests {
		if got := retryableErr(tt.err); got != tt.want {
			t.Errorf("retryableErr(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
