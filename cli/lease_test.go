package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/lease"
)

// deploymentRepo holds one Deployment, which never becomes ready by
// itself: the test API server runs no controllers, so --wait waits until
// the test says so.
func deploymentRepo(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	d := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ` + ns + `
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
`
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(d), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// whenWaiting calls fn once the run has applied the Deployment and is
// waiting for it.
func whenWaiting(t *testing.T, ns string, fn func()) {
	ctx := context.Background()
	for range 200 {
		if _, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err == nil {
			fn()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the run never applied the Deployment")
}

func markReady(t *testing.T, ns string) {
	ctx := context.Background()
	d, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
		},
	}
	if _, err := env.Client().AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

func TestReconcileLongerThanTheLeaseKeepsIt(t *testing.T) {
	ns := env.Namespace(t)
	cmd := reconcileCmd(deploymentRepo(t, ns), ns)
	cmd.Wait, cmd.Timeout, cmd.LeaseTTL = true, time.Minute, 3*time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		whenWaiting(t, ns, func() {
			// Twice the lease's duration into the run, nobody else may
			// take it.
			end := time.Now().Add(2*cmd.LeaseTTL + time.Second)
			for time.Now().Before(end) {
				if _, err := lease.Acquire(context.Background(), env.Client().CoordinationV1(), ns, "tidegate-cli", "ci-job", time.Minute); !errors.Is(err, lease.ErrHeld) {
					t.Errorf("another run took the lease of a running reconcile: %v", err)
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
			markReady(t, ns)
		})
	}()
	g, _ := clusterGlobals(t, "text")
	err := cmd.Run(context.Background(), g)
	<-done
	if err != nil {
		t.Fatalf("a reconcile longer than its lease's duration failed: %v", err)
	}
	// Released: deleted, or (without delete rights) without a holder.
	l, err := env.Client().CoordinationV1().Leases(ns).Get(context.Background(), "tidegate-cli", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) && (err != nil || l.Spec.HolderIdentity != nil) {
		t.Errorf("lease after the run: %+v, %v; want it released", l, err)
	}
}

func TestHostileLeaseStolenMidReconcile(t *testing.T) {
	ns := env.Namespace(t)
	cmd := reconcileCmd(deploymentRepo(t, ns), ns)
	cmd.Wait, cmd.Timeout, cmd.LeaseTTL = true, time.Minute, 3*time.Second
	var inventoryAtLoss string
	steal := func() {
		ctx := context.Background()
		if inv, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "cli", metav1.GetOptions{}); err == nil {
			inventoryAtLoss = inv.ResourceVersion
		}
		l, err := env.Client().CoordinationV1().Leases(ns).Get(ctx, "tidegate-cli", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		thief := "ci-job-9"
		l.Spec.HolderIdentity = &thief
		if _, err := env.Client().CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}
	stolen := make(chan struct{})
	go func() {
		defer close(stolen)
		whenWaiting(t, ns, steal)
	}()
	g, _ := clusterGlobals(t, "text")
	start := time.Now()
	err := cmd.Run(context.Background(), g)
	<-stolen
	if !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), "ci-job-9") {
		t.Fatalf("reconcile that lost its lease: %v, want ErrLost naming ci-job-9", err)
	}
	// It stopped at the loss, not at the end of --timeout.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the run went on for %s after losing its lease", d)
	}
	l, _ := env.Client().CoordinationV1().Leases(ns).Get(context.Background(), "tidegate-cli", metav1.GetOptions{})
	if l == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "ci-job-9" {
		t.Errorf("the lost run took the lease back or released another run's: %+v", l)
	}
	inv, err := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), "cli", metav1.GetOptions{})
	if err != nil || inventoryAtLoss == "" || inv.ResourceVersion != inventoryAtLoss {
		t.Errorf("the inventory changed after the run lost its lease (resourceVersion %q at the loss, now %v, %v)", inventoryAtLoss, inv.ResourceVersion, err)
	}
}
