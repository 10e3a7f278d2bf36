package forge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v92/github"
)

type gitHub struct {
	c           *github.Client
	owner, repo string
	token       string
}

func newGitHub(c Config, r remote, owner, repo string) (*gitHub, error) {
	opts := []github.ClientOptionsFunc{github.WithHTTPClient(c.HTTPClient), github.WithUserAgent("tidegate")}
	if c.Token != "" {
		opts = append(opts, github.WithAuthToken(c.Token))
	}
	api := c.APIURL
	if api == "" && !strings.EqualFold(r.host, "github.com") {
		// GitHub Enterprise serves its API below the web host.
		api = r.scheme + "://" + r.host
	}
	if api != "" {
		api = strings.TrimSuffix(api, "/") + "/"
		opts = append(opts, github.WithEnterpriseURLs(api, api))
	}
	gc, err := github.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	return &gitHub{c: gc, owner: owner, repo: repo, token: c.Token}, nil
}

func (g *gitHub) FindByHead(ctx context.Context, head string) (*PullRequest, error) {
	opts := &github.PullRequestListOptions{
		State: "all", Head: g.owner + ":" + head, Sort: "created", Direction: "desc",
		ListOptions: github.ListOptions{PerPage: 100},
	}
	var best *github.PullRequest
	for {
		prs, resp, err := g.c.PullRequests.List(ctx, g.owner, g.repo, opts)
		if err != nil {
			return nil, g.err("list pull requests", err)
		}
		for _, pr := range prs {
			// The head filter is "owner:branch"; a fork's branch of the same
			// name is not ours.
			if pr.GetHead().GetRef() != head {
				continue
			}
			if best == nil || pr.GetNumber() > best.GetNumber() {
				best = pr
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
	return g.convert(best), nil
}

func (g *gitHub) Create(ctx context.Context, s Spec) (*PullRequest, error) {
	pr, _, err := g.c.PullRequests.Create(ctx, g.owner, g.repo, github.CreatePullRequest{
		Title: new(s.Title), Head: s.Head, Base: s.Base, Body: new(s.Body),
		Draft: new(s.Draft), MaintainerCanModify: new(true),
	})
	if err != nil {
		return nil, g.err("create pull request", err)
	}
	if err := g.decorate(ctx, pr.GetNumber(), s); err != nil {
		return g.convert(pr), err
	}
	return g.convert(pr), nil
}

func (g *gitHub) Update(ctx context.Context, number int, s Spec) (*PullRequest, error) {
	pr, _, err := g.c.PullRequests.Edit(ctx, g.owner, g.repo, number, &github.PullRequest{
		Title: new(s.Title), Body: new(s.Body),
	})
	if err != nil {
		return nil, g.err(fmt.Sprintf("update pull request #%d", number), err)
	}
	if err := g.decorate(ctx, number, s); err != nil {
		return g.convert(pr), err
	}
	return g.convert(pr), nil
}

// decorate adds labels, assignees and reviewers, which GitHub sets through
// the issues and review-request APIs rather than on the pull request.
func (g *gitHub) decorate(ctx context.Context, number int, s Spec) error {
	if len(s.Labels) > 0 {
		if _, _, err := g.c.Issues.AddLabelsToIssue(ctx, g.owner, g.repo, number, s.Labels); err != nil {
			return g.err(fmt.Sprintf("add labels to pull request #%d", number), err)
		}
	}
	if len(s.Assignees) > 0 {
		if _, _, err := g.c.Issues.AddAssignees(ctx, g.owner, g.repo, number, s.Assignees); err != nil {
			return g.err(fmt.Sprintf("add assignees to pull request #%d", number), err)
		}
	}
	if len(s.Reviewers) > 0 {
		var users, teams []string
		for _, r := range s.Reviewers {
			// "org/team" requests a team review.
			if _, team, ok := strings.Cut(r, "/"); ok {
				teams = append(teams, team)
			} else {
				users = append(users, r)
			}
		}
		if _, _, err := g.c.PullRequests.RequestReviewers(ctx, g.owner, g.repo, number, github.ReviewersRequest{Reviewers: users, TeamReviewers: teams}); err != nil {
			return g.err(fmt.Sprintf("request reviewers for pull request #%d", number), err)
		}
	}
	return nil
}

func (g *gitHub) convert(pr *github.PullRequest) *PullRequest {
	state := pr.GetState()
	if state == "closed" && (pr.MergedAt != nil || pr.GetMerged()) {
		state = StateMerged
	}
	return &PullRequest{
		Number: pr.GetNumber(), URL: pr.GetHTMLURL(), State: state,
		Head: pr.GetHead().GetRef(), Base: pr.GetBase().GetRef(),
		Title: pr.GetTitle(), Body: pr.GetBody(),
	}
}

func (g *gitHub) err(op string, err error) error {
	repo := g.owner + "/" + g.repo
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		reset := rl.Rate.Reset.Time
		if reset.IsZero() {
			reset = time.Now()
		}
		return apiError(GitHub, repo, op, statusOf(rl.Response), rl.Message, reset, err, g.token)
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		reset := time.Now()
		if abuse.RetryAfter != nil {
			reset = reset.Add(*abuse.RetryAfter)
		}
		return apiError(GitHub, repo, op, statusOf(abuse.Response), abuse.Message, reset, err, g.token)
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		msg := er.Message
		for _, d := range er.Errors {
			if d.Message != "" {
				msg += "; " + d.Message
			} else if d.Code != "" {
				msg += fmt.Sprintf("; %s %s %s", d.Resource, d.Field, d.Code)
			}
		}
		return apiError(GitHub, repo, op, statusOf(er.Response), msg, time.Time{}, err, g.token)
	}
	return apiError(GitHub, repo, op, 0, "", time.Time{}, err, g.token)
}

func (g *gitHub) AddDeployKey(ctx context.Context, title, publicKey string, readOnly bool) error {
	repo := g.owner + "/" + g.repo
	want, err := parseDeployKey(GitHub, repo, publicKey)
	if err != nil {
		return err
	}
	opts := &github.ListOptions{PerPage: 100}
	for {
		keys, resp, err := g.c.Repositories.ListKeys(ctx, g.owner, g.repo, opts)
		if err != nil {
			return g.err("list deploy keys", err)
		}
		for _, k := range keys {
			if sameKey(want, k.GetKey()) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	_, _, err = g.c.Repositories.CreateKey(ctx, g.owner, g.repo, github.CreateDeployKeyRequest{
		Title: new(title), Key: publicKey, ReadOnly: new(readOnly),
	})
	if err != nil {
		return g.err("add deploy key", err)
	}
	return nil
}
