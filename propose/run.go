package propose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/internal/atomicfile"
	"github.com/tidegate/tidegate/source"
)

// Options configure Run. See withDefaults for the defaults.
type Options struct {
	// Base is the branch pull requests merge into; default the checkout's
	// branch, else "main".
	Base string
	// BranchTemplate, MessageTemplate and BodyTemplate are text/templates
	// over Data. The title is the message's first line.
	BranchTemplate, MessageTemplate, BodyTemplate string
	// Author and Committer sign the commit; Committer defaults to Author,
	// Author to "tidegate <tidegate@users.noreply.github.com>".
	Author, Committer source.Signature
	// Labels, Reviewers and Assignees are added to every pull request;
	// Draft opens new ones as drafts.
	Labels, Reviewers, Assignees []string
	Draft                        bool
	// Group makes one pull request for all policies instead of one per
	// policy.
	Group bool
	// Reopen proposes a change again although a pull request proposing
	// exactly it was closed without merge.
	Reopen bool
	// DryRun renders branches, messages and bodies and stops: no push, no
	// API call.
	DryRun bool
	// Images configures the registry scan.
	Images images.Options
	Logger *slog.Logger
}

func (o Options) withDefaults(co *source.Checkout) Options {
	if o.Base == "" && co != nil {
		o.Base = co.Branch
	}
	if o.Base == "" {
		o.Base = "main"
	}
	if o.BranchTemplate == "" {
		o.BranchTemplate = DefaultBranchTemplate
	}
	if o.MessageTemplate == "" {
		o.MessageTemplate = DefaultMessageTemplate
	}
	if o.BodyTemplate == "" {
		o.BodyTemplate = DefaultBodyTemplate
	}
	if o.Author.Name == "" {
		o.Author.Name = "tidegate"
	}
	if o.Author.Email == "" {
		o.Author.Email = "tidegate@users.noreply.github.com"
	}
	if o.Committer == (source.Signature{}) {
		o.Committer = o.Author
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Action is what a run did for one proposal.
type Action string

// Actions.
const (
	// ActionCreated: a pull request was opened.
	ActionCreated Action = "created"
	// ActionUpdated: the branch was pushed and/or the open pull request's
	// title and body changed.
	ActionUpdated Action = "updated"
	// ActionUnchanged: the branch and the open pull request already held
	// this change; nothing was written.
	ActionUnchanged Action = "unchanged"
	// ActionClosed: a pull request proposing exactly this change was
	// closed without merge; nothing was written (see Options.Reopen).
	ActionClosed Action = "closed-not-reopened"
	// ActionDryRun: rendered only.
	ActionDryRun Action = "dry-run"
)

// Proposal is one branch and its pull request.
type Proposal struct {
	Branch   string          `json:"branch"`
	Base     string          `json:"base"`
	Title    string          `json:"title"`
	Message  string          `json:"message"`
	Body     string          `json:"body"`
	Policies []string        `json:"policies"`
	Changes  []images.Change `json:"changes"`
	Files    []string        `json:"files"`
	// Commit is the branch's head after the run; Pushed says whether this
	// run pushed it.
	Commit string `json:"commit,omitempty"`
	Pushed bool   `json:"pushed"`
	Action Action `json:"action"`
	// PullRequest is the pull request after the run; nil in dry-run.
	PullRequest *forge.PullRequest `json:"pullRequest,omitempty"`
}

// Result is what Run did.
type Result struct {
	Proposals []Proposal `json:"proposals"`
	// Warnings come from the image scan.
	Warnings []string `json:"warnings"`
}

// Run computes the image bumps of the checkout and proposes them.
// Proposals done before an error are in the result.
func Run(ctx context.Context, co *source.Checkout, f forge.Forge, opts Options) (*Result, error) {
	o := opts.withDefaults(co)
	tmpl, err := parseTemplates(o)
	if err != nil {
		return nil, err
	}
	if f == nil && !o.DryRun {
		return nil, errors.New("propose: no forge to open pull requests on")
	}

	// The bumps, computed without touching the working tree: each proposal
	// writes its own subset of files on its own branch.
	upd, scanErr := images.Update(ctx, co.Dir, o.Images)
	if upd == nil || upd.Plan == nil {
		return nil, fmt.Errorf("compute image updates: %w", scanErr)
	}
	if errors.Is(scanErr, atomicfile.ErrOutside) {
		// A bump of a file that leads out of the repository: nothing is
		// proposed, not even the other bumps, until the link is fixed.
		return &Result{Warnings: upd.Warnings}, scanErr
	}
	res := &Result{Warnings: upd.Warnings}
	var errs []error
	if scanErr != nil {
		// Registries that failed leave their images out; the others are
		// still proposed.
		errs = append(errs, scanErr)
	}
	for _, g := range groups(upd.Plan, o.Group) {
		p, err := o.proposeOne(ctx, co, f, tmpl, upd.Plan, g)
		if p != nil {
			res.Proposals = append(res.Proposals, *p)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

func (o Options) proposeOne(ctx context.Context, co *source.Checkout, f forge.Forge, tmpl *templates, plan *images.Plan, g group) (*Proposal, error) {
	data := newData(g, o.Base)
	branch, err := render(tmpl.branch, data)
	if err != nil {
		return nil, err
	}
	if err := validBranch(branch); err != nil {
		return nil, err
	}
	if branch == o.Base {
		return nil, fmt.Errorf("branch template gave the base branch %q: proposals never push to the base", branch)
	}
	data.Branch = branch
	message, err := render(tmpl.message, data)
	if err != nil {
		return nil, err
	}
	body, err := render(tmpl.body, data)
	if err != nil {
		return nil, err
	}
	p := &Proposal{
		Branch: branch, Base: o.Base, Message: message, Title: titleOf(message), Body: body,
		Policies: g.policies, Changes: g.changes, Files: data.Files,
	}
	if p.Title == "" {
		return nil, errors.New("message template gave an empty first line: the pull request needs a title")
	}
	if o.DryRun {
		p.Action = ActionDryRun
		return p, nil
	}
	// Only this group's changes: a per-policy branch must not carry the
	// bumps of the other policies.
	sub := *plan
	sub.Changes = g.changes
	edits, err := sub.Rewrite()
	if err != nil {
		return p, fmt.Errorf("propose %s: rewrite: %w", branch, err)
	}
	files := map[string][]byte{}
	for _, e := range edits {
		files[e.File] = e.After
	}
	return p, o.submit(ctx, co, f, p, files)
}

// submit pushes files as one commit on p.Branch and opens, updates or
// leaves the branch's pull request, filling p's Commit, Pushed, Action
// and PullRequest.
func (o Options) submit(ctx context.Context, co *source.Checkout, f forge.Forge, p *Proposal, files map[string][]byte) error {
	log := o.Logger.With("branch", p.Branch)
	fail := func(step string, err error) error {
		return fmt.Errorf("propose %s: %s: %w", p.Branch, step, err)
	}
	pr, err := f.FindByHead(ctx, p.Branch)
	if err != nil {
		return fail("find pull request", err)
	}
	if pr != nil && pr.State == forge.StateClosed && pr.Body == p.Body && !o.Reopen {
		log.Info("pull request for this change was closed without merge; not reopening", "pr", pr.URL)
		p.Action, p.PullRequest = ActionClosed, pr
		return nil
	}
	push, err := co.Propose(ctx, o.Base, p.Branch, source.Change{Files: files, Message: p.Message, Author: o.Author, Committer: o.Committer})
	if err != nil {
		return fail("push", err)
	}
	p.Commit, p.Pushed = push.Commit, push.Pushed
	log.Info("branch", "commit", push.Commit, "pushed", push.Pushed)

	spec := forge.Spec{Head: p.Branch, Base: o.Base, Title: p.Title, Body: p.Body, Labels: o.Labels, Reviewers: o.Reviewers, Assignees: o.Assignees, Draft: o.Draft}
	switch {
	case pr == nil || pr.State != forge.StateOpen:
		// None yet, merged (the base still lacks this change, so it is a new
		// one), closed with another change, or --reopen.
		created, err := f.Create(ctx, spec)
		if err != nil {
			return fail("create pull request", err)
		}
		p.Action, p.PullRequest = ActionCreated, created
	case pr.Title != p.Title || pr.Body != p.Body:
		updated, err := f.Update(ctx, pr.Number, spec)
		if err != nil {
			return fail("update pull request", err)
		}
		p.Action, p.PullRequest = ActionUpdated, updated
	default:
		p.Action, p.PullRequest = ActionUnchanged, pr
		if push.Pushed {
			// The base moved: same change, rebased.
			p.Action = ActionUpdated
		}
	}
	log.Info("pull request", "action", p.Action, "url", p.PullRequest.URL)
	return nil
}

// Edit is a change to Git that is not an image bump found by a scan: a
// release of a chosen tag, a lock, a policy. It goes through the same
// branch and pull request machinery, so it is reviewed like any bump.
type Edit struct {
	// Branch is the head branch; it must not be the base.
	Branch string
	// Message is the commit message; its first line is the title.
	Message string
	// Body is the pull request's description.
	Body string
	// Files maps repository-relative paths to their new content.
	Files map[string][]byte
}

// Submit proposes e as a pull request on the checkout's forge. Like Run
// it is idempotent: the same edit again writes nothing, and an edit whose
// pull request was closed without merge is not proposed again unless
// Options.Reopen. Options' image, template and group fields are unused.
func Submit(ctx context.Context, co *source.Checkout, f forge.Forge, e Edit, opts Options) (*Proposal, error) {
	o := opts.withDefaults(co)
	if err := validBranch(e.Branch); err != nil {
		return nil, err
	}
	if e.Branch == o.Base {
		return nil, fmt.Errorf("branch %q is the base branch: proposals never push to the base", e.Branch)
	}
	p := &Proposal{Branch: e.Branch, Base: o.Base, Message: e.Message, Title: titleOf(e.Message), Body: e.Body}
	if p.Title == "" {
		return nil, errors.New("the commit message has an empty first line: the pull request needs a title")
	}
	for f := range e.Files {
		p.Files = append(p.Files, f)
	}
	slices.Sort(p.Files)
	if o.DryRun {
		p.Action = ActionDryRun
		return p, nil
	}
	if f == nil {
		return nil, errors.New("propose: no forge to open pull requests on")
	}
	return p, o.submit(ctx, co, f, p, e.Files)
}
