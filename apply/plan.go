package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/internal/resource"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// Planned is one object's plan: what Apply would do to it.
type Planned struct {
	ID object.ID
	// Desired is the object as it will be sent (digest set).
	Desired *unstructured.Unstructured
	// Live is the object in the cluster, nil when absent.
	Live *unstructured.Unstructured
	// Action is created, configured or unchanged.
	Action Action
	// Drifted is set when Git did not change the object (the live digest
	// equals the rendered one) but its live fields differ: someone
	// changed it in the cluster.
	Drifted bool

	client dynamic.ResourceInterface
	err    error
}

// Plan is the result of Manager.Plan.
type Plan struct {
	// Items are the objects planned, in their order: Items[i] is the
	// plan of the i-th object given to Plan.
	Items []Planned

	// listed are the plan's LIST results by kind and namespace (the
	// objects of this run's inventory, and the ones it read besides), so
	// that a prune of the same run can check the objects it deletes
	// without reading each again.
	listed map[listedKey]map[string]*unstructured.Unstructured
}

type listedKey struct{ group, kind, namespace string }

// Listed returns the object id as one of the plan's LISTs saw it; false
// when no LIST covered its kind and namespace or it was not there.
func (p *Plan) Listed(id object.ID) (*unstructured.Unstructured, bool) {
	o, ok := p.listed[listedKey{id.Group, id.Kind, id.Namespace}][id.Name]
	return o, ok
}

// PlanOption changes how Plan reads the cluster, never what it decides.
type PlanOption func(*planOptions)

type planOptions struct{ preload *Preload }

// WithPreload lets Plan use the LISTs p started (see Preload).
func WithPreload(p *Preload) PlanOption { return func(o *planOptions) { o.preload = p } }

// bulkThreshold is the number of objects of one type in one namespace
// from which a LIST is cheaper than a GET each.
const bulkThreshold = 4

type listKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// listKeyOf is the LIST that reads objects of mapping in namespace:
// Plan groups its objects by it, and uses a Preload's LIST only under
// the same key.
func listKeyOf(mapping *meta.RESTMapping, namespace string) listKey {
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		namespace = ""
	}
	return listKey{mapping.Resource, namespace}
}

