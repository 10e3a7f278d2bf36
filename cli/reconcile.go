package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/internal/markdown"
	"github.com/tidegate/tidegate/internal/version"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/lease"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
)

// InventoryFlags name the ApplySet parent object that records what a
// reconcile owns. One inventory per set of paths: two runs that share an
// inventory but render different paths prune each other's objects (the
// mass-prune guard refuses the worst of it).
type InventoryFlags struct {
	InventoryNamespace string `help:"Namespace of the inventory object (the ApplySet parent). It must exist." default:"default" env:"TIDEGATE_INVENTORY_NAMESPACE" placeholder:"NS"`
	InventoryName      string `help:"Name of the inventory object. Use one name per set of --path; kubectl sees it as --applyset=configmap/NAME." default:"tidegate" env:"TIDEGATE_INVENTORY_NAME" placeholder:"NAME"`
	InventoryKind      string `help:"Kind of the inventory object: ConfigMap or Secret." enum:"ConfigMap,Secret" default:"ConfigMap" env:"TIDEGATE_INVENTORY_KIND"`
}

func (f *InventoryFlags) parent() inventory.Parent {
	return inventory.Parent{Kind: f.InventoryKind, Namespace: f.InventoryNamespace, Name: f.InventoryName}
}

// PlanFlags are the flags that change what a run would do, shared by
// reconcile and diff so that a diff shows exactly what a reconcile with
// the same flags would do.
type PlanFlags struct {
	Prune              bool     `help:"Delete objects that were removed from Git (--no-prune keeps them, still tracked)." default:"true" negatable:"" env:"TIDEGATE_PRUNE"`
	AllowMassPrune     bool     `help:"Allow a prune that deletes everything (an empty render) or more than --max-prune-share of the inventory." env:"TIDEGATE_ALLOW_MASS_PRUNE"`
	MaxPruneShare      float64  `help:"Largest share of the inventory (0–1) one run may prune without --allow-mass-prune." default:"0.5" env:"TIDEGATE_MAX_PRUNE_SHARE" placeholder:"SHARE"`
	Concurrency        int      `help:"Objects applied in parallel within a stage." default:"16" env:"TIDEGATE_CONCURRENCY" placeholder:"N"`
	AllowNamespace     []string `help:"Only touch objects in these namespaces; anything else is refused before any write. Repeatable." env:"TIDEGATE_ALLOW_NAMESPACES" sep:"," placeholder:"NS"`
	AllowClusterScoped bool     `help:"With --allow-namespace, also allow cluster-scoped objects (CRDs, ClusterRoles, Namespaces)." env:"TIDEGATE_ALLOW_CLUSTER_SCOPED"`
	Adopt              bool     `help:"Take over objects that already exist in the cluster without being in any inventory (made with kubectl, Helm, Flux…); without it they are refused before any write (per object: annotation tidegate.dev/adopt: enabled)." env:"TIDEGATE_ADOPT"`
	RepairInventory    bool     `help:"Read an inventory with unreadable members by dropping them, and write it again without them (the objects they named are no longer pruned)." env:"TIDEGATE_REPAIR_INVENTORY"`
}

// ReconcileCmd is tidegate's main job.
type ReconcileCmd struct {
	SourceFlags
	KeyFlags
	InventoryFlags
	PlanFlags
	FluxFlags

	DryRun   bool          `help:"Send every write as a server-side dry-run: report what would change, change nothing (not even the inventory)." env:"TIDEGATE_DRY_RUN"`
	Drift    string        `help:"What to do with objects changed by hand in the cluster: revert them to Git, or report them as a diff, write nothing and exit 2." enum:"revert,report" default:"revert" env:"TIDEGATE_DRIFT"`
	Force    bool          `help:"Take over fields other field managers own, delete and recreate objects whose immutable fields changed, and take objects from another inventory (per object: annotation tidegate.dev/force: enabled)." env:"TIDEGATE_FORCE"`
	Wait     bool          `help:"Wait for applied objects to become ready (kstatus) and fail if they do not (--no-wait skips it)." default:"true" negatable:"" env:"TIDEGATE_WAIT"`
	Timeout  time.Duration `help:"How long --wait waits." default:"5m" env:"TIDEGATE_TIMEOUT" placeholder:"DURATION"`
	Lease    bool          `help:"Hold a coordination.k8s.io Lease named tidegate-<inventory-name> in the inventory namespace while reconciling, so two runs (CronJob and CI) never overlap (--no-lease skips it)." default:"true" negatable:"" env:"TIDEGATE_LEASE"`
	LeaseTTL time.Duration `name:"lease-ttl" help:"How long the Lease lasts unless renewed; the run renews it every third of this, so a run that crashed blocks others at most this long. A run that cannot renew it in time stops." default:"2m" env:"TIDEGATE_LEASE_TTL" placeholder:"DURATION"`
}

