package cli

import "context"

// RenderCmd renders the repository.
type RenderCmd struct{}

// Run fails until the feature is built; it never pretends to succeed.
func (c *RenderCmd) Run(ctx context.Context, g *Globals) error { return ErrNotImplemented }
