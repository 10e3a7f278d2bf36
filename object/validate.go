package object

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
)

// NameRule is how the API server validates the name of one kind.
type NameRule struct {
	// Name is what the rule is called in messages.
	Name  string
	check func(name string, prefix bool) []string
}

// The name rules the API server applies (k8s.io/kubernetes pkg/apis/*/validation).
var (
	ruleSubdomain   = NameRule{"a DNS-1123 subdomain (lower case letters, digits, '-' and '.', at most 253 characters)", validation.NameIsDNSSubdomain}
	ruleLabel       = NameRule{"a DNS-1123 label (lower case letters, digits and '-', at most 63 characters)", validation.NameIsDNSLabel}
	rulePathSegment = NameRule{"a path segment (not '.' or '..', no '/' or '%')", path.ValidatePathSegmentName}
)

// NameRuleFor returns the rule the API server applies to names of the
// kind. Kinds this table does not know (custom resources, aggregated
// APIs) get the weakest rule every resource obeys, the path segment: an
// aggregated API server may accept more than a CRD does, and a check that
// is stricter than the server would refuse objects the cluster takes.
func NameRuleFor(group, kind string) NameRule {
	switch group {
	case "":
		switch kind {
		case "Namespace":
			return ruleLabel
		case "Service":
			// DNS-1035 by default; DNS-1123 label with the
			// RelaxedServiceNameValidation gate. Never stricter than
			// the server, so the relaxed rule.
			return ruleLabel
		case "Pod", "ReplicationController", "Node", "LimitRange", "ResourceQuota", "Secret",
			"ServiceAccount", "Endpoints", "ConfigMap", "PersistentVolume", "PersistentVolumeClaim", "PodTemplate":
			return ruleSubdomain
		}
	case "apps":
		switch kind {
		case "StatefulSet":
			return ruleLabel
		case "Deployment", "DaemonSet", "ReplicaSet", "ControllerRevision":
			return ruleSubdomain
		}
	case "batch":
		if kind == "Job" || kind == "CronJob" {
			return ruleSubdomain
		}
	case "autoscaling":
		if kind == "HorizontalPodAutoscaler" {
			return ruleSubdomain
		}
	case "networking.k8s.io":
		if kind == "Ingress" || kind == "IngressClass" || kind == "NetworkPolicy" || kind == "ServiceCIDR" {
			return ruleSubdomain
		}
	case "discovery.k8s.io":
		if kind == "EndpointSlice" {
			return ruleSubdomain
		}
	case "storage.k8s.io":
		switch kind {
		case "StorageClass", "VolumeAttachment", "CSINode", "CSIDriver", "CSIStorageCapacity", "VolumeAttributesClass":
			return ruleSubdomain
		}
	case "scheduling.k8s.io":
		if kind == "PriorityClass" {
			return ruleSubdomain
		}
	case "coordination.k8s.io":
		if kind == "Lease" {
			return ruleSubdomain
		}
	case "flowcontrol.apiserver.k8s.io":
		if kind == "FlowSchema" || kind == "PriorityLevelConfiguration" {
			return ruleSubdomain
		}
	}
	// RBAC names are path segments on purpose (system:controller:…).
	return rulePathSegment
}

// Validate checks what the API server checks of an object's identity
// before it stores it: the apiVersion and kind, the name by the rule of
// its kind, and the namespace of a namespaced object. Objects that fail
// here would be refused by the server anyway; refusing them before
// anything is written keeps them out of the inventory, whose members
// must stay readable. The error joins one error per broken field, each
// naming the rule.
func Validate(u *unstructured.Unstructured, namespaced bool) error {
	var errs []error
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	switch {
	case u.GetAPIVersion() == "":
		errs = append(errs, errors.New("apiVersion is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("apiVersion %q: %w", u.GetAPIVersion(), err))
	case gv.Version == "":
		errs = append(errs, fmt.Errorf("apiVersion %q has no version", u.GetAPIVersion()))
	case gv.Group != "":
		if msgs := utilvalidation.IsDNS1123Subdomain(gv.Group); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("the API group %q of apiVersion must be a DNS-1123 subdomain: %s", gv.Group, strings.Join(msgs, "; ")))
		}
	}
	kind := u.GetKind()
	// A CustomResourceDefinition's kind must lower-case to a DNS-1035
	// label, and every built-in kind does: nothing else can be served.
	if kind == "" {
		errs = append(errs, errors.New("kind is empty"))
	} else if msgs := utilvalidation.IsDNS1035Label(strings.ToLower(kind)); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("kind %q is not a kind the API server can serve (letters and digits, starting with a letter, at most 63): %s", kind, strings.Join(msgs, "; ")))
	}
	name := u.GetName()
	if name == "" {
		errs = append(errs, errors.New("metadata.name is empty (generateName is not supported: tidegate must know an object's name to track it)"))
	} else {
		rule := NameRuleFor(gv.Group, kind)
		if msgs := rule.check(name, false); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("metadata.name %q must be %s: %s", name, rule.Name, strings.Join(msgs, "; ")))
		}
	}
	if ns := u.GetNamespace(); namespaced && ns != "" {
		if msgs := validation.ValidateNamespaceName(ns, false); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("metadata.namespace %q must be %s: %s", ns, ruleLabel.Name, strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}
