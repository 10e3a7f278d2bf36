package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/internal/markdown"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/source"
)

// ForgeFlags say where and how pull/merge requests are opened; every
// command that proposes a change to Git embeds them.
type ForgeFlags struct {
	Base        string   `help:"Branch the pull requests merge into. Default: the checked-out branch." env:"TIDEGATE_BASE" placeholder:"BRANCH"`
	Forge       string   `help:"Hosting service: github, gitlab or gitea (Forgejo too). Default: detected from the source URL." env:"TIDEGATE_FORGE"`
	ForgeURL    string   `help:"API root of a self-hosted forge: GitHub Enterprise, GitLab or Gitea base URL. Default: derived from the source URL." env:"TIDEGATE_FORGE_URL" placeholder:"URL"`
	ForgeToken  string   `help:"Token for the forge API (default: $$GITHUB_TOKEN or $$GITLAB_TOKEN). Never logged." env:"TIDEGATE_FORGE_TOKEN" placeholder:"TOKEN"`
	AuthorName  string   `help:"Commit author name." default:"tidegate" env:"TIDEGATE_AUTHOR_NAME" placeholder:"NAME"`
	AuthorEmail string   `help:"Commit author email." default:"tidegate@users.noreply.github.com" env:"TIDEGATE_AUTHOR_EMAIL" placeholder:"EMAIL"`
	Label       []string `help:"Label to add to the pull requests. Repeatable." env:"TIDEGATE_LABELS" sep:"," placeholder:"LABEL"`
	Reviewer    []string `help:"User (or org/team) to request a review from. Repeatable." env:"TIDEGATE_REVIEWERS" sep:"," placeholder:"USER"`
	Assignee    []string `help:"User to assign the pull requests to. Repeatable." env:"TIDEGATE_ASSIGNEES" sep:"," placeholder:"USER"`
	Draft       bool     `help:"Open new pull requests as drafts." env:"TIDEGATE_DRAFT"`
	Reopen      bool     `help:"Propose a change again although its pull request was closed without merge." env:"TIDEGATE_REOPEN"`
}

// ProposeFlags turn `images update` into pull/merge requests.
type ProposeFlags struct {
	Propose         bool   `help:"Propose the bumps as pull/merge requests on a branch instead of writing the working tree. Idempotent: an unchanged run writes nothing." env:"TIDEGATE_PROPOSE"`
	BranchTemplate  string `help:"Go template of the head branch; data: .ID (hash of the policy set), .Name (the policy, branch-safe, or 'all' with --group), .Policies, .Base." default:"tidegate/images/{{.ID}}" env:"TIDEGATE_BRANCH_TEMPLATE" placeholder:"TEMPLATE"`
	MessageTemplate string `help:"File with a Go template of the commit message; its first line is the pull request title. Data: .Bumps (.Image .OldTag .NewTag .File .Line .Policy), .Files, .Policies, .Branch, .Base." type:"existingfile" env:"TIDEGATE_MESSAGE_TEMPLATE" placeholder:"FILE"`
	Group           bool   `help:"One pull request for all policies instead of one per policy." env:"TIDEGATE_GROUP"`
	ForgeFlags
}

// options are the propose options every proposing command shares.
func (f *ForgeFlags) options(g *Globals, dryRun bool) propose.Options {
	return propose.Options{
		Base:   f.Base,
		Author: source.Signature{Name: f.AuthorName, Email: f.AuthorEmail},
		Labels: f.Label, Reviewers: f.Reviewer, Assignees: f.Assignee,
		Draft: f.Draft, Reopen: f.Reopen, DryRun: dryRun, Logger: g.Logger(),
	}
}

func (f *ProposeFlags) proposeOptions(g *Globals, dryRun bool, img images.Options) (propose.Options, error) {
	o := f.options(g, dryRun)
	o.BranchTemplate, o.Group, o.Images = f.BranchTemplate, f.Group, img
	if f.MessageTemplate != "" {
		b, err := os.ReadFile(f.MessageTemplate)
		if err != nil {
			return o, fmt.Errorf("read --message-template: %w", err)
		}
		o.MessageTemplate = string(b)
	}
	return o, nil
}

