package forge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/forge/forgetest"
)

const (
	token    = "tok-full-access-0123456789"
	readOnly = "tok-read-only-0123456789"
)

// fake is what the loop needs from forgetest's GitHub and GitLab.
type fake interface {
	Writes() int
	PRs() []forgetest.PR
	SetState(number int, state string)
	SetRateLimited(bool)
	AddUser(string)
}

type target struct {
	name  string
	fake  fake
	close func()
	cfg   func(tok string) forge.Config
}

func targets(t *testing.T) []target {
	gh := forgetest.NewGitHub("acme", "fleet", token, readOnly)
	gh.PerPage = 1 // every list spans pages
	gl := forgetest.NewGitLab("acme/platform/fleet", token, readOnly)
	gl.PerPage = 1
	t.Cleanup(gh.Close)
	t.Cleanup(gl.Close)
	return []target{
		{"github", gh, gh.Close, func(tok string) forge.Config {
			return forge.Config{Provider: forge.GitHub, RemoteURL: gh.RemoteURL(), APIURL: gh.URL, Token: tok}
		}},
		{"gitlab", gl, gl.Close, func(tok string) forge.Config {
			return forge.Config{RemoteURL: gl.RemoteURL(), APIURL: gl.URL, Token: tok, Provider: forge.GitLab}
		}},
	}
}

func TestLoopAgainstFakes(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			tg.fake.AddUser("alice")
			tg.fake.AddUser("bob")
			f, err := forge.New(tg.cfg(token))
			if err != nil {
				t.Fatal(err)
			}
			head := "tidegate/images/abc123"
			if pr, err := f.FindByHead(ctx, head); err != nil || pr != nil {
				t.Fatalf("FindByHead on an empty repository = %+v, %v; want nil, nil", pr, err)
			}
			// Another branch's pull request must not be found.
			if _, err := f.Create(ctx, forge.Spec{Head: "other", Base: "main", Title: "other"}); err != nil {
				t.Fatal(err)
			}
			spec := forge.Spec{Head: head, Base: "main", Title: "Update images", Body: "| a | b |", Labels: []string{"images"}, Assignees: []string{"alice"}, Reviewers: []string{"bob"}}
			created, err := f.Create(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			want := &forge.PullRequest{Number: 2, State: forge.StateOpen, Head: head, Base: "main", Title: "Update images", Body: "| a | b |"}
			if diff := cmp.Diff(want, created, cmpopts.IgnoreFields(forge.PullRequest{}, "URL")); diff != "" {
				t.Errorf("Create (-want +got):\n%s", diff)
			}
			if !strings.Contains(created.URL, "2") {
				t.Errorf("Create URL = %q, want the web URL of #2", created.URL)
			}
			got, err := f.FindByHead(ctx, head)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(created, got); diff != "" {
				t.Errorf("FindByHead after Create (-want +got):\n%s", diff)
			}
			// A second Create for the same branch is refused by the forge.
			_, err = f.Create(ctx, spec)
			if !errors.Is(err, forge.ErrInvalid) {
				t.Errorf("duplicate Create error = %v, want ErrInvalid", err)
			}
			spec.Title, spec.Body = "Update images again", "new body"
			updated, err := f.Update(ctx, 2, spec)
			if err != nil {
				t.Fatal(err)
			}
			if updated.Title != spec.Title || updated.Body != spec.Body || updated.Number != 2 {
				t.Errorf("Update = %+v", updated)
			}
			prs := tg.fake.PRs()
			if diff := cmp.Diff([]string{"images"}, prs[1].Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"alice"}, prs[1].Assignees); diff != "" {
				t.Errorf("assignees (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"bob"}, prs[1].Reviewers); diff != "" {
				t.Errorf("reviewers (-want +got):\n%s", diff)
			}

			tg.fake.SetState(2, "closed")
			got, err = f.FindByHead(ctx, head)
			if err != nil || got == nil || got.State != forge.StateClosed {
				t.Fatalf("FindByHead after close = %+v, %v; want the closed #2", got, err)
			}
			again, err := f.Create(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			tg.fake.SetState(again.Number, "merged")
			writes := tg.fake.Writes()
			got, err = f.FindByHead(ctx, head)
			if err != nil || got == nil || got.Number != again.Number || got.State != forge.StateMerged {
				t.Fatalf("FindByHead = %+v, %v; want the merged #%d, the most recent", got, err, again.Number)
			}
			if w := tg.fake.Writes(); w != writes {
				t.Errorf("FindByHead wrote %d times", w-writes)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				cfg     func() forge.Config
				write   bool
				limited bool
				want    error
				status  int
				hint    string
			}{
				{"bad token", func() forge.Config { return tg.cfg("wrong-token-abcdef") }, false, false, forge.ErrUnauthorized, http.StatusUnauthorized, "--forge-token"},
				{"read-only token", func() forge.Config { return tg.cfg(readOnly) }, true, false, forge.ErrForbidden, http.StatusForbidden, "lacks permission"},
				{"unknown repository", func() forge.Config {
					c := tg.cfg(token)
					c.RemoteURL = strings.Replace(c.RemoteURL, "fleet", "nope", 1)
					return c
				}, false, false, forge.ErrNotFound, http.StatusNotFound, "does not exist"},
				{"rate limit", func() forge.Config { return tg.cfg(token) }, false, true, forge.ErrRateLimited, 0, "rate limit"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tg.fake.SetRateLimited(tc.limited)
					defer tg.fake.SetRateLimited(false)
					cfg := tc.cfg()
					f, err := forge.New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					if tc.write {
						_, err = f.Create(ctx, forge.Spec{Head: "h", Base: "main", Title: "t"})
					} else {
						_, err = f.FindByHead(ctx, "h")
					}
					if !errors.Is(err, tc.want) {
						t.Fatalf("error = %v, want %v", err, tc.want)
					}
					var fe *forge.Error
					if !errors.As(err, &fe) {
						t.Fatalf("error %T is not a *forge.Error", err)
					}
					if tc.status != 0 && fe.Status != tc.status {
						t.Errorf("status = %d, want %d", fe.Status, tc.status)
					}
					msg := err.Error()
					if !strings.Contains(msg, tc.hint) {
						t.Errorf("error %q does not say %q", msg, tc.hint)
					}
					if strings.Contains(msg, cfg.Token) {
						t.Errorf("error %q contains the token", msg)
					}
				})
			}
		})
	}
}
