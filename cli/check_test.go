package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/sopstest"
)

func checkCmd(dir, inventoryNS string) *CheckCmd {
	return &CheckCmd{
		SourceFlags:    SourceFlags{Source: dir, Path: []string{"."}},
		InventoryFlags: InventoryFlags{InventoryNamespace: inventoryNS, InventoryName: "cli", InventoryKind: "ConfigMap"},
		PlanFlags:      PlanFlags{Prune: true, MaxPruneShare: 0.5, Concurrency: 4},
		Lease:          true,
	}
}

// asServiceAccount points g at the test API server as the ServiceAccount
// tidegate of ns, through the kubeconfig's impersonation (as:), the way
// deploy_test reconciles as the CronJob's identity.
func asServiceAccount(t *testing.T, g *Globals, ns string) {
	t.Helper()
	cfg, err := clientcmd.Load(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":tidegate"
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.Kubeconfig, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// grantIn binds a Role in ns with verbs on resources to the
// ServiceAccount tidegate of saNS.
func grantIn(t *testing.T, saNS, ns string, resources, verbs []string) {
	t.Helper()
	ctx := context.Background()
	rbac := env.Client().RbacV1()
	if _, err := rbac.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tidegate"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"", "coordination.k8s.io"}, Resources: resources, Verbs: verbs}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tidegate"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "tidegate"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tidegate", Namespace: saNS}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRBACAsAdminAndAsServiceAccount(t *testing.T) {
	ctx := context.Background()
	home, other := env.Namespace(t), env.Namespace(t)
	dir := cliRepo(t, home, "one")
	b := cliRepo(t, other, "two")
	data, _ := os.ReadFile(filepath.Join(b, "cm.yaml"))
	os.WriteFile(filepath.Join(dir, "other.yaml"), data, 0o644)
	grantIn(t, home, home, []string{"configmaps", "leases"}, []string{"get", "list", "create", "patch", "update", "delete"})
	grantIn(t, home, other, []string{"configmaps"}, []string{"get", "list"})

	t.Run("admin", func(t *testing.T) {
		g, out := clusterGlobals(t, "text")
		var got Summary
		g.Sinks = []Sink{SinkFunc(func(_ context.Context, s Summary) error { got = s; return nil })}
		err := checkCmd(dir, home).Run(ctx, g)
		g.Finish("check", err) // main's Execute publishes the summary
		if err != nil {
			t.Fatalf("check as admin: %v\n%s", err, out)
		}
		t.Logf("\n%s", out)
		for _, want := range []string{"✔ git: ", "✔ cluster: https://", " v1.34.1\n", "✔ identity: ", "✔ render: 2 objects from .",
			"✔ inventory: ConfigMap " + home + "/cli: none yet", "✔ namespace: exist: ", "✔ rbac: may get,list,create,patch,delete configmaps in namespace " + other,
			"✔ rbac: may get,create,update leases.coordination.k8s.io in namespace " + home, "✔ registry: no image policies"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(out.String(), "✗") {
			t.Error("a ✗ line as admin")
		}
		if got.Command != "check" || got.Counts["failed"] != 0 || got.Counts["ok"] < 8 || got.Err != nil {
			t.Errorf("summary = %+v", got)
		}
	})

	t.Run("service account", func(t *testing.T) {
		g, out := clusterGlobals(t, "text")
		asServiceAccount(t, g, home)
		var got Summary
		g.Sinks = []Sink{SinkFunc(func(_ context.Context, s Summary) error { got = s; return nil })}
		err := checkCmd(dir, home).Run(ctx, g)
		g.Finish("check", err)
		t.Logf("\n%s", out)
		if Code(err) != ExitFailure {
			t.Fatalf("exit %d (%v), want 1", Code(err), err)
		}
		for _, want := range []string{
			"✔ identity: system:serviceaccount:" + home + ":tidegate",
			"✔ rbac: may get,list,create,patch,delete configmaps in namespace " + home + " (for objects, inventory)",
			"✗ rbac: cannot create,patch,delete configmaps in namespace " + other + " (for objects) — grant create,patch,delete on configmaps to system:serviceaccount:" + home + ":tidegate",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Count(out.String(), "✗") != 1 {
			t.Errorf("want exactly one ✗ line")
		}
		if got.Counts["failed"] != 1 || got.Err == nil || !strings.Contains(got.Markdown, "| ✗ | rbac |") {
			t.Errorf("summary = %+v", got)
		}
	})

	t.Run("json", func(t *testing.T) {
		g, out := clusterGlobals(t, "json")
		asServiceAccount(t, g, home)
		c := checkCmd(dir, home)
		c.Prune = false // no delete needed: what is left is create,patch
		if err := c.Run(ctx, g); Code(err) != ExitFailure {
			t.Fatalf("exit %d (%v)", Code(err), err)
		}
		var doc struct {
			OK     bool           `json:"ok"`
			Counts map[string]int `json:"counts"`
			Checks []struct {
				Name, Detail, Hint string
				OK                 bool
			} `json:"checks"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("--output json is not JSON: %v\n%s", err, out)
		}
		var failed []string
		for _, c := range doc.Checks {
			if !c.OK {
				failed = append(failed, c.Name+": "+c.Detail)
			}
		}
		if doc.OK || doc.Counts["failed"] != 1 || len(failed) != 1 || !strings.HasPrefix(failed[0], "rbac: cannot create,patch configmaps in namespace "+other) {
			t.Errorf("json = %s", out)
		}
	})
}

func TestCheckSOPSKeys(t *testing.T) {
	ctx := context.Background()
	key := sopstest.NewAgeKey(t)
	dir := t.TempDir()
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: hunter2-in-git\n"
	os.WriteFile(filepath.Join(dir, "secret.yaml"), sopstest.EncryptYAML(t, key.Recipient().String(), []byte(plain)), 0o644)
	keyFile := filepath.Join(t.TempDir(), "keys.agekey")
	os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600)
	wrongFile := filepath.Join(t.TempDir(), "wrong.agekey")
	os.WriteFile(wrongFile, []byte(sopstest.NewAgeKey(t).String()+"\n"), 0o600)

	for _, tc := range []struct {
		name  string
		keys  []string
		code  int
		wants []string
	}{
		{"right key", []string{keyFile}, ExitOK, []string{"✔ sops: decrypted with the given keys: secret.yaml", "✔ render: 1 object from ."}},
		{"no key", nil, ExitFailure, []string{"✗ sops: secret.yaml: cannot decrypt: it is encrypted for age " + key.Recipient().String(), "✗ render: stopped at the SOPS files"}},
		{"wrong key", []string{wrongFile}, ExitFailure, []string{"✗ sops: secret.yaml: cannot decrypt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, out, errb := testGlobals("text")
			c := &CheckCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"."}}, KeyFlags: KeyFlags{AgeKeyFile: tc.keys}, SkipCluster: true, SkipImages: true}
			err := c.Run(ctx, g)
			if Code(err) != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", Code(err), err, tc.code, out)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out.String(), "cluster") || strings.Contains(out.String(), "rbac") {
				t.Errorf("--skip-cluster still checked the cluster:\n%s", out)
			}
			for _, secret := range []string{"hunter2-in-git", "AGE-SECRET-KEY"} {
				if strings.Contains(out.String()+errb.String(), secret) {
					t.Errorf("the output shows %s", secret)
				}
			}
		})
	}
}

func TestCheckRegistriesAndSource(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Unix(1, 0), "1.0.0", "1.2.0")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	run := func(c *CheckCmd) (string, error) {
		g, out, _ := testGlobals("text")
		err := c.Run(ctx, g)
		return out.String(), err
	}
	up := &CheckCmd{SourceFlags: SourceFlags{Source: imagesRepo(t, reg.Host()), Path: []string{"flux"}}, SkipCluster: true}
	if out, err := run(up); err != nil || !strings.Contains(out, "✔ registry: "+reg.Host()+"/team/app: 2 tags (for ImagePolicy flux-system:app)") {
		t.Errorf("reachable registry: %v\n%s", err, out)
	}
	down := &CheckCmd{SourceFlags: SourceFlags{Source: imagesRepo(t, closed), Path: []string{"flux"}}, SkipCluster: true}
	if out, err := run(down); Code(err) != ExitFailure || !strings.Contains(out, "✗ registry: "+closed+"/team/app (for ImagePolicy flux-system:app): ") || !strings.Contains(out, "connection refused") {
		t.Errorf("unreachable registry: exit %d\n%s", Code(err), out)
	}
	down.SkipImages = true
	if out, err := run(down); err != nil || strings.Contains(out, "registry") {
		t.Errorf("--skip-images: %v\n%s", err, out)
	}

	missing := &CheckCmd{SourceFlags: SourceFlags{Source: filepath.Join(t.TempDir(), "gone"), Path: []string{"."}}, SkipCluster: true}
	out, err := run(missing)
	if Code(err) != ExitFailure || !strings.HasPrefix(out, "✗ git: ") || strings.Contains(out, "render") {
		t.Errorf("missing source: exit %d\n%s", Code(err), out)
	}
}
