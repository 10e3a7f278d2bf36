package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/tidegate/tidegate/lease"
)

// leaseLost puts the reason first when the run stopped because it lost
// its Lease: the run's own error is then only "context canceled". A run
// that finished as the Lease was lost fails too, since another run may
// have written in between.
func leaseLost(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if !errors.Is(cause, lease.ErrLost) {
		return err
	}
	if err == nil {
		return cause
	}
	return fmt.Errorf("%w; the run stopped with: %w", cause, err)
}
