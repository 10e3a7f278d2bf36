package object

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestIDString(t *testing.T) {
	for _, tc := range []struct {
		id   ID
		want string
	}{
		{ID{Kind: "ConfigMap", Namespace: "web", Name: "cfg"}, "ConfigMap/web/cfg"},
		{ID{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "api"}, "Deployment/web/api"},
		{ID{Kind: "Namespace", Name: "web"}, "Namespace/web"},
		{ID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "x.example.com"}, "CustomResourceDefinition.apiextensions.k8s.io/x.example.com"},
	} {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, id := range []ID{
		{Kind: "ConfigMap", Namespace: "web", Name: "cfg"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "viewer"},
		// RBAC names are path segments: '_' and ':' are valid there, and
		// an inventory holding one must still read back.
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:a_b__c"},
		{Group: "rbac.authorization.k8s.io", Kind: "Role", Namespace: "web", Name: "_x_"},
	} {
		got, err := Decode(id.Encode())
		if err != nil {
			t.Fatalf("Decode(%q): %v", id.Encode(), err)
		}
		if got != id {
			t.Errorf("round trip of %v gave %v", id, got)
		}
	}
	for _, bad := range []string{"", "a_b_c", "ns__g_Kind", "ns_name_g_", "ns_name", "_", "__", "___"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) succeeded, want an error", bad)
		}
	}
}

func TestFromUnstructured(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apps/v1")
	u.SetKind("Deployment")
	u.SetNamespace("web")
	u.SetName("api")
	want := ID{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "api"}
	if got := FromUnstructured(u); got != want {
		t.Errorf("FromUnstructured = %v, want %v", got, want)
	}
}

func TestSort(t *testing.T) {
	ids := []ID{
		{Group: "apps", Kind: "Deployment", Namespace: "b", Name: "x"},
		{Kind: "ConfigMap", Namespace: "b", Name: "y"},
		{Kind: "ConfigMap", Namespace: "a", Name: "z"},
		{Group: "apps", Kind: "Deployment", Namespace: "a", Name: "x"},
	}
	Sort(ids)
	want := []string{"ConfigMap/a/z", "ConfigMap/b/y", "Deployment/a/x", "Deployment/b/x"}
	for i, id := range ids {
		if id.String() != want[i] {
			t.Fatalf("Sort order at %d = %s, want %s (all: %v)", i, id, want[i], ids)
		}
	}
}

func TestPodSpecPath(t *testing.T) {
	for kind, want := range map[string]string{
		"Deployment": "spec.template.spec", "statefulset": "spec.template.spec", "DaemonSet": "spec.template.spec",
		"ReplicaSet": "spec.template.spec", "Job": "spec.template.spec",
		"CronJob": "spec.jobTemplate.spec.template.spec", "Pod": "spec",
	} {
		got, ok := PodSpecPath(kind)
		if !ok || strings.Join(got, ".") != want {
			t.Errorf("PodSpecPath(%s) = %v, %v; want %s", kind, got, ok, want)
		}
	}
	for _, kind := range []string{"Service", "ConfigMap", ""} {
		if got, ok := PodSpecPath(kind); ok {
			t.Errorf("PodSpecPath(%s) = %v, want none", kind, got)
		}
	}
}
