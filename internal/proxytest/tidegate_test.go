package proxytest_test

// These tests run the tidegate binary with HTTPS_PROXY, HTTP_PROXY and
// NO_PROXY set, the way a CronJob or CI job behind a corporate proxy
// does, against real servers: git http-backend, go-containerregistry's
// registry, the GitHub API fake and a real kube-apiserver. A subprocess
// is the honest test: Go reads the proxy variables once per process
// (http.ProxyFromEnvironment caches them), and SSL_CERT_FILE, which makes
// the binary trust the test CA, is read once too.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tidegate/tidegate/forge/forgetest"
	"github.com/tidegate/tidegate/internal/proxytest"
	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/source/sourcetest"
)

var (
	buildOnce sync.Once
	binDir    string
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// tidegate builds the binary once per test run.
func tidegate(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "tidegate-proxytest-"); buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "tidegate")
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cleared are the variables of the developer's or CI's environment that
// would change what the binary does.
var cleared = []string{
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "KUBECONFIG", "DOCKER_CONFIG", "HOME",
	"GITHUB_TOKEN", "GITLAB_TOKEN", "GITHUB_ACTIONS",
}

// run runs tidegate with a clean environment plus env. The binary trusts
// only ca, through SSL_CERT_FILE: every server it reaches over TLS must
// be checked against the system pool.
func run(t *testing.T, ca *proxytest.CA, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tidegate(t), args...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(cleared, strings.ToUpper(k)) || strings.HasPrefix(k, "TIDEGATE_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "HOME="+t.TempDir(), "SSL_CERT_FILE="+ca.File, "SSL_CERT_DIR="+t.TempDir())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run tidegate %v: %v", args, err)
	}
	t.Logf("tidegate %s: exit %d", strings.Join(args, " "), res.code)
	return res
}

func proxyEnv(p *proxytest.Proxy, noProxy string) map[string]string {
	return map[string]string{"HTTPS_PROXY": p.URL, "HTTP_PROXY": p.URL, "NO_PROXY": noProxy}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bareRepo commits files and returns the directory holding the bare
// repository acme/fleet.git, which accepts pushes over HTTP.
func bareRepo(t *testing.T, files map[string]string) (root, bare string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	work := t.TempDir()
	writeFiles(t, work, files)
	git(t, work, "init", "-q")
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "seed")
	root = t.TempDir()
	bare = filepath.Join(root, "acme", "fleet.git")
	git(t, work, "clone", "-q", "--bare", work, bare)
	git(t, bare, "config", "http.receivepack", "true")
	return root, bare
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for f, c := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const gitToken = "git-token-1234"

// gitHandler is git http-backend behind token auth, as Git hosts serve
// it.
func gitHandler(t *testing.T, root string) http.Handler {
	backend := sourcetest.HTTPBackend(t, root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != gitToken {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: through-the-proxy
  namespace: default
data:
  k: v
`

// TestGitThroughProxy clones over HTTPS (CONNECT tunnel, HTTPS_PROXY) and
// over plain HTTP (absolute-URI forwarding, HTTP_PROXY).
func TestGitThroughProxy(t *testing.T) {
	ca := proxytest.NewCA(t)
	root, _ := bareRepo(t, map[string]string{"apps/cm.yaml": configMap})
	tlsSrv := ca.StartTLS(t, "git", gitHandler(t, root))
	plain := httptest.NewServer(gitHandler(t, root))
	t.Cleanup(plain.Close)

	for _, tc := range []struct {
		name, url, method string
	}{
		{"https", proxytest.URL("git", tlsSrv), "CONNECT"},
		{"http", proxytest.URL("git", plain), "GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proxytest.Start(t)
			res := run(t, ca, proxyEnv(p, "localhost,127.0.0.1"), "render", "--source", tc.url+"/acme/fleet.git", "--git-token", gitToken, "--path", "apps")
			if res.code != 0 || !strings.Contains(res.stdout, "name: through-the-proxy") {
				t.Fatalf("render through the proxy failed:\n%s", res)
			}
			target := strings.TrimPrefix(strings.TrimPrefix(tc.url, "https://"), "http://")
			if got := p.Targets(); !slices.Equal(got, []string{target}) {
				t.Errorf("proxy targets = %q, want [%s]", got, target)
			}
			for _, r := range p.Requests() {
				if r.Method != tc.method && !(tc.method == "GET" && r.Method == "POST") {
					t.Errorf("proxy request %+v, want %s", r, tc.method)
				}
			}
		})
	}
}

// fleet is a Git host, a registry and a GitHub API, each on its own name
// behind TLS, for `images update --propose`.
type fleet struct {
	ca                   *proxytest.CA
	bare                 string
	git, registry, forge string // host:port as reached through the proxy
	gitURL, forgeURL     string
	github               *forgetest.GitHub
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{ca: proxytest.NewCA(t)}

	reg := f.ca.StartTLS(t, "registry", registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	f.registry = proxytest.Addr("registry", reg)
	// Seed it directly: the name only resolves through the proxy.
	push := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool()}}
	t.Cleanup(push.CloseIdleConnections)
	direct := strings.TrimPrefix(reg.URL, "https://")
	for i, tag := range []string{"1.0.0", "1.4.0"} {
		img, err := mutate.CreatedAt(empty.Image, v1.Time{Time: time.Unix(int64(i)*86400, 0)})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewTag(direct + "/team/app:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(push)); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}

	root, bare := bareRepo(t, map[string]string{
		"flux/policy.yaml": fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: %s/team/app
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: ">=1.0.0 <2.0.0"
`, f.registry),
		"apps/app.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: team
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s/team/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
`, f.registry),
	})
	f.bare = bare
	gitSrv := f.ca.StartTLS(t, "git", gitHandler(t, root))
	f.git, f.gitURL = proxytest.Addr("git", gitSrv), proxytest.URL("git", gitSrv)+"/acme/fleet.git"

	f.github = forgetest.NewGitHub("acme", "fleet", "forge-token-5678", "")
	t.Cleanup(f.github.Close)
	forgeSrv := f.ca.StartTLS(t, "forge", f.github.Config.Handler)
	f.forge, f.forgeURL = proxytest.Addr("forge", forgeSrv), proxytest.URL("forge", forgeSrv)+"/api/v3"
	return f
}

func (f *fleet) propose(t *testing.T, p *proxytest.Proxy, noProxy string) result {
	t.Helper()
	return run(t, f.ca, proxyEnv(p, noProxy), "images", "update",
		"--source", f.gitURL, "--git-token", gitToken,
		"--propose", "--forge", "github", "--forge-url", f.forgeURL, "--forge-token", "forge-token-5678",
		"--docker-config", t.TempDir())
}

// TestImagesProposeThroughProxy runs the whole of `images update
// --propose` through the proxy: clone and push (git over HTTPS), tag
// listing (registry), and the pull request (GitHub API).
func TestImagesProposeThroughProxy(t *testing.T) {
	f := newFleet(t)
	p := proxytest.Start(t)
	res := f.propose(t, p, "")
	if res.code != 0 || !strings.Contains(res.stdout, "created") {
		t.Fatalf("images update --propose through the proxy failed:\n%s", res)
	}
	got := p.Targets()
	slices.Sort(got)
	want := []string{f.forge, f.git, f.registry}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("proxy targets = %q, want %q", got, want)
	}
	for _, r := range p.Requests() {
		if r.Method != "CONNECT" || r.Refused {
			t.Errorf("proxy request %+v, want only CONNECT tunnels", r)
		}
	}
	prs := f.github.PRs()
	if len(prs) != 1 || !strings.HasPrefix(prs[0].Head, "tidegate/images/") {
		t.Fatalf("pull requests = %+v, want one from a tidegate/images/ branch", prs)
	}
	if got := git(t, f.bare, "show", prs[0].Head+":apps/app.yaml"); !strings.Contains(got, "/team/app:1.4.0") {
		t.Errorf("pushed branch holds:\n%s", got)
	}
}

// TestNoProxy lists each host in NO_PROXY in turn: that host is reached
// directly, so its name does not resolve and the proxy never sees it,
// while the other hosts of the same run still go through the proxy.
func TestNoProxy(t *testing.T) {
	f := newFleet(t)
	for _, tc := range []struct {
		name    string
		noProxy string
		direct  string   // the host NO_PROXY matches
		proxied []string // hosts the run still reaches through the proxy
	}{
		{name: "git", noProxy: "git.tidegate.test", direct: f.git},
		{name: "registry", noProxy: "example.com, registry.tidegate.test", direct: f.registry, proxied: []string{f.git}},
		{name: "forge by host and port", noProxy: f.forge, direct: f.forge, proxied: []string{f.git, f.registry}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proxytest.Start(t)
			res := f.propose(t, p, tc.noProxy)
			t.Logf("%s", res)
			host, _, _ := strings.Cut(tc.direct, ":")
			if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "lookup "+host) {
				t.Errorf("want a failed direct lookup of %s:\n%s", host, res)
			}
			got := p.Targets()
			slices.Sort(got)
			slices.Sort(tc.proxied)
			if !slices.Equal(got, tc.proxied) {
				t.Errorf("proxy targets = %q, want %q", got, tc.proxied)
			}
		})
	}
}

