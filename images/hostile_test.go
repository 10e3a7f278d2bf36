package images

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

const hostilePolicy = `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: flux-system}
spec: {image: registry.test/apps/podinfo}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: flux-system}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: ^5.0.0}}
`

const hostileKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: podinfo
    newTag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
`

const hostilePod = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: apps}
spec:
  containers:
  - name: app
    image: registry.test/apps/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for f, c := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Kustomize reads Kustomization and kustomization.yml as well as
// kustomization.yaml; their markers are bumped like any other, and a
// dangling link next to them is passed over with a debug line instead of
// failing the run half-way.
func TestUpdateKustomizationNamesAndDanglingLinks(t *testing.T) {
	_, sopts := startFixture(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"flux/policy.yaml":           hostilePolicy,
		"a/Kustomization":            hostileKustomization,
		"b/kustomization.yml":        hostileKustomization,
		"c/pod.yaml":                 hostilePod,
		"c/notes/Kustomization.json": hostileKustomization,
	})
	for _, l := range []string{"a/gone.yaml", "z/gone.yaml"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(l)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("missing.yaml", filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	res, err := Update(context.Background(), dir, Options{Scan: sopts, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	deliver(t, dir, res)
	if diff := cmp.Diff([]string{"a/Kustomization", "b/kustomization.yml", "c/pod.yaml"}, editedNames(res.Files)); diff != "" {
		t.Errorf("rewritten files (-want +got):\n%s", diff)
	}
	for _, f := range []string{"a/Kustomization", "b/kustomization.yml"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); !strings.Contains(string(b), "newTag: 5.1.0 #") {
			t.Errorf("%s not bumped:\n%s", f, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "c/notes/Kustomization.json")); string(b) != hostileKustomization {
		t.Errorf("a file kustomize does not read was rewritten:\n%s", b)
	}
	for _, want := range []string{`a/gone.yaml: a dangling symbolic link`, `z/gone.yaml: a dangling symbolic link`, "level=DEBUG"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("debug log lacks %q:\n%s", want, log.String())
		}
	}
}

func editedNames(fs []FileEdit) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.File)
	}
	return out
}

// TestHostileWriteUpdate: one marked file of several leads out of the
// repository. Every edit is checked before any is written, so the run
// refuses naming it and writes none of the others either.
func TestHostileWriteUpdate(t *testing.T) {
	_, sopts := startFixture(t)
	base := t.TempDir()
	dir, outside := filepath.Join(base, "repo"), filepath.Join(base, "outside")
	writeFiles(t, base, map[string]string{
		"repo/flux/policy.yaml": hostilePolicy,
		"repo/a/pod.yaml":       hostilePod,
		"repo/b/Kustomization":  hostileKustomization,
		"outside/pod.yaml":      hostilePod,
	})
	if err := os.Symlink("../../outside/pod.yaml", filepath.Join(dir, "b", "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, base)
	res, err := Update(context.Background(), dir, Options{Scan: sopts})
	if err == nil || !errorsIsOutside(err) || !strings.Contains(err.Error(), "b/linked.yaml: it is a symbolic link that points to "+filepath.Join(outside, "pod.yaml")) || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("err = %v, want the refusal naming b/linked.yaml", err)
	}
	if len(res.Files) != 0 {
		t.Errorf("the refused update reports files %v", editedNames(res.Files))
	}
	// What a delivery would write: nothing.
	deliver(t, dir, res)
	if diff := cmp.Diff(before, readTree(t, base)); diff != "" {
		t.Fatalf("the refused update wrote (-before +after):\n%s", diff)
	}
}

func errorsIsOutside(err error) bool {
	return errors.Is(err, atomicfile.ErrOutside)
}
