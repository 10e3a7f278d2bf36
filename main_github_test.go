package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tidegate/tidegate/cli"
	"github.com/tidegate/tidegate/internal/testenv"
)

func TestGitHubHook(t *testing.T) {
	dir := t.TempDir()
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary}
	var stdout bytes.Buffer
	a := githubactions.New(githubactions.WithWriter(&stdout), githubactions.WithGetenv(func(k string) string { return env[k] }))

	err := githubSink{a}.Publish(context.Background(), cli.Summary{
		Command: "reconcile", Source: "https://github.com/acme/fleet", Revision: "0123456789abcdef0123",
		Changed: true, Counts: map[string]int{"configured": 2, "deleted": 1},
		Markdown: "| object | action |\n|---|---|\n| `ConfigMap/demo/a` | configured |\n",
		Problems: []cli.Problem{{File: "apps/bad.yaml", Line: 7, Message: "invalid YAML"}},
		Err:      errors.New("render failed"),
	})
	if err != nil {
		t.Fatal(err)
	}

	out, _ := os.ReadFile(outputs)
	for _, want := range []string{"command<<", "reconcile", "revision<<", "0123456789abcdef0123", "changed<<", "true", `{"configured":2,"deleted":1}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, out)
		}
	}
	sum, _ := os.ReadFile(summary)
	for _, want := range []string{"### tidegate reconcile failed", "`0123456789ab`", "- configured: 2", "`ConfigMap/demo/a`", "**Error:** render failed"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("step summary lacks %q:\n%s", want, sum)
		}
	}
	if got := stdout.String(); !strings.Contains(got, "::error file=apps/bad.yaml,line=7,title=tidegate reconcile::invalid YAML") {
		t.Errorf("annotation missing:\n%s", got)
	}
}

// TestGitHubOutcome runs tidegate's command line as a GitHub Actions
// step against a real API server: the step outputs, the step summary,
// the error annotations, the result file and the exit code tell one
// outcome. A drift reported and a diff with changes are "changes"
// (exit 2) with no failure title, error or annotation; a failure is
// "failed" (exit 1) with all three.
func TestGitHubOutcome(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop() }) // after the namespace's own clean-up
	ns := env.Namespace(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, env.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	setValue := func(v string) {
		t.Helper()
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: " + ns + "\ndata:\n  value: " + v + "\n"
		if err := os.WriteFile(filepath.Join(src, "cm.yaml"), []byte(cm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setValue("one")
	missing := filepath.Join(t.TempDir(), "missing")
	flags := func(command, source string, more ...string) []string {
		return append([]string{"--kubeconfig", kc, command, "--source", source, "--path", ".", "--inventory-namespace", ns}, more...)
	}

	for _, tc := range []struct {
		name    string
		before  func(t *testing.T)
		args    []string
		code    int
		outcome cli.Outcome
		title   string
	}{
		{name: "reconcile ok", args: flags("reconcile", src, "--no-wait"), code: cli.ExitOK, outcome: cli.OutcomeOK, title: "### tidegate reconcile\n"},
		{name: "diff ok", args: flags("diff", src), code: cli.ExitOK, outcome: cli.OutcomeOK, title: "### tidegate diff\n"},
		{name: "diff changes", before: func(*testing.T) { setValue("two") }, args: flags("diff", src),
			code: cli.ExitChanges, outcome: cli.OutcomeChanges, title: "### tidegate diff found changes\n"},
		{name: "reconcile drift report", args: flags("reconcile", src, "--drift", "report"),
			before: func(t *testing.T) {
				setValue("one")
				if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(context.Background(), "settings", types.MergePatchType, []byte(`{"data":{"value":"hand"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
					t.Fatal(err)
				}
			},
			code: cli.ExitChanges, outcome: cli.OutcomeChanges, title: "### tidegate reconcile found changes\n"},
		{name: "reconcile failed", args: flags("reconcile", missing), code: cli.ExitFailure, outcome: cli.OutcomeFailed, title: "### tidegate reconcile failed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			dir := t.TempDir()
			outputs, summary, result := filepath.Join(dir, "output"), filepath.Join(dir, "summary"), filepath.Join(dir, "result.json")
			for _, f := range []string{outputs, summary} {
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("GITHUB_ACTIONS", "true")
			t.Setenv("GITHUB_OUTPUT", outputs)
			t.Setenv("GITHUB_STEP_SUMMARY", summary)
			// go-githubactions writes annotations to the process's stdout.
			annotations, err := os.Create(filepath.Join(dir, "annotations"))
			if err != nil {
				t.Fatal(err)
			}
			stdout := os.Stdout
			os.Stdout = annotations
			code, _, stderr := runCaptured(t, nil, append([]string{"--result-file", result}, tc.args...)...)
			os.Stdout = stdout
			annotations.Close()

			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, stderr)
			}
			if res := readResult(t, result); res.Outcome != tc.outcome || res.ExitCode != tc.code {
				t.Errorf("result file = %+v, want outcome %q, exit %d", res, tc.outcome, tc.code)
			}
			out, _ := os.ReadFile(outputs)
			if got := stepOutput(string(out), "outcome"); got != string(tc.outcome) {
				t.Errorf("outcome output = %q, want %q:\n%s", got, tc.outcome, out)
			}
			sum, _ := os.ReadFile(summary)
			if !strings.HasPrefix(string(sum), tc.title) {
				t.Errorf("step summary does not start with %q:\n%s", tc.title, sum)
			}
			failed := tc.outcome == cli.OutcomeFailed
			if strings.Contains(string(sum), "**Error:**") != failed {
				t.Errorf("step summary's error, want it %v:\n%s", failed, sum)
			}
			ann, _ := os.ReadFile(annotations.Name())
			if strings.Contains(string(ann), "::error") != failed {
				t.Errorf("error annotation, want it %v:\n%s", failed, ann)
			}
		})
	}
}

// stepOutput is the value of name in a GITHUB_OUTPUT file
// (name<<DELIMITER, value lines, DELIMITER).
func stepOutput(file, name string) string {
	lines := strings.Split(file, "\n")
	for i, l := range lines {
		if delim, ok := strings.CutPrefix(l, name+"<<"); ok {
			var v []string
			for _, x := range lines[i+1:] {
				if x == delim {
					return strings.Join(v, "\n")
				}
				v = append(v, x)
			}
		}
	}
	return ""
}
