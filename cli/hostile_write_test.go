package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/images/registrytest"
)

// snapshot hashes every path below dir with its mode, link target or
// content: two equal snapshots mean nothing below dir was written,
// created, removed or re-linked.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel + "\x00" + fi.Mode().String() + "\x00"))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			h.Write([]byte(l))
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hostileTree is a base directory holding a repository and, next to it,
// an outside directory with a file a symbolic link of the repository
// points at.
type hostileTree struct {
	base, repo, outside string
}

func newHostileTree(t *testing.T) hostileTree {
	t.Helper()
	base := t.TempDir()
	h := hostileTree{base: base, repo: filepath.Join(base, "repo"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{filepath.Join(h.repo, "apps"), h.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h hostileTree) write(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(h.base, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (h hostileTree) link(t *testing.T, rel, target string) {
	t.Helper()
	p := filepath.Join(h.repo, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// hostileCase builds its fixture in h and returns the command to run
// and what its refusal must say.
type hostileCase struct {
	name  string
	usage bool
	setup func(t *testing.T, h hostileTree) (run func() error, want []string)
}

// TestHostileWrite drives every command that writes the repository
// against a repository whose file (or directory, or --path) leads out of
// it. Each must refuse with an error naming the file and where it
// points, and write nothing: the outside file, the repository and the
// key directory hash the same before and after.
func TestHostileWrite(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.WithoutRequestLog())
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Time{}, "1.0.0")
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Time{}, "1.4.0")
	g := func() *Globals { g, _ := editGlobals("text"); return g }

	// editCase is an edit command on a repository whose apps/web.yaml is
	// an absolute link to a manifest outside it.
	editCase := func(name string, cmd func(SourceFlags, EditFlags) error) hostileCase {
		return hostileCase{name: name, setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			victim := h.write(t, "outside/web.yaml", webDeployment)
			h.link(t, "apps/web.yaml", victim)
			s, ef := editFlags(h.repo, EditFlags{})
			return func() error { return cmd(s, ef) }, []string{"apps/web.yaml", "points to " + victim, "outside the repository", "nothing was written"}
		}}
	}
	release := func(s SourceFlags, ef EditFlags) error {
		return (&ReleaseCmd{SourceFlags: s, EditFlags: ef, Container: "app", Image: ":1.2.7"}).Run(ctx, g())
	}
	// imagesCase writes imagesRepo's files, apps/app.yaml (the marked
	// manifest) at outsideRel when it is set, linked from the repository.
	imagesCase := func(h hostileTree, outsideRel, link string, paths ...string) func() error {
		src := imagesRepo(t, reg.Host())
		for _, f := range []string{"flux/policy.yaml", "apps/app.yaml"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			dst := "repo/" + f
			if f == "apps/app.yaml" && outsideRel != "" {
				dst = outsideRel
			}
			h.write(t, dst, string(b))
		}
		if link != "" {
			h.link(t, "apps/app.yaml", link)
		}
		c := &ImagesUpdateCmd{}
		c.Source, c.Path = h.repo, paths
		c.Concurrency, c.InsecureRegistry, c.DockerConfig = 2, []string{reg.Host()}, t.TempDir()
		return func() error { return c.Run(ctx, g()) }
	}
	initCmd := func(t *testing.T, h hostileTree, paths ...string) *InitCmd {
		cliGit(t, h.repo, "init", "-q", "-b", "main")
		h.write(t, "repo/clusters/prod/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")
		return &InitCmd{SourceFlags: SourceFlags{Source: h.repo, Path: paths}, Home: "github", AgeKeyOut: filepath.Join(h.base, "keys", "age.agekey")}
	}

	cases := []hostileCase{
		editCase("release", release),
		editCase("automate", func(s SourceFlags, ef EditFlags) error {
			return (&AutomateCmd{SourceFlags: s, EditFlags: ef}).Run(ctx, g())
		}),
		editCase("deautomate", func(s SourceFlags, ef EditFlags) error {
			return (&DeautomateCmd{SourceFlags: s, EditFlags: ef}).Run(ctx, g())
		}),
		editCase("lock", func(s SourceFlags, ef EditFlags) error {
			return (&LockCmd{SourceFlags: s, EditFlags: ef, Message: "x"}).Run(ctx, g())
		}),
		editCase("unlock", func(s SourceFlags, ef EditFlags) error {
			return (&UnlockCmd{SourceFlags: s, EditFlags: ef}).Run(ctx, g())
		}),
		editCase("policy", func(s SourceFlags, ef EditFlags) error {
			return (&PolicyCmd{SourceFlags: s, EditFlags: ef, Tag: []string{"app=semver:~1.3"}}).Run(ctx, g())
		}),
		editCase("release dry run", func(s SourceFlags, ef EditFlags) error {
			ef.DryRun = true
			return release(s, ef)
		}),
		{name: "release relative link", setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			victim := h.write(t, "outside/web.yaml", webDeployment)
			h.link(t, "apps/web.yaml", "../../outside/web.yaml")
			s, ef := editFlags(h.repo, EditFlags{})
			return func() error { return release(s, ef) }, []string{"apps/web.yaml", "points to " + victim}
		}},
		{name: "release --path ../x", usage: true, setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			h.write(t, "outside/web.yaml", webDeployment)
			s, ef := editFlags(h.repo, EditFlags{})
			s.Path = []string{"../outside"}
			return func() error { return release(s, ef) }, []string{"--path ../outside", "outside the repository"}
		}},
		{name: "release --path through a symlinked directory", usage: true, setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			h.write(t, "outside/web.yaml", webDeployment)
			h.link(t, "shared", h.outside)
			s, ef := editFlags(h.repo, EditFlags{})
			s.Path = []string{"shared"}
			return func() error { return release(s, ef) }, []string{"--path shared", "points to " + h.outside}
		}},
		{name: "images update", setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			run := imagesCase(h, "outside/app.yaml", "../../outside/app.yaml", ".")
			return run, []string{"apps/app.yaml", "points to " + filepath.Join(h.outside, "app.yaml"), "nothing was written"}
		}},
		{name: "images update through a symlinked directory", setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			// apps/app.yaml is a link into a linked directory that leads out.
			run := imagesCase(h, "outside/real/app.yaml", "../shared/app.yaml", ".")
			h.link(t, "shared", filepath.Join(h.outside, "real"))
			return run, []string{"apps/app.yaml", "the symbolic link shared points to " + filepath.Join(h.outside, "real")}
		}},
		{name: "images update --path ../x", usage: true, setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			return imagesCase(h, "", "", "../outside"), []string{"--path ../outside", "outside the repository"}
		}},
		{name: "init file link", setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			c := initCmd(t, h, "clusters/prod")
			victim := h.write(t, "outside/sops.yaml", "creation_rules: []\n")
			h.link(t, ".sops.yaml", victim)
			return func() error { return c.Run(ctx, g()) }, []string{".sops.yaml", "points to " + victim, "nothing was written"}
		}},
		{name: "init symlinked directory", setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			c := initCmd(t, h, "clusters/prod")
			h.write(t, "outside/workflows/tidegate.yml", "on: push\n")
			h.link(t, ".github", h.outside)
			return func() error { return c.Run(ctx, g()) }, []string{".github/workflows/tidegate.yml", "the symbolic link .github points to " + filepath.Join(h.outside, "workflows", "tidegate.yml")}
		}},
		{name: "init --path ../x", usage: true, setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			c := initCmd(t, h, "../outside")
			return func() error { return c.Run(ctx, g()) }, []string{"--path", "inside the repository"}
		}},
		{name: "init --path through a symlinked directory", usage: true, setup: func(t *testing.T, h hostileTree) (func() error, []string) {
			c := initCmd(t, h, "prod")
			h.link(t, "prod", h.outside)
			return func() error { return c.Run(ctx, g()) }, []string{"--path prod", "points to " + h.outside}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostileTree(t)
			run, want := tc.setup(t, h)
			before := snapshot(t, h.base)
			err := run()
			if err == nil {
				t.Fatal("no refusal")
			}
			t.Logf("refusal: %v", err)
			if tc.usage && Code(err) != ExitUsage {
				t.Errorf("exit %d, want %d (usage): %v", Code(err), ExitUsage, err)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after := snapshot(t, h.base); after != before {
				t.Error("the refused command wrote something (repository, outside file or key)")
			}
		})
	}
}
