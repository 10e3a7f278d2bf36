package forge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"code.gitea.io/sdk/gitea"
)

// wipPrefix is the default work-in-progress prefix of Gitea and Forgejo:
// their API has no draft field.
const wipPrefix = "WIP: "

type giteaForge struct {
	cfg         Config
	api         string
	owner, repo string
}

func newGitea(c Config, r remote, owner, repo string) (*giteaForge, error) {
	api := strings.TrimSuffix(c.APIURL, "/")
	if api == "" {
		api = r.scheme + "://" + r.host + r.prefix()
	}
	api = strings.TrimSuffix(api, "/api/v1")
	return &giteaForge{cfg: c, api: api, owner: owner, repo: repo}, nil
}

// client is made per call because the SDK carries the request context on
// the client.
func (g *giteaForge) client(ctx context.Context) (*gitea.Client, error) {
	opts := []gitea.ClientOption{
		gitea.SetHTTPClient(g.cfg.HTTPClient), gitea.SetContext(ctx),
		gitea.SetUserAgent("tidegate"),
		// Forgejo's version strings do not parse as Gitea versions, and
		// every endpoint used here exists since Gitea 1.17.
		gitea.SetGiteaVersion(""),
	}
	if g.cfg.Token != "" {
		opts = append(opts, gitea.SetToken(g.cfg.Token))
	}
	c, err := gitea.NewClient(g.api, opts...)
	if err != nil {
		return nil, fmt.Errorf("gitea client: %w", err)
	}
	return c, nil
}

