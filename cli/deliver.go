package cli

import (
	"context"
	"fmt"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/internal/atomicfile"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/source"
)

// delivery is how a command that changes Git (edit, images update,
// init) lands its edits: in place in the working tree, nowhere with
// --dry-run (the command prints its own preview), or as a branch and a
// pull request with --propose (which --dry-run turns into a preview of
// the branch and message).
type delivery struct {
	Propose bool
	DryRun  bool
}

// fileEdit is one file of a delivery: a repository-relative path and
// its new content.
type fileEdit struct {
	Path string
	Data []byte
}

// edits are what a command delivers: the files, in the order they are
// written, and what the pull request says about them. Message and Body
// are the caller's, already escaped for Git and Markdown.
type edits struct {
	Files   []fileEdit
	Branch  string
	Message string
	Body    string
}

// refuseRemote refuses to write a temporary clone in place: the edit
// would be lost with it. action says what --propose does for the
// command, preview what --dry-run shows.
func (d delivery) refuseRemote(co *source.Checkout, action, preview string) error {
	if co.Temporary() && !d.Propose && !d.DryRun {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s is a remote repository: pass --propose to %s, or --dry-run to see %s", co.URL, action, preview)}
	}
	return nil
}

// deliver lands e in co. newForge is asked only for a proposal that is
// not a dry run, so a preview needs no token. The proposal is returned
// also with its error, for the caller to print what was done.
func (d delivery) deliver(ctx context.Context, co *source.Checkout, e edits, newForge func() (forge.Forge, error), opts propose.Options) (*propose.Proposal, error) {
	if len(e.Files) == 0 {
		return nil, nil
	}
	switch {
	case d.Propose:
		var f forge.Forge
		if !d.DryRun {
			var err error
			if f, err = newForge(); err != nil {
				return nil, err
			}
		}
		files := make(map[string][]byte, len(e.Files))
		for _, fe := range e.Files {
			files[fe.Path] = fe.Data
		}
		opts.DryRun = d.DryRun
		return propose.Submit(ctx, co, f, propose.Edit{Branch: e.Branch, Message: e.Message, Body: e.Body, Files: files}, opts)
	case d.DryRun:
		return nil, nil
	default:
		return nil, writeFiles(co.Dir, e.Files)
	}
}

// writeFiles replaces or creates the files of the working tree dir,
// keeping an existing file's mode. Every target is resolved before the
// first write, so that one leading out of the repository fails the run
// with nothing written rather than half of it.
func writeFiles(dir string, files []fileEdit) error {
	for _, f := range files {
		if err := checkTarget(dir, f.Path); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	for _, f := range files {
		if err := atomicfile.WriteIn(dir, f.Path, f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return nil
}
