package propose

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"text/template"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/object"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestSplitRef(t *testing.T) {
	for _, tc := range []struct{ ref, image, version string }{
		{"ghcr.io/acme/web:1.2.3", "ghcr.io/acme/web", "1.2.3"},
		{"localhost:5000/web:1.0", "localhost:5000/web", "1.0"},
		{"localhost:5000/web", "localhost:5000/web", "localhost:5000/web"},
		{"nginx:1.27@sha256:abc", "nginx", "1.27"},
		{"ghcr.io/acme/web@sha256:abc", "ghcr.io/acme/web", "sha256:abc"},
		{"1.2.3", "", "1.2.3"},
		{"nginx:1.27", "nginx", "1.27"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			image, version := splitRef(tc.ref)
			if image != tc.image || version != tc.version {
				t.Errorf("splitRef(%q) = %q, %q; want %q, %q", tc.ref, image, version, tc.image, tc.version)
			}
		})
	}
}

func TestPolicyIDIsStable(t *testing.T) {
	// The ID names branches across runs and releases: changing it opens a
	// second pull request next to every existing one.
	if got, want := policyID([]string{"flux-system:api", "flux-system:web"}), "e7a36242a271"; got != want {
		t.Errorf("policyID = %q, want %q", got, want)
	}
	if policyID([]string{"a"}) == policyID([]string{"b"}) {
		t.Error("different policy sets share an ID")
	}
}

