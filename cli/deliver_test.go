package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/source"
)

// TestHostileDeliverWrite: one target of a delivery leading out of the
// repository refuses the whole delivery before its first write, even
// when the file that leads out comes last.
func TestHostileDeliverWrite(t *testing.T) {
	h := newHostileTree(t)
	victim := h.write(t, "outside/web.yaml", webDeployment)
	h.link(t, "apps/web.yaml", victim)
	co := &source.Checkout{Dir: h.repo, URL: h.repo}
	e := edits{Files: []fileEdit{
		{Path: "apps/new.yaml", Data: []byte("canary-new\n")},
		{Path: "apps/web.yaml", Data: []byte("canary-web\n")},
	}}
	noForge := func() (forge.Forge, error) { t.Fatal("a write in place asked for a forge"); return nil, nil }

	_, err := delivery{}.deliver(context.Background(), co, e, noForge, propose.Options{})
	if err == nil {
		t.Fatal("a target leading out of the repository was written")
	}
	for _, want := range []string{"apps/web.yaml", "points to " + victim, "outside the repository", "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(h.repo, "apps", "new.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("apps/new.yaml was written before the refusal (stat: %v)", err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != webDeployment {
		t.Errorf("the file outside the repository changed: %q, %v", b, err)
	}
}

// TestDeliverModes: in place writes every file in order; --dry-run
// writes nothing and, like a write, never asks for a forge.
func TestDeliverModes(t *testing.T) {
	dir := t.TempDir()
	co := &source.Checkout{Dir: dir, URL: dir}
	e := edits{Files: []fileEdit{
		{Path: "a/one.yaml", Data: []byte("one\n")},
		{Path: "two.yaml", Data: []byte("two\n")},
	}}
	noForge := func() (forge.Forge, error) { t.Fatal("asked for a forge"); return nil, nil }

	if p, err := (delivery{DryRun: true}).deliver(context.Background(), co, e, noForge, propose.Options{}); err != nil || p != nil {
		t.Fatalf("dry run: %v, %v", p, err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("a dry run wrote %v (%v)", entries, err)
	}
	if p, err := (delivery{}).deliver(context.Background(), co, e, noForge, propose.Options{}); err != nil || p != nil {
		t.Fatalf("write: %v, %v", p, err)
	}
	for _, f := range e.Files {
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path))); err != nil || string(b) != string(f.Data) {
			t.Errorf("%s: %q, %v; want %q", f.Path, b, err, f.Data)
		}
	}
}