func (g *giteaForge) FindByHead(ctx context.Context, head string) (*PullRequest, error) {
	c, err := g.client(ctx)
	if err != nil {
		return nil, err
	}
	// The list API filters by state and base only; scan every page for the
	// head branch.
	opts := gitea.ListPullRequestsOptions{State: gitea.StateAll, Sort: "recentupdate", ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}
	var best *gitea.PullRequest
	for {
		prs, resp, err := c.ListRepoPullRequests(g.owner, g.repo, opts)
		if err != nil {
			return nil, g.err("list pull requests", resp, err)
		}
		for _, pr := range prs {
			if pr.Head == nil || pr.Head.Ref != head || (pr.Head.RepoID != 0 && pr.Base != nil && pr.Head.RepoID != pr.Base.RepoID) {
				continue
			}
			if best == nil || pr.Index > best.Index {
				best = pr
			}
		}
		if resp == nil || resp.NextPage == 0 || len(prs) == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if best == nil {
		return nil, nil
	}
	return convertGitea(best), nil
}

func (g *giteaForge) Create(ctx context.Context, s Spec) (*PullRequest, error) {
	c, err := g.client(ctx)
	if err != nil {
		return nil, err
	}
	labels, err := g.labelIDs(c, s.Labels)
	if err != nil {
		return nil, err
	}
	title := s.Title
	if s.Draft && !strings.HasPrefix(title, wipPrefix) {
		title = wipPrefix + title
	}
	pr, resp, err := c.CreatePullRequest(g.owner, g.repo, gitea.CreatePullRequestOption{
		Head: s.Head, Base: s.Base, Title: title, Body: s.Body,
		Assignees: s.Assignees, Labels: labels,
	})
	if err != nil {
		return nil, g.err("create pull request", resp, err)
	}
	if err := g.requestReviews(c, pr.Index, s.Reviewers); err != nil {
		return convertGitea(pr), err
	}
	return convertGitea(pr), nil
}

func (g *giteaForge) Update(ctx context.Context, number int, s Spec) (*PullRequest, error) {
	op := fmt.Sprintf("update pull request #%d", number)
	c, err := g.client(ctx)
	if err != nil {
		return nil, err
	}
	cur, resp, err := c.GetPullRequest(g.owner, g.repo, int64(number))
	if err != nil {
		return nil, g.err(op, resp, err)
	}
	title := s.Title
	if strings.HasPrefix(cur.Title, wipPrefix) && !strings.HasPrefix(title, wipPrefix) {
		title = wipPrefix + title
	}
	body := s.Body
	edit := gitea.EditPullRequestOption{Title: title, Body: &body}
	if len(s.Assignees) > 0 {
		var all []string
		for _, u := range cur.Assignees {
			all = append(all, u.UserName)
		}
		for _, a := range s.Assignees {
			if !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
		edit.Assignees = all
	}
	pr, resp, err := c.EditPullRequest(g.owner, g.repo, int64(number), edit)
	if err != nil {
		return nil, g.err(op, resp, err)
	}
	if len(s.Labels) > 0 {
		ids, err := g.labelIDs(c, s.Labels)
		if err != nil {
			return convertGitea(pr), err
		}
		if _, resp, err := c.AddIssueLabels(g.owner, g.repo, int64(number), gitea.IssueLabelsOption{Labels: ids}); err != nil {
			return convertGitea(pr), g.err(fmt.Sprintf("add labels to pull request #%d", number), resp, err)
		}
	}
	if err := g.requestReviews(c, int64(number), s.Reviewers); err != nil {
		return convertGitea(pr), err
	}
	return convertGitea(pr), nil
}

func (g *giteaForge) requestReviews(c *gitea.Client, number int64, reviewers []string) error {
	if len(reviewers) == 0 {
		return nil
	}
	var users, teams []string
	for _, r := range reviewers {
		if _, team, ok := strings.Cut(r, "/"); ok {
			teams = append(teams, team)
		} else {
			users = append(users, r)
		}
	}
	resp, err := c.CreateReviewRequests(g.owner, g.repo, number, gitea.PullReviewRequestOptions{Reviewers: users, TeamReviewers: teams})
	if err != nil {
		return g.err(fmt.Sprintf("request reviewers for pull request #%d", number), resp, err)
	}
	return nil
}

// labelIDs resolves label names, creating the missing ones the way GitHub
// does: Gitea labels pull requests by ID.
func (g *giteaForge) labelIDs(c *gitea.Client, names []string) ([]int64, error) {
	if len(names) == 0 {
		return nil, nil
	}
	have := map[string]int64{}
	opts := gitea.ListLabelsOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}
	for {
		labels, resp, err := c.ListRepoLabels(g.owner, g.repo, opts)
		if err != nil {
			return nil, g.err("list labels", resp, err)
		}
		for _, l := range labels {
			have[l.Name] = l.ID
		}
		if resp == nil || resp.NextPage == 0 || len(labels) == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	var ids []int64
	for _, n := range names {
		id, ok := have[n]
		if !ok {
			l, resp, err := c.CreateLabel(g.owner, g.repo, gitea.CreateLabelOption{Name: n, Color: "#ededed"})
			if err != nil {
				return nil, g.err("create label "+n, resp, err)
			}
			id = l.ID
			have[n] = id
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func convertGitea(pr *gitea.PullRequest) *PullRequest {
	out := &PullRequest{
		Number: int(pr.Index), URL: pr.HTMLURL, State: string(pr.State),
		Title: strings.TrimPrefix(pr.Title, wipPrefix), Body: pr.Body,
	}
	if pr.HasMerged {
		out.State = StateMerged
	}
	if pr.Head != nil {
		out.Head = pr.Head.Ref
	}
	if pr.Base != nil {
		out.Base = pr.Base.Ref
	}
	return out
}

func (g *giteaForge) err(op string, resp *gitea.Response, err error) error {
	status := 0
	var reset time.Time
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
		if status == 429 {
			reset = time.Now()
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
				reset = reset.Add(time.Duration(s) * time.Second)
			}
		}
	}
	msg := ""
	if status != 0 && err != nil {
		// The SDK's error text is the server's "message" field.
		msg = err.Error()
	}
	return apiError(Gitea, g.owner+"/"+g.repo, op, status, msg, reset, err, g.cfg.Token)
}

func (g *giteaForge) AddDeployKey(ctx context.Context, title, publicKey string, readOnly bool) error {
	want, err := parseDeployKey(Gitea, g.owner+"/"+g.repo, publicKey)
	if err != nil {
		return err
	}
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	opts := gitea.ListDeployKeysOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}
	for {
		keys, resp, err := c.ListDeployKeys(g.owner, g.repo, opts)
		if err != nil {
			return g.err("list deploy keys", resp, err)
		}
		for _, k := range keys {
			if sameKey(want, k.Key) {
				return nil
			}
		}
		if resp == nil || resp.NextPage == 0 || len(keys) == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	_, resp, err := c.CreateDeployKey(g.owner, g.repo, gitea.CreateKeyOption{Title: title, Key: publicKey, ReadOnly: readOnly})
	if err != nil {
		return g.err("add deploy key", resp, err)
	}
	return nil
}
