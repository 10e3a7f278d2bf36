package cli

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/check"
	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source"
)

// plan finds the units of a Flux repository as reconcile would, reading
// the cluster for what Git does not hold when withCluster.
func (c *CheckCmd) plan(ctx context.Context, g *Globals, co *source.Checkout, keys render.Keys, withCluster bool) (*fleet.Fleet, *fleet.Plan, error) {
	var cfg *rest.Config
	if withCluster {
		var err error
		if cfg, err = g.RESTConfig(); err != nil {
			return nil, nil, err
		}
	}
	f, err := c.fleet(g, &c.SourceFlags, cfg, reconcile.Options{
		Source: co.URL, Revision: co.Revision, Root: co.Dir, Paths: c.Path,
		Render:    render.Options{Keys: keys, Logger: g.Logger(), Plaintext: g.plaintext(), Helm: g.helmCharts(c.CacheDir)},
		Inventory: c.parent(), Logger: g.Logger(),
	})
	if err != nil {
		return nil, nil, err
	}
	plan, err := f.Plan(ctx)
	if err != nil {
		return nil, nil, err
	}
	return f, plan, nil
}

// appliedObjects are the objects a Flux run applies of unit u.
func appliedObjects(u *fleet.Unit, plan *fleet.Plan) []*unstructured.Unstructured {
	if u.Rendered == nil {
		return nil
	}
	keep := applied(plan)
	var out []*unstructured.Unstructured
	for _, o := range u.Rendered.Objects {
		if keep == nil || keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// unitChecks checks each unit as its reconcile would run it: that it
// renders (source, variables, keys), and, against the cluster, that the
// access it runs with (impersonated for a tenant, the spoke's for a
// remote unit) may do what its objects and inventory need.
func (c *CheckCmd) unitChecks(ctx context.Context, g *Globals, f *fleet.Fleet, plan *fleet.Plan, cl *clusterClients, who string) []check.Result {
	var out []check.Result
	for _, u := range plan.Units[1:] {
		name := "unit " + u.Name
		switch {
		case u.Kustomization != nil && u.Kustomization.Suspend:
			out = append(out, check.Result{Name: name, OK: true, Detail: "suspended (spec.suspend: true): not run"})
			continue
		case u.Err != nil:
			out = append(out, check.Result{Name: name, Detail: u.Err.Error(), Hint: "a reconcile would fail this unit and skip the units that depend on it"})
			continue
		}
		objs := appliedObjects(u, plan)
		from := "the run's repository"
		if u.Source != "" {
			from = u.Source
		}
		out = append(out, check.Result{Name: name, OK: true, Detail: fmt.Sprintf("%s renders %d objects from %s", u.Path, len(objs), from)})
		if cl == nil {
			continue
		}
		cfg, err := f.UnitConfig(ctx, u)
		if err == nil && cfg == nil {
			err = fmt.Errorf("no cluster access")
		}
		if err != nil {
			out = append(out, check.Result{Name: name + " access", Detail: err.Error()})
			continue
		}
		authz, err := authorizationclient.NewForConfig(cfg)
		if err != nil {
			out = append(out, check.Result{Name: name + " access", Detail: err.Error()})
			continue
		}
		unitWho := who
		if sa := u.Kustomization.ServiceAccountName; sa != "" {
			unitWho = "system:serviceaccount:" + u.Kustomization.Namespace + ":" + sa
		}
		needs, rs := check.Needs(objs, cl.mapper, check.Reconcile{
			Inventory:          u.Inventory,
			Prune:              c.Prune && u.Kustomization.Prune,
			AllowNamespaces:    c.AllowNamespace,
			AllowClusterScoped: c.AllowClusterScoped,
		}, nil)
		for _, r := range append(rs, check.Access(ctx, authz.SelfSubjectAccessReviews(), needs, unitWho)...) {
			r.Name = name + " " + r.Name
			out = append(out, r)
		}
	}
	return out
}
