package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/sethvargo/go-githubactions"

	"github.com/tidegate/tidegate/cli"
	"github.com/tidegate/tidegate/internal/markdown"
)

// githubSink tells GitHub Actions what a command did: step outputs that
// later steps can branch on, a step summary with the change set, and
// error annotations pinned to the repository's files. It lives in main
// because only main may import go-githubactions.
type githubSink struct{ a *githubactions.Action }

// Publish writes s. go-githubactions panics when it cannot write the
// step's files instead of returning an error; Execute recovers that into
// a failed run (exit 1), so a step never loses its outputs silently.
func (g githubSink) Publish(_ context.Context, s cli.Summary) error {
	a := g.a
	a.SetOutput("command", s.Command)
	a.SetOutput("revision", s.Revision)
	a.SetOutput("changed", strconv.FormatBool(s.Changed))
	a.SetOutput("outcome", string(s.Outcome))
	counts, _ := json.Marshal(s.Counts)
	a.SetOutput("counts", string(counts))
	if s.PullRequestURL != "" {
		a.SetOutput("pr-url", s.PullRequestURL)
	}

	title := "tidegate " + s.Command
	switch {
	case s.Outcome == cli.OutcomeInterrupted:
		title += " interrupted"
	case s.Failed():
		title += " failed"
	case s.Outcome == cli.OutcomeChanges:
		title += " found changes"
	}
	summary := fmt.Sprintf("### %s\n\n", title)
	if s.Source != "" {
		summary += fmt.Sprintf("Source %s at %s.\n\n", markdown.Code(s.Source), markdown.Code(short(s.Revision)))
	}
	if len(s.Counts) > 0 {
		keys := make([]string, 0, len(s.Counts))
		for k := range s.Counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			summary += fmt.Sprintf("- %s: %d\n", k, s.Counts[k])
		}
		summary += "\n"
	}
	if s.PullRequestURL != "" {
		summary += fmt.Sprintf("Pull request: %s\n\n", s.PullRequestURL)
	}
	summary += s.Markdown
	if s.Failed() && s.Err != nil {
		summary += fmt.Sprintf("\n**Error:** %s\n", markdown.Text(s.Err.Error()))
	}
	a.AddStepSummary(summary)

	for _, p := range s.Problems {
		fields := map[string]string{"title": "tidegate " + s.Command}
		if p.File != "" {
			fields["file"] = p.File
		}
		if p.Line > 0 {
			fields["line"] = strconv.Itoa(p.Line)
		}
		a.WithFieldsMap(fields).Errorf("%s", p.Message)
	}
	if s.Failed() && s.Err != nil && len(s.Problems) == 0 {
		a.WithFieldsMap(map[string]string{"title": "tidegate " + s.Command}).Errorf("%s", s.Err)
	}
	return nil
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
