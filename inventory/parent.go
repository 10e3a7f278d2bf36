package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/object"
)

// The ApplySet labels and annotations (KEP-3659), and tidegate's own.
const (
	IDLabel                  = "applyset.kubernetes.io/id"
	PartOfLabel              = "applyset.kubernetes.io/part-of"
	ToolingAnnotation        = "applyset.kubernetes.io/tooling"
	GroupKindsAnnotation     = "applyset.kubernetes.io/contains-group-kinds"
	NamespacesAnnotation     = "applyset.kubernetes.io/additional-namespaces"
	RevisionAnnotation       = "tidegate.dev/revision"
	membersKey               = "members"
	inventoryFieldManager    = "tidegate-inventory"
	parentKindConfigMap      = "ConfigMap"
	parentKindSecret         = "Secret"
	membersEncodingSeparator = "\n"
)

// HooksAnnotation records, per Helm release of the inventory, the digest
// of the release as its hooks last ran to the end (a JSON object,
// release → digest): a run whose release renders the same runs no hook.
// Absent when no release has hooks.
const HooksAnnotation = "tidegate.dev/helm-hooks"

// Parent is the object that holds the inventory.
type Parent struct {
	// Kind is ConfigMap or Secret.
	Kind            string
	Namespace, Name string
}

// ID is the ApplySet id of the parent, computed as kubectl computes it:
// "applyset-" + base64url(sha256(name.namespace.kind.group)) + "-v1".
func (p Parent) ID() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{p.Name, p.Namespace, p.Kind, ""}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

func (p Parent) String() string { return p.Kind + " " + p.Namespace + "/" + p.Name }

// EditCommand is the kubectl command that opens the parent for a person
// to fix its members by hand, as RepairAdvice gives it.
func (p Parent) EditCommand() string {
	return "kubectl -n " + p.Namespace + " edit " + strings.ToLower(p.Kind) + " " + p.Name
}

// RepairAdvice is what to do about a CorruptError of p, as reconcile's
// refusal and check's hint both give it: the one reconcile run that
// repairs it, with the flags that select this parent (a run with the
// defaults would repair another inventory, or none), and the manual fix.
func (p Parent) RepairAdvice() string {
	return fmt.Sprintf("run once: tidegate reconcile --repair-inventory --inventory-kind %s --inventory-namespace %s --inventory-name %s, with your usual --source and --path (it drops the unreadable members and writes the inventory again; the objects they named are then no longer pruned, delete them by hand if Git no longer has them); or fix the lines by hand: %s", p.Kind, p.Namespace, p.Name, p.EditCommand())
}

func (p Parent) resource() (schema.GroupVersionResource, error) {
	switch p.Kind {
	case parentKindConfigMap:
		return schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, nil
	case parentKindSecret:
		return schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, nil
	}
	return schema.GroupVersionResource{}, fmt.Errorf("inventory kind %q: use ConfigMap or Secret", p.Kind)
}

// Inventory is what the parent records.
type Inventory struct {
	ID       string
	Revision string
	// Members, sorted.
	Members []object.ID
	// Hooks are the releases whose hooks ran, with the digest of what
	// the release rendered then (HooksAnnotation); nil when none.
	Hooks map[string]string
}

// Store reads and writes one parent.
type Store struct {
	dyn     dynamic.Interface
	parent  Parent
	tooling string
	labels  map[string]string
}

// WithLabels makes Save write labels on the parent besides the ApplySet
// id: a Flux run marks its units' inventories with the run they belong
// to, so that it finds the inventory of a unit Git no longer has.
func (s *Store) WithLabels(labels map[string]string) *Store {
	s.labels = labels
	return s
}

// NewStore returns a Store for parent; tooling ("tidegate/v1.2.3") is
// written to the parent so that other ApplySet tools leave it alone.
func NewStore(dyn dynamic.Interface, parent Parent, tooling string) *Store {
	return &Store{dyn: dyn, parent: parent, tooling: tooling}
}

func (s *Store) client() (dynamic.ResourceInterface, error) {
	gvr, err := s.parent.resource()
	if err != nil {
		return nil, err
	}
	return s.dyn.Resource(gvr).Namespace(s.parent.Namespace), nil
}

