package check_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/check"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/images/scan"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// text is what tidegate check would print for rs.
func text(t *testing.T, rs []check.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := check.WriteText(&b, rs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestResultLines(t *testing.T) {
	rs := []check.Result{
		{Name: "cluster", OK: true, Detail: "https://10.0.0.1:6443 v1.34.1", Hint: "never shown for ✔"},
		{Name: "render", Detail: "a.yaml:3: invalid YAML\nb.yaml:1: no kind", Hint: "fix them"},
	}
	want := "✔ cluster: https://10.0.0.1:6443 v1.34.1\n✗ render: a.yaml:3: invalid YAML\n    b.yaml:1: no kind — fix them\n"
	if got := text(t, rs); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	if check.Failed(rs) != 1 {
		t.Errorf("Failed = %d", check.Failed(rs))
	}
}

func TestGit(t *testing.T) {
	_, err := source.Open(context.Background(), filepath.Join(t.TempDir(), "missing"))
	r := check.Git(nil, err)
	if r.OK || !strings.Contains(r.Detail, "missing") || r.Hint == "" {
		t.Errorf("missing source: %+v", r)
	}
	dir := t.TempDir()
	co, err := source.Open(context.Background(), dir)
	if r := check.Git(co, err); !r.OK || !strings.Contains(r.Detail, dir) {
		t.Errorf("plain directory: %+v", r)
	}
}

const secret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
stringData:
  password: pl41ntext-s3cret
`

func TestRenderReportsEverySOPSFile(t *testing.T) {
	key := sopstest.NewAgeKey(t)
	other := sopstest.NewAgeKey(t)
	root := writeTree(t, map[string]string{
		"apps/db.yaml":               string(sopstest.EncryptYAML(t, key.Recipient().String(), []byte(secret))),
		"apps/cm.yaml":               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: shop}\n",
		"kust/kustomization.yaml":    "resources: [secret.yaml]\n",
		"kust/secret.yaml":           string(sopstest.EncryptYAML(t, other.Recipient().String(), []byte(strings.Replace(secret, "name: db", "name: api", 1)))),
		"broken/x.yaml":              "kind: [\n",
		"plain/nothing-secret/a.yml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n",
	})
	ctx := context.Background()
	keys := render.Keys{Age: []string{key.String()}}

	t.Run("the right key", func(t *testing.T) {
		res, rs := check.Render(ctx, root, []string{"apps"}, render.Options{Keys: keys})
		out := text(t, rs)
		if res == nil || check.Failed(rs) != 0 || !strings.Contains(out, "✔ sops: decrypted with the given keys: apps/db.yaml") || !strings.Contains(out, "✔ render: 2 objects from apps") {
			t.Errorf("results:\n%s", out)
		}
	})
	t.Run("no encrypted file", func(t *testing.T) {
		_, rs := check.Render(ctx, root, []string{"plain"}, render.Options{})
		if out := text(t, rs); check.Failed(rs) != 0 || !strings.Contains(out, "✔ sops: no SOPS-encrypted files") {
			t.Errorf("results:\n%s", out)
		}
	})
	t.Run("a missing key names the file once", func(t *testing.T) {
		res, rs := check.Render(ctx, root, []string{"apps", "kust"}, render.Options{Keys: keys})
		out := text(t, rs)
		t.Logf("\n%s", out)
		if res != nil {
			t.Error("a failed render returned objects")
		}
		for _, want := range []string{"✔ sops: decrypted with the given keys: apps/db.yaml", "✗ sops: kust/secret.yaml: cannot decrypt", other.Recipient().String(), "✗ render: stopped at the SOPS files"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Count(out, "kust/secret.yaml") != 1 {
			t.Errorf("kust/secret.yaml is reported %d times, want once", strings.Count(out, "kust/secret.yaml"))
		}
	})
	t.Run("no key at all, and a broken file", func(t *testing.T) {
		_, rs := check.Render(ctx, root, []string{"apps", "broken"}, render.Options{})
		out := text(t, rs)
		for _, want := range []string{"✗ sops: apps/db.yaml: cannot decrypt", "✗ render: broken/x.yaml:1"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "✔ sops") {
			t.Errorf("a ✔ sops line without any decrypted file:\n%s", out)
		}
	})
	t.Run("plaintext never shows", func(t *testing.T) {
		for _, k := range []render.Keys{keys, {}, {Age: []string{other.String()}}} {
			_, rs := check.Render(ctx, root, []string{"apps", "kust"}, render.Options{Keys: k})
			if out := fmt.Sprintf("%+v", rs); strings.Contains(out, "pl41ntext") || strings.Contains(out, "AGE-SECRET-KEY") {
				t.Errorf("a result shows a secret:\n%s", out)
			}
		}
	})
}

func TestRegistries(t *testing.T) {
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/app", time.Unix(1, 0), "1.0.0", "1.1.0")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	policy := func(name, image string) string {
		return fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: %[1]s, namespace: flux-system}
spec: {image: %[2]s}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: %[1]s, namespace: flux-system}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: 1.x}}
`, name, image)
	}
	dir := writeTree(t, map[string]string{
		"up.yaml":   policy("up", reg.Host()+"/team/app"),
		"down.yaml": policy("down", closed+"/team/app"),
		// A helm-operator HelmRelease keeping the tag apart: the
		// registry asked is the repository's, not the tag's.
		"release.yaml": `apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: r
  namespace: apps
  annotations: {fluxcd.io/automated: "true"}
spec:
  values:
    image: {repository: ` + reg.Host() + `/team/app, tag: 1.0.0}
`,
		"orphan.yaml": `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: orphan, namespace: flux-system}
spec:
  imageRepositoryRef: {name: nowhere}
  policy: {semver: {range: 1.x}}
`,
	})
	src, err := images.Load(dir)
	rs := check.Registries(context.Background(), src, err, scan.Options{Retry: scan.Retry{Attempts: 1}})
	out := text(t, rs)
	t.Logf("\n%s", out)
	for _, want := range []string{
		"✔ registry: " + reg.Host() + "/team/app: 2 tags (for ImagePolicy flux-system:up, HelmRelease.helm.fluxcd.io/apps/r (Flux v1 automation))",
		"✗ registry: " + closed + "/team/app (for ImagePolicy flux-system:down): ",
		"✗ registry: ImagePolicy flux-system:orphan (orphan.yaml:1) refers to ImageRepository flux-system:nowhere",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if check.Failed(rs) != 2 {
		t.Errorf("%d failed, want 2", check.Failed(rs))
	}

	empty, err := images.Load(t.TempDir())
	if rs := check.Registries(context.Background(), empty, err, scan.Options{}); len(rs) != 1 || !rs[0].OK {
		t.Errorf("no policies: %+v", rs)
	}
}

