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
	// Outcome is how the run ended; summarize sets it from Err.
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
	// Err is the command's failure, nil on success.
	Err error `json:"-"`
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

// summarize masks the run's decrypted values in s and hands it to the
// sinks.
func (g *Globals) summarize(s Summary) {
	g.summarized = true
	s.Err = g.settle(s.Err)
	s.Outcome = outcome(s.Err)
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

// Finish tells the sinks about a command that failed before it could
// summarize itself (no cluster, a clone that failed, a held lease): those
// are the runs an alert most needs to hear about.
func (g *Globals) Finish(command string, err error) {
	if g.summarized || command == "version" {
		return
	}
	g.summarize(Summary{Command: command, Err: err})
}
