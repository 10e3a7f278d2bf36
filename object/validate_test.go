package object

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestValidate(t *testing.T) {
	mk := func(apiVersion, kind, ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		u          *unstructured.Unstructured
		namespaced bool
		want       string // "" when valid
	}{
		{mk("v1", "ConfigMap", "web", "cfg.v2"), true, ""},
		{mk("v1", "ConfigMap", "web", "Invalid_Name"), true, "DNS-1123 subdomain"},
		{mk("v1", "Secret", "web", "a/b"), true, "DNS-1123 subdomain"},
		{mk("v1", "Namespace", "", "has.dot"), false, "DNS-1123 label"},
		{mk("v1", "Namespace", "", long), false, "DNS-1123 label"},
		{mk("v1", "Service", "web", "1st"), true, ""}, // the relaxed rule: never stricter than a server with the gate on
		{mk("v1", "Service", "web", "a.b"), true, "DNS-1123 label"},
		{mk("apps/v1", "StatefulSet", "web", "a.b"), true, "DNS-1123 label"},
		{mk("apps/v1", "Deployment", "web", "a.b"), true, ""},
		{mk("rbac.authorization.k8s.io/v1", "ClusterRole", "", "system:controller:foo_bar"), false, ""},
		{mk("rbac.authorization.k8s.io/v1", "Role", "web", "Upper_Case"), true, ""},
		{mk("rbac.authorization.k8s.io/v1", "ClusterRole", "", "a/b"), false, "path segment"},
		{mk("rbac.authorization.k8s.io/v1", "ClusterRole", "", ".."), false, "path segment"},
		{mk("example.com/v1", "Widget", "web", "Mixed_Case:ok"), true, ""},
		{mk("example.com/v1", "Widget", "web", "50%"), true, "path segment"},
		{mk("v1", "ConfigMap", "Bad_NS", "cfg"), true, "metadata.namespace"},
		{mk("v1", "ConfigMap", "web", ""), true, "metadata.name is empty"},
		{mk("", "ConfigMap", "web", "cfg"), true, "apiVersion is empty"},
		{mk("a/b/c", "ConfigMap", "web", "cfg"), true, "apiVersion"},
		{mk("Bad_Group/v1", "Widget", "web", "w"), true, "API group"},
		{mk("v1", "Config_Map", "web", "cfg"), true, "kind"},
		{mk("v1", "", "web", "cfg"), true, "kind is empty"},
	} {
		err := Validate(tc.u, tc.namespaced)
		id := FromUnstructured(tc.u).String()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", id, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want one naming %q", id, err, tc.want)
		}
	}
}
