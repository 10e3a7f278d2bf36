package bootstrap

import (
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

func mustImage(t *testing.T, ref string) Image {
	t.Helper()
	img, err := ParseImage(ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func unmarshal(t *testing.T, name string, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not YAML: %v\n%s", name, err, b)
	}
	return m
}

// TestTemplatesRender renders every embedded template with values YAML
// could misread (a boolean-looking branch, a quote, ": " and " #"), and
// reads the result back: each value must come back as the string it was.
func TestTemplatesRender(t *testing.T) {
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	rendered := map[string]bool{}
	paths := []string{"clusters/prod", "odd: path #1"}
	img := mustImage(t, "registry.example/mirror/tidegate:v0.3.0")

	t.Run("github-workflow.yml.tmpl", func(t *testing.T) {
		rendered["templates/github-workflow.yml.tmpl"] = true
		for _, base := range []string{"main", "yes", "it's"} {
			b, err := GitHubWorkflowFile(paths, "prod", base, "v0.3.0")
			if err != nil {
				t.Fatal(err)
			}
			var wf struct {
				// YAML 1.1 reads the key on as true; GitHub reads YAML 1.2.
				On struct {
					Push struct{ Branches []string } `json:"push"`
				} `json:"true"`
				Jobs map[string]struct {
					If    string `json:"if"`
					Steps []struct {
						Uses string            `json:"uses"`
						With map[string]string `json:"with"`
					} `json:"steps"`
				} `json:"jobs"`
			}
			if err := yaml.Unmarshal(b, &wf); err != nil {
				t.Fatalf("base %q: %v\n%s", base, err, b)
			}
			if d := cmp.Diff([]string{base}, wf.On.Push.Branches); d != "" {
				t.Errorf("base %q: push branches (-want +got):\n%s", base, d)
			}
			if want := "github.ref == 'refs/heads/" + strings.ReplaceAll(base, "'", "''") + "'"; !strings.HasSuffix(wf.Jobs["reconcile"].If, want) {
				t.Errorf("base %q: reconcile runs if %q, want it to end in %q", base, wf.Jobs["reconcile"].If, want)
			}
			for _, job := range []string{"diff", "reconcile", "images"} {
				step := wf.Jobs[job].Steps[1]
				if step.Uses != "tidegate/tidegate@v0.3.0" || step.With["paths"] != strings.Join(paths, ",") {
					t.Errorf("job %s runs %s with %v", job, step.Uses, step.With)
				}
			}
			if got := wf.Jobs["diff"].Steps[1].With["kubeconfig"]; got != "${{ secrets.KUBECONFIG }}" {
				t.Errorf("diff reads the kubeconfig from %q", got)
			}
			if got := wf.Jobs["reconcile"].Steps[1].With["extra-args"]; got != "--inventory-name prod" {
				t.Errorf("reconcile has extra-args %q", got)
			}
		}
	})

	t.Run("gitlab-ci.yml.tmpl", func(t *testing.T) {
		rendered["templates/gitlab-ci.yml.tmpl"] = true
		b, err := GitLabCI(paths, "true", img)
		if err != nil {
			t.Fatal(err)
		}
		var ci struct {
			Include   []map[string]string `json:"include"`
			Variables map[string]string   `json:"variables"`
			Diff      map[string]string   `json:"diff"`
		}
		if err := yaml.Unmarshal(b, &ci); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		want := map[string]string{"TIDEGATE_IMAGE": img.Ref, "TIDEGATE_PATHS": strings.Join(paths, ","), "TIDEGATE_INVENTORY_NAME": "true"}
		if d := cmp.Diff(want, ci.Variables); d != "" {
			t.Errorf("variables (-want +got):\n%s", d)
		}
		if len(ci.Include) != 1 || ci.Include[0]["remote"] != GitLabTemplateURL("v0.3.0") || ci.Diff["extends"] != ".tidegate-diff" {
			t.Errorf("include %v, diff %v", ci.Include, ci.Diff)
		}
	})

	t.Run("sops.yaml.tmpl", func(t *testing.T) {
		rendered["templates/sops.yaml.tmpl"] = true
		b, err := SOPSConfig(append([]string{"."}, paths...), recipient)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Rules []struct {
				PathRegex      string `json:"path_regex"`
				EncryptedRegex string `json:"encrypted_regex"`
				Age            string `json:"age"`
			} `json:"creation_rules"`
		}
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if len(cfg.Rules) != 3 {
			t.Fatalf("%d rules, want 3:\n%s", len(cfg.Rules), b)
		}
		for i, file := range []string{"x/secret.yaml", "clusters/prod/secret.yml", "odd: path #1/s.yaml"} {
			r := cfg.Rules[i]
			if !regexp.MustCompile(r.PathRegex).MatchString(file) || r.Age != recipient || r.EncryptedRegex != "^(data|stringData)$" {
				t.Errorf("rule %d %+v does not encrypt %s for %s", i, r, file, recipient)
			}
		}
		if regexp.MustCompile(cfg.Rules[1].PathRegex).MatchString("clusters/production/secret.yaml") {
			t.Errorf("rule %q matches a sibling directory", cfg.Rules[1].PathRegex)
		}
	})

	t.Run("cronjob-kustomization.yaml.tmpl", func(t *testing.T) {
		rendered["templates/cronjob-kustomization.yaml.tmpl"] = true
		for _, tc := range []struct {
			rbac string
			nss  []string
			ssh  bool
			img  Image
		}{
			{"cluster", nil, false, img},
			{"cluster", nil, true, mustImage(t, "registry.example/t@sha256:"+strings.Repeat("ab", 32))},
			{"namespaced", []string{"shop", "web"}, true, img},
		} {
			files, err := Files(Config{Home: HomeCronJob, Paths: paths, Inventory: "prod", Image: tc.img, AgeRecipient: recipient,
				Dir: "tidegate", RBAC: tc.rbac, Namespaces: tc.nss, CloneURL: "git@example.com:acme/fleet.git", SSHKey: tc.ssh})
			if err != nil {
				t.Fatal(err)
			}
			top := unmarshal(t, "kustomization.yaml", files["tidegate/kustomization.yaml"])
			res, _ := top["resources"].([]any)
			if len(res) != 2+len(tc.nss) || res[1] != "rbac/"+tc.rbac {
				t.Errorf("%s: resources %v", tc.rbac, res)
			}
			objs := build(t, files, "tidegate")
			var cronJob map[string]any
			roleBindings := 0
			for _, o := range objs {
				switch o["kind"] {
				case "CronJob":
					cronJob = o
				case "RoleBinding":
					if ns, _ := o["metadata"].(map[string]any)["namespace"].(string); slices.Contains(tc.nss, ns) {
						roleBindings++
					}
				}
			}
			if cronJob == nil || roleBindings != len(tc.nss) {
				t.Fatalf("%s: built %d objects, no CronJob or %d RoleBindings in %v", tc.rbac, len(objs), roleBindings, tc.nss)
			}
			pod := dig(cronJob, "spec", "jobTemplate", "spec", "template", "spec")
			cs, _ := pod["containers"].([]any)
			if len(cs) != 1 {
				t.Fatalf("containers %v", cs)
			}
			c := cs[0].(map[string]any)
			if c["image"] != tc.img.Ref {
				t.Errorf("the CronJob runs %v, want %s", c["image"], tc.img.Ref)
			}
			hasSSH := slices.ContainsFunc(pod["volumes"].([]any), func(v any) bool { return v.(map[string]any)["name"] == "ssh" })
			if hasSSH != tc.ssh {
				t.Errorf("ssh volume %v, want %v", hasSSH, tc.ssh)
			}
		}
	})

	for _, n := range names {
		if !rendered[n] {
			t.Errorf("template %s is embedded but no test renders it", n)
		}
	}
	if len(names) != len(rendered) {
		t.Errorf("rendered %d templates, embedded %d", len(rendered), len(names))
	}
}

func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, _ := m[k].(map[string]any)
		if next == nil {
			return map[string]any{}
		}
		m = next
	}
	return m
}

