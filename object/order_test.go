package object_test

import (
	"testing"

	"github.com/tidegate/tidegate/object"
)

func TestStage(t *testing.T) {
	for _, tc := range []struct {
		id   object.ID
		want int
	}{
		{object.ID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "widgets.example.dev"}, 0},
		{object.ID{Kind: "Namespace", Name: "web"}, 1},
		{object.ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "r"}, 2},
		{object.ID{Group: "storage.k8s.io", Kind: "StorageClass", Name: "fast"}, 2},
		{object.ID{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration", Name: "v"}, 2},
		{object.ID{Kind: "ServiceAccount", Namespace: "web", Name: "app"}, 3},
		{object.ID{Kind: "ConfigMap", Namespace: "web", Name: "cfg"}, 3},
		{object.ID{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding", Namespace: "web", Name: "rb"}, 3},
		// A kind named like a core kind in another group is not one.
		{object.ID{Group: "example.dev", Kind: "ConfigMap", Namespace: "web", Name: "cfg"}, object.LastStage},
		{object.ID{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "app"}, object.LastStage},
		{object.ID{Group: "example.dev", Kind: "Widget", Namespace: "web", Name: "w"}, object.LastStage},
	} {
		t.Run(tc.id.String(), func(t *testing.T) {
			if got := object.Stage(tc.id); got != tc.want {
				t.Errorf("Stage = %d, want %d", got, tc.want)
			}
		})
	}
}
