// Package lease keeps two tidegate runs from reconciling the same
// inventory at once: the CronJob and a CI job, or two overlapping CI
// pipelines. A run holds a coordination.k8s.io Lease named after its
// inventory for as long as it works. A Lease whose holder died (its
// renewTime plus duration has passed) is taken over, so a crashed run
// never blocks the next one for longer than the lease duration.
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

// Lock is a held lease.
type Lock struct {
	client    coordclient.LeasesGetter
	namespace string
	lease     *coordinationv1.Lease
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
		return &Lock{client: client, namespace: namespace, lease: created}, nil
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
	return &Lock{client: client, namespace: namespace, lease: updated}, nil
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

// Release gives the lease up, so the next run need not wait for it to
// expire. It only clears a lease this lock still holds.
func (l *Lock) Release(ctx context.Context) error {
	leases := l.client.Leases(l.namespace)
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