func TestValidBranch(t *testing.T) {
	for _, b := range []string{"tidegate/images/abc", "bump-1.2"} {
		if err := validBranch(b); err != nil {
			t.Errorf("validBranch(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "a b", "a..b", "x.lock", "/a", "a/", "a:b", "-x", "a~1"} {
		if err := validBranch(b); err == nil {
			t.Errorf("validBranch(%q) accepted an invalid name", b)
		}
	}
}

func fixturePlan() *images.Plan {
	dep := func(name string) object.ID {
		return object.ID{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: name}
	}
	return &images.Plan{
		Entries: []images.Entry{
			{File: "apps/web.yaml", Object: dep("web"), Marker: "flux-system:web", Policy: "flux-system:web"},
			{File: "apps/api.yaml", Object: dep("api"), Marker: "flux-system:api", Policy: "flux-system:api"},
			{File: "apps/db.yaml", Object: dep("db"), Marker: "flux-system:db", Policy: "flux-system:db"},
			{File: "legacy/old.yaml", Object: dep("old"), Container: "app", Policy: "semver:~3.1"},
		},
		Changes: []images.Change{
			{File: "apps/web.yaml", Line: 12, Object: dep("web"), Marker: "flux-system:web", Policy: "flux-system:web", Old: "reg.example/acme/web:1.0.0", New: "reg.example/acme/web:1.1.0"},
			{File: "apps/api.yaml", Line: 9, Object: dep("api"), Marker: "flux-system:api", Policy: "flux-system:api", Old: "reg.example/acme/api:2.0.0", New: "reg.example/acme/api:2.1.0"},
			{File: "apps/api.yaml", Line: 20, Object: dep("api"), Container: "sidecar", Marker: "flux-system:api", Policy: "flux-system:api", Old: "reg.example/acme/api:2.0.0", New: "reg.example/acme/api:2.1.0"},
			{File: "legacy/old.yaml", Line: 7, Object: dep("old"), Container: "app", Policy: "semver:~3.1", Old: "reg.example/old:3.1.2", New: "reg.example/old:3.1.9"},
		},
	}
}

func TestGroups(t *testing.T) {
	plan := fixturePlan()
	var got []string
	for _, g := range groups(plan, false) {
		got = append(got, g.policies...)
		for _, c := range g.changes {
			if k := policyKey(c.Marker, c.Policy, c.Object.String()); k != g.policies[0] {
				t.Errorf("group %v holds a change of %s", g.policies, k)
			}
		}
	}
	want := []string{"Deployment/apps/old", "flux-system:api", "flux-system:web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-policy groups (-want +got):\n%s", diff)
	}
	grouped := groups(plan, true)
	if len(grouped) != 1 || len(grouped[0].changes) != 4 {
		t.Fatalf("grouped = %+v, want one group with 4 changes", grouped)
	}
	// db has no change but belongs to the set, so the branch does not move
	// when it gets one.
	want = []string{"Deployment/apps/old", "flux-system:api", "flux-system:db", "flux-system:web"}
	if diff := cmp.Diff(want, grouped[0].policies); diff != "" {
		t.Errorf("grouped policy set (-want +got):\n%s", diff)
	}
	if groups(&images.Plan{Entries: plan.Entries}, true) != nil {
		t.Error("a plan without changes gives a group")
	}
}

func TestDefaultTemplates(t *testing.T) {
	tmpl, err := parseTemplates(Options{}.withDefaults(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := newData(groups(fixturePlan(), true)[0], "main")
	branch, err := render(tmpl.branch, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Branch = branch
	msg, err := render(tmpl.message, d)
	if err != nil {
		t.Fatal(err)
	}
	body, err := render(tmpl.body, d)
	if err != nil {
		t.Fatal(err)
	}
	got := "branch: " + branch + "\ntitle: " + titleOf(msg) + "\n\n--- message ---\n" + msg + "--- body ---\n" + body
	golden(t, "templates.golden", got)
}

func TestBadTemplates(t *testing.T) {
	for name, o := range map[string]Options{
		"syntax":        {MessageTemplate: "{{.Bumps"},
		"unknown field": {BranchTemplate: "x/{{.Nope}}"},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl, err := parseTemplates(o.withDefaults(nil))
			if err == nil {
				_, err = render(tmpl.branch, newData(groups(fixturePlan(), true)[0], "main"))
			}
			if err == nil {
				t.Fatal("bad template accepted")
			}
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// BenchmarkRender measures planning one grouped proposal of 500 bumps:
// grouping, sorting, and the default branch, message and body templates.
func BenchmarkRender(b *testing.B) {
	plan := &images.Plan{}
	for i := range 500 {
		id := object.ID{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: fmt.Sprintf("app-%03d", i)}
		policy := fmt.Sprintf("flux-system:app-%03d", i)
		plan.Entries = append(plan.Entries, images.Entry{File: "apps/" + id.Name + ".yaml", Object: id, Marker: policy, Policy: policy})
		plan.Changes = append(plan.Changes, images.Change{File: "apps/" + id.Name + ".yaml", Line: 10, Object: id, Marker: policy, Policy: policy,
			Old: "ghcr.io/acme/" + id.Name + ":1.0.0", New: "ghcr.io/acme/" + id.Name + ":1.1.0"})
	}
	tmpl, err := parseTemplates(Options{}.withDefaults(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, g := range groups(plan, true) {
			d := newData(g, "main")
			for _, t := range []*template.Template{tmpl.branch, tmpl.message, tmpl.body} {
				if _, err := render(t, d); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func TestBranchSafe(t *testing.T) {
	for in, want := range map[string]string{
		"flux-system:web":     "flux-system-web",
		"Deployment/apps/old": "deployment-apps-old",
		"semver:~3.1":         "semver-3.1",
		"ns:a..b":             "ns-a.b",
	} {
		if got := BranchSafe(in); got != want {
			t.Errorf("BranchSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBareTagBump: a change whose value is a tag alone (a :tag marker,
// a Helm values tag field) takes its image from the change's repository,
// so the pull request names what is bumped.
func TestBareTagBump(t *testing.T) {
	hr := object.ID{Group: "helm.fluxcd.io", Kind: "HelmRelease", Namespace: "apps", Name: "web"}
	g := group{policies: []string{hr.String()}, changes: []images.Change{
		{File: "apps/web.yaml", Line: 14, Object: hr, Container: "chart-image", Policy: "semver:~1.0", Repository: "reg.example/acme/web", Old: "1.0.0", New: "1.0.3"},
		{File: "apps/web.yaml", Line: 20, Object: hr, Container: "worker", Policy: "glob:*", Old: "2.0", New: "2.1"},
	}}
	d := newData(g, "main")
	var got []string
	for _, b := range d.Bumps {
		got = append(got, b.Image+" "+b.Short())
	}
	want := []string{"reg.example/acme/web web:1.0.0 → 1.0.3", " *:2.0 → 2.1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bumps (-want +got):\n%s", diff)
	}
}
