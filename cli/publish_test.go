package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidegate/tidegate/notify"
)

// receiver is a webhook endpoint that keeps the JSON bodies it is sent.
type receiver struct {
	mu     sync.Mutex
	events []map[string]any
}

func newReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("webhook body is not JSON: %v\n%s", err, body)
		}
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL + "/hook/secret-token"
}

func (r *receiver) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.events...)
}

func TestReconcileNotifiesAndWritesMetrics(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	dir := cliRepo(t, ns, "one")
	rec, url := newReceiver(t)
	target, err := notify.ParseTarget("json=" + url)
	if err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(t.TempDir(), "tidegate.prom")

	run := func(value string) *Globals {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: "+ns+"\ndata:\n  value: "+value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		g, _ := clusterGlobals(t, "text")
		g.ReportFlags = ReportFlags{Notify: []notify.Target{target}, NotifyOn: "change", MetricsFile: prom}
		g.Sinks = g.ReportSinks()
		g.Start = time.Now()
		err := reconcileCmd(dir, ns).Run(ctx, g)
		g.Finish("reconcile", err)
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		return g
	}

	run("one")
	events := rec.all()
	if len(events) != 1 {
		t.Fatalf("want one notification for the first run, got %d", len(events))
	}
	e := events[0]
	counts, _ := e["counts"].(map[string]any)
	if e["command"] != "tidegate reconcile" || e["changed"] != true || counts["created"] != float64(1) || e["failed"] != false {
		t.Errorf("notification = %v", e)
	}
	if md, _ := e["markdown"].(string); !strings.Contains(md, "ConfigMap/"+ns+"/settings") {
		t.Errorf("notification lacks the change table: %v", e)
	}
	metricsText := func() string {
		data, err := os.ReadFile(prom)
		if err != nil {
			t.Fatalf("metrics file: %v", err)
		}
		return string(data)
	}
	m := metricsText()
	inv := `inventory="` + ns + `/cli"`
	for _, want := range []string{
		`tidegate_run_success{command="reconcile",` + inv + `} 1`,
		`tidegate_objects{command="reconcile",` + inv + `,action="created"} 1`,
		`tidegate_drifted_objects{command="reconcile",` + inv + `} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics file lacks %q:\n%s", want, m)
		}
	}

	// Nothing changes: with --notify-on=change nobody is told, the metrics
	// still are.
	run("one")
	if n := len(rec.all()); n != 1 {
		t.Errorf("an unchanged run notified (%d notifications)", n)
	}
	if m := metricsText(); !strings.Contains(m, `tidegate_objects{command="reconcile",`+inv+`,action="unchanged"} 1`) {
		t.Errorf("second run's metrics:\n%s", m)
	}
}

// A run that fails before it has a report (here: a source that does not
// exist) is the one an alert most needs: it is still notified and counted.
func TestEarlyFailureIsNotified(t *testing.T) {
	ns := env.Namespace(t)
	rec, url := newReceiver(t)
	target, err := notify.ParseTarget("json=" + url)
	if err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(t.TempDir(), "tidegate.prom")
	g, _ := clusterGlobals(t, "text")
	g.ReportFlags = ReportFlags{Notify: []notify.Target{target}, NotifyOn: "failure", MetricsFile: prom}
	g.Sinks = g.ReportSinks()
	cmd := reconcileCmd(filepath.Join(t.TempDir(), "missing"), ns)
	err = cmd.Run(context.Background(), g)
	if err == nil {
		t.Fatal("reconcile of a missing source succeeded")
	}
	g.Finish("reconcile", err)
	events := rec.all()
	if len(events) != 1 || events[0]["failed"] != true || !strings.Contains(events[0]["error"].(string), "missing") {
		t.Fatalf("notifications = %v", events)
	}
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `tidegate_run_success{command="reconcile",inventory="`+ns+`/cli"} 0`) {
		t.Errorf("metrics of the failed run:\n%s", data)
	}
}
