package images

import (
	"context"
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
	res, err := Update(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	deliver(t, dir, res)
	golden(t, expected, readTree(t, dir))
	return res
}

// TestUpdateHelmReleaseGolden rewrites the images of HelmReleases: Flux
// v2 setter markers in spec.values (whole reference, :tag, :name) and
// Flux v1 helm-operator images (chart-image, a key's image, registry and
// tag beside it, and the repository/tag/registry.fluxcd.io mappings),
// each in place, against the fixture registry's real tags. Markers in
// values are listed under the values path they sit in.
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
		{v2, "image", "flux-system:podinfo", "registry.test/apps/podinfo", "registry.test/apps/old-podinfo", "registry.test/apps/podinfo", 21, StatusUpdate},
		{v2, "image", "flux-system:podinfo", "registry.test/apps/podinfo", "5.0.0", "5.1.0", 22, StatusUpdate},
		{v2, "sidecar", "flux-system:podinfo", "registry.test/apps/podinfo", "registry.test/apps/podinfo:5.0.3", "registry.test/apps/podinfo:5.1.0", 25, StatusUpdate},
		{v2, "current.image", "flux-system:podinfo", "registry.test/apps/podinfo", "registry.test/apps/podinfo", "registry.test/apps/podinfo", 28, StatusUpToDate},
		{v2, "current.image", "flux-system:podinfo", "registry.test/apps/podinfo", "5.1.0", "5.1.0", 29, StatusUpToDate},
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

// TestHelmReleaseImages reads the images of decoded HelmReleases, as
// workloads list gets them from a render: the same names and full
// references Load finds in the files, chart-image first.
func TestHelmReleaseImages(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "helm.fluxcd.io/v1", "kind": "HelmRelease",
		"metadata": map[string]any{"name": "r", "namespace": "apps", "annotations": map[string]any{
			"repository.fluxcd.io/app": "appImage", "tag.fluxcd.io/app": "appTag",
			"registry.fluxcd.io/worker": "w.reg", "repository.fluxcd.io/worker": "w.img",
		}},
		"spec": map[string]any{"values": map[string]any{
			"image":    map[string]any{"registry": "r.example", "repository": "acme/main", "tag": "1.0"},
			"appImage": "r.example/acme/app", "appTag": "2.0",
			"w":     map[string]any{"reg": "r.example", "img": "acme/worker:3.0"},
			"zeta":  map[string]any{"image": "r.example/acme/zeta:4.0", "registry": 5},
			"notes": map[string]any{"image": "Not an image"},
		}},
	}
	got, err := HelmReleaseImages(obj)
	if err != nil {
		t.Fatal(err)
	}
	want := []ChartImage{
		{Name: "chart-image", Image: "r.example/acme/main:1.0"},
		{Name: "app", Image: "r.example/acme/app:2.0"},
		{Name: "worker", Image: "r.example/acme/worker:3.0"},
		{Name: "zeta", Image: "r.example/acme/zeta:4.0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}

	obj["metadata"].(map[string]any)["annotations"] = map[string]any{"tag.fluxcd.io/x": "appTag"}
	if _, err := HelmReleaseImages(obj); err == nil || !strings.Contains(err.Error(), "HelmRelease.helm.fluxcd.io/apps/r: annotation tag.fluxcd.io/x: needs repository.fluxcd.io/x") {
		t.Errorf("error = %v, want the object and the annotation named", err)
	}
	obj["apiVersion"] = "helm.toolkit.fluxcd.io/v2"
	if got, err := HelmReleaseImages(obj); err != nil || got != nil {
		t.Errorf("a Flux v2 HelmRelease gave %v, %v; Flux v1 annotations do not apply to it", got, err)
	}
}

// TestHelmReleaseFilterNamesNoImage: a filter for a name the values do
// not have (a typo) filters nothing; Flux v1 said nothing, tidegate
// warns with the line. A setter marker on a v1 release's image wins over
// its annotations.
func TestHelmReleaseFilterNamesNoImage(t *testing.T) {
	_, sopts := startFixture(t)
	src, err := loadString(t, hostilePolicy+"---\n"+strings.Replace(
		hostileRelease("    filter.fluxcd.io/chart-imag: semver:~3.1\n", "    side:\n      image: registry.test/apps/podinfo:5.0.0 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n"),
		"apps/legacy:3.1.2", "apps/legacy:3.1.2", 1))
	if err != nil {
		t.Fatal(err)
	}
	want := `all.yaml:20: HelmRelease.helm.fluxcd.io/apps/r: annotation filter.fluxcd.io/chart-imag names no image of the release (it has chart-image, side); it filters nothing`
	if diff := cmp.Diff([]string{want}, src.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	plan, err := Resolve(context.Background(), src, Options{Scan: sopts})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range plan.Changes {
		got = append(got, c.Container+" "+c.Policy+" "+c.New)
	}
	if diff := cmp.Diff([]string{"chart-image glob:* registry.test/apps/legacy:4.0.0", "side flux-system:podinfo registry.test/apps/podinfo:5.1.0"}, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestHelmReleaseMarkerNames: a marker in a helm-operator HelmRelease's
// values is listed under the name Flux v1 gives that image, so
// workloads list joins it to the same container; elsewhere in values, under
// its values path.
func TestHelmReleaseMarkerNames(t *testing.T) {
	src, err := loadString(t, `apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata: {name: r, namespace: apps}
spec:
  values:
    image:
      repository: registry.test/apps/podinfo
      tag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
    extra:
      deep:
        ref: registry.test/apps/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range src.Sites {
		got = append(got, s.Container)
	}
	if diff := cmp.Diff([]string{"chart-image", "extra.deep"}, got); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
}
