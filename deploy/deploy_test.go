// Package deploy_test applies the in-cluster manifests to a real API
// server and runs a reconcile as their ServiceAccount, to prove that the
// namespace-scoped RBAC is enough for a reconcile and no more.
package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func reconcileAs(t *testing.T, cfg *rest.Config, root string, paths []string, mod func(*reconcile.Options)) (*reconcile.Report, error) {
	t.Helper()
	o := reconcile.Options{
		Source: "test", Root: root, Paths: paths, Prune: true,
		Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: "tidegate-system", Name: "fleet"},
	}
	if mod != nil {
		mod(&o)
	}
	r, err := reconcile.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background())
}

func TestNamespacedRBACIsEnoughAndNoMore(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"shop", "billing"} {
		if _, err := env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Install tidegate the way a user would: a reconcile of deploy/ as admin.
	rep, err := reconcileAs(t, env.Config, ".", []string{"examples/namespaced"}, func(o *reconcile.Options) {
		o.Inventory = inventory.Parent{Kind: "ConfigMap", Namespace: "default", Name: "tidegate-install"}
	})
	if err != nil {
		t.Fatalf("installing deploy/examples/namespaced: %v", err)
	}
	if rep.Counts[reconcile.Created] < 6 {
		t.Fatalf("install created %d objects: %+v", rep.Counts[reconcile.Created], rep.Objects)
	}

	sa := rest.CopyConfig(env.Config)
	sa.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:tidegate-system:tidegate",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:tidegate-system", "system:authenticated"},
	}
	repo := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(repo, "apps", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  currency: EUR
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  replicas: 1
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      containers: [{name: cart, image: "registry.example/cart:1.0.0"}]
---
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
spec:
  selector: {app: cart}
  ports: [{port: 80}]
`)
	rep, err = reconcileAs(t, sa, repo, []string{"apps"}, func(o *reconcile.Options) { o.AllowNamespaces = []string{"shop"} })
	if err != nil {
		t.Fatalf("reconcile as the ServiceAccount in its namespace: %v", err)
	}
	if rep.Counts[reconcile.Created] != 3 {
		t.Errorf("created %d, want 3: %+v", rep.Counts[reconcile.Created], rep.Objects)
	}

	// Prune works with the same rights.
	os.Remove(filepath.Join(repo, "apps", "shop.yaml"))
	write("shop.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  currency: EUR\n")
	rep, err = reconcileAs(t, sa, repo, []string{"apps"}, func(o *reconcile.Options) {
		o.AllowNamespaces = []string{"shop"}
		o.AllowMassPrune = true
	})
	if err != nil || rep.Counts[reconcile.Deleted] != 2 {
		t.Fatalf("prune as the ServiceAccount: %v, report %+v", err, rep.Counts)
	}

	// Another namespace is forbidden by RBAC, even without --allow-namespace.
	write("billing.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: invoices\n  namespace: billing\n")
	_, err = reconcileAs(t, sa, repo, []string{"apps"}, nil)
	if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "ConfigMap/billing/invoices") {
		t.Fatalf("a write to billing: err = %v, want forbidden naming the object", err)
	}
	if _, err := env.Client().CoreV1().ConfigMaps("billing").Get(ctx, "invoices", metav1.GetOptions{}); err == nil {
		t.Error("the ServiceAccount wrote to a namespace it has no RoleBinding in")
	}
	// And a cluster-scoped object.
	os.Remove(filepath.Join(repo, "apps", "billing.yaml"))
	write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sneaky\n")
	if _, err = reconcileAs(t, sa, repo, []string{"apps"}, nil); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a Namespace: err = %v, want forbidden", err)
	}
}
