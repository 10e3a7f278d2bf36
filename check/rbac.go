package check

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/tidegate/tidegate/desired"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// Reconcile is what a reconcile would be run with, as far as it decides
// which access the run needs.
type Reconcile struct {
	// Inventory is the ApplySet parent the run reads and writes.
	Inventory inventory.Parent
	// Prune deletes what Git removed: delete on every type the run owns.
	Prune bool
	// Lease holds a coordination.k8s.io Lease in the inventory namespace.
	Lease bool
	// AllowNamespaces and AllowClusterScoped are --allow-namespace and
	// --allow-cluster-scoped: objects outside them are refused before
	// any write.
	AllowNamespaces    []string
	AllowClusterScoped bool
	// DefaultNamespace is given to namespaced objects that name none;
	// default "default", as in reconcile.
	DefaultNamespace string
}

// Need is access a reconcile needs: verbs on one resource in one
// namespace.
type Need struct {
	Resource schema.GroupResource
	// Namespace is empty for cluster-scoped resources.
	Namespace string
	// Verbs in the order get, list, create, patch, update, delete.
	Verbs []string
	// For says what the access is for: objects, inventory, lease, prune.
	For []string
	// NewKind is set when the cluster does not know the kind yet and its
	// CustomResourceDefinition is in the same render.
	NewKind bool
}

func (n Need) where() string {
	if n.Namespace == "" {
		return "cluster-wide"
	}
	return "in namespace " + n.Namespace
}

var verbOrder = []string{"get", "list", "create", "patch", "update", "delete"}

func sortVerbs(vs []string) {
	sort.Slice(vs, func(i, j int) bool { return slices.Index(verbOrder, vs[i]) < slices.Index(verbOrder, vs[j]) })
}

// Needs works out the access a reconcile of objs (the render) needs. The
// objects it applies, skips and refuses are decided by desired.Resolve,
// the step reconcile runs: namespaced objects without a namespace go to
// DefaultNamespace, image automation objects are not applied, objects
// outside --allow-namespace or that the API server would refuse are
// refused, and kinds whose CustomResourceDefinition is in the render are
// fine although the cluster does not know them yet. prev, the inventory
// the run starts from, may be nil; its members that Git no longer has are
// what a prune deletes. The Results are the kinds the cluster does not
// know and the objects a reconcile refuses. Like a reconcile, Needs
// settles the namespaces of objs in place.
func Needs(objs []*unstructured.Unstructured, mapper meta.RESTMapper, r Reconcile, prev *inventory.Inventory) ([]Need, []Result) {
	// The mapper is check's discovery client, bounded by its timeout.
	set := desired.Resolve(context.Background(), &render.Result{Objects: objs}, desired.RESTMapperScopes{Mapper: mapper}, desired.Policy{
		AllowNamespaces:    r.AllowNamespaces,
		AllowClusterScoped: r.AllowClusterScoped,
		DefaultNamespace:   r.DefaultNamespace,
	})
	needs := needSet{}
	current, results := needs.addObjects(set, mapper, object.CRDs(objs), r.Prune)
	needs.addRun(r, mapper, prev, current)
	return needs.sorted(), append(results, unappliedResults(set, r)...)
}

// needSet collects the access a run needs, one Need per resource and
// namespace.
type needSet map[needKey]*Need

// add records verbs on gr in ns, for why.
func (s needSet) add(gr schema.GroupResource, ns, why string, newKind bool, verbs ...string) {
	k := needKey{gr, ns}
	n := s[k]
	if n == nil {
		n = &Need{Resource: gr, Namespace: ns}
		s[k] = n
	}
	for _, v := range verbs {
		if !slices.Contains(n.Verbs, v) {
			n.Verbs = append(n.Verbs, v)
		}
	}
	if !slices.Contains(n.For, why) {
		n.For = append(n.For, why)
	}
	n.NewKind = n.NewKind || newKind
}

