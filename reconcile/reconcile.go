package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/desired"
	"github.com/tidegate/tidegate/internal/listjson"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/prune"
	"github.com/tidegate/tidegate/render"
)

// ErrDrift is returned by a --drift=report run that found drift and so
// wrote nothing. The command maps it to exit code 2.
var ErrDrift = errors.New("live objects drifted from Git; nothing was written")

// Options is one run's configuration. Defaults fills what is left zero.
type Options struct {
	// Source is the repository as it may be printed (no credentials),
	// Revision the commit it was read at, Root its directory on disk.
	Source, Revision, Root string
	// Paths are the directories inside Root to render.
	Paths []string
	// Render holds the SOPS keys.
	Render render.Options
	// Rendered, when set, is the run's render, made by the caller (a Flux
	// unit is rendered by package fleet with its sources and variables):
	// Root, Paths and Render are then not rendered again.
	Rendered *render.Result
	// Prefetch, when set, is this run's first reads started by the
	// caller (StartPrefetch) with the same clients and Inventory; the run
	// takes it over and stops it. One older than a few seconds is read
	// again.
	Prefetch *Prefetch
	// Skip, when set, sets rendered objects aside as configuration read
	// by tidegate rather than applied (Flux's own objects in a Flux run),
	// with the reason the report prints.
	Skip func(*unstructured.Unstructured) (reason string, skip bool)
	// Inventory is the ApplySet parent that records what this run owns.
	Inventory inventory.Parent
	// Tooling is written to the parent, e.g. "tidegate/v0.3.0".
	Tooling string
	// InventoryLabels are written on the parent besides its ApplySet id.
	InventoryLabels map[string]string

	// DryRun sends every write as a server-side dry-run: nothing changes,
	// not even the inventory.
	DryRun bool
	// Prune deletes what Git no longer has.
	Prune bool
	// Drift says what to do with objects changed by hand in the cluster.
	Drift DriftMode
	// Force takes over fields owned by other managers and recreates
	// objects whose immutable fields changed. It also takes over objects
	// that are members of another inventory.
	Force bool
	// Adopt takes over objects that exist in the cluster without being a
	// member of any inventory; without it (or the object's annotation
	// tidegate.dev/adopt: enabled) they are refused before any write.
	Adopt bool
	// AdoptLabels adopts, as explicitly as Adopt, the unowned objects
	// that carry all of these labels (a Flux Kustomization unit passes
	// kustomize.toolkit.fluxcd.io/name and /namespace); other unowned
	// objects are still refused. Empty adopts nothing.
	AdoptLabels map[string]string
	// TakeOverManagers are field managers whose server-side apply
	// ownership moves to tidegate when it writes an object they applied
	// (a Flux unit passes kustomize-controller): no conflict, nothing
	// recreated, and a field later removed from Git is removed from the
	// object. The labels named in AdoptLabels stay with that manager.
	TakeOverManagers []string
	// RepairInventory reads an inventory with unreadable members by
	// dropping them, and writes it again without them.
	RepairInventory bool
	// Wait waits up to Timeout for applied objects to become ready.
	Wait    bool
	Timeout time.Duration
	// WaitFor, when set, are the objects Wait waits for instead of every
	// applied one (a Flux Kustomization's healthChecks).
	WaitFor []object.ID
	// AllowMassPrune and MaxPruneShare tune the mass-deletion guard.
	AllowMassPrune bool
	MaxPruneShare  float64
	// Concurrency bounds the objects in flight per apply stage.
	Concurrency int
	// AllowNamespaces, when set, restricts the run to these namespaces;
	// cluster-scoped objects then need AllowClusterScoped.
	AllowNamespaces    []string
	AllowClusterScoped bool
	// DefaultNamespace is given to namespaced objects that name none, as
	// kubectl does with the kubeconfig's namespace.
	DefaultNamespace string
	// Releases are the Helm releases rendered into the run's objects:
	// their hook objects are run around the apply instead of applied
	// with it (see Release).
	Releases []Release

	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Drift == "" {
		o.Drift = DriftRevert
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.DefaultNamespace == "" {
		o.DefaultNamespace = "default"
	}
	if o.Tooling == "" {
		o.Tooling = "tidegate/dev"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Paths) == 0 {
		o.Paths = []string{"."}
	}
}

// Reconciler runs the story against one cluster.
type Reconciler struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
	opts   Options
	apply  *apply.Manager
	// rendered is the run's render, once there is one.
	rendered *render.Result
	// repair is set when the inventory was read with unreadable members
	// dropped: it must be written again even if the members read equal.
	repair bool
}

