// Package chartstest serves Helm charts to tests from real servers: a
// Helm HTTP chart repository (packages and index.yaml made with the
// SDK, every request recorded) and charts pushed to an OCI registry the
// way helm push lays them out. Tests of charts and of its callers share
// it; nothing in the binary imports it.
package chartstest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// ChartLayerMediaType is the media type of a chart's layer (the same as
// charts.ChartLayerMediaType, spelled out so that the tests of charts
// can import this package).
const ChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// Seen is one request a Server got.
type Seen struct {
	Path string
	// Auth is the Authorization header, empty when none came.
	Auth string
}

// Server is a real HTTP server that records every request before
// handing it on.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Seen
}

// Record serves h (over TLS when tlsServer) until the test ends.
func Record(t testing.TB, h http.Handler, tlsServer bool) *Server {
	t.Helper()
	s := &Server{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, Seen{Path: req.URL.Path, Auth: req.Header.Get("Authorization")})
		s.mu.Unlock()
		h.ServeHTTP(w, req)
	})
	if tlsServer {
		s.Server = httptest.NewTLSServer(wrapped)
	} else {
		s.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(s.Server.Close)
	return s
}

// Requests are the requests so far, in order.
func (s *Server) Requests() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.reqs...)
}

// Package writes the chart at chartDir at each version into a new
// directory with the SDK's packager (<name>-<version>.tgz), and an
// index.yaml made by the SDK's indexer (sha256 digests; URLs relative,
// or absolute under baseURL when it is set). It returns the directory.
func Package(t testing.TB, chartDir, baseURL string, versions ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range versions {
		ch, err := loader.LoadDir(chartDir)
		if err != nil {
			t.Fatal(err)
		}
		ch.Metadata.Version = v
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := repo.IndexDirectory(dir, baseURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PushOCI pushes archive to host/repo:tag as helm push lays a chart out
// (OCI manifest, helm config media type, one chart layer) and returns
// the manifest's and the layer's digests.
func PushOCI(t testing.TB, host string, auth authn.Authenticator, repo, tag string, archive []byte) (manifest, layer string) {
	t.Helper()
	l := static.NewLayer(archive, ChartLayerMediaType)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.cncf.helm.config.v1+json")
	img, err := mutate.Append(img, mutate.Addendum{Layer: l, MediaType: ChartLayerMediaType})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String(), ld.String()
}

// Helm runs the helm binary bin with args in a home of its own (no
// user configuration, cache or cluster) and returns its stdout; a
// failure fails the test with helm's stderr.
func Helm(t testing.TB, bin string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home, "KUBECONFIG="+filepath.Join(home, "none"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
