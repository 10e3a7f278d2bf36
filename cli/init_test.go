package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	sopsconfig "github.com/getsops/sops/v3/config"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/bootstrap"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/internal/testenv/gitea"
	"github.com/tidegate/tidegate/internal/version"
	"github.com/tidegate/tidegate/render"
)

// initRepo is a working tree with an origin remote and one manifest under
// clusters/prod, the state `tidegate init` usually finds.
func initRepo(t *testing.T, origin string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "clusters", "prod"), 0o755); err != nil {
		t.Fatal(err)
	}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  a: b\n"
	if err := os.WriteFile(filepath.Join(dir, "clusters", "prod", "settings.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	cliGit(t, dir, "init", "-q", "-b", "main")
	if origin != "" {
		cliGit(t, dir, "remote", "add", "origin", origin)
	}
	return dir
}

// runInit runs c and returns its exit code, stdout and stderr.
func runInit(t *testing.T, c *InitCmd, output string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &Globals{Stdout: &out, Stderr: &errb, LogLevel: "info", Output: output, Getenv: func(string) string { return "" }}
	err := c.Run(context.Background(), g)
	if err != nil && Code(err) != ExitChanges {
		errb.WriteString(err.Error())
	}
	return Code(err), out.String(), errb.String()
}

// repoFilesOf lists the files of a working tree outside .git, slash-separated.
func repoFilesOf(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// noPrivateKeys fails when a private key's text reached an output.
func noPrivateKeys(t *testing.T, where string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, marker := range []string{"PRIVATE KEY", "AGE-SECRET-KEY", "b3BlbnNzaC1rZXktdjE"} {
			if strings.Contains(s, marker) {
				t.Errorf("%s holds private key material (%q):\n%s", where, marker, s)
			}
		}
	}
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkKeyFile asserts a private key file is the owner's alone.
func checkKeyFile(t *testing.T, p string) []byte {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 600", p, fi.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInitCronJob(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	repo := initRepo(t, "https://github.com/acme/fleet.git")
	keys := t.TempDir()
	ageFile, deployFile := filepath.Join(keys, "age.agekey"), filepath.Join(keys, "sub", "deploy-key")
	cmd := func() *InitCmd {
		return &InitCmd{
			SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}},
			Home:        "cronjob", Dir: "tidegate", RBAC: "namespaced", Namespace: []string{ns},
			AgeKeyOut: ageFile, DeployKeyOut: deployFile,
		}
	}
	code, out, errOut := runInit(t, cmd(), "text")
	if code != ExitOK {
		t.Fatalf("init: exit %d\n%s\n%s", code, out, errOut)
	}
	noPrivateKeys(t, "output", out, errOut)

	want := []string{
		".sops.yaml",
		"clusters/prod/settings.yaml",
		"tidegate/base/cronjob.yaml",
		"tidegate/base/kustomization.yaml",
		"tidegate/base/namespace.yaml",
		"tidegate/base/serviceaccount.yaml",
		"tidegate/kustomization.yaml",
		"tidegate/rbac/namespaced/clusterrole.yaml",
		"tidegate/rbac/namespaced/kustomization.yaml",
		"tidegate/rbac/namespaced/rolebinding-inventory.yaml",
		"tidegate/rolebinding-" + ns + ".yaml",
	}
	if diff := cmp.Diff(want, repoFilesOf(t, repo)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for _, f := range want {
		var v any
		if err := yaml.Unmarshal([]byte(readText(t, filepath.Join(repo, f))), &v); err != nil {
			t.Errorf("%s is not YAML: %v", f, err)
		}
	}

	// The keys: files of the owner alone, in the formats tidegate and ssh read.
	signer, err := ssh.ParsePrivateKey(checkKeyFile(t, deployFile))
	if err != nil {
		t.Fatalf("deploy key: %v", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " tidegate@acme/fleet"
	if !strings.Contains(out, pub) {
		t.Errorf("output does not show the public key %q:\n%s", pub, out)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(checkKeyFile(t, ageFile)))
	if err != nil || len(ids) != 1 {
		t.Fatalf("age key file: %v, %d identities", err, len(ids))
	}
	recipient := ids[0].(*age.X25519Identity).Recipient().String()
	if !strings.Contains(out, recipient) {
		t.Errorf("output does not show the recipient %s:\n%s", recipient, out)
	}
	for _, s := range []string{"kubectl apply -k tidegate", "--from-file=age.agekey=" + ageFile, "--from-file=identity=" + deployFile, "ssh-keyscan github.com", "--install-deploy-key"} {
		if !strings.Contains(out, s) {
			t.Errorf("next steps lack %q:\n%s", s, out)
		}
	}

	// The manifests build, and say what the CronJob reads.
	res, err := render.Render(ctx, repo, []string{"tidegate"}, render.Options{})
	if err != nil {
		t.Fatalf("render the generated manifests: %v", err)
	}
	var kinds []string
	var cm, cron *unstructured.Unstructured
	for _, o := range res.Objects {
		kinds = append(kinds, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
		switch o.GetKind() {
		case "ConfigMap":
			cm = o
		case "CronJob":
			cron = o
		}
	}
	slices.Sort(kinds)
	wantKinds := []string{"ClusterRole//tidegate-namespaced", "ConfigMap/tidegate-system/" + cm.GetName(), "CronJob/tidegate-system/tidegate", "Namespace//tidegate-system",
		"RoleBinding/" + ns + "/tidegate", "RoleBinding/tidegate-system/tidegate", "ServiceAccount/tidegate-system/tidegate"}
	slices.Sort(wantKinds)
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("rendered objects (-want +got):\n%s", diff)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	for k, v := range map[string]string{
		"TIDEGATE_SOURCE":              "git@github.com:acme/fleet.git",
		"TIDEGATE_PATHS":               "clusters/prod",
		"TIDEGATE_INVENTORY_NAME":      "prod",
		"TIDEGATE_INVENTORY_NAMESPACE": "tidegate-system",
		"TIDEGATE_ALLOW_NAMESPACES":    ns,
		"TIDEGATE_SSH_KEY_FILE":        "/etc/tidegate/ssh/identity",
		"TIDEGATE_KNOWN_HOSTS":         "/etc/tidegate/ssh/known_hosts",
	} {
		if data[k] != v {
			t.Errorf("tidegate-config %s = %q, want %q", k, data[k], v)
		}
	}
	// No --image: this tidegate's release (a test binary: the pinned one).
	containers, _, _ := unstructured.NestedSlice(cron.Object, "spec", "jobTemplate", "spec", "template", "spec", "containers")
	if img := containers[0].(map[string]any)["image"]; img != "ghcr.io/tidegate/tidegate:"+version.Pinned {
		t.Errorf("the CronJob runs %v, want ghcr.io/tidegate/tidegate:%s", img, version.Pinned)
	}
	vols, _, _ := unstructured.NestedSlice(cron.Object, "spec", "jobTemplate", "spec", "template", "spec", "volumes")
	if !strings.Contains(toJSON(t, vols), `"secretName":"tidegate-ssh"`) {
		t.Errorf("the CronJob does not mount the deploy key Secret: %s", toJSON(t, vols))
	}

	// .sops.yaml is what sops reads: the rule for a file under the path
	// names the new recipient, and a Secret encrypted for it decrypts with
	// the new key.
	secretPath := filepath.Join(repo, "clusters", "prod", "secret.yaml")
	conf, err := sopsconfig.LoadCreationRuleForFile(filepath.Join(repo, ".sops.yaml"), secretPath, nil)
	if err != nil || conf == nil {
		t.Fatalf("sops reads .sops.yaml: %v", err)
	}
	if len(conf.KeyGroups) != 1 || len(conf.KeyGroups[0]) != 1 || conf.KeyGroups[0][0].ToString() != recipient || conf.EncryptedRegex != "^(data|stringData)$" {
		t.Fatalf("creation rule = %+v, want recipient %s and data|stringData", conf, recipient)
	}
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\nstringData:\n  password: hunter2\n"
	if err := os.WriteFile(secretPath, sopstest.EncryptYAML(t, conf.KeyGroups[0][0].ToString(), []byte(plain)), 0o644); err != nil {
		t.Fatal(err)
	}
	dec, err := render.Render(ctx, repo, []string{"clusters/prod"}, render.Options{Keys: render.Keys{Age: []string{readText(t, ageFile)}}})
	if err != nil {
		t.Fatalf("decrypt with the generated key: %v", err)
	}
	if got := toJSON(t, dec.Objects); !strings.Contains(got, "hunter2") {
		t.Errorf("the Secret did not decrypt: %s", got)
	}
	os.Remove(secretPath)

	// The manifests install on a real API server.
	rc := reconcileCmd(repo, ns)
	rc.Path, rc.Wait, rc.InventoryName = []string{"tidegate"}, false, "tidegate-install"
	g, rout := clusterGlobals(t, "text")
	if err := rc.Run(ctx, g); err != nil {
		t.Fatalf("apply the generated manifests: %v\n%s", err, rout)
	}
	if _, err := env.Client().BatchV1().CronJobs("tidegate-system").Get(ctx, "tidegate", metav1.GetOptions{}); err != nil {
		t.Errorf("CronJob after the install: %v", err)
	}

	// A second run changes nothing and keeps the keys.
	before := map[string]string{ageFile: readText(t, ageFile), deployFile: readText(t, deployFile)}
	code, out, errOut = runInit(t, cmd(), "json")
	if code != ExitOK {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	noPrivateKeys(t, "second run's output", out, errOut)
	var second initResult
	if err := json.Unmarshal([]byte(out), &second); err != nil {
		t.Fatal(err)
	}
	for _, f := range second.Files {
		if f.Action != bootstrap.Unchanged {
			t.Errorf("second run: %s %s, want unchanged", f.Action, f.Path)
		}
	}
	if second.Changed || second.AgeKey.Created || second.DeployKey.Created || second.AgeKey.Recipient != recipient || !strings.HasPrefix(pub, second.DeployKey.PublicKey) {
		t.Errorf("second run = %+v, want the same keys and no change", second)
	}
	for p, text := range before {
		if readText(t, p) != text {
			t.Errorf("second run rewrote %s", p)
		}
	}

	// A file someone changed is left alone, unless --force.
	top := filepath.Join(repo, "tidegate", "kustomization.yaml")
	edited := readText(t, top) + "# mine\n"
	os.WriteFile(top, []byte(edited), 0o644)
	code, out, _ = runInit(t, cmd(), "text")
	if code != ExitOK || readText(t, top) != edited || !strings.Contains(out, "skipped         tidegate/kustomization.yaml (exists with other content; --force overwrites it)") {
		t.Errorf("edited file: exit %d, kept %v\n%s", code, readText(t, top) == edited, out)
	}
	forced := cmd()
	forced.Force = true
	code, out, _ = runInit(t, forced, "text")
	if code != ExitOK || strings.Contains(readText(t, top), "# mine") || !strings.Contains(out, "overwritten     tidegate/kustomization.yaml") {
		t.Errorf("--force: exit %d\n%s", code, out)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const testRecipient = "age1w0meyd2s9spxmaa3vmfjy0f5yjg6kjjq895hxaf028t8fz9rm4tqlka8pk"

func TestInitCIHomes(t *testing.T) {
	t.Run("github", func(t *testing.T) {
		repo := initRepo(t, "git@github.com:acme/fleet.git")
		c := &InitCmd{SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}}, Home: "github", AgeRecipient: testRecipient, InventoryName: "production"}
		code, out, errOut := runInit(t, c, "text")
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if diff := cmp.Diff([]string{".github/workflows/tidegate.yml", ".sops.yaml", "clusters/prod/settings.yaml"}, repoFilesOf(t, repo)); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
		var wf struct {
			Jobs map[string]struct {
				If          string            `json:"if"`
				Permissions map[string]string `json:"permissions"`
				Steps       []struct {
					Uses string            `json:"uses"`
					With map[string]string `json:"with"`
				} `json:"steps"`
			} `json:"jobs"`
		}
		if err := yaml.Unmarshal([]byte(readText(t, filepath.Join(repo, ".github/workflows/tidegate.yml"))), &wf); err != nil {
			t.Fatalf("workflow is not YAML: %v", err)
		}
		for job, command := range map[string]string{"diff": "diff", "reconcile": "reconcile", "images": "images-update"} {
			j := wf.Jobs[job]
			if len(j.Steps) != 2 || j.Steps[1].Uses != "tidegate/tidegate@"+version.Release() || j.Steps[1].With["command"] != command || j.Steps[1].With["paths"] != "clusters/prod" {
				t.Errorf("job %s = %+v", job, j)
			}
		}
		if w := wf.Jobs["diff"].Steps[1].With; w["kubeconfig"] != "${{ secrets.KUBECONFIG }}" || w["age-key"] != "${{ secrets.SOPS_AGE_KEY }}" || w["extra-args"] != "--inventory-name production" {
			t.Errorf("diff step inputs = %v", w)
		}
		if p := wf.Jobs["images"].Permissions; p["contents"] != "write" || p["pull-requests"] != "write" || wf.Jobs["diff"].Permissions != nil {
			t.Errorf("only the images job may write: %+v", wf.Jobs)
		}
		// GitHub reads `on` as a string (YAML 1.2); sigs.k8s.io/yaml, as YAML
		// 1.1's true.
		node, err := kyaml.Parse(readText(t, filepath.Join(repo, ".github/workflows/tidegate.yml")))
		if err != nil {
			t.Fatal(err)
		}
		for _, event := range []string{"push", "pull_request"} {
			branches, err := node.Pipe(kyaml.Lookup("on", event, "branches"))
			if err != nil || branches == nil || strings.TrimSpace(branches.MustString()) != "- main" {
				t.Errorf("on.%s.branches = %v, %v; want [main]", event, branches, err)
			}
		}
		if !strings.Contains(wf.Jobs["reconcile"].If, "github.ref == 'refs/heads/main'") {
			t.Errorf("reconcile does not follow main: %q", wf.Jobs["reconcile"].If)
		}
		if !strings.Contains(readText(t, filepath.Join(repo, ".sops.yaml")), "age: "+testRecipient) {
			t.Errorf(".sops.yaml lacks the given recipient")
		}
		if !strings.Contains(out, "gh secret set SOPS_AGE_KEY < YOUR_AGE_KEY_FILE") {
			t.Errorf("next steps:\n%s", out)
		}
	})

	t.Run("gitlab", func(t *testing.T) {
		repo := initRepo(t, "https://gitlab.example.com/acme/platform/fleet.git")
		c := &InitCmd{SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}}, Home: "gitlab", AgeRecipient: testRecipient}
		if code, out, errOut := runInit(t, c, "text"); code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		var ci struct {
			Include   []map[string]string          `json:"include"`
			Variables map[string]string            `json:"variables"`
			Jobs      map[string]map[string]string `json:"-"`
		}
		text := readText(t, filepath.Join(repo, ".gitlab-ci.yml"))
		if err := yaml.Unmarshal([]byte(text), &ci); err != nil {
			t.Fatalf(".gitlab-ci.yml is not YAML: %v", err)
		}
		if len(ci.Include) != 1 || ci.Include[0]["remote"] != bootstrap.GitLabTemplateURL(version.Release()) || ci.Variables["TIDEGATE_IMAGE"] != "ghcr.io/tidegate/tidegate:"+version.Release() || ci.Variables["TIDEGATE_PATHS"] != "clusters/prod" || ci.Variables["TIDEGATE_INVENTORY_NAME"] != "prod" {
			t.Errorf(".gitlab-ci.yml = %+v", ci)
		}
		var jobs map[string]map[string]any
		yaml.Unmarshal([]byte(text), &jobs)
		for job, tmpl := range map[string]string{"diff": ".tidegate-diff", "reconcile": ".tidegate-reconcile", "images": ".tidegate-images"} {
			if jobs[job]["extends"] != tmpl {
				t.Errorf("job %s extends %v, want %s", job, jobs[job]["extends"], tmpl)
			}
		}
		// The template defines every job extended.
		tmplText := readText(t, filepath.Join("..", ".gitlab-ci-template.yml"))
		for _, tmpl := range []string{".tidegate-diff:", ".tidegate-reconcile:", ".tidegate-images:"} {
			if !strings.Contains(tmplText, "\n"+tmpl) {
				t.Errorf("the template has no %s", tmpl)
			}
		}
	})

	t.Run("gitlab with a pipeline", func(t *testing.T) {
		repo := initRepo(t, "https://gitlab.example.com/acme/fleet.git")
		mine := "stages: [test]\ntest:\n  script: [make test]\n"
		os.WriteFile(filepath.Join(repo, ".gitlab-ci.yml"), []byte(mine), 0o644)
		c := &InitCmd{SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}}, Home: "gitlab", AgeRecipient: testRecipient, Force: true}
		code, out, errOut := runInit(t, c, "json")
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if readText(t, filepath.Join(repo, ".gitlab-ci.yml")) != mine {
			t.Error("the project's pipeline was overwritten")
		}
		var res initResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Snippet, bootstrap.GitLabTemplateURL(version.Release())) || !strings.Contains(strings.Join(res.NextSteps, "\n"), "Add the snippet below to .gitlab-ci.yml") {
			t.Errorf("no snippet to add: %+v", res)
		}
		// Once the include is in, there is nothing left to say.
		os.WriteFile(filepath.Join(repo, ".gitlab-ci.yml"), []byte(mine+res.Snippet), 0o644)
		if _, out, _ = runInit(t, c, "text"); strings.Contains(out, "Add to .gitlab-ci.yml") || !strings.Contains(out, "already includes tidegate's template") {
			t.Errorf("with the include in place:\n%s", out)
		}
	})
}

