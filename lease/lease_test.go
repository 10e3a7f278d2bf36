package lease_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"

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

// holder reads who holds the lease now.
func holder(t *testing.T, ns, name string) string {
	t.Helper()
	l, err := env.Client().CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestHeldLeaseOutlivesItsDuration(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	c := env.Client().CoordinationV1()
	const ttl = 3 * time.Second
	lock, err := lease.Acquire(ctx, c, ns, "fleet", "long-run", ttl)
	if err != nil {
		t.Fatal(err)
	}
	run := lock.Hold(ctx)
	// A run more than twice as long as the lease's duration.
	deadline := time.Now().Add(2*ttl + time.Second)
	for time.Now().Before(deadline) {
		if _, err := lease.Acquire(ctx, c, ns, "fleet", "intruder", time.Minute); !errors.Is(err, lease.ErrHeld) {
			t.Fatalf("another run could take a renewed lease: %v", err)
		}
		if run.Err() != nil {
			t.Fatalf("the run's context ended while it held the lease: %v", context.Cause(run))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if h := holder(t, ns, "fleet"); h != "long-run" {
		t.Fatalf("holder = %q after %s, want long-run", h, 2*ttl)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h := holder(t, ns, "fleet"); h != "" {
		t.Errorf("holder = %q after release", h)
	}
	// Release stopped the renewal: nothing takes the lease back.
	next, err := lease.Acquire(ctx, c, ns, "fleet", "next-run", time.Minute)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	time.Sleep(ttl / 2)
	if h := holder(t, ns, "fleet"); h != "next-run" {
		t.Errorf("holder = %q after the first run released it, want next-run", h)
	}
	_ = next.Release(ctx)
}

func TestHostileLeaseLost(t *testing.T) {
	const ttl = 3 * time.Second
	for _, tc := range []struct {
		name string
		// steal takes the lease away from the run.
		steal func(t *testing.T, ns string)
		want  string
	}{
		{"taken over", func(t *testing.T, ns string) {
			l, err := env.Client().CoordinationV1().Leases(ns).Get(context.Background(), "fleet", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			thief := "ci-job-9"
			l.Spec.HolderIdentity = &thief
			if _, err := env.Client().CoordinationV1().Leases(ns).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, "is now held by ci-job-9"},
		{"deleted", func(t *testing.T, ns string) {
			if err := env.Client().CoordinationV1().Leases(ns).Delete(context.Background(), "fleet", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, "was deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			ctx := context.Background()
			lock, err := lease.Acquire(ctx, env.Client().CoordinationV1(), ns, "fleet", "cronjob-1", ttl)
			if err != nil {
				t.Fatal(err)
			}
			run := lock.Hold(ctx)
			tc.steal(t, ns)
			select {
			case <-run.Done():
			case <-time.After(ttl):
				t.Fatal("the run went on for a whole lease duration after losing its lease")
			}
			cause := context.Cause(run)
			if !errors.Is(cause, lease.ErrLost) || !strings.Contains(cause.Error(), tc.want) || !strings.Contains(cause.Error(), ns+"/fleet") {
				t.Fatalf("cause = %v, want ErrLost saying %q", cause, tc.want)
			}
			// The lost run writes nothing more: the lease stays as the
			// other party left it, and Release leaves it alone.
			time.Sleep(ttl / 2)
			if err := lock.Release(ctx); err != nil {
				t.Fatal(err)
			}
			l, err := env.Client().CoordinationV1().Leases(ns).Get(ctx, "fleet", metav1.GetOptions{})
			switch {
			case tc.name == "deleted" && err == nil:
				t.Errorf("the lost run recreated the lease: holder %v", *l.Spec.HolderIdentity)
			case tc.name == "taken over" && (err != nil || *l.Spec.HolderIdentity != "ci-job-9"):
				t.Errorf("after the lost run: %v, %v; want ci-job-9 to keep it", l, err)
			}
		})
	}
}

// brokenTransport fails every request once broken is set, like an API
// server that went away.
type brokenTransport struct {
	rt     http.RoundTripper
	broken *atomic.Bool
}

func (b brokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.broken.Load() {
		return nil, errors.New("connection refused (test)")
	}
	return b.rt.RoundTrip(r)
}

func TestHostileLeaseRenewalFails(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	var broken atomic.Bool
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return brokenTransport{rt, &broken} }
	c, err := coordclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 3 * time.Second
	lock, err := lease.Acquire(ctx, c, ns, "fleet", "cut-off", ttl)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run := lock.Hold(ctx)
	broken.Store(true)
	select {
	case <-run.Done():
	case <-time.After(2 * ttl):
		t.Fatal("the run went on although its lease could not be renewed")
	}
	// It stops before the lease expires, so no write follows another
	// run's take-over.
	if d := time.Since(start); d >= ttl {
		t.Errorf("the run stopped %s after its last renewal, at or after the lease expired (%s)", d, ttl)
	}
	cause := context.Cause(run)
	if !errors.Is(cause, lease.ErrLost) || !strings.Contains(cause.Error(), "could not renew") || !strings.Contains(cause.Error(), "connection refused (test)") {
		t.Fatalf("cause = %v", cause)
	}
	broken.Store(false)
	_ = lock.Release(ctx)
}
