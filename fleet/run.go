package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/handover"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/reconcile"
)

// Run makes the cluster equal to Git, unit by unit. The report holds
// every unit, also when the run fails.
func (f *Fleet) Run(ctx context.Context) (*reconcile.Report, error) { return f.do(ctx, false) }

// Diff reports what Run would change, unit by unit, writing nothing.
func (f *Fleet) Diff(ctx context.Context) (*reconcile.Report, error) { return f.do(ctx, true) }

func (f *Fleet) do(ctx context.Context, diff bool) (*reconcile.Report, error) {
	run := f.opts.Run
	rep := &reconcile.Report{Source: run.Source, Revision: run.Revision, Paths: run.Paths, DryRun: run.DryRun || diff, Drift: run.Drift, Inventory: run.Inventory.String(), Started: time.Now()}
	plan, err := f.Plan(ctx)
	if err != nil {
		rep.Error = err.Error()
		rep.Finish()
		return rep, err
	}
	defer func() {
		if err := plan.Close(); err != nil {
			f.log.Warn("could not remove a fetched source", "error", err)
		}
	}()
	if !plan.Flux {
		// One plain unit: exactly what the Reconciler does alone.
		opts := run
		opts.Rendered, opts.Prefetch = plan.Units[0].Rendered, plan.Units[0].prefetch
		if f.clients.run.dyn == nil {
			return rep, fmt.Errorf("no cluster: %w", errNoCluster)
		}
		rec := reconcile.NewWithClients(f.clients.run.dyn, f.clients.run.mapper, opts)
		if diff {
			return rec.Diff(ctx)
		}
		return rec.Run(ctx)
	}
	found := make(chan []orphan, 1)
	go func() { found <- f.orphans(ctx, plan) }()
	results := f.schedule(ctx, plan, diff)
	ordered := make([]*result, 0, len(plan.Units))
	clean := true
	for _, u := range plan.Units {
		r := results[u.Name]
		ordered = append(ordered, r)
		if s := r.unit.Status; s != reconcile.UnitReconciled && s != reconcile.UnitDiffed && s != reconcile.UnitSuspended {
			clean = false
		}
	}
	ordered = append(ordered, f.removeOrphans(ctx, <-found, diff, clean)...)
	var failed, drifted []string
	for _, r := range ordered {
		rep.AddUnit(r.unit, r.rep)
		switch r.unit.Status {
		case reconcile.UnitFailed:
			failed = append(failed, r.unit.Name)
		case reconcile.UnitDrifted:
			drifted = append(drifted, r.unit.Name)
		}
	}
	rep.Finish()
	switch {
	case len(failed) > 0:
		err = fmt.Errorf("%d of %d units failed: %s (see each unit's reason; the units that depend on them were skipped, the others ran)", len(failed), len(ordered), unitNames(failed))
	case len(drifted) > 0:
		err = fmt.Errorf("units %s drifted: %w (look at the diff; run with --drift=revert to apply Git over them)", unitNames(drifted), reconcile.ErrDrift)
	}
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, err
}

// result is how one unit ended.
type result struct {
	unit reconcile.Unit
	rep  *reconcile.Report
}

