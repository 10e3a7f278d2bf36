package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/images/policy"
	"github.com/tidegate/tidegate/internal/markdown"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/workload"
)

// EditFlags are shared by the commands that change a workload's
// declaration in Git (release, automate, lock, policy, ...): fluxctl's
// commands, except that the change is a pull request, not a push to main.
type EditFlags struct {
	Workload string `help:"The workload to change, as namespace:kind/name (e.g. shop:deployment/web); a manifest without a namespace matches any." required:"" short:"w" placeholder:"NS:KIND/NAME"`
	Propose  bool   `help:"Open (or update) a pull/merge request with the change instead of writing the working tree." env:"TIDEGATE_PROPOSE"`
	DryRun   bool   `help:"Print the change as a unified diff and write nothing. Exit 2 when there is a change." env:"TIDEGATE_DRY_RUN"`
	ForgeFlags
}

// editResult is what an edit command prints with --output json.
type editResult struct {
	Command  string            `json:"command"`
	Workload string            `json:"workload"`
	File     string            `json:"file"`
	Changes  []string          `json:"changes"`
	Warnings []string          `json:"warnings,omitempty"`
	Changed  bool              `json:"changed"`
	Diff     string            `json:"diff,omitempty"`
	Written  bool              `json:"written"`
	Proposal *propose.Proposal `json:"proposal,omitempty"`
}

// editFunc changes w and describes each change in a line; an error
// refuses the whole edit and nothing is written.
type editFunc func(w *workload.Workload) (changes, warnings []string, err error)

