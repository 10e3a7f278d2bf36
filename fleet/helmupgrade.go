package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// unitMembers is what the unit's inventory in the cluster holds, read
// once per unit: a release whose objects are there was installed by an
// earlier run and renders as an upgrade. Without a cluster (render) the
// set is empty and every release an install.
func (e *expander) unitMembers(ctx context.Context, u *Unit, cl *clusterClient) (inventory.Set, error) {
	if cl == nil || cl.dyn == nil {
		return inventory.NewSet(), nil
	}
	if e.members == nil {
		e.members = map[inventory.Parent]inventory.Set{}
	}
	if s, ok := e.members[u.Inventory]; ok {
		return s, nil
	}
	// The unit's prefetch read the inventory already when it read with
	// cl; without one (a unit with dependsOn) it is read here.
	var inv *inventory.Inventory
	var err error
	if u.prefetch != nil && u.prefetchBy == cl {
		inv, err = u.prefetch.Inventory()
	} else {
		inv, err = inventory.NewStore(cl.dyn, u.Inventory, "").Load(ctx)
	}
	var corrupt *inventory.CorruptError
	switch {
	case errors.As(err, &corrupt):
		// The members that can be read still say what was installed;
		// the unit's reconcile refuses the inventory itself.
		inv = corrupt.Partial
	case err != nil:
		return inventory.Set{}, fmt.Errorf("read the unit's inventory %s for .Release.IsUpgrade: %w", u.Inventory, err)
	}
	s := inventory.NewSet(inv.Members...)
	e.members[u.Inventory] = s
	return s, nil
}

// installed reports whether an object the install rendering of a
// release gives (its regular objects, namespace defaulted as they are
// applied) is already in members.
func installed(members inventory.Set, cl *clusterClient, ns string, out *chartrender.Result) bool {
	if members.Len() == 0 {
		return false
	}
	var crdObjs []*unstructured.Unstructured
	for _, c := range out.CRDs {
		crdObjs = append(crdObjs, c.Object)
	}
	crds := object.CRDs(crdObjs)
	for _, o := range out.Objects {
		id := object.FromUnstructured(o.Object)
		if id.Namespace == "" && !cl.clusterScoped(o.Object, crds) {
			id.Namespace = ns
		}
		if members.Has(id) {
			return true
		}
	}
	return false
}

// renderRelease renders the release as an install, or as an upgrade
// when its objects are in the unit's inventory. Once installed a release
// is an upgrade on every run, so with an inventory the upgrade is
// rendered first and the install only when none of its objects are
// there: the steady state costs one rendering.
func (e *expander) renderRelease(ctx context.Context, u *Unit, cl *clusterClient, hr *flux.HelmRelease, ch *chartv2.Chart, vals map[string]any, opts chartrender.Options) (*chartrender.Result, chartrender.Options, error) {
	members, err := e.unitMembers(ctx, u, cl)
	if err != nil {
		return nil, opts, err
	}
	if members.Len() > 0 {
		up := opts
		up.IsUpgrade = true
		if up.CRDs, err = upgradeCRDs(hr.UpgradeCRDs, opts.CRDs); err != nil {
			return nil, opts, err
		}
		out, err := chartrender.Render(ctx, ch, vals, up)
		if err != nil {
			return nil, opts, err
		}
		if installed(members, cl, opts.Namespace, out) {
			if up.CRDs == chartrender.CRDsSkip {
				if err := skipAllowed(ctx, members, ch, vals, up); err != nil {
					return nil, opts, err
				}
			}
			return out, up, nil
		}
	}
	out, err := chartrender.Render(ctx, ch, vals, opts)
	return out, opts, err
}

// upgradeCRDs is the crds/ policy of an upgrade: spec.upgrade.crds, or,
// unset, the install's. Flux's default on upgrade is Skip, which leaves
// the CRDs in the cluster because Helm never deletes them; tidegate
// prunes what a run no longer renders, so Skip would delete the CRDs
// the install created, and every object of their kinds with them.
func upgradeCRDs(upgrade string, install chartrender.CRDPolicy) (chartrender.CRDPolicy, error) {
	p, err := chartrender.ParseCRDPolicy(upgrade)
	if err != nil {
		return "", fmt.Errorf("spec.upgrade.crds: %w", err)
	}
	if p != "" {
		return p, nil
	}
	if install == "" {
		return chartrender.CRDsCreate, nil
	}
	return install, nil
}

// skipAllowed refuses an explicit upgrade Skip while the inventory holds
// the chart's CRDs, which it would prune. crds/ files are not templates,
// the same on install and upgrade: rendered once more to name them.
func skipAllowed(ctx context.Context, members inventory.Set, ch *chartv2.Chart, vals map[string]any, opts chartrender.Options) error {
	opts.CRDs = chartrender.CRDsCreate
	all, err := chartrender.Render(ctx, ch, vals, opts)
	if err != nil {
		return err
	}
	var held []string
	for _, c := range all.CRDs {
		if members.Has(object.FromUnstructured(c.Object)) {
			held = append(held, c.Object.GetName())
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("spec.upgrade.crds is Skip, but the unit's inventory holds the chart's CRDs %s from its install: tidegate would prune them, and every object of their kinds; set spec.upgrade.crds to Create or CreateReplace (or leave it unset)", strings.Join(held, ", "))
	}
	return nil
}