// addObjects records the access to the objects a reconcile applies and
// returns their ids. The Results are the objects whose kind could not be
// looked up and those the API server would refuse, in render order.
func (s needSet) addObjects(set *desired.Set, mapper meta.RESTMapper, crds map[schema.GroupKind]object.CRD, prune bool) ([]object.ID, []Result) {
	verbs := []string{"get", "list", "create", "patch"}
	if prune {
		verbs = append(verbs, "delete")
	}
	var current []object.ID
	var results []Result
	for _, it := range set.Items {
		switch {
		case it.Verdict == desired.Skip:
			continue
		case it.Rule == desired.RuleLookup:
			results = append(results, Result{Name: "kind", Detail: it.Err.Error(), Hint: discoveryHint})
			continue
		case it.Rule == desired.RuleInvalid:
			results = append(results, Result{Name: "object", Detail: it.Err.Error(),
				Hint: "fix the object in Git: a reconcile refuses it before any write"})
			continue
		case it.Scope == desired.Assumed, it.Verdict == desired.Refuse:
			// Reported together by unappliedResults.
			continue
		}
		gvk := it.Obj.GroupVersionKind()
		gr, newKind, err := resourceOf(mapper, gvk, crds)
		if err != nil {
			results = append(results, Result{Name: "kind", Detail: fmt.Sprintf("%s: look up the kind %s: %v", it.ID, gvk, err),
				Hint: discoveryHint})
			continue
		}
		current = append(current, it.ID)
		s.add(gr, it.ID.Namespace, "objects", newKind, verbs...)
	}
	return current, results
}

// addRun records the access of the run itself: its inventory, its Lease,
// and deleting the members of prev that Git (current) no longer has.
func (s needSet) addRun(r Reconcile, mapper meta.RESTMapper, prev *inventory.Inventory, current []object.ID) {
	inv := schema.GroupResource{Resource: strings.ToLower(r.Inventory.Kind) + "s"}
	s.add(inv, r.Inventory.Namespace, "inventory", false, "get", "create", "patch")
	if r.Lease {
		s.add(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, r.Inventory.Namespace, "lease", false, "get", "create", "update")
	}
	if !r.Prune || prev == nil {
		return
	}
	for _, id := range inventory.Stale(prev, inventory.NewSet(current...)) {
		// A kind the cluster no longer serves cannot be deleted anyway;
		// prune reports it on its own.
		if m, err := mapper.RESTMapping(id.GroupKind()); err == nil {
			s.add(m.Resource.GroupResource(), id.Namespace, "prune", false, "get", "delete")
		}
	}
}

// unappliedResults are the objects of set a reconcile would not apply,
// grouped: the kinds the cluster does not know (in render order), then the
// objects outside --allow-namespace, by namespace. The kind lookups that
// failed and the invalid objects are addObjects' to report.
func unappliedResults(set *desired.Set, r Reconcile) []Result {
	unknown := map[schema.GroupVersionKind][]string{}
	var unknownOrder []schema.GroupVersionKind
	refused := map[string][]string{} // by namespace, "" for cluster-scoped
	for _, it := range set.Items {
		if it.Verdict == desired.Skip || it.Rule == desired.RuleLookup || it.Rule == desired.RuleInvalid {
			continue
		}
		switch {
		case it.Scope == desired.Assumed:
			// The missing kind says more than where its objects are.
			gvk := it.Obj.GroupVersionKind()
			if _, seen := unknown[gvk]; !seen {
				unknownOrder = append(unknownOrder, gvk)
			}
			unknown[gvk] = append(unknown[gvk], it.ID.String())
		case it.Verdict == desired.Refuse:
			refused[it.ID.Namespace] = append(refused[it.ID.Namespace], it.ID.String())
		}
	}
	var results []Result
	for _, gvk := range unknownOrder {
		results = append(results, Result{Name: "kind", Detail: fmt.Sprintf("the cluster does not know %s (%s) of %s", gvk.Kind, gvk.GroupVersion(), list(unknown[gvk])),
			Hint: "install its CustomResourceDefinition first, or add it to the paths so that this reconcile installs it"})
	}
	for _, ns := range slices.Sorted(maps.Keys(refused)) {
		if ns == "" {
			results = append(results, Result{Name: "scope", Detail: fmt.Sprintf("cluster-scoped %s outside --allow-namespace %s", list(refused[ns]), strings.Join(r.AllowNamespaces, ",")),
				Hint: "pass --allow-cluster-scoped, or move them out of the paths: a reconcile refuses them before any write"})
			continue
		}
		results = append(results, Result{Name: "scope", Detail: fmt.Sprintf("%s in namespace %s, which --allow-namespace does not list", list(refused[ns]), ns),
			Hint: fmt.Sprintf("add --allow-namespace %s, or move them: a reconcile refuses them before any write", ns)})
	}
	return results
}

