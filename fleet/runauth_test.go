package fleet_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/source"
	"github.com/tidegate/tidegate/source/sourcetest"
)

// authGitServer serves one repository over git http-backend behind basic
// auth (user git, password token) and records every Authorization header
// it was sent.
func authGitServer(t *testing.T, token string, files map[string]string) (url string, seen func() []string) {
	t.Helper()
	root := t.TempDir()
	work := t.TempDir()
	git(t, root, "init", "-q", "--bare", "apps.git")
	git(t, work, "init", "-q", "-b", "main")
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(work, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "apps")
	git(t, work, "push", "-q", filepath.Join(root, "apps.git"), "main")
	backend := sourcetest.HTTPBackend(t, root)
	var mu sync.Mutex
	var headers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Get("Authorization"))
		mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != "git" || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/apps.git", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), headers...)
	}
}

func gitRepositoryUnit(ns, url string) string {
	return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: apps
  namespace: %[1]s
spec:
  interval: 5m
  url: %[2]s
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: %[1]s
spec:
  interval: 10m
  path: ./deploy
  prune: true
  sourceRef:
    kind: GitRepository
    name: apps
`, ns, url)
}

// TestFleetRunCredentialsOnTheSameHost: a GitRepository without a
// secretRef on the run's own Git server is cloned with the run's
// credentials (--git-token), as a fleet of repositories on one server
// needs.
func TestFleetRunCredentialsOnTheSameHost(t *testing.T) {
	ns := env.Namespace(t)
	url, _ := authGitServer(t, "s3cret-token", map[string]string{"deploy/cm.yaml": configMap(ns, "from-private", "1")})
	r := newRepo(t)
	r.write("clusters/test/apps.yaml", gitRepositoryUnit(ns, url))
	host := strings.TrimSuffix(url, "/apps.git")
	o := options(r, ns, func(o *fleet.Options) {
		o.Sources = fleet.NetSources{RunAuth: source.Auth{Token: "s3cret-token"}, RunRemote: host + "/fleet.git"}
	})
	rep, err := run(t, o)
	if err != nil {
		t.Fatalf("run: %v (%s)", err, unit(rep, ns+"/apps").Reason)
	}
	if !exists(t, ns, "from-private") {
		t.Error("the private repository's object was not applied")
	}
}

// TestHostileRunCredentialsOtherHost: the run's credentials never go to
// another Git server: a GitRepository elsewhere without a secretRef is
// cloned anonymously (and here refused by the server), and the server
// never saw an Authorization header.
func TestHostileRunCredentialsOtherHost(t *testing.T) {
	ns := env.Namespace(t)
	url, seen := authGitServer(t, "s3cret-token", map[string]string{"deploy/cm.yaml": configMap(ns, "from-private", "1")})
	r := newRepo(t)
	r.write("clusters/test/apps.yaml", gitRepositoryUnit(ns, url))
	o := options(r, ns, func(o *fleet.Options) {
		o.Sources = fleet.NetSources{RunAuth: source.Auth{Token: "s3cret-token"}, RunRemote: "https://git.example.com/fleet.git"}
	})
	rep, err := run(t, o)
	if err == nil {
		t.Fatal("an anonymous clone of a private repository succeeded")
	}
	if u := unit(rep, ns+"/apps"); u.Status != reconcile.UnitFailed {
		t.Errorf("unit apps: %s, want failed", u.Status)
	}
	for _, h := range seen() {
		if h != "" {
			t.Fatalf("the other host was sent credentials: %q", h)
		}
	}
	if len(seen()) == 0 {
		t.Fatal("the server saw no request: the test proves nothing")
	}
	if strings.Contains(fmt.Sprint(rep), "s3cret-token") {
		t.Error("the report holds the token")
	}
}
