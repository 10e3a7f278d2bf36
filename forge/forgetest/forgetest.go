// Package forgetest serves fakes of the GitHub and GitLab REST APIs for
// tests, the one place tidegate does not test against the real thing
// (Gitea runs for real, see internal/testenv/gitea).
//
// The fakes follow the documented request and response shapes of the
// endpoints package forge calls: paths below /api/v3 (GitHub Enterprise)
// and /api/v4 (GitLab), status codes, pagination (GitHub's Link header,
// GitLab's X-Next-Page headers), error bodies ({"message": ...} with
// documentation_url and errors on GitHub), token authentication and rate
// limit headers. They keep pull requests and deploy keys in memory and
// count every write request, which is how tests prove that an idempotent
// run wrote nothing.
package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// PR is a pull or merge request held by a fake.
type PR struct {
	Number               int
	Head, Base           string
	Title, Body          string
	State                string // "open", "closed", "merged"
	Draft                bool
	Labels               []string
	Assignees, Reviewers []string
	Created              time.Time
}

// DeployKey is a repository's deploy key held by a fake.
type DeployKey struct {
	ID    int64
	Title string
	// Key is the authorized_keys line as it was sent, comment included.
	Key      string
	ReadOnly bool
	Created  time.Time
}

// store is the state shared by both fakes.
type store struct {
	mu sync.Mutex
	// token is the accepted token; readOnly tokens may read but not write.
	token, readOnly string
	prs             []*PR
	keys            []*DeployKey
	writes          int
	requests        []string
	// rateLimited makes every request fail with the provider's rate
	// limit response.
	rateLimited bool
	users       map[string]int64
}

// Writes is the number of POST, PATCH, PUT and DELETE requests that
// reached the fake, including refused ones.
func (s *store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests lists "METHOD path" of every request, in order.
func (s *store) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// PRs returns copies of the pull requests, oldest first.
func (s *store) PRs() []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PR, 0, len(s.prs))
	for _, p := range s.prs {
		c := *p
		c.Labels = append([]string(nil), p.Labels...)
		out = append(out, c)
	}
	return out
}

// SetState closes, merges or reopens a pull request the way a reviewer
// would in the web UI.
func (s *store) SetState(number int, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.prs {
		if p.Number == number {
			p.State = state
		}
	}
}

// DeployKeys returns copies of the repository's deploy keys, oldest first.
func (s *store) DeployKeys() []DeployKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeployKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, *k)
	}
	return out
}

// SeedDeployKey adds a deploy key the way a person would in the web UI,
// without counting a write.
func (s *store) SeedDeployKey(title, key string, readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addKey(title, key, readOnly)
}

func (s *store) addKey(title, key string, readOnly bool) *DeployKey {
	k := &DeployKey{ID: int64(len(s.keys) + 1), Title: title, Key: strings.TrimSpace(key), ReadOnly: readOnly, Created: time.Now()}
	s.keys = append(s.keys, k)
	return k
}

// keyWithMaterial finds a deploy key with the same key type and data as
// key, whatever its comment: forges identify keys by fingerprint.
func (s *store) keyWithMaterial(key string) *DeployKey {
	want, ok := keyMaterial(key)
	if !ok {
		return nil
	}
	for _, k := range s.keys {
		if m, _ := keyMaterial(k.Key); m == want {
			return k
		}
	}
	return nil
}

// keyMaterial is "type base64" of an authorized_keys line; ok is false
// when the line does not hold a public key.
func keyMaterial(line string) (string, bool) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), true
}

// SetRateLimited makes every following request fail with a rate limit.
func (s *store) SetRateLimited(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited = v
}

// AddUser registers a user name for assignee and reviewer look-ups.
func (s *store) AddUser(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]int64{}
	}
	s.users[name] = int64(len(s.users) + 100)
}

func (s *store) openFor(head string) *PR {
	for _, p := range s.prs {
		if p.Head == head && p.State == "open" {
			return p
		}
	}
	return nil
}

func (s *store) byNumber(n string) *PR {
	num, err := strconv.Atoi(n)
	if err != nil {
		return nil
	}
	for _, p := range s.prs {
		if p.Number == num {
			return p
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func page(r *http.Request, param string, def int) (pageNo, per int) {
	pageNo, per = 1, def
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && v > 0 {
		pageNo = v
	}
	if v, err := strconv.Atoi(r.URL.Query().Get(param)); err == nil && v > 0 {
		per = v
	}
	return pageNo, per
}

func window[T any](items []T, pageNo, per int) []T {
	lo := (pageNo - 1) * per
	if lo >= len(items) {
		return []T{}
	}
	return items[lo:min(lo+per, len(items))]
}

func linkHeader(base string, pageNo, per, total int) string {
	last := max((total+per-1)/per, 1)
	var links []string
	if pageNo < last {
		links = append(links, fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="next"`, base, pageNo+1, per))
		links = append(links, fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="last"`, base, last, per))
	}
	if pageNo > 1 {
		links = append(links, fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="prev"`, base, pageNo-1, per))
		links = append(links, fmt.Sprintf(`<%s?page=1&per_page=%d>; rel="first"`, base, per))
	}
	out := ""
	for i, l := range links {
		if i > 0 {
			out += ", "
		}
		out += l
	}
	return out
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
