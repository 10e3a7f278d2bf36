package forge_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/internal/testenv/gitea"
)

func gitCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestGiteaReal runs the forge against a real Gitea server.
func TestGiteaReal(t *testing.T) {
	ctx := context.Background()
	srv := gitea.Start(t)
	clone := srv.CreateRepo(t, "fleet")
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(dir+"/a.txt", []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "add", ".")
	gitCmd(t, dir, "commit", "-q", "-m", "a")
	gitCmd(t, dir, "push", "-q", srv.AuthURL(clone), "main")
	gitCmd(t, dir, "checkout", "-q", "-b", "tidegate/images/x")
	if err := os.WriteFile(dir+"/a.txt", []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "commit", "-q", "-am", "b")
	gitCmd(t, dir, "push", "-q", srv.AuthURL(clone), "tidegate/images/x")
	srv.WaitPushed(t, "fleet", "tidegate/images/x")
	// A second user to request a review from: Gitea refuses the author.
	srv.CreateUser(t, "rev", "fleet")

	f, err := forge.New(forge.Config{Provider: forge.Gitea, RemoteURL: clone, Token: srv.Token})
	if err != nil {
		t.Fatal(err)
	}
	head := "tidegate/images/x"
	if pr, err := f.FindByHead(ctx, head); err != nil || pr != nil {
		t.Fatalf("FindByHead before Create = %+v, %v", pr, err)
	}
	spec := forge.Spec{Head: head, Base: "main", Title: "Update images", Body: "table", Labels: []string{"images", "automated"}, Assignees: []string{srv.User}, Reviewers: []string{"rev"}, Draft: true}
	created, err := f.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := &forge.PullRequest{Number: 1, State: forge.StateOpen, Head: head, Base: "main", Title: "Update images", Body: "table"}
	if diff := cmp.Diff(want, created, cmpopts.IgnoreFields(forge.PullRequest{}, "URL")); diff != "" {
		t.Errorf("Create (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(created.URL, srv.URL+"/"+srv.User+"/fleet/pulls/1") {
		t.Errorf("URL = %q", created.URL)
	}
	var raw struct {
		Title  string `json:"title"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
		Assignees []struct {
			Login string `json:"login"`
		} `json:"assignees"`
		RequestedReviewers []struct {
			Login string `json:"login"`
		} `json:"requested_reviewers"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/pulls/1", nil, &raw); err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, l := range raw.Labels {
		labels = append(labels, l.Name)
	}
	if raw.Title != "WIP: Update images" || len(raw.Assignees) != 1 || len(raw.RequestedReviewers) != 1 || raw.RequestedReviewers[0].Login != "rev" {
		t.Errorf("pull request on the server = %+v", raw)
	}
	if diff := cmp.Diff([]string{"automated", "images"}, labels, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if _, err := f.Create(ctx, spec); !errors.Is(err, forge.ErrInvalid) {
		t.Errorf("duplicate Create = %v, want ErrInvalid", err)
	}
	spec.Title, spec.Body = "Update images 2", "table 2"
	updated, err := f.Update(ctx, 1, spec)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Title != "Update images 2" || updated.Body != "table 2" {
		t.Errorf("Update = %+v", updated)
	}
	if err := srv.Do(http.MethodPatch, "/api/v1/repos/"+srv.User+"/fleet/pulls/1", map[string]string{"state": "closed"}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := f.FindByHead(ctx, head)
	if err != nil || got == nil || got.State != forge.StateClosed || got.Number != 1 {
		t.Fatalf("FindByHead after close = %+v, %v", got, err)
	}

	t.Run("errors", func(t *testing.T) {
		readOnly := srv.NewToken(t, "read-only", "read:repository", "read:issue")
		for _, tc := range []struct {
			name  string
			cfg   forge.Config
			write bool
			want  error
		}{
			{"bad token", forge.Config{Provider: forge.Gitea, RemoteURL: clone, Token: "0123456789abcdef0123456789abcdef01234567"}, false, forge.ErrUnauthorized},
			{"unknown repository", forge.Config{Provider: forge.Gitea, RemoteURL: strings.Replace(clone, "fleet", "nope", 1), Token: srv.Token}, false, forge.ErrNotFound},
			{"read-only token", forge.Config{Provider: forge.Gitea, RemoteURL: clone, Token: readOnly}, true, forge.ErrForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f, err := forge.New(tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				if tc.write {
					_, err = f.Create(ctx, forge.Spec{Head: head, Base: "main", Title: "x"})
				} else {
					_, err = f.FindByHead(ctx, head)
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), tc.cfg.Token) {
					t.Errorf("error contains the token: %v", err)
				}
			})
		}
	})
}

// TestGiteaDeployKey installs a deploy key on a real Gitea.
func TestGiteaDeployKey(t *testing.T) {
	ctx := context.Background()
	srv := gitea.Start(t)
	clone := srv.CreateRepo(t, "keys")
	f, err := forge.New(forge.Config{Provider: forge.Gitea, RemoteURL: clone, Token: srv.Token})
	if err != nil {
		t.Fatal(err)
	}
	adder, ok := f.(forge.DeployKeyAdder)
	if !ok {
		t.Fatalf("%T does not add deploy keys", f)
	}
	key := newPublicKey(t, "tidegate@"+srv.User+"/keys")
	for i := range 2 {
		if err := adder.AddDeployKey(ctx, "tidegate", key, true); err != nil {
			t.Fatalf("AddDeployKey #%d: %v", i+1, err)
		}
	}
	var keys []struct {
		Title    string `json:"title"`
		Key      string `json:"key"`
		ReadOnly bool   `json:"read_only"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/keys/keys", nil, &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Title != "tidegate" || !keys[0].ReadOnly || !strings.HasPrefix(keys[0].Key, strings.Join(strings.Fields(key)[:2], " ")) {
		t.Fatalf("deploy keys on the server = %+v, want one read-only key", keys)
	}

	readOnly := srv.NewToken(t, "read-only-keys", "read:repository")
	f, err = forge.New(forge.Config{Provider: forge.Gitea, RemoteURL: clone, Token: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	err = f.(forge.DeployKeyAdder).AddDeployKey(ctx, "other", newPublicKey(t, "other"), true)
	if !errors.Is(err, forge.ErrForbidden) || !strings.Contains(err.Error(), "deploy keys needs") {
		t.Errorf("read-only token: %v, want ErrForbidden with the permission it needs", err)
	}
}
