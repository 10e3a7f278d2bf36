// Package desired decides what a run applies. A render says what Git
// holds; this package turns it into the objects a reconcile applies, the
// ones it leaves alone on purpose (skips) and the ones it refuses before
// anything is written (refusals). reconcile applies the set and check
// works out the access the same set needs, so check cannot say ✔ where
// reconcile refuses.
//
// The rules, for each rendered object in render order:
//
//   - Flux image automation objects (the group image.toolkit.fluxcd.io) are
//     the configuration of tidegate images: skipped, never applied, and
//     their kinds are not looked up (the cluster rarely serves them).
//   - Whether the kind is namespaced comes from a CustomResourceDefinition
//     in the same render, else from the cluster (Scopes): discovery cannot
//     know a kind before its definition is applied. A kind that neither
//     knows is taken as namespaced when the object names a namespace, and
//     apply later reports the missing type. A failed lookup refuses the
//     object.
//   - A namespaced object that names no namespace gets
//     Policy.DefaultNamespace, as kubectl gives the kubeconfig's. A
//     cluster-scoped object's namespace is dropped: the API server ignores
//     it, and the object's ID would differ between render and cluster.
//   - object.Validate: what the API server would refuse is refused here,
//     which keeps it out of the inventory, whose members must stay
//     readable.
//   - With Policy.AllowNamespaces, objects in other namespaces are refused,
//     and cluster-scoped ones unless Policy.AllowClusterScoped.
//
// The step does no I/O of its own. Its one question, "is this kind
// namespaced?", goes to Scopes, which a REST mapper answers in a run
// (RESTMapperScopes) and a map answers in a test.
package desired

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// DefaultNamespace is what namespaced objects that name no namespace get
// when Policy.DefaultNamespace is empty.
const DefaultNamespace = "default"

// ImageAutomationGroup holds Flux's image automation kinds
// (ImageRepository, ImagePolicy…), which tidegate reads as configuration
// and never applies.
const ImageAutomationGroup = "image.toolkit.fluxcd.io"

// Scopes tells whether objects of a kind live in a namespace. An error
// for which meta.IsNoMatchError holds says the cluster does not serve the
// kind; any other error is a failed lookup.
type Scopes interface {
	Namespaced(ctx context.Context, gvk schema.GroupVersionKind) (bool, error)
}

// RESTMapperScopes answers Scopes from a REST mapper, with the run's
// context when the mapper takes one: the first lookup runs discovery, and
// a stalled API server must not outlast SIGTERM or --run-timeout.
type RESTMapperScopes struct{ Mapper meta.RESTMapper }