func TestInitRefuses(t *testing.T) {
	repo := initRepo(t, "https://github.com/acme/fleet.git")
	keys := t.TempDir()
	base := func() *InitCmd {
		return &InitCmd{SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}}, Home: "cronjob", Dir: "tidegate", RBAC: "cluster", AgeKeyOut: filepath.Join(keys, "age.agekey")}
	}
	for _, tc := range []struct {
		name string
		mod  func(*InitCmd)
		want string
	}{
		{"unknown home", func(c *InitCmd) { c.Home = "jenkins" }, "--home"},
		{"no age key", func(c *InitCmd) { c.AgeKeyOut = "" }, "--age-key-out FILE"},
		{"both age flags", func(c *InitCmd) { c.AgeRecipient = testRecipient }, "not both"},
		{"bad recipient", func(c *InitCmd) { c.AgeKeyOut, c.AgeRecipient = "", "age1nope" }, "not an age recipient"},
		{"key to stdout", func(c *InitCmd) { c.AgeKeyOut = "-" }, "never prints a private key"},
		{"key to a terminal", func(c *InitCmd) { c.DeployKeyOut = "/dev/stdout" }, "never prints a private key"},
		{"key in the repository", func(c *InitCmd) { c.DeployKeyOut = filepath.Join(repo, "deploy-key") }, "inside the repository"},
		{"namespaced without namespaces", func(c *InitCmd) { c.RBAC = "namespaced" }, "--namespace NS"},
		{"namespace without namespaced", func(c *InitCmd) { c.Namespace = []string{"shop"} }, "--rbac namespaced"},
		{"bad namespace", func(c *InitCmd) { c.RBAC, c.Namespace = "namespaced", []string{"Shop_1"} }, "not a namespace name"},
		{"cronjob flags elsewhere", func(c *InitCmd) { c.Home, c.RepoURL = "github", "https://x/y" }, "--repo-url"},
		{"install without a key", func(c *InitCmd) { c.InstallDeployKey = true }, "--deploy-key-out FILE"},
		{"path outside", func(c *InitCmd) { c.Path = []string{"../elsewhere"} }, "inside the repository"},
		{"bad inventory", func(c *InitCmd) { c.InventoryName = "Not A Name" }, "--inventory-name"},
		{"manifests inside a plain path", func(c *InitCmd) { c.Path = []string{"."} }, "--dir outside it"},
		{"pipeline inside a plain path", func(c *InitCmd) { c.Home, c.RBAC, c.Path = "gitlab", "", []string{"."} }, "renders as a plain directory"},
		{"image :latest", func(c *InitCmd) { c.Image = "ghcr.io/tidegate/tidegate:latest" }, ":latest changes under a running CronJob"},
		{"image without a tag", func(c *InitCmd) { c.Image = "registry.example/tidegate" }, "name a version tag or a digest"},
		{"image with YAML in it", func(c *InitCmd) { c.Image = "registry.example/tidegate:v1\nkind: Secret" }, `--image "registry.example/tidegate:v1\nkind: Secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(c)
			code, out, errOut := runInit(t, c, "text")
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q\n%s", code, errOut, ExitUsage, tc.want, out)
			}
			if diff := cmp.Diff([]string{"clusters/prod/settings.yaml"}, repoFilesOf(t, repo)); diff != "" {
				t.Errorf("a refused init wrote files (-want +got):\n%s", diff)
			}
			if entries, _ := os.ReadDir(keys); len(entries) > 0 {
				t.Errorf("a refused init wrote a key: %v", entries)
			}
		})
	}

	t.Run("no origin for the CronJob", func(t *testing.T) {
		bare := initRepo(t, "")
		c := base()
		c.Source = bare
		if code, _, errOut := runInit(t, c, "text"); code != ExitUsage || !strings.Contains(errOut, "--repo-url") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		c.RepoURL = "https://github.com/acme/fleet.git"
		if code, out, errOut := runInit(t, c, "text"); code != ExitOK || !strings.Contains(readText(t, filepath.Join(bare, "tidegate/base/kustomization.yaml")), "TIDEGATE_SOURCE=https://github.com/acme/fleet.git") {
			t.Errorf("with --repo-url: exit %d\n%s\n%s", code, out, errOut)
		}
	})
}

func TestInitDryRun(t *testing.T) {
	repo := initRepo(t, "https://github.com/acme/fleet.git")
	keys := t.TempDir()
	c := &InitCmd{
		SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}},
		Home:        "cronjob", Dir: "deploy/tidegate", RBAC: "cluster", DryRun: true,
		AgeKeyOut: filepath.Join(keys, "age.agekey"), DeployKeyOut: filepath.Join(keys, "deploy-key"),
		// Dry runs make no API call: no token is needed.
		InstallDeployKey: true,
	}
	code, out, errOut := runInit(t, c, "text")
	if code != ExitChanges {
		t.Fatalf("dry run: exit %d, want %d\n%s\n%s", code, ExitChanges, out, errOut)
	}
	noPrivateKeys(t, "dry run output", out, errOut)
	for _, s := range []string{"would create    deploy/tidegate/kustomization.yaml", "--- deploy/tidegate/base/kustomization.yaml\n", "TIDEGATE_SOURCE=git@github.com:acme/fleet.git", "- rbac/cluster", "age key: would create", "deploy key: would create"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry run output lacks %q:\n%s", s, out)
		}
	}
	if diff := cmp.Diff([]string{"clusters/prod/settings.yaml"}, repoFilesOf(t, repo)); diff != "" {
		t.Errorf("a dry run wrote files (-want +got):\n%s", diff)
	}
	if entries, _ := os.ReadDir(keys); len(entries) > 0 {
		t.Errorf("a dry run wrote keys: %v", entries)
	}

	// Nothing to write: exit 0.
	c.DryRun, c.InstallDeployKey = false, false
	if code, out, errOut := runInit(t, c, "text"); code != ExitOK {
		t.Fatalf("init: exit %d\n%s\n%s", code, out, errOut)
	}
	c.DryRun = true
	if code, out, _ := runInit(t, c, "text"); code != ExitOK || strings.Contains(out, "\n--- ") {
		t.Errorf("dry run after init: exit %d, want 0 and no content\n%s", code, out)
	}
}

// TestInitProposesToGitea: a remote repository gets one pull request with
// every file and no key, and a read-only deploy key; a second run changes
// nothing.
func TestInitProposesToGitea(t *testing.T) {
	srv := gitea.Start(t)
	tree := initRepo(t, "")
	clone := srv.CreateRepo(t, "fleet")
	cliGit(t, tree, "add", ".")
	cliGit(t, tree, "commit", "-q", "-m", "seed")
	cliGit(t, tree, "push", "-q", srv.AuthURL(clone), "main")
	srv.WaitPushed(t, "fleet", "main")

	keys := t.TempDir()
	deployFile := filepath.Join(keys, "deploy-key")
	cmd := func(mod func(*InitCmd)) *InitCmd {
		c := &InitCmd{
			SourceFlags: SourceFlags{Source: clone, Ref: "main", Path: []string{"clusters/prod"}, GitUsername: srv.User, GitToken: srv.Token},
			Home:        "cronjob", Dir: "tidegate", RBAC: "cluster",
			AgeKeyOut: filepath.Join(keys, "age.agekey"), DeployKeyOut: deployFile,
			ForgeFlags: ForgeFlags{Forge: "gitea", ForgeToken: srv.Token, AuthorName: "bot", AuthorEmail: "bot@example.com"},
		}
		if mod != nil {
			mod(c)
		}
		return c
	}

	// A working tree of the repository, with a token that may not manage
	// keys: the files are written, the installation fails and says why, and
	// the public key is still shown for adding it by hand.
	t.Run("install refused", func(t *testing.T) {
		local := initRepo(t, clone)
		readOnly := srv.NewToken(t, "read-only-init", "read:repository")
		c := &InitCmd{
			SourceFlags: SourceFlags{Source: local, Path: []string{"clusters/prod"}},
			Home:        "github", AgeRecipient: testRecipient,
			DeployKeyOut: filepath.Join(t.TempDir(), "deploy-key"), InstallDeployKey: true,
			ForgeFlags: ForgeFlags{Forge: "gitea", ForgeToken: readOnly},
		}
		code, out, errOut := runInit(t, c, "text")
		if code != ExitFailure || !strings.Contains(errOut, "install the deploy key") || !strings.Contains(errOut, "deploy keys needs") {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		if !strings.Contains(out, "ssh-ed25519 ") || !strings.Contains(out, "created         .github/workflows/tidegate.yml") || !strings.Contains(out, "as a read-only deploy key, or run again") {
			t.Errorf("output does not show the key and files:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(local, ".github/workflows/tidegate.yml")); err != nil {
			t.Error(err)
		}
	})

	// A remote source without --propose would write into a clone that is
	// thrown away: refused.
	if code, _, errOut := runInit(t, cmd(nil), "text"); code != ExitUsage || !strings.Contains(errOut, "--propose") {
		t.Fatalf("remote without --propose: exit %d: %s", code, errOut)
	}
	propose := func(c *InitCmd) { c.Propose, c.InstallDeployKey = true, true }
	code, out, errOut := runInit(t, cmd(propose), "text")
	if code != ExitOK {
		t.Fatalf("init --propose: exit %d\n%s\n%s", code, out, errOut)
	}
	noPrivateKeys(t, "output", out, errOut)
	if !strings.Contains(out, "branch tidegate/init: created "+srv.URL+"/"+srv.User+"/fleet/pulls/1") || !strings.Contains(out, "installed on "+srv.User+"/fleet as a read-only deploy key") {
		t.Errorf("output:\n%s", out)
	}

	var prs []struct {
		Number int `json:"number"`
		Head   struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/pulls?state=all", nil, &prs); err != nil {
		t.Fatal(err)
	}
	if len(prs) != 1 || prs[0].Head.Ref != "tidegate/init" {
		t.Fatalf("pull requests = %+v, want one from tidegate/init", prs)
	}
	var tree2 struct {
		Tree []struct {
			Path string `json:"path"`
			Type string `json:"type"`
			SHA  string `json:"sha"`
		} `json:"tree"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/git/trees/tidegate%2Finit?recursive=true", nil, &tree2); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range tree2.Tree {
		if e.Type != "blob" {
			continue
		}
		files = append(files, e.Path)
		var blob struct {
			Content string `json:"content"`
		}
		if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/git/blobs/"+e.SHA, nil, &blob); err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(blob.Content)
		noPrivateKeys(t, "committed file "+e.Path, string(b))
		if e.Path == "tidegate/base/kustomization.yaml" && !strings.Contains(string(b), "TIDEGATE_SOURCE=git@127.0.0.1:"+srv.User+"/fleet.git") {
			t.Errorf("the CronJob's source:\n%s", b)
		}
	}
	slices.Sort(files)
	want := []string{".sops.yaml", "clusters/prod/settings.yaml", "tidegate/base/cronjob.yaml", "tidegate/base/kustomization.yaml", "tidegate/base/namespace.yaml",
		"tidegate/base/serviceaccount.yaml", "tidegate/kustomization.yaml", "tidegate/rbac/cluster/clusterrole.yaml", "tidegate/rbac/cluster/kustomization.yaml"}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files on the branch (-want +got):\n%s", diff)
	}

	signer, err := ssh.ParsePrivateKey(checkKeyFile(t, deployFile))
	if err != nil {
		t.Fatal(err)
	}
	material := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	type key struct {
		Key      string `json:"key"`
		ReadOnly bool   `json:"read_only"`
	}
	deployKeys := func() []key {
		var ks []key
		if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/keys", nil, &ks); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	if ks := deployKeys(); len(ks) != 1 || !ks[0].ReadOnly || !strings.HasPrefix(ks[0].Key, material) {
		t.Errorf("deploy keys = %+v, want one read-only %s", ks, material)
	}

	// Again: the same keys, the same files, the same pull request.
	code, out, errOut = runInit(t, cmd(propose), "text")
	if code != ExitOK || !strings.Contains(out, "branch tidegate/init: unchanged") || !strings.Contains(out, "deploy key: using") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/pulls?state=all", nil, &prs); err != nil || len(prs) != 1 {
		t.Errorf("pull requests after the second run: %+v, %v", prs, err)
	}
	if ks := deployKeys(); len(ks) != 1 {
		t.Errorf("deploy keys after the second run: %+v", ks)
	}
}

