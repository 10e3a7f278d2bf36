package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/reconcile"
)

// FluxFlags say how a run treats a Flux repository: its Kustomization
// objects are units of the run, each with its own source, build,
// variables and inventory.
type FluxFlags struct {
	Flux        string `help:"Follow Flux Kustomization objects (kustomize.toolkit.fluxcd.io) as units of the run: auto when the paths render any (or a Flux v1 helm.fluxcd.io HelmRelease), on, or off to apply them as plain objects." enum:"auto,on,off" default:"auto" env:"TIDEGATE_FLUX"`
	SuspendFlux bool   `help:"Take units over from a running Flux: set spec.suspend: true on each unit's live Kustomization first (without it a live, unsuspended Kustomization refuses its unit: two reconcilers would fight)." env:"TIDEGATE_SUSPEND_FLUX"`
	CacheDir    string `help:"Keep the chart archives of HelmReleases and kustomize helmCharts in this directory between runs (a CI cache); an archive is used again only while it has the digest its repository's index or registry names, else fetched again." env:"TIDEGATE_CACHE_DIR" placeholder:"DIR"`
}

// fleet prepares the run's units. The source flags' credentials also
// serve the run's other GitRepositories on the same host that name no
// secretRef of their own (a fleet of repositories on one Git server).
func (f *FluxFlags) fleet(g *Globals, src *SourceFlags, cfg *rest.Config, opts reconcile.Options) (*fleet.Fleet, error) {
	mode, err := fleet.ParseMode(f.Flux)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	auth, err := src.auth()
	if err != nil {
		return nil, err
	}
	sources := fleet.NetSources{Logger: g.Logger(), RunAuth: auth, RunRemote: src.Source}
	return fleet.New(cfg, fleet.Options{Run: opts, Mode: mode, SuspendFlux: f.SuspendFlux, Sources: sources, ChartCacheDir: f.CacheDir})
}

// unitErrors joins the errors of the units that did not render.
func unitErrors(plan *fleet.Plan) error {
	var errs []error
	for _, u := range plan.Units {
		if u.Err != nil {
			errs = append(errs, fmt.Errorf("unit %s: %w", u.Name, u.Err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d units did not render:\n%w", len(errs), len(plan.Units), errors.Join(errs...))
	}
	return nil
}

// applied says whether a Flux run applies o (it is not Flux's own
// configuration).
func applied(plan *fleet.Plan) func(*unstructured.Unstructured) bool {
	if !plan.Flux {
		return nil
	}
	return func(o *unstructured.Unstructured) bool { return !fleet.IsFluxConfig(o) }
}

func countObjects(plan *fleet.Plan) int {
	n := 0
	keep := applied(plan)
	for _, u := range plan.Units {
		if u.Rendered == nil {
			continue
		}
		for _, o := range u.Rendered.Objects {
			if keep == nil || keep(o) {
				n++
			}
		}
	}
	return n
}

// printUnits prints a Flux run's render: per unit, a comment naming it
// and the objects it applies, as one YAML stream (Flux's own objects,
// which tidegate reads and never applies, are left out); with -o json,
// {"units": [{"name", "path", "source", "objects"}]}.
func printUnits(g *Globals, plan *fleet.Plan) error {
	type unitJSON struct {
		Name     string           `json:"name"`
		Path     string           `json:"path"`
		Source   string           `json:"source,omitempty"`
		Revision string           `json:"revision,omitempty"`
		Status   string           `json:"status,omitempty"`
		Objects  []map[string]any `json:"objects"`
	}
	var units []unitJSON
	for _, u := range plan.Units {
		j := unitJSON{Name: u.Name, Path: u.Path, Source: u.Source, Revision: u.Revision, Objects: []map[string]any{}}
		if u.Kustomization != nil && u.Kustomization.Suspend {
			j.Status = "suspended"
		}
		if u.Rendered != nil {
			j.Objects = maskedObjects(g, u.Rendered, applied(plan))
		}
		units = append(units, j)
	}
	if g.Output == "json" {
		return printJSON(g.stdout(), map[string]any{"units": units})
	}
	for i, u := range units {
		header := fmt.Sprintf("# unit %s (%s", u.Name, u.Path)
		if u.Source != "" {
			header += " from " + u.Source
		}
		header += ")"
		switch {
		case u.Status != "":
			header += ": " + u.Status
		case len(u.Objects) == 0:
			header += ": no objects"
		}
		header += "\n"
		if i > 0 {
			header = "---\n" + header
		}
		if err := writeYAMLStream(g.stdout(), u.Objects, header); err != nil {
			return err
		}
	}
	return nil
}

// writeUnitTree prints the units as flux tree kustomization does: each unit
// with the objects it applies and, below them, the units it leads to.
func writeUnitTree(w io.Writer, plan *fleet.Plan) error {
	children := map[string][]*fleet.Unit{}
	for _, u := range plan.Units[1:] {
		children[u.Parent] = append(children[u.Parent], u)
	}
	keep := applied(plan)
	var b strings.Builder
	var walk func(u *fleet.Unit, prefix string)
	walk = func(u *fleet.Unit, prefix string) {
		var lines []string
		if u.Rendered != nil {
			for _, o := range u.Rendered.Objects {
				if flux.IsKustomization(o) || (keep != nil && !keep(o)) {
					continue
				}
				lines = append(lines, object.FromUnstructured(o).String())
			}
		}
		kids := children[u.Name]
		for i, l := range lines {
			branch := "├── "
			if i == len(lines)-1 && len(kids) == 0 {
				branch = "└── "
			}
			b.WriteString(prefix + branch + l + "\n")
		}
		for i, k := range kids {
			branch, next := "├── ", "│   "
			if i == len(kids)-1 {
				branch, next = "└── ", "    "
			}
			b.WriteString(prefix + branch + unitLabel(k) + "\n")
			walk(k, prefix+next)
		}
	}
	root := plan.Units[0]
	b.WriteString(unitLabel(root) + "\n")
	walk(root, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func unitLabel(u *fleet.Unit) string {
	label := "Kustomization/" + u.Name
	if u.IsRoot() && u.Kustomization == nil {
		label = "."
	}
	label += " (" + u.Path
	if u.Source != "" {
		label += " from " + u.Source
	}
	label += ")"
	if u.Kustomization != nil && u.Kustomization.Suspend {
		label += " suspended"
	}
	return label
}

// closePlan removes the sources a plan fetched; a failure leaves a
// temporary directory behind, which is worth a warning, not the run.
func closePlan(g *Globals, plan *fleet.Plan) {
	if err := plan.Close(); err != nil {
		g.Logger().Warn("could not remove a fetched source", "error", err)
	}
}
