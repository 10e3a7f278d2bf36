package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/reconcile"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: never-ready
  namespace: NS
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: registry.example.com/x:1
`

// TestFleetHealthChecks: spec.healthChecks waits for the objects it names
// only (a Deployment that never becomes ready, the test API server has no
// controllers, is not waited for); spec.wait waits for every object, so
// the same unit fails as not ready after its spec.timeout, and the unit
// that depends on it is skipped.
func TestFleetHealthChecks(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "checked", "./app", "  healthChecks:\n    - apiVersion: v1\n      kind: ConfigMap\n      name: ready-cm\n"))
	r.write("app/cm.yaml", configMap(ns, "ready-cm", "1"))
	r.write("app/deploy.yaml", strings.ReplaceAll(deployment, "NS", ns))
	wait := func(o *fleet.Options) { o.Run.Wait, o.Run.Timeout = true, time.Minute }
	rep, err := run(t, options(r, ns, wait))
	if err != nil {
		t.Fatalf("healthChecks on a ready ConfigMap: %v (%s)", err, unit(rep, ns+"/checked").Reason)
	}
	if len(rep.NotReady) != 0 {
		t.Errorf("objects the healthChecks do not name were waited for: %v", rep.NotReady)
	}

	r.write("clusters/test/units.yaml", kustomization(ns, "checked", "./app", "  wait: true\n  timeout: 1s\n")+"---\n"+
		kustomization(ns, "after", "./after", "  dependsOn:\n    - name: checked\n"))
	r.write("after/cm.yaml", configMap(ns, "after-cm", "1"))
	start := time.Now()
	rep, err = run(t, options(r, ns, wait))
	if err == nil {
		t.Fatal("spec.wait: a Deployment that never becomes ready did not fail its unit")
	}
	if d := time.Since(start); d > 50*time.Second {
		t.Errorf("the unit waited %s; its spec.timeout (Flux's floor of 30s) bounds it", d)
	}
	u := unit(rep, ns+"/checked")
	if u.Status != reconcile.UnitFailed || !strings.Contains(u.Reason, "not ready") {
		t.Errorf("unit checked: %s (%s), want failed: not ready", u.Status, u.Reason)
	}
	if got := statuses(rep)[ns+"/after"]; got != reconcile.UnitSkipped {
		t.Errorf("the dependent of a unit that is not ready: %q, want skipped", got)
	}
}

// TestFleetDecryptionSecretRef: a unit with spec.decryption.secretRef
// decrypts its SOPS files with the keys of that Secret, read from the
// cluster, although the run was given none; a unit without it cannot.
func TestFleetDecryptionSecretRef(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	key := sopstest.NewAgeKey(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-age"}, Data: map[string][]byte{"age.agekey": []byte(key.String() + "\n")}}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	enc := sopstest.EncryptYAML(t, key.Recipient().String(), []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\n  namespace: "+ns+"\nstringData:\n  token: decrypted-by-unit-key\n"))
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "withkeys", "./secret", "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n")+"---\n"+
		kustomization(ns, "nokeys", "./other", ""))
	r.write("secret/secret.yaml", string(enc))
	r.write("other/secret.yaml", string(enc))
	rep, err := run(t, options(r, ns))
	if err == nil {
		t.Fatal("a unit without keys decrypted a SOPS file")
	}
	if got := statuses(rep)[ns+"/withkeys"]; got != reconcile.UnitReconciled {
		t.Fatalf("unit withkeys: %q (%s)", got, unit(rep, ns+"/withkeys").Reason)
	}
	if u := unit(rep, ns+"/nokeys"); u.Status != reconcile.UnitFailed || !strings.Contains(u.Reason, "secret.yaml") {
		t.Errorf("unit nokeys: %s (%s), want failed naming the file", u.Status, u.Reason)
	}
	got, err := env.Client().CoreV1().Secrets(ns).Get(ctx, "app-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["token"]) != "decrypted-by-unit-key" {
		t.Errorf("the Secret holds %q", got.Data["token"])
	}
}
