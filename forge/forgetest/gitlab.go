package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// GitLab is a fake GitLab REST API (v4) for one project, serving below
// /api/v4. The project path may contain subgroups.
type GitLab struct {
	store
	*httptest.Server
	Project string
	// PerPage caps page sizes to exercise pagination; 0 means GitLab's 100.
	PerPage int
}

// NewGitLab starts a fake for the project path accepting token (api
// scope) and readOnly (read_api; empty for none).
func NewGitLab(project, token, readOnly string) *GitLab {
	g := &GitLab{Project: project}
	g.token, g.readOnly = token, readOnly
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	return g
}

// RemoteURL is the project's Git remote as GitLab shows it.
func (g *GitLab) RemoteURL() string { return g.URL + "/" + g.Project + ".git" }

func glError(w http.ResponseWriter, status int, msg any) {
	writeJSON(w, status, map[string]any{"message": msg})
}

func (g *GitLab) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.Method+" "+r.URL.EscapedPath())
	if isWrite(r.Method) {
		g.writes++
	}
	h := w.Header()
	h.Set("RateLimit-Limit", "2000")
	if g.rateLimited {
		reset := time.Now().Add(time.Minute)
		h.Set("RateLimit-Observed", "2001")
		h.Set("RateLimit-Remaining", "0")
		h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
		h.Set("Retry-After", "60")
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, "Retry later\n")
		return
	}
	h.Set("RateLimit-Remaining", "1999")
	tok := r.Header.Get("PRIVATE-TOKEN")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if tok == "" || (tok != g.token && (g.readOnly == "" || tok != g.readOnly)) {
		glError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	path := r.URL.EscapedPath()
	if path == "/api/v4/users" && r.Method == http.MethodGet {
		out := []map[string]any{}
		if id, ok := g.users[r.URL.Query().Get("username")]; ok {
			out = append(out, map[string]any{"id": id, "username": r.URL.Query().Get("username"), "state": "active"})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	rest, ok := strings.CutPrefix(path, "/api/v4/projects/")
	if !ok {
		glError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	parts := strings.Split(rest, "/")
	if id, _ := url.PathUnescape(parts[0]); id != g.Project {
		glError(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	if isWrite(r.Method) && tok != g.token {
		glError(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	parts = parts[1:]
	switch {
	case len(parts) == 1 && parts[0] == "merge_requests" && r.Method == http.MethodGet:
		g.list(w, r)
	case len(parts) == 1 && parts[0] == "merge_requests" && r.Method == http.MethodPost:
		g.create(w, r)
	case len(parts) == 2 && parts[0] == "merge_requests" && r.Method == http.MethodGet:
		g.withMR(w, parts[1], func(p *PR) { writeJSON(w, http.StatusOK, g.json(p)) })
	case len(parts) == 2 && parts[0] == "merge_requests" && r.Method == http.MethodPut:
		g.withMR(w, parts[1], func(p *PR) { g.update(w, r, p) })
	case len(parts) == 1 && parts[0] == "deploy_keys" && r.Method == http.MethodGet:
		g.listKeys(w, r)
	case len(parts) == 1 && parts[0] == "deploy_keys" && r.Method == http.MethodPost:
		g.addKey(w, r)
	default:
		glError(w, http.StatusNotFound, "404 Not Found")
	}
}

func (g *GitLab) withMR(w http.ResponseWriter, iid string, f func(*PR)) {
	p := g.byNumber(iid)
	if p == nil {
		glError(w, http.StatusNotFound, "404 Not found")
		return
	}
	f(p)
}

func glState(s string) string {
	if s == "open" {
		return "opened"
	}
	return s
}

func (g *GitLab) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "all"
	}
	var matched []*PR
	for _, p := range g.prs {
		if sb := q.Get("source_branch"); sb != "" && sb != p.Head {
			continue
		}
		if tb := q.Get("target_branch"); tb != "" && tb != p.Base {
			continue
		}
		if state != "all" && state != glState(p.State) {
			continue
		}
		matched = append(matched, p)
	}
	// order_by=created_at, sort=desc are the documented defaults.
	if q.Get("sort") != "asc" {
		slices.Reverse(matched)
	}
	pageNo, per := g.paginate(w, r, len(matched))
	out := []map[string]any{}
	for _, p := range window(matched, pageNo, per) {
		out = append(out, g.json(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// paginate reads page and per_page (20 by default, at most 100) and sets
// GitLab's pagination headers for a list of total items.
func (g *GitLab) paginate(w http.ResponseWriter, r *http.Request, total int) (pageNo, per int) {
	pageNo, per = page(r, "per_page", 20)
	per = min(per, 100)
	if g.PerPage > 0 {
		per = min(per, g.PerPage)
	}
	pages := max((total+per-1)/per, 1)
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(pageNo))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Next-Page", "")
	if pageNo < pages {
		h.Set("X-Next-Page", strconv.Itoa(pageNo+1))
	}
	if pageNo > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(pageNo-1))
	}
	if l := linkHeader(g.URL+r.URL.EscapedPath(), pageNo, per, total); l != "" {
		h.Set("Link", l)
	}
	return pageNo, per
}

// listKeys is GET /projects/:id/deploy_keys.
func (g *GitLab) listKeys(w http.ResponseWriter, r *http.Request) {
	pageNo, per := g.paginate(w, r, len(g.keys))
	out := []map[string]any{}
	for _, k := range window(g.keys, pageNo, per) {
		out = append(out, glKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
}

// addKey is POST /projects/:id/deploy_keys with {key, title, can_push,
// expires_at}. Like GitLab, the exact key text already in the project is
// answered with that key and 201 instead of a second one; the same key
// material under another comment fails on the fingerprint's uniqueness.
func (g *GitLab) addKey(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Key     *string `json:"key"`
		Title   *string `json:"title"`
		CanPush *bool   `json:"can_push"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		glError(w, http.StatusBadRequest, "400 Bad request - invalid JSON")
		return
	}
	var missing []string
	if b.Key == nil || strings.TrimSpace(*b.Key) == "" {
		missing = append(missing, "key is missing")
	}
	if b.Title == nil || *b.Title == "" {
		missing = append(missing, "title is missing")
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": strings.Join(missing, ", ")})
		return
	}
	key := strings.TrimSpace(*b.Key)
	for _, k := range g.keys {
		if k.Key == key {
			writeJSON(w, http.StatusCreated, glKeyJSON(k))
			return
		}
	}
	if _, ok := keyMaterial(key); !ok {
		glError(w, http.StatusBadRequest, map[string][]string{"deploy_key.key": {"is invalid"}, "deploy_key.fingerprint_sha256": {"cannot be generated"}})
		return
	}
	if g.keyWithMaterial(key) != nil {
		glError(w, http.StatusBadRequest, map[string][]string{"deploy_key.fingerprint_sha256": {"has already been taken"}})
		return
	}
	k := g.store.addKey(*b.Title, key, b.CanPush == nil || !*b.CanPush)
	writeJSON(w, http.StatusCreated, glKeyJSON(k))
}

func glKeyJSON(k *DeployKey) map[string]any {
	out := map[string]any{
		"id":         k.ID,
		"title":      k.Title,
		"key":        k.Key,
		"created_at": k.Created.UTC().Format(time.RFC3339),
		"expires_at": nil,
		"can_push":   !k.ReadOnly,
	}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key)); err == nil {
		out["fingerprint"] = strings.TrimPrefix(ssh.FingerprintLegacyMD5(pk), "MD5:")
		out["fingerprint_sha256"] = ssh.FingerprintSHA256(pk)
	}
	return out
}

type glBody struct {
	Title        *string `json:"title"`
	Description  *string `json:"description"`
	SourceBranch string  `json:"source_branch"`
	TargetBranch *string `json:"target_branch"`
	Labels       *string `json:"labels"`
	AddLabels    *string `json:"add_labels"`
	AssigneeIDs  []int64 `json:"assignee_ids"`
	ReviewerIDs  []int64 `json:"reviewer_ids"`
	StateEvent   *string `json:"state_event"`
}

func splitLabels(s *string) []string {
	if s == nil || *s == "" {
		return nil
	}
	return strings.Split(*s, ",")
}

func (g *GitLab) create(w http.ResponseWriter, r *http.Request) {
	var b glBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		glError(w, http.StatusBadRequest, "400 Bad request - invalid JSON")
		return
	}
	switch {
	case b.Title == nil || *b.Title == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "title is missing"})
		return
	case b.SourceBranch == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "source_branch is missing"})
		return
	case b.TargetBranch == nil || *b.TargetBranch == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "target_branch is missing"})
		return
	}
	if o := g.openFor(b.SourceBranch); o != nil {
		glError(w, http.StatusConflict, []string{fmt.Sprintf("Another open merge request already exists for this source branch: !%d", o.Number)})
		return
	}
	p := &PR{Number: len(g.prs) + 1, Head: b.SourceBranch, Base: *b.TargetBranch, Title: *b.Title, State: "open", Created: time.Now(), Labels: splitLabels(b.Labels)}
	if b.Description != nil {
		p.Body = *b.Description
	}
	p.Draft = strings.HasPrefix(p.Title, "Draft:")
	p.Assignees, p.Reviewers = g.names(b.AssigneeIDs), g.names(b.ReviewerIDs)
	g.prs = append(g.prs, p)
	writeJSON(w, http.StatusCreated, g.json(p))
}

func (g *GitLab) names(ids []int64) []string {
	var out []string
	for _, id := range ids {
		for n, uid := range g.users {
			if uid == id {
				out = append(out, n)
			}
		}
	}
	return out
}

func (g *GitLab) update(w http.ResponseWriter, r *http.Request, p *PR) {
	var b glBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		glError(w, http.StatusBadRequest, "400 Bad request - invalid JSON")
		return
	}
	if b.Title != nil {
		p.Title = *b.Title
		p.Draft = strings.HasPrefix(p.Title, "Draft:")
	}
	if b.Description != nil {
		p.Body = *b.Description
	}
	if b.Labels != nil {
		p.Labels = splitLabels(b.Labels)
	}
	p.Labels = union(p.Labels, splitLabels(b.AddLabels))
	if b.AssigneeIDs != nil {
		p.Assignees = g.names(b.AssigneeIDs)
	}
	if b.ReviewerIDs != nil {
		p.Reviewers = g.names(b.ReviewerIDs)
	}
	if b.StateEvent != nil {
		switch *b.StateEvent {
		case "close":
			p.State = "closed"
		case "reopen":
			p.State = "open"
		}
	}
	writeJSON(w, http.StatusOK, g.json(p))
}

func (g *GitLab) json(p *PR) map[string]any {
	users := func(names []string) []map[string]any {
		out := []map[string]any{}
		for _, n := range names {
			out = append(out, map[string]any{"id": g.users[n], "username": n})
		}
		return out
	}
	labels := p.Labels
	if labels == nil {
		labels = []string{}
	}
	return map[string]any{
		"id":            1000 + p.Number,
		"iid":           p.Number,
		"project_id":    1,
		"title":         p.Title,
		"description":   p.Body,
		"state":         glState(p.State),
		"draft":         p.Draft,
		"source_branch": p.Head,
		"target_branch": p.Base,
		"labels":        labels,
		"assignees":     users(p.Assignees),
		"reviewers":     users(p.Reviewers),
		"created_at":    p.Created.UTC().Format(time.RFC3339),
		"web_url":       fmt.Sprintf("%s/%s/-/merge_requests/%d", g.URL, g.Project, p.Number),
	}
}
