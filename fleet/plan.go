package fleet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// Plan renders the run's paths and every unit they lead to, and orders
// the units. It writes nothing. It reads the cluster only for what a unit
// needs and Git does not hold (a source's credentials, substituteFrom
// objects, decryption keys, a kubeconfig); without a cluster (cfg nil)
// such a unit fails with an error saying what it needed.
//
// An error is the run's: the run's paths do not render, a Kustomization
// is rendered twice, units loop, or their dependencies form a cycle or
// name a unit that does not exist. A unit that does not render is not an
// error here: it is a unit with Err set, which fails on its own.
func (f *Fleet) Plan(ctx context.Context) (*Plan, error) {
	run := f.opts.Run
	start := time.Now()
	root := &Unit{Name: ".", Path: strings.Join(run.Paths, ","), Root: run.Root, Revision: run.Revision, Inventory: run.Inventory}
	f.prefetch(ctx, root, f.clients.run)
	res, err := render.Render(ctx, run.Root, run.Paths, run.Render)
	if err != nil {
		root.prefetch.Stop()
		return nil, fmt.Errorf("render: %w (nothing was applied or pruned)", err)
	}
	root.Rendered = res
	p := &Plan{byName: map[string]*Unit{}}
	found, err := kustomizations(res)
	if err != nil {
		root.prefetch.Stop()
		return nil, fmt.Errorf("render: %w (nothing was applied or pruned)", err)
	}
	if f.opts.Mode == Off || (f.opts.Mode == Auto && len(found) == 0 && !hasOperatorReleases(res)) {
		p.add(root)
		return p, nil
	}
	p.Flux = true
	e := &expander{f: f, plan: p, pool: newPool(run.DefaultNamespace), fetched: map[string]*fetched{}, charts: charts.New(charts.Options{Logger: f.log, CacheDir: f.opts.ChartCacheDir})}
	e.pool.add(res)
	if err := e.expand(ctx, root, found); err != nil {
		root.prefetch.Stop()
		_ = p.Close()
		return nil, err
	}
	if err := p.order(); err != nil {
		_ = p.Close()
		return nil, err
	}
	if err := p.disjoint(); err != nil {
		_ = p.Close()
		return nil, err
	}
	f.log.Info("rendered units", "units", len(p.Units), "duration", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// hasOperatorReleases reports whether a render holds a Flux v1
// (helm-operator) HelmRelease. A Flux v1 repository has no
// Kustomizations, yet its releases are Flux configuration whose charts
// the root unit renders, not custom resources to apply.
func hasOperatorReleases(res *render.Result) bool {
	return slices.ContainsFunc(res.Objects, flux.IsHelmOperatorRelease)
}

// kustomizations parses the Flux Kustomizations of a render.
func kustomizations(res *render.Result) ([]*flux.Kustomization, error) {
	var out []*flux.Kustomization
	var errs []error
	for _, o := range res.Objects {
		if !flux.IsKustomization(o) {
			continue
		}
		k, err := flux.ParseKustomization(o, res.Origins[object.FromUnstructured(o)].File)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, k)
	}
	return out, errors.Join(errs...)
}

func (p *Plan) add(u *Unit) {
	p.Units = append(p.Units, u)
	p.byName[u.Name] = u
}

// expander follows Kustomizations from the root down.
type expander struct {
	f    *Fleet
	plan *Plan
	// pool is what the renders so far hold that units read: ConfigMaps
	// and Secrets for substituteFrom, sources by name.
	pool    *pool
	fetched map[string]*fetched
	// selfSource is the run's own GitRepository, once known.
	selfSource *flux.Ref
	// charts fetches the charts of the units' HelmReleases.
	charts *charts.Fetcher
	// members are the units' inventories as read for
	// .Release.IsUpgrade (unitMembers).
	members map[inventory.Parent]inventory.Set
}

type pending struct {
	k      *flux.Kustomization
	parent *Unit
}

// expand renders the root's Kustomizations and theirs, breadth first; in
// each wave a unit's dependencies in the same wave render first, so that
// the objects they hold are there for its substituteFrom.
func (e *expander) expand(ctx context.Context, root *Unit, found []*flux.Kustomization) error {
	opts := e.f.opts
	// The Kustomization that syncs the run's own paths from the run's
	// own repository (Flux bootstrap's flux-system) is the root unit
	// itself, not a unit of its own: following it would render the run's
	// paths twice.
	var wave []pending
	for _, k := range found {
		if e.selfRef(k) && root.Kustomization == nil {
			root.Name, root.Kustomization = k.Namespace+"/"+k.Name, k
			ref := k.SourceRef
			e.selfSource = &ref
			continue
		}
		wave = append(wave, pending{k: k, parent: root})
	}
	if root.Kustomization != nil {
		// Built as that Kustomization says: its patches, variables…
		if err := e.renderRoot(ctx, root); err != nil {
			return err
		}
	}
	if err := e.helmReleases(ctx, root); err != nil {
		// The root's own objects are not applied without its
		// releases'; the units it creates are skipped, as for any
		// failed unit.
		root.Err, root.Rendered = err, nil
	} else {
		e.pool.add(root.Rendered)
	}
	e.plan.add(root)
	for depth := 1; len(wave) > 0; depth++ {
		if depth > opts.MaxDepth {
			return fmt.Errorf("Kustomizations render Kustomizations more than %d levels deep (at %s); check for a loop between their paths", opts.MaxDepth, wave[0].k.Namespace+"/"+wave[0].k.Name)
		}
		var next []pending
		for _, it := range dependenciesFirst(wave) {
			name := it.k.Namespace + "/" + it.k.Name
			if prev := e.plan.byName[name]; prev != nil {
				return fmt.Errorf("Kustomization %s is rendered twice: by unit %s (%s) and by unit %s (%s); keep one of them", name, parentName(prev), fileOr(prev.Kustomization.File), it.parent.Name, it.k.File)
			}
			if len(e.plan.Units) >= opts.MaxUnits {
				return fmt.Errorf("the repository leads to more than %d Kustomizations (at %s); tidegate stops there", opts.MaxUnits, name)
			}
			if a := e.ancestorWithPath(it); a != nil {
				return fmt.Errorf("Kustomization %s (%s) renders path %s of %s, which its ancestor unit %s already renders: a loop; point it at another path", name, it.k.File, it.k.Path, it.k.SourceRef, a.Name)
			}
			u := e.render(ctx, it, depth)
			e.plan.add(u)
			if u.Err != nil || u.Rendered == nil {
				continue
			}
			e.pool.add(u.Rendered)
			if err := e.helmReleases(ctx, u); err != nil {
				u.Err, u.Rendered = err, nil
				continue
			}
			// The releases' ConfigMaps and Secrets too, for the
			// units after it.
			e.pool.add(u.Rendered)
			children, err := kustomizations(u.Rendered)
			if err != nil {
				u.Err, u.Rendered = err, nil
				continue
			}
			for _, c := range children {
				next = append(next, pending{k: c, parent: u})
			}
		}
		wave = next
	}
	return nil
}

// selfRef reports whether k syncs one of the run's own paths from the
// run's own repository.
func (e *expander) selfRef(k *flux.Kustomization) bool {
	if !e.isSelfSource(k.SourceRef) {
		return false
	}
	for _, p := range e.f.opts.Run.Paths {
		if flux.SelfRef(k, k.SourceRef, path.Clean(p)) {
			return true
		}
	}
	return false
}

// isSelfSource reports whether ref is the repository the run was started
// from: the GitRepository Flux bootstrap names flux-system, or any
// GitRepository whose URL is the run's source.
func (e *expander) isSelfSource(ref flux.Ref) bool {
	if ref.Kind != "GitRepository" {
		return false
	}
	if e.selfSource != nil {
		return *e.selfSource == ref
	}
	if obj := e.pool.source(ref); obj != nil {
		repo, err := flux.ParseGitRepository(obj, "")
		if err == nil && sameRepository(repo.URL, e.f.opts.Run.Source) {
			return true
		}
	}
	return ref.Name == "flux-system"
}

// ancestorWithPath returns the ancestor unit that renders the same path
// of the same source as it, or nil.
func (e *expander) ancestorWithPath(it pending) *Unit {
	for a := it.parent; a != nil; a = e.plan.byName[a.Parent] {
		if a.Kustomization != nil && a.Kustomization.SourceRef == it.k.SourceRef && path.Clean(a.Kustomization.Path) == path.Clean(it.k.Path) {
			return a
		}
		if a.Parent == "" {
			break
		}
	}
	return nil
}

func parentName(u *Unit) string {
	if u.Parent == "" {
		return "."
	}
	return u.Parent
}

// dependenciesFirst orders a wave so that a unit comes after the units
// of the same wave it depends on; otherwise by name. A cycle is left to
// Plan.order to report.
func dependenciesFirst(wave []pending) []pending {
	slices.SortFunc(wave, func(a, b pending) int {
		return strings.Compare(a.k.Namespace+"/"+a.k.Name, b.k.Namespace+"/"+b.k.Name)
	})
	index := map[string]int{}
	for i, it := range wave {
		index[it.k.Namespace+"/"+it.k.Name] = i
	}
	var out []pending
	state := make([]int, len(wave)) // 0 new, 1 visiting, 2 done
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		for _, d := range wave[i].k.DependsOn {
			if j, ok := index[d.Namespace+"/"+d.Name]; ok {
				visit(j)
			}
		}
		state[i] = 2
		out = append(out, wave[i])
	}
	for i := range wave {
		visit(i)
	}
	return out
}

