package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHostileOwnershipCLI: the flags reach the run. An existing object
// is refused (exit 1) by diff and reconcile, and --adopt adopts it, which
// both JSON and text reports call "adopted".
func TestHostileOwnershipCLI(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	existing := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: map[string]string{"value": "by hand"}}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(ctx, existing, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	dir := cliRepo(t, ns, "git")
	cmd := reconcileCmd(dir, ns)
	diff := &DiffCmd{SourceFlags: cmd.SourceFlags, InventoryFlags: cmd.InventoryFlags, PlanFlags: cmd.PlanFlags}

	g, _ := clusterGlobals(t, "text")
	if err := diff.Run(ctx, g); Code(err) != ExitFailure || !strings.Contains(err.Error(), "tidegate diff --adopt") {
		t.Fatalf("diff over an existing object: exit %d (%v), want 1 naming --adopt", Code(err), err)
	}
	g, _ = clusterGlobals(t, "text")
	if err := cmd.Run(ctx, g); Code(err) != ExitFailure || !strings.Contains(err.Error(), "kubectl-create") {
		t.Fatalf("reconcile over an existing object: exit %d (%v)", Code(err), err)
	}
	if cm, _ := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); cm.Data["value"] != "by hand" {
		t.Fatal("the refused reconcile wrote the object")
	}

	diff.Adopt = true
	g, out := clusterGlobals(t, "text")
	if err := diff.Run(ctx, g); Code(err) != ExitChanges || !strings.Contains(out.String(), "adopted") {
		t.Fatalf("diff --adopt: exit %d (%v)\n%s", Code(err), err, out)
	}
	cmd.Adopt = true
	g, out = clusterGlobals(t, "json")
	if err := cmd.Run(ctx, g); err != nil {
		t.Fatalf("reconcile --adopt: %v", err)
	}
	var rep struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Counts["adopted"] != 1 {
		t.Errorf("JSON report: %v %s", err, out)
	}
}
