// Package lease keeps two tidegate runs from reconciling the same
// inventory at once: the CronJob and a CI job, or two overlapping CI
// pipelines. A run holds a coordination.k8s.io Lease named after its
// inventory for as long as it works, renewing it every third of its
// duration (Hold), so the duration can be short. A Lease whose holder
// died (its renewTime plus duration has passed) is taken over, so a
// crashed run never blocks the next one for longer than the duration.
//
// A run that loses its Lease (another run took it over after a renewal
// failed, or someone deleted it) must stop writing at once: Hold's
// context ends then, with a cause that says what happened.
package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// ErrHeld is wrapped by the error Acquire returns when another run holds
// the lease.
var ErrHeld = errors.New("another tidegate run holds the lease")

// ErrLost is wrapped by the cause of a Hold context that ended because the
// lease was lost.
var ErrLost = errors.New("the run lost its lease and stopped")

// Lock is a held lease.
type Lock struct {
	client    coordclient.LeasesGetter
	namespace string
	ttl       time.Duration
	lease     *coordinationv1.Lease

	// stop ends the renewal Hold started; done is closed when it has.
	stop, done chan struct{}
}

// Acquire takes the lease namespace/name for holder, for ttl. It fails
// with ErrHeld when a live holder has it. The create and the take-over
// both use optimistic concurrency, so of two runs racing exactly one wins.
func Acquire(ctx context.Context, client coordclient.LeasesGetter, namespace, name, holder string, ttl time.Duration) (*Lock, error) {
	now := metav1.NewMicroTime(time.Now())
	secs := int32(ttl.Seconds())
	if secs < 1 {
		secs = 1
	}
	spec := coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now}
	leases := client.Leases(namespace)
	created, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "tidegate"}},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err == nil {
		return &Lock{client: client, namespace: namespace, ttl: ttl, lease: created}, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("take lease %s/%s: %w", namespace, name, err)
	}
	cur, err := leases.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read lease %s/%s: %w", namespace, name, err)
	}
	if expires, live := expiry(cur); live {
		h := ""
		if cur.Spec.HolderIdentity != nil {
			h = *cur.Spec.HolderIdentity
		}
		return nil, fmt.Errorf("%w: %s holds %s/%s until %s; try again later, or delete the Lease if that run is gone", ErrHeld, h, namespace, name, expires.Format(time.RFC3339))
	}
	// The holder is gone: take over. Update carries the resourceVersion
	// read above, so a concurrent take-over makes one of the two fail.
	cur.Spec = spec
	updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil, fmt.Errorf("%w: another run took over %s/%s at the same moment", ErrHeld, namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("take over lease %s/%s: %w", namespace, name, err)
	}
	return &Lock{client: client, namespace: namespace, ttl: ttl, lease: updated}, nil
}

// expiry tells when a lease expires and whether it is still live. A lease
// released by its holder (no holder) is not live.
func expiry(l *coordinationv1.Lease) (time.Time, bool) {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}, false
	}
	t := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
	return t, time.Now().Before(t)
}

// Release stops the renewal and gives the lease up, so the next run need
// not wait for it to expire. It deletes the lease, so that the next run
// takes it with one create, but only as this lock last wrote it (its
// UID and resourceVersion): a lease someone changed since, or RBAC
// without delete, is released by clearing its holder, and only if this
// lock still holds it.
func (l *Lock) Release(ctx context.Context) error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	leases := l.client.Leases(l.namespace)
	uid, rv := l.lease.UID, l.lease.ResourceVersion
	err := leases.Delete(ctx, l.lease.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case !apierrors.IsConflict(err) && !apierrors.IsForbidden(err):
		return err
	}
	cur, err := leases.Get(ctx, l.lease.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != *l.lease.Spec.HolderIdentity {
		return nil // someone took it over after it expired
	}
	cur.Spec.HolderIdentity = nil
	cur.Spec.RenewTime = nil
	_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// Hold renews the lease every third of its duration until Release or
// the end of ctx, and returns the context to run under. That context
// ends, with a cause wrapping ErrLost, as soon as the lease is lost:
// another holder has it, it was deleted, or renewals failed for so long
// that it would expire before the next attempt. It ends before expiry so
// that no write of this run can follow another run's first. Call Hold
// once.
func (l *Lock) Hold(ctx context.Context) context.Context {
	held, cancel := context.WithCancelCause(ctx)
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.renew(ctx, cancel)
	return held
}

func (l *Lock) renew(ctx context.Context, cancel context.CancelCauseFunc) {
	defer close(l.done)
	interval := max(l.ttl/3, 100*time.Millisecond)
	expires := l.lease.Spec.RenewTime.Add(l.ttl)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.stop:
			return
		case <-tick.C:
		}
		rctx, done := context.WithTimeout(ctx, interval)
		at, err := l.renewOnce(rctx)
		done()
		switch {
		case err == nil:
			expires = at.Add(l.ttl)
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLost):
			cancel(err)
			return
		case time.Until(expires) < interval:
			cancel(fmt.Errorf("%w: could not renew lease %s/%s before it expires at %s (%w); check the connection to the API server and the run's RBAC for leases (update)", ErrLost, l.namespace, l.lease.Name, expires.Format(time.RFC3339), err))
			return
		}
	}
}

// renewOnce moves the lease's renewTime to now, if this lock still holds
// it. A conflict (another write in between) is read again at once.
func (l *Lock) renewOnce(ctx context.Context) (time.Time, error) {
	leases := l.client.Leases(l.namespace)
	name, me := l.lease.Name, *l.lease.Spec.HolderIdentity
	for attempt := 0; ; attempt++ {
		cur, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return time.Time{}, fmt.Errorf("%w: lease %s/%s was deleted while the run held it", ErrLost, l.namespace, name)
		}
		if err != nil {
			return time.Time{}, err
		}
		if h := cur.Spec.HolderIdentity; h == nil || *h != me {
			by := "nobody"
			if h != nil && *h != "" {
				by = *h
			}
			return time.Time{}, fmt.Errorf("%w: lease %s/%s is now held by %s; another run may be writing the same inventory, so check its result before running again", ErrLost, l.namespace, name, by)
		}
		now := time.Now()
		secs := l.lease.Spec.LeaseDurationSeconds
		cur.Spec.RenewTime, cur.Spec.LeaseDurationSeconds = ptrTo(metav1.NewMicroTime(now)), secs
		updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 2 {
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		l.lease = updated
		return now, nil
	}
}

func ptrTo[T any](v T) *T { return &v }