func (f *ForgeFlags) newForge(g *Globals, co *source.Checkout) (forge.Forge, error) {
	// A working tree's forge is the one of its origin remote, not its path.
	remote := co.URL
	if r := co.Remote(); r != "" {
		remote = r
	}
	return f.forgeFor(g, remote, "--propose")
}

// forgeFor is the forge hosting remote; need names the flag that needs
// it, for the error when no token was given.
func (f *ForgeFlags) forgeFor(g *Globals, remote, need string) (forge.Forge, error) {
	cfg := forge.Config{RemoteURL: remote, APIURL: f.ForgeURL, Token: f.ForgeToken}
	if f.Forge != "" {
		p, err := forge.ParseProvider(f.Forge)
		if err != nil {
			return nil, err
		}
		cfg.Provider = p
	} else {
		p, err := forge.Detect(remote)
		if err != nil {
			return nil, err
		}
		cfg.Provider = p
	}
	if cfg.Token == "" {
		switch cfg.Provider {
		case forge.GitHub:
			cfg.Token = g.getenv("GITHUB_TOKEN")
		case forge.GitLab:
			cfg.Token = g.getenv("GITLAB_TOKEN")
		}
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("%s needs a forge token: set --forge-token or TIDEGATE_FORGE_TOKEN", need)
	}
	return forge.New(cfg)
}

// runPropose is `images update --propose`.
func (c *ImagesUpdateCmd) runPropose(ctx context.Context, g *Globals, co *source.Checkout, img images.Options) error {
	opts, err := c.ProposeFlags.proposeOptions(g, c.DryRun, img)
	if err != nil {
		return err
	}
	var f forge.Forge
	if !c.DryRun {
		if f, err = c.ProposeFlags.newForge(g, co); err != nil {
			return err
		}
	}
	res, err := propose.Run(ctx, co, f, opts)
	if res == nil {
		return err
	}
	g.summarize(proposeSummary(co, res, err))
	var perr error
	if g.Output == "json" {
		perr = printJSON(g.stdout(), proposeJSON{DryRun: c.DryRun, Proposals: nonNil(res.Proposals), Warnings: nonNil(res.Warnings)})
	} else {
		perr = printProposals(g.stdout(), res, c.DryRun)
	}
	if err != nil || perr != nil {
		return errors.Join(err, perr)
	}
	if c.DryRun && len(res.Proposals) > 0 {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

type proposeJSON struct {
	DryRun    bool               `json:"dryRun"`
	Proposals []propose.Proposal `json:"proposals"`
	Warnings  []string           `json:"warnings"`
}

func printProposals(w io.Writer, res *propose.Result, dryRun bool) error {
	if len(res.Proposals) == 0 {
		_, err := fmt.Fprintln(w, "no image updates to propose")
		return err
	}
	if dryRun {
		for _, p := range res.Proposals {
			fmt.Fprintf(w, "branch: %s (into %s)\n\n--- commit message ---\n%s\n--- pull request body ---\n%s\n", p.Branch, p.Base, strings.TrimRight(p.Message, "\n"), p.Body)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BRANCH\tACTION\tCHANGES\tPULL REQUEST")
	for _, p := range res.Proposals {
		url := "-"
		if p.PullRequest != nil {
			url = p.PullRequest.URL
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", p.Branch, p.Action, len(p.Changes), url)
	}
	return tw.Flush()
}

// proposeSummary tells the host (GitHub Actions outputs, step summary)
// which pull requests a run opened or updated.
func proposeSummary(co *source.Checkout, res *propose.Result, err error) Summary {
	s := Summary{Command: "images update", Source: co.URL, Revision: co.Revision, Err: err, Counts: map[string]int{}}
	var b strings.Builder
	b.WriteString("| branch | action | pull request |\n|---|---|---|\n")
	for _, p := range res.Proposals {
		s.Counts[string(p.Action)]++
		s.Counts["bumps"] += len(p.Changes)
		url := ""
		if p.PullRequest != nil {
			url = p.PullRequest.URL
			if s.PullRequestURL == "" {
				s.PullRequestURL = url
			}
		}
		if p.Action != propose.ActionUnchanged {
			s.Changed = true
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", markdown.Cell(p.Branch), markdown.Text(string(p.Action)), markdown.Text(url))
	}
	s.Markdown = b.String()
	return s
}
