// Package e2e_test runs tidegate the way its users run it: the GitHub
// Action through nektos/act and the GitLab CI template through
// gitlab-ci-local, both on this machine with no Docker, against the real
// test API server.
package e2e_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/internal/testenv/gitea"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// tool returns the path in the environment variable, or skips: make test
// (hack/ci-tools.sh) installs both tools, so CI never skips.
func tool(t *testing.T, envVar string) string {
	t.Helper()
	p := os.Getenv(envVar)
	if p == "" || p == "-" {
		t.Skipf("%s is not set; run through make test, which installs it with hack/ci-tools.sh", envVar)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s=%s: %v", envVar, p, err)
	}
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// tidegateBinary builds tidegate into a directory to put on PATH.
func tidegateBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "tidegate"), ".")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func TestGitHubAction(t *testing.T) {
	act := tool(t, "TIDEGATE_ACT")
	work := t.TempDir()
	git(t, work, "init", "-q")
	git(t, work, "commit", "-q", "--allow-empty", "-m", "event")
	ns := env.Namespace(t)
	secrets := filepath.Join(t.TempDir(), "secrets")
	// act reads a secret file in dotenv form; a kubeconfig has line
	// breaks, so it goes in double quotes with them escaped.
	kc := strings.ReplaceAll(strings.ReplaceAll(string(env.Kubeconfig), `"`, `\"`), "\n", `\n`)
	writeFile(t, secrets, `KUBECONFIG="`+kc+`"`+"\n")
	cmd := exec.Command(act, "push", "-W", filepath.Join(repoRoot(t), "testdata", "github", "action.yml"),
		"-P", "ubuntu-latest=-self-hosted", "--env", "TIDEGATE_REPO="+repoRoot(t),
		"--env", "TIDEGATE_E2E_NAMESPACE="+ns, "--secret-file", secrets)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("act: %v\n%s", err, out)
	}
	// The workflow's last step checks the outputs and prints this.
	for _, want := range []string{"ACTION-OUTPUTS-OK", "DIFF-OUTPUTS-OK", "Job succeeded", "### tidegate render", "### tidegate diff"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("act output lacks %q:\n%s", want, out)
		}
	}
}

// TestGitHubActionProposes runs the action's images-update command: a
// newer tag in a registry becomes a pull request on a real Gitea, and the
// action reports its URL.
func TestGitHubActionProposes(t *testing.T) {
	act := tool(t, "TIDEGATE_ACT")
	srv := gitea.Start(t)
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/web", time.Unix(1, 0), "1.0.0", "1.1.0")

	fleet := t.TempDir()
	writeFile(t, filepath.Join(fleet, "policy.yaml"), fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: web
  namespace: flux-system
spec:
  image: %[1]s/team/web
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: web
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: web
  policy:
    semver:
      range: ">=1.0.0"
`, reg.Host()))
	writeFile(t, filepath.Join(fleet, "web.yaml"), fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          image: %s/team/web:1.0.0 # {"$imagepolicy": "flux-system:web"}
`, reg.Host()))
	clone := srv.CreateRepo(t, "fleet")
	git(t, fleet, "init", "-q", "-b", "main")
	git(t, fleet, "add", "-A")
	git(t, fleet, "commit", "-qm", "fleet")
	git(t, fleet, "push", "-q", srv.AuthURL(clone), "main")
	srv.WaitPushed(t, "fleet", "main")

	work := t.TempDir()
	git(t, work, "init", "-q")
	git(t, work, "commit", "-q", "--allow-empty", "-m", "event")
	secrets := filepath.Join(t.TempDir(), "secrets")
	writeFile(t, secrets, "GITEA_TOKEN="+srv.Token+"\n")
	cmd := exec.Command(act, "push", "-W", filepath.Join(repoRoot(t), "testdata", "github", "images.yml"),
		"-P", "ubuntu-latest=-self-hosted", "--secret-file", secrets,
		"--env", "TIDEGATE_REPO="+repoRoot(t), "--env", "FLEET_URL="+clone, "--env", "GITEA_USER="+srv.User,
		"--env", "REGISTRY="+reg.Host(), "--env", "EMPTY_DIR="+t.TempDir())
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("act: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "IMAGES-OUTPUTS-OK") {
		t.Errorf("act output lacks IMAGES-OUTPUTS-OK:\n%s", out)
	}
	var pr struct {
		Title string `json:"title"`
		Head  struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}
	if err := srv.Do(http.MethodGet, "/api/v1/repos/"+srv.User+"/fleet/pulls/1", nil, &pr); err != nil {
		t.Fatalf("pull request 1: %v", err)
	}
	if !strings.Contains(pr.Title, "1.0.0 → 1.1.0") || !strings.HasPrefix(pr.Head.Ref, "tidegate/images/") {
		t.Errorf("pull request = %+v", pr)
	}
}

