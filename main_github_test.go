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

	"github.com/tidegate/tidegate/cli"
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
