package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fluxRepo writes a Flux repository: clusters/c holds a tenant's
// Kustomization (ServiceAccount tenant of tns) whose path holds a
// ConfigMap and a Service in tns, and an app Kustomization that depends on it.
func fluxRepo(t *testing.T, tns string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"clusters/c/units.yaml": fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: team, namespace: %[1]s}
spec: {interval: 10m, path: ./team, prune: true, serviceAccountName: tenant, sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: app, namespace: %[1]s}
spec: {interval: 10m, path: ./app, prune: true, dependsOn: [{name: team}], sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}}
`, tns),
		"team/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team-cm, namespace: " + tns + "}\ndata: {a: b}\n",
		"team/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: team-svc, namespace: " + tns + "}\nspec: {ports: [{port: 80}]}\n",
		"app/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-cm, namespace: " + tns + "}\ndata: {a: b}\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tenantRBAC gives ServiceAccount tenant of ns every verb on ConfigMaps
// in ns, and nothing on Services.
func tenantRBAC(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	cs := env.Client()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "tenant"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tenant", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestFluxCommands: check, diff, reconcile and render on a Flux
// repository, per unit. check asks the API server as the tenant's
// ServiceAccount and finds what it may not do; reconcile fails that unit,
// skips the one that depends on it, and says so in text and JSON.
func TestFluxCommands(t *testing.T) {
	ctx := context.Background()
	ns, tns := env.Namespace(t), env.Namespace(t)
	tenantRBAC(t, tns)
	dir := fluxRepo(t, tns)

	t.Run("check", func(t *testing.T) {
		g, out := clusterGlobals(t, "text")
		c := checkCmd(dir, ns)
		c.Path, c.SkipImages = []string{"clusters/c"}, true
		err := c.Run(ctx, g)
		t.Logf("\n%s", out)
		if Code(err) != ExitFailure {
			t.Fatalf("exit %d (%v), want 1", Code(err), err)
		}
		for _, want := range []string{
			"✔ unit " + tns + "/team: team renders 2 objects from the run's repository",
			"✔ unit " + tns + "/team rbac: may get,list,create,patch,delete configmaps in namespace " + tns,
			"✗ unit " + tns + "/team rbac: cannot get,list,create,patch,delete services in namespace " + tns,
			"system:serviceaccount:" + tns + ":tenant",
			"✔ unit " + tns + "/app: app renders 1 objects",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("check output lacks %q", want)
			}
		}
		if strings.Contains(out.String(), "kustomizations.kustomize.toolkit.fluxcd.io") {
			t.Error("check asks for access to Flux's Kustomizations, which a Flux run never writes")
		}
	})

	t.Run("diff", func(t *testing.T) {
		g, out := clusterGlobals(t, "text")
		d := &DiffCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"clusters/c"}}, InventoryFlags: InventoryFlags{InventoryNamespace: ns, InventoryName: "cli", InventoryKind: "ConfigMap"}, PlanFlags: PlanFlags{Prune: true, MaxPruneShare: 0.5, Concurrency: 4}}
		err := d.Run(ctx, g)
		if Code(err) != ExitChanges && Code(err) != ExitFailure {
			t.Fatalf("diff: exit %d (%v)", Code(err), err)
		}
		for _, want := range []string{"unit " + tns + "/team (team): failed", "is forbidden: User \"system:serviceaccount:" + tns + ":tenant\"", "unit " + tns + "/app (app): skipped (depends on " + tns + "/team, which failed)", "3 units: 1 diffed, 1 failed, 1 skipped"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("diff output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("reconcile json", func(t *testing.T) {
		g, out := clusterGlobals(t, "json")
		r := reconcileCmd(dir, ns)
		r.Path, r.Lease, r.Wait = []string{"clusters/c"}, false, false
		err := r.Run(ctx, g)
		if Code(err) != ExitFailure {
			t.Fatalf("exit %d (%v), want 1: the tenant may not create its Service", Code(err), err)
		}
		var doc struct {
			Units []struct{ Name, Status, Reason string }
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, u := range doc.Units {
			got[u.Name] = u.Status + " " + u.Reason
		}
		if !strings.HasPrefix(got[tns+"/team"], "failed ") || !strings.Contains(got[tns+"/team"], "forbidden") {
			t.Errorf("team: %q, want failed (forbidden)", got[tns+"/team"])
		}
		if !strings.HasPrefix(got[tns+"/app"], "skipped depends on "+tns+"/team") {
			t.Errorf("app: %q, want skipped because of team", got[tns+"/app"])
		}
	})

	t.Run("render tree", func(t *testing.T) {
		g, out := clusterGlobals(t, "text")
		rc := &RenderCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"clusters/c"}}, Tree: true}
		if err := rc.Run(ctx, g); err != nil {
			t.Fatalf("render --tree: %v", err)
		}
		// Units in the order they run: app depends on team.
		want := ". (clusters/c)\n" +
			"├── Kustomization/" + tns + "/team (team)\n" +
			"│   ├── ConfigMap/" + tns + "/team-cm\n" +
			"│   └── Service/" + tns + "/team-svc\n" +
			"└── Kustomization/" + tns + "/app (app)\n" +
			"    └── ConfigMap/" + tns + "/app-cm\n"
		if out.String() != want {
			t.Errorf("render --tree:\n%s\nwant:\n%s", out, want)
		}
	})
}
