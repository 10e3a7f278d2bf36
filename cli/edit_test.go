package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/internal/testenv/gitea"
)

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    fluxcd.io/tag.app: semver:~1.2
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/web:1.2.0 # the shop
        - name: proxy
          image: ghcr.io/acme/proxy:2.0
`

func editRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "apps", "web.yaml"), []byte(webDeployment), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func editGlobals(output string) (*Globals, *bytes.Buffer) {
	var out bytes.Buffer
	return &Globals{Stdout: &out, Stderr: &bytes.Buffer{}, LogLevel: "error", Output: output, Getenv: func(string) string { return "" }}, &out
}

func editFlags(dir string, ef EditFlags) (SourceFlags, EditFlags) {
	if ef.Workload == "" {
		ef.Workload = "shop:deployment/web"
	}
	return SourceFlags{Source: dir, Path: []string{"."}}, ef
}

func readWeb(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "apps", "web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exitCode(err error) int { return Code(err) }

// The local working tree: each command changes exactly its lines, a
// second run changes nothing, and every refusal leaves the file as it was.
func TestEditCommandsOnAWorkingTree(t *testing.T) {
	ctx := context.Background()
	dir := editRepo(t)

	// A release inside the filter, by tag only.
	g, out := editGlobals("text")
	rel := &ReleaseCmd{Container: "app", Image: ":1.2.7"}
	rel.SourceFlags, rel.EditFlags = editFlags(dir, EditFlags{})
	if err := rel.Run(ctx, g); err != nil {
		t.Fatalf("release: %v", err)
	}
	want := strings.Replace(webDeployment, "web:1.2.0 #", "web:1.2.7 #", 1)
	if got := readWeb(t, dir); got != want {
		t.Fatalf("after release:\n%s", got)
	}
	if !strings.Contains(out.String(), "container app: ghcr.io/acme/web:1.2.0 → ghcr.io/acme/web:1.2.7") {
		t.Errorf("release output: %s", out)
	}

	// Refusals: outside the filter, another repository, an unknown
	// container, two containers and none named.
	for name, c := range map[string]*ReleaseCmd{
		"outside the filter":  {Container: "app", Image: "ghcr.io/acme/web:1.3.0"},
		"another repository":  {Container: "app", Image: "docker.io/evil/web:1.2.9"},
		"unknown container":   {Container: "db", Image: ":1"},
		"no container chosen": {Image: ":1.2.8"},
	} {
		c.SourceFlags, c.EditFlags = editFlags(dir, EditFlags{})
		g, _ := editGlobals("text")
		err := c.Run(ctx, g)
		if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
		if got := readWeb(t, dir); got != want {
			t.Fatalf("%s changed the file:\n%s", name, got)
		}
	}

	// Lock with a message; a locked workload refuses a release.
	lock := &LockCmd{Message: "audit until Friday"}
	lock.SourceFlags, lock.EditFlags = editFlags(dir, EditFlags{})
	g, _ = editGlobals("text")
	if err := lock.Run(ctx, g); err != nil {
		t.Fatalf("lock: %v", err)
	}
	locked := strings.Replace(want, "semver:~1.2\n", "semver:~1.2\n    fluxcd.io/locked: \"true\"\n    fluxcd.io/locked_msg: \"audit until Friday\"\n", 1)
	if got := readWeb(t, dir); got != locked {
		t.Fatalf("after lock:\n%s", got)
	}
	g, out = editGlobals("text")
	if err := lock.Run(ctx, g); err != nil || !strings.Contains(out.String(), "nothing to change") {
		t.Errorf("second lock: %v %s", err, out)
	}
	rel = &ReleaseCmd{Container: "app", Image: ":1.2.8"}
	rel.SourceFlags, rel.EditFlags = editFlags(dir, EditFlags{})
	g, _ = editGlobals("text")
	if err := rel.Run(ctx, g); err == nil || !strings.Contains(err.Error(), "audit until Friday") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("release of a locked workload: %v", err)
	}
	rel.Force = true
	g, _ = editGlobals("text")
	if err := rel.Run(ctx, g); err != nil {
		t.Fatalf("release --force: %v", err)
	}
	forced := strings.Replace(locked, "web:1.2.7", "web:1.2.8", 1)
	if got := readWeb(t, dir); got != forced {
		t.Fatalf("after release --force:\n%s", got)
	}

	// Unlock removes both lock annotations; policy rewrites the filters.
	unlock := &UnlockCmd{}
	unlock.SourceFlags, unlock.EditFlags = editFlags(dir, EditFlags{})
	g, _ = editGlobals("text")
	if err := unlock.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got, want := readWeb(t, dir), strings.Replace(webDeployment, "web:1.2.0", "web:1.2.8", 1); got != want {
		t.Fatalf("after unlock:\n%s", got)
	}
	pol := &PolicyCmd{TagAll: "semver:~2", Tag: []string{"app=glob:1.*"}}
	pol.SourceFlags, pol.EditFlags = editFlags(dir, EditFlags{})
	g, _ = editGlobals("text")
	if err := pol.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got := readWeb(t, dir); !strings.Contains(got, "    fluxcd.io/tag.app: \"glob:1.*\"\n") || !strings.Contains(got, "    fluxcd.io/tag.proxy: \"semver:~2\"\n") {
		t.Errorf("after policy:\n%s", got)
	}
	for _, bad := range []*PolicyCmd{{}, {Tag: []string{"app"}}, {TagAll: "semver:not a range"}} {
		bad.SourceFlags, bad.EditFlags = editFlags(dir, EditFlags{})
		g, _ = editGlobals("text")
		if err := bad.Run(ctx, g); exitCode(err) != ExitUsage {
			t.Errorf("policy %+v: %v, want exit %d", bad, err, ExitUsage)
		}
	}
	bad := &PolicyCmd{Tag: []string{"db=semver:~1"}}
	bad.SourceFlags, bad.EditFlags = editFlags(dir, EditFlags{})
	g, _ = editGlobals("text")
	if err := bad.Run(ctx, g); err == nil || !strings.Contains(err.Error(), "app, proxy") {
		t.Errorf("policy for an unknown container: %v", err)
	}
}

func TestEditDryRunAndJSON(t *testing.T) {
	ctx := context.Background()
	dir := editRepo(t)
	auto := &AutomateCmd{}
	auto.SourceFlags, auto.EditFlags = editFlags(dir, EditFlags{DryRun: true})
	g, out := editGlobals("text")
	err := auto.Run(ctx, g)
	if exitCode(err) != ExitChanges {
		t.Fatalf("dry run: %v, want exit %d", err, ExitChanges)
	}
	if !strings.Contains(out.String(), "+    fluxcd.io/automated: \"true\"") || !strings.Contains(out.String(), "--- a/apps/web.yaml") {
		t.Errorf("dry-run diff:\n%s", out)
	}
	if readWeb(t, dir) != webDeployment {
		t.Fatal("a dry run wrote the file")
	}

	auto.DryRun = false
	g, out = editGlobals("json")
	if err := auto.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	var res editResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !res.Changed || !res.Written || res.File != "apps/web.yaml" || len(res.Changes) != 1 || res.Workload != "shop:deployment/web" {
		t.Errorf("json result: %+v", res)
	}

	// Deautomate undoes it byte for byte.
	de := &DeautomateCmd{}
	de.SourceFlags, de.EditFlags = editFlags(dir, EditFlags{})
	g, _ = editGlobals("text")
	if err := de.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got := readWeb(t, dir); got != webDeployment {
		t.Errorf("automate then deautomate:\n%s", got)
	}

	// Bad workload names are usage errors; an absent one says where it looked.
	for ref, code := range map[string]int{"web": ExitUsage, "shop:service/web": ExitUsage, "shop:deployment/api": ExitFailure} {
		c := &AutomateCmd{}
		c.SourceFlags, c.EditFlags = editFlags(dir, EditFlags{Workload: ref})
		g, _ = editGlobals("text")
		if err := c.Run(ctx, g); exitCode(err) != code {
			t.Errorf("automate %s: %v, want exit %d", ref, err, code)
		}
	}
}

// Through a real Gitea: a release is a pull request, the base branch is
// untouched, and running it again changes nothing.
func TestReleaseProposesAPullRequest(t *testing.T) {
	ctx := context.Background()
	srv := gitea.Start(t)
	tree := editRepo(t)
	clone := srv.CreateRepo(t, "shop")
	cliGit(t, tree, "init", "-q", "-b", "main")
	cliGit(t, tree, "add", ".")
	cliGit(t, tree, "commit", "-q", "-m", "seed")
	cliGit(t, tree, "push", "-q", srv.AuthURL(clone), "main")
	srv.WaitPushed(t, "shop", "main")

	release := func(extra EditFlags) (*ReleaseCmd, *Globals, *bytes.Buffer) {
		c := &ReleaseCmd{Container: "app", Image: ":1.2.1"}
		c.SourceFlags, c.EditFlags = editFlags(clone, extra)
		c.Ref, c.GitUsername, c.GitToken = "main", srv.User, srv.Token
		c.ForgeFlags = ForgeFlags{Forge: "gitea", ForgeToken: srv.Token, AuthorName: "bot", AuthorEmail: "bot@example.com"}
		g, out := editGlobals("text")
		return c, g, out
	}

	// A remote source without --propose would lose the edit: refused.
	c, g, _ := release(EditFlags{})
	if err := c.Run(ctx, g); exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "--propose") {
		t.Fatalf("remote without --propose: %v", err)
	}
	// A refused release (outside the filter) pushes nothing and opens nothing.
	c, g, _ = release(EditFlags{Propose: true})
	c.Image = ":1.3.0"
	if err := c.Run(ctx, g); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("release outside the filter: %v", err)
	}
	var branches []struct {
		Name string `json:"name"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/shop/branches", nil, &branches); err != nil || len(branches) != 1 || branches[0].Name != "main" {
		t.Fatalf("branches after a refused release: %+v, %v", branches, err)
	}
	var pulls []any
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/shop/pulls?state=all", nil, &pulls); err != nil || len(pulls) != 0 {
		t.Fatalf("pull requests after a refused release: %v, %v", pulls, err)
	}
	c, g, out := release(EditFlags{Propose: true, DryRun: true})
	if err := c.Run(ctx, g); exitCode(err) != ExitChanges || !strings.Contains(out.String(), "branch tidegate/release/shop-deployment-web-app: dry-run") {
		t.Fatalf("propose dry run: %v\n%s", err, out)
	}
	c, g, out = release(EditFlags{Propose: true})
	if err := c.Run(ctx, g); err != nil {
		t.Fatalf("release --propose: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "created "+srv.URL+"/"+srv.User+"/shop/pulls/1") {
		t.Errorf("output: %s", out)
	}
	var pr struct {
		Title string `json:"title"`
		Head  struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/shop/pulls/1", nil, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Title != "Release shop:deployment/web: container app: ghcr.io/acme/web:1.2.0 → ghcr.io/acme/web:1.2.1" || pr.Head.Ref != "tidegate/release/shop-deployment-web-app" {
		t.Errorf("pull request: %+v", pr)
	}
	file := func(ref string) string {
		var f struct {
			Content string `json:"content"`
		}
		if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/shop/contents/apps/web.yaml?ref="+ref, nil, &f); err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := file("main"); got != webDeployment {
		t.Errorf("main changed:\n%s", got)
	}
	if got := file("tidegate/release/shop-deployment-web-app"); got != strings.Replace(webDeployment, "web:1.2.0", "web:1.2.1", 1) {
		t.Errorf("branch content:\n%s", got)
	}
	c, g, out = release(EditFlags{Propose: true})
	if err := c.Run(ctx, g); err != nil || !strings.Contains(out.String(), ": unchanged") {
		t.Errorf("second run: %v\n%s", err, out)
	}
}
