package reconcile

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// UnitStatus says how one unit of a Flux run ended.
type UnitStatus string

// The statuses a unit can end with. Their names are part of the JSON
// output.
const (
	// UnitReconciled: the unit ran to the end (applied, pruned, waited).
	UnitReconciled UnitStatus = "reconciled"
	// UnitDiffed: tidegate diff compared the unit with the cluster.
	UnitDiffed UnitStatus = "diffed"
	// UnitFailed: the unit's render, apply, prune or wait failed.
	UnitFailed UnitStatus = "failed"
	// UnitSkipped: the unit did not run because a unit it depends on
	// failed or was skipped.
	UnitSkipped UnitStatus = "skipped"
	// UnitSuspended: the Kustomization says spec.suspend: true.
	UnitSuspended UnitStatus = "suspended"
	// UnitDrifted: --drift=report found drift in the unit and wrote
	// nothing in it.
	UnitDrifted UnitStatus = "drifted"
	// UnitOrphaned: Git no longer has the unit's Kustomization; its
	// objects were kept (the reason says why and what to do).
	UnitOrphaned UnitStatus = "orphaned"
	// UnitRemoved: Git no longer has the unit's Kustomization, and its
	// objects were pruned and its inventory deleted.
	UnitRemoved UnitStatus = "removed"
)

// Unit is one Flux Kustomization of a run, as the report gives it.
type Unit struct {
	// Name is namespace/name of the Kustomization; the run's own paths,
	// when they hold objects besides Kustomizations, are the unit "."
	Name string `json:"name"`
	// Path is spec.path, relative to the root of Source.
	Path string `json:"path"`
	// Source is the sourceRef (Kind/namespace/name); empty for the
	// run's own checkout.
	Source    string     `json:"source,omitempty"`
	Revision  string     `json:"revision,omitempty"`
	Inventory string     `json:"inventory,omitempty"`
	DependsOn []string   `json:"dependsOn,omitempty"`
	Status    UnitStatus `json:"status"`
	// Reason says why a unit was skipped or failed.
	Reason   string         `json:"reason,omitempty"`
	Counts   map[Action]int `json:"counts"`
	Duration Duration       `json:"duration"`
}

// AddUnit records one unit's run in a Flux run's report: its entries
// (marked with the unit) and not-ready objects join the report's, and its
// counts are the unit's own. sub may be nil for a unit that did not run.
func (r *Report) AddUnit(u Unit, sub *Report) {
	u.Counts = map[Action]int{}
	if sub != nil {
		for _, e := range sub.Objects {
			e.Unit = u.Name
			r.Objects = append(r.Objects, e)
			u.Counts[e.Action]++
		}
		r.NotReady = append(r.NotReady, sub.NotReady...)
		for _, h := range sub.Hooks {
			h.Unit = u.Name
			r.Hooks = append(r.Hooks, h)
		}
		u.Duration = sub.Duration
	}
	r.Units = append(r.Units, u)
}

// Finish sorts and counts a report assembled from units (AddUnit), as a
// single run's report is when it ends.
func (r *Report) Finish() { r.finish(r.Started) }

// writeUnits prints a Flux run: per unit, a header and the lines of its
// objects, so a reader sees which Kustomization did what.
func (r *Report) writeUnits(w io.Writer, verbose bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, u := range r.Units {
		head := fmt.Sprintf("unit %s (%s", u.Name, u.Path)
		if u.Source != "" {
			head += " from " + u.Source
		}
		head += "): " + string(u.Status)
		if u.Reason != "" {
			head += " (" + u.Reason + ")"
		}
		fmt.Fprintln(tw, head)
		for _, e := range r.Objects {
			if e.Unit != u.Name || (e.Action == Unchanged && !verbose) {
				continue
			}
			writeLine(tw, "  ", e)
		}
	}
	return tw.Flush()
}

// unitTotals is the summary of a Flux run's units: "3 units: 2
// reconciled, 1 skipped".
func (r *Report) unitTotals() string {
	counts := map[UnitStatus]int{}
	for _, u := range r.Units {
		counts[u.Status]++
	}
	var parts []string
	for _, s := range []UnitStatus{UnitReconciled, UnitDiffed, UnitDrifted, UnitFailed, UnitSkipped, UnitSuspended, UnitOrphaned, UnitRemoved} {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return fmt.Sprintf("%d units: %s", len(r.Units), strings.Join(parts, ", "))
}
