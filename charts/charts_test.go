package charts_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/tidegate/tidegate/charts"
)

func TestFromRepositoryHTTP(t *testing.T) {
	dir := packaged(t, "", "0.1.0", "0.2.0", "0.10.1", "1.0.0-rc.1")
	srv := record(t, basicAuth("reader", "s3cret-pass", http.FileServer(http.Dir(dir))), false)
	r := charts.Repository{URL: srv.URL + "/", Secret: map[string][]byte{"username": []byte("reader"), "password": []byte("s3cret-pass")}}
	f := charts.New(charts.Options{})

	cases := []struct{ rng, want string }{
		{"", "0.10.1"},
		{"*", "0.10.1"},
		{"<0.10.0", "0.2.0"},
		{"~0.1", "0.1.0"},
		{"0.2.0", "0.2.0"},
		{">=1.0.0-0", "1.0.0-rc.1"},
	}
	for _, c := range cases {
		t.Run(c.rng, func(t *testing.T) {
			got, err := f.FromRepository(context.Background(), r, "hello", c.rng)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != c.want || got.Chart.Metadata.Version != c.want || got.Name != "hello" {
				t.Errorf("got %s %s, want hello %s", got.Name, got.Version, c.want)
			}
			archive := readFile(t, filepath.Join(dir, "hello-"+c.want+".tgz"))
			if got.Digest != digestOf(archive) {
				t.Errorf("digest %s, want %s", got.Digest, digestOf(archive))
			}
			if got.URL != srv.URL+"/hello-"+c.want+".tgz" {
				t.Errorf("URL %s", got.URL)
			}
			if len(got.Chart.Templates) != 1 || got.Chart.Values["message"] != "hello" {
				t.Errorf("chart not loaded: %d templates, values %v", len(got.Chart.Templates), got.Chart.Values)
			}
		})
	}
	for _, s := range srv.requests() {
		if s.Auth == "" {
			t.Errorf("%s got no credentials", s.Path)
		}
	}

	t.Run("no match", func(t *testing.T) {
		_, err := f.FromRepository(context.Background(), r, "hello", ">=2.0.0")
		if err == nil || !strings.Contains(err.Error(), `no version matches ">=2.0.0" among the 4 listed`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown chart", func(t *testing.T) {
		_, err := f.FromRepository(context.Background(), r, "nope", "")
		if err == nil || !strings.Contains(err.Error(), "chart nope from "+srv.URL) || !strings.Contains(err.Error(), "no such chart") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := r
		bad.Secret = map[string][]byte{"username": []byte("reader"), "password": []byte("wrong-pass")}
		_, err := f.FromRepository(context.Background(), bad, "hello", "")
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "secretRef") {
			t.Errorf("err = %v", err)
		}
		if strings.Contains(err.Error(), "wrong-pass") {
			t.Errorf("the password is in the error: %v", err)
		}
	})
}

func TestFromRepositoryTLS(t *testing.T) {
	dir := packaged(t, "", "0.1.0")
	srv := record(t, http.FileServer(http.Dir(dir)), true)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	f := charts.New(charts.Options{})

	if _, err := f.FromRepository(context.Background(), charts.Repository{URL: srv.URL}, "hello", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unknown CA was trusted: %v", err)
	}
	got, err := f.FromRepository(context.Background(), charts.Repository{URL: srv.URL, Secret: map[string][]byte{"ca.crt": ca}}, "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "0.1.0" {
		t.Errorf("version %s", got.Version)
	}
	if _, err := f.FromRepository(context.Background(), charts.Repository{URL: srv.URL, Secret: map[string][]byte{"ca.crt": []byte("not pem")}}, "hello", ""); err == nil || !strings.Contains(err.Error(), "ca.crt holds no PEM certificate") {
		t.Errorf("err = %v", err)
	}
}

// TestPassCredentials serves the packages from a second host, as a CDN
// would: the credentials go there only with passCredentials.
func TestPassCredentials(t *testing.T) {
	pkgs := packaged(t, "", "0.1.0")
	cdn := record(t, http.FileServer(http.Dir(pkgs)), false)
	index := packaged(t, cdn.URL, "0.1.0")
	repoSrv := record(t, basicAuth("u", "p4ss-word", http.FileServer(http.Dir(index))), false)
	secret := map[string][]byte{"username": []byte("u"), "password": []byte("p4ss-word")}
	f := charts.New(charts.Options{})

	if _, err := f.FromRepository(context.Background(), charts.Repository{URL: repoSrv.URL, Secret: secret}, "hello", ""); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]seen{{Path: "/hello-0.1.0.tgz"}}, cdn.requests()); diff != "" {
		t.Errorf("the other host's requests (-want +got):\n%s", diff)
	}
	if _, err := f.FromRepository(context.Background(), charts.Repository{URL: repoSrv.URL, Secret: secret, PassCredentials: true}, "hello", ""); err != nil {
		t.Fatal(err)
	}
	reqs := cdn.requests()
	if len(reqs) != 2 || reqs[1].Auth == "" {
		t.Errorf("with passCredentials the package host got %v, want credentials on the second request", reqs)
	}
}

