package lease_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/lease"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func TestAcquireRefuseRelease(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	c := env.Client().CoordinationV1()
	lock, err := lease.Acquire(ctx, c, ns, "fleet", "cronjob-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lease.Acquire(ctx, c, ns, "fleet", "ci-job-7", time.Minute)
	if !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("second acquire: err = %v, want ErrHeld", err)
	}
	if got := err.Error(); !strings.Contains(got, "cronjob-1") {
		t.Errorf("the refusal does not name the holder: %s", got)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := lease.Acquire(ctx, c, ns, "fleet", "ci-job-7", time.Minute)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	l, _ := c.Leases(ns).Get(ctx, "fleet", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "ci-job-7" {
		t.Errorf("holder = %s", *l.Spec.HolderIdentity)
	}
	_ = again.Release(ctx)
}

func TestStaleLeaseIsTakenOver(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	c := env.Client().CoordinationV1()
	if _, err := lease.Acquire(ctx, c, ns, "fleet", "crashed-run", time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	lock, err := lease.Acquire(ctx, c, ns, "fleet", "next-run", time.Minute)
	if err != nil {
		t.Fatalf("a stale lease was not taken over: %v", err)
	}
	// The crashed run's Release, should it ever come, must not free the
	// new holder's lease.
	l, _ := c.Leases(ns).Get(ctx, "fleet", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "next-run" {
		t.Errorf("holder = %s", *l.Spec.HolderIdentity)
	}
	_ = lock.Release(ctx)
}

func TestConcurrentAcquireHasOneWinner(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	c := env.Client().CoordinationV1()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, held := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := lease.Acquire(ctx, c, ns, "race", fmt.Sprintf("run-%d", i), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, lease.ErrHeld):
				held++
			default:
				t.Errorf("run-%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || held != 7 {
		t.Errorf("%d winners and %d refused, want 1 and 7", wins, held)
	}
}
