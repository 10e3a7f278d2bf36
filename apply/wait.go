package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/internal/resource"
	"github.com/tidegate/tidegate/object"
)

// Status is an object's readiness as kstatus computes it.
type Status struct {
	ID      object.ID `json:"id"`
	Status  string    `json:"status"`
	Message string    `json:"message,omitempty"`
}

// Wait polls the objects until every one is Current (kstatus) or the
// timeout passes, and returns those that are not Current. Failed objects
// end the wait early: waiting longer will not fix them.
func (m *Manager) Wait(ctx context.Context, ids []object.ID, timeout time.Duration) ([]Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := append([]object.ID(nil), ids...)
	var last []Status
	for {
		var next []object.ID
		last = last[:0]
		failed := false
		for _, id := range pending {
			s, err := m.status(ctx, id)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				return nil, err
			}
			if s.Status == string(status.CurrentStatus) {
				continue
			}
			failed = failed || s.Status == string(status.FailedStatus)
			next = append(next, id)
			last = append(last, s)
		}
		pending = next
		if len(pending) == 0 || failed {
			return last, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return last, nil
			}
			return last, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (m *Manager) status(ctx context.Context, id object.ID) (Status, error) {
	s := Status{ID: id}
	ri, _, err := resource.Client(ctx, m.dyn, m.mapper, id.GroupKind(), id.Namespace)
	if err != nil {
		return s, fmt.Errorf("%s: %w", id, err)
	}
	u, err := ri.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.Status, s.Message = string(status.NotFoundStatus), "the object does not exist"
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w", id, err)
	}
	res, err := status.Compute(u)
	if err != nil {
		s.Status, s.Message = string(status.UnknownStatus), err.Error()
		return s, nil
	}
	s.Status, s.Message = string(res.Status), res.Message
	return s, nil
}