func TestGitLabTemplate(t *testing.T) {
	gcl := tool(t, "TIDEGATE_GITLAB_CI_LOCAL")
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("gitlab-ci-local needs rsync (hack/ci-deps.sh installs it)")
	}
	bin := tidegateBinary(t)
	ns := env.Namespace(t)
	project := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(repoRoot(t), "testdata", "fleet"), filepath.Join(project, "fleet")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	// A path of its own with one ConfigMap in this test's namespace, so
	// the diff has something to show and the reconcile something to create.
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: " + ns + "\ndata:\n  text: hello\n"
	if err := os.MkdirAll(filepath.Join(project, "fleet", "e2e"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(project, "fleet", "e2e", "cm.yaml"), cm)
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), ".gitlab-ci-template.yml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(project, ".gitlab-ci-template.yml"), string(tmpl))
	writeFile(t, filepath.Join(project, ".gitlab-ci.yml"), `include:
  - local: .gitlab-ci-template.yml
variables:
  TIDEGATE_SOURCE: fleet
  TIDEGATE_PATHS: e2e
  TIDEGATE_INVENTORY_NAMESPACE: `+ns+`
  TIDEGATE_INVENTORY_NAME: gitlab
render:
  extends: .tidegate-render
diff:
  extends: .tidegate-diff
reconcile:
  extends: .tidegate-reconcile
`)
	git(t, project, "init", "-q", "-b", "main")
	git(t, project, "add", "-A")
	git(t, project, "commit", "-qm", "fleet")

	run := func(job string, vars ...string) string {
		t.Helper()
		args := []string{"--force-shell-executor"}
		for _, v := range vars {
			args = append(args, "--variable", v)
		}
		cmd := exec.Command(gcl, append(args, job)...)
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gitlab-ci-local %s: %v\n%s", job, err, out)
		}
		return string(out)
	}
	kube := "TIDEGATE_KUBECONFIG_B64=" + base64.StdEncoding.EncodeToString(env.Kubeconfig)
	mr := "CI_PIPELINE_SOURCE=merge_request_event"

	out := run("render", mr)
	rendered, err := os.ReadFile(filepath.Join(project, ".gitlab-ci-local", "artifacts", "render", "rendered.yaml"))
	if err != nil {
		rendered = []byte(out)
	}
	if !strings.Contains(string(rendered), "name: greeting") {
		t.Errorf("render job did not render the ConfigMap:\n%s\n%s", out, rendered)
	}
	// The merge request note goes to GitLab's notes API
	// (POST /projects/:id/merge_requests/:iid/notes, form field body,
	// PRIVATE-TOKEN header); a receiver on loopback stands in for it.
	type note struct{ path, token, body string }
	notes := make(chan note, 4)
	gitlab := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("note request: %v", err)
		}
		notes <- note{path: r.Method + " " + r.URL.Path, token: r.Header.Get("PRIVATE-TOKEN"), body: r.PostForm.Get("body")}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id": 1, "body": "ok", "noteable_type": "MergeRequest"}`)
	}))
	defer gitlab.Close()
	out = run("diff", mr, kube, "TIDEGATE_GITLAB_TOKEN=glpat-e2e", "CI_MERGE_REQUEST_IID=7", "CI_PROJECT_ID=42", "CI_API_V4_URL="+gitlab.URL+"/api/v4")
	if !strings.Contains(out, "ConfigMap/"+ns+"/greeting") || !strings.Contains(out, "created") {
		t.Errorf("diff job output:\n%s", out)
	}
	select {
	case n := <-notes:
		if n.path != "POST /api/v4/projects/42/merge_requests/7/notes" || n.token != "glpat-e2e" ||
			!strings.HasPrefix(n.body, "#### tidegate diff") || !strings.Contains(n.body, "ConfigMap/"+ns+"/greeting") {
			t.Errorf("merge request note = %+v", n)
		}
	default:
		t.Errorf("the diff job posted no merge request note:\n%s", out)
	}
	run("reconcile", kube)
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(t.Context(), "greeting", metav1.GetOptions{}); err != nil {
		t.Errorf("the reconcile job did not create the ConfigMap: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