// New connects to the cluster described by cfg. It does not contact the
// API server until a run starts.
func New(cfg *rest.Config, opts Options) (*Reconciler, error) {
	dyn, mapper, _, err := Clients(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithClients(dyn, mapper, opts), nil
}

// Clients are the clients a Reconciler of cfg's cluster uses: runs that
// share them (the units of a Flux run with the same access) discover the
// cluster's kinds once, not once each. The cached discovery is the one
// behind the mapper, for callers that need the cluster's API versions
// too (a chart's .Capabilities) without discovering them again.
func Clients(cfg *rest.Config) (dynamic.Interface, meta.ResettableRESTMapper, discovery.CachedDiscoveryInterface, error) {
	// LISTs are most of what a run waits for before its first write:
	// listjson decodes them in one pass.
	dyn, err := listjson.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	return dyn, restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil
}

// NewWithClients is New with clients made by Clients, shared with other
// runs against the same cluster as the same user.
func NewWithClients(dyn dynamic.Interface, mapper meta.ResettableRESTMapper, opts Options) *Reconciler {
	opts.defaults()
	r := &Reconciler{dyn: dyn, mapper: mapper, opts: opts}
	r.apply = apply.New(dyn, mapper, apply.Options{
		Concurrency: opts.Concurrency,
		Logger:      opts.Logger,
		// Diffs mask what came from SOPS files by provenance, not
		// only Secrets by kind.
		Mask: func(desired, live *unstructured.Unstructured) { r.rendered.Mask(desired, live) },
		// The labels that adopt stay as the other tool set them: they
		// say who applied the object before, and Git does not set them.
		TakeOverManagers: opts.TakeOverManagers,
		KeepLabels:       slices.Sorted(maps.Keys(opts.AdoptLabels)),
	})
	return r
}

func (r *Reconciler) newReport() *Report {
	return &Report{
		Source:    r.opts.Source,
		Revision:  r.opts.Revision,
		Paths:     r.opts.Paths,
		DryRun:    r.opts.DryRun,
		Drift:     r.opts.Drift,
		Inventory: r.opts.Inventory.String(),
		Started:   time.Now(),
	}
}

// Run makes the cluster equal to Git. The report is returned even when
// the run fails, holding what was done before the failure.
func (r *Reconciler) Run(ctx context.Context) (*Report, error) {
	rep := r.newReport()
	defer rep.finish(rep.Started)

	// Render first: a repository that does not render changes nothing.
	// Then read the cluster once and decide whose objects are whose.
	p, err := r.start(ctx, rep, "tidegate reconcile")
	if err != nil {
		return rep, r.fail(rep, err)
	}
	// Objects that belong to someone else refuse the whole run, before
	// any write: taking them over is the user's decision.
	if p.refusal != nil {
		return rep, r.fail(rep, fmt.Errorf("%w (nothing was written)", p.refusal))
	}
	if r.opts.Drift == DriftReport {
		if drifted := p.drifted(); len(drifted) > 0 {
			return rep, r.reportDrift(ctx, rep, drifted)
		}
	}
	// Pre hooks run before anything else is written: one that fails
	// leaves the cluster as it was, but for the hooks themselves.
	if err := r.checkHooks(ctx, p); err != nil {
		return rep, r.fail(rep, fmt.Errorf("%w (nothing was written)", err))
	}
	if r.opts.DryRun {
		r.reportWouldRun(rep, p)
	} else if err := r.runHooks(ctx, rep, p, true); err != nil {
		return rep, r.fail(rep, fmt.Errorf("%w (nothing else was applied or pruned)", err))
	}
	if err := r.widen(ctx, p); err != nil {
		return rep, r.fail(rep, err)
	}
	if err := r.applyPlan(ctx, rep, p); err != nil {
		// Never prune after a failed apply: the render may be fine but the
		// cluster is half-way, and deleting now could take down what the
		// failed objects were meant to replace.
		return rep, r.fail(rep, fmt.Errorf("apply: %w (nothing was pruned)", err))
	}
	// Without pruning the inventory keeps what it had: those objects
	// are still ours, and a later run with pruning removes them.
	remaining := p.stale
	if r.opts.Prune {
		if remaining, err = r.pruneStale(ctx, rep, p); err != nil {
			return rep, r.fail(rep, fmt.Errorf("prune: %w", err))
		}
	}
	if err := r.finalize(ctx, p, remaining); err != nil {
		return rep, r.fail(rep, err)
	}
	if r.opts.Wait && !r.opts.DryRun {
		waitFor := p.current
		if len(r.opts.WaitFor) > 0 {
			waitFor = r.opts.WaitFor
		}
		if err := r.wait(ctx, rep, waitFor); err != nil {
			return rep, r.fail(rep, err)
		}
	}
	if err := r.postHooks(ctx, rep, p); err != nil {
		return rep, r.fail(rep, err)
	}
	return rep, nil
}

// Diff reports what Run would change, with a diff per changed object and
// the objects a prune would delete. It writes nothing, and reads the
// cluster once: the diff is made from the plan.
func (r *Reconciler) Diff(ctx context.Context) (*Report, error) {
	rep := r.newReport()
	rep.DryRun = true
	defer rep.finish(rep.Started)

	p, err := r.start(ctx, rep, "tidegate diff")
	if err != nil {
		return rep, r.fail(rep, err)
	}
	// A diff shows what a reconcile would refuse, and the rest as usual.
	items := slices.DeleteFunc(slices.Clone(p.plan.Items), func(it apply.Planned) bool { return p.refused[it.ID] })
	changes, err := r.apply.DiffPlanned(ctx, items)
	for i, c := range changes {
		if items[i].Drifted {
			c.Action, c.Reason = Drifted, "changed in the cluster, not in Git"
		}
		e := entryOf(c)
		markAdopted(&e, c.ID, p.adopted)
		rep.add(e)
	}
	if err != nil {
		return rep, r.fail(rep, fmt.Errorf("diff: %w", err))
	}
	if r.opts.Prune {
		res, err := r.pruner(p, true).Prune(ctx, p.stale, len(p.prev.Members), len(p.current))
		if res != nil {
			// A dry-run delete that failed shows as failed; the error
			// below says why.
			for _, c := range res.Changes() {
				if c.Action == Deleted {
					c.Reason = "removed from Git"
				}
				rep.add(entryOf(c))
			}
		}
		if err != nil {
			return rep, r.fail(rep, fmt.Errorf("prune: %w", err))
		}
	}
	if p.refusal != nil {
		return rep, r.fail(rep, fmt.Errorf("%w (a reconcile would write nothing)", p.refusal))
	}
	if err := r.checkHooks(ctx, p); err != nil {
		return rep, r.fail(rep, fmt.Errorf("%w (a reconcile would write nothing)", err))
	}
	r.reportWouldRun(rep, p)
	return rep, nil
}

// pass is one run once Git is rendered and the cluster read: the state
// Run and Diff share before they write or report.
type pass struct {
	objs []*unstructured.Unstructured
	// current are the objects' ids, in render order; want is their set
	// and stale the previous members it no longer holds, made once since
	// widen, prune and finalize all need them.
	current []object.ID
	want    inventory.Set
	stale   []object.ID
	store   *inventory.Store
	prev    *inventory.Inventory
	plan    *apply.Plan
	// adopted are objects this run takes over, refused those that belong
	// to someone else; refusal joins one error per refused object.
	adopted map[object.ID]prune.Claim
	refused map[object.ID]bool
	refusal error
	// hooks are the releases' hook objects, set aside from objs, and
	// the releases that run them; saved is the inventory as last
	// written (or read), for the hook digests written after post hooks.
	hooks *releaseHooks
	saved *inventory.Inventory
}

// start prepares the run (render, inventory, labels), plans it against
// the live objects and decides the claims. It writes nothing.
func (r *Reconciler) start(ctx context.Context, rep *Report, command string) (*pass, error) {
	objs, store, prev, pf, err := r.prepare(ctx, rep)
	if err != nil {
		return nil, err
	}
	objs, hooks := r.setHooksAside(objs)
	// Plan reads live state in bulk and tells Git changes from drift.
	_, pre, _ := pf.result()
	plan, err := r.apply.Plan(ctx, objs, apply.WithPreload(pre))
	pf.Stop()
	if err != nil {
		return nil, fmt.Errorf("read live objects: %w", err)
	}
	current := ids(objs)
	want := inventory.NewSet(current...)
	// A hook that was an object of the last run is not stale: it runs.
	stale := inventory.Stale(prev, want.Union(inventory.NewSet(hooks.ids()...)))
	p := &pass{objs: objs, current: current, want: want, stale: stale, store: store, prev: prev, plan: plan, hooks: hooks, saved: prev}
	p.planHooks(r.opts.Releases)
	p.adopted, p.refused, p.refusal = r.claims(plan, prev, rep, command)
	return p, nil
}

// drifted are the planned objects someone changed in the cluster.
func (p *pass) drifted() []apply.Planned {
	var out []apply.Planned
	for _, it := range p.plan.Items {
		if it.Drifted {
			out = append(out, it)
		}
	}
	return out
}

// widen writes the inventory with every object it is about to apply:
// the parent must list each object before it is created, so that a run
// that dies half-way leaves nothing untracked (KEP-3659 does the same:
// the parent's group-kinds are widened before applying).
func (r *Reconciler) widen(ctx context.Context, p *pass) error {
	widened := inventory.Widened(p.prev, p.want)
	if r.opts.DryRun || (!r.repair && !inventory.Changed(p.prev, widened)) {
		return nil
	}
	if err := p.store.Save(ctx, widened); err != nil {
		return fmt.Errorf("write inventory %s before applying: %w", r.opts.Inventory.String(), err)
	}
	return nil
}

// applyPlan applies the planned objects and records every change in rep,
// also when the apply fails.
func (r *Reconciler) applyPlan(ctx context.Context, rep *Report, p *pass) error {
	r.opts.Logger.Info("applying", "objects", len(p.objs), "dryRun", r.opts.DryRun)
	cs, err := r.apply.Apply(ctx, p.objs, apply.ApplyOptions{DryRun: r.opts.DryRun, Force: r.opts.Force, RevertDrift: r.opts.Drift == DriftRevert, TakeOver: takeOver(p.adopted), Plan: p.plan})
	drifted := map[object.ID]bool{}
	for _, it := range p.drifted() {
		drifted[it.ID] = true
	}
	if cs != nil {
		for _, c := range cs.Changes {
			if drifted[c.ID] && c.Action == Configured {
				c.Reason = "drift reverted"
			}
			e := entryOf(c)
			markAdopted(&e, c.ID, p.adopted)
			rep.add(e)
		}
	}
	return err
}

// pruneStale deletes what Git no longer has and records it in rep. It
// returns the stale members that stay in the inventory: failed deletes
// and objects outside the namespaces this run may touch.
func (r *Reconciler) pruneStale(ctx context.Context, rep *Report, p *pass) ([]object.ID, error) {
	stale := p.stale
	if len(stale) > 0 {
		r.opts.Logger.Info("pruning", "objects", len(stale), "dryRun", r.opts.DryRun)
	}
	res, err := r.pruner(p, r.opts.DryRun).Prune(ctx, stale, len(p.prev.Members), len(p.current))
	if res == nil {
		return nil, err
	}
	for _, c := range res.Changes() {
		rep.add(entryOf(c))
	}
	remaining := slices.Clone(res.Remaining)
	for _, s := range res.Kept {
		remaining = append(remaining, s.ID)
	}
	return remaining, err
}

func (r *Reconciler) pruner(p *pass, dryRun bool) *prune.Pruner {
	return prune.NewPruner(r.dyn, r.mapper, r.opts.Inventory.ID(), prune.Options{
		MaxShare:           r.opts.MaxPruneShare,
		AllowMassPrune:     r.opts.AllowMassPrune,
		DryRun:             dryRun,
		Concurrency:        r.opts.Concurrency,
		Known:              p.plan.Listed,
		AllowNamespaces:    r.opts.AllowNamespaces,
		AllowClusterScoped: r.opts.AllowClusterScoped,
		Logger:             r.opts.Logger,
	})
}

// finalize writes the inventory as the run leaves it: the objects
// applied and the stale ones still kept. An unchanged inventory is not
// written again: a no-op run writes nothing at all.
func (r *Reconciler) finalize(ctx context.Context, p *pass, remaining []object.ID) error {
	final := inventory.Final(p.prev, r.opts.Revision, p.want, inventory.NewSet(remaining...))
	final.Hooks = p.hookDigests(false)
	if r.opts.DryRun || (!r.repair && !inventory.Changed(p.prev, final)) {
		p.saved = final
		return nil
	}
	if err := p.store.Save(ctx, final); err != nil {
		return fmt.Errorf("write inventory %s: %w", r.opts.Inventory.String(), err)
	}
	p.saved = final
	return nil
}

// wait waits for the applied objects to become ready and records the
// ones that did not in rep.
func (r *Reconciler) wait(ctx context.Context, rep *Report, current []object.ID) error {
	r.opts.Logger.Info("waiting for objects to become ready", "timeout", r.opts.Timeout)
	notReady, err := r.apply.Wait(ctx, current, r.opts.Timeout)
	for _, s := range notReady {
		rep.NotReady = append(rep.NotReady, Health{Object: s.ID.String(), Status: s.Status, Message: s.Message})
	}
	if err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	if len(notReady) > 0 {
		return fmt.Errorf("%d objects are not ready after %s (see the list above; raise --timeout or fix them)", len(notReady), r.opts.Timeout)
	}
	return nil
}

// desired renders the repository and returns the objects to apply, after
// setting aside tidegate's own configuration and enforcing the namespace
// limits (desired.Resolve). It records skipped objects in rep.
func (r *Reconciler) desired(ctx context.Context, rep *Report) ([]*unstructured.Unstructured, error) {
	res := r.opts.Rendered
	if res == nil {
		var err error
		if res, err = render.Render(ctx, r.opts.Root, r.opts.Paths, r.opts.Render); err != nil {
			return nil, fmt.Errorf("render: %w (nothing was applied or pruned)", err)
		}
	}
	r.rendered = res
	set := desired.Resolve(ctx, res, desired.RESTMapperScopes{Mapper: r.mapper}, desired.Policy{
		AllowNamespaces:    r.opts.AllowNamespaces,
		AllowClusterScoped: r.opts.AllowClusterScoped,
		DefaultNamespace:   r.opts.DefaultNamespace,
		Skip:               r.opts.Skip,
	})
	for _, it := range set.Items {
		if it.Verdict == desired.Skip {
			rep.add(entryOf(object.Change{ID: it.ID, Action: Skipped, Reason: it.Why}))
		}
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("%w (nothing was applied or pruned)", err)
	}
	return set.Objects(), nil
}

// reportDrift writes nothing: it diffs the drifted objects, from the
// plan that found them, and returns ErrDrift so that a person can look
// before Git is applied over them.
func (r *Reconciler) reportDrift(ctx context.Context, rep *Report, drifted []apply.Planned) error {
	changes, err := r.apply.DiffPlanned(ctx, drifted)
	for _, c := range changes {
		c.Action, c.Reason = Drifted, "changed in the cluster since tidegate applied it; not reverted (--drift=report)"
		rep.add(entryOf(c))
	}
	if err != nil {
		return r.fail(rep, fmt.Errorf("diff drifted objects: %w", err))
	}
	rep.Error = ErrDrift.Error()
	return fmt.Errorf("%d drifted: %w (look at the diff; run with --drift=revert to apply Git over them)", len(drifted), ErrDrift)
}

func (r *Reconciler) fail(rep *Report, err error) error {
	rep.Error = err.Error()
	return err
}

func ids(objs []*unstructured.Unstructured) []object.ID {
	out := make([]object.ID, 0, len(objs))
	for _, o := range objs {
		out = append(out, object.FromUnstructured(o))
	}
	return out
}

// prepare renders Git, reads the previous inventory and labels every
// object as a member of it: the steps reconcile and diff share before
// they look at the cluster.
func (r *Reconciler) prepare(ctx context.Context, rep *Report) ([]*unstructured.Unstructured, *inventory.Store, *inventory.Inventory, *Prefetch, error) {
	store := inventory.NewStore(r.dyn, r.opts.Inventory, r.opts.Tooling).WithLabels(r.opts.InventoryLabels)
	// The inventory, and the live objects it lists, are read while the
	// repository renders (or were read by the caller ahead of the run).
	pf := r.opts.Prefetch
	if !pf.usable(r.opts.Inventory) {
		pf.Stop()
		pf = startPrefetch(ctx, store, r.apply, r.opts.Inventory)
	}
	objs, err := r.desired(ctx, rep)
	if err != nil {
		pf.Stop()
		return nil, nil, nil, nil, err
	}
	// A failed render is the error the user sees first; the inventory's
	// waits behind it.
	prev, _, err := pf.result()
	var corrupt *inventory.CorruptError
	switch {
	case errors.As(err, &corrupt) && r.opts.RepairInventory:
		r.opts.Logger.Warn("repairing the inventory: dropping unreadable members; the objects they named are no longer tracked and will not be pruned", "inventory", r.opts.Inventory.String(), "dropped", strings.Join(corrupt.Bad, "; "))
		prev, r.repair = corrupt.Partial, true
	case errors.As(err, &corrupt):
		pf.Stop()
		return nil, nil, nil, nil, fmt.Errorf("read inventory: %w. Nothing was written. To repair it, %s", err, r.opts.Inventory.RepairAdvice())
	case err != nil:
		pf.Stop()
		return nil, nil, nil, nil, fmt.Errorf("read inventory %s: %w", r.opts.Inventory.String(), err)
	}
	for _, o := range objs {
		inventory.Label(o, r.opts.Inventory.ID())
	}
	return objs, store, prev, pf, nil
}
