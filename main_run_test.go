package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidegate/tidegate/cli"
)

// recorder is a loopback HTTP server that takes webhooks (/hook) and
// answers everything else with 500 and a client-go warning header, and records what reached it: the
// cluster, the Git remote, the webhooks and the Pushgateway of a test.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
	body []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		r.body = append(r.body, string(b))
		r.mu.Unlock()
		if req.URL.Path == "/hook" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Warning", `299 - "canary warning from the recorder"`)
		http.Error(w, "recorder says no", http.StatusInternalServerError)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// bodiesTo returns the bodies of the requests to path.
func (r *recorder) bodiesTo(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, q := range r.reqs {
		if strings.HasSuffix(q, " "+path) {
			out = append(out, r.body[i])
		}
	}
	return out
}

// kubeconfig writes a kubeconfig whose cluster is server.
func kubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server + `"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// repoDir is a local source with one plain YAML directory.
func repoDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: b\n"
	if err := os.WriteFile(filepath.Join(dir, "apps", "cm.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCaptured runs a command line in-process with stdout and stderr
// captured; root may be preset (nil: a fresh one).
func runCaptured(t *testing.T, root *cli.CLI, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if root == nil {
		root = &cli.CLI{}
	}
	var out, errb bytes.Buffer
	root.Stdout, root.Stderr = &out, &errb
	code = runCLI(root, args)
	return code, out.String(), errb.String()
}

// TestHostileSettings: an explicitly empty path list and every number
// flag out of range are usage errors (exit 64) that name the flag, the
// value and what is allowed, before anything is contacted or written:
// no request to the cluster, the Git remote, the webhook or the
// Pushgateway, no metrics or result file.
func TestHostileSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string // in stderr
	}{
		{"render empty path", nil, []string{"render", "--path", ""}, []string{`--path ""`, "empty"}},
		{"diff empty path", nil, []string{"diff", "--path", ""}, []string{`--path ""`, "empty"}},
		{"reconcile empty path", nil, []string{"reconcile", "--path", ""}, []string{`--path ""`}},
		{"check empty path", nil, []string{"check", "--path", ""}, []string{`--path ""`}},
		{"images list empty path", nil, []string{"images", "list", "--path", ""}, []string{`--path ""`}},
		{"images update empty path", nil, []string{"images", "update", "--dry-run", "--path", ""}, []string{`--path ""`}},
		{"workloads empty path", nil, []string{"workloads", "list", "--path", ""}, []string{`--path ""`}},
		{"release empty path", nil, []string{"release", "-w", "default:deployment/web", "--container", "web", "--image", "nginx:1", "--path", ""}, []string{`--path ""`}},
		{"init empty path", nil, []string{"init", "--home", "github", "--dry-run", "--path", ""}, []string{`--path ""`}},
		{"empty path env", map[string]string{"TIDEGATE_PATHS": ""}, []string{"reconcile"}, []string{`TIDEGATE_PATHS=""`}},
		{"empty path env diff", map[string]string{"TIDEGATE_PATHS": ""}, []string{"diff"}, []string{`TIDEGATE_PATHS=""`}},
		{"empty entry", nil, []string{"reconcile", "--path", "apps,,more"}, []string{`--path ["apps" "" "more"]`, "empty entry"}},
		{"blank entry", nil, []string{"render", "--path", "apps, "}, []string{`--path ["apps" " "]`}},
		{"empty entry env", map[string]string{"TIDEGATE_PATHS": ","}, []string{"render"}, []string{`--path [""]`}},
		// kong drops an empty value among others and a trailing comma; the
		// run must not go on with the paths that are left.
		{"empty path after a path", nil, []string{"reconcile", "--path", "apps", "--path", ""}, []string{`--path ""`, "empty"}},
		{"empty path before a path", nil, []string{"diff", "--path=", "--path", "apps"}, []string{`--path ""`, "empty"}},
		{"blank path after a path", nil, []string{"render", "--path", "apps", "--path", " "}, []string{`--path " "`, "empty"}},
		{"trailing comma", nil, []string{"reconcile", "--path", "apps,"}, []string{`--path ["apps" ""]`, "empty entry"}},
		{"trailing comma env", map[string]string{"TIDEGATE_PATHS": "apps,more,"}, []string{"check"}, []string{`--path ["apps" "more" ""]`, "empty entry"}},
		{"prune share above 1", nil, []string{"reconcile", "--path", "apps", "--max-prune-share", "1.5"}, []string{"--max-prune-share 1.5", "between 0 and 1"}},
		{"prune share below 0", nil, []string{"diff", "--path", "apps", "--max-prune-share=-0.1"}, []string{"--max-prune-share -0.1", "between 0 and 1"}},
		{"prune share NaN", nil, []string{"check", "--path", "apps", "--max-prune-share", "NaN"}, []string{"--max-prune-share NaN"}},
		{"prune share env", map[string]string{"TIDEGATE_MAX_PRUNE_SHARE": "2"}, []string{"reconcile", "--path", "apps"}, []string{"--max-prune-share 2"}},
		{"apply concurrency 0", nil, []string{"reconcile", "--path", "apps", "--concurrency", "0"}, []string{"--concurrency 0", "between 1 and 1024"}},
		{"apply concurrency negative", nil, []string{"diff", "--path", "apps", "--concurrency=-3"}, []string{"--concurrency -3"}},
		{"apply concurrency huge", nil, []string{"reconcile", "--path", "apps", "--concurrency", "100000000"}, []string{"--concurrency 100000000"}},
		{"registry concurrency 0", nil, []string{"images", "update", "--dry-run", "--path", "apps", "--concurrency", "0"}, []string{"--concurrency 0"}},
		{"registry concurrency env", map[string]string{"TIDEGATE_IMAGES_CONCURRENCY": "-1"}, []string{"images", "list", "--path", "apps"}, []string{"--concurrency -1"}},
		{"images limit 0", nil, []string{"images", "list", "--path", "apps", "--limit", "0"}, []string{"--limit 0", "at least 1"}},
		{"wait timeout 0", nil, []string{"reconcile", "--path", "apps", "--timeout", "0s"}, []string{"--timeout 0s", "longer than 0"}},
		{"wait timeout negative", nil, []string{"reconcile", "--path", "apps", "--no-wait", "--timeout=-1m"}, []string{"--timeout -1m0s"}},
		{"lease ttl 0", nil, []string{"reconcile", "--path", "apps", "--lease-ttl", "0s"}, []string{"--lease-ttl 0s", "longer than 0"}},
		{"run timeout negative", nil, []string{"--run-timeout=-5m", "render", "--path", "apps"}, []string{"--run-timeout -5m0s"}},
		{"run timeout nanoseconds", nil, []string{"--run-timeout", "30ns", "diff", "--path", "apps"}, []string{"--run-timeout 30ns", "at least 1s"}},
		{"run timeout env", map[string]string{"TIDEGATE_RUN_TIMEOUT": "-1s"}, []string{"render", "--path", "apps"}, []string{"--run-timeout -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			dir := t.TempDir()
			metricsFile, resultFile := filepath.Join(dir, "m.prom"), filepath.Join(dir, "result.json")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{
				"--kubeconfig", kubeconfig(t, rec.srv.URL),
				"--notify", "json=" + rec.srv.URL + "/hook",
				"--notify-on", "always",
				"--pushgateway", rec.srv.URL,
				"--metrics-file", metricsFile,
				"--result-file", resultFile,
			}, tc.args...)
			args = append(args, "--source", rec.srv.URL+"/fleet.git")
			code, stdout, stderr := runCaptured(t, nil, args...)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d (usage); stderr:\n%s", code, cli.ExitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, stderr)
				}
			}
			if got := rec.requests(); len(got) > 0 {
				t.Errorf("a usage error contacted the recorder: %v", got)
			}
			for _, f := range []string{metricsFile, resultFile} {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("a usage error wrote %s", filepath.Base(f))
				}
			}
			if stdout != "" {
				t.Errorf("a usage error printed on stdout:\n%s", stdout)
			}
		})
	}
}

// TestSettingsAtTheirBounds: the edges of each range are accepted, so
// the checks above refuse only what they should.
func TestSettingsAtTheirBounds(t *testing.T) {
	src := repoDir(t)
	for _, args := range [][]string{
		{"render", "--source", src, "--path", "apps"},
		{"--run-timeout", "0", "render", "--source", src, "--path", "apps"},
		{"--run-timeout", "1s", "render", "--source", src},
		{"render", "--source", src, "--path", "."},
	} {
		if code, _, stderr := runCaptured(t, nil, args...); code != cli.ExitOK {
			t.Errorf("tidegate %s: exit %d, want 0:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestPanicIsAFailure: a panic inside a command (injected through the
// Getenv hook every command reads its environment with) exits 1, not 2,
// with the panic on stderr and the stack in a file, and the
// notification, the metrics and the result file all say failed.
func TestPanicIsAFailure(t *testing.T) {
	rec := newRecorder(t)
	dir := t.TempDir()
	metricsFile, resultFile := filepath.Join(dir, "m.prom"), filepath.Join(dir, "result.json")
	root := &cli.CLI{}
	root.Getenv = func(key string) string { panic("injected failure reading " + key) }
	code, stdout, stderr := runCaptured(t, root, "--notify", "json="+rec.srv.URL+"/hook", "--notify-on", "failure",
		"--metrics-file", metricsFile, "--result-file", resultFile,
		"render", "--source", repoDir(t), "--path", "apps")
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, cli.ExitFailure, stderr)
	}
	if !strings.Contains(stderr, "internal error: panic: injected failure reading SOPS_AGE_KEY") {
		t.Errorf("stderr does not report the panic:\n%s", stderr)
	}
	if stdout != "" {
		t.Errorf("a panicking render printed on stdout:\n%s", stdout)
	}
	stackFile := between(stderr, "the stack is in ", ")")
	if stackFile == "" {
		t.Errorf("stderr names no stack file:\n%s", stderr)
	} else {
		t.Cleanup(func() { os.Remove(stackFile) })
		stack, err := os.ReadFile(stackFile)
		if err != nil || !strings.Contains(string(stack), "cli.(*KeyFlags).Keys") {
			t.Errorf("stack file %s does not hold the panicking stack (%v):\n%s", stackFile, err, stack)
		}
	}

	hooks := rec.bodiesTo("/hook")
	if len(hooks) != 1 {
		t.Fatalf("%d notifications, want 1 (requests: %v)", len(hooks), rec.requests())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(hooks[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["failed"] != true || ev["outcome"] != "failed" || !strings.Contains(ev["error"].(string), "panic") {
		t.Errorf("notification does not say failed: %v", ev)
	}

	m, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`tidegate_run_success{command="render",inventory=""} 0`,
		`tidegate_run_outcome{command="render",inventory="",outcome="failed"} 1`,
		`tidegate_run_outcome{command="render",inventory="",outcome="running"} 0`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
	res := readResult(t, resultFile)
	if res.Outcome != cli.OutcomeFailed || res.ExitCode != cli.ExitFailure || res.Command != "render" {
		t.Errorf("result = %+v, want failed with exit 1", res)
	}
}

// TestResultFile: the result of a successful run, and of a run that
// found changes, says so.
func TestResultFile(t *testing.T) {
	src := repoDir(t)
	resultFile := filepath.Join(t.TempDir(), "result.json")
	if code, _, stderr := runCaptured(t, nil, "--result-file", resultFile, "render", "--source", src, "--path", "apps"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	res := readResult(t, resultFile)
	if res.Outcome != cli.OutcomeOK || res.ExitCode != 0 || res.Changed || res.Counts["objects"] != 1 {
		t.Errorf("result = %+v, want ok with 1 object", res)
	}
	// Usage errors (64) write nothing: nothing was attempted.
	os.Remove(resultFile)
	if code, _, _ := runCaptured(t, nil, "--result-file", resultFile, "render", "--path", ""); code != cli.ExitUsage {
		t.Fatalf("exit %d, want 64", code)
	}
	if _, err := os.Stat(resultFile); err == nil {
		t.Error("a usage error wrote the result file")
	}
}

// TestJSONStderr: with -o json every stderr line is a JSON object: the
// logs, client-go's own (klog, here its warning handler), and the final
// error line, also for a usage error.
func TestJSONStderr(t *testing.T) {
	rec := newRecorder(t)
	for _, args := range [][]string{
		{"-o", "json", "--kubeconfig", kubeconfig(t, rec.srv.URL), "diff", "--source", repoDir(t), "--path", "apps"},
		{"--output=json", "render", "--source", filepath.Join(t.TempDir(), "missing")},
		{"-o", "json", "render", "--path", ""},
		{"-o", "json", "--no-such-flag"},
	} {
		code, _, stderr := runCaptured(t, nil, args...)
		if code == 0 {
			t.Errorf("tidegate %s succeeded; the test needs a failure", strings.Join(args, " "))
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		var last map[string]any
		for _, l := range lines {
			last = nil
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Errorf("tidegate %s: stderr line is not JSON: %q", strings.Join(args, " "), l)
			}
		}
		if last["level"] != "ERROR" || last["error"] == nil {
			t.Errorf("tidegate %s: the last stderr line is not the error: %v", strings.Join(args, " "), last)
		}
		if args[len(args)-1] == "apps" && !strings.Contains(stderr, "canary warning from the recorder") {
			t.Errorf("client-go's warning did not reach stderr as JSON:\n%s", stderr)
		}
	}
}

func readResult(t *testing.T, path string) cli.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no result file: %v", err)
	}
	var r cli.Result
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("result file: %v\n%s", err, data)
	}
	return r
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// staller is a loopback HTTP server that never answers: a stalled Git
// server or registry. arrived receives each request's path once it is in
// flight.
type staller struct {
	srv     *httptest.Server
	arrived chan string
}

func newStaller(t *testing.T) *staller {
	t.Helper()
	s := &staller{arrived: make(chan string, 100)}
	stop := make(chan struct{})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.arrived <- req.URL.Path
		select {
		case <-req.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(stop) })
	return s
}

func (s *staller) waitForRequest(t *testing.T) {
	t.Helper()
	select {
	case <-s.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("tidegate never reached the stalled server")
	}
}

// TestRunTimeout: --run-timeout ends a run stuck on a server that never
// answers; the run failed and says why.
func TestRunTimeout(t *testing.T) {
	st := newStaller(t)
	resultFile := filepath.Join(t.TempDir(), "result.json")
	start := time.Now()
	code, _, stderr := runCaptured(t, nil, "--run-timeout", "1s", "--result-file", resultFile,
		"render", "--source", st.srv.URL+"/fleet.git")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the run took %s despite --run-timeout 1s", took)
	}
	if code != cli.ExitFailure {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "longer than --run-timeout 1s") {
		t.Errorf("stderr does not say the deadline passed:\n%s", stderr)
	}
	if res := readResult(t, resultFile); res.Outcome != cli.OutcomeFailed || res.ExitCode != 1 {
		t.Errorf("result = %+v, want failed, exit 1", res)
	}
}

// asMain makes the test binary run tidegate's main instead of the tests
// (see TestMain): a real process to send signals to, without a second
// link of the whole program.
const asMain = "TIDEGATE_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestHostileSignals drives tidegate's main in its own process against a Git server that
// never answers. SIGTERM ends it promptly with 143 (never 0 or 2), and
// the result file, the metrics and the stderr line say interrupted.
// SIGKILL leaves no result file, and the metrics written at the start
// still say failed (outcome running), so no home reads it as success.
func TestHostileSignals(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		sig     syscall.Signal
		diff    bool // diff against a stalled API server instead of a render of a stalled Git remote
		code    int
		outcome string // metrics outcome after the run
	}{
		{"SIGTERM", syscall.SIGTERM, false, 143, "interrupted"},
		{"SIGINT", syscall.SIGINT, false, 130, "interrupted"},
		{"SIGKILL", syscall.SIGKILL, false, -1, "running"},
		{"SIGTERM diff", syscall.SIGTERM, true, 143, "interrupted"},
		{"SIGKILL diff", syscall.SIGKILL, true, -1, "running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStaller(t)
			dir := t.TempDir()
			metricsFile, resultFile := filepath.Join(dir, "m.prom"), filepath.Join(dir, "result.json")
			command, inventory := "render", ""
			args := []string{"--metrics-file", metricsFile, "--result-file", resultFile}
			if tc.diff {
				command, inventory = "diff", "default/tidegate"
				args = append(args, "--kubeconfig", kubeconfig(t, st.srv.URL), "diff", "--source", repoDir(t), "--path", "apps")
			} else {
				args = append(args, "render", "--source", st.srv.URL+"/fleet.git")
			}
			success := `tidegate_run_success{command="` + command + `",inventory="` + inventory + `"} 0`
			var stderr bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "TIDEGATE_RUN_TIMEOUT=0", asMain+"=1")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			st.waitForRequest(t)
			// While the request hangs, the metrics already say failed.
			m, err := os.ReadFile(metricsFile)
			if err != nil || !strings.Contains(string(m), `outcome="running"} 1`) || !strings.Contains(string(m), success) {
				t.Errorf("metrics of a running run (%v):\n%s", err, m)
			}
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("tidegate still runs 10s after %s; stderr:\n%s", tc.name, stderr.String())
			}
			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.code, stderr.String())
			}
			m, _ = os.ReadFile(metricsFile)
			if want := `outcome="` + tc.outcome + `"} 1`; !strings.Contains(string(m), want) || !strings.Contains(string(m), success) {
				t.Errorf("metrics lack %s with success 0:\n%s", want, m)
			}
			if tc.sig == syscall.SIGKILL {
				if _, err := os.Stat(resultFile); err == nil {
					t.Error("a killed run has a result file")
				}
				return
			}
			if !strings.Contains(stderr.String(), "interrupted by "+strings.Fields(tc.name)[0]) {
				t.Errorf("stderr does not say interrupted:\n%s", stderr.String())
			}
			if res := readResult(t, resultFile); res.Outcome != cli.OutcomeInterrupted || res.ExitCode != tc.code {
				t.Errorf("result = %+v, want interrupted, exit %d", res, tc.code)
			}
		})
	}
}
