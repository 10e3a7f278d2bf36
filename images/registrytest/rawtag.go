package registrytest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// TagRaw stores the manifest of repo:from under tag as sent, with plain
// HTTP and no client-side validation: the way to make the registry list
// tags no well-behaved client could push (control characters, newlines,
// "@sha256:" inside, thousands of characters), as a hostile or broken
// registry would.
func (r *Registry) TagRaw(tb testing.TB, repo, from, tag string) {
	tb.Helper()
	base := r.Server.URL + "/v2/" + repo + "/manifests/"
	req, err := http.NewRequest(http.MethodGet, base+url.PathEscape(from), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	r.basicAuth(req)
	resp, err := r.Server.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("get manifest %s:%s: %d %v", repo, from, resp.StatusCode, err)
	}
	put, err := http.NewRequest(http.MethodPut, base+url.PathEscape(tag), bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	put.Header.Set("Content-Type", resp.Header.Get("Content-Type"))
	r.basicAuth(put)
	presp, err := r.Server.Client().Do(put)
	if err != nil {
		tb.Fatal(err)
	}
	presp.Body.Close()
	if presp.StatusCode/100 != 2 {
		tb.Fatalf("put manifest %s:%q: %d", repo, tag, presp.StatusCode)
	}
}

func (r *Registry) basicAuth(req *http.Request) {
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
}