// Plan reads live state and classifies each object, writing nothing to
// the cluster. The objects become the plan's Desired: each gets the digest
// annotation, and loses kubectl's last-applied one, in place.
// Objects of a kind the cluster does not know yet (its CRD is in the same
// run) are planned as created; Apply plans each stage again after the
// CRDs are in.
func (m *Manager) Plan(ctx context.Context, objs []*unstructured.Unstructured, opts ...PlanOption) (*Plan, error) {
	var o planOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &Plan{Items: make([]Planned, len(objs)), listed: map[listedKey]map[string]*unstructured.Unstructured{}}
	groups := map[listKey][]int{}
	mappings := resource.NewMappings(m.dyn, m.mapper)
	for i, o := range objs {
		it := &p.Items[i]
		it.ID = object.FromUnstructured(o)
		it.Desired = prepare(o)
		gvk := o.GroupVersionKind()
		client, mapping, err := mappings.Client(ctx, gvk.GroupKind(), o.GetNamespace(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				it.err = fmt.Errorf("the cluster does not know the kind %s (install its CustomResourceDefinition, or add it to the repository)", gvk)
				it.Action = Created
				continue
			}
			return nil, fmt.Errorf("%s: look up the kind: %w", it.ID, err)
		}
		it.client = client
		k := listKeyOf(mapping, o.GetNamespace())
		groups[k] = append(groups[k], i)
	}

	var mu sync.Mutex
	var firstErr error
	keys := make([]listKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	m.parallel(len(keys), func(gi int) {
		k := keys[gi]
		idx := groups[k]
		live, listed, err := m.readLive(ctx, k, p.Items, idx, o.preload)
		mu.Lock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if listed {
			// Every object of a group has the kind of the LIST.
			id := p.Items[idx[0]].ID
			p.listed[listedKey{id.Group, id.Kind, id.Namespace}] = live
		}
		mu.Unlock()
		if err != nil {
			return
		}
		for _, i := range idx {
			it := &p.Items[i]
			it.Live = live[it.ID.Name]
			it.Action, it.Drifted = classify(it.Desired, it.Live)
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return p, nil
}

// readLive returns the live objects by name: one LIST for many objects
// (listed is then true), a GET each for a few. The LIST asks only for the
// objects of this run's inventory (its part-of label, which the desired
// objects carry): a namespace shared with other inventories (a Flux
// run's units, other teams) is not read in full for each of them. The
// objects it does not return (new ones, or ones made by others, which
// the ownership rules must see) are read with a GET each.
func (m *Manager) readLive(ctx context.Context, k listKey, items []Planned, idx []int, pre *Preload) (live map[string]*unstructured.Unstructured, listed bool, err error) {
	out := map[string]*unstructured.Unstructured{}
	rest := idx
	if len(idx) >= bulkThreshold {
		var ri dynamic.ResourceInterface = m.dyn.Resource(k.gvr)
		if k.ns != "" {
			ri = m.dyn.Resource(k.gvr).Namespace(k.ns)
		}
		var opts metav1.ListOptions
		if id := items[idx[0]].Desired.GetLabels()[inventory.PartOfLabel]; id != "" {
			opts.LabelSelector = inventory.PartOfLabel + "=" + id
		}
		got, ok := pre.take(k, opts.LabelSelector)
		if !ok {
			got, err = listCompact(ctx, ri, opts, nil)
		}
		switch {
		case err == nil:
			for i := range got {
				out[got[i].GetName()] = &got[i]
			}
			if opts.LabelSelector == "" {
				return out, true, nil
			}
			rest = nil
			for _, i := range idx {
				if out[items[i].ID.Name] == nil {
					rest = append(rest, i)
				}
			}
			listed = true
			if len(rest) < bulkThreshold {
				break
			}
			// Many are not ours yet (a first run): a LIST of the whole
			// namespace reads them cheaper than a GET each.
			asked := make(map[string]bool, len(rest))
			for _, i := range rest {
				asked[items[i].ID.Name] = true
			}
			named, err := listCompact(ctx, ri, metav1.ListOptions{}, func(name string) bool { return asked[name] })
			if err != nil {
				break // GET each below, as without LIST rights
			}
			for i := range named {
				out[named[i].GetName()] = &named[i]
			}
			return out, true, nil
		case !apierrors.IsForbidden(err) && !apierrors.IsNotFound(err):
			return nil, false, fmt.Errorf("list %s in %q: %w", k.gvr.Resource, k.ns, err)
		}
		// RBAC may allow get but not list (namespaced tenants): fall back.
	}
	for _, i := range rest {
		it := items[i]
		live, err := it.client.Get(ctx, it.ID.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: read live object: %w", it.ID, err)
		}
		out[it.ID.Name] = live
	}
	return out, listed, nil
}

// listPage is how many objects one LIST response holds. A run reads a
// large kind a page at a time: what it holds at once is one page as
// decoded, not the whole kind (each page loses its field sets before
// the next is read). A namespace read for the few objects of a run
// among those of others (other units, other teams) takes smaller pages,
// whose objects are mostly dropped as they come: the units of a Flux
// run read theirs at the same time.
const (
	listPage      = 1000
	namespacePage = 250
)

// listCompact reads the objects of ri that opts selects, a page at a
// time, with their managedFields compacted; keep, when set, says by name
// which to keep (a prune reads with a GET what the plan does not hold).
// The pages are one snapshot, as a single LIST is.
func listCompact(ctx context.Context, ri dynamic.ResourceInterface, opts metav1.ListOptions, keep func(name string) bool) ([]unstructured.Unstructured, error) {
	opts.Limit = listPage
	if keep != nil {
		opts.Limit = namespacePage
	}
	var out []unstructured.Unstructured
	for {
		page, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		// Copies: an element of page.Items would keep the whole page
		// from being collected.
		for _, o := range page.Items {
			if keep == nil || keep(o.GetName()) {
				compactManagedFields(&o)
				out = append(out, o)
			}
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			return out, nil
		}
	}
}

// csaManagers are the field managers of kubectl's client-side apply,
// whose fields takeOverFromKubectl migrates to tidegate.
var csaManagers = []string{"kubectl-client-side-apply", "kubectl", "before-first-apply"}

// compactManagedFields drops the field sets (fieldsV1) from the
// managedFields of a listed object: nothing reads them (diffs leave
// managedFields out, ownership messages name only the managers), and on
// a LIST of thousands of small objects they are a good part of what the
// run holds. An object kubectl applied client-side keeps them: its
// migration (takeOverFromKubectl) rewrites managedFields from them.
func compactManagedFields(live *unstructured.Unstructured) {
	if _, ok := live.GetAnnotations()[lastApplied]; ok {
		return
	}
	meta, _ := live.Object["metadata"].(map[string]any)
	entries, _ := meta["managedFields"].([]any)
	for _, e := range entries {
		m, _ := e.(map[string]any)
		if manager, _ := m["manager"].(string); slices.Contains(csaManagers, manager) {
			return
		}
	}
	for _, e := range entries {
		if m, _ := e.(map[string]any); m != nil {
			delete(m, "fieldsV1")
		}
	}
}

// classify compares desired with live. A patch is always safe, so when in
// doubt the answer is configured.
func classify(desired, live *unstructured.Unstructured) (Action, bool) {
	if live == nil {
		return Created, false
	}
	same := subset(desired.Object, live.Object)
	gitUnchanged := live.GetAnnotations()[DigestAnnotation] == desired.GetAnnotations()[DigestAnnotation]
	switch {
	case same && gitUnchanged:
		return Unchanged, false
	case gitUnchanged:
		return Configured, true
	default:
		return Configured, false
	}
}

// subset reports whether every field set in want holds the same value in
// got. Fields only in got (server defaults, other managers' fields,
// status) do not matter.
func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return len(w) == 0 && got == nil
		}
		for k, wv := range w {
			if k == "status" {
				continue
			}
			gv, ok := g[k]
			if !ok {
				if wv == nil {
					continue
				}
				return false
			}
			if !subset(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	default:
		return scalarEqual(want, got)
	}
}

// scalarEqual compares JSON scalars; numbers may arrive as int64 from
// the API and as float64 or int from YAML.
func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
