package prune

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// The ownership rules, after kapp and cli-utils' inventory policy: an
// inventory writes only what it owns. An object that exists in the
// cluster is a member when it carries this inventory's part-of label or
// the previous inventory lists it. Anything else that exists belongs to
// someone: a person with kubectl, Helm, Flux, or another inventory. Taking
// it over silently would make it ours, and a later prune would delete it
// when it leaves Git; so it is taken over only when asked, and an object
// of another inventory only with force, since that inventory's runs will
// then stop tracking it.

// AdoptAnnotation with value "enabled" on an object in Git adopts that
// one object, as --adopt adopts all.
const AdoptAnnotation = "tidegate.dev/adopt"

// fluxNameLabel marks objects applied by a Flux Kustomization.
const (
	fluxNameLabel      = "kustomize.toolkit.fluxcd.io/name"
	fluxNamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace"
	lastAppliedKey     = "kubectl.kubernetes.io/last-applied-configuration"
)

// Ownership is how an object relates to an inventory.
type Ownership string

// The values of Ownership.
const (
	// Absent: the object does not exist; creating it is always allowed.
	Absent Ownership = "absent"
	// Member: the object is ours already.
	Member Ownership = "member"
	// Unowned: the object exists and no inventory claims it.
	Unowned Ownership = "unowned"
	// Foreign: the object is a member of another ApplySet.
	Foreign Ownership = "foreign"
)

// OwnershipOf returns how live (nil when absent) relates to the
// inventory id whose previous members are given, and for a Foreign object
// the other inventory's id.
func OwnershipOf(live *unstructured.Unstructured, id string, previous inventory.Set) (Ownership, string) {
	if live == nil {
		return Absent, ""
	}
	switch other := live.GetLabels()[inventory.PartOfLabel]; {
	case other == id:
		return Member, ""
	case other != "":
		// The label wins over our own record: the other inventory's
		// runs prune what carries their label.
		return Foreign, other
	case previous.Has(object.FromUnstructured(live)):
		return Member, ""
	}
	return Unowned, ""
}

// Claim is the decision for one object Git wants to apply.
type Claim struct {
	ID        object.ID
	Ownership Ownership
	// Adopted is set when the object is taken over in this run: an
	// unowned object adopted, or a foreign one taken with force.
	Adopted bool
	// Refused, when set, says why the object may not be written and how
	// to take it over; it starts with the object's Kind/namespace/name.
	Refused error
	// Reason is a short note for the report: whom it was taken from.
	Reason string
}

// ClaimOptions are the run's choices about taking objects over.
type ClaimOptions struct {
	// Adopt takes over every unowned object (--adopt).
	Adopt bool
	// AdoptLabels adopts, as explicitly as Adopt, an unowned object that
	// carries every one of these labels with these values: the marks
	// another tool left on what it applied (for a Flux Kustomization
	// unit, kustomize.toolkit.fluxcd.io/name and /namespace). Empty
	// adopts nothing.
	AdoptLabels map[string]string
	// Force takes over objects of other inventories (--force).
	Force bool
	// ForceObject says whether one object is forced by its own
	// annotation (package apply's tidegate.dev/force).
	ForceObject func(desired *unstructured.Unstructured) bool
	// Command is how to re-run, for the refusal's hint ("tidegate
	// reconcile"); default "tidegate reconcile".
	Command string
}

