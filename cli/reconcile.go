package cli

import "context"

// ReconcileCmd applies the repository to the cluster.
type ReconcileCmd struct{}

// Run fails until the feature is built; it never pretends to succeed.
func (c *ReconcileCmd) Run(ctx context.Context, g *Globals) error { return ErrNotImplemented }

// DiffCmd shows what a reconcile would change.
type DiffCmd struct{}

// Run fails until the feature is built; it never pretends to succeed.
func (c *DiffCmd) Run(ctx context.Context, g *Globals) error { return ErrNotImplemented }