// schedule runs every unit once the units it depends on ran, at most
// Concurrency at once: units that do not depend on each other run at the
// same time, and a unit whose dependency did not succeed is skipped.
func (f *Fleet) schedule(ctx context.Context, plan *Plan, diff bool) map[string]*result {
	done := map[string]chan struct{}{}
	for _, u := range plan.Units {
		done[u.Name] = make(chan struct{})
	}
	var mu sync.Mutex
	results := map[string]*result{}
	get := func(name string) *result {
		mu.Lock()
		defer mu.Unlock()
		return results[name]
	}
	sem := make(chan struct{}, f.opts.Concurrency)
	var wg sync.WaitGroup
	for _, u := range plan.Units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[u.Name])
			r := f.unitRun(ctx, plan, u, diff, func(dep string) *result {
				ch, ok := done[dep]
				if !ok {
					return nil
				}
				<-ch
				return get(dep)
			}, sem)
			mu.Lock()
			results[u.Name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// unitRun waits for u's dependencies, then runs it unless one of them
// did not succeed.
func (f *Fleet) unitRun(ctx context.Context, plan *Plan, u *Unit, diff bool, wait func(string) *result, sem chan struct{}) *result {
	ru := reconcile.Unit{Name: u.Name, Path: u.Path, Source: u.Source, Revision: u.Revision, Inventory: u.Inventory.String(), DependsOn: u.dependsOn()}
	for _, dep := range ru.DependsOn {
		r := wait(dep)
		if r == nil {
			continue
		}
		if s := r.unit.Status; s != reconcile.UnitReconciled && s != reconcile.UnitDiffed {
			ru.Status, ru.Reason = reconcile.UnitSkipped, fmt.Sprintf("depends on %s, which %s", dep, statusWords(s))
			return &result{unit: ru}
		}
	}
	switch {
	case u.Kustomization != nil && u.Kustomization.Suspend:
		ru.Status, ru.Reason = reconcile.UnitSuspended, "spec.suspend is true; resume it in Git to run it"
		return &result{unit: ru}
	case u.Err != nil:
		ru.Status, ru.Reason = reconcile.UnitFailed, u.Err.Error()
		return &result{unit: ru}
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		ru.Status, ru.Reason = reconcile.UnitSkipped, "the run was interrupted before it started"
		return &result{unit: ru}
	}
	defer func() { <-sem }()
	start := time.Now()
	rep, err := f.reconcileUnit(ctx, u, diff)
	defer func() {
		// Progress: a run of many units says each one as it ends.
		f.log.Info("unit done", "unit", u.Name, "status", string(ru.Status), "duration", time.Since(start).Round(time.Millisecond))
	}()
	switch {
	case err == nil && diff:
		ru.Status = reconcile.UnitDiffed
	case err == nil:
		ru.Status = reconcile.UnitReconciled
	case errors.Is(err, reconcile.ErrDrift):
		ru.Status, ru.Reason = reconcile.UnitDrifted, "live objects drifted from Git; nothing was written in this unit"
	default:
		ru.Status, ru.Reason = reconcile.UnitFailed, err.Error()
	}
	return &result{unit: ru, rep: rep}
}

func statusWords(s reconcile.UnitStatus) string {
	switch s {
	case reconcile.UnitFailed:
		return "failed"
	case reconcile.UnitSuspended:
		return "is suspended"
	case reconcile.UnitDrifted:
		return "drifted and wrote nothing"
	}
	return "was skipped"
}

// fluxNameLabel and fluxNamespaceLabel are what kustomize-controller
// labels every object of a Kustomization with: the objects a unit adopts
// when it takes over from a running Flux.
const (
	fluxNameLabel      = "kustomize.toolkit.fluxcd.io/name"
	fluxNamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace"
)

// reconcileUnit is one unit's reconcile, with the unit's settings over
// the run's.
func (f *Fleet) reconcileUnit(ctx context.Context, u *Unit, diff bool) (*reconcile.Report, error) {
	opts := f.opts.Run
	opts.Rendered = u.Rendered
	opts.Skip = skipFlux
	opts.Inventory = u.Inventory
	opts.Logger = f.log.With("unit", u.Name)
	opts.Releases = u.HelmReleases
	cl := f.clients.run
	if k := u.Kustomization; k != nil {
		if !u.IsRoot() {
			opts.Root, opts.Paths, opts.Revision = u.Root, []string{u.Path}, u.Revision
		}
		opts.Prune = opts.Prune && k.Prune
		opts.Force = opts.Force || k.Force
		opts.Timeout = timeoutOr(k.Timeout, opts.Timeout)
		switch {
		case k.Wait:
		case len(k.HealthChecks) > 0:
			for _, h := range k.HealthChecks {
				opts.WaitFor = append(opts.WaitFor, healthCheckID(h, k.Namespace))
			}
		default:
			opts.Wait = false
		}
		opts.InventoryLabels = f.unitLabels(opts.Prune)
		opts.AdoptLabels = map[string]string{fluxNameLabel: k.Name, fluxNamespaceLabel: k.Namespace}
		opts.TakeOverManagers = []string{"kustomize-controller"}
		var err error
		if cl, err = f.clients.forUnit(ctx, k); err != nil {
			return nil, err
		}
		if err := f.guard(ctx, k, diff || opts.DryRun); err != nil {
			var live *handover.LiveError
			if !diff || !errors.As(err, &live) {
				return nil, err
			}
			// A diff is how a user looks before taking a unit over
			// from Flux: it goes on, and says what a reconcile needs.
			f.log.Warn("Flux still reconciles this Kustomization; a reconcile of its unit needs --suspend-flux", "unit", u.Name)
		}
	}
	// A root unit whose Kustomization reads as a ServiceAccount (or
	// another cluster) was prefetched with the run's own access before
	// that was known: it reads again, as the unit.
	if u.prefetchBy == cl {
		opts.Prefetch = u.prefetch
	}
	if len(u.SuspendedReleases) > 0 && opts.Prune {
		// Flux leaves a suspended release as it is: pruning the objects
		// its chart is no longer rendered into would uninstall it.
		opts.Prune = false
		opts.Logger.Warn("not pruning: the unit has suspended HelmReleases (spec.suspend, or Flux v1's fluxcd.io/ignore), whose objects tidegate keeps as they are", "helmreleases", strings.Join(u.SuspendedReleases, ","))
	}
	if cl.dyn == nil {
		return nil, fmt.Errorf("no cluster: %w", errNoCluster)
	}
	rec := reconcile.NewWithClients(cl.dyn, cl.mapper, opts)
	if diff {
		return rec.Diff(ctx)
	}
	return rec.Run(ctx)
}

// prefetch starts u's first reads with cl, the clients its reconcile
// will use; nothing without a cluster.
func (f *Fleet) prefetch(ctx context.Context, u *Unit, cl *clusterClient) {
	if cl == nil || cl.dyn == nil {
		return
	}
	u.prefetch, u.prefetchBy = reconcile.StartPrefetch(ctx, cl.dyn, cl.mapper, u.Inventory, f.opts.Run.Concurrency), cl
}

// healthCheckID is the object a healthCheck names; its namespace, when
// left out, is the Kustomization's, as Flux takes it.
func healthCheckID(h flux.Ref, ns string) object.ID {
	group, _, _ := strings.Cut(h.APIVersion, "/")
	if !strings.Contains(h.APIVersion, "/") {
		group = ""
	}
	if h.Namespace != "" {
		ns = h.Namespace
	}
	return object.ID{Group: group, Kind: h.Kind, Namespace: ns, Name: h.Name}
}

// guard refuses a unit whose Kustomization a running Flux still
// reconciles, or suspends it first with --suspend-flux (see package
// handover). The live Kustomization is where Flux runs: the run's own
// cluster, read with the run's own access.
func (f *Fleet) guard(ctx context.Context, k *flux.Kustomization, dryRun bool) error {
	run := f.clients.run
	if run.dyn == nil {
		return nil
	}
	mapper, err := run.restMapper()
	if err != nil {
		return err
	}
	st, err := handover.Guard(ctx, run.dyn, mapper, k.Namespace, k.Name, f.opts.SuspendFlux, dryRun)
	if err != nil {
		return err
	}
	if st.Status == handover.Suspended || st.Status == handover.WouldSuspend {
		f.log.Info("suspended the live Flux Kustomization before taking its unit over", "kustomization", k.Namespace+"/"+k.Name, "status", string(st.Status))
	}
	return nil
}
