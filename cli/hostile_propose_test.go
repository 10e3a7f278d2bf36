package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/markdown"
	"github.com/tidegate/tidegate/internal/testenv/gitea"
)

// cliHostileTags sort above 1.4.0 as versions or strings and are no tags
// by the reference grammar.
var cliHostileTags = []string{
	"1.9.0+evil",
	"1.8.0\n| injected | row |",
	"1.7.0\x1b]8;;https:evil.example\x1b\\",
	"1.6.0`<img src=x onerror=alert(1)>`",
	"1.5.0-" + strings.Repeat("9", 5000),
}

// TestHostileRegistryPropose: a registry lists tags no image can have, and
// the repository's file name holds a pipe, a backtick, HTML and a
// mention. The pull request proposes the one valid bump; its title,
// body and commit message hold no hostile tag, and every repository
// string in the body is escaped (each table row keeps its three cells).
// Then a repository whose manifests link out of it: release --propose and
// images update --propose refuse, and no branch or pull request appears.
func TestHostileRegistryPropose(t *testing.T) {
	ctx := context.Background()
	srv := gitea.Start(t)
	reg := registrytest.New(t, registrytest.WithoutRequestLog())
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Time{}, "1.0.0")
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Time{}, "1.4.0")
	for _, tag := range cliHostileTags {
		reg.TagRaw(t, "team/app", "1.4.0", tag)
	}
	reg.ListExtraTags("team/app", "1.9.9@sha256:"+strings.Repeat("a", 64))

	tree := imagesRepo(t, reg.Host())
	hostileName := "apps/we|b`@team<b>.yaml"
	if err := os.Rename(filepath.Join(tree, "apps", "app.yaml"), filepath.Join(tree, filepath.FromSlash(hostileName))); err != nil {
		t.Fatal(err)
	}
	push := func(name, dir string) string {
		clone := srv.CreateRepo(t, name)
		cliGit(t, dir, "init", "-q", "-b", "main")
		cliGit(t, dir, "add", ".")
		cliGit(t, dir, "commit", "-q", "-m", "seed")
		cliGit(t, dir, "push", "-q", srv.AuthURL(clone), "main")
		srv.WaitPushed(t, name, "main")
		return clone
	}
	clone := push("fleet", tree)
	update := func(clone string) *ImagesUpdateCmd {
		c := &ImagesUpdateCmd{}
		c.Source, c.Ref, c.Path = clone, "main", []string{"."}
		c.GitUsername, c.GitToken = srv.User, srv.Token
		c.Concurrency, c.InsecureRegistry, c.DockerConfig = 2, []string{reg.Host()}, t.TempDir()
		c.ProposeFlags = ProposeFlags{Propose: true, BranchTemplate: "tidegate/images/{{.ID}}",
			ForgeFlags: ForgeFlags{Forge: "gitea", ForgeToken: srv.Token, AuthorName: "bot", AuthorEmail: "bot@example.com"}}
		return c
	}
	var out, errb bytes.Buffer
	g := &Globals{Stdout: &out, Stderr: &errb, LogLevel: "debug", Output: "text", Getenv: func(string) string { return "" }}
	if err := update(clone).Run(ctx, g); err != nil {
		t.Fatalf("images update --propose: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var pr struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		Head  struct {
			Sha string `json:"sha"`
		} `json:"head"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/pulls/1", nil, &pr); err != nil {
		t.Fatal(err)
	}
	var commit struct {
		Commit struct {
			Message string `json:"message"`
		} `json:"commit"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/git/commits/"+pr.Head.Sha, nil, &commit); err != nil {
		t.Fatal(err)
	}
	t.Logf("title: %s\nbody:\n%s\nmessage:\n%s", pr.Title, pr.Body, commit.Commit.Message)
	if !strings.Contains(pr.Title, "1.0.0 → 1.4.0") || !strings.Contains(commit.Commit.Message, "1.0.0 → 1.4.0") {
		t.Errorf("the pull request does not propose 1.4.0: %q", pr.Title)
	}
	// The log quotes the invalid tags it names (%q), cut to 64 bytes.
	for where, text := range map[string]string{"title": pr.Title, "body": pr.Body, "commit message": commit.Commit.Message, "stdout": out.String(), "stderr": errb.String()} {
		bad := []string{"\x1b", "\n| injected", strings.Repeat("9", 100)}
		if where != "stderr" {
			bad = append(bad, "1.9.0+evil", "1.9.9@sha256", "| injected", "<img")
		}
		for _, bad := range bad {
			if strings.Contains(text, bad) {
				t.Errorf("the %s holds %q", where, bad)
			}
		}
	}
	if want := markdown.Cell(hostileName + ":11"); !strings.Contains(pr.Body, want) {
		t.Errorf("the body lacks the escaped file name %s", want)
	}
	for _, line := range strings.Split(pr.Body, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, "|")-strings.Count(line, `\|`) != 4 {
			t.Errorf("table row with more or fewer than three cells: %s", line)
		}
	}
	if !strings.Contains(errb.String(), "invalid=6") {
		t.Errorf("the debug log does not count the 6 invalid tags:\n%s", errb.String())
	}

	// A repository whose manifests link to files of this machine.
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	evil := filepath.Join(base, "evil")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	src := imagesRepo(t, reg.Host())
	if err := os.Rename(src, evil); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"web.yaml": []byte(webDeployment), "app.yaml": nil} {
		if content == nil {
			b, err := os.ReadFile(filepath.Join(evil, "apps", name))
			if err != nil {
				t.Fatal(err)
			}
			content = b
			os.Remove(filepath.Join(evil, "apps", name))
		}
		if err := os.WriteFile(filepath.Join(outside, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
		// go-git checks an absolute link out as one below the clone, so the
		// link climbs out of the clone's temporary directory instead.
		target := strings.Repeat("../", 32) + strings.TrimPrefix(filepath.Join(outside, name), "/")
		if err := os.Symlink(target, filepath.Join(evil, "apps", name)); err != nil {
			t.Fatal(err)
		}
	}
	evilClone := push("evil", evil)
	before := snapshot(t, outside)
	rel := &ReleaseCmd{Container: "app", Image: ":1.2.1"}
	rel.SourceFlags, rel.EditFlags = editFlags(evilClone, EditFlags{Propose: true})
	rel.Ref, rel.GitUsername, rel.GitToken = "main", srv.User, srv.Token
	rel.ForgeFlags = ForgeFlags{Forge: "gitea", ForgeToken: srv.Token, AuthorName: "bot", AuthorEmail: "bot@example.com"}
	g, _ = editGlobals("text")
	for name, run := range map[string]func() error{
		"release --propose":       func() error { return rel.Run(ctx, g) },
		"images update --propose": func() error { return update(evilClone).Run(ctx, g) },
	} {
		err := run()
		if err == nil || !strings.Contains(err.Error(), "points to "+outside) || !strings.Contains(err.Error(), "outside the repository") {
			t.Errorf("%s: %v, want the refusal naming the link", name, err)
		}
	}
	if snapshot(t, outside) != before {
		t.Error("a refused proposal wrote the outside files")
	}
	var branches []struct {
		Name string `json:"name"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/evil/branches", nil, &branches); err != nil || len(branches) != 1 || branches[0].Name != "main" {
		t.Errorf("branches after the refusals: %+v, %v", branches, err)
	}
	var pulls []any
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/evil/pulls?state=all", nil, &pulls); err != nil || len(pulls) != 0 {
		t.Errorf("pull requests after the refusals: %v, %v", pulls, err)
	}
}