// build runs kustomize on the files in memory, as kubectl apply -k would.
func build(t *testing.T, files map[string][]byte, dir string) []map[string]any {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	for p, b := range files {
		if err := mem.MkdirAll(path.Dir(p)); err != nil {
			t.Fatal(err)
		}
		if err := mem.WriteFile(p, b); err != nil {
			t.Fatal(err)
		}
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []map[string]any
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestSetLiterals(t *testing.T) {
	in := "configMapGenerator:\n  - name: c\n    # keep me\n    literals:\n      - A=1\n      - B=2\nother: x\n"
	got, err := setLiterals([]byte(in), [][2]string{{"B", "two: 2"}, {"C", "3"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "configMapGenerator:\n  - name: c\n    # keep me\n    literals:\n      - A=1\n      - \"B=two: 2\"\n      - C=3\nother: x\n"
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := setLiterals([]byte("resources: []\n"), nil); err == nil || !strings.Contains(err.Error(), "no configMapGenerator literals") {
		t.Errorf("no literals list: err %v", err)
	}
}

func TestYAMLScalar(t *testing.T) {
	for in, want := range map[string]string{
		"clusters/prod": "clusters/prod", "yes": `"yes"`, "1.5": `"1.5"`, "a: b": `"a: b"`, "a #b": `"a #b"`,
		"-x": "-x", "- x": `"- x"`, " lead": `" lead"`, "@v1": `"@v1"`, "": `""`,
	} {
		if got := yamlScalar(in); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := yaml.Unmarshal([]byte("v: "+yamlScalar(in)), &struct{ V *string }{&back}); err != nil || back != in {
			t.Errorf("yamlScalar(%q) reads back as %q (%v)", in, back, err)
		}
	}
}

func TestParseImage(t *testing.T) {
	if _, err := ParseImage("ghcr.io/tidegate/tidegate:latest"); err == nil || !strings.Contains(err.Error(), ":latest") {
		t.Errorf(":latest: err %v", err)
	}
	if _, err := ParseImage("not a ref"); err == nil || !strings.Contains(err.Error(), `--image "not a ref"`) {
		t.Errorf("bad ref: err %v", err)
	}
	img := mustImage(t, "registry.example/x:v1.2.3")
	if img.Repository != "registry.example/x" || img.Tag != "v1.2.3" || img.Release != "v1.2.3" {
		t.Errorf("%+v", img)
	}
}