// saConfig impersonates a ServiceAccount, as deploy_test does: what the
// API server decides for it is what the CronJob would get.
func saConfig(ns string) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":tidegate",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	return cfg
}

// grant lets the ServiceAccount tidegate of saNS use verbs on resources
// in ns.
func grant(t *testing.T, saNS, ns string, resources, verbs []string) {
	t.Helper()
	ctx := context.Background()
	rbac := env.Client().RbacV1()
	name := "tidegate-" + saNS
	if _, err := rbac.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"", "apps", "coordination.k8s.io"}, Resources: resources, Verbs: verbs}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tidegate", Namespace: saNS}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

type clients struct {
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func connect(t *testing.T, cfg *rest.Config) clients {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clients{cs, dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))}
}

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}}}
	if ns != "" {
		u.SetNamespace(ns)
	}
	return u
}

func TestClusterAndIdentity(t *testing.T) {
	ctx := context.Background()
	admin := connect(t, env.Config)
	r := check.Cluster(env.Config.Host, admin.cs.Discovery())
	if !r.OK || r.Detail != env.Config.Host+" "+testenv.KubeVersion {
		t.Errorf("cluster: %+v", r)
	}
	who, r := check.Identity(ctx, connect(t, saConfig("team")).cs.AuthenticationV1().SelfSubjectReviews())
	if who != "system:serviceaccount:team:tidegate" || !r.OK || !strings.Contains(r.Detail, "system:serviceaccounts:team") {
		t.Errorf("identity: %q %+v", who, r)
	}

	// Nothing listens: the check fails with the address and a hint.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	host := "https://" + l.Addr().String()
	l.Close()
	down := connect(t, &rest.Config{Host: host, Timeout: 5 * time.Second})
	if r := check.Cluster(host, down.cs.Discovery()); r.OK || !strings.Contains(r.Detail, host) || r.Hint == "" {
		t.Errorf("unreachable cluster: %+v", r)
	}
}

