package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

type gitLab struct {
	c       *gitlab.Client
	project string
	token   string
}

// draftPrefix marks a GitLab merge request as a draft; GitLab has no
// separate field on create.
const draftPrefix = "Draft: "

func newGitLab(c Config, r remote) (*gitLab, error) {
	api := c.APIURL
	if api == "" {
		api = r.scheme + "://" + r.host
	}
	gc, err := gitlab.NewClient(c.Token,
		gitlab.WithBaseURL(api),
		gitlab.WithHTTPClient(c.HTTPClient),
		// A stateless run every few minutes retries by running again; a
		// rate limit is reported, not waited out.
		gitlab.WithoutRetries(),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	gc.UserAgent = "tidegate"
	return &gitLab{c: gc, project: r.path, token: c.Token}, nil
}

func (g *gitLab) FindByHead(ctx context.Context, head string) (*PullRequest, error) {
	opts := &gitlab.ListProjectMergeRequestsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: 100},
		State:        gitlab.Ptr("all"),
		SourceBranch: gitlab.Ptr(head),
		OrderBy:      gitlab.Ptr("created_at"),
		Sort:         gitlab.Ptr("desc"),
	}
	var best *gitlab.BasicMergeRequest
	for {
		mrs, resp, err := g.c.MergeRequests.ListProjectMergeRequests(g.project, opts, gitlab.WithContext(ctx))
		if err != nil {
			return nil, g.err("list merge requests", resp, err)
		}
		for _, mr := range mrs {
			if mr.SourceBranch != head {
				continue
			}
			if best == nil || mr.IID > best.IID {
				best = mr
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if best == nil {
		return nil, nil
	}
	return convertMR(best), nil
}

func (g *gitLab) Create(ctx context.Context, s Spec) (*PullRequest, error) {
	assignees, err := g.userIDs(ctx, s.Assignees)
	if err != nil {
		return nil, err
	}
	reviewers, err := g.userIDs(ctx, s.Reviewers)
	if err != nil {
		return nil, err
	}
	title := s.Title
	if s.Draft && !strings.HasPrefix(title, draftPrefix) {
		title = draftPrefix + title
	}
	opts := &gitlab.CreateMergeRequestOptions{
		Title: gitlab.Ptr(title), Description: gitlab.Ptr(s.Body),
		SourceBranch: gitlab.Ptr(s.Head), TargetBranch: gitlab.Ptr(s.Base),
		RemoveSourceBranch: gitlab.Ptr(true),
	}
	if len(s.Labels) > 0 {
		opts.Labels = gitlab.Ptr(gitlab.LabelOptions(s.Labels))
	}
	if len(assignees) > 0 {
		opts.AssigneeIDs = &assignees
	}
	if len(reviewers) > 0 {
		opts.ReviewerIDs = &reviewers
	}
	mr, resp, err := g.c.MergeRequests.CreateMergeRequest(g.project, opts, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.err("create merge request", resp, err)
	}
	return convertMR(&mr.BasicMergeRequest), nil
}

func (g *gitLab) Update(ctx context.Context, number int, s Spec) (*PullRequest, error) {
	op := fmt.Sprintf("update merge request !%d", number)
	cur, resp, err := g.c.MergeRequests.GetMergeRequest(g.project, int64(number), nil, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.err(op, resp, err)
	}
	// Keep a draft a draft, and keep the people a human added.
	title := s.Title
	if cur.Draft && !strings.HasPrefix(title, draftPrefix) {
		title = draftPrefix + title
	}
	opts := &gitlab.UpdateMergeRequestOptions{Title: gitlab.Ptr(title), Description: gitlab.Ptr(s.Body)}
	if len(s.Labels) > 0 {
		opts.AddLabels = gitlab.Ptr(gitlab.LabelOptions(s.Labels))
	}
	if len(s.Assignees) > 0 {
		ids, err := g.userIDs(ctx, s.Assignees)
		if err != nil {
			return nil, err
		}
		for _, u := range cur.Assignees {
			ids = appendNew(ids, u.ID)
		}
		opts.AssigneeIDs = &ids
	}
	if len(s.Reviewers) > 0 {
		ids, err := g.userIDs(ctx, s.Reviewers)
		if err != nil {
			return nil, err
		}
		for _, u := range cur.Reviewers {
			ids = appendNew(ids, u.ID)
		}
		opts.ReviewerIDs = &ids
	}
	mr, resp, err := g.c.MergeRequests.UpdateMergeRequest(g.project, int64(number), opts, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.err(op, resp, err)
	}
	return convertMR(&mr.BasicMergeRequest), nil
}

// userIDs resolves user names: GitLab assigns and requests reviews by
// numeric user ID.
func (g *gitLab) userIDs(ctx context.Context, names []string) ([]int64, error) {
	var ids []int64
	for _, n := range names {
		users, resp, err := g.c.Users.ListUsers(&gitlab.ListUsersOptions{Username: gitlab.Ptr(n)}, gitlab.WithContext(ctx))
		if err != nil {
			return nil, g.err("look up user "+n, resp, err)
		}
		if len(users) == 0 {
			return nil, &Error{Provider: GitLab, Repo: g.project, Op: "look up user " + n, Message: "no such user", kind: ErrInvalid}
		}
		ids = appendNew(ids, users[0].ID)
	}
	return ids, nil
}

func appendNew(ids []int64, id int64) []int64 {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

func convertMR(mr *gitlab.BasicMergeRequest) *PullRequest {
	state := mr.State
	switch state {
	case "opened", "locked":
		state = StateOpen
	}
	return &PullRequest{
		Number: int(mr.IID), URL: mr.WebURL, State: state,
		Head: mr.SourceBranch, Base: mr.TargetBranch,
		Title: strings.TrimPrefix(mr.Title, draftPrefix), Body: mr.Description,
	}
}

func (g *gitLab) err(op string, resp *gitlab.Response, err error) error {
	status := 0
	var hdr http.Header
	if resp != nil && resp.Response != nil {
		status, hdr = resp.StatusCode, resp.Header
	}
	msg := ""
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		msg = glMessage(er.Body)
		if er.Response != nil {
			status, hdr = er.Response.StatusCode, er.Response.Header
		}
	}
	if errors.Is(err, gitlab.ErrNotFound) {
		status = http.StatusNotFound
	}
	// GitLab repeats the status as the message ("401 Unauthorized").
	if msg == fmt.Sprintf("%d %s", status, http.StatusText(status)) {
		msg = ""
	}
	var reset time.Time
	if status == http.StatusTooManyRequests {
		reset = time.Now()
		// GitLab documents RateLimit-Reset as a Unix time and Retry-After
		// in seconds.
		if s, perr := strconv.ParseInt(hdr.Get("RateLimit-Reset"), 10, 64); perr == nil {
			reset = time.Unix(s, 0)
		} else if s, perr := strconv.Atoi(hdr.Get("Retry-After")); perr == nil {
			reset = reset.Add(time.Duration(s) * time.Second)
		}
	}
	return apiError(GitLab, g.project, op, status, msg, reset, err, g.token)
}

// glMessage extracts the documented error shapes: {"message": "..."},
// {"message": ["..."]}, {"message": {"field": ["..."]}}, {"error": "..."},
// or a plain text body.
func glMessage(body []byte) string {
	var v struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return strings.TrimSpace(string(body))
	}
	if v.Error != "" {
		return v.Error
	}
	var s string
	if json.Unmarshal(v.Message, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(v.Message, &list) == nil {
		return strings.Join(list, "; ")
	}
	var fields map[string][]string
	if json.Unmarshal(v.Message, &fields) == nil {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			parts = append(parts, k+" "+strings.Join(fields[k], ", "))
		}
		return strings.Join(parts, "; ")
	}
	return strings.TrimSpace(string(v.Message))
}

func (g *gitLab) AddDeployKey(ctx context.Context, title, publicKey string, readOnly bool) error {
	want, err := parseDeployKey(GitLab, g.project, publicKey)
	if err != nil {
		return err
	}
	opts := &gitlab.ListProjectDeployKeysOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}
	for {
		keys, resp, err := g.c.DeployKeys.ListProjectDeployKeys(g.project, opts, gitlab.WithContext(ctx))
		if err != nil {
			return g.err("list deploy keys", resp, err)
		}
		for _, k := range keys {
			if sameKey(want, k.Key) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	_, resp, err := g.c.DeployKeys.AddDeployKey(g.project, &gitlab.AddDeployKeyOptions{
		Title: gitlab.Ptr(title), Key: gitlab.Ptr(publicKey), CanPush: gitlab.Ptr(!readOnly),
	}, gitlab.WithContext(ctx))
	if err != nil {
		return g.err("add deploy key", resp, err)
	}
	return nil
}