// runEdit finds the workload, applies edit, and writes, diffs or proposes
// the result. A refused or failed edit leaves Git untouched.
func runEdit(ctx context.Context, g *Globals, command string, src *SourceFlags, ef *EditFlags, branchPart string, edit editFunc) error {
	ref, err := workload.ParseRef(ef.Workload)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	co, err := src.Open(ctx)
	if err != nil {
		return err
	}
	defer co.Close()
	d := delivery{Propose: ef.Propose, DryRun: ef.DryRun}
	if err := d.refuseRemote(co, "change it through a pull request", "the change"); err != nil {
		return err
	}
	if err := checkPaths(co.Dir, src.Path); err != nil {
		return err
	}
	w, err := workload.Find(co.Dir, src.Path, ref)
	if err != nil {
		return err
	}
	if err := checkTarget(co.Dir, w.File); err != nil {
		return fmt.Errorf("%s %s: %w", command, ref, err)
	}
	before := bytes.Clone(w.Content())
	changes, warnings, err := edit(w)
	if err != nil {
		return fmt.Errorf("%s %s: %w (nothing was changed)", command, ref, err)
	}
	for _, msg := range warnings {
		g.Logger().Warn(msg, "workload", ref.String())
	}
	res := editResult{Command: command, Workload: ref.String(), File: w.File, Changes: nonNil(changes), Warnings: warnings}
	after := w.Content()
	res.Changed = !bytes.Equal(before, after)
	if res.Changed {
		res.Diff = (&images.Result{Files: []images.FileEdit{{File: w.File, Before: before, After: after}}}).Diff()
	}
	sum := Summary{Command: command, Source: co.URL, Revision: co.Revision, Changed: res.Changed, Counts: map[string]int{"changes": len(changes)}}

	if res.Changed {
		e := editEdits(command, ref, branchPart, w.File, after, changes)
		p, err := d.deliver(ctx, co, e, func() (forge.Forge, error) { return ef.newForge(g, co) }, ef.options(g, ef.DryRun))
		switch {
		case ef.Propose:
			res.Proposal = p
			if p != nil && p.PullRequest != nil {
				sum.PullRequestURL = p.PullRequest.URL
			}
			if err != nil {
				sum.Err = err
				g.summarize(sum)
				return err
			}
		case err != nil:
			return err
		case !ef.DryRun:
			res.Written = true
		}
	}
	if err := printEdit(g, res, ef.DryRun); err != nil {
		return err
	}
	g.summarize(sum)
	if res.Changed && ef.DryRun {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

// editEdits is the one file an edit command changes, and the pull
// request that proposes it.
func editEdits(command string, ref workload.Ref, branchPart, file string, after []byte, changes []string) edits {
	// The workload, the changes (a lock message, an image) and the file
	// name are the user's or the repository's text: one line each in the
	// commit message, escaped in the body.
	title := fmt.Sprintf("%s %s", strings.ToUpper(command[:1])+command[1:], markdown.Line(ref.String()))
	if len(changes) == 1 {
		title = fmt.Sprintf("%s: %s", title, markdown.Line(changes[0]))
	}
	msg := title + "\n\n"
	body := fmt.Sprintf("Proposed by `tidegate %s` for %s.\n\n", command, markdown.Code(ref.String()))
	for _, c := range changes {
		msg += "- " + markdown.Line(c) + "\n"
		body += "- " + markdown.Text(c) + "\n"
	}
	body += fmt.Sprintf("\nFile: %s.\n", markdown.Code(file))
	branch := "tidegate/" + command + "/" + propose.BranchSafe(ref.Namespace+"-"+ref.Kind+"-"+ref.Name+branchPart)
	return edits{Files: []fileEdit{{Path: file, Data: after}}, Branch: branch, Message: msg, Body: body}
}

func printEdit(g *Globals, r editResult, dryRun bool) error {
	out := g.stdout()
	if g.Output == "json" {
		return printJSON(out, r)
	}
	if !r.Changed {
		_, err := fmt.Fprintf(out, "%s: nothing to change in %s\n", r.Workload, r.File)
		return err
	}
	for _, c := range r.Changes {
		fmt.Fprintf(out, "%s: %s\n", r.Workload, c)
	}
	switch {
	case r.Proposal != nil:
		p := r.Proposal
		fmt.Fprintf(out, "branch %s: %s", p.Branch, p.Action)
		if p.PullRequest != nil {
			fmt.Fprintf(out, " %s", p.PullRequest.URL)
		}
		fmt.Fprintln(out)
		if dryRun {
			_, err := fmt.Fprintf(out, "\n%s\n%s", p.Message, r.Diff)
			return err
		}
	case dryRun:
		_, err := io.WriteString(out, r.Diff)
		return err
	case r.Written:
		_, err := fmt.Fprintf(out, "wrote %s\n", r.File)
		return err
	}
	return nil
}

// ReleaseCmd sets a container's image: fluxctl release, and a rollback is
// the release of an older tag.
type ReleaseCmd struct {
	SourceFlags
	EditFlags
	Container string `help:"Container whose image to set; may be left out when the workload has one." short:"c" placeholder:"NAME"`
	Image     string `help:"The image to run, e.g. ghcr.io/acme/web:1.4.2 (or just the tag, :1.4.2)." required:"" short:"i" placeholder:"IMAGE"`
	Force     bool   `help:"Release although the workload is locked, the tag is outside its tag filter, or the repository differs."`
}

// Run releases the image.
func (c *ReleaseCmd) Run(ctx context.Context, g *Globals) error {
	return runEdit(ctx, g, "release", &c.SourceFlags, &c.EditFlags, "-"+c.Container, func(w *workload.Workload) ([]string, []string, error) {
		ct, err := w.Container(c.Container)
		if err != nil {
			return nil, nil, err
		}
		image := c.Image
		current, _, _ := images.SplitImage(ct.Image)
		if strings.HasPrefix(image, ":") {
			image = current + image
		}
		repo, tag, _ := images.SplitImage(image)
		if tag == "" {
			// A digest alone is checked against the filter as "latest".
			tag = "latest"
		}
		var warnings []string
		if locked, _ := w.Annotation(workload.Locked); locked == "true" {
			msg, _ := w.Annotation(workload.LockedMsg)
			if !c.Force {
				return nil, nil, fmt.Errorf("the workload is locked (%s); unlock it first, or pass --force", dash(msg))
			}
			warnings = append(warnings, "releasing a locked workload (--force)")
		}
		if repo != current && !c.Force {
			return nil, nil, fmt.Errorf("container %s runs %s, not %s; pass --force to switch repositories", ct.Name, current, repo)
		}
		if pat, ok := w.Annotation(workload.TagPrefix + ct.Name); ok {
			p, err := policy.ParsePattern(pat)
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: annotation %s%s: %w", w.File, w.Line, workload.TagPrefix, ct.Name, err)
			}
			if !p.Matches(tag) {
				if !c.Force {
					return nil, nil, fmt.Errorf("tag %q is outside the container's filter %s; pass --force to release it anyway", tag, pat)
				}
				warnings = append(warnings, fmt.Sprintf("tag %q is outside the filter %s (--force)", tag, pat))
			}
		}
		if strings.Contains(ct.Marker, "$imagepolicy") {
			warnings = append(warnings, "the image has an $imagepolicy marker: image automation may move it again; lock the workload to keep this release")
		}
		changed, err := w.SetImage(ct.Name, image)
		if err != nil || !changed {
			return nil, warnings, err
		}
		return []string{fmt.Sprintf("container %s: %s → %s", ct.Name, ct.Image, image)}, warnings, nil
	})
}

// annotationEdit is the body of automate, deautomate, lock and unlock:
// set (value non-nil) or remove annotations.
func annotationEdit(set map[string]string, remove ...string) editFunc {
	return func(w *workload.Workload) ([]string, []string, error) {
		var changes []string
		for _, k := range slices.Sorted(maps.Keys(set)) {
			changed, err := w.SetAnnotation(k, set[k])
			if err != nil {
				return nil, nil, err
			}
			if changed {
				changes = append(changes, fmt.Sprintf("%s%s: %q", workload.Prefix, k, set[k]))
			}
		}
		for _, k := range remove {
			changed, err := w.RemoveAnnotation(k)
			if err != nil {
				return nil, nil, err
			}
			if changed {
				changes = append(changes, fmt.Sprintf("removed %s%s", workload.Prefix, k))
			}
		}
		return changes, nil, nil
	}
}

// AutomateCmd turns on image automation for a workload (Flux v1
// fluxcd.io/automated).
type AutomateCmd struct {
	SourceFlags
	EditFlags
}

// Run automates the workload.
func (c *AutomateCmd) Run(ctx context.Context, g *Globals) error {
	return runEdit(ctx, g, "automate", &c.SourceFlags, &c.EditFlags, "", annotationEdit(map[string]string{workload.Automated: "true"}))
}

// DeautomateCmd turns image automation off.
type DeautomateCmd struct {
	SourceFlags
	EditFlags
}

// Run deautomates the workload.
func (c *DeautomateCmd) Run(ctx context.Context, g *Globals) error {
	return runEdit(ctx, g, "deautomate", &c.SourceFlags, &c.EditFlags, "", annotationEdit(nil, workload.Automated))
}

// LockCmd freezes a workload's images: automation and releases leave it
// alone until it is unlocked.
type LockCmd struct {
	SourceFlags
	EditFlags
	Message string `help:"Why it is locked (annotation fluxcd.io/locked_msg), shown to whoever tries to release it." short:"m" placeholder:"TEXT"`
}

// Run locks the workload.
func (c *LockCmd) Run(ctx context.Context, g *Globals) error {
	set := map[string]string{workload.Locked: "true"}
	if c.Message != "" {
		set[workload.LockedMsg] = c.Message
	}
	return runEdit(ctx, g, "lock", &c.SourceFlags, &c.EditFlags, "", annotationEdit(set))
}

// UnlockCmd lifts a lock.
type UnlockCmd struct {
	SourceFlags
	EditFlags
}

// Run unlocks the workload.
func (c *UnlockCmd) Run(ctx context.Context, g *Globals) error {
	return runEdit(ctx, g, "unlock", &c.SourceFlags, &c.EditFlags, "", annotationEdit(nil, workload.Locked, workload.LockedMsg))
}

// PolicyCmd sets the tag filters of a workload's containers
// (fluxcd.io/tag.<container>).
type PolicyCmd struct {
	SourceFlags
	EditFlags
	Tag    []string `help:"CONTAINER=PATTERN: the tags the container may move to: semver:~1.2, glob:1.*, regex:^v1\\.; '*' or 'glob:*' for any. Repeatable." placeholder:"C=PATTERN"`
	TagAll string   `help:"PATTERN for every container of the workload." placeholder:"PATTERN"`
	Untag  []string `help:"CONTAINER whose tag filter to remove. Repeatable." placeholder:"C"`
}

// Run sets the filters.
func (c *PolicyCmd) Run(ctx context.Context, g *Globals) error {
	if len(c.Tag) == 0 && c.TagAll == "" && len(c.Untag) == 0 {
		return &ExitError{Code: ExitUsage, Err: errors.New("policy needs --tag CONTAINER=PATTERN, --tag-all PATTERN or --untag CONTAINER")}
	}
	validPattern := func(pat string) error {
		if _, err := policy.ParsePattern(normalizePattern(pat)); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("tag pattern %q: %w", pat, err)}
		}
		return nil
	}
	if c.TagAll != "" {
		if err := validPattern(c.TagAll); err != nil {
			return err
		}
	}
	tags := map[string]string{}
	for _, t := range c.Tag {
		name, pat, ok := strings.Cut(t, "=")
		if !ok || name == "" || pat == "" {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--tag %q is not CONTAINER=PATTERN (for example app=semver:~1.2)", t)}
		}
		if err := validPattern(pat); err != nil {
			return err
		}
		tags[name] = pat
	}
	return runEdit(ctx, g, "policy", &c.SourceFlags, &c.EditFlags, "", func(w *workload.Workload) ([]string, []string, error) {
		set := map[string]string{}
		names := map[string]bool{}
		for _, ct := range w.Containers() {
			names[ct.Name] = true
			if c.TagAll != "" {
				set[workload.TagPrefix+ct.Name] = normalizePattern(c.TagAll)
			}
		}
		for name, pat := range tags {
			if !names[name] {
				return nil, nil, fmt.Errorf("--tag %s: the workload has no container %q; it has %s", name, name, strings.Join(w.Names(), ", "))
			}
			set[workload.TagPrefix+name] = normalizePattern(pat)
		}
		var remove []string
		for _, name := range c.Untag {
			remove = append(remove, workload.TagPrefix+name)
		}
		return annotationEdit(set, remove...)(w)
	})
}

// normalizePattern writes a bare "*" as fluxctl did, glob:*.
func normalizePattern(p string) string {
	if p == "*" {
		return "glob:*"
	}
	return p
}
