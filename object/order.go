package object

import "strings"

// Stage ranks an object for writing: lower stages are applied first and,
// in exact reverse, deleted last. Objects others depend on by name (a
// CustomResourceDefinition, a Namespace, a ServiceAccount, a ConfigMap
// mounted by a Pod) are applied before the objects that refer to them,
// so that admission and controllers see a consistent cluster; and a
// prune deletes the objects that refer to them first, so custom resources
// go before their definitions and a Namespace's members before it. One
// table serves both directions, so apply and prune cannot drift apart.
func Stage(id ID) int {
	group, kind := id.Group, id.Kind
	switch {
	case group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition":
		return 0
	case group == "" && kind == "Namespace":
		return 1
	case strings.HasSuffix(kind, "Class"), kind == "ClusterRole", kind == "ClusterRoleBinding",
		kind == "PodSecurityPolicy", kind == "MutatingWebhookConfiguration", kind == "ValidatingWebhookConfiguration",
		kind == "ValidatingAdmissionPolicy", kind == "ValidatingAdmissionPolicyBinding":
		return 2
	case group == "" && (kind == "ServiceAccount" || kind == "ConfigMap" || kind == "Secret" ||
		kind == "LimitRange" || kind == "ResourceQuota" || kind == "PersistentVolume" || kind == "PersistentVolumeClaim"),
		kind == "Role", kind == "RoleBinding", kind == "NetworkPolicy":
		return 3
	default:
		return LastStage
	}
}

// LastStage is the highest value Stage returns.
const LastStage = 4
