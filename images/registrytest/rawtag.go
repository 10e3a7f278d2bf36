package registrytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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

// ListExtraTags makes tags/list of repo list tags next to the stored
// ones, which the in-process registry would not (it hides tags holding
// "sha256:"): what a hostile registry may answer. The tags need no
// manifest.
func (r *Registry) ListExtraTags(repo string, tags ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.extraTags == nil {
		r.extraTags = map[string][]string{}
	}
	r.extraTags[repo] = append(r.extraTags[repo], tags...)
}

func (r *Registry) listedExtra(req *http.Request) []string {
	repo, ok := strings.CutSuffix(strings.TrimPrefix(req.URL.Path, "/v2/"), "/tags/list")
	if !ok || req.Method != http.MethodGet {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.extraTags[repo]
}

// serveWithExtraTags answers a tags/list request with the registry's
// own list plus extra, unpaginated.
func serveWithExtraTags(w http.ResponseWriter, req *http.Request, inner http.Handler, extra []string) {
	q := req.URL.Query()
	q.Del("n")
	q.Del("last")
	req.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	inner.ServeHTTP(rec, req)
	var list struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	list.Tags = append(list.Tags, extra...)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}