func TestCache(t *testing.T) {
	dir := packaged(t, "", "0.1.0")
	srv := record(t, http.FileServer(http.Dir(dir)), false)
	cache := filepath.Join(t.TempDir(), "charts")
	f := charts.New(charts.Options{CacheDir: cache})
	r := charts.Repository{URL: srv.URL}

	first, err := f.FromRepository(context.Background(), r, "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.FromRepository(context.Background(), r, "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached || !second.Cached || first.Digest != second.Digest {
		t.Errorf("cached: first %v second %v; digests %s %s", first.Cached, second.Cached, first.Digest, second.Digest)
	}
	if diff := cmp.Diff([]string{"/index.yaml", "/hello-0.1.0.tgz", "/index.yaml"}, srv.paths()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	entry := filepath.Join(cache, "sha256-"+strings.TrimPrefix(first.Digest, "sha256:")+".tgz")
	if err := os.WriteFile(entry, []byte("corrupted"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := f.FromRepository(context.Background(), r, "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if third.Cached || third.Digest != first.Digest {
		t.Errorf("a corrupted cache entry was used: cached %v", third.Cached)
	}
	if got := readFile(t, entry); digestOf(got) != first.Digest {
		t.Error("the corrupted cache entry was not replaced")
	}
}

func TestFromDirectory(t *testing.T) {
	f := charts.New(charts.Options{})
	got, err := f.FromDirectory("testdata", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "hello" || got.Version != "0.1.0" || got.Digest != "" || got.URL != "hello" {
		t.Errorf("got %+v", got)
	}
	for _, file := range got.Chart.Files {
		if strings.HasPrefix(file.Name, "notes/") {
			t.Errorf("%s is .helmignore'd but was loaded", file.Name)
		}
	}
	if len(got.Chart.Templates) != 1 {
		t.Errorf("%d templates", len(got.Chart.Templates))
	}
	for _, bad := range []string{"../charts", "/etc", "hello/Chart.yaml", "missing"} {
		if _, err := f.FromDirectory("testdata", bad); err == nil {
			t.Errorf("FromDirectory(%q) loaded", bad)
		}
	}
}

// TestFromDirectoryMatchesSDK: the confined reader loads the same chart
// as the SDK's LoadDir (which follows every link), sub-charts, CRDs and
// .helmignore included.
func TestFromDirectoryMatchesSDK(t *testing.T) {
	root := filepath.Join("..", "chartrender", "testdata", "charts")
	got, err := charts.New(charts.Options{}).FromDirectory(root, "app")
	if err != nil {
		t.Fatal(err)
	}
	want, err := loader.LoadDir(filepath.Join(root, "app"))
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		Name string
		Data string
	}
	flat := func(ch *chartv2.Chart) map[string][]file {
		out := map[string][]file{}
		var walk func(prefix string, c *chartv2.Chart)
		walk = func(prefix string, c *chartv2.Chart) {
			for _, f := range c.Templates {
				out[prefix+"templates"] = append(out[prefix+"templates"], file{f.Name, string(f.Data)})
			}
			for _, f := range c.Files {
				out[prefix+"files"] = append(out[prefix+"files"], file{f.Name, string(f.Data)})
			}
			for _, f := range c.Raw {
				out[prefix+"raw"] = append(out[prefix+"raw"], file{f.Name, string(f.Data)})
			}
			for _, d := range c.Dependencies() {
				walk(prefix+d.Name()+"/", d)
			}
		}
		walk("", ch)
		for _, fs := range out {
			sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
		}
		return out
	}
	if diff := cmp.Diff(flat(want), flat(got.Chart)); diff != "" {
		t.Errorf("FromDirectory differs from loader.LoadDir (-sdk +charts):\n%s", diff)
	}
	if diff := cmp.Diff(want.Values, got.Chart.Values); diff != "" {
		t.Errorf("values differ (-sdk +charts):\n%s", diff)
	}
	if len(got.Chart.Dependencies()) != 1 || len(got.Chart.CRDObjects()) != 2 {
		t.Errorf("%d sub-charts and %d CRDs, want 1 and 2", len(got.Chart.Dependencies()), len(got.Chart.CRDObjects()))
	}
}
