package charts_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