func TestInventory(t *testing.T) {
	ctx := context.Background()
	admin := connect(t, env.Config)
	ns := env.Namespace(t)
	inv, r := check.Inventory(ctx, admin.dyn, admin.cs.CoreV1().Namespaces(), inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "fleet"}, "tidegate/test")
	if inv == nil || !r.OK || !strings.Contains(r.Detail, "none yet") {
		t.Errorf("new inventory: %+v", r)
	}
	_, r = check.Inventory(ctx, admin.dyn, admin.cs.CoreV1().Namespaces(), inventory.Parent{Kind: "ConfigMap", Namespace: "no-such-namespace", Name: "fleet"}, "tidegate/test")
	if r.OK || !strings.Contains(r.Detail, "namespace no-such-namespace does not exist") || !strings.Contains(r.Hint, "--inventory-namespace") {
		t.Errorf("missing namespace: %+v", r)
	}

	// An inventory edited by hand: the hint is reconcile's repair advice,
	// with the flags that select this (non-default) inventory.
	parent := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "fleet"}
	if err := inventory.NewStore(admin.dyn, parent, "tidegate/test").Save(ctx, &inventory.Inventory{ID: parent.ID(), Members: []object.ID{{Kind: "ConfigMap", Namespace: ns, Name: "a"}}}); err != nil {
		t.Fatal(err)
	}
	cm, err := admin.cs.CoreV1().ConfigMaps(ns).Get(ctx, "fleet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["members"] += "\ngarbage-by-hand"
	if _, err := admin.cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	inv, r = check.Inventory(ctx, admin.dyn, admin.cs.CoreV1().Namespaces(), parent, "tidegate/test")
	if inv != nil || r.OK || !strings.Contains(r.Detail, "garbage-by-hand") || r.Hint != parent.RepairAdvice() {
		t.Errorf("corrupt inventory: %+v", r)
	}
	for _, want := range []string{"tidegate reconcile --repair-inventory --inventory-kind ConfigMap --inventory-namespace " + ns + " --inventory-name fleet", "kubectl -n " + ns + " edit configmap fleet"} {
		if !strings.Contains(r.Hint, want) {
			t.Errorf("corrupt inventory's hint lacks %q: %s", want, r.Hint)
		}
	}
}

func TestAccessAsServiceAccount(t *testing.T) {
	ctx := context.Background()
	home, other := env.Namespace(t), env.Namespace(t)
	grant(t, home, home, []string{"configmaps", "leases", "deployments"}, []string{"get", "list", "create", "patch", "update", "delete"})
	grant(t, home, other, []string{"configmaps"}, []string{"get", "list"})

	objs := []*unstructured.Unstructured{
		obj("v1", "ConfigMap", home, "a"),
		obj("apps/v1", "Deployment", home, "web"),
		obj("v1", "ConfigMap", other, "b"),
		obj("image.toolkit.fluxcd.io/v1beta2", "ImagePolicy", "elsewhere", "ignored"),
	}
	r := check.Reconcile{Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: home, Name: "fleet"}, Prune: true, Lease: true}
	sa := connect(t, saConfig(home))
	needs, rs := check.Needs(objs, sa.mapper, r, nil)
	if len(rs) != 0 {
		t.Fatalf("needs: unexpected results %+v", rs)
	}
	results := check.Access(ctx, sa.cs.AuthorizationV1().SelfSubjectAccessReviews(), needs, "system:serviceaccount:"+home+":tidegate")
	out := text(t, results)
	t.Logf("\n%s", out)
	for _, want := range []string{
		"✔ rbac: may get,list,create,patch,delete configmaps in namespace " + home + " (for objects, inventory)",
		"✔ rbac: may get,list,create,patch,delete deployments.apps in namespace " + home + " (for objects)",
		"✔ rbac: may get,create,update leases.coordination.k8s.io in namespace " + home + " (for lease)",
		"✗ rbac: cannot create,patch,delete configmaps in namespace " + other + " (for objects) — grant create,patch,delete on configmaps to system:serviceaccount:" + home + ":tidegate",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if check.Failed(results) != 1 || strings.Contains(out, "elsewhere") {
		t.Errorf("want exactly the one ✗ line, and nothing about image automation")
	}

	// The same render as admin: every line ✔.
	admin := connect(t, env.Config)
	needs, _ = check.Needs(objs, admin.mapper, r, nil)
	if results := check.Access(ctx, admin.cs.AuthorizationV1().SelfSubjectAccessReviews(), needs, ""); check.Failed(results) != 0 {
		t.Errorf("admin:\n%s", text(t, results))
	}
}

