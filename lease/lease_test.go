package lease_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// holder is who holds the lease; nobody when it is gone (released).
func holder(t *testing.T, ns, name string) string {
	t.Helper()
	l, err := env.Client().CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
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

// countingLeases counts the requests a client sends, by verb.
func countingLeases(t *testing.T, cfg *rest.Config) (coordclient.LeasesGetter, map[string]int) {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	var mu sync.Mutex
	counts := map[string]int{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			counts[req.Method]++
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	c, err := coordclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, counts
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestReleasedLeaseIsTakenInOneRequest: a released lease is deleted, so
// the next run's take is one create, and a release one delete.
func TestReleasedLeaseIsTakenInOneRequest(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	c, counts := countingLeases(t, env.Config)
	for run := range 3 {
		clear(counts)
		lock, err := lease.Acquire(ctx, c, ns, "fleet", fmt.Sprintf("run-%d", run), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := lock.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"POST": 1, "DELETE": 1}; !maps.Equal(counts, want) {
			t.Errorf("run %d sent %v, want %v", run, counts, want)
		}
	}
}

// TestReleaseWithoutDeleteRights: RBAC that grants no delete (as tidegate
// asked before it deleted leases) still releases, by clearing the
// holder, and the next run takes the lease at once.
func TestReleaseWithoutDeleteRights(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	cfg, err := env.AddUser("lease-no-delete-" + ns)
	if err != nil {
		t.Fatal(err)
	}
	grantLeases(t, ns, "lease-no-delete-"+ns, "get", "create", "update")
	c, err := coordclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := lease.Acquire(ctx, c, ns, "fleet", "first", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatalf("release without delete rights: %v", err)
	}
	l, err := c.Leases(ns).Get(ctx, "fleet", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the lease should remain, cleared: %v", err)
	}
	if l.Spec.HolderIdentity != nil {
		t.Errorf("holder = %q after release", *l.Spec.HolderIdentity)
	}
	next, err := lease.Acquire(ctx, c, ns, "fleet", "second", time.Minute)
	if err != nil {
		t.Fatalf("acquire after a release without delete rights: %v", err)
	}
	_ = next.Release(ctx)
}

// TestReleaseKeepsAChangedLease: a lease changed after this lock last
// wrote it is not deleted; a lease another holder took stays theirs.
func TestReleaseKeepsAChangedLease(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	c := env.Client().CoordinationV1()
	lock, err := lease.Acquire(ctx, c, ns, "fleet", "old-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Another run took it over (as after expiry): same object, new holder.
	l, err := c.Leases(ns).Get(ctx, "fleet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := "new-run"
	l.Spec.HolderIdentity = &other
	if _, err := c.Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h := holder(t, ns, "fleet"); h != "new-run" {
		t.Errorf("holder = %q after the old run released, want new-run", h)
	}
}

// grantLeases lets user do verbs on leases in ns.
func grantLeases(t *testing.T, ns, user string, verbs ...string) {
	t.Helper()
	ctx := context.Background()
	rbac := env.Client().RbacV1()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: verbs}}}
	if _, err := rbac.Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: user},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}}
	if _, err := rbac.RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
