package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/tidegate/tidegate/inventory"
)

// Cluster asks the API server at host (as the client configuration names
// it) for its version: the cheapest request that proves the address, the
// TLS trust and the credentials all work.
func Cluster(host string, v discovery.ServerVersionInterface) Result {
	info, err := v.ServerVersion()
	if err != nil {
		return Result{Name: "cluster", Detail: fmt.Sprintf("%s: %v", host, err),
			Hint: "check --kubeconfig and --context, that the API server is reachable from here, and that the credentials have not expired"}
	}
	return Result{Name: "cluster", OK: true, Detail: host + " " + info.GitVersion}
}

// Identity asks the API server who tidegate is authenticated as
// (SelfSubjectReview, Kubernetes 1.28 and later) and returns the user
// name for the RBAC hints. An older server, or one that forbids the
// review, leaves the identity unknown, which is no failure: RBAC is
// checked as whoever tidegate is all the same.
func Identity(ctx context.Context, c authenticationclient.SelfSubjectReviewInterface) (string, Result) {
	review, err := c.Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			return "", Result{Name: "identity", OK: true, Detail: "unknown (the API server does not answer SelfSubjectReview: it is older than 1.28 or forbids it)"}
		}
		return "", Result{Name: "identity", Detail: err.Error(), Hint: "the API server answered the version but not this; check its logs and the credentials"}
	}
	u := review.Status.UserInfo
	detail := u.Username
	if len(u.Groups) > 0 {
		detail += " (groups " + strings.Join(u.Groups, ", ") + ")"
	}
	return u.Username, Result{Name: "identity", OK: true, Detail: detail}
}

// Inventory reads the inventory a reconcile would start from. Its
// members matter to RBAC: a prune deletes the ones Git no longer has. A
// reconcile writes the inventory before anything else, so its namespace
// must exist even when the render creates it; ns may be nil to skip that
// check.
func Inventory(ctx context.Context, dyn dynamic.Interface, ns coreclient.NamespaceInterface, parent inventory.Parent, tooling string) (*inventory.Inventory, Result) {
	inv, err := inventory.NewStore(dyn, parent, tooling).Load(ctx)
	if err != nil {
		hint := "choose another --inventory-name, or fix the object"
		if apierrors.IsForbidden(err) {
			hint = fmt.Sprintf("grant get on %s in namespace %s (see the rbac lines)", strings.ToLower(parent.Kind)+"s", parent.Namespace)
		}
		var corrupt *inventory.CorruptError
		if errors.As(err, &corrupt) {
			hint = corrupt.Parent.RepairAdvice()
		}
		return nil, Result{Name: "inventory", Detail: fmt.Sprintf("%s: %v", parent, err), Hint: hint}
	}
	if ns != nil {
		// Forbidden is the normal answer for a namespaced identity: it
		// says nothing about the namespace, so only NotFound counts.
		if _, err := ns.Get(ctx, parent.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return inv, Result{Name: "inventory", Detail: fmt.Sprintf("%s: namespace %s does not exist", parent, parent.Namespace),
				Hint: fmt.Sprintf("create it (kubectl create namespace %s) or pass another --inventory-namespace: a reconcile writes the inventory before anything else", parent.Namespace)}
		}
	}
	if len(inv.Members) == 0 && inv.Revision == "" {
		return inv, Result{Name: "inventory", OK: true, Detail: parent.String() + ": none yet; the first reconcile creates it"}
	}
	detail := fmt.Sprintf("%s: %s", parent, plural(len(inv.Members), "object"))
	if inv.Revision != "" {
		detail += ", last applied at " + inv.Revision
	}
	return inv, Result{Name: "inventory", OK: true, Detail: detail}
}

// Namespaces reports the namespaces the objects of needs go to that
// neither exist nor are created by the render (objs): apply would fail
// on every object in them. An identity that may not read namespaces (a
// namespaced tenant) cannot tell; those are assumed to exist.
func Namespaces(ctx context.Context, c coreclient.NamespaceInterface, objs []*unstructured.Unstructured, needs []Need) []Result {
	created := map[string]bool{}
	for _, o := range objs {
		if o.GetAPIVersion() == "v1" && o.GetKind() == "Namespace" {
			created[o.GetName()] = true
		}
	}
	var targets []string
	for _, n := range needs {
		if n.Namespace != "" && slices.Contains(n.For, "objects") && !slices.Contains(targets, n.Namespace) {
			targets = append(targets, n.Namespace)
		}
	}
	sort.Strings(targets)
	var out []Result
	var exist, create, unknown []string
	for _, ns := range targets {
		if created[ns] {
			create = append(create, ns)
			continue
		}
		_, err := c.Get(ctx, ns, metav1.GetOptions{})
		switch {
		case err == nil:
			exist = append(exist, ns)
		case apierrors.IsNotFound(err):
			out = append(out, Result{Name: "namespace", Detail: ns + " does not exist, and the paths do not create it",
				Hint: fmt.Sprintf("add a Namespace %s to the paths, or create it first: no object in it can be applied", ns)})
		case apierrors.IsForbidden(err):
			unknown = append(unknown, ns)
		default:
			out = append(out, Result{Name: "namespace", Detail: fmt.Sprintf("%s: %v", ns, err), Hint: "check the API server and try again"})
		}
	}
	if len(out) > 0 || len(targets) == 0 {
		return out
	}
	var parts []string
	if len(exist) > 0 {
		parts = append(parts, "exist: "+strings.Join(exist, ", "))
	}
	if len(create) > 0 {
		parts = append(parts, "created by this reconcile: "+strings.Join(create, ", "))
	}
	if len(unknown) > 0 {
		parts = append(parts, "not readable as this identity, assumed to exist: "+strings.Join(unknown, ", "))
	}
	return []Result{{Name: "namespace", OK: true, Detail: strings.Join(parts, "; ")}}
}
