package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// updateGolden runs Update on a copy of testdata/<name>/original and
// compares the tree with testdata/<name>/expected (-update rewrites it).
func updateGolden(t *testing.T, name string, opts Options) *Result {
	t.Helper()
	original := filepath.Join("testdata", name, "original")
	expected := filepath.Join("testdata", name, "expected")
	dir := copyTree(t, original)
	res, err := Update(context.Background(), dir, false, opts)
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	got := readTree(t, dir)
	if *update {
		os.RemoveAll(expected)
		for f, content := range got {
			p := filepath.Join(expected, filepath.FromSlash(f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if diff := cmp.Diff(readTree(t, expected), got); diff != "" {
		t.Errorf("rewritten tree differs from %s (-want +got):\n%s", expected, diff)
	}
	return res
}

// TestUpdateHelmReleaseGolden rewrites the images of HelmReleases: Flux
// v2 setter markers in spec.values (whole reference, :tag, :name) and
// Flux v1 helm-operator images (chart-image, a key's image, registry and
// tag beside it, and the repository/tag/registry.fluxcd.io mappings),
// each in place, against the fixture registry's real tags.
func TestUpdateHelmReleaseGolden(t *testing.T) {
	_, sopts := startFixture(t)
	res := updateGolden(t, "helm", Options{Scan: sopts})

	type row struct {
		Object, Container, Policy, Repository, Current, New string
		Line                                                int
		Status                                              Status
	}
	var got []row
	for _, e := range res.Entries {
		got = append(got, row{e.Object.String(), e.Container, e.Policy, e.Repository, e.Current, e.New, e.Line, e.Status})
	}
	v2 := "HelmRelease.helm.toolkit.fluxcd.io/apps/podinfo"
	v1 := func(name string) string { return "HelmRelease.helm.fluxcd.io/apps/" + name }
	want := []row{
		{v1("whole"), "chart-image", "semver:~5.0", "registry.test/apps/podinfo", "registry.test/apps/podinfo:5.0.0", "registry.test/apps/podinfo:5.0.3", 19, StatusUpdate},
		{v1("tagged"), "chart-image", "semver:^5", "registry.test/apps/podinfo", "5.0.3", "5.1.0", 37, StatusUpdate},
		{v1("split"), "chart-image", "glob:master-*", "registry.test/apps/legacy", "master-aaa", "master-bbb", 56, StatusUpdate},
		{v1("split"), "worker", "regex:^3\\.10\\.", "registry.test/apps/legacy", "apps/legacy:3.10.1", "apps/legacy:3.10.5", 60, StatusUpdate},
		{v1("mapped"), "app", "semver:^5", "registry.test/apps/podinfo", "5.0.0", "5.1.0", 86, StatusUpdate},
		{v1("mapped"), "sub", "semver:~3.1", "registry.test/apps/legacy", "3.1.2", "3.1.9", 91, StatusUpdate},
		{v1("mapped"), "full", "semver:~5.0", "registry.test/apps/podinfo", "registry.test/apps/podinfo:5.0.0", "registry.test/apps/podinfo:5.0.3", 93, StatusUpdate},
		{v1("frozen"), "chart-image", "glob:*", "registry.test/apps/podinfo", "registry.test/apps/podinfo:5.0.0", "registry.test/apps/podinfo:5.0.0", 106, StatusLocked},
		{"HelmRelease.flux.weave.works/apps/weave", "chart-image", "semver:~5.0", "registry.test/apps/podinfo", "5.0.0", "5.0.3", 144, StatusUpdate},
		{v2, "", "flux-system:podinfo", "registry.test/apps/podinfo", "registry.test/apps/old-podinfo", "registry.test/apps/podinfo", 21, StatusUpdate},
		{v2, "", "flux-system:podinfo", "registry.test/apps/podinfo", "5.0.0", "5.1.0", 22, StatusUpdate},
		{v2, "", "flux-system:podinfo", "registry.test/apps/podinfo", "registry.test/apps/podinfo:5.0.3", "registry.test/apps/podinfo:5.1.0", 25, StatusUpdate},
		{v2, "", "flux-system:podinfo", "registry.test/apps/podinfo", "registry.test/apps/podinfo", "registry.test/apps/podinfo", 28, StatusUpToDate},
		{v2, "", "flux-system:podinfo", "registry.test/apps/podinfo", "5.1.0", "5.1.0", 29, StatusUpToDate},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v1/releases.yaml", "v2/podinfo.yaml"}, editedNames(res.Files)); diff != "" {
		t.Errorf("rewritten files (-want +got):\n%s", diff)
	}
	// Only the scalars change: as many lines differ as there are changes.
	for _, f := range res.Files {
		before, after := strings.Split(string(f.Before), "\n"), strings.Split(string(f.After), "\n")
		if len(before) != len(after) {
			t.Fatalf("%s: %d lines became %d", f.File, len(before), len(after))
		}
		changed, changes := 0, 0
		for i := range before {
			if before[i] != after[i] {
				changed++
			}
		}
		for _, c := range res.Changes {
			if c.File == f.File {
				changes++
			}
		}
		if changed != changes {
			t.Errorf("%s: %d lines changed for %d changes", f.File, changed, changes)
		}
	}
	// The release without fluxcd.io/automated and the ignored one are
	// listed as workloads but have nothing to rewrite.
	var ws []string
	for _, w := range res.sources.Workloads {
		ws = append(ws, w.Object.Name)
	}
	if diff := cmp.Diff([]string{"whole", "tagged", "split", "mapped", "frozen", "hidden", "weave"}, ws); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
}
