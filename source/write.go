package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// ErrProtectedBranch is returned when asked to push to the base or the
// default branch: tidegate proposes changes, it never pushes to main.
var ErrProtectedBranch = errors.New("refusing to push to the base or default branch")

// Signature is a commit author or committer.
type Signature struct{ Name, Email string }

// Change is the commit to propose.
type Change struct {
	// Files maps repository-relative, slash-separated paths to their new
	// content.
	Files   map[string][]byte
	Message string
	Author  Signature
	// Committer defaults to Author.
	Committer Signature
}

// PushResult says what Propose did.
type PushResult struct {
	Branch string
	// Commit is the branch's tip after the call.
	Commit string
	// Pushed is false when the branch already held exactly this change
	// on top of the current base: nothing was written.
	Pushed bool
	// Created is true when the branch did not exist before.
	Created bool
}

// RemoteBranch returns the tip of branch on the remote, "" when absent.
func (c *Checkout) RemoteBranch(ctx context.Context, branch string) (string, error) {
	if c.remote == "" {
		return "", errors.New("the source has no remote to push to (a local directory needs an origin remote)")
	}
	auth, err := transportAuth(c.remote, c.auth, c.net)
	if err != nil {
		return "", err
	}
	ctx, cancel := c.net.bound(ctx, "listing the branches")
	defer cancel()
	rem := git.NewRemote(nil, &config.RemoteConfig{Name: "origin", URLs: []string{c.remote}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", explainRemote(interrupted(ctx, err), Redact(c.remote), c.remote, c.auth)
	}
	for _, r := range refs {
		if r.Name() == plumbing.NewBranchReferenceName(branch) {
			return r.Hash().String(), nil
		}
	}
	return "", nil
}

// Propose commits ch on branch, created from the remote's base, and
// force-pushes it. It does nothing when the remote branch already holds
// the same tree on top of the current base, so a job that runs every few
// minutes writes only when something changed.
func (c *Checkout) Propose(ctx context.Context, base, branch string, ch Change) (*PushResult, error) {
	if c.remote == "" {
		return nil, errors.New("the source has no remote to push to (a local directory needs an origin remote)")
	}
	if branch == "" || branch == base {
		return nil, fmt.Errorf("%w: branch %q", ErrProtectedBranch, branch)
	}
	safe := Redact(c.remote)
	auth, err := transportAuth(c.remote, c.auth, c.net)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.net.bound(ctx, "proposing "+branch)
	defer cancel()
	dir, err := os.MkdirTemp("", "tidegate-propose-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// A fresh clone of the base: the user's working tree is never touched.
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
		URL: c.remote, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(base), SingleBranch: true, Depth: 1, Tags: git.NoTags,
	})
	if err != nil {
		return nil, explainRemote(fmt.Errorf("clone base branch %s: %w", base, interrupted(ctx, err)), safe, c.remote, c.auth)
	}
	if def, err := defaultBranch(ctx, c.remote, c.auth, c.net); err == nil && def == branch {
		return nil, fmt.Errorf("%w: %q is the repository's default branch", ErrProtectedBranch, branch)
	}
	baseRef, err := repo.Head()
	if err != nil {
		return nil, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	// Every file is checked against the clone before the first write: a
	// path that leaves the repository, or a symbolic link of the base
	// branch that leads out of it, fails the proposal with nothing
	// written or pushed.
	targets := map[string]string{}
	var escapes []error
	for name := range ch.Files {
		t, err := atomicfile.Resolve(dir, name)
		if err != nil {
			escapes = append(escapes, err)
		}
		targets[name] = t
	}
	if err := errors.Join(escapes...); err != nil {
		return nil, fmt.Errorf("nothing was pushed: %w", err)
	}
	for name, content := range ch.Files {
		if err := atomicfile.WriteIn(dir, targets[name], content, 0o644); err != nil {
			return nil, err
		}
		// A link inside the repository stays; its target is the change.
		if _, err := wt.Add(targets[name]); err != nil {
			return nil, err
		}
	}
	committer := ch.Committer
	if committer.Name == "" {
		committer = ch.Author
	}
	now := time.Now()
	hash, err := wt.Commit(ch.Message, &git.CommitOptions{
		Author:    &object.Signature{Name: ch.Author.Name, Email: ch.Author.Email, When: now},
		Committer: &object.Signature{Name: committer.Name, Email: committer.Email, When: now},
	})
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return nil, err
	}
	res := &PushResult{Branch: branch, Commit: hash.String()}

	// Compare with what the remote branch holds now.
	tip, err := c.RemoteBranch(ctx, branch)
	if err != nil {
		return nil, err
	}
	res.Created = tip == ""
	if tip != "" {
		err := repo.FetchContext(ctx, &git.FetchOptions{
			Auth: auth, Depth: 2, Tags: git.NoTags,
			RefSpecs: []config.RefSpec{config.RefSpec("+refs/heads/" + branch + ":refs/remotes/origin/" + branch)},
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, explainRemote(fmt.Errorf("fetch %s: %w", branch, interrupted(ctx, err)), safe, c.remote, c.auth)
		}
		if old, err := repo.CommitObject(plumbing.NewHash(tip)); err == nil &&
			old.TreeHash == commit.TreeHash && len(old.ParentHashes) == 1 && old.ParentHashes[0] == baseRef.Hash() {
			res.Commit = tip
			return res, nil
		}
	}
	if commit.TreeHash == mustTree(repo, baseRef.Hash()) {
		return nil, errors.New("the change is empty: the base branch already has these files")
	}
	err = repo.PushContext(ctx, &git.PushOptions{
		Auth:     auth,
		RefSpecs: []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:refs/heads/%s", hash, branch))},
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, explainRemote(fmt.Errorf("push %s: %w", branch, interrupted(ctx, err)), safe, c.remote, c.auth)
	}
	res.Pushed = true
	return res, nil
}

func mustTree(repo *git.Repository, h plumbing.Hash) plumbing.Hash {
	c, err := repo.CommitObject(h)
	if err != nil {
		return plumbing.ZeroHash
	}
	return c.TreeHash
}

// defaultBranch asks the remote which branch HEAD points at.
func defaultBranch(ctx context.Context, remote string, a Auth, n network) (string, error) {
	auth, err := transportAuth(remote, a, n)
	if err != nil {
		return "", err
	}
	rem := git.NewRemote(nil, &config.RemoteConfig{Name: "origin", URLs: []string{remote}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", err
	}
	for _, r := range refs {
		if r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference {
			return r.Target().Short(), nil
		}
	}
	return "", errors.New("the remote does not say its default branch")
}
