package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidegate/tidegate/internal/gitremote"
	"github.com/tidegate/tidegate/internal/httpclient"
)

// PullRequest is a pull or merge request as the forge reports it.
type PullRequest struct {
	// Number is the number shown in the web UI (GitLab's IID).
	Number int `json:"number"`
	// URL is the web page of the pull request.
	URL string `json:"url"`
	// State is "open", "closed" (without merge) or "merged".
	State string `json:"state"`
	// Head is the branch with the changes, Base the branch they merge into.
	Head  string `json:"head"`
	Base  string `json:"base"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// States of a PullRequest.
const (
	StateOpen   = "open"
	StateClosed = "closed"
	StateMerged = "merged"
)

// Spec is what a pull request should look like.
type Spec struct {
	Head, Base, Title, Body string
	// Labels, Reviewers and Assignees are added; labels, reviewers and
	// assignees a human set on the pull request are kept.
	Labels, Reviewers, Assignees []string
	// Draft opens the pull request as a draft. It is applied on creation
	// only: a reviewer who marked it ready keeps it ready.
	Draft bool
}

// Forge is one hosting service's pull/merge request API for one
// repository.
type Forge interface {
	// FindByHead returns the most recent pull request whose head is the
	// branch, in any state; nil when there is none.
	FindByHead(ctx context.Context, head string) (*PullRequest, error)
	// Create opens a pull request.
	Create(ctx context.Context, s Spec) (*PullRequest, error)
	// Update sets the title and body of an open pull request and adds the
	// spec's labels, reviewers and assignees.
	Update(ctx context.Context, number int, s Spec) (*PullRequest, error)
}

// Provider names a hosting service.
type Provider string

// Providers tidegate talks to.
const (
	GitHub Provider = "github"
	GitLab Provider = "gitlab"
	Gitea  Provider = "gitea"
)

// ParseProvider validates a provider name given by the user.
func ParseProvider(s string) (Provider, error) {
	p := Provider(strings.ToLower(strings.TrimSpace(s)))
	switch p {
	case GitHub, GitLab, Gitea:
		return p, nil
	case "forgejo", "codeberg":
		return Gitea, nil
	}
	return "", fmt.Errorf("unknown forge %q: use github, gitlab or gitea", s)
}

// Detect guesses the hosting service from a Git remote URL (HTTPS or SSH
// form).
func Detect(remoteURL string) (Provider, error) {
	r, err := parseRemote(remoteURL)
	if err != nil {
		return "", err
	}
	host := strings.ToLower(r.host)
	switch {
	case host == "github.com" || strings.HasSuffix(host, ".github.com"):
		return GitHub, nil
	case strings.Contains(host, "gitlab"):
		return GitLab, nil
	case strings.Contains(host, "gitea"), strings.Contains(host, "forgejo"), strings.Contains(host, "codeberg"):
		return Gitea, nil
	}
	return "", fmt.Errorf("cannot tell which forge hosts %s: pass --forge (github, gitlab or gitea), and --forge-url for a self-hosted instance", r.host)
}

// Config selects a forge and the repository on it.
type Config struct {
	// Provider is the hosting service; empty means Detect(RemoteURL).
	Provider Provider
	// RemoteURL is the Git remote of the repository, in HTTPS
	// (https://host/owner/repo.git) or SSH (git@host:owner/repo.git,
	// ssh://git@host/owner/repo.git) form.
	RemoteURL string
	// APIURL overrides the API location: the GitHub Enterprise, GitLab or
	// Gitea root URL. Empty derives it from RemoteURL.
	APIURL string
	// Token authenticates the API requests.
	Token string
	// HTTPClient carries the requests; nil uses one from
	// internal/httpclient (connect, header, stall and 60s overall
	// timeouts, 32 MiB response cap).
	HTTPClient *http.Client
}

// New returns the forge for the repository of c.RemoteURL.
func New(c Config) (Forge, error) {
	r, err := parseRemote(c.RemoteURL)
	if err != nil {
		return nil, err
	}
	p := c.Provider
	if p == "" {
		if p, err = Detect(c.RemoteURL); err != nil {
			return nil, err
		}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = httpclient.New(httpclient.WithRequestTimeout(defaultTimeout))
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("forge URL %q is not an http(s) URL", redact(c.APIURL))
		}
	}
	switch p {
	case GitHub:
		owner, repo, err := r.ownerRepo()
		if err != nil {
			return nil, err
		}
		return newGitHub(c, r, owner, repo)
	case GitLab:
		if r.path == "" || !strings.Contains(r.path, "/") {
			return nil, fmt.Errorf("remote %s does not name a GitLab project (group/project)", redact(c.RemoteURL))
		}
		return newGitLab(c, r)
	case Gitea:
		owner, repo, err := r.ownerRepo()
		if err != nil {
			return nil, err
		}
		return newGitea(c, r, owner, repo)
	}
	_, err = ParseProvider(string(p))
	return nil, err
}

// remote is a Git remote URL split into the parts forges care about.
type remote struct {
	// scheme is "https" or "http" for web remotes; SSH remotes use https
	// for the API.
	scheme string
	host   string // host[:port] of the web UI
	path   string // repository path without leading slash and ".git"
}

func parseRemote(s string) (remote, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return remote{}, errors.New("no Git remote URL to derive the repository from")
	}
	g, err := gitremote.Parse(s)
	if err != nil {
		return remote{}, err
	}
	var r remote
	if r.scheme, r.host, err = g.WebLocation(); err != nil {
		return remote{}, err
	}
	r.path = g.Path
	if r.host == "" || r.path == "" {
		return remote{}, fmt.Errorf("remote %s names no repository", g)
	}
	return r, nil
}

// ownerRepo returns the last two path segments: GitHub and Gitea
// repositories are owner/name, possibly below a path prefix of the web UI.
func (r remote) ownerRepo() (owner, repo string, err error) {
	parts := strings.Split(r.path, "/")
	if len(parts) < 2 {
		return "", "", fmt.Errorf("remote path %q is not owner/repository", r.path)
	}
	return parts[len(parts)-2], parts[len(parts)-1], nil
}

// prefix is the path of the web UI below the host, for Gitea installed
// under a sub-path (https://host/gitea/owner/repo).
func (r remote) prefix() string {
	parts := strings.Split(r.path, "/")
	if len(parts) <= 2 {
		return ""
	}
	return "/" + strings.Join(parts[:len(parts)-2], "/")
}

// redact removes credentials from a URL so it can be printed.
func redact(s string) string { return gitremote.Redact(s) }
