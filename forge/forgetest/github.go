package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GitHub is a fake GitHub Enterprise REST API (v3, 2022-11-28) for one
// repository, serving below /api/v3.
type GitHub struct {
	store
	*httptest.Server
	Owner, Repo string
	// HeadExists reports whether a branch exists; creating a pull request
	// from a missing branch fails with 422 like GitHub. Nil accepts all.
	HeadExists func(branch string) bool
	// PerPage caps page sizes to exercise pagination; 0 means GitHub's 100.
	PerPage int
}

// NewGitHub starts a fake for owner/repo accepting token (full access) and
// readOnly (may read, not write; empty for none). Close the server when
// done.
func NewGitHub(owner, repo, token, readOnly string) *GitHub {
	g := &GitHub{Owner: owner, Repo: repo}
	g.token, g.readOnly = token, readOnly
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	return g
}

// APIURL is the value for forge.Config.APIURL.
func (g *GitHub) APIURL() string { return g.URL }

// RemoteURL is the repository's Git remote as GitHub shows it.
func (g *GitHub) RemoteURL() string {
	return "https://github.com/" + g.Owner + "/" + g.Repo + ".git"
}

const ghDocs = "https://docs.github.com/rest"

func ghError(w http.ResponseWriter, status int, msg string, errs ...map[string]string) {
	body := map[string]any{"message": msg, "documentation_url": ghDocs, "status": strconv.Itoa(status)}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func (g *GitHub) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.Method+" "+r.URL.Path)
	if isWrite(r.Method) {
		g.writes++
	}
	reset := time.Now().Add(time.Hour).Unix()
	h := w.Header()
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	h.Set("X-RateLimit-Resource", "core")
	if g.rateLimited {
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		ghError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.")
		return
	}
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")

	auth := r.Header.Get("Authorization")
	tok := strings.TrimPrefix(strings.TrimPrefix(auth, "Bearer "), "token ")
	if auth == "" || (tok != g.token && (g.readOnly == "" || tok != g.readOnly)) {
		ghError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	prefix := "/api/v3/repos/" + g.Owner + "/" + g.Repo + "/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	if isWrite(r.Method) && tok != g.token {
		ghError(w, http.StatusForbidden, "Resource not accessible by personal access token")
		return
	}
	parts := strings.Split(rest, "/")
	switch {
	case rest == "pulls" && r.Method == http.MethodGet:
		g.list(w, r)
	case rest == "pulls" && r.Method == http.MethodPost:
		g.create(w, r)
	case len(parts) == 2 && parts[0] == "pulls" && r.Method == http.MethodGet:
		g.withPR(w, parts[1], func(p *PR) { writeJSON(w, http.StatusOK, g.json(p)) })
	case len(parts) == 2 && parts[0] == "pulls" && r.Method == http.MethodPatch:
		g.withPR(w, parts[1], func(p *PR) { g.edit(w, r, p) })
	case len(parts) == 3 && parts[0] == "issues" && parts[2] == "labels" && r.Method == http.MethodPost:
		g.withPR(w, parts[1], func(p *PR) {
			var names []string
			if !decodeLabels(r, &names) {
				ghError(w, http.StatusBadRequest, "Problems parsing JSON")
				return
			}
			for _, n := range names {
				if !slices.Contains(p.Labels, n) {
					p.Labels = append(p.Labels, n)
				}
			}
			out := []map[string]any{}
			for i, l := range p.Labels {
				out = append(out, map[string]any{"id": i + 1, "name": l, "color": "ededed", "default": false})
			}
			writeJSON(w, http.StatusOK, out)
		})
	case len(parts) == 3 && parts[0] == "issues" && parts[2] == "assignees" && r.Method == http.MethodPost:
		g.withPR(w, parts[1], func(p *PR) {
			var body struct{ Assignees []string }
			if json.NewDecoder(r.Body).Decode(&body) != nil {
				ghError(w, http.StatusBadRequest, "Problems parsing JSON")
				return
			}
			p.Assignees = union(p.Assignees, body.Assignees)
			writeJSON(w, http.StatusCreated, g.json(p))
		})
	case len(parts) == 3 && parts[0] == "pulls" && parts[2] == "requested_reviewers" && r.Method == http.MethodPost:
		g.withPR(w, parts[1], func(p *PR) {
			var body struct {
				Reviewers     []string `json:"reviewers"`
				TeamReviewers []string `json:"team_reviewers"`
			}
			if json.NewDecoder(r.Body).Decode(&body) != nil {
				ghError(w, http.StatusBadRequest, "Problems parsing JSON")
				return
			}
			p.Reviewers = union(p.Reviewers, body.Reviewers)
			writeJSON(w, http.StatusCreated, g.json(p))
		})
	case rest == "keys" && r.Method == http.MethodGet:
		g.listKeys(w, r)
	case rest == "keys" && r.Method == http.MethodPost:
		g.createKey(w, r)
	default:
		ghError(w, http.StatusNotFound, "Not Found")
	}
}

