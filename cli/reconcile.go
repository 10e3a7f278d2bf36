package cli

import "context"

// ReconcileCmd applies the repository to the cluster.
type ReconcileCmd struct{}

// Run fails until the feature is built; it never pretends to succeed.
func (c *ReconcileCmd) Run(ctx context.Context, g *Globals) error { return ErrNotImplemented }
