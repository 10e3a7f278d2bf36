package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	dir := t.TempDir()
	for p, b := range map[string]string{"same.yaml": "a\n", "other.yaml": "old\n", GitLabCIFile: "stages: [test]\n"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{"new/x.yaml": []byte("x\n"), "same.yaml": []byte("a\n"), "other.yaml": []byte("new\n"), GitLabCIFile: []byte("include: []\n")}
	for _, force := range []bool{false, true} {
		got, err := Plan(dir, files, force)
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]string{}
		for _, f := range got {
			actions[f.Path] = f.Action
			if string(f.Data) != string(files[f.Path]) {
				t.Errorf("%s: data %q", f.Path, f.Data)
			}
		}
		other := Skip
		if force {
			other = Overwrite
		}
		want := map[string]string{"new/x.yaml": Create, "same.yaml": Unchanged, "other.yaml": other, GitLabCIFile: Skip}
		if d := cmp.Diff(want, actions); d != "" {
			t.Errorf("force %v (-want +got):\n%s", force, d)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "other.yaml")); string(b) != "old\n" {
		t.Errorf("Plan wrote other.yaml: %q", b)
	}
}

// TestHostilePlanSymlink: a file of the plan whose directory is a link
// out of the repository is refused before anything outside is read.
func TestHostilePlanSymlink(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	const canary = "CANARY-outside"
	if err := os.WriteFile(filepath.Join(outside, "kustomization.yaml"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "tidegate")); err != nil {
		t.Fatal(err)
	}
	got, err := Plan(dir, map[string][]byte{"tidegate/kustomization.yaml": []byte("x\n")}, true)
	if err == nil || got != nil || !strings.Contains(err.Error(), "nothing was written") || strings.Contains(err.Error(), canary) {
		t.Fatalf("plan %v, err %v: want a refusal saying nothing was written", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "kustomization.yaml")); string(b) != canary {
		t.Errorf("the file outside changed: %q", b)
	}
}
