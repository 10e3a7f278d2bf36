package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/reconcile"
)

// TestFleetRemoteClusterUnit: a unit with spec.kubeConfig.secretRef
// applies to the cluster of that kubeconfig (hub and spoke), and its
// inventory lives there; the hub gets nothing of it.
func TestFleetRemoteClusterUnit(t *testing.T) {
	spoke, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spoke.Stop() })
	ctx := context.Background()
	ns := env.Namespace(t)
	// The same namespace on the spoke, where the unit applies.
	if _, err := spoke.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "spoke-kubeconfig"}, Data: map[string][]byte{"value": spoke.Kubeconfig}}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	r.write("clusters/test/spoke.yaml", kustomization(ns, "spoke", "./spoke", "  kubeConfig:\n    secretRef:\n      name: spoke-kubeconfig\n"))
	r.write("spoke/cm.yaml", configMap(ns, "on-spoke", "1"))

	rep, err := run(t, options(r, ns))
	if err != nil {
		t.Fatalf("run: %v (%s)", err, unit(rep, ns+"/spoke").Reason)
	}
	if got := statuses(rep)[ns+"/spoke"]; got != reconcile.UnitReconciled {
		t.Fatalf("spoke unit: %q", got)
	}
	for _, name := range []string{"on-spoke", "tidegate.spoke"} {
		if _, err := spoke.Client().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s on the spoke: %v", name, err)
		}
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s on the hub: %v, want not found", name, err)
		}
	}
}

// TestHostileKubeconfigSecret: a kubeconfig Secret that would make
// tidegate run a program (exec, auth-provider) or read the machine's
// files is refused before any program runs or file is read, and the unit
// fails alone.
func TestHostileKubeconfigSecret(t *testing.T) {
	canary := filepath.Join(t.TempDir(), "ran")
	cases := map[string]string{
		"exec": `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "touch ` + canary + `"]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
		"auth-provider": `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {auth-provider: {name: gcp, config: {cmd-path: /bin/sh}}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
		"token-file": `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {tokenFile: /etc/shadow}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
		"ca-file": `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority: /etc/ssl/private/key.pem}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
	}
	for name, kc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := env.Namespace(t)
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kc"}, Data: map[string][]byte{"value": []byte(kc)}}
			if _, err := env.Client().CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			r := newRepo(t)
			r.write("clusters/test/units.yaml", kustomization(ns, "remote", "./remote", "  kubeConfig:\n    secretRef:\n      name: kc\n")+"---\n"+
				kustomization(ns, "local", "./local", ""))
			r.write("remote/cm.yaml", configMap(ns, "remote-cm", "1"))
			r.write("local/cm.yaml", configMap(ns, "local-cm", "1"))
			rep, err := run(t, options(r, ns))
			if err == nil {
				t.Fatal("the run succeeded")
			}
			u := unit(rep, ns+"/remote")
			if u.Status != reconcile.UnitFailed || !strings.Contains(u.Reason, "spec.kubeConfig.secretRef") {
				t.Errorf("remote unit: %s (%s), want failed naming spec.kubeConfig.secretRef", u.Status, u.Reason)
			}
			if strings.Contains(u.Reason, "abc") {
				t.Errorf("the reason quotes the kubeconfig's token: %s", u.Reason)
			}
			if got := statuses(rep)[ns+"/local"]; got != reconcile.UnitReconciled {
				t.Errorf("the other unit: %q, want reconciled", got)
			}
			if _, err := os.Stat(canary); !os.IsNotExist(err) {
				t.Fatalf("the kubeconfig's program ran (%v)", err)
			}
		})
	}
}
