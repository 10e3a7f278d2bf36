package notify

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Event is what a run tells the webhooks. It is plain data so that the
// caller, not this package, decides what leaves the process: every field
// is sent as given, so Source must carry no credentials and Markdown and
// Err must have Secret values masked already.
type Event struct {
	// Command is the command that ran, e.g. "reconcile" or "images update".
	Command string
	// Source is the repository, without credentials.
	Source string
	// Revision is the commit the source was read at.
	Revision string
	// Changed is true when the run changed, or would change, anything.
	Changed bool
	// Counts are object counts by action (created, configured, ...) or,
	// for images, bumps found.
	Counts map[string]int
	// PullRequestURL is set when a pull/merge request was opened or updated.
	PullRequestURL string
	// Err is the run's failure, empty on success.
	Err string
	// Outcome is how the run ended: ok, changes, failed or interrupted
	// (SIGTERM, SIGINT). Empty: failed when Err is set, ok otherwise.
	Outcome string
	// Duration is how long the run took.
	Duration time.Duration
	// Markdown is a markdown table of the change set (objects and their
	// actions), with Secret values masked.
	Markdown string
	// Cluster and Host optionally say where the run happened, for
	// channels that several clusters or runners report to.
	Cluster string
	Host    string
}

// Failed reports whether the run failed.
func (e Event) Failed() bool {
	return e.Err != "" || e.Outcome == "failed" || e.Outcome == "interrupted"
}

func (e Event) outcome() string {
	switch {
	case e.Outcome != "":
		return e.Outcome
	case e.Failed():
		return "failed"
	}
	return "ok"
}

// Title is a one-line summary for people, e.g.
//
//	tidegate reconcile: 2 configured, 1 deleted (abc1234) ✔
//	tidegate reconcile on prod (abc1234) ✗ failed: render: ...
//
// Chat clients show it in notifications, where only one line fits.
func (e Event) Title() string {
	var b strings.Builder
	b.WriteString("tidegate")
	if e.Command != "" {
		b.WriteString(" " + oneLine(e.Command))
	}
	if e.Cluster != "" {
		b.WriteString(" on " + oneLine(e.Cluster))
	}
	rev := ""
	if e.Revision != "" {
		rev = " (" + shortRevision(e.Revision) + ")"
	}
	if e.Failed() {
		verb := " ✗ failed: "
		if e.Outcome == "interrupted" {
			verb = " ✗ interrupted: "
		}
		b.WriteString(rev + verb + truncate(oneLine(e.Err), maxTitleError))
		return b.String()
	}
	b.WriteString(": " + countsText(e.Counts, false) + rev + " ✔")
	return b.String()
}

// maxTitleError bounds the error in a title: the full error goes in the
// message body, the title only has to say which step failed.
const maxTitleError = 200

// MarshalJSON gives the generic JSON payload: stable lower-camel names
// matching tidegate's own JSON output (duration in seconds, error as a
// string, empty on success), every field always present so that
// receivers can rely on the shape.
func (e Event) MarshalJSON() ([]byte, error) {
	counts := e.Counts
	if counts == nil {
		counts = map[string]int{}
	}
	return json.Marshal(struct {
		Title          string         `json:"title"`
		Command        string         `json:"command"`
		Source         string         `json:"source"`
		Revision       string         `json:"revision"`
		Changed        bool           `json:"changed"`
		Failed         bool           `json:"failed"`
		Outcome        string         `json:"outcome"`
		Counts         map[string]int `json:"counts"`
		PullRequestURL string         `json:"pullRequestURL"`
		Error          string         `json:"error"`
		Duration       float64        `json:"duration"`
		Markdown       string         `json:"markdown"`
		Cluster        string         `json:"cluster"`
		Host           string         `json:"host"`
	}{
		Title:          e.Title(),
		Command:        e.Command,
		Source:         e.Source,
		Revision:       e.Revision,
		Changed:        e.Changed,
		Failed:         e.Failed(),
		Outcome:        e.outcome(),
		Counts:         counts,
		PullRequestURL: e.PullRequestURL,
		Error:          e.Err,
		Duration:       float64(e.Duration.Milliseconds()) / 1000,
		Markdown:       e.Markdown,
		Cluster:        e.Cluster,
		Host:           e.Host,
	})
}

// actionRank puts the counts people act on first; anything else follows
// alphabetically, so a new action shows up without a change here.
func actionRank(action string) (int, bool) {
	switch action {
	case "created":
		return 0, true
	case "configured":
		return 1, true
	case "deleted":
		return 2, true
	case "drifted":
		return 3, true
	case "failed":
		return 4, true
	case "skipped":
		return 5, true
	case "unchanged":
		return 6, true
	}
	return 0, false
}

type count struct {
	action string
	n      int
}

// sortedCounts returns the non-zero counts in display order; withUnchanged
// false leaves out objects that were left alone.
func sortedCounts(counts map[string]int, withUnchanged bool) []count {
	var out []count
	for a, n := range counts {
		if n == 0 || (!withUnchanged && a == "unchanged") {
			continue
		}
		out = append(out, count{a, n})
	}
	sort.Slice(out, func(i, j int) bool {
		oi, iok := actionRank(out[i].action)
		oj, jok := actionRank(out[j].action)
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return out[i].action < out[j].action
	})
	return out
}

func countsText(counts map[string]int, withUnchanged bool) string {
	cs := sortedCounts(counts, withUnchanged)
	if len(cs) == 0 {
		return "no changes"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d %s", c.n, oneLine(c.action))
	}
	return strings.Join(parts, ", ")
}

// shortRevision abbreviates a commit hash the way Git does; anything
// else (a tag, a branch) is a name people recognise and stays whole.
func shortRevision(rev string) string {
	if len(rev) <= 7 {
		return rev
	}
	for _, r := range rev {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return oneLine(rev)
		}
	}
	return rev[:7]
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	return s
}

func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
