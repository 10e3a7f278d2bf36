package testenv

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
)

var env *Env

func TestMain(m *testing.M) { Main(m, &env) }

// TestServerSideApplyRoundTrip proves the environment is a real API server:
// a server-side apply records the field manager in managedFields, which no
// fake clientset does.
func TestServerSideApplyRoundTrip(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	cm := applycorev1.ConfigMap("settings", ns).WithData(map[string]string{"mode": "fast"})
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "tidegate"}); err != nil {
		t.Fatalf("server-side apply: %v", err)
	}
	got, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got.Data["mode"] != "fast" {
		t.Errorf("data.mode = %q, want fast", got.Data["mode"])
	}
	var managers []string
	for _, mf := range got.ManagedFields {
		managers = append(managers, mf.Manager+"/"+string(mf.Operation))
	}
	if len(got.ManagedFields) != 1 || got.ManagedFields[0].Manager != "tidegate" || got.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields = %v, want exactly tidegate/Apply", managers)
	}
}

func TestNamespaceIsolation(t *testing.T) {
	a, b := env.Namespace(t), env.Namespace(t)
	if a == b {
		t.Fatalf("two calls returned the same namespace %q", a)
	}
	if _, err := env.Client().CoreV1().Namespaces().Get(context.Background(), a, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s not created: %v", a, err)
	}
}

func TestAddUserIsSubjectToRBAC(t *testing.T) {
	cfg, err := env.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	restricted, err := newClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = restricted.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a user with no RBAC binding created a ConfigMap; the server is not enforcing RBAC")
	}
}
