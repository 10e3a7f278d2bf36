package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/testenv/gitea"
	"github.com/tidegate/tidegate/source"
)

func TestProposeForgeToken(t *testing.T) {
	env := map[string]string{"GITHUB_TOKEN": "gh-token", "GITLAB_TOKEN": "gl-token"}
	for _, tc := range []struct {
		name, url, forge, flag string
		env                    map[string]string
		err                    string
	}{
		{name: "github env", url: "https://github.com/acme/fleet.git", env: env},
		{name: "gitlab env", url: "git@gitlab.com:acme/platform/fleet.git", env: env},
		{name: "flag wins", url: "https://github.com/acme/fleet.git", flag: "x"},
		{name: "gitea needs a token", url: "https://codeberg.org/acme/fleet.git", env: env, err: "--forge-token"},
		{name: "no token", url: "https://github.com/acme/fleet.git", err: "TIDEGATE_FORGE_TOKEN"},
		{name: "undetectable", url: "https://git.example.com/acme/fleet.git", flag: "x", err: "--forge"},
		{name: "override", url: "https://git.example.com/acme/fleet.git", forge: "gitea", flag: "x"},
		{name: "bad provider", url: "https://github.com/acme/fleet.git", forge: "svn", flag: "x", err: "unknown forge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Globals{Getenv: func(k string) string { return tc.env[k] }}
			f := &ForgeFlags{Forge: tc.forge, ForgeToken: tc.flag}
			_, err := f.newForge(g, &source.Checkout{URL: tc.url})
			if tc.err == "" && err != nil {
				t.Fatalf("forge() = %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("forge() = %v, want an error mentioning %q", err, tc.err)
			}
		})
	}
}

func cliGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestImagesUpdatePropose drives `images update --propose` against a real
// Gitea: dry run, first run, idempotent second run.
func TestImagesUpdatePropose(t *testing.T) {
	srv := gitea.Start(t)
	reg := registrytest.New(t, registrytest.WithoutRequestLog())
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Time{}, "1.0.0")
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Time{}, "1.4.0")
	tree := imagesRepo(t, reg.Host())
	clone := srv.CreateRepo(t, "fleet")
	cliGit(t, tree, "init", "-q", "-b", "main")
	cliGit(t, tree, "add", ".")
	cliGit(t, tree, "commit", "-q", "-m", "seed")
	cliGit(t, tree, "push", "-q", srv.AuthURL(clone), "main")
	srv.WaitPushed(t, "fleet", "main")
	msg := filepath.Join(t.TempDir(), "message.tmpl")
	if err := os.WriteFile(msg, []byte("chore: bump {{len .Bumps}} image(s)\n\n{{range .Bumps}}{{.Image}} {{.NewTag}}\n{{end}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := func(dryRun bool) *ImagesUpdateCmd {
		c := &ImagesUpdateCmd{DryRun: dryRun}
		c.Source, c.Ref, c.Path = clone, "main", []string{"."}
		c.GitUsername, c.GitToken = srv.User, srv.Token
		c.Concurrency, c.InsecureRegistry = 2, []string{reg.Host()}
		c.DockerConfig = t.TempDir()
		c.ProposeFlags = ProposeFlags{Propose: true, BranchTemplate: "bump/{{.ID}}", MessageTemplate: msg,
			ForgeFlags: ForgeFlags{Forge: "gitea", ForgeToken: srv.Token, AuthorName: "bot", AuthorEmail: "bot@example.com", Label: []string{"deps"}}}
		return c
	}
	run := func(c *ImagesUpdateCmd) (string, error) {
		var out bytes.Buffer
		g := &Globals{Stdout: &out, Stderr: &bytes.Buffer{}, LogLevel: "error", Output: "text", Getenv: func(string) string { return "" }}
		err := c.Run(context.Background(), g)
		return out.String(), err
	}

	out, err := run(cmd(true))
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != ExitChanges {
		t.Fatalf("dry run error = %v, want exit %d", err, ExitChanges)
	}
	for _, want := range []string{"branch: bump/", "chore: bump 1 image(s)", "`1.0.0` → `1.4.0`"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if out, err = run(cmd(false)); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "created") || !strings.Contains(out, srv.URL+"/"+srv.User+"/fleet/pulls/1") {
		t.Errorf("first run output:\n%s", out)
	}
	var pr struct {
		Title  string `json:"title"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/pulls/1", nil, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Title != "chore: bump 1 image(s)" || len(pr.Labels) != 1 || pr.Labels[0].Name != "deps" {
		t.Errorf("pull request = %+v", pr)
	}
	if out, err = run(cmd(false)); err != nil || !strings.Contains(out, "unchanged") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}