// Load returns the inventory; an empty one when the parent does not exist
// yet. A parent owned by another ApplySet tool is an error: tidegate
// never adopts kubectl's or Helm's inventory.
func (s *Store) Load(ctx context.Context) (*Inventory, error) {
	inv := &Inventory{ID: s.parent.ID()}
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	u, err := c.Get(ctx, s.parent.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return inv, nil
	}
	if err != nil {
		return nil, err
	}
	if tool := u.GetAnnotations()[ToolingAnnotation]; tool != "" && !strings.HasPrefix(tool, "tidegate/") {
		return nil, fmt.Errorf("%s is the inventory of %s, not tidegate; choose another --inventory-name", s.parent, tool)
	}
	if id := u.GetLabels()[IDLabel]; id != "" && id != inv.ID {
		return nil, fmt.Errorf("%s has ApplySet id %s, want %s; it was not written by tidegate for this name", s.parent, id, inv.ID)
	}
	inv.Revision = u.GetAnnotations()[RevisionAnnotation]
	if h := u.GetAnnotations()[HooksAnnotation]; h != "" {
		// Unreadable, it only makes the next run run the hooks again.
		_ = json.Unmarshal([]byte(h), &inv.Hooks)
	}
	raw, err := membersText(u)
	if err != nil {
		return nil, &CorruptError{Parent: s.parent, Partial: inv, Bad: []string{err.Error()}}
	}
	var bad []string
	for n, line := range strings.Split(raw, membersEncodingSeparator) {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		id, err := object.Decode(line)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", n+1, err))
			continue
		}
		inv.Members = append(inv.Members, id)
	}
	object.Sort(inv.Members)
	if len(bad) > 0 {
		return nil, &CorruptError{Parent: s.parent, Partial: inv, Bad: bad}
	}
	return inv, nil
}

// CorruptError is returned by Load when members of the parent cannot be
// read: the inventory was edited by hand, or written by a tool that
// encodes members differently. Nothing may be pruned from an inventory
// read only in part, so Load fails; Partial holds what could be read,
// for a caller that was asked to repair the inventory by writing it
// again without the unreadable members.
type CorruptError struct {
	Parent Parent
	// Partial is the inventory without the unreadable members.
	Partial *Inventory
	// Bad describes each unreadable member (its line and why).
	Bad []string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s (data.%s): %d unreadable inventory members: %s", e.Parent, membersKey, len(e.Bad), strings.Join(e.Bad, "; "))
}

func membersText(u *unstructured.Unstructured) (string, error) {
	v, _, _ := unstructured.NestedString(u.Object, "data", membersKey)
	if u.GetKind() != parentKindSecret || v == "" {
		return v, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", fmt.Errorf("decode members: %w", err)
	}
	return string(b), nil
}

// parentLabels are the parent's labels: the ApplySet id and WithLabels'.
func (s *Store) parentLabels(id string) map[string]any {
	out := map[string]any{IDLabel: id}
	for k, v := range s.labels {
		out[k] = v
	}
	return out
}

// Save writes the parent with server-side apply. A dry run does not call
// it: the inventory records what was applied, and nothing was.
func (s *Store) Save(ctx context.Context, inv *Inventory) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	members := append([]object.ID(nil), inv.Members...)
	object.Sort(members)
	var lines []string
	gks := map[string]bool{}
	namespaces := map[string]bool{}
	for _, id := range members {
		lines = append(lines, id.Encode())
		gk := id.Kind
		if id.Group != "" {
			gk += "." + id.Group
		}
		gks[gk] = true
		if id.Namespace != "" && id.Namespace != s.parent.Namespace {
			namespaces[id.Namespace] = true
		}
	}
	text := strings.Join(lines, membersEncodingSeparator)
	data := map[string]any{membersKey: text}
	if s.parent.Kind == parentKindSecret {
		data[membersKey] = base64.StdEncoding.EncodeToString([]byte(text))
	}
	annotations := map[string]any{
		ToolingAnnotation:    s.tooling,
		GroupKindsAnnotation: joinSorted(gks),
		NamespacesAnnotation: joinSorted(namespaces),
		RevisionAnnotation:   inv.Revision,
	}
	if len(inv.Hooks) > 0 {
		h, err := json.Marshal(inv.Hooks)
		if err != nil {
			return err
		}
		annotations[HooksAnnotation] = string(h)
	}
	u := map[string]any{
		"apiVersion": "v1",
		"kind":       s.parent.Kind,
		"metadata": map[string]any{
			"name":        s.parent.Name,
			"namespace":   s.parent.Namespace,
			"labels":      s.parentLabels(inv.ID),
			"annotations": annotations,
		},
		"data": data,
	}
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: inventoryFieldManager, Force: &force}
	if _, err := c.Patch(ctx, s.parent.Name, types.ApplyPatchType, body, opts); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s: %w (create the namespace %s, or choose --inventory-namespace)", s.parent, err, s.parent.Namespace)
		}
		return fmt.Errorf("%s: %w", s.parent, err)
	}
	return nil
}

func joinSorted(set map[string]bool) string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Label marks obj as a member of the ApplySet id.
func Label(obj *unstructured.Unstructured, id string) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[PartOfLabel] = id
	obj.SetLabels(l)
}
