package e2e_test

// Fault tests: the tidegate binary is killed with SIGKILL in the middle
// of an apply and in the middle of a prune, as an OOM kill, a node
// failure or a CI job's cancellation does. Nothing runs after SIGKILL, so
// what protects the cluster is the order of the writes: the inventory is
// widened before any object is applied, and narrowed only after the
// prune. The next run must converge, and must delete nothing it should
// not: every object Git has exists afterwards, the objects it kept are
// not even rewritten, and objects outside the inventory are untouched.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tidegate/tidegate/inventory"
)

func TestFaultTidegateKilled(t *testing.T) {
	bin := filepath.Join(tidegateBinary(t), "tidegate")
	ctx := context.Background()
	ns := env.Namespace(t)
	cms := env.Client().CoreV1().ConfigMaps(ns)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	parent := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "fault"}
	ours := inventory.PartOfLabel + "=" + parent.ID()

	// Outside the inventory: by hand, and another inventory's member.
	outsiders := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: ns}, Data: map[string]string{"v": "1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: ns, Labels: map[string]string{inventory.PartOfLabel: "applyset-other-v1"}}, Data: map[string]string{"v": "1"}},
	}
	for _, o := range outsiders {
		if _, err := cms.Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	repo := t.TempDir()
	const n = 300
	writeGit := func(count int) {
		t.Helper()
		var b strings.Builder
		for i := 0; i < count; i++ {
			fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\n  namespace: %s\ndata:\n  value: \"%d\"\n---\n", i, ns, i)
		}
		if err := os.MkdirAll(filepath.Join(repo, "apps"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "apps", "all.yaml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// --no-lease: a killed run cannot release its Lease, which would
	// block the rerun for the Lease's TTL; the Lease is not under test.
	args := []string{"--kubeconfig", kubeconfig, "reconcile", "--source", repo, "--path", "apps",
		"--inventory-namespace", ns, "--inventory-name", parent.Name,
		"--concurrency", "1", "--no-wait", "--no-lease", "--allow-mass-prune"}
	snapshot := func() map[string]string {
		t.Helper()
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, cm := range list.Items {
			out[cm.Name] = string(cm.UID) + "/" + cm.ResourceVersion
		}
		return out
	}
	converge := func() {
		t.Helper()
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the rerun after the kill failed: %v\n%s", err, out)
		}
	}
	// killAfter runs tidegate and kills it with SIGKILL once the watch
	// saw `after` events of the type on objects of the inventory.
	killAfter := func(event watch.EventType, after int) {
		t.Helper()
		w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: ours})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		seen := 0
		timeout := time.After(3 * time.Minute)
		for seen < after {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == event {
					seen++
				}
			case err := <-exited:
				t.Fatalf("tidegate finished (%v) after %d %s events, before it could be killed; raise n\n%s", err, seen, event, out.String())
			case <-timeout:
				cmd.Process.Kill()
				t.Fatalf("no %d %s events in 3m\n%s", after, event, out.String())
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var exit *exec.ExitError
		if err := <-exited; !errors.As(err, &exit) || exit.ExitCode() != -1 {
			t.Fatalf("tidegate was not killed by the signal: %v\n%s", err, out.String())
		}
	}
	checkOutsiders := func(before map[string]string) {
		t.Helper()
		now := snapshot()
		for _, o := range outsiders {
			if now[o.Name] != before[o.Name] {
				t.Errorf("%s, outside the inventory, was touched: %s -> %s", o.Name, before[o.Name], now[o.Name])
			}
		}
	}
	members := func() int {
		t.Helper()
		inv, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, parent.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(strings.Fields(inv.Data["members"]))
	}

	t.Run("mid-apply", func(t *testing.T) {
		writeGit(n)
		before := snapshot()
		killAfter(watch.Added, 20)
		mid := snapshot()
		if got := len(mid) - len(before); got >= n {
			t.Fatalf("all %d objects were applied before the kill; it was not mid-apply", got)
		}
		t.Logf("killed with %d of %d objects applied", len(mid)-len(before), n)
		// The inventory was widened before the first object was applied.
		if got := members(); got != n {
			t.Errorf("after the kill the inventory lists %d members, want all %d (widened before applying)", got, n)
		}
		converge()
		after := snapshot()
		for i := 0; i < n; i++ {
			if _, ok := after[fmt.Sprintf("cm-%03d", i)]; !ok {
				t.Errorf("cm-%03d of Git does not exist after the rerun", i)
			}
		}
		// What the killed run applied was not rewritten or recreated.
		for name, v := range mid {
			if after[name] != v && name != parent.Name {
				t.Errorf("%s was rewritten by the rerun: %s -> %s", name, v, after[name])
			}
		}
		checkOutsiders(before)
		if got := members(); got != n {
			t.Errorf("the inventory lists %d members, want %d", got, n)
		}
	})

	t.Run("mid-prune", func(t *testing.T) {
		const keep = 50
		writeGit(keep)
		before := snapshot()
		killAfter(watch.Deleted, 20)
		mid := snapshot()
		left := 0
		for i := keep; i < n; i++ {
			if _, ok := mid[fmt.Sprintf("cm-%03d", i)]; ok {
				left++
			}
		}
		if left == 0 {
			t.Fatal("every stale object was deleted before the kill; it was not mid-prune")
		}
		t.Logf("killed with %d of %d stale objects left", left, n-keep)
		if got := members(); got != n {
			t.Errorf("after the kill the inventory lists %d members, want %d (narrowed only after the prune)", got, n)
		}
		converge()
		after := snapshot()
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("cm-%03d", i)
			_, exists := after[name]
			switch {
			case i < keep && after[name] != before[name]:
				// Kept by Git: not deleted, recreated or even rewritten.
				t.Errorf("%s, still in Git, changed: %s -> %s", name, before[name], after[name])
			case i >= keep && exists:
				t.Errorf("%s, removed from Git, was not pruned by the rerun", name)
			}
		}
		checkOutsiders(before)
		if got := members(); got != keep {
			t.Errorf("the inventory lists %d members, want %d", got, keep)
		}
	})
}
