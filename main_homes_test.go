package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/cli"
)

// homeCase is one way a tidegate run can end, as the shell of a home
// (the GitHub Action, a GitLab job) sees it: a stub tidegate first on
// PATH exits with code after writing result (nothing when empty), or,
// with real, the test binary runs tidegate itself.
type homeCase struct {
	name   string
	real   string // --path of a real run, instead of the stub
	code   int
	result *cli.Result
	pass   bool
}

func homeCases(t *testing.T) []homeCase {
	changes := &cli.Result{Command: "diff", Outcome: cli.OutcomeChanges, Changed: true, ExitCode: 2, Counts: map[string]int{"configured": 1}}
	ok := &cli.Result{Command: "diff", Outcome: cli.OutcomeOK, ExitCode: 0, Counts: map[string]int{}}
	return []homeCase{
		{name: "real ok", real: "apps", pass: true},
		{name: "real failure", real: "missing", pass: false},
		{name: "changes", code: 2, result: changes, pass: true},
		{name: "ok", code: 0, result: ok, pass: true},
		{name: "crash exits 2 without result", code: 2, pass: false},
		{name: "exit 0 without result", code: 0, pass: false},
		{name: "killed", code: 137, pass: false},
		{name: "result says failed, exit 0", code: 0, result: &cli.Result{Command: "diff", Outcome: cli.OutcomeFailed, ExitCode: 1}, pass: false},
		{name: "result ok, exit 2", code: 2, result: ok, pass: false},
		{name: "interrupted", code: 143, result: &cli.Result{Command: "diff", Outcome: cli.OutcomeInterrupted, ExitCode: 143}, pass: false},
	}
}

// stubTidegate puts a tidegate first on PATH that acts out tc, and
// returns the environment to run a home's shell with.
func stubTidegate(t *testing.T, tc homeCase) []string {
	t.Helper()
	bin := t.TempDir()
	script := "#!/bin/sh\n"
	paths := "apps"
	if tc.real != "" {
		paths = tc.real
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		script += asMain + "=1 exec " + shellQuoteTest(self) + ` "$@"` + "\n"
	} else {
		if tc.result != nil {
			data, err := json.MarshalIndent(tc.result, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			script += "cat > \"$TIDEGATE_RESULT_FILE\" <<'EOF'\n" + string(data) + "\nEOF\n"
		}
		script += "exit " + itoa(tc.code) + "\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "tidegate"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "TIDEGATE_") && !strings.HasPrefix(e, "GITHUB_") && !strings.HasPrefix(e, "KUBECONFIG=") && !strings.HasPrefix(e, "HOME=") {
			env = append(env, e)
		}
	}
	// No kubeconfig and an empty HOME: diff and reconcile find no cluster.
	return append(env, "PATH="+bin+":"+os.Getenv("PATH"), "HOME="+t.TempDir(), "TIDEGATE_SOURCE="+repoDir(t), "TIDEGATE_PATHS="+paths)
}

// TestHostileActionStep runs the action's "Run tidegate" step with bash:
// the step passes only when tidegate's result file exists and agrees
// with the exit code, so a Go crash (exit 2, no result) never turns into
// a green step, and changed and outcome come from the file.
func TestHostileActionStep(t *testing.T) {
	var action struct {
		Runs struct {
			Steps []struct {
				ID  string `json:"id"`
				Run string `json:"run"`
			} `json:"steps"`
		} `json:"runs"`
	}
	data, err := os.ReadFile("action.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatal(err)
	}
	var script string
	for _, s := range action.Runs.Steps {
		if s.ID == "run" {
			script = s.Run
		}
	}
	if script == "" {
		t.Fatal("action.yml has no step with id run")
	}
	for _, tc := range homeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			output := filepath.Join(dir, "output")
			cmd := exec.Command("bash", "-e", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(stubTidegate(t, tc), "COMMAND=render", "GITHUB_OUTPUT="+output, "RUNNER_TEMP="+dir, "KUBECONFIG_CONTENT=", "EXTRA_ARGS=")
			out, err := cmd.CombinedOutput()
			if passed := err == nil; passed != tc.pass {
				t.Fatalf("step passed = %v, want %v (%v):\n%s", passed, tc.pass, err, out)
			}
			outputs, _ := os.ReadFile(output)
			got := map[string]string{}
			for _, l := range strings.Split(string(outputs), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					got[k] = v
				}
			}
			switch {
			case tc.real != "" && tc.pass:
				if got["outcome"] != "ok" || got["changed"] != "false" {
					t.Errorf("outputs = %v, want outcome ok, changed false", got)
				}
			case tc.result == nil && tc.real == "":
				if got["outcome"] != "failed" || !strings.Contains(string(out), "without writing its result file") {
					t.Errorf("outputs = %v, want outcome failed and an annotation:\n%s", got, out)
				}
			case tc.result != nil:
				if got["outcome"] != string(tc.result.Outcome) || got["changed"] != boolText(tc.result.Changed) {
					t.Errorf("outputs = %v, want outcome %s, changed %v", got, tc.result.Outcome, tc.result.Changed)
				}
			}
		})
	}
}

// TestHostileGitLabJobs runs each job of the GitLab template (its
// before_script and script, as the runner joins them) with bash -e: a
// run without a result file fails the job whatever tidegate's exit code.
func TestHostileGitLabJobs(t *testing.T) {
	var tmpl map[string]struct {
		BeforeScript []string `json:"before_script"`
		Script       []string `json:"script"`
		Extends      string   `json:"extends"`
	}
	var top struct {
		Variables map[string]string `json:"variables"`
	}
	data, err := os.ReadFile(".gitlab-ci-template.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &tmpl); err != nil {
		t.Fatal(err)
	}
	resultFile := top.Variables["TIDEGATE_RESULT_FILE"]
	if resultFile == "" {
		t.Fatal("the template does not set TIDEGATE_RESULT_FILE")
	}
	for _, job := range []string{".tidegate-render", ".tidegate-diff", ".tidegate-reconcile", ".tidegate-images"} {
		j := tmpl[job]
		if j.Extends != ".tidegate" || len(j.Script) == 0 {
			t.Fatalf("%s: extends %q with %d script lines; the test expects .tidegate", job, j.Extends, len(j.Script))
		}
		script := strings.Join(append(append([]string(nil), tmpl[".tidegate"].BeforeScript...), j.Script...), "\n")
		for _, tc := range homeCases(t) {
			if job == ".tidegate-images" && tc.real != "" {
				continue // images update --propose needs a forge
			}
			t.Run(job+"/"+tc.name, func(t *testing.T) {
				cmd := exec.Command("bash", "-eo", "pipefail", "-c", script)
				cmd.Dir = t.TempDir()
				cmd.Env = append(stubTidegate(t, tc), "TIDEGATE_RESULT_FILE="+resultFile)
				if tc.real != "" && job != ".tidegate-render" {
					tc.pass = false // no cluster: the real run fails
				}
				out, err := cmd.CombinedOutput()
				if passed := err == nil; passed != tc.pass {
					t.Fatalf("job passed = %v, want %v (%v):\n%s", passed, tc.pass, err, out)
				}
			})
		}
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func shellQuoteTest(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
