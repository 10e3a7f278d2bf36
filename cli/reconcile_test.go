package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/lease"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// clusterGlobals are the globals of a command run against the test API
// server, with captured output.
func clusterGlobals(t *testing.T, output string) (*Globals, *bytes.Buffer) {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, env.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	return &Globals{Kubeconfig: kc, Output: output, LogLevel: "warn", Stdout: &out, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}, &out
}

func cliRepo(t *testing.T, ns, value string) string {
	t.Helper()
	dir := t.TempDir()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: " + ns + "\ndata:\n  value: " + value + "\n"
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func reconcileCmd(dir, ns string) *ReconcileCmd {
	return &ReconcileCmd{
		SourceFlags:    SourceFlags{Source: dir, Path: []string{"."}},
		InventoryFlags: InventoryFlags{InventoryNamespace: ns, InventoryName: "cli", InventoryKind: "ConfigMap"},
		PlanFlags:      PlanFlags{Prune: true, MaxPruneShare: 0.5, Concurrency: 4},
		Drift:          "revert", Timeout: time.Minute, Lease: true, LeaseTTL: time.Minute,
	}
}

func TestReconcileAndDiffExitCodesAndJSON(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	dir := cliRepo(t, ns, "one")

	g, out := clusterGlobals(t, "json")
	if err := reconcileCmd(dir, ns).Run(ctx, g); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	var rep struct {
		Counts  map[string]int `json:"counts"`
		Objects []struct {
			Object, Action string
		} `json:"objects"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--output json is not JSON: %v\n%s", err, out)
	}
	if rep.Counts["created"] != 1 || rep.Objects[0].Object != "ConfigMap/"+ns+"/settings" {
		t.Errorf("report = %+v", rep)
	}

	// Nothing changed: diff exits 0.
	g, _ = clusterGlobals(t, "text")
	diff := &DiffCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"."}}, InventoryFlags: reconcileCmd(dir, ns).InventoryFlags, PlanFlags: reconcileCmd(dir, ns).PlanFlags}
	if err := diff.Run(ctx, g); Code(err) != ExitOK {
		t.Fatalf("diff without changes: exit %d (%v)", Code(err), err)
	}

	// Git changes: diff exits 2 and prints a diff.
	os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: "+ns+"\ndata:\n  value: two\n"), 0o644)
	g, out = clusterGlobals(t, "text")
	if err := diff.Run(ctx, g); Code(err) != ExitChanges {
		t.Fatalf("diff with changes: exit %d (%v)", Code(err), err)
	}
	if !strings.Contains(out.String(), "+  value: two") {
		t.Errorf("diff output:\n%s", out)
	}

	// A hand edit with --drift=report: exit 2, nothing written.
	g, _ = clusterGlobals(t, "text")
	if err := reconcileCmd(dir, ns).Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(ctx, "settings", types.MergePatchType, []byte(`{"data":{"value":"hand"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	cmd := reconcileCmd(dir, ns)
	cmd.Drift = "report"
	g, out = clusterGlobals(t, "text")
	if err := cmd.Run(ctx, g); Code(err) != ExitChanges {
		t.Fatalf("--drift=report with drift: exit %d (%v)", Code(err), err)
	}
	if !strings.Contains(out.String(), "drifted") {
		t.Errorf("output does not report drift:\n%s", out)
	}
	live, _ := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	if live.Data["value"] != "hand" {
		t.Error("--drift=report reverted the drift")
	}
}

func TestReconcileRefusesWhileAnotherRunHoldsTheLease(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	lock, err := lease.Acquire(ctx, env.Client().CoordinationV1(), ns, "tidegate-cli", "ci-job", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(ctx)
	g, _ := clusterGlobals(t, "text")
	err = reconcileCmd(cliRepo(t, ns, "x"), ns).Run(ctx, g)
	if !errors.Is(err, lease.ErrHeld) || !strings.Contains(err.Error(), "ci-job") {
		t.Fatalf("err = %v, want ErrHeld naming ci-job", err)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); err == nil {
		t.Error("a run without the lease applied objects")
	}
}

func TestRenderMasksSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: x\nstringData:\n  password: hunter2\n"), 0o644)
	for _, tc := range []struct {
		show bool
		want string
	}{{false, "redacted"}, {true, "hunter2"}} {
		var out bytes.Buffer
		g := &Globals{Output: "text", LogLevel: "warn", Stdout: &out, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }, SecretFlags: SecretFlags{ShowSecrets: tc.show}}
		c := &RenderCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"."}}}
		if err := c.Run(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tc.want) || (!tc.show && strings.Contains(out.String(), "hunter2")) {
			t.Errorf("--show-secrets=%v:\n%s", tc.show, out.String())
		}
	}
	// A failed render prints nothing on stdout.
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("kind: [\n"), 0o644)
	var out bytes.Buffer
	g := &Globals{Output: "text", LogLevel: "warn", Stdout: &out, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	if err := (&RenderCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"."}}}).Run(context.Background(), g); err == nil || out.Len() != 0 {
		t.Errorf("broken render: err %v, stdout %q", err, out.String())
	}
}
