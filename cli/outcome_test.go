package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tidegate/tidegate/notify"
)

// TestOutcomeAgrees runs reconcile and diff to each of their ends the way
// main does (Execute) and checks that the exit code, the result file and
// every sink (a recording sink, a JSON webhook, the metrics file) tell
// the same outcome: a drift reported or a diff with changes is "changes"
// (exit 2, not failed, no error) everywhere, a failure "failed" (exit 1)
// with its error, a signal "interrupted" (exit 143).
func TestOutcomeAgrees(t *testing.T) {
	ns := env.Namespace(t)
	dir := cliRepo(t, ns, "one")
	setValue := func(v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: "+ns+"\ndata:\n  value: "+v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diffCmd := func(src string) *DiffCmd {
		r := reconcileCmd(src, ns)
		return &DiffCmd{SourceFlags: r.SourceFlags, InventoryFlags: r.InventoryFlags, PlanFlags: r.PlanFlags}
	}
	missing := filepath.Join(t.TempDir(), "missing")

	for _, tc := range []struct {
		name    string
		command string
		before  func(t *testing.T)
		// cmd is the command struct, run its Run.
		cmd       func() (any, func(context.Context, *Globals) error)
		interrupt bool
		code      int
		outcome   Outcome
		changed   bool
	}{
		{name: "reconcile ok", command: "reconcile", code: ExitOK, outcome: OutcomeOK, changed: true,
			cmd: func() (any, func(context.Context, *Globals) error) { c := reconcileCmd(dir, ns); return c, c.Run }},
		{name: "diff ok", command: "diff", code: ExitOK, outcome: OutcomeOK,
			cmd: func() (any, func(context.Context, *Globals) error) { c := diffCmd(dir); return c, c.Run }},
		{name: "diff changes", command: "diff", code: ExitChanges, outcome: OutcomeChanges, changed: true,
			before: func(*testing.T) { setValue("two") },
			cmd:    func() (any, func(context.Context, *Globals) error) { c := diffCmd(dir); return c, c.Run }},
		{name: "reconcile drift report", command: "reconcile", code: ExitChanges, outcome: OutcomeChanges, changed: true,
			before: func(t *testing.T) {
				setValue("one")
				if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(context.Background(), "settings", types.MergePatchType, []byte(`{"data":{"value":"hand"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
					t.Fatal(err)
				}
			},
			cmd: func() (any, func(context.Context, *Globals) error) {
				c := reconcileCmd(dir, ns)
				c.Drift = "report"
				return c, c.Run
			}},
		{name: "diff failed", command: "diff", code: ExitFailure, outcome: OutcomeFailed,
			cmd: func() (any, func(context.Context, *Globals) error) { c := diffCmd(missing); return c, c.Run }},
		{name: "reconcile failed", command: "reconcile", code: ExitFailure, outcome: OutcomeFailed,
			cmd: func() (any, func(context.Context, *Globals) error) { c := reconcileCmd(missing, ns); return c, c.Run }},
		{name: "reconcile interrupted", command: "reconcile", code: 128 + int(syscall.SIGTERM), outcome: OutcomeInterrupted, interrupt: true,
			cmd: func() (any, func(context.Context, *Globals) error) { c := reconcileCmd(dir, ns); return c, c.Run }},
		// Commands without an inventory: an edit dry-run that would change
		// a file, and a render.
		{name: "automate dry-run changes", command: "automate", code: ExitChanges, outcome: OutcomeChanges, changed: true,
			cmd: func() (any, func(context.Context, *Globals) error) {
				c := &AutomateCmd{}
				c.SourceFlags, c.EditFlags = editFlags(editRepo(t), EditFlags{DryRun: true})
				return c, c.Run
			}},
		{name: "render ok", command: "render", code: ExitOK, outcome: OutcomeOK,
			cmd: func() (any, func(context.Context, *Globals) error) {
				c := &RenderCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"."}}}
				return c, c.Run
			}},
		{name: "render failed", command: "render", code: ExitFailure, outcome: OutcomeFailed,
			cmd: func() (any, func(context.Context, *Globals) error) {
				c := &RenderCmd{SourceFlags: SourceFlags{Source: missing, Path: []string{"."}}}
				return c, c.Run
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			rec, url := newReceiver(t)
			target, err := notify.ParseTarget("json=" + url)
			if err != nil {
				t.Fatal(err)
			}
			prom, resultFile := filepath.Join(t.TempDir(), "tidegate.prom"), filepath.Join(t.TempDir(), "result.json")
			g, _ := clusterGlobals(t, "text")
			g.ReportFlags = ReportFlags{Notify: []notify.Target{target}, NotifyOn: "always", MetricsFile: prom}
			g.ResultFile = resultFile
			g.Start = time.Now()
			var got []Summary
			g.Sinks = append([]Sink{SinkFunc(func(_ context.Context, s Summary) error { got = append(got, s); return nil })}, g.ReportSinks()...)

			parent, signal := context.WithCancelCause(context.Background())
			defer signal(nil)
			if tc.interrupt {
				signal(&InterruptedError{Signal: syscall.SIGTERM})
			}
			ctx, stop := g.RunContext(parent)
			defer stop()
			cmd, run := tc.cmd()
			err = g.Execute(tc.command, cmd, func() error { return run(ctx, g) })

			if Code(err) != tc.code {
				t.Fatalf("exit %d (%v), want %d", Code(err), err, tc.code)
			}
			failed := tc.outcome == OutcomeFailed || tc.outcome == OutcomeInterrupted

			if len(got) != 1 {
				t.Fatalf("the sink heard %d summaries, want 1", len(got))
			}
			s := got[0]
			if s.Outcome != tc.outcome || s.Failed() != failed || (s.Err != nil) != failed || s.Changed != tc.changed {
				t.Errorf("summary: outcome %q, failed %v, err %v, changed %v; want %q, failed %v, changed %v", s.Outcome, s.Failed(), s.Err, s.Changed, tc.outcome, failed, tc.changed)
			}

			var res Result
			data, rerr := os.ReadFile(resultFile)
			if rerr != nil || json.Unmarshal(data, &res) != nil {
				t.Fatalf("result file (%v): %s", rerr, data)
			}
			if res.Outcome != tc.outcome || res.ExitCode != tc.code || res.Changed != tc.changed {
				t.Errorf("result file = %s, want outcome %q, exit %d, changed %v", data, tc.outcome, tc.code, tc.changed)
			}

			events := rec.all()
			if len(events) != 1 {
				t.Fatalf("%d notifications, want 1", len(events))
			}
			e := events[0]
			if e["outcome"] != string(tc.outcome) || e["failed"] != failed || (e["error"] != nil && e["error"] != "") != failed {
				t.Errorf("notification = %v, want outcome %q, failed %v", e, tc.outcome, failed)
			}

			m, merr := os.ReadFile(prom)
			if merr != nil {
				t.Fatal(merr)
			}
			success := "1"
			if failed {
				success = "0"
			}
			// The inventory label is the run's, empty for commands without.
			metric := func(name, outcome string) string {
				for _, l := range strings.Split(string(m), "\n") {
					if strings.HasPrefix(l, name+`{command="`+tc.command+`"`) && strings.Contains(l, outcome) {
						return l
					}
				}
				return ""
			}
			if l := metric("tidegate_run_success", ""); !strings.HasSuffix(l, "} "+success) {
				t.Errorf("tidegate_run_success = %q, want %s:\n%s", l, success, m)
			}
			if l := metric("tidegate_run_outcome", `outcome="`+string(tc.outcome)+`"`); !strings.HasSuffix(l, "} 1") {
				t.Errorf("tidegate_run_outcome for %s = %q, want 1:\n%s", tc.outcome, l, m)
			}
			if tc.command == "reconcile" || tc.command == "diff" {
				if l := metric("tidegate_run_success", ""); !strings.Contains(l, `inventory="`+ns+`/cli"`) {
					t.Errorf("metrics of %s lack the inventory: %q", tc.command, l)
				}
			}
		})
	}
}