func TestNeedsKindsScopeAndPrune(t *testing.T) {
	ns := env.Namespace(t)
	crd := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com")
	crd.Object["spec"] = map[string]any{"group": "example.com", "scope": "Namespaced", "names": map[string]any{"kind": "Widget", "plural": "widgets"}}
	objs := []*unstructured.Unstructured{
		crd,
		obj("example.com/v1", "Widget", ns, "w"),
		obj("example.com/v1", "Gadget", ns, "g"),
		obj("v1", "ConfigMap", "", "defaulted"),
		obj("v1", "ConfigMap", "forbidden-ns", "x"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cr"),
	}
	prev := &inventory.Inventory{Members: []object.ID{
		{Kind: "ConfigMap", Namespace: "default", Name: "defaulted"},
		{Kind: "Secret", Namespace: ns, Name: "gone"},
	}}
	admin := connect(t, env.Config)
	r := check.Reconcile{Inventory: inventory.Parent{Kind: "Secret", Namespace: ns, Name: "fleet"}, Prune: true,
		AllowNamespaces: []string{ns, "default"}, AllowClusterScoped: false}
	needs, rs := check.Needs(objs, admin.mapper, r, prev)
	out := text(t, rs)
	t.Logf("\n%s", out)
	for _, want := range []string{
		"✗ kind: the cluster does not know Gadget (example.com/v1) of Gadget.example.com/" + ns + "/g — install its CustomResourceDefinition",
		"✗ scope: cluster-scoped CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com, ClusterRole.rbac.authorization.k8s.io/cr outside --allow-namespace",
		"✗ scope: ConfigMap/forbidden-ns/x in namespace forbidden-ns, which --allow-namespace does not list — add --allow-namespace forbidden-ns",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	got := map[string]check.Need{}
	for _, n := range needs {
		got[n.Resource.String()+" "+n.Namespace] = n
	}
	if n, ok := got["widgets.example.com "+ns]; !ok || !n.NewKind {
		t.Errorf("the Widget, whose CRD is in the render, is not a new kind in %s: %+v", ns, needs)
	}
	if n := got["configmaps default"]; strings.Join(n.Verbs, ",") != "get,list,create,patch,delete" {
		t.Errorf("a ConfigMap without namespace goes to default with reconcile's verbs: %+v", n)
	}
	if n := got["secrets "+ns]; strings.Join(n.Verbs, ",") != "get,create,patch,delete" || strings.Join(n.For, ",") != "inventory,prune" {
		t.Errorf("inventory Secret and the pruned Secret: %+v", n)
	}
	if _, ok := got["leases.coordination.k8s.io "+ns]; ok {
		t.Error("a lease is needed although Lease is off")
	}

	// The Widget's line says it comes with this reconcile.
	results := check.Access(context.Background(), admin.cs.AuthorizationV1().SelfSubjectAccessReviews(), needs, "")
	if out := text(t, results); !strings.Contains(out, "✔ rbac: may get,list,create,patch,delete widgets.example.com in namespace "+ns+" (for objects; the kind is installed by this reconcile)") {
		t.Errorf("results:\n%s", out)
	}
}

func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	objs := []*unstructured.Unstructured{
		obj("v1", "ConfigMap", ns, "a"),
		obj("v1", "ConfigMap", "not-there", "b"),
		obj("v1", "Namespace", "", "fresh"),
		obj("v1", "ConfigMap", "fresh", "c"),
	}
	r := check.Reconcile{Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "fleet"}}
	admin := connect(t, env.Config)
	needs, _ := check.Needs(objs, admin.mapper, r, nil)
	rs := check.Namespaces(ctx, admin.cs.CoreV1().Namespaces(), objs, needs)
	if len(rs) != 1 || rs[0].OK || rs[0].Detail != "not-there does not exist, and the paths do not create it" {
		t.Errorf("missing namespace:\n%s", text(t, rs))
	}

	objs = append(objs[:1], objs[2:]...)
	needs, _ = check.Needs(objs, admin.mapper, r, nil)
	rs = check.Namespaces(ctx, admin.cs.CoreV1().Namespaces(), objs, needs)
	if out := text(t, rs); len(rs) != 1 || out != "✔ namespace: exist: "+ns+"; created by this reconcile: fresh\n" {
		t.Errorf("namespaces:\n%s", out)
	}

	// A namespaced tenant may not read namespaces: no verdict, no ✗.
	sa := connect(t, saConfig(ns))
	rs = check.Namespaces(ctx, sa.cs.CoreV1().Namespaces(), objs, needs)
	if out := text(t, rs); len(rs) != 1 || !rs[0].OK || !strings.Contains(out, "assumed to exist: "+ns) {
		t.Errorf("as a tenant:\n%s", out)
	}
}

// Needs decides with reconcile's step, so an object a reconcile refuses
// before any write is a ✗ here too, not access to grant.
func TestNeedsRefusesWhatReconcileRefuses(t *testing.T) {
	ns := env.Namespace(t)
	objs := []*unstructured.Unstructured{
		obj("v1", "ConfigMap", ns, "good"),
		obj("v1", "ConfigMap", ns, "Invalid_Name"),
	}
	r := check.Reconcile{Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "fleet"}}
	needs, rs := check.Needs(objs, connect(t, env.Config).mapper, r, nil)
	out := text(t, rs)
	if len(rs) != 1 || !strings.Contains(out, "✗ object: ConfigMap/"+ns+"/Invalid_Name") || !strings.Contains(out, "DNS-1123 subdomain") || !strings.Contains(out, "a reconcile refuses it before any write") {
		t.Errorf("results:\n%s", out)
	}
	for _, n := range needs {
		if n.Resource.Resource == "configmaps" && strings.Join(n.For, ",") != "objects,inventory" {
			t.Errorf("configmaps in %s for %v, want objects (the valid one) and inventory", n.Namespace, n.For)
		}
	}
}