// sorted returns the needs by namespace, then resource, verbs in order.
func (s needSet) sorted() []Need {
	out := make([]Need, 0, len(s))
	for _, n := range s {
		sortVerbs(n.Verbs)
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Resource.String() < out[j].Resource.String()
	})
	return out
}

const discoveryHint = "the API server's discovery failed; try again, or check its aggregated APIs (kubectl get apiservices)"

// resourceOf names the resource of a kind the run applies: the cluster's,
// else the plural of its CustomResourceDefinition in the render, which
// makes it a new kind.
func resourceOf(mapper meta.RESTMapper, gvk schema.GroupVersionKind, crds map[schema.GroupKind]object.CRD) (schema.GroupResource, bool, error) {
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err == nil {
		return m.Resource.GroupResource(), false, nil
	}
	if crd, ok := crds[gvk.GroupKind()]; ok && meta.IsNoMatchError(err) {
		return schema.GroupResource{Group: gvk.Group, Resource: crd.Plural}, true, nil
	}
	return schema.GroupResource{}, false, err
}

type needKey struct {
	gr schema.GroupResource
	ns string
}

// accessConcurrency bounds the SelfSubjectAccessReviews in flight: a
// render touches tens of types, each asked for up to five verbs.
const accessConcurrency = 16

// Access asks the API server, with one SelfSubjectAccessReview per verb,
// whether the identity tidegate runs as may do what each Need says, and
// returns one line per Need. who names the identity in hints; empty when
// unknown.
func Access(ctx context.Context, reviews authorizationclient.SelfSubjectAccessReviewInterface, needs []Need, who string) []Result {
	type ask struct{ need, verb int }
	var asks []ask
	for i, n := range needs {
		for v := range n.Verbs {
			asks = append(asks, ask{i, v})
		}
	}
	allowed := make([][]bool, len(needs))
	errs := make([]error, len(needs))
	for i, n := range needs {
		allowed[i] = make([]bool, len(n.Verbs))
	}
	var mu sync.Mutex
	// No errgroup context: a failed review is reported on its Need and
	// stops none of the others.
	var g errgroup.Group
	g.SetLimit(accessConcurrency)
	for _, a := range asks {
		n := needs[a.need]
		g.Go(func() error {
			review, err := reviews.Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: n.Namespace, Verb: n.Verbs[a.verb], Group: n.Resource.Group, Resource: n.Resource.Resource,
				},
			}}, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if errs[a.need] == nil {
					errs[a.need] = err
				}
				return nil
			}
			allowed[a.need][a.verb] = review.Status.Allowed
			return nil
		})
	}
	_ = g.Wait() // always nil: the errors are in errs

	if who == "" {
		who = "tidegate's identity"
	}
	out := make([]Result, 0, len(needs))
	for i, n := range needs {
		what := fmt.Sprintf("%s %s (for %s", n.Resource, n.where(), strings.Join(n.For, ", "))
		if n.NewKind {
			what += "; the kind is installed by this reconcile"
		}
		what += ")"
		if errs[i] != nil {
			out = append(out, Result{Name: "rbac", Detail: fmt.Sprintf("could not ask whether tidegate may %s %s: %v", strings.Join(n.Verbs, ","), what, errs[i]),
				Hint: "SelfSubjectAccessReview is open to every authenticated user; check the API server and try again"})
			continue
		}
		var missing []string
		for v, ok := range allowed[i] {
			if !ok {
				missing = append(missing, n.Verbs[v])
			}
		}
		if len(missing) == 0 {
			out = append(out, Result{Name: "rbac", OK: true, Detail: fmt.Sprintf("may %s %s", strings.Join(n.Verbs, ","), what)})
			continue
		}
		grant := fmt.Sprintf("grant %s on %s to %s with a Role and RoleBinding in namespace %s, or a ClusterRole bound there (see deploy/rbac)", strings.Join(missing, ","), n.Resource, who, n.Namespace)
		if n.Namespace == "" {
			grant = fmt.Sprintf("grant %s on %s to %s with a ClusterRole and ClusterRoleBinding (see deploy/rbac/cluster), or keep cluster-scoped objects out of the paths", strings.Join(missing, ","), n.Resource, who)
		}
		out = append(out, Result{Name: "rbac", Detail: fmt.Sprintf("cannot %s %s", strings.Join(missing, ","), what), Hint: grant})
	}
	return out
}

// list names up to three objects and counts the rest.
func list(ids []string) string {
	if len(ids) <= 3 {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:3], ", "), len(ids)-3)
}
