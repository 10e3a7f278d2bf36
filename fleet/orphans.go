package fleet

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
)

// The labels a Flux run writes on its units' inventories: the run they
// belong to (the ApplySet id of the run's own inventory) and whether the
// unit prunes, so that a later run can find the inventory of a unit whose
// Kustomization Git no longer has and knows what that unit asked for.
const (
	fleetLabel = "tidegate.dev/fleet"
	pruneLabel = "tidegate.dev/prune"
)

func (f *Fleet) unitLabels(prune bool) map[string]string {
	p := "disabled"
	if prune {
		p = "enabled"
	}
	return map[string]string{fleetLabel: f.opts.Run.Inventory.ID(), pruneLabel: p}
}

// orphan is the inventory of a unit Git no longer has.
type orphan struct {
	unit   string
	parent inventory.Parent
	prune  bool
}

// orphans lists the inventories this run's units wrote in earlier runs
// whose unit is not in plan. Reading them needs list access to the
// inventory kind in every namespace; without it the run says so and goes
// on: a removed unit then keeps its objects, as it would in any case.
// It may run while the units do: only the units in plan write
// inventories, and those are not orphans.
func (f *Fleet) orphans(ctx context.Context, plan *Plan) []orphan {
	run := f.opts.Run
	cl := f.clients.run
	if cl.dyn == nil {
		return nil
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: strings.ToLower(run.Inventory.Kind) + "s"}
	list, err := cl.dyn.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: fleetLabel + "=" + run.Inventory.ID()})
	if err != nil {
		f.log.Warn("cannot look for the inventories of units removed from Git; their objects are kept", "error", err)
		return nil
	}
	known := map[inventory.Parent]bool{}
	for _, u := range plan.Units {
		known[u.Inventory] = true
	}
	var out []orphan
	for _, item := range list.Items {
		p := inventory.Parent{Kind: run.Inventory.Kind, Namespace: item.GetNamespace(), Name: item.GetName()}
		name, ok := strings.CutPrefix(p.Name, run.Inventory.Name+".")
		if known[p] || !ok {
			continue
		}
		out = append(out, orphan{unit: p.Namespace + "/" + name, parent: p, prune: item.GetLabels()[pruneLabel] == "enabled"})
	}
	return out
}

// removeOrphans prunes the objects of units Git no longer has, as Flux
// garbage-collects a deleted Kustomization with spec.prune, and deletes
// their inventories. Only after a run in which every unit ran (a unit
// that failed might be the one that renders it), only with the run's and
// the unit's prune on, and only with --allow-mass-prune: deleting every
// object of a unit is the mass deletion that guard exists for.
func (f *Fleet) removeOrphans(ctx context.Context, orphans []orphan, diff bool, clean bool) []*result {
	run := f.opts.Run
	var out []*result
	for _, o := range orphans {
		ru := reconcile.Unit{Name: o.unit, Path: "(removed from Git)", Inventory: o.parent.String(), Status: reconcile.UnitOrphaned}
		switch {
		case !clean:
			ru.Reason = "its Kustomization is no longer in Git, but units of this run failed or were skipped: its objects are kept until a run where every unit succeeds"
		case !o.prune || !run.Prune:
			ru.Reason = "its Kustomization is no longer in Git and it did not prune (spec.prune: false or --no-prune): its objects are kept; delete its inventory " + o.parent.String() + " to stop tracking them"
		case !run.AllowMassPrune:
			ru.Reason = "its Kustomization is no longer in Git: pruning all of its objects needs --allow-mass-prune (or delete its inventory " + o.parent.String() + " to keep them untracked)"
		}
		if ru.Reason != "" {
			out = append(out, &result{unit: ru})
			continue
		}
		rep, err := f.pruneOrphan(ctx, o, diff)
		switch {
		case err != nil:
			ru.Status, ru.Reason = reconcile.UnitFailed, "prune the objects of a unit removed from Git: "+err.Error()
		case diff || run.DryRun:
			ru.Status, ru.Reason = reconcile.UnitDiffed, "its Kustomization is no longer in Git: a reconcile prunes its objects and deletes its inventory"
		default:
			ru.Status, ru.Reason = reconcile.UnitRemoved, "its Kustomization is no longer in Git: its objects were pruned and its inventory deleted"
		}
		out = append(out, &result{unit: ru, rep: rep})
	}
	return out
}

// pruneOrphan reconciles o's inventory with nothing in it, then deletes
// the emptied inventory.
func (f *Fleet) pruneOrphan(ctx context.Context, o orphan, diff bool) (*reconcile.Report, error) {
	opts := f.opts.Run
	opts.Inventory = o.parent
	opts.Rendered = &render.Result{}
	opts.Prune, opts.AllowMassPrune, opts.Wait = true, true, false
	opts.Logger = f.log.With("unit", o.unit)
	rec := reconcile.NewWithClients(f.clients.run.dyn, f.clients.run.mapper, opts)
	if diff {
		return rec.Diff(ctx)
	}
	rep, err := rec.Run(ctx)
	if err != nil || opts.DryRun || len(rep.Filter(reconcile.Failed)) > 0 {
		return rep, err
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: strings.ToLower(o.parent.Kind) + "s"}
	if err := f.clients.run.dyn.Resource(gvr).Namespace(o.parent.Namespace).Delete(ctx, o.parent.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return rep, fmt.Errorf("delete the emptied inventory %s: %w", o.parent, err)
	}
	return rep, nil
}
