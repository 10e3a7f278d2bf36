package propose_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/forge/forgetest"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/images/scan"
	"github.com/tidegate/tidegate/internal/testenv/gitea"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/source"
)

// counter counts the write requests a forge client sends.
type counter struct {
	mu     sync.Mutex
	writes []string
	next   http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		c.mu.Lock()
		c.writes = append(c.writes, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
	}
	return c.next.RoundTrip(r)
}

func (c *counter) Writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// env is one forge and one Git remote the loop runs against.
type env struct {
	remote string
	auth   source.Auth
	forge  forge.Forge
	count  *counter
	// close closes pull request number the way a reviewer does.
	close func(t *testing.T, number int)
	// head returns the commit of branch on the remote, "" when absent.
	head func(t *testing.T, branch string) string
	// file returns a file's content on a branch of the remote.
	file func(t *testing.T, branch, path string) string
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=seed", "GIT_AUTHOR_EMAIL=seed@example.com",
		"GIT_COMMITTER_NAME=seed", "GIT_COMMITTER_EMAIL=seed@example.com", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// fixture is the registry and the manifests that follow it.
type fixture struct {
	reg  *registrytest.Registry
	opts images.Options
}

func newFixture(t *testing.T) *fixture {
	reg := registrytest.New(t, registrytest.WithoutRequestLog())
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	registrytest.Push(t, reg.Host(), reg.Auth(), "acme/web", day, "1.0.0")
	registrytest.Push(t, reg.Host(), reg.Auth(), "acme/web", day.Add(time.Hour), "1.1.0")
	registrytest.Push(t, reg.Host(), reg.Auth(), "acme/api", day, "2.0.0")
	registrytest.Push(t, reg.Host(), reg.Auth(), "acme/api", day.Add(time.Hour), "2.1.0")
	return &fixture{reg: reg, opts: images.Options{Scan: scan.Options{
		Insecure: []string{reg.Host()}, Keychain: &scan.Keychain{},
		Retry: scan.Retry{Attempts: 2, Initial: time.Millisecond},
	}}}
}

func (f *fixture) files() map[string]string {
	h := f.reg.Host()
	policy := func(name, rng string) string {
		return fmt.Sprintf(`---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: %[1]s, namespace: flux-system}
spec: {image: %[2]s/acme/%[1]s}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: flux-system}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: "%[3]s"}}
`, name, h, rng)
	}
	deploy := func(name, tag string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: apps}
spec:
  template:
    spec:
      containers:
        - name: %[1]s
          image: %[2]s/acme/%[1]s:%[3]s # {"$imagepolicy": "flux-system:%[1]s"}
`, name, h, tag)
	}
	return map[string]string{
		"flux-system/images.yaml": policy("web", "^1.0.0") + policy("api", "^2.0.0"),
		"apps/web.yaml":           deploy("web", "1.0.0"),
		"apps/api.yaml":           deploy("api", "2.0.0"),
	}
}

// seed pushes the fixture's manifests as the first commit of main.
func (f *fixture) seed(t *testing.T, pushURL string) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	for name, content := range f.files() {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "seed")
	git(t, dir, "push", "-q", pushURL, "main")
}

// run is one stateless invocation: a fresh clone, a fresh forge client.
func run(t *testing.T, e env, o propose.Options) *propose.Result {
	t.Helper()
	ctx := context.Background()
	co, err := source.Open(ctx, e.remote, source.WithRef("main"), source.WithAuth(e.auth))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	res, err := propose.Run(ctx, co, e.forge, o)
	if err != nil {
		t.Fatalf("propose.Run: %v", err)
	}
	return res
}

func actions(res *propose.Result) map[string]propose.Action {
	out := map[string]propose.Action{}
	for _, p := range res.Proposals {
		out[p.Policies[0]] = p.Action
	}
	return out
}

func byPolicy(t *testing.T, res *propose.Result, policy string) propose.Proposal {
	t.Helper()
	for _, p := range res.Proposals {
		if len(p.Policies) == 1 && p.Policies[0] == policy {
			return p
		}
	}
	t.Fatalf("no proposal for %s in %+v", policy, actions(res))
	return propose.Proposal{}
}

// loop is the whole story every forge must tell the same way.
func loop(t *testing.T, fx *fixture, e env) {
	o := propose.Options{Images: fx.opts, Labels: []string{"images"}, Author: source.Signature{Name: "Tide Gate", Email: "bot@example.com"}}

	// A dry run renders and writes nothing.
	dry := o
	dry.DryRun, dry.Group = true, true
	res := run(t, e, dry)
	if len(res.Proposals) != 1 || res.Proposals[0].Action != propose.ActionDryRun || !strings.HasPrefix(res.Proposals[0].Branch, "tidegate/images/") {
		t.Fatalf("dry run = %+v", res.Proposals)
	}
	if !strings.Contains(res.Proposals[0].Body, "`1.0.0` → `1.1.0`") || !strings.Contains(res.Proposals[0].Body, "`2.0.0` → `2.1.0`") {
		t.Errorf("dry-run body lacks the bumps:\n%s", res.Proposals[0].Body)
	}
	if w := e.count.Writes(); len(w) != 0 {
		t.Fatalf("dry run wrote to the forge: %v", w)
	}
	if h := e.head(t, res.Proposals[0].Branch); h != "" {
		t.Fatalf("dry run pushed %s", res.Proposals[0].Branch)
	}

	// First run: one pull request per policy.
	res = run(t, e, o)
	api, web := byPolicy(t, res, "flux-system:api"), byPolicy(t, res, "flux-system:web")
	if api.Action != propose.ActionCreated || web.Action != propose.ActionCreated {
		t.Fatalf("first run actions = %v, want both created", actions(res))
	}
	if api.PullRequest.Number == web.PullRequest.Number || api.PullRequest.State != forge.StateOpen {
		t.Errorf("pull requests = %+v, %+v", api.PullRequest, web.PullRequest)
	}
	if got := e.file(t, web.Branch, "apps/web.yaml"); !strings.Contains(got, "acme/web:1.1.0") {
		t.Errorf("web branch apps/web.yaml:\n%s", got)
	}
	if got := e.file(t, web.Branch, "apps/api.yaml"); !strings.Contains(got, "acme/api:2.0.0") {
		t.Errorf("the web branch carries the api bump:\n%s", got)
	}
	if got := e.file(t, "main", "apps/web.yaml"); !strings.Contains(got, "acme/web:1.0.0") {
		t.Errorf("main was changed:\n%s", got)
	}
	if web.Title != "Update images: web:1.0.0 → 1.1.0" {
		t.Errorf("title = %q", web.Title)
	}
	webHead, apiHead := e.head(t, web.Branch), e.head(t, api.Branch)
	writes := len(e.count.Writes())

	// Second run, nothing new: no commit, no push, no API write.
	res = run(t, e, o)
	for _, p := range res.Proposals {
		if p.Action != propose.ActionUnchanged || p.Pushed {
			t.Errorf("second run %s: action %s, pushed %v; want unchanged, not pushed", p.Branch, p.Action, p.Pushed)
		}
	}
	if w := e.count.Writes(); len(w) != writes {
		t.Errorf("second run wrote to the forge: %v", w[writes:])
	}
	if h := e.head(t, web.Branch); h != webHead {
		t.Errorf("second run moved %s from %s to %s", web.Branch, webHead, h)
	}

	// A newer tag updates the same pull request.
	registrytest.Push(t, fx.reg.Host(), fx.reg.Auth(), "acme/web", time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), "1.2.0")
	res = run(t, e, o)
	web2 := byPolicy(t, res, "flux-system:web")
	if web2.Action != propose.ActionUpdated || !web2.Pushed || web2.PullRequest.Number != web.PullRequest.Number {
		t.Errorf("after a new tag: action %s, pushed %v, PR %d; want updated, pushed, PR %d", web2.Action, web2.Pushed, web2.PullRequest.Number, web.PullRequest.Number)
	}
	if !strings.Contains(web2.PullRequest.Body, "`1.2.0`") || web2.Title != "Update images: web:1.0.0 → 1.2.0" {
		t.Errorf("updated pull request: title %q body:\n%s", web2.Title, web2.PullRequest.Body)
	}
	if got := e.file(t, web.Branch, "apps/web.yaml"); !strings.Contains(got, "acme/web:1.2.0") {
		t.Errorf("web branch after a new tag:\n%s", got)
	}
	if a := byPolicy(t, res, "flux-system:api"); a.Action != propose.ActionUnchanged || e.head(t, api.Branch) != apiHead {
		t.Errorf("api proposal after web's new tag: %s", a.Action)
	}

	// A reviewer closes the api pull request: it is not reopened.
	e.close(t, api.PullRequest.Number)
	writes = len(e.count.Writes())
	res = run(t, e, o)
	if a := byPolicy(t, res, "flux-system:api"); a.Action != propose.ActionClosed || a.Pushed || a.PullRequest.Number != api.PullRequest.Number {
		t.Errorf("closed api pull request: action %s, pushed %v", a.Action, a.Pushed)
	}
	if w := e.count.Writes(); len(w) != writes {
		t.Errorf("run after close wrote to the forge: %v", w[writes:])
	}

	// --reopen proposes it again, as a new pull request.
	o.Reopen = true
	res = run(t, e, o)
	a := byPolicy(t, res, "flux-system:api")
	if a.Action != propose.ActionCreated || a.PullRequest.Number == api.PullRequest.Number || a.PullRequest.State != forge.StateOpen {
		t.Errorf("reopen: action %s, PR %+v", a.Action, a.PullRequest)
	}
}

// bareEnv is a bare repository on disk, the remote for the fakes.
func bareRemote(t *testing.T) (string, func(t *testing.T, branch string) string, func(t *testing.T, branch, path string) string) {
	bare := t.TempDir()
	git(t, bare, "init", "-q", "--bare", "-b", "main")
	head := func(t *testing.T, branch string) string {
		cmd := exec.Command("git", "rev-parse", "--verify", "-q", "refs/heads/"+branch)
		cmd.Dir = bare
		out, _ := cmd.Output()
		return strings.TrimSpace(string(out))
	}
	file := func(t *testing.T, branch, path string) string { return git(t, bare, "show", branch+":"+path) }
	return bare, head, file
}

func TestLoopGitHub(t *testing.T) {
	fx := newFixture(t)
	bare, head, file := bareRemote(t)
	fx.seed(t, bare)
	gh := forgetest.NewGitHub("acme", "fleet", "tok-123456", "")
	defer gh.Close()
	gh.HeadExists = func(b string) bool { return head(t, b) != "" }
	c := &counter{next: http.DefaultTransport}
	f, err := forge.New(forge.Config{Provider: forge.GitHub, RemoteURL: gh.RemoteURL(), APIURL: gh.URL, Token: "tok-123456", HTTPClient: &http.Client{Transport: c}})
	if err != nil {
		t.Fatal(err)
	}
	loop(t, fx, env{remote: bare, forge: f, count: c, head: head, file: file,
		close: func(t *testing.T, n int) { gh.SetState(n, "closed") }})
	if got := gh.PRs()[0].Labels; len(got) != 1 || got[0] != "images" {
		t.Errorf("labels = %v", got)
	}
}

func TestLoopGitLab(t *testing.T) {
	fx := newFixture(t)
	bare, head, file := bareRemote(t)
	fx.seed(t, bare)
	gl := forgetest.NewGitLab("acme/platform/fleet", "glpat-123456", "")
	defer gl.Close()
	c := &counter{next: http.DefaultTransport}
	f, err := forge.New(forge.Config{RemoteURL: "git@gitlab.example.com:acme/platform/fleet.git", APIURL: gl.URL, Token: "glpat-123456", HTTPClient: &http.Client{Transport: c}})
	if err != nil {
		t.Fatal(err)
	}
	loop(t, fx, env{remote: bare, forge: f, count: c, head: head, file: file,
		close: func(t *testing.T, n int) { gl.SetState(n, "closed") }})
}

func TestLoopGitea(t *testing.T) {
	srv := gitea.Start(t)
	fx := newFixture(t)
	clone := srv.CreateRepo(t, "fleet")
	fx.seed(t, srv.AuthURL(clone))
	srv.WaitPushed(t, "fleet", "main")
	c := &counter{next: http.DefaultTransport}
	f, err := forge.New(forge.Config{Provider: forge.Gitea, RemoteURL: clone, Token: srv.Token, HTTPClient: &http.Client{Transport: c}})
	if err != nil {
		t.Fatal(err)
	}
	repoAPI := "/api/v1/repos/" + srv.User + "/fleet"
	head := func(t *testing.T, branch string) string {
		var b struct {
			Commit struct{ ID string } `json:"commit"`
		}
		if err := srv.Do(http.MethodGet, repoAPI+"/branches/"+branch, nil, &b); err != nil {
			return ""
		}
		return b.Commit.ID
	}
	file := func(t *testing.T, branch, path string) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+repoAPI+"/raw/"+path+"?ref="+branch, nil)
		req.Header.Set("Authorization", "token "+srv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return string(data)
	}
	loop(t, fx, env{
		remote: clone, auth: source.Auth{Username: srv.User, Token: srv.Token}, forge: f, count: c, head: head, file: file,
		close: func(t *testing.T, n int) {
			if err := srv.Do(http.MethodPatch, fmt.Sprintf("%s/pulls/%d", repoAPI, n), map[string]string{"state": "closed"}, nil); err != nil {
				t.Fatal(err)
			}
		},
	})
}