// Decide applies the ownership rules to one desired object and its live
// copy. It is pure: the live object comes from apply's plan.
func Decide(desired, live *unstructured.Unstructured, id string, previous inventory.Set, o ClaimOptions) Claim {
	c := Claim{ID: object.FromUnstructured(desired)}
	var other string
	c.Ownership, other = OwnershipOf(live, id, previous)
	if o.Command == "" {
		o.Command = "tidegate reconcile"
	}
	switch c.Ownership {
	case Unowned:
		if o.Adopt || desired.GetAnnotations()[AdoptAnnotation] == "enabled" {
			c.Adopted, c.Reason = true, "adopted: existed without an inventory"+managedBy(live)
			return c
		}
		if hasLabels(live, o.AdoptLabels) {
			c.Adopted, c.Reason = true, "adopted: labelled "+labelList(o.AdoptLabels)+managedBy(live)
			return c
		}
		c.Refused = fmt.Errorf("%s: exists in the cluster and is not a member of this inventory%s%s; tidegate does not take over objects it did not create. %s", c.ID, managedBy(live), notLabelled(o.AdoptLabels), adoptHint(live, o.Command))
	case Foreign:
		if o.Force || (o.ForceObject != nil && o.ForceObject(desired)) {
			c.Adopted, c.Reason = true, "taken from ApplySet "+other+" (--force)"
			return c
		}
		c.Refused = fmt.Errorf("%s: is a member of another inventory (%s=%s)%s; it is never taken over, not even with --adopt. Remove it from the other inventory's Git, or pass --force (or annotate the object tidegate.dev/force: enabled) to take it from that inventory", c.ID, inventory.PartOfLabel, other, managedBy(live))
	}
	return c
}

// managedBy names who owns live: the field managers of its managedFields
// and the tools whose marks it carries.
func managedBy(live *unstructured.Unstructured) string {
	var managers []string
	for _, f := range live.GetManagedFields() {
		if f.Manager != "" && !slices.Contains(managers, f.Manager) {
			managers = append(managers, f.Manager)
		}
	}
	sort.Strings(managers)
	var parts []string
	if len(managers) > 0 {
		parts = append(parts, "field managers: "+strings.Join(managers, ", "))
	} else {
		parts = append(parts, "no field managers recorded")
	}
	if name := live.GetLabels()[fluxNameLabel]; name != "" {
		parts = append(parts, fmt.Sprintf("applied by the Flux Kustomization %s/%s", live.GetLabels()[fluxNamespaceLabel], name))
	}
	if rel := live.GetAnnotations()["meta.helm.sh/release-name"]; rel != "" {
		parts = append(parts, fmt.Sprintf("part of the Helm release %s/%s", live.GetAnnotations()["meta.helm.sh/release-namespace"], rel))
	}
	if _, ok := live.GetAnnotations()[lastAppliedKey]; ok {
		parts = append(parts, "applied with kubectl apply")
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// adoptHint says how to adopt live, first stopping the tool that manages
// it where there is one.
func adoptHint(live *unstructured.Unstructured, command string) string {
	adopt := fmt.Sprintf("To adopt it, run %s --adopt (every unowned object of this run) or annotate it in Git %s: enabled (this object)", command, AdoptAnnotation)
	if name := live.GetLabels()[fluxNameLabel]; name != "" {
		return fmt.Sprintf("Suspend that Kustomization first and stop it pruning (flux suspend kustomization %s -n %s, then spec.prune: false or delete it), otherwise Flux and tidegate fight over it. %s", name, live.GetLabels()[fluxNamespaceLabel], adopt)
	}
	if live.GetAnnotations()["meta.helm.sh/release-name"] != "" {
		return "Stop managing it with Helm first (remove it from the chart, or annotate it helm.sh/resource-policy: keep before helm uninstall, which would otherwise delete it). " + adopt
	}
	return adopt
}

// hasLabels reports whether live carries every one of labels; no labels
// match nothing, so that an empty selector never adopts everything.
func hasLabels(live *unstructured.Unstructured, labels map[string]string) bool {
	if len(labels) == 0 {
		return false
	}
	have := live.GetLabels()
	for k, v := range labels {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func labelList(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + labels[k]
	}
	return strings.Join(keys, ",")
}

// notLabelled says, when the run adopts by labels, that this object does
// not carry them: it was applied for someone else.
func notLabelled(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	return "; this run adopts only objects labelled " + labelList(labels)
}