// listKeys is GET /repos/{owner}/{repo}/keys: 30 per page by default, at
// most 100, oldest first.
func (g *GitHub) listKeys(w http.ResponseWriter, r *http.Request) {
	pageNo, per := page(r, "per_page", 30)
	per = min(per, 100)
	if g.PerPage > 0 {
		per = min(per, g.PerPage)
	}
	out := []map[string]any{}
	for _, k := range window(g.keys, pageNo, per) {
		out = append(out, g.keyJSON(k))
	}
	if l := linkHeader(g.URL+r.URL.Path, pageNo, per, len(g.keys)); l != "" {
		w.Header().Set("Link", l)
	}
	writeJSON(w, http.StatusOK, out)
}

// createKey is POST /repos/{owner}/{repo}/keys with {title, key,
// read_only}; read_only defaults to false (read and write).
func (g *GitHub) createKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Title    string `json:"title"`
		Key      string `json:"key"`
		ReadOnly *bool  `json:"read_only"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if strings.TrimSpace(body.Key) == "" {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PublicKey", "field": "key", "code": "missing_field"})
		return
	}
	if _, ok := keyMaterial(body.Key); !ok {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PublicKey", "field": "key", "code": "custom", "message": "key is invalid. You must supply a key in OpenSSH public key format"})
		return
	}
	// GitHub refuses a key used anywhere; this fake knows one repository.
	if g.keyWithMaterial(body.Key) != nil {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PublicKey", "field": "key", "code": "custom", "message": "key is already in use"})
		return
	}
	k := g.addKey(body.Title, body.Key, body.ReadOnly != nil && *body.ReadOnly)
	w.Header().Set("Location", fmt.Sprintf("%s/api/v3/repos/%s/%s/keys/%d", g.URL, g.Owner, g.Repo, k.ID))
	writeJSON(w, http.StatusCreated, g.keyJSON(k))
}

// keyJSON is a deploy key as GitHub returns it: the key without its
// comment.
func (g *GitHub) keyJSON(k *DeployKey) map[string]any {
	material, _ := keyMaterial(k.Key)
	return map[string]any{
		"id":         k.ID,
		"key":        material,
		"url":        fmt.Sprintf("%s/api/v3/repos/%s/%s/keys/%d", g.URL, g.Owner, g.Repo, k.ID),
		"title":      k.Title,
		"verified":   true,
		"created_at": k.Created.UTC().Format(time.RFC3339),
		"read_only":  k.ReadOnly,
		"added_by":   g.Owner,
		"last_used":  nil,
		"enabled":    true,
	}
}

// decodeLabels accepts both documented bodies: {"labels": [...]} and a
// bare array.
func decodeLabels(r *http.Request, names *[]string) bool {
	var raw json.RawMessage
	if json.NewDecoder(r.Body).Decode(&raw) != nil {
		return false
	}
	if json.Unmarshal(raw, names) == nil {
		return true
	}
	var obj struct{ Labels []string }
	if json.Unmarshal(raw, &obj) != nil {
		return false
	}
	*names = obj.Labels
	return true
}

func union(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

func (g *GitHub) withPR(w http.ResponseWriter, n string, f func(*PR)) {
	p := g.byNumber(n)
	if p == nil {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	f(p)
}

func (g *GitHub) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var out []map[string]any
	var matched []*PR
	for _, p := range g.prs {
		if h := q.Get("head"); h != "" && h != g.Owner+":"+p.Head {
			continue
		}
		if b := q.Get("base"); b != "" && b != p.Base {
			continue
		}
		open := p.State == "open"
		if (state == "open" && !open) || (state == "closed" && open) {
			continue
		}
		matched = append(matched, p)
	}
	// sort=created (the default) with direction desc (its default).
	if q.Get("direction") != "asc" {
		slices.Reverse(matched)
	}
	pageNo, per := page(r, "per_page", 30)
	if g.PerPage > 0 {
		per = min(per, g.PerPage)
	}
	for _, p := range window(matched, pageNo, per) {
		out = append(out, g.json(p))
	}
	if l := linkHeader(g.URL+r.URL.Path, pageNo, per, len(matched)); l != "" {
		w.Header().Set("Link", l)
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *GitHub) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Title, Head, Base, Body string
		Draft                   bool
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	for field, v := range map[string]string{"title": body.Title, "head": body.Head, "base": body.Base} {
		if v == "" {
			ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PullRequest", "field": field, "code": "missing_field"})
			return
		}
	}
	if g.HeadExists != nil && !g.HeadExists(body.Head) {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PullRequest", "field": "head", "code": "invalid"})
		return
	}
	if g.openFor(body.Head) != nil {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "custom", "message": fmt.Sprintf("A pull request already exists for %s:%s.", g.Owner, body.Head)})
		return
	}
	p := &PR{Number: len(g.prs) + 1, Head: body.Head, Base: body.Base, Title: body.Title, Body: body.Body, Draft: body.Draft, State: "open", Created: time.Now()}
	g.prs = append(g.prs, p)
	w.Header().Set("Location", fmt.Sprintf("%s/api/v3/repos/%s/%s/pulls/%d", g.URL, g.Owner, g.Repo, p.Number))
	writeJSON(w, http.StatusCreated, g.json(p))
}

func (g *GitHub) edit(w http.ResponseWriter, r *http.Request, p *PR) {
	var body struct {
		Title, Body, State, Base *string
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if body.State != nil && *body.State == "open" && p.State == "open" {
		// nothing to reopen
	} else if body.State != nil {
		if p.State == "merged" {
			ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PullRequest", "field": "state", "code": "invalid"})
			return
		}
		p.State = *body.State
	}
	if body.Title != nil {
		p.Title = *body.Title
	}
	if body.Body != nil {
		p.Body = *body.Body
	}
	if body.Base != nil {
		p.Base = *body.Base
	}
	writeJSON(w, http.StatusOK, g.json(p))
}

func (g *GitHub) json(p *PR) map[string]any {
	state := p.State
	var mergedAt any
	if state == "merged" {
		state, mergedAt = "closed", p.Created.Add(time.Minute).UTC().Format(time.RFC3339)
	}
	var closedAt any
	if state == "closed" {
		closedAt = p.Created.Add(time.Minute).UTC().Format(time.RFC3339)
	}
	repo := map[string]any{"name": g.Repo, "full_name": g.Owner + "/" + g.Repo, "owner": map[string]any{"login": g.Owner}}
	users := func(names []string) []map[string]any {
		out := []map[string]any{}
		for _, n := range names {
			out = append(out, map[string]any{"login": n, "type": "User"})
		}
		return out
	}
	labels := []map[string]any{}
	for _, l := range p.Labels {
		labels = append(labels, map[string]any{"name": l})
	}
	return map[string]any{
		"url":                 fmt.Sprintf("%s/api/v3/repos/%s/%s/pulls/%d", g.URL, g.Owner, g.Repo, p.Number),
		"html_url":            fmt.Sprintf("%s/%s/%s/pull/%d", g.URL, g.Owner, g.Repo, p.Number),
		"number":              p.Number,
		"state":               state,
		"title":               p.Title,
		"body":                p.Body,
		"draft":               p.Draft,
		"merged":              p.State == "merged",
		"merged_at":           mergedAt,
		"closed_at":           closedAt,
		"created_at":          p.Created.UTC().Format(time.RFC3339),
		"labels":              labels,
		"assignees":           users(p.Assignees),
		"requested_reviewers": users(p.Reviewers),
		"head":                map[string]any{"ref": p.Head, "label": g.Owner + ":" + p.Head, "repo": repo},
		"base":                map[string]any{"ref": p.Base, "label": g.Owner + ":" + p.Base, "repo": repo},
	}
}