// order checks the units' dependencies and sorts them by dependency
// level, the root first: a cycle or a missing unit is an error naming
// them. The schedule runs each unit once the units it depends on ran;
// this order only makes the report and the tree deterministic.
func (p *Plan) order() error {
	var ks []*flux.Kustomization
	for _, u := range p.Units {
		if !u.IsRoot() && u.Kustomization != nil {
			ks = append(ks, u.Kustomization)
		}
	}
	// dependsOn may name the root unit's own Kustomization (flux-system).
	if root := p.Units[0]; root.Kustomization != nil {
		ks = append(ks, root.Kustomization)
	}
	levels, err := flux.Order(ks)
	if err != nil {
		return fmt.Errorf("%w (nothing was applied or pruned)", err)
	}
	// The root runs first: every other unit comes from it.
	rootName := p.Units[0].Name
	ordered := []*Unit{p.Units[0]}
	for _, level := range levels {
		for _, k := range level {
			if name := k.Namespace + "/" + k.Name; name != rootName {
				ordered = append(ordered, p.byName[name])
			}
		}
	}
	p.Units = ordered
	return nil
}

// pool holds what the run's renders hold that a unit reads by name:
// ConfigMaps and Secrets (substituteFrom, valuesFrom) and Flux sources.
type pool struct {
	defaultNamespace string
	data             map[string]map[string]string
	sources          map[string]*unstructured.Unstructured
}

