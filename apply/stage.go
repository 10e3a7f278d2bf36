package apply

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/object"
)

// stage ranks a kind: lower stages are applied first. Objects others
// depend on by name (a Namespace, a ServiceAccount, a ConfigMap mounted
// by a Pod) come before the objects that refer to them, so that
// admission and controllers see a consistent cluster.
func stage(group, kind string) int {
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
		return 4
	}
}

// lastStage is the highest value stage returns.
const lastStage = 4

// byStage groups objects by stage, keeping each object's input order
// within its stage so that a run is deterministic.
func byStage(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	out := make([][]*unstructured.Unstructured, lastStage+1)
	for _, o := range objs {
		id := object.FromUnstructured(o)
		s := stage(id.Group, id.Kind)
		out[s] = append(out[s], o)
	}
	return out
}