// Run reconciles and prints the report. A failed run still prints what it
// did before failing.
func (c *ReconcileCmd) Run(ctx context.Context, g *Globals) error {
	drift, err := reconcile.ParseDriftMode(c.Drift)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	r, co, err := newReconciler(ctx, g, &c.SourceFlags, &c.KeyFlags, &c.InventoryFlags, &c.PlanFlags, &c.FluxFlags, func(o *reconcile.Options) {
		o.DryRun, o.Drift, o.Force, o.Wait, o.Timeout = c.DryRun, drift, c.Force, c.Wait, c.Timeout
	})
	if err != nil {
		return err
	}
	defer co.Close()
	release := func() {}
	if c.Lease && !c.DryRun {
		// The run's first reads wait for the Lease; the cluster's kinds
		// need not.
		dctx, cancel := context.WithCancel(ctx)
		discovered := make(chan struct{})
		go func() { defer close(discovered); r.Discover(dctx) }()
		defer func() { cancel(); <-discovered }()
		ctx, release, err = c.takeLease(ctx, g)
		if err != nil {
			return err
		}
		defer release()
	}
	rep, err := r.Run(ctx)
	err = leaseLost(ctx, err)
	// The run writes nothing more: the next may start while it reports.
	release()
	if perr := printReport(g, rep); perr != nil && err == nil {
		err = perr
	}
	g.summarize(reportSummary("reconcile", rep, err))
	if errors.Is(err, reconcile.ErrDrift) {
		return &ExitError{Code: ExitChanges, Err: err}
	}
	return err
}

// takeLease holds the run's Lease, renewed while the run lasts, and
// returns the context to run under (it ends if the Lease is lost) and the
// Lease's release, which may be called more than once.
func (c *ReconcileCmd) takeLease(ctx context.Context, g *Globals) (context.Context, func(), error) {
	cfg, err := g.RESTConfig()
	if err != nil {
		return ctx, nil, err
	}
	client, err := coordclient.NewForConfig(cfg)
	if err != nil {
		return ctx, nil, err
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d", host, os.Getpid())
	lock, err := lease.Acquire(ctx, client, c.InventoryNamespace, "tidegate-"+c.InventoryName, holder, c.LeaseTTL)
	if err != nil {
		return ctx, nil, err
	}
	return lock.Hold(ctx), sync.OnceFunc(func() {
		// The run's context may be cancelled (SIGTERM); release anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
			g.Logger().Warn("could not release the lease; it expires by itself", "error", err)
		}
	}), nil
}

// DiffCmd shows what a reconcile would do.
type DiffCmd struct {
	SourceFlags
	KeyFlags
	InventoryFlags
	PlanFlags
	FluxFlags

	Force bool `help:"Show what reconcile --force would do: objects of another inventory are shown as adopted instead of refused." env:"TIDEGATE_FORCE"`
}

