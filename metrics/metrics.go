package metrics

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Run is the outcome of one tidegate run, as the metrics report it.
type Run struct {
	// Command is the command that ran, e.g. "reconcile" or "images update".
	Command string
	// Inventory identifies the inventory the run applied, as
	// namespace/name, e.g. "default/tidegate".
	Inventory string
	// Success is true when the run did what it was asked to.
	Success bool
	// Outcome is one of Outcomes: ok, changes, failed, interrupted, or
	// running for the metrics a run writes when it starts, which stay
	// when it never finishes (killed, out of memory). Empty: ok or
	// failed, from Success.
	Outcome string
	// Start is when the run started; the run ended at Start + Duration.
	// A zero Start means "ended now".
	Start    time.Time
	Duration time.Duration
	// Objects counts objects by action: created, configured, unchanged,
	// deleted, drifted, failed, skipped (and any other action).
	Objects map[string]int
	// Drifted is the number of objects whose live state differs from Git.
	Drifted int
	// PendingBumps is the number of image updates found but not applied.
	PendingBumps int
	// Revision is the Git commit the run read.
	Revision string
}

// knownActions are the object actions tidegate_objects always has a series
// for, so that a count dropping to zero shows as 0 rather than as a gap.
func knownActions() []string {
	return []string{"created", "configured", "unchanged", "deleted", "drifted", "failed", "skipped"}
}

// Outcomes are the values of tidegate_run_outcome's outcome label, each
// always present (1 for the run's, 0 for the others).
func Outcomes() []string {
	return []string{"ok", "changes", "failed", "interrupted", "running"}
}

// Metric names.
const (
	nameSuccess     = "tidegate_run_success"
	nameDuration    = "tidegate_run_duration_seconds"
	nameTimestamp   = "tidegate_run_timestamp_seconds"
	nameLastSuccess = "tidegate_last_success_timestamp_seconds"
	nameOutcome     = "tidegate_run_outcome"
	nameObjects     = "tidegate_objects"
	nameDrifted     = "tidegate_drifted_objects"
	nameBumps       = "tidegate_image_bumps_pending"
	nameInfo        = "tidegate_info"
)

// Label names every series carries.
const (
	labelCommand   = "command"
	labelInventory = "inventory"
)

type label struct{ name, value string }

type sample struct {
	labels []label // beyond command and inventory
	value  float64
}

type family struct {
	name, help string
	samples    []sample
}

// end is when the run ended.
func (r Run) end() time.Time {
	if r.Start.IsZero() {
		return time.Now()
	}
	return r.Start.Add(r.Duration)
}

// unixSeconds is t as fractional seconds since the Unix epoch.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// families are the metrics for r. lastSuccess is the value of
// tidegate_last_success_timestamp_seconds to report when r failed; the
// family is left out when r failed and lastSuccess is nil.
func families(r Run, version string, lastSuccess *float64) []family {
	end := unixSeconds(r.end())
	one := func(v float64, labels ...label) []sample { return []sample{{labels: labels, value: v}} }
	success := 0.0
	if r.Success {
		success = 1
		lastSuccess = &end
	}
	fams := []family{
		{nameSuccess, "Whether the last tidegate run succeeded (1) or failed (0).", one(success)},
		{nameDuration, "How long the last tidegate run took, in seconds.", one(r.Duration.Seconds())},
		{nameTimestamp, "Unix time the last tidegate run ended.", one(end)},
	}
	outcome := r.Outcome
	if outcome == "" {
		outcome = "failed"
		if r.Success {
			outcome = "ok"
		}
	}
	outcomes := family{name: nameOutcome, help: "How the last tidegate run ended (1) by outcome; running: it started and never wrote its end (killed, crashed)."}
	for _, o := range Outcomes() {
		v := 0.0
		if o == outcome {
			v = 1
		}
		outcomes.samples = append(outcomes.samples, sample{[]label{{"outcome", o}}, v})
	}
	fams = append(fams, outcomes)
	if lastSuccess != nil {
		fams = append(fams, family{nameLastSuccess, "Unix time the last successful tidegate run ended.", one(*lastSuccess)})
	}
	objects := family{name: nameObjects, help: "Objects in the last tidegate run, by action."}
	seen := map[string]bool{}
	for _, a := range knownActions() {
		seen[a] = true
		objects.samples = append(objects.samples, sample{[]label{{"action", a}}, float64(r.Objects[a])})
	}
	var extra []string
	for a := range r.Objects {
		if !seen[a] {
			extra = append(extra, a)
		}
	}
	sort.Strings(extra)
	for _, a := range extra {
		objects.samples = append(objects.samples, sample{[]label{{"action", a}}, float64(r.Objects[a])})
	}
	return append(fams, objects,
		family{nameDrifted, "Objects whose live state differed from Git in the last tidegate run.", one(float64(r.Drifted))},
		family{nameBumps, "Image updates found but not yet applied by the last tidegate run.", one(float64(r.PendingBumps))},
		family{nameInfo, "Always 1; the Git revision the last tidegate run read and the tidegate version.",
			one(1, label{"revision", r.Revision}, label{"version", version})},
	)
}

// Encode writes the metrics for r in the Prometheus text exposition format
// (version 0.0.4). tidegate_last_success_timestamp_seconds is written only
// when r succeeded; WriteFile and Push keep the previous value on failure.
func Encode(w io.Writer, r Run, version string) error {
	return encode(w, r, families(r, version, nil))
}

func encode(w io.Writer, r Run, fams []family) error {
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		bw.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
		bw.WriteString("# TYPE " + f.name + " gauge\n")
		for _, s := range f.samples {
			bw.WriteString(f.name)
			bw.WriteString(`{` + labelCommand + `="` + escapeLabelValue(r.Command) + `",` + labelInventory + `="` + escapeLabelValue(r.Inventory) + `"`)
			for _, l := range s.labels {
				bw.WriteString(`,` + l.name + `="` + escapeLabelValue(l.value) + `"`)
			}
			bw.WriteString("} " + formatValue(s.value) + "\n")
		}
	}
	return bw.Flush()
}

// escapeLabelValue escapes a label value for the text format: backslash,
// double quote and line feed.
func escapeLabelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes a HELP docstring: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