// Namespaced implements Scopes.
func (s RESTMapperScopes) Namespaced(ctx context.Context, gvk schema.GroupVersionKind) (bool, error) {
	var m *meta.RESTMapping
	var err error
	if mc, ok := s.Mapper.(meta.RESTMapperWithContext); ok {
		m, err = mc.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	} else {
		m, err = s.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// Policy is what a run allows and how it fills in what objects leave out.
type Policy struct {
	// AllowNamespaces, when set, restricts the run to these namespaces
	// (--allow-namespace); cluster-scoped objects then need
	// AllowClusterScoped (--allow-cluster-scoped).
	AllowNamespaces    []string
	AllowClusterScoped bool
	// DefaultNamespace is given to namespaced objects that name none;
	// DefaultNamespace ("default") when empty.
	DefaultNamespace string
	// Skip, when set, sets objects aside as configuration the run reads
	// rather than applies (Flux's own objects in a Flux run), with the
	// reason a report prints.
	Skip func(*unstructured.Unstructured) (reason string, skip bool)
}

// Verdict is what a run does with one rendered object.
type Verdict int

const (
	// Apply: the object is part of the run.
	Apply Verdict = iota
	// Skip: the object is left alone on purpose; the run goes on.
	Skip
	// Refuse: the object breaks a rule; the run writes nothing.
	Refuse
)

// Scope says where the step learnt whether an object's kind is
// namespaced.
type Scope int

const (
	// Unresolved: not looked up (a skip) or the lookup failed.
	Unresolved Scope = iota
	// FromCluster: the cluster serves the kind.
	FromCluster
	// FromRender: a CustomResourceDefinition in the render defines it.
	FromRender
	// Assumed: nobody knows the kind; it is taken as namespaced when the
	// object names a namespace.
	Assumed
)

// Rule names the rule that refused an object.
type Rule int

const (
	// RuleNone: the object was not refused.
	RuleNone Rule = iota
	// RuleLookup: the kind's scope could not be looked up.
	RuleLookup
	// RuleInvalid: the API server would refuse the object (object.Validate).
	RuleInvalid
	// RuleNamespace: the namespace is outside AllowNamespaces.
	RuleNamespace
	// RuleClusterScoped: a cluster-scoped object in a run limited to
	// namespaces, without AllowClusterScoped.
	RuleClusterScoped
)

// Item is the decision about one rendered object.
type Item struct {
	// Obj is the render's object, its namespace settled in place: a copy
	// of every object would double a large run's memory.
	Obj *unstructured.Unstructured
	// ID is Obj's identity with the namespace settled.
	ID object.ID
	// Namespaced and Scope say whether the kind is namespaced and who
	// said so; Scope is Unresolved for skips and failed lookups.
	Namespaced bool
	Scope      Scope
	Verdict    Verdict
	// Why says why an object is skipped, as a report prints it.
	Why string
	// Rule and Err say why an object is refused; Err starts with the
	// object and says what to do.
	Rule Rule
	Err  error
}

// Set is the decision about every rendered object, in render order.
type Set struct {
	Items []Item
}

// Objects returns the objects to apply, in render order.
func (s *Set) Objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, it := range s.Items {
		if it.Verdict == Apply {
			out = append(out, it.Obj)
		}
	}
	return out
}

// Err joins the refusals, or is nil when nothing was refused.
func (s *Set) Err() error {
	var errs []error
	for _, it := range s.Items {
		if it.Verdict == Refuse {
			errs = append(errs, it.Err)
		}
	}
	return errors.Join(errs...)
}

// Resolve decides, for every object of res, whether the run applies,
// skips or refuses it (see the package doc for the rules).
func Resolve(ctx context.Context, res *render.Result, scopes Scopes, p Policy) *Set {
	if p.DefaultNamespace == "" {
		p.DefaultNamespace = DefaultNamespace
	}
	crds := object.CRDs(res.Objects)
	set := &Set{Items: make([]Item, 0, len(res.Objects))}
	// One lookup per kind: a mapper's lookup costs far more than a map's,
	// and a render holds many objects of few kinds.
	scopes = &onePerKind{Scopes: scopes, seen: map[schema.GroupVersionKind]scope{}}
	for _, o := range res.Objects {
		set.Items = append(set.Items, decide(ctx, o, res.Origins, crds, scopes, p))
	}
	return set
}

type scope struct {
	namespaced bool
	err        error
}

// onePerKind remembers a Scopes' answers for one Resolve.
type onePerKind struct {
	Scopes
	seen map[schema.GroupVersionKind]scope
}

func (c *onePerKind) Namespaced(ctx context.Context, gvk schema.GroupVersionKind) (bool, error) {
	if s, ok := c.seen[gvk]; ok {
		return s.namespaced, s.err
	}
	n, err := c.Scopes.Namespaced(ctx, gvk)
	c.seen[gvk] = scope{n, err}
	return n, err
}

func decide(ctx context.Context, o *unstructured.Unstructured, origins map[object.ID]render.Origin, crds map[schema.GroupKind]object.CRD, scopes Scopes, p Policy) Item {
	id := object.FromUnstructured(o)
	it := Item{Obj: o, ID: id}
	if id.Group == ImageAutomationGroup {
		it.Verdict, it.Why = Skip, "image automation configuration: read by tidegate images, not applied"
		return it
	}
	if p.Skip != nil {
		if why, skip := p.Skip(o); skip {
			it.Verdict, it.Why = Skip, why
			return it
		}
	}
	if crd, ok := crds[id.GroupKind()]; ok {
		it.Namespaced, it.Scope = crd.Namespaced, FromRender
	} else {
		gvk := o.GroupVersionKind()
		namespaced, err := scopes.Namespaced(ctx, gvk)
		switch {
		case meta.IsNoMatchError(err):
			it.Namespaced, it.Scope = o.GetNamespace() != "", Assumed
		case err != nil:
			return refuse(it, RuleLookup, fmt.Errorf("%s: look up the kind %s: %w", id, gvk, err))
		default:
			it.Namespaced, it.Scope = namespaced, FromCluster
		}
	}
	if it.Namespaced && o.GetNamespace() == "" {
		o.SetNamespace(p.DefaultNamespace)
	}
	if !it.Namespaced && o.GetNamespace() != "" {
		o.SetNamespace("")
	}
	it.ID = object.FromUnstructured(o)
	if err := object.Validate(o, it.Namespaced); err != nil {
		// Named as rendered, and by file: that is what the user edits.
		from := ""
		if origin, ok := origins[id]; ok {
			from = fmt.Sprintf(" (from %s)", origin)
		}
		return refuse(it, RuleInvalid, fmt.Errorf("%s%s: the API server would refuse it: %w", id, from, err))
	}
	if len(p.AllowNamespaces) == 0 {
		return it
	}
	allowed := strings.Join(p.AllowNamespaces, ", ")
	switch {
	case !it.Namespaced && !p.AllowClusterScoped:
		return refuse(it, RuleClusterScoped, fmt.Errorf("%s: cluster-scoped objects are not allowed (this run is limited to namespaces %s; pass --allow-cluster-scoped to permit them)", it.ID, allowed))
	case it.Namespaced && !slices.Contains(p.AllowNamespaces, it.ID.Namespace):
		return refuse(it, RuleNamespace, fmt.Errorf("%s: namespace %q is not allowed (allowed: %s; add --allow-namespace %s or move the object)", it.ID, it.ID.Namespace, allowed, it.ID.Namespace))
	}
	return it
}

func refuse(it Item, r Rule, err error) Item {
	it.Verdict, it.Rule, it.Err = Refuse, r, err
	return it
}