// Run prints the diff. Like terraform plan -detailed-exitcode it exits 0
// when there is nothing to change and 2 when there is.
func (c *DiffCmd) Run(ctx context.Context, g *Globals) error {
	r, co, err := newReconciler(ctx, g, &c.SourceFlags, &c.KeyFlags, &c.InventoryFlags, &c.PlanFlags, &c.FluxFlags, func(o *reconcile.Options) { o.Force = c.Force })
	if err != nil {
		return err
	}
	defer co.Close()
	rep, err := r.Diff(ctx)
	if perr := printReport(g, rep); perr != nil && err == nil {
		err = perr
	}
	g.summarize(reportSummary("diff", rep, err))
	if err != nil {
		return err
	}
	if rep.Changed() || rep.Counts[reconcile.Drifted] > 0 {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

// sourceCloser is what newReconciler hands back to be closed.
type sourceCloser interface{ Close() error }

// newReconciler prepares a reconcile or diff of the source's paths: one
// plain unit, or the units of a Flux repository (package fleet).
func newReconciler(ctx context.Context, g *Globals, src *SourceFlags, keys *KeyFlags, inv *InventoryFlags, plan *PlanFlags, fl *FluxFlags, more func(*reconcile.Options)) (*fleet.Fleet, sourceCloser, error) {
	g.inventory = inventoryRef(inv.parent())
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	k, err := keys.Keys(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	co, err := src.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	opts := reconcile.Options{
		Source:             co.URL,
		Revision:           co.Revision,
		Root:               co.Dir,
		Paths:              src.Path,
		Render:             render.Options{Keys: k, Logger: g.Logger(), Plaintext: g.plaintext(), Helm: g.helmCharts(fl.CacheDir), LazyFiles: true},
		Inventory:          inv.parent(),
		Tooling:            "tidegate/" + version.Version(),
		Prune:              plan.Prune,
		AllowMassPrune:     plan.AllowMassPrune,
		MaxPruneShare:      plan.MaxPruneShare,
		Concurrency:        plan.Concurrency,
		AllowNamespaces:    plan.AllowNamespace,
		AllowClusterScoped: plan.AllowClusterScoped,
		Adopt:              plan.Adopt,
		RepairInventory:    plan.RepairInventory,
		Logger:             g.Logger(),
	}
	if more != nil {
		more(&opts)
	}
	r, err := fl.fleet(g, src, cfg, opts)
	if err != nil {
		co.Close()
		return nil, nil, err
	}
	return r, co, nil
}

func printReport(g *Globals, rep *reconcile.Report) error {
	if rep == nil {
		return nil
	}
	ie := g.interruption()
	if g.Output == "json" {
		if ie != nil {
			return printJSON(g.stdout(), struct {
				*reconcile.Report
				Outcome Outcome `json:"outcome"`
			}{rep, OutcomeInterrupted})
		}
		return printJSON(g.stdout(), rep)
	}
	if err := rep.WriteText(g.stdout(), g.LogLevel == "debug"); err != nil || ie == nil {
		return err
	}
	_, err := fmt.Fprintf(g.stdout(), "%s: the run stopped before it finished; the objects above are what it did, run it again to finish\n", ie)
	return err
}

// reportSummary turns a report into what the host (GitHub Actions,
// notifications, metrics) is told.
func reportSummary(command string, rep *reconcile.Report, err error) Summary {
	s := Summary{Command: command, Err: err, Counts: map[string]int{}}
	if rep == nil {
		return s
	}
	// The inventory is the run's (Globals), as data rather than the
	// report's display string.
	s.Source, s.Revision = rep.Source, rep.Revision
	s.Duration = time.Duration(rep.Duration)
	s.Changed = rep.Changed() || rep.Counts[reconcile.Drifted] > 0
	for a, n := range rep.Counts {
		s.Counts[string(a)] = n
	}
	var b strings.Builder
	b.WriteString("| object | action | note |\n|---|---|---|\n")
	rows := 0
	for _, e := range rep.Objects {
		if e.Action == reconcile.Unchanged {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", markdown.Cell(e.Object()), e.Action, markdown.Text(e.Reason))
		rows++
	}
	if rows == 0 {
		b.Reset()
		b.WriteString("No changes.\n")
	}
	s.Markdown = b.String()
	return s
}
