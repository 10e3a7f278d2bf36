package images

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/atomicfile"
)

var update = flag.Bool("update", false, "rewrite the expected goldens under testdata/ from the current output")

// copyTree copies src into a fresh temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// deliver writes the files an Update computed, as the commands'
// delivery does.
func deliver(t *testing.T, dir string, res *Result) {
	t.Helper()
	for _, f := range res.Files {
		if err := atomicfile.WriteIn(dir, f.File, f.After, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUpdateGolden(t *testing.T) {
	_, sopts := startFixture(t)
	original := filepath.Join("testdata", "update", "original")
	expected := filepath.Join("testdata", "update", "expected")
	dir := copyTree(t, original)

	res, err := Update(context.Background(), dir, Options{Scan: sopts})
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	deliver(t, dir, res)
	got := readTree(t, dir)
	golden(t, expected, got)

	// Files without changes are not written, and are byte-for-byte the
	// originals.
	orig := readTree(t, original)
	var written []string
	for _, f := range res.Files {
		written = append(written, f.File)
		if string(f.Before) != orig[f.File] {
			t.Errorf("%s: Before is not the original content", f.File)
		}
	}
	wantWritten := []string{"apps/deployment.yaml", "apps/kustomization.yaml", "apps/multi.yaml", "legacy/workloads.yaml"}
	if diff := cmp.Diff(wantWritten, written); diff != "" {
		t.Errorf("written files (-want +got):\n%s", diff)
	}
	for _, f := range []string{"apps/unmarked.yaml", "apps/current.yml", "flux-system/image-automation.yaml"} {
		if got[f] != orig[f] {
			t.Errorf("%s changed but has nothing to update", f)
		}
	}

	// The change set is data: check a few entries exactly.
	find := func(file, container, marker string) *Change {
		for i := range res.Changes {
			c := &res.Changes[i]
			if c.File == file && c.Container == container && c.Marker == marker {
				return c
			}
		}
		t.Fatalf("no change for %s %s %s in %+v", file, container, marker, res.Changes)
		return nil
	}
	c := find("apps/deployment.yaml", "podinfo", "flux-system:podinfo")
	if c.Old != "registry.test/apps/podinfo:5.0.3" || c.New != "registry.test/apps/podinfo:5.1.0" || c.Object.String() != "Deployment/apps/podinfo" || c.Line != 19 {
		t.Errorf("podinfo change = %+v", c)
	}
	c = find("legacy/workloads.yaml", "sidecar", "")
	if c.New != "registry.test/apps/legacy:master-bbb" || c.Policy != "glob:master-*" {
		t.Errorf("v1 glob change = %+v", c)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "other-ns:not-here") {
		t.Errorf("warnings = %q, want one about the undeclared policy other-ns:not-here", res.Warnings)
	}
	statuses := map[Status]int{}
	for _, e := range res.Entries {
		statuses[e.Status]++
	}
	if diff := cmp.Diff(map[Status]int{StatusUpdate: len(res.Changes), StatusUpToDate: 2, StatusLocked: 2, StatusSkipped: 1}, statuses); diff != "" {
		t.Errorf("entry statuses (-want +got):\n%s", diff)
	}
}

func TestUpdateDryRun(t *testing.T) {
	_, sopts := startFixture(t)
	dir := copyTree(t, filepath.Join("testdata", "update", "original"))
	before := readTree(t, dir)
	res, err := Update(context.Background(), dir, Options{Scan: sopts, Paths: []string{"apps", "flux-system"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, readTree(t, dir)); diff != "" {
		t.Errorf("dry run wrote files:\n%s", diff)
	}
	diff := res.Diff()
	for _, want := range []string{
		"--- a/apps/deployment.yaml\n+++ b/apps/deployment.yaml\n",
		`-          image: "registry.test/apps/podinfo:5.0.3" # {"$imagepolicy": "flux-system:podinfo"}` + "\n" +
			`+          image: "registry.test/apps/podinfo:5.1.0" # {"$imagepolicy": "flux-system:podinfo"}`,
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "legacy/") {
		t.Errorf("diff covers legacy/, outside --path:\n%s", diff)
	}
}

func TestUpdateStrict(t *testing.T) {
	_, sopts := startFixture(t)
	dir := copyTree(t, filepath.Join("testdata", "update", "original"))
	res, err := Update(context.Background(), dir, Options{Scan: sopts, Strict: true})
	if err == nil || !strings.Contains(err.Error(), "apps/deployment.yaml:29") || !strings.Contains(err.Error(), "other-ns:not-here") {
		t.Fatalf("Update(strict) error = %v, want one naming apps/deployment.yaml:29 and other-ns:not-here", err)
	}
	if len(res.Changes) == 0 {
		t.Error("strict mode dropped the changes it could make")
	}
}

func TestBadInput(t *testing.T) {
	_, sopts := startFixture(t)
	policies := `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: ns}
spec: {image: registry.test/apps/podinfo}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: gone, namespace: ns}
spec: {image: registry.test/apps/does-not-exist}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: gone, namespace: ns}
spec:
  imageRepositoryRef: {name: gone}
  policy: {semver: {range: ">=1.0.0"}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: ok, namespace: ns}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: ">=1.0.0"}}
`
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string
		// wantNew is the content of app.yaml afterwards; "" means unchanged.
		wantApp string
	}{
		{
			name:    "malformed marker",
			files:   map[string]string{"app.yaml": "kind: Pod\nspec:\n  containers:\n  - image: a:1 # {\"$imagepolicy\": \"ns/ok\"}\n"},
			wantErr: []string{"app.yaml:4", "malformed image policy marker", "namespace:name"},
		},
		{
			name:    "invalid semver range",
			files:   map[string]string{"p.yaml": "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: x, namespace: ns}\nspec:\n  imageRepositoryRef: {name: podinfo}\n  policy:\n    semver:\n      range: '>>1.0'\n"},
			wantErr: []string{"p.yaml:8", "ImagePolicy.image.toolkit.fluxcd.io/ns/x", `invalid semver range ">>1.0"`},
		},
		{
			name:    "repository that does not exist",
			files:   map[string]string{"app.yaml": "kind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - image: a:1 # {\"$imagepolicy\": \"ns:gone\"}\n  - image: registry.test/apps/podinfo:5.0.0 # {\"$imagepolicy\": \"ns:ok\"}\n"},
			wantErr: []string{"app.yaml:5", "Pod/ns/p", "registry.test/apps/does-not-exist", "does not exist"},
			wantApp: "kind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - image: a:1 # {\"$imagepolicy\": \"ns:gone\"}\n  - image: registry.test/apps/podinfo:5.1.0 # {\"$imagepolicy\": \"ns:ok\"}\n",
		},
		{
			name:    "v1 annotation with invalid pattern",
			files:   map[string]string{"app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: ns\n  annotations:\n    fluxcd.io/automated: 'true'\n    fluxcd.io/tag.c: regex:(\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: registry.test/apps/legacy:1\n"},
			wantErr: []string{"app.yaml:8", "Deployment/ns/d", "container c", "invalid regex"},
		},
		{
			name:    "not YAML",
			files:   map[string]string{"app.yaml": "kind: Pod\n  image: [a # {\"$imagepolicy\": \"ns:ok\"}\n"},
			wantErr: []string{"app.yaml", "not valid YAML"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.files["policies.yaml"] = policies
			for f, c := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Update(context.Background(), dir, Options{Scan: sopts})
			if err == nil {
				t.Fatal("Update() succeeded")
			}
			deliver(t, dir, res)
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			app, _ := os.ReadFile(filepath.Join(dir, "app.yaml"))
			want := tt.wantApp
			if want == "" {
				want = tt.files["app.yaml"]
			}
			if string(app) != want {
				t.Errorf("app.yaml afterwards:\n%s\nwant:\n%s", app, want)
			}
		})
	}
}

func TestSecretRefAuth(t *testing.T) {
	_, sopts := startFixture(t, registrytest.WithBasicAuth("robot", "pa55"))
	tree := func(user, pass string) string {
		return `apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: ns}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths": {"registry.test": {"username": "` + user + `", "password": "` + pass + `"}}}'
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: ns}
spec:
  image: registry.test/apps/podinfo
  secretRef: {name: regcred}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: ns}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: "^5.0.0"}}
---
kind: Pod
metadata: {name: p, namespace: ns}
spec:
  containers:
  - image: registry.test/apps/podinfo:5.0.0 # {"$imagepolicy": "ns:podinfo"}
`
	}
	tests := []struct {
		name, user, pass string
		secrets          map[string][]byte
		wantErr          string
	}{
		{name: "secret in the tree", user: "robot", pass: "pa55"},
		{name: "wrong password", user: "robot", pass: "nope", wantErr: "access denied"},
		{name: "caller's secret wins", user: "robot", pass: "nope",
			secrets: map[string][]byte{"ns/regcred": []byte(`{"auths": {"registry.test": {"auth": "cm9ib3Q6cGE1NQ=="}}}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := loadString(t, tree(tt.user, tt.pass))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Resolve(context.Background(), src, Options{Scan: sopts, Secrets: tt.secrets})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), tt.pass) {
					t.Fatalf("Resolve() error = %v, want %q without the password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []Change{{File: "all.yaml", Line: 26, Marker: "ns:podinfo", Policy: "ns:podinfo", Repository: "registry.test/apps/podinfo", Old: "registry.test/apps/podinfo:5.0.0", New: "registry.test/apps/podinfo:5.1.0"}}
			if diff := cmp.Diff(want, plan.Changes, cmpopts.IgnoreFields(Change{}, "Object")); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func loadString(t *testing.T, content string) (*Sources, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(dir)
}

// TestPolicyWithoutNamespace resolves a marker against an ImagePolicy whose
// file leaves the namespace to kustomize, and applies a custom
// exclusionList instead of the default one.
func TestPolicyWithoutNamespace(t *testing.T) {
	_, sopts := startFixture(t)
	src, err := loadString(t, `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: builds}
spec:
  image: registry.test/apps/builds
  exclusionList: ['^pr-', '^zzz']
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: builds}
spec:
  imageRepositoryRef: {name: builds}
  policy: {alphabetical: {order: asc}}
---
kind: Pod
metadata: {name: p, namespace: apps}
spec:
  containers:
  - image: registry.test/apps/builds:main-a1b2c3-1700000100 # {"$imagepolicy": "flux-system:builds"}
`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Resolve(context.Background(), src, Options{Scan: sopts, Tags: 10})
	if err != nil {
		t.Fatal(err)
	}
	e := plan.Entries[0]
	if e.Latest != "main-d4e5f6-1700000900" || e.New != "registry.test/apps/builds:main-d4e5f6-1700000900" {
		t.Errorf("entry = %+v", e)
	}
	if diff := cmp.Diff([]string{"main-d4e5f6-1700000900", "main-a1b2c3-1700000100", "main-0a0b0c-1700000500"}, e.Tags); diff != "" {
		t.Errorf("candidate tags (-want +got):\n%s", diff)
	}
}

// golden compares the rewritten tree got with the tree expected holds,
// after writing got there with -update.
func golden(t *testing.T, expected string, got map[string]string) {
	t.Helper()
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
}
