// Package object names Kubernetes objects the way every tidegate stage
// talks about them: a value type ID of group, kind, namespace and name.
//
// Render produces objects, apply writes them in stages (Stage) and
// reports on them, an inventory records them and prune deletes them in
// the reverse of those stages; ID is the one vocabulary they share, so
// this package depends on nothing but apimachinery and is imported by all
// of them.
//
// Change and Action are the change-set vocabulary of the same stages:
// apply and diff return changes, prune's result turns into them, and the
// report prints them, so no stage translates another's words.
package object

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ID identifies an object independently of its API version, as the API
// server does: the same Deployment under apps/v1 and apps/v1beta1 is one
// object.
type ID struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// FromUnstructured returns the ID of u.
func FromUnstructured(u *unstructured.Unstructured) ID {
	gvk := u.GroupVersionKind()
	return ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// GroupKind returns the ID's group and kind.
func (id ID) GroupKind() schema.GroupKind { return schema.GroupKind{Group: id.Group, Kind: id.Kind} }

// String formats the ID as Kind/namespace/name (Kind/name when cluster
// scoped), the prefix every per-object message and error starts with.
// The group is added when it is needed to tell kinds apart
// (Kind.group/namespace/name), except for the core and apps groups that
// everyone reads without one.
func (id ID) String() string {
	kind := id.Kind
	if id.Group != "" && id.Group != "apps" {
		kind += "." + id.Group
	}
	if id.Namespace == "" {
		return kind + "/" + id.Name
	}
	return kind + "/" + id.Namespace + "/" + id.Name
}

// Encode returns the ID in the inventory format namespace_name_group_kind
// that kubernetes-sigs/cli-utils and Flux use, so that tools reading either
// inventory understand tidegate's.
func (id ID) Encode() string {
	return strings.Join([]string{id.Namespace, id.Name, id.Group, id.Kind}, "_")
}

// Decode parses the format written by Encode. Namespaces (DNS labels),
// groups (DNS subdomains) and kinds cannot contain '_', but the names of
// some kinds can (RBAC names are path segments: "system:a_b"), so the
// name is whatever lies between the first field and the last two, as
// cli-utils reads it. Namespace and group may be empty (cluster-scoped
// objects, the core group); name and kind may not.
func Decode(s string) (ID, error) {
	first := strings.Index(s, "_")
	last := strings.LastIndex(s, "_")
	if first < 0 || last <= first {
		return ID{}, fmt.Errorf("object ID %q is not namespace_name_group_kind", s)
	}
	mid := s[first+1 : last]
	groupAt := strings.LastIndex(mid, "_")
	if groupAt < 0 {
		return ID{}, fmt.Errorf("object ID %q is not namespace_name_group_kind", s)
	}
	id := ID{Namespace: s[:first], Name: mid[:groupAt], Group: mid[groupAt+1:], Kind: s[last+1:]}
	if id.Name == "" || id.Kind == "" {
		return ID{}, fmt.Errorf("object ID %q is not namespace_name_group_kind (the name or kind is empty)", s)
	}
	return id, nil
}

// Sort orders IDs by group, kind, namespace and name, the stable order
// used for reports and inventories.
func Sort(ids []ID) {
	sort.Slice(ids, func(i, j int) bool { return Less(ids[i], ids[j]) })
}

// Less reports whether a sorts before b in the order Sort uses.
func Less(a, b ID) bool {
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
