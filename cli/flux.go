package cli

import (
	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/reconcile"
	"k8s.io/client-go/rest"
)

// FluxFlags say how a run treats a Flux repository: its Kustomization
// objects are units of the run, each with its own source, build,
// variables and inventory.
type FluxFlags struct {
	Flux        string `help:"Follow Flux Kustomization objects (kustomize.toolkit.fluxcd.io) as units of the run: auto when the paths render any, on, or off to apply them as plain objects." enum:"auto,on,off" default:"auto" env:"TIDEGATE_FLUX"`
	SuspendFlux bool   `help:"Take units over from a running Flux: set spec.suspend: true on each unit's live Kustomization first (without it a live, unsuspended Kustomization refuses its unit: two reconcilers would fight)." env:"TIDEGATE_SUSPEND_FLUX"`
}

// fleet prepares the run's units.
func (f *FluxFlags) fleet(g *Globals, cfg *rest.Config, opts reconcile.Options) (*fleet.Fleet, error) {
	mode, err := fleet.ParseMode(f.Flux)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return fleet.New(cfg, fleet.Options{Run: opts, Mode: mode, SuspendFlux: f.SuspendFlux, Sources: fleet.NetSources{Logger: g.Logger()}})
}
