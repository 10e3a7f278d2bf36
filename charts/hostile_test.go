package charts_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/images/registrytest"
)

// TestHostileRepository serves what a broken or hostile chart
// repository could: each case asserts the refusal (what and where) and
// that nothing was cached or fetched beyond the refusal.
func TestHostileRepository(t *testing.T) {
	good := tgz(t, tarEntry{Name: "hello/Chart.yaml", Body: helloChartYAML})
	endless := func(prefix, line string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, prefix)
			chunk := []byte(strings.Repeat(line, 1024))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}
	stall := func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "apiVersion: v1\nentries:\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	silent := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	serve := func(index string, archive []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/index.yaml":
				io.WriteString(w, index)
			case "/hello-0.1.0.tgz":
				w.Write(archive)
			default:
				http.NotFound(w, r)
			}
		}
	}
	hostileArchive := func(entries ...tarEntry) http.HandlerFunc {
		a := tgz(t, append([]tarEntry{{Name: "hello/Chart.yaml", Body: helloChartYAML}}, entries...)...)
		// The index names the hostile archive's true digest: the
		// refusal must come from the content, not the digest check.
		return serve(indexFor("hello-0.1.0.tgz", strings.TrimPrefix(digestOf(a), "sha256:")), a)
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		opts    charts.Options
		wants   []string
		is      error
		// paths the server may have been asked for; anything more is a
		// fetch after the refusal.
		paths []string
	}{
		{name: "endless index.yaml", handler: endless("apiVersion: v1\nentries:\n", "  x: []\n"),
			opts: charts.Options{MaxIndexBytes: 1 << 20}, wants: []string{"index.yaml at", "over the 1 MiB limit"}, paths: []string{"/index.yaml"}},
		{name: "index.yaml announced larger than the cap", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10737418240")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "apiVersion: v1\n")
		}, opts: charts.Options{MaxIndexBytes: 1 << 20}, wants: []string{"is 10737418240 bytes, over the 1 MiB limit"}, paths: []string{"/index.yaml"}},
		{name: "endless archive", handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/index.yaml" {
				io.WriteString(w, indexFor("hello-0.1.0.tgz", ""))
				return
			}
			endless("", "\x00")(w, r)
		}, opts: charts.Options{MaxArchiveBytes: 1 << 20}, wants: []string{"chart hello 0.1.0", "chart archive at", "hello-0.1.0.tgz is over the 1 MiB limit"}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "server stalls mid-answer", handler: stall, opts: charts.Options{Timeout: 300 * time.Millisecond},
			wants: []string{"index.yaml", "127.0.0.1"}, paths: []string{"/index.yaml"}},
		{name: "server never answers", handler: silent, opts: charts.Options{Timeout: 300 * time.Millisecond},
			wants: []string{"index.yaml", "within 300ms"}, paths: []string{"/index.yaml"}},
		{name: "digest mismatch", handler: serve(indexFor("hello-0.1.0.tgz", strings.Repeat("ab", 32)), good),
			wants: []string{"index.yaml says sha256:abab", "is " + digestOf(good), "tampered"}, is: charts.ErrDigestMismatch, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "archive entry with ../", handler: hostileArchive(tarEntry{Name: "hello/../../../tmp/evil.yaml", Body: "pwned"}),
			wants: []string{`"hello/../../../tmp/evil.yaml" leaves the chart's directory`}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "archive entry with an absolute path", handler: hostileArchive(tarEntry{Name: "/etc/cron.d/evil", Body: "pwned"}),
			wants: []string{`"/etc/cron.d/evil" has an absolute path`}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "archive entry that is a symbolic link", handler: hostileArchive(tarEntry{Name: "hello/templates/passwd.yaml", Type: tar.TypeSymlink, Link: "/etc/passwd"}),
			wants: []string{`"hello/templates/passwd.yaml" is a link`}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "archive that unpacks past the cap", handler: hostileArchive(tarEntry{Name: "hello/big.txt", Body: strings.Repeat("\x00", 2<<20)}),
			opts: charts.Options{MaxChartBytes: 1 << 20}, wants: []string{`"hello/big.txt"`, "unpacks to more than 1 MiB"}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "archive of another chart", handler: serve(indexFor("hello-0.1.0.tgz", ""), tgz(t, tarEntry{Name: "other/Chart.yaml", Body: "apiVersion: v2\nname: other\nversion: 0.1.0\n"})),
			wants: []string{`the archive holds chart "other"`}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "package URL that is not http", handler: serve(indexFor("file:///etc/passwd", ""), good),
			wants: []string{`package URL "file:///etc/passwd" is not http(s)`}, paths: []string{"/index.yaml"}},
		{name: "not gzip", handler: serve(indexFor("hello-0.1.0.tgz", ""), []byte("<html>login</html>")),
			wants: []string{"not a gzip archive"}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := record(t, c.handler, false)
			opts := c.opts
			opts.CacheDir = filepath.Join(t.TempDir(), "cache")
			start := time.Now()
			got, err := charts.New(opts).FromRepository(context.Background(), charts.Repository{URL: srv.URL}, "hello", "")
			if err == nil {
				t.Fatalf("fetched %s %s, want a refusal", got.Name, got.Version)
			}
			t.Logf("refused: %v", err)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the refusal took %v", d)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "chart hello") {
				t.Errorf("error %q does not name the chart", err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v) is false for %v", c.is, err)
			}
			if !isEmptyDir(t, opts.CacheDir) {
				t.Error("something was written to the cache")
			}
			for _, p := range srv.paths() {
				if !contains(c.paths, p) {
					t.Errorf("the server was asked for %s after the refusal", p)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestHostileCredentials: a repository's credentials reach neither
// another host (a package URL elsewhere, a redirect) nor an error.
func TestHostileCredentials(t *testing.T) {
	const pass = "canary-p4ssw0rd"
	secret := map[string][]byte{"username": []byte("u"), "password": []byte(pass)}
	dir := packaged(t, "", "0.1.0")

	t.Run("redirect to another host", func(t *testing.T) {
		other := record(t, http.FileServer(http.Dir(dir)), false)
		repoSrv := record(t, basicAuth("u", pass, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/index.yaml" {
				http.ServeFile(w, r, filepath.Join(dir, "index.yaml"))
				return
			}
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
		})), false)
		got, err := charts.New(charts.Options{}).FromRepository(context.Background(), charts.Repository{URL: repoSrv.URL, Secret: secret}, "hello", "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != "0.1.0" {
			t.Errorf("version %s", got.Version)
		}
		reqs := other.requests()
		if len(reqs) != 1 {
			t.Fatalf("the other host got %d requests, want the redirected one", len(reqs))
		}
		if reqs[0].Auth != "" {
			t.Errorf("the other host got the credentials: %q", reqs[0].Auth)
		}
	})
	t.Run("package URL on another host", func(t *testing.T) {
		other := record(t, http.FileServer(http.Dir(dir)), false)
		index := packaged(t, other.URL, "0.1.0")
		repoSrv := record(t, basicAuth("u", pass, http.FileServer(http.Dir(index))), false)
		if _, err := charts.New(charts.Options{}).FromRepository(context.Background(), charts.Repository{URL: repoSrv.URL, Secret: secret}, "hello", ""); err != nil {
			t.Fatal(err)
		}
		for _, r := range other.requests() {
			if r.Auth != "" {
				t.Errorf("the other host got the credentials on %s", r.Path)
			}
		}
	})
	t.Run("not in errors", func(t *testing.T) {
		// A server that echoes the Authorization header in its error
		// page, and a repository URL with a password in its user info.
		echo := record(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "denied for "+r.Header.Get("Authorization")+" "+pass, http.StatusForbidden)
		}), false)
		u, _ := url.Parse(echo.URL)
		u.User = url.UserPassword("u", "url-"+pass)
		docker := []byte(`{"auths":{"` + u.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:"+pass)) + `"}}}`)
		for _, r := range []charts.Repository{
			{URL: echo.URL, Secret: secret},
			{URL: u.String()},
			{URL: "oci://" + u.Host + "/charts", Secret: secret, Insecure: true},
			{URL: "oci://" + u.Host + "/charts", Secret: map[string][]byte{".dockerconfigjson": docker}, Insecure: true},
		} {
			_, err := charts.New(charts.Options{}).FromRepository(context.Background(), r, "hello", "0.1.0")
			if err == nil {
				t.Fatal("fetched from an erroring server")
			}
			if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "dTpj") || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("u:"+pass))) {
				t.Errorf("a credential is in the error: %v", err)
			}
			if !strings.Contains(err.Error(), u.Host) {
				t.Errorf("the error does not name the host: %v", err)
			}
		}
	})
}

// TestHostileOCI: a chart layer larger than the cap is refused before
// its blob is asked for, and a blob that is not what the manifest says
// is refused.
func TestHostileOCI(t *testing.T) {
	reg := registrytest.New(t)
	big := tgz(t, tarEntry{Name: "hello/Chart.yaml", Body: helloChartYAML}, tarEntry{Name: "hello/pad.txt", Body: incompressible(64 << 10)})
	_, layer := pushChart(t, reg.Host(), reg.Auth(), "charts/hello", "0.1.0", big)
	cache := t.TempDir()

	_, err := charts.New(charts.Options{MaxArchiveBytes: 1 << 10, CacheDir: cache}).FromOCI(context.Background(), charts.Repository{URL: "oci://" + reg.Host() + "/charts/hello"}, charts.OCIReference{Tag: "0.1.0"})
	if err == nil || !strings.Contains(err.Error(), "over the 1 KiB limit") || !strings.Contains(err.Error(), reg.Host()+"/charts/hello:0.1.0") {
		t.Fatalf("err = %v", err)
	}
	for _, r := range reg.Requests() {
		if strings.HasSuffix(r.Path, layer) && r.Method == http.MethodGet {
			t.Errorf("the oversized layer was downloaded: %s", r.Path)
		}
	}

	// A registry in front of the real one that serves other bytes for
	// the chart layer.
	target, _ := url.Parse(reg.Server.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if strings.HasSuffix(resp.Request.URL.Path, layer) && resp.Request.Method == http.MethodGet {
			// Same length, one byte changed: only the digest can tell.
			orig, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			resp.Body.Close()
			orig[len(orig)/2] ^= 0xff
			resp.Body = io.NopCloser(bytes.NewReader(orig))
		}
		return nil
	}
	evilReg := httptest.NewServer(proxy)
	defer evilReg.Close()
	host := strings.TrimPrefix(evilReg.URL, "http://")
	_, err = charts.New(charts.Options{CacheDir: cache}).FromOCI(context.Background(), charts.Repository{URL: "oci://" + host + "/charts/hello"}, charts.OCIReference{Tag: "0.1.0"})
	if err == nil || !errors.Is(err, charts.ErrDigestMismatch) {
		t.Fatalf("a layer that is not its digest was accepted: %v", err)
	}
	t.Logf("refused: %v", err)
	if !isEmptyDir(t, cache) {
		t.Error("something was written to the cache")
	}
}

// TestHostileDirectory: a chart in a checkout cannot read outside it.
func TestHostileDirectory(t *testing.T) {
	outside := t.TempDir()
	const canary = "outside-canary-content"
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte(canary), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func(chart string)
		wants string
	}{
		{"link to a file outside", func(chart string) {
			must(t, os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(chart, "templates", "stolen.yaml")))
		}, "templates/stolen.yaml is a symbolic link that does not resolve inside the repository"},
		{"relative link out", func(chart string) {
			must(t, os.Symlink("../../../"+filepath.Base(outside)+"/secret.yaml", filepath.Join(chart, "values.yaml.link")))
		}, "values.yaml.link is a symbolic link that does not resolve inside the repository"},
		{"link to a directory", func(chart string) {
			must(t, os.Symlink(outside, filepath.Join(chart, "templates", "more")))
		}, "templates/more is a symbolic link"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			chart := filepath.Join(root, "charts", "hello")
			must(t, os.MkdirAll(filepath.Join(chart, "templates"), 0o755))
			must(t, os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte(helloChartYAML), 0o644))
			c.setup(chart)
			got, err := charts.New(charts.Options{}).FromDirectory(root, "charts/hello")
			if err == nil {
				for _, tpl := range got.Chart.Templates {
					if strings.Contains(string(tpl.Data), canary) {
						t.Errorf("%s read the outside file", tpl.Name)
					}
				}
				t.Fatal("loaded a chart with a link out of the checkout")
			}
			if !strings.Contains(err.Error(), c.wants) || !strings.Contains(err.Error(), "chart directory charts/hello") {
				t.Errorf("error %q does not contain %q", err, c.wants)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the outside file's content is in the error: %v", err)
			}
		})
	}
	t.Run("link inside the checkout is followed", func(t *testing.T) {
		root := t.TempDir()
		chart := filepath.Join(root, "hello")
		must(t, os.MkdirAll(filepath.Join(chart, "templates"), 0o755))
		must(t, os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte(helloChartYAML), 0o644))
		must(t, os.WriteFile(filepath.Join(root, "shared.yaml"), []byte("kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: shared\n"), 0o644))
		must(t, os.Symlink("../../shared.yaml", filepath.Join(chart, "templates", "shared.yaml")))
		got, err := charts.New(charts.Options{}).FromDirectory(root, "hello")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Chart.Templates) != 1 || !strings.Contains(string(got.Chart.Templates[0].Data), "name: shared") {
			t.Errorf("templates %v", got.Chart.Templates)
		}
	})
}

// incompressible is n bytes that gzip cannot shrink much.
func incompressible(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
