package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
)

// Mode says whether a run follows Flux Kustomizations.
type Mode string

const (
	// Auto follows them when the run's paths render at least one, and
	// runs as On when they render a Flux v1 HelmRelease (helm.fluxcd.io)
	// and no Kustomization: the root unit renders its chart.
	Auto Mode = "auto"
	// On follows them, and a path that renders none is one plain unit
	// with Flux's objects still set aside.
	On Mode = "on"
	// Off applies whatever the paths render, Flux's objects included, as
	// tidegate did before it knew Flux.
	Off Mode = "off"
)

// ParseMode checks a --flux value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, On, Off:
		return m, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("--flux %q: give auto, on or off", s)
}

// Options configure a Fleet.
type Options struct {
	// Run is the run's configuration, the template of every unit's:
	// Source, Revision, Root and Paths are the run's checkout and paths;
	// Inventory is the root unit's inventory, and each Flux unit's is
	// named after it (see UnitInventory).
	Run reconcile.Options
	// Mode is --flux.
	Mode Mode
	// Sources fetches sources other than the run's own checkout; nil
	// refuses them.
	Sources Sources
	// SuspendFlux sets spec.suspend on a unit's live Kustomization
	// before tidegate takes it over; without it a live, unsuspended
	// Kustomization refuses its unit.
	SuspendFlux bool
	// Concurrency bounds the units reconciled at once (default 8).
	Concurrency int
	// MaxUnits bounds the units one run follows (default 500), and
	// MaxDepth how deep units may render units (default 16): a
	// repository cannot make a run follow units without end.
	MaxUnits, MaxDepth int
	// ChartCacheDir keeps HelmReleases' chart archives between runs,
	// by digest (charts.Options.CacheDir); "" fetches them every run.
	ChartCacheDir string
}

func (o *Options) defaults() {
	if o.Mode == "" {
		o.Mode = Auto
	}
	if o.Concurrency <= 0 {
		// Units wait on the API server more than on the CPU.
		o.Concurrency = 8
	}
	if o.MaxUnits <= 0 {
		o.MaxUnits = 500
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 16
	}
	if o.Run.Logger == nil {
		o.Run.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Run.Paths) == 0 {
		o.Run.Paths = []string{"."}
	}
}

// Fleet runs the units of one repository against one cluster.
type Fleet struct {
	opts Options
	log  *slog.Logger
	// clients are the run's own cluster clients, for what a unit reads
	// outside its impersonation (its live Kustomization, inventories).
	clients *clients
}

// New prepares a run against the cluster of cfg; it does not contact the
// API server until a run starts.
func New(cfg *rest.Config, opts Options) (*Fleet, error) {
	opts.defaults()
	cl, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	return &Fleet{opts: opts, log: opts.Run.Logger, clients: cl}, nil
}

// Unit is one unit of a run once rendered.
type Unit struct {
	// Name is namespace/name of its Kustomization; "." for the run's own
	// paths when no Kustomization syncs them.
	Name string
	// Kustomization is nil for the root unit without a self-reference.
	Kustomization *flux.Kustomization
	// Parent is the unit whose render holds this unit's Kustomization
	// ("" for the root).
	Parent string
	// Path is what was rendered, relative to Root.
	Path string
	// Root is the checkout of the unit's source, Source its display
	// (Kind/ns/name; "" for the run's own), Revision its commit or digest.
	Root, Source, Revision string
	// Inventory is the ApplySet parent of the unit.
	Inventory inventory.Parent
	// Rendered is the unit's render; nil when Err is set.
	Rendered *render.Result
	// Err is why the unit could not be rendered.
	Err error
	// Depth is how many units lie between it and the root.
	Depth int
	// SuspendedReleases are the unit's HelmReleases with spec.suspend
	// (or, Flux v1, fluxcd.io/ignore: "true"):
	// their charts are not rendered, so the unit does not prune (it
	// cannot tell their objects from removed ones).
	SuspendedReleases []string
	// HelmReleases are the releases rendered into Rendered, with their
	// hooks, which the unit's reconcile runs around its apply.
	HelmReleases []reconcile.Release

	// prefetch reads the unit's inventory and live objects while other
	// units render, with prefetchBy's access; the unit's reconcile takes
	// it over when it runs with that same access.
	prefetch   *reconcile.Prefetch
	prefetchBy *clusterClient
}

// IsRoot reports whether u is the run's own paths.
func (u *Unit) IsRoot() bool { return u.Parent == "" }

// dependsOn are the units u waits for: its parent (whose apply is what
// makes u exist in Flux) and its spec.dependsOn.
func (u *Unit) dependsOn() []string {
	var out []string
	if u.Parent != "" {
		out = append(out, u.Parent)
	}
	if u.Kustomization != nil {
		for _, d := range u.Kustomization.DependsOn {
			out = append(out, d.Namespace+"/"+d.Name)
		}
	}
	return out
}

// Plan is every unit of a run, rendered, in the order they run.
type Plan struct {
	// Flux is false when the run is one plain unit.
	Flux bool
	// Units in a deterministic order: the root first, then by dependency
	// levels, by name within a level.
	Units  []*Unit
	byName map[string]*Unit
	// cleanup removes fetched sources.
	cleanup []func() error
}

// Close removes the sources the plan fetched.
func (p *Plan) Close() error {
	for _, u := range p.Units {
		u.prefetch.Stop()
	}
	var errs []error
	for _, c := range p.cleanup {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// UnitInventory is a Flux unit's inventory: in the Kustomization's
// namespace (a tenant's ServiceAccount can write there, and Flux keeps
// its inventory there too, in the Kustomization's status), named after
// the run's inventory and the Kustomization, so that each unit prunes
// only what it applied and two runs with different inventories never
// share one.
func UnitInventory(run inventory.Parent, ns, name string) inventory.Parent {
	return inventory.Parent{Kind: run.Kind, Namespace: ns, Name: run.Name + "." + name}
}

// skipFlux sets Flux's own objects aside in a Flux run. Namespaces are
// applied even when Flux installed them: flux-system holds the fleet's
// own objects too (cluster-vars, SOPS Secrets), and tidegate's unit
// inventories live in the Kustomizations' namespaces.
func skipFlux(u *unstructured.Unstructured) (string, bool) {
	if u.GetAPIVersion() == "v1" && u.GetKind() == "Namespace" {
		return "", false
	}
	if why, ok := flux.IsConfig(u); ok {
		return why, true
	}
	return "", false
}

// IsFluxConfig reports whether a Flux run reads o as configuration and
// does not apply it.
func IsFluxConfig(o *unstructured.Unstructured) bool {
	_, skip := skipFlux(o)
	return skip
}

// timeoutOr is d, or def when d is zero.
func timeoutOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// unitNames lists names for a message: "a, b and 3 more".
func unitNames(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}
