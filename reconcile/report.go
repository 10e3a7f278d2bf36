package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tidegate/tidegate/object"
)

// Action says what a run did (or, in a dry-run, would do) to one object:
// object.Action, the vocabulary apply and prune return.
type Action = object.Action

// The actions a report can hold. Their names are part of the JSON output.
const (
	Created    = object.Created
	Configured = object.Configured
	// Adopted is an object that existed without being ours and was taken
	// over (and written) by this run: --adopt, the annotation
	// tidegate.dev/adopt: enabled, or --force for another inventory's.
	Adopted   = object.Adopted
	Unchanged = object.Unchanged
	Deleted   = object.Deleted
	Skipped   = object.Skipped
	Drifted   = object.Drifted
	Failed    = object.Failed
)

// Entry is one object's line in the report: the change apply, diff or
// prune returned for it, and, in a Flux run, the unit it belongs to.
type Entry struct {
	object.Change
	// Unit is the Flux Kustomization (namespace/name) whose run the
	// object belongs to, in a Flux run.
	Unit string
}

// Object is Kind/namespace/name, the form every message uses.
func (e Entry) Object() string { return e.ID.String() }

// entryJSON is an Entry as the JSON report spells it: the object both as
// one string and field by field.
type entryJSON struct {
	Object    string `json:"object"`
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    Action `json:"action"`
	Reason    string `json:"reason,omitempty"`
	Diff      string `json:"diff,omitempty"`
	Unit      string `json:"unit,omitempty"`
}

// MarshalJSON writes the entry in the report's shape.
func (e Entry) MarshalJSON() ([]byte, error) {
	id := e.ID
	return json.Marshal(entryJSON{Object: id.String(), Group: id.Group, Kind: id.Kind, Namespace: id.Namespace, Name: id.Name,
		Action: e.Action, Reason: e.Reason, Diff: e.Diff, Unit: e.Unit})
}

// Health is the readiness of one applied object after --wait.
type Health struct {
	Object  string `json:"object"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Report is the result of one run, as data: the text and JSON printers,
// the GitHub step summary and notifications all format this one value.
type Report struct {
	Source    string         `json:"source"`
	Revision  string         `json:"revision,omitempty"`
	Paths     []string       `json:"paths"`
	DryRun    bool           `json:"dryRun"`
	Drift     DriftMode      `json:"driftMode"`
	Inventory string         `json:"inventory"`
	Started   time.Time      `json:"started"`
	Duration  Duration       `json:"duration"`
	Objects   []Entry        `json:"objects"`
	Counts    map[Action]int `json:"counts"`
	NotReady  []Health       `json:"notReady,omitempty"`
	// Hooks are the Helm hooks the run ran (or, dry, would run), in the
	// order they ran.
	Hooks []HookRun `json:"hooks,omitempty"`
	// Units are a Flux run's units in the order they ran; empty in a
	// run without Flux Kustomizations.
	Units []Unit `json:"units,omitempty"`
	// Error is the run's failure, empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// Duration marshals as seconds with millisecond precision, which both
// jq users and dashboards can read.
type Duration time.Duration

// MarshalJSON renders the duration in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(d).Seconds())), nil
}

func (r *Report) add(e Entry) { r.Objects = append(r.Objects, e) }

// entryOf is the report's line for one change.
func entryOf(c object.Change) Entry { return Entry{Change: c} }

// finish sorts the entries by object and counts them by action.
func (r *Report) finish(started time.Time) {
	r.Duration = Duration(time.Since(started))
	r.sortObjects()
	r.Counts = map[Action]int{}
	for _, e := range r.Objects {
		r.Counts[e.Action]++
	}
}

// sortObjects orders the entries by Object, computing each key once
// rather than two per comparison.
func (r *Report) sortObjects() {
	if len(r.Objects) < 2 {
		return
	}
	keys := make([]string, len(r.Objects))
	order := make([]int, len(r.Objects))
	for i, e := range r.Objects {
		keys[i], order[i] = e.Object(), i
	}
	sort.SliceStable(order, func(i, j int) bool { return keys[order[i]] < keys[order[j]] })
	sorted := make([]Entry, len(r.Objects))
	for i, at := range order {
		sorted[i] = r.Objects[at]
	}
	r.Objects = sorted
}

// Changed reports whether the run changed (or, dry, would change) anything.
func (r *Report) Changed() bool {
	return r.Counts[Created]+r.Counts[Configured]+r.Counts[Adopted]+r.Counts[Deleted] > 0 || len(r.Hooks) > 0
}

// Filter returns the entries with one of the given actions.
func (r *Report) Filter(actions ...Action) []Entry {
	var out []Entry
	for _, e := range r.Objects {
		for _, a := range actions {
			if e.Action == a {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// WriteText prints the report for people: one line per object that was
// not left unchanged, then the totals. verbose adds unchanged objects.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	if err := r.writeLines(w, verbose); err != nil {
		return err
	}
	for _, e := range r.Objects {
		if e.Diff != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimRight(e.Diff, "\n"))
		}
	}
	for _, h := range r.NotReady {
		fmt.Fprintf(w, "not ready: %s: %s: %s\n", h.Object, h.Status, h.Message)
	}
	writeHooks(w, r.Hooks)
	mode := ""
	if r.DryRun {
		mode = " (dry-run: nothing was written)"
	}
	var parts []string
	for _, a := range []Action{Created, Configured, Adopted, Unchanged, Deleted, Skipped, Drifted, Failed} {
		if n := r.Counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no objects"}
	}
	rev := r.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		rev = "working tree"
	}
	units := ""
	if len(r.Units) > 0 {
		units = "; " + r.unitTotals()
	}
	_, err := fmt.Fprintf(w, "%s at %s: %s in %s%s%s\n", r.Source, rev, strings.Join(parts, ", "), time.Duration(r.Duration).Round(time.Millisecond), units, mode)
	return err
}

// writeLines prints one line per object that was not left unchanged
// (all with verbose), grouped by unit in a Flux run.
func (r *Report) writeLines(w io.Writer, verbose bool) error {
	if len(r.Units) > 0 {
		return r.writeUnits(w, verbose)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range r.Objects {
		if e.Action == Unchanged && !verbose {
			continue
		}
		writeLine(tw, "", e)
	}
	return tw.Flush()
}

// writeLine prints one entry: object, action and, in parentheses, the
// reason, tab-separated for a tabwriter.
func writeLine(w io.Writer, indent string, e Entry) {
	line := fmt.Sprintf("%s%s\t%s", indent, e.Object(), e.Action)
	if e.Reason != "" {
		line += "\t(" + e.Reason + ")"
	}
	fmt.Fprintln(w, line)
}
