package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/inventory"
)

// inventoryCmd stands for a command with an inventory (reconcile, diff,
// check): Execute reads it before the run starts.
type inventoryCmd struct{ p inventory.Parent }

func (c inventoryCmd) parent() inventory.Parent { return c.p }

// TestSinks: every sink hears the run's one summary, with the inventory
// as data; the metrics say running while the run lasts and its end
// afterwards; a failing sink is logged and neither silences the sinks
// after it nor changes the run's exit code or result file.
func TestSinks(t *testing.T) {
	dir := t.TempDir()
	prom, result := filepath.Join(dir, "tidegate.prom"), filepath.Join(dir, "result.json")
	g, _, stderr := testGlobals("text")
	g.ReportFlags = ReportFlags{MetricsFile: prom}
	g.ResultFile = result
	g.Start = time.Now()
	var got []Summary
	record := SinkFunc(func(_ context.Context, s Summary) error { got = append(got, s); return nil })
	broken := SinkFunc(func(context.Context, Summary) error { return errors.New("sink-canary-Zr8 is down") })
	g.Sinks = append([]Sink{broken, record}, g.ReportSinks()...)
	if len(g.Sinks) != 3 {
		t.Fatalf("ReportSinks with a metrics file = %d sinks, want 1", len(g.Sinks)-2)
	}

	inv := inventory.Parent{Kind: "Secret", Namespace: "team-a", Name: "fleet"}
	label := `command="diff",inventory="team-a/fleet"`
	err := g.Execute("diff", inventoryCmd{inv}, func() error {
		m, rerr := os.ReadFile(prom)
		if rerr != nil {
			t.Fatalf("no metrics while the run lasts: %v", rerr)
		}
		for _, want := range []string{`tidegate_run_success{` + label + `} 0`, `tidegate_run_outcome{` + label + `,outcome="running"} 1`} {
			if !strings.Contains(string(m), want) {
				t.Errorf("metrics while the run lasts lack %q:\n%s", want, m)
			}
		}
		if len(got) != 0 {
			t.Errorf("a sink heard the run's end before it ended: %+v", got)
		}
		g.summarize(Summary{Command: "diff", Changed: true, Counts: map[string]int{"configured": 3}})
		return &ExitError{Code: ExitChanges}
	})
	if Code(err) != ExitChanges {
		t.Fatalf("exit %d (%v), want %d: a sink's failure must not change it", Code(err), err, ExitChanges)
	}

	if len(got) != 1 {
		t.Fatalf("the sink after the failing one heard %d summaries, want 1", len(got))
	}
	s := got[0]
	want := InventoryRef{Kind: "Secret", Namespace: "team-a", Name: "fleet"}
	if s.Inventory != want || s.Outcome != OutcomeChanges || s.Err != nil || !s.Changed || s.Start != g.Start || s.Counts["configured"] != 3 {
		t.Errorf("summary = %+v, want inventory %+v, outcome changes (as the exit code), no error, changed, the run's start", s, want)
	}
	if log := stderr.String(); !strings.Contains(log, "could not publish the run's summary") || !strings.Contains(log, "sink-canary-Zr8 is down") {
		t.Errorf("the failing sink was not logged:\n%s", log)
	}
	m, _ := os.ReadFile(prom)
	for _, want := range []string{`tidegate_run_success{` + label + `} 1`, `tidegate_run_outcome{` + label + `,outcome="running"} 0`, `tidegate_objects{` + label + `,action="configured"} 3`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics after the run lack %q:\n%s", want, m)
		}
	}
	var res Result
	data, rerr := os.ReadFile(result)
	if rerr != nil || json.Unmarshal(data, &res) != nil || res.Inventory != "Secret team-a/fleet" || res.Outcome != OutcomeChanges || res.ExitCode != ExitChanges {
		t.Errorf("result file (%v): %s", rerr, data)
	}
}
