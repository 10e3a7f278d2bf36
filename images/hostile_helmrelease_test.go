package images

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostileRelease is an automated helm-operator HelmRelease with a good
// chart-image; extra annotations start on line 8.
func hostileRelease(annotations, values string) string {
	return "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: r\n  namespace: apps\n  annotations:\n    fluxcd.io/automated: \"true\"\n" +
		annotations + "spec:\n  chart: {repository: https://charts.example/, name: c, version: 1.0.0}\n  values:\n    image: registry.test/apps/legacy:3.1.2\n" + values
}

// TestHostileHelmReleaseAnnotations: Flux v1 annotations on a
// helm-operator HelmRelease that cannot be used (a values path leading
// outside spec.values, through a list or to nothing; a malformed filter;
// a mapping without its repository). Each is refused naming the file,
// the annotation's line, the object and what to write; nothing of the
// release is rewritten (not even its good chart-image), no file is
// written and the registry is not asked about it.
func TestHostileHelmReleaseAnnotations(t *testing.T) {
	reg, sopts := startFixture(t)
	tests := []struct {
		name, annotations, values string
		want                      []string
	}{
		{name: "path with empty segments", annotations: "    repository.fluxcd.io/app: ..metadata.name\n",
			want: []string{"leads outside spec.values", "such as image.tag"}},
		{name: "path written with slashes", annotations: "    repository.fluxcd.io/app: /spec/values/app\n",
			want: []string{"leads outside spec.values"}},
		{name: "path from the object's root", annotations: "    repository.fluxcd.io/app: spec.values.app.repository\n", values: "    app:\n      repository: registry.test/apps/legacy\n",
			want: []string{"paths are relative to spec.values; write app.repository"}},
		{name: "path to nothing", annotations: "    repository.fluxcd.io/app: appImage\n",
			want: []string{"spec.values has no appImage", "write the path of the field that holds it"}},
		{name: "path through a list", annotations: "    repository.fluxcd.io/app: sidecars.0.image\n", values: "    sidecars:\n    - image: registry.test/apps/legacy:1\n",
			want: []string{"spec.values.sidecars is a list", "cannot index lists"}},
		{name: "path to a mapping", annotations: "    repository.fluxcd.io/app: app\n", values: "    app: {repository: registry.test/apps/legacy}\n",
			want: []string{"spec.values.app is not a one-line string"}},
		{name: "path to a block scalar", annotations: "    repository.fluxcd.io/app: app\n", values: "    app: |\n      registry.test/apps/legacy:1\n",
			want: []string{"spec.values.app is not a one-line string"}},
		{name: "tag without repository", annotations: "    tag.fluxcd.io/app: appTag\n", values: "    appTag: \"1\"\n",
			want: []string{"annotation tag.fluxcd.io/app", "needs repository.fluxcd.io/app too"}},
		{name: "mapped values that are no reference", annotations: "    repository.fluxcd.io/app: appImage\n", values: "    appImage: \"Not An Image!\"\n",
			want: []string{`make "Not An Image!", which is not an image reference`}},
		{name: "annotation that is not a string", annotations: "    repository.fluxcd.io/app: {path: image}\n",
			want: []string{"wants a dot path below spec.values as a string"}},
		{name: "annotation naming no image", annotations: "    repository.fluxcd.io/: image\n",
			want: []string{"names no image: write repository.fluxcd.io/<name>"}},
		{name: "malformed semver filter", annotations: "    filter.fluxcd.io/chart-image: semver:>>1\n",
			want: []string{"annotation filter.fluxcd.io/chart-image", `invalid semver range ">>1"`, "write semver:<range>, glob:<pattern> or regex:<expression>"}},
		{name: "malformed regex filter", annotations: "    fluxcd.io/tag.chart-image: regex:(\n",
			want: []string{"annotation fluxcd.io/tag.chart-image", "invalid regex", "write semver:<range>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"releases.yaml": hostileRelease(tt.annotations, tt.values)})
			before := readTree(t, dir)
			asked := len(reg.Requests())
			res, err := Update(context.Background(), dir, Options{Scan: sopts})
			if err == nil {
				t.Fatal("Update() accepted the release")
			}
			for _, want := range append([]string{"releases.yaml:8: HelmRelease.helm.fluxcd.io/apps/r: ", "nothing in the release is changed until it is fixed"}, tt.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			// Update writes nothing itself; what a command would deliver
			// is what it returns, and for a refused release that is
			// nothing.
			if len(res.Entries) != 0 || len(res.Files) != 0 {
				t.Errorf("the refused release has entries %+v, files %v", res.Entries, editedNames(res.Files))
			}
			if diff := cmp.Diff(before, readTree(t, dir)); diff != "" {
				t.Errorf("the refused release was written (-before +after):\n%s", diff)
			}
			if got := reg.Requests()[asked:]; len(got) != 0 {
				t.Errorf("the registry was asked about a refused release: %+v", got)
			}
		})
	}
}

// TestHelmReleaseFilterMatchesNothing: a filter no tag of the repository
// passes fails that image alone, naming where it is; the release's value
// stays, and the other release is still bumped.
func TestHelmReleaseFilterMatchesNothing(t *testing.T) {
	_, sopts := startFixture(t)
	dir := t.TempDir()
	none := hostileRelease("    filter.fluxcd.io/chart-image: semver:~9.0\n", "")
	good := strings.Replace(hostileRelease("    filter.fluxcd.io/chart-image: semver:~3.1\n", ""), "name: r\n", "name: good\n", 1)
	writeFiles(t, dir, map[string]string{"a/none.yaml": none, "b/good.yaml": good})
	res, err := Update(context.Background(), dir, Options{Scan: sopts})
	if err == nil || !strings.Contains(err.Error(), "a/none.yaml:12: HelmRelease.helm.fluxcd.io/apps/r: policy semver:~9.0: ") ||
		!strings.Contains(err.Error(), "registry.test/apps/legacy has 8 tags") {
		t.Fatalf("Update() error = %v, want one naming a/none.yaml:12, the object and the filter", err)
	}
	deliver(t, dir, res)
	after := readTree(t, dir)
	if after["a/none.yaml"] != none {
		t.Errorf("a/none.yaml changed:\n%s", after["a/none.yaml"])
	}
	if want := strings.Replace(good, "legacy:3.1.2", "legacy:3.1.9", 1); after["b/good.yaml"] != want {
		t.Errorf("b/good.yaml = \n%s\nwant\n%s", after["b/good.yaml"], want)
	}
	if diff := cmp.Diff([]string{"b/good.yaml"}, editedNames(res.Files)); diff != "" {
		t.Errorf("rewritten files (-want +got):\n%s", diff)
	}
}
