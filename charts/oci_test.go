package charts_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/images/registrytest"
)

// pushChart pushes archive as helm push lays a chart out (OCI manifest,
// helm config media type, one chart layer) and returns the manifest's
// and the layer's digests.
func pushChart(t *testing.T, host string, auth authn.Authenticator, repo, tag string, archive []byte) (manifest, layer string) {
	t.Helper()
	return chartstest.PushOCI(t, host, auth, repo, tag, archive)
}

func ociRegistry(t *testing.T) (*registrytest.Registry, map[string][2]string, string) {
	t.Helper()
	reg := registrytest.New(t, registrytest.WithBasicAuth("puller", "reg-s3cret"))
	dir := packaged(t, "", "0.1.0", "0.2.0", "0.10.1")
	digests := map[string][2]string{}
	for _, v := range []string{"0.1.0", "0.2.0", "0.10.1"} {
		m, l := pushChart(t, reg.Host(), reg.Auth(), "charts/hello", v, readFile(t, filepath.Join(dir, "hello-"+v+".tgz")))
		digests[v] = [2]string{m, l}
	}
	// A tag that is not a version must not break the selection.
	pushChart(t, reg.Host(), reg.Auth(), "charts/hello", "latest", readFile(t, filepath.Join(dir, "hello-0.2.0.tgz")))
	return reg, digests, dir
}

func TestFromOCI(t *testing.T) {
	reg, digests, _ := ociRegistry(t)
	secret := map[string][]byte{"username": []byte("puller"), "password": []byte("reg-s3cret")}
	f := charts.New(charts.Options{})

	t.Run("HelmRepository of type oci", func(t *testing.T) {
		for rng, want := range map[string]string{"": "0.10.1", "<0.10.0": "0.2.0", "0.1.0": "0.1.0"} {
			got, err := f.FromRepository(context.Background(), charts.Repository{URL: "oci://" + reg.Host() + "/charts", Secret: secret}, "hello", rng)
			if err != nil {
				t.Fatalf("%q: %v", rng, err)
			}
			if got.Version != want || got.Digest != digests[want][1] {
				t.Errorf("%q: got %s %s, want %s %s", rng, got.Version, got.Digest, want, digests[want][1])
			}
		}
	})
	t.Run("OCIRepository", func(t *testing.T) {
		r := charts.Repository{URL: "oci://" + reg.Host() + "/charts/hello", Secret: secret}
		cases := []struct {
			ref  charts.OCIReference
			want string
		}{
			{charts.OCIReference{Tag: "0.2.0"}, "0.2.0"},
			{charts.OCIReference{}, "0.2.0"}, // latest
			{charts.OCIReference{SemVer: "~0.1"}, "0.1.0"},
			{charts.OCIReference{Digest: digests["0.10.1"][0], Tag: "0.1.0", SemVer: "0.2.0"}, "0.10.1"},
		}
		for _, c := range cases {
			got, err := f.FromOCI(context.Background(), r, c.ref)
			if err != nil {
				t.Fatalf("%+v: %v", c.ref, err)
			}
			if got.Version != c.want || got.Name != "hello" || got.Chart.Values["message"] != "hello" {
				t.Errorf("%+v: got %s %s", c.ref, got.Name, got.Version)
			}
			if !strings.HasPrefix(got.URL, "oci://"+reg.Host()+"/charts/hello") {
				t.Errorf("URL %s", got.URL)
			}
		}
	})
	t.Run("dockerconfigjson", func(t *testing.T) {
		auth := base64.StdEncoding.EncodeToString([]byte("puller:reg-s3cret"))
		cfg := `{"auths":{"` + reg.Host() + `":{"auth":"` + auth + `"}}}`
		got, err := f.FromOCI(context.Background(), charts.Repository{URL: "oci://" + reg.Host() + "/charts/hello", Secret: map[string][]byte{".dockerconfigjson": []byte(cfg)}}, charts.OCIReference{Tag: "0.1.0"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != "0.1.0" {
			t.Errorf("version %s", got.Version)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		_, err := f.FromOCI(context.Background(), charts.Repository{URL: "oci://" + reg.Host() + "/charts/hello", Secret: map[string][]byte{"username": []byte("puller"), "password": []byte("not-the-pass")}}, charts.OCIReference{Tag: "0.1.0"})
		if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "not-the-pass") {
			t.Errorf("the password is in the error: %v", err)
		}
	})
	t.Run("not a chart", func(t *testing.T) {
		registrytest.Push(t, reg.Host(), reg.Auth(), "charts/image", time.Time{}, "1.0.0")
		_, err := f.FromOCI(context.Background(), charts.Repository{URL: "oci://" + reg.Host() + "/charts/image", Secret: secret}, charts.OCIReference{Tag: "1.0.0"})
		if err == nil || !strings.Contains(err.Error(), "no layer of media type "+string(charts.ChartLayerMediaType)) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestOCICache(t *testing.T) {
	reg, digests, _ := ociRegistry(t)
	cache := t.TempDir()
	f := charts.New(charts.Options{CacheDir: cache})
	r := charts.Repository{URL: "oci://" + reg.Host() + "/charts/hello", Secret: map[string][]byte{"username": []byte("puller"), "password": []byte("reg-s3cret")}}
	blob := "/v2/charts/hello/blobs/" + digests["0.2.0"][1]
	count := func() int {
		n := 0
		for _, q := range reg.Requests() {
			if q.Path == blob && q.Method == "GET" && q.Status == 200 {
				n++
			}
		}
		return n
	}
	before := count()
	for i := 0; i < 2; i++ {
		got, err := f.FromOCI(context.Background(), r, charts.OCIReference{Tag: "0.2.0"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Cached != (i == 1) {
			t.Errorf("fetch %d: cached %v", i, got.Cached)
		}
	}
	if n := count() - before; n != 1 {
		t.Errorf("the chart layer was downloaded %d times, want once", n)
	}
}

// TestFromOCIDistribution fetches from Debian's docker-registry (CNCF
// distribution) with htpasswd auth, the registry most self-hosted chart
// registries run.
func TestFromOCIDistribution(t *testing.T) {
	d := registrytest.StartDistribution(t, "charts", "dist-s3cret")
	dir := packaged(t, "", "1.0.0", "1.1.0")
	auth := &authn.Basic{Username: d.User, Password: d.Pass}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		pushChart(t, d.Host, auth, "team/hello", v, readFile(t, filepath.Join(dir, "hello-"+v+".tgz")))
	}
	f := charts.New(charts.Options{})
	got, err := f.FromRepository(context.Background(), charts.Repository{URL: "oci://" + d.Host + "/team", Secret: map[string][]byte{"username": []byte(d.User), "password": []byte(d.Pass)}}, "hello", "~1.0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.0.0" || got.Chart.Values["message"] != "hello" {
		t.Errorf("got %s %s", got.Name, got.Version)
	}
	_, err = f.FromRepository(context.Background(), charts.Repository{URL: "oci://" + d.Host + "/team"}, "hello", "")
	if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("anonymous fetch: %v", err)
	}
}
