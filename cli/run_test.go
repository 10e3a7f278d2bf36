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

	"github.com/tidegate/tidegate/lease"
)

// TestInterruptedReconcile: SIGTERM while reconcile waits for a
// Deployment that never becomes ready (the test API server runs no
// controllers) stops the wait at once, releases the Lease, and the
// report, the result file and the exit code (143) say interrupted.
func TestInterruptedReconcile(t *testing.T) {
	ns := env.Namespace(t)
	dir := t.TempDir()
	deploy := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ` + ns + `
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.invalid/web:1}]
`
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(deploy), 0o644); err != nil {
		t.Fatal(err)
	}
	g, out := clusterGlobals(t, "json")
	g.ResultFile = filepath.Join(t.TempDir(), "result.json")
	cmd := reconcileCmd(dir, ns)
	cmd.Wait, cmd.Timeout = true, 10*time.Minute

	// The signal is delivered as the cause of the parent context, as
	// RunContext's handler does; a real signal would reach the test
	// binary's other tests too.
	parent, signal := context.WithCancelCause(context.Background())
	ctx, stop := g.RunContext(parent)
	defer stop()
	time.AfterFunc(2*time.Second, func() { signal(&InterruptedError{Signal: syscall.SIGTERM}) })
	start := time.Now()
	err := g.Execute("reconcile", cmd, func() error { return cmd.Run(ctx, g) })
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("reconcile took %s after the interrupt", took)
	}
	if Code(err) != 143 || !strings.Contains(err.Error(), "interrupted by SIGTERM") {
		t.Fatalf("err = %v (exit %d), want interrupted by SIGTERM, exit 143", err, Code(err))
	}
	var rep struct {
		Outcome string         `json:"outcome"`
		Counts  map[string]int `json:"counts"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("report is not JSON: %v\n%s", jerr, out)
	}
	if rep.Outcome != "interrupted" || rep.Counts["created"] != 1 {
		t.Errorf("report = %+v, want outcome interrupted with the Deployment created", rep)
	}
	data, rerr := os.ReadFile(g.ResultFile)
	var res Result
	if rerr != nil || json.Unmarshal(data, &res) != nil || res.Outcome != OutcomeInterrupted || res.ExitCode != 143 {
		t.Errorf("result file (%v): %s", rerr, data)
	}
	// The Lease was released: the next run takes it at once.
	lock, lerr := lease.Acquire(context.Background(), env.Client().CoordinationV1(), ns, "tidegate-cli", "next-run", time.Minute)
	if lerr != nil {
		t.Fatalf("the interrupted run kept the Lease: %v", lerr)
	}
	lock.Release(context.Background())
}