// TestInitImage: --image pins what the CronJob and the GitLab jobs run,
// by tag or digest, and a release tag pins the action and the template.
func TestInitImage(t *testing.T) {
	digest := "registry.example/mirror/tidegate@sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		home, image string
		want        []string
	}{
		{"cronjob", "registry.example/mirror/tidegate:v0.3.0", []string{"  - name: ghcr.io/tidegate/tidegate\n    newName: registry.example/mirror/tidegate\n    newTag: v0.3.0\n"}},
		{"cronjob", digest, []string{"newName: registry.example/mirror/tidegate\n    digest: sha256:" + strings.Repeat("ab", 32)}},
		{"github", "ghcr.io/tidegate/tidegate:v0.3.0", []string{"uses: tidegate/tidegate@v0.3.0"}},
		{"gitlab", "registry.example/tidegate:v0.3.0", []string{"TIDEGATE_IMAGE: registry.example/tidegate:v0.3.0", "/tidegate/tidegate/v0.3.0/.gitlab-ci-template.yml"}},
		// A tag that is no release pins the image; the template is this
		// binary's release.
		{"gitlab", "registry.example/tidegate:my-build", []string{"TIDEGATE_IMAGE: registry.example/tidegate:my-build", "/tidegate/tidegate/" + version.Release() + "/.gitlab-ci-template.yml"}},
	} {
		t.Run(tc.home+" "+tc.image, func(t *testing.T) {
			repo := initRepo(t, "https://github.com/acme/fleet.git")
			c := &InitCmd{SourceFlags: SourceFlags{Source: repo, Path: []string{"clusters/prod"}}, Home: tc.home, Dir: "tidegate", RBAC: "cluster", AgeRecipient: testRecipient, Image: tc.image}
			if code, out, errOut := runInit(t, c, "text"); code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			file := map[string]string{"cronjob": "tidegate/kustomization.yaml", "github": ".github/workflows/tidegate.yml", "gitlab": ".gitlab-ci.yml"}[tc.home]
			text := readText(t, filepath.Join(repo, file))
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s lacks %q:\n%s", file, w, text)
				}
			}
			if strings.Contains(text, ":latest") || strings.Contains(text, "@v0\n") {
				t.Errorf("%s names a moving version:\n%s", file, text)
			}
			if tc.home != "cronjob" {
				return
			}
			res, err := render.Render(context.Background(), repo, []string{"tidegate"}, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range res.Objects {
				if o.GetKind() == "CronJob" {
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "jobTemplate", "spec", "template", "spec", "containers")
					if got := cs[0].(map[string]any)["image"]; got != tc.image {
						t.Errorf("the CronJob runs %v, want %s", got, tc.image)
					}
				}
			}
		})
	}
}