func newPool(defaultNamespace string) *pool {
	if defaultNamespace == "" {
		defaultNamespace = "default"
	}
	return &pool{defaultNamespace: defaultNamespace, data: map[string]map[string]string{}, sources: map[string]*unstructured.Unstructured{}}
}

func poolKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

func (p *pool) add(res *render.Result) {
	for _, o := range res.Objects {
		ns := o.GetNamespace()
		if ns == "" {
			ns = p.defaultNamespace
		}
		switch gk := o.GroupVersionKind().GroupKind(); {
		case gk.Group == "" && (gk.Kind == "ConfigMap" || gk.Kind == "Secret"):
			p.data[poolKey(gk.Kind, ns, o.GetName())] = objectData(o)
		case gk.Group == sourceGroup:
			p.sources[poolKey(gk.Kind, ns, o.GetName())] = o
		}
	}
}

// source returns the source object ref names, if a render holds it.
func (p *pool) source(ref flux.Ref) *unstructured.Unstructured {
	return p.sources[poolKey(ref.Kind, ref.Namespace, ref.Name)]
}

// get is the Git half of a unit's Lookup.
func (p *pool) get(kind, ns, name string) (map[string]string, bool) {
	d, ok := p.data[poolKey(kind, ns, name)]
	return d, ok
}

// sourceGroup is the API group of Flux's sources.
const sourceGroup = "source.toolkit.fluxcd.io"

// objectData is a ConfigMap's data, or a Secret's, decoded, with
// stringData merged over it as the API server would.
func objectData(o *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	if o.GetKind() == "ConfigMap" {
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		maps.Copy(out, data)
		return out
	}
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	for k, v := range data {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			out[k] = string(b)
		}
	}
	str, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
	maps.Copy(out, str)
	return out
}

// disjoint refuses an object that two units apply: each would take it
// into its own inventory, and the one that prunes it would delete what
// the other still applies (in Flux, two Kustomizations would fight over
// it the same way).
func (p *Plan) disjoint() error {
	owner := map[object.ID]string{}
	var errs []error
	for _, u := range p.Units {
		if u.Rendered == nil {
			continue
		}
		for _, o := range u.Rendered.Objects {
			if IsFluxConfig(o) {
				continue
			}
			id := object.FromUnstructured(o)
			if prev, ok := owner[id]; ok && prev != u.Name {
				errs = append(errs, fmt.Errorf("%s is applied by two units, %s and %s; keep it in one of them (nothing was applied or pruned)", id, prev, u.Name))
				continue
			}
			owner[id] = u.Name
		}
	}
	return errors.Join(errs...)
}
