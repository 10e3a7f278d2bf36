package cli

import (
	"fmt"
	"time"
)

// Summary is what a command tells the place it runs in once it is done:
// the GitHub Action's outputs and step summary, notifications and
// metrics are all written from this one value (see Sink), never from the
// command's internals.
type Summary struct {
	// Command is the command that ran, e.g. "reconcile" or "images update".
	Command string `json:"command"`
	// Source is the repository with credentials removed, Revision the
	// commit it was read at.
	Source   string `json:"source,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Changed is true when the command changed, or would change, anything.
	Changed bool `json:"changed"`
	// Outcome is how the run ended, as the exit code and the result file
	// tell it; Finish sets it from the command's final error.
	Outcome Outcome `json:"outcome"`
	// Counts are object counts by action (created, configured, ...) or,
	// for images, bumps found.
	Counts map[string]int `json:"counts,omitempty"`
	// PullRequestURL is set when a pull/merge request was opened or updated.
	PullRequestURL string `json:"pullRequestURL,omitempty"`
	// Inventory names the inventory object of the commands that have one
	// (reconcile, diff, check); summarize sets it.
	Inventory InventoryRef `json:"inventory,omitzero"`
	// Start is when the run began (Globals.Start; zero when unknown),
	// Duration how long the command ran since.
	Start    time.Time     `json:"-"`
	Duration time.Duration `json:"-"`
	// Markdown is a table of the change set, for step summaries and PR
	// comments.
	Markdown string `json:"-"`
	// Problems are errors that can be pinned to a file (and line) of the
	// repository, for GitHub's error annotations.
	Problems []Problem `json:"problems,omitempty"`
	// Err is the command's failure: set when Outcome is failed or
	// interrupted, nil otherwise (changes found is not a failure).
	Err error `json:"-"`
}

// Failed reports whether the run failed or was interrupted: what sinks
// show as a failure. Changes found (exit 2) is a success. A summary
// without an Outcome (not from Finish) failed when it has an Err.
func (s Summary) Failed() bool {
	switch s.Outcome {
	case OutcomeFailed, OutcomeInterrupted:
		return true
	case "":
		return s.Err != nil
	}
	return false
}

// Problem is an error located in the repository.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// InventoryRef names the inventory object (the ApplySet parent) of a run.
type InventoryRef struct {
	// Kind is ConfigMap or Secret.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is e.g. "ConfigMap default/tidegate", empty for no inventory.
func (r InventoryRef) String() string {
	if r == (InventoryRef{}) {
		return ""
	}
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
}

// metricsLabel is the metrics' inventory label, namespace/name.
func (r InventoryRef) metricsLabel() string {
	if r == (InventoryRef{}) {
		return ""
	}
	return r.Namespace + "/" + r.Name
}

// summarize records what the command did. Nothing is published yet: the
// command may still turn its error into an exit code (drift into 2, a
// failed print into 1), and the sinks must hear the outcome the exit
// code and the result file tell (see Finish).
func (g *Globals) summarize(s Summary) {
	g.summarized = true
	g.last = s
}

// Finish tells the sinks how the run ended, once: the summary the
// command recorded (or, for a command that failed before it could, such
// as no cluster, a clone that failed or a held lease, one with only the
// command's name: those are the runs an alert most needs to hear about)
// with its Outcome and Err set from err, the command's final error,
// whose Code is the exit code.
func (g *Globals) Finish(command string, err error) {
	if g.finished || command == "version" {
		return
	}
	g.finished = true
	s := g.last
	if !g.summarized {
		s = Summary{Command: command}
	}
	s.Err = g.settle(err)
	s.Outcome = outcome(s.Err)
	if s.Outcome == OutcomeOK || s.Outcome == OutcomeChanges {
		// Drift reported, changes found: the exit code says so (2), the
		// run did not fail, and no sink may show it as a failure.
		s.Err = nil
	}
	if s.Inventory == (InventoryRef{}) {
		s.Inventory = g.inventory
	}
	s.Start = g.Start
	if s.Duration == 0 && !g.Start.IsZero() {
		s.Duration = time.Since(g.Start)
	}
	s = g.scrubSummary(s)
	g.last = s
	g.publish(s)
}
