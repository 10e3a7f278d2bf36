package fleet_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/reconcile"
)

// tenant gives the ServiceAccount sa of ns every verb on ConfigMaps in
// ns, and nothing else: the namespaced RBAC of a Flux tenant.
func tenant(t *testing.T, ns, sa string) {
	t.Helper()
	ctx := context.Background()
	cs := env.Client()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestHostileTenantUnit: a unit with spec.serviceAccountName reads and
// writes as that ServiceAccount. Inside its RBAC it applies; a unit of
// the same tenant that writes into another namespace fails with the API
// server's refusal, and nothing is written there, although the run's own
// credentials could have.
func TestHostileTenantUnit(t *testing.T) {
	ns := env.Namespace(t)
	tns := env.Namespace(t)
	other := env.Namespace(t)
	tenant(t, tns, "tenant")
	r := newRepo(t)
	r.write("clusters/test/tenants.yaml", kustomization(tns, "team", "./team", "  serviceAccountName: tenant\n")+"---\n"+
		kustomization(tns, "escape", "./escape", "  serviceAccountName: tenant\n"))
	r.write("team/cm.yaml", configMap(tns, "team-cm", "1"))
	r.write("escape/cm.yaml", configMap(other, "planted", "1"))

	rep, err := run(t, options(r, ns))
	if err == nil {
		t.Fatal("a tenant unit wrote outside its namespace")
	}
	if got := statuses(rep)[tns+"/team"]; got != reconcile.UnitReconciled {
		t.Errorf("tenant unit inside its RBAC: %q (%s)", got, unit(rep, tns+"/team").Reason)
	}
	esc := unit(rep, tns+"/escape")
	if esc.Status != reconcile.UnitFailed {
		t.Fatalf("escaping unit: %q, want failed", esc.Status)
	}
	if !strings.Contains(esc.Reason, "system:serviceaccount:"+tns+":tenant") {
		t.Errorf("the refusal does not say who was refused: %q", esc.Reason)
	}
	if !exists(t, tns, "team-cm") {
		t.Error("the tenant's own object was not applied")
	}
	if exists(t, other, "planted") {
		t.Error("the escaping unit's object exists in the other namespace")
	}
}
