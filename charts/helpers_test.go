package charts_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidegate/tidegate/charts/chartstest"
)

// seen is one request a test server got.
type seen = chartstest.Seen

// recorder is a real HTTP server that records every request before
// handing it on.
type recorder struct{ *chartstest.Server }

func record(t *testing.T, h http.Handler, tlsServer bool) *recorder {
	t.Helper()
	return &recorder{chartstest.Record(t, h, tlsServer)}
}

func (r *recorder) requests() []seen { return r.Requests() }

func (r *recorder) paths() []string {
	var out []string
	for _, s := range r.requests() {
		out = append(out, s.Path)
	}
	return out
}

// basicAuth guards h with credentials.
func basicAuth(user, pass string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// packaged writes the hello chart at each version into a new directory
// with the SDK's packager, and an index.yaml made by the SDK's indexer
// (relative URLs, sha256 digests); baseURL, when set, makes the URLs
// absolute.
func packaged(t *testing.T, baseURL string, versions ...string) string {
	t.Helper()
	return chartstest.Package(t, filepath.Join("testdata", "hello"), baseURL, versions...)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	Name, Body, Link string
	Type             byte
	Size             int64
}

// tgz builds an archive entry by entry, for archives helm package would
// never write.
func tgz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		hd := &tar.Header{Name: e.Name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.Body)), Linkname: e.Link, ModTime: time.Unix(0, 0)}
		if typ != tar.TypeReg {
			hd.Size = 0
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const helloChartYAML = "apiVersion: v2\nname: hello\nversion: 0.1.0\n"

// indexFor is an index.yaml that lists one hello version at url with
// digest (none when empty).
func indexFor(url, digest string) string {
	s := "apiVersion: v1\nentries:\n  hello:\n  - apiVersion: v2\n    name: hello\n    version: 0.1.0\n    urls:\n    - " + url + "\n"
	if digest != "" {
		s += "    digest: " + digest + "\n"
	}
	return s
}

func isEmptyDir(t *testing.T, dir string) bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) == 0
}
