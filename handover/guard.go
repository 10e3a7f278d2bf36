package handover

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/object"
)

// Group is the API group of Flux's Kustomization.
const Group = "kustomize.toolkit.fluxcd.io"

// FluxManager is the field manager kustomize-controller applies with: a
// unit passes it as reconcile.Options.TakeOverManagers.
const FluxManager = "kustomize-controller"

// The labels kustomize-controller puts on every object it applies.
const (
	NameLabel      = Group + "/name"
	NamespaceLabel = Group + "/namespace"
)

// FluxLabels are the labels by which the objects the Flux Kustomization
// namespace/name applied are known: a unit passes them as
// reconcile.Options.AdoptLabels.
func FluxLabels(namespace, name string) map[string]string {
	return map[string]string{NameLabel: name, NamespaceLabel: namespace}
}

// fieldManager names tidegate's write of spec.suspend in managedFields.
const fieldManager = "tidegate"

// Status is what Guard found, or did.
type Status string

// The values of Status.
const (
	// NotInstalled: the cluster serves no Flux Kustomization kind.
	NotInstalled Status = "Flux not installed"
	// Absent: Flux is installed but this Kustomization does not exist.
	Absent Status = "not in the cluster"
	// Live: the Kustomization is not suspended; Guard returns a
	// *LiveError with it.
	Live Status = "live, not suspended"
	// AlreadySuspended: spec.suspend was true before Guard.
	AlreadySuspended Status = "already suspended"
	// Suspended: Guard set spec.suspend: true.
	Suspended Status = "suspended by tidegate"
	// WouldSuspend: a dry-run that would have set spec.suspend: true.
	WouldSuspend Status = "would be suspended (dry-run, not written)"
)

// State is the live Flux Kustomization of one unit as Guard left it.
type State struct {
	// ID is the Kustomization's id (Kind.group/namespace/name).
	ID object.ID
	// APIVersion is the version the cluster served it at, e.g.
	// kustomize.toolkit.fluxcd.io/v1; empty when NotInstalled.
	APIVersion string
	// Status is what Guard found, or did.
	Status Status
}

// String is one line for the report, e.g.
// "Kustomization.kustomize.toolkit.fluxcd.io/flux-system/apps: suspended by tidegate".
func (s State) String() string { return s.ID.String() + ": " + string(s.Status) }

// Safe reports whether the unit may be reconciled: Flux will not apply
// its objects again (or, in a dry-run, would not after the suspend).
func (s State) Safe() bool { return s.Status != Live }

// LiveError is Guard's refusal: the Kustomization is live and the run
// may not suspend it.
type LiveError struct {
	ID object.ID
}

func (e *LiveError) Error() string {
	return fmt.Sprintf("%s: is live (spec.suspend is not true), so kustomize-controller keeps applying and pruning its objects: tidegate and Flux would be two reconcilers fighting over them. Suspend it first with flux suspend kustomization %s -n %s, or pass --suspend-flux to let tidegate set spec.suspend: true on it", e.ID, e.ID.Name, e.ID.Namespace)
}

// Guard reads the live Flux Kustomization namespace/name, at whatever
// version the cluster serves, and decides whether its unit may run:
// absent (or Flux not installed) and suspended are fine; live is a
// *LiveError unless suspend, which merge-patches spec.suspend: true on
// it first (in a dry-run only reported as WouldSuspend). Nothing but
// that one field of that one object is ever written.
func Guard(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, namespace, name string, suspend bool, dryRun bool) (State, error) {
	st := State{ID: object.ID{Group: Group, Kind: "Kustomization", Namespace: namespace, Name: name}}
	mapping, err := mapper.RESTMapping(schema.GroupKind{Group: Group, Kind: "Kustomization"})
	if meta.IsNoMatchError(err) {
		st.Status = NotInstalled
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("%s: look up Flux's Kustomization kind: %w", st.ID, err)
	}
	st.APIVersion = mapping.GroupVersionKind.GroupVersion().String()
	client := dyn.Resource(mapping.Resource).Namespace(namespace)
	live, err := client.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		st.Status = Absent
		return st, nil
	case err != nil:
		return st, fmt.Errorf("%s: read it to check that Flux does not reconcile it too: %w%s", st.ID, err, rbacHint(err))
	}
	if suspended, _, _ := unstructured.NestedBool(live.Object, "spec", "suspend"); suspended {
		st.Status = AlreadySuspended
		return st, nil
	}
	if !suspend {
		st.Status = Live
		return st, &LiveError{ID: st.ID}
	}
	if dryRun {
		st.Status = WouldSuspend
		return st, nil
	}
	// A merge patch of the one field, as flux suspend writes it; the
	// resourceVersion makes it fail rather than act on a Kustomization
	// that changed (or was recreated) since it was read.
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"suspend":true}}`, live.GetResourceVersion())
	if _, err := client.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return st, fmt.Errorf("%s: set spec.suspend: true: %w%s", st.ID, err, rbacHint(err))
	}
	st.Status = Suspended
	return st, nil
}

func rbacHint(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return " (tidegate's service account needs get and patch on kustomizations." + Group + " in that namespace)"
	case apierrors.IsConflict(err):
		return " (it changed since tidegate read it; run again)"
	}
	return ""
}