// TestKubeAPIThroughProxy points a kubeconfig at the real API server as
// kube.tidegate.test; tls-server-name keeps its certificate (issued for
// localhost) valid. client-go then reaches it through HTTPS_PROXY, or
// directly when NO_PROXY lists it.
func TestKubeAPIThroughProxy(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg, err := clientcmd.Load(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var kube string
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil {
			t.Fatal(err)
		}
		kube = "kube." + proxytest.Domain + ":" + u.Port()
		c.Server, c.TLSServerName = "https://"+kube, "localhost"
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"cm.yaml": configMap})
	ca := proxytest.NewCA(t) // unused by the API server, whose CA is in the kubeconfig
	diff := func(t *testing.T, p *proxytest.Proxy, noProxy string) result {
		res := run(t, ca, proxyEnv(p, noProxy), "diff", "--kubeconfig", kubeconfig, "--source", dir)
		t.Logf("%s", res)
		return res
	}

	t.Run("proxied", func(t *testing.T) {
		p := proxytest.Start(t)
		res := diff(t, p, "localhost,127.0.0.1")
		if res.code != 2 || !strings.Contains(res.stdout, "through-the-proxy") {
			t.Fatalf("diff through the proxy: want exit 2 and the ConfigMap to create:\n%s", res)
		}
		if got := p.Targets(); !slices.Equal(got, []string{kube}) {
			t.Errorf("proxy targets = %q, want [%s]", got, kube)
		}
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		p := proxytest.Start(t)
		res := diff(t, p, ".tidegate.test")
		if res.code == 0 || res.code == 2 || !strings.Contains(res.stdout+res.stderr, "lookup kube.tidegate.test") {
			t.Errorf("want a failed direct lookup of kube.tidegate.test:\n%s", res)
		}
		if got := p.Targets(); len(got) != 0 {
			t.Errorf("proxy targets = %q, want none", got)
		}
	})
}
