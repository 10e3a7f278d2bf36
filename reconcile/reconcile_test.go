package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/prune"
	"github.com/tidegate/tidegate/reconcile"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// repo is a plain YAML directory the tests edit between runs.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	return &repo{t: t, dir: t.TempDir()}
}

func (r *repo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, "apps", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) remove(name string) {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.dir, "apps", name)); err != nil {
		r.t.Fatal(err)
	}
}

func configMap(ns, name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  value: %q\n", name, ns, value)
}

func options(t *testing.T, r *repo, ns string, mod ...func(*reconcile.Options)) reconcile.Options {
	o := reconcile.Options{
		Source:    "test",
		Root:      r.dir,
		Paths:     []string{"apps"},
		Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "inventory"},
		Prune:     true,
		Drift:     reconcile.DriftRevert,
	}
	for _, m := range mod {
		m(&o)
	}
	return o
}

func run(t *testing.T, o reconcile.Options) (*reconcile.Report, error) {
	t.Helper()
	r, err := reconcile.New(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background())
}

// actions maps "Kind/ns/name" to the action taken, leaving unchanged
// objects out so the tables stay short.
func actions(rep *reconcile.Report) map[string]reconcile.Action {
	out := map[string]reconcile.Action{}
	for _, e := range rep.Objects {
		out[e.Object()] = e.Action
	}
	return out
}

func getConfigMap(t *testing.T, ns, name string) (*corev1.ConfigMap, bool) {
	t.Helper()
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm, true
}

func TestCreateNoopChangePrune(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	r.write("b.yaml", configMap(ns, "b", "1"))
	r.write("c.yaml", configMap(ns, "c", "1"))
	o := options(t, r, ns)

	rep, err := run(t, o)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	want := map[string]reconcile.Action{
		"ConfigMap/" + ns + "/a": reconcile.Created,
		"ConfigMap/" + ns + "/b": reconcile.Created,
		"ConfigMap/" + ns + "/c": reconcile.Created,
	}
	if d := cmp.Diff(want, actions(rep)); d != "" {
		t.Fatalf("first run (-want +got):\n%s", d)
	}
	before, _ := getConfigMap(t, ns, "a")
	invBefore, _ := getConfigMap(t, ns, o.Inventory.Name)

	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	for k := range want {
		want[k] = reconcile.Unchanged
	}
	if d := cmp.Diff(want, actions(rep)); d != "" {
		t.Fatalf("no-op run (-want +got):\n%s", d)
	}
	after, _ := getConfigMap(t, ns, "a")
	if before.ResourceVersion != after.ResourceVersion {
		t.Errorf("a no-op run wrote ConfigMap a: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
	if invAfter, _ := getConfigMap(t, ns, o.Inventory.Name); invBefore.ResourceVersion != invAfter.ResourceVersion {
		t.Errorf("a no-op run wrote the inventory: resourceVersion %s -> %s", invBefore.ResourceVersion, invAfter.ResourceVersion)
	}

	r.write("a.yaml", configMap(ns, "a", "2"))
	r.remove("c.yaml")
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("third run: %v", err)
	}
	want = map[string]reconcile.Action{
		"ConfigMap/" + ns + "/a": reconcile.Configured,
		"ConfigMap/" + ns + "/b": reconcile.Unchanged,
		"ConfigMap/" + ns + "/c": reconcile.Deleted,
	}
	if d := cmp.Diff(want, actions(rep)); d != "" {
		t.Fatalf("change run (-want +got):\n%s", d)
	}
	if cm, _ := getConfigMap(t, ns, "a"); cm.Data["value"] != "2" {
		t.Errorf("ConfigMap a value = %q, want 2", cm.Data["value"])
	}
	if _, ok := getConfigMap(t, ns, "c"); ok {
		t.Error("ConfigMap c was removed from Git but still exists")
	}

	// The inventory lists exactly what Git has now, at the revision given.
	inv, err := inventory.NewStore(dynamicClient(t), o.Inventory, "tidegate/test").Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range inv.Members {
		got = append(got, id.String())
	}
	if d := cmp.Diff([]string{"ConfigMap/" + ns + "/a", "ConfigMap/" + ns + "/b"}, got); d != "" {
		t.Errorf("inventory members (-want +got):\n%s", d)
	}
}

func TestNothingIsPrunedAfterAFailedRender(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	r.write("b.yaml", configMap(ns, "b", "1"))
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}

	r.remove("b.yaml")
	r.write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: "+ns+"\ndata: [unclosed\n")
	rep, err := run(t, o)
	if err == nil {
		t.Fatal("a broken file rendered without error")
	}
	if !strings.Contains(err.Error(), "a.yaml") {
		t.Errorf("the error does not name the broken file: %v", err)
	}
	if n := rep.Counts[reconcile.Deleted]; n != 0 {
		t.Errorf("report says %d deleted after a failed render", n)
	}
	if _, ok := getConfigMap(t, ns, "b"); !ok {
		t.Error("ConfigMap b was pruned although the render failed")
	}
}

func TestNothingIsPrunedAfterAFailedApply(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	r.write("b.yaml", configMap(ns, "b", "1"))
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}

	// b leaves Git while a new object is rejected by the API server's
	// validation (a ConfigMap key may not contain a space).
	r.remove("b.yaml")
	r.write("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: "+ns+"\ndata:\n  \"not a key\": x\n")
	rep, err := run(t, o)
	if err == nil {
		t.Fatal("an invalid object applied without error")
	}
	if !strings.Contains(err.Error(), "ConfigMap/"+ns+"/bad") {
		t.Errorf("the error does not name the object: %v", err)
	}
	if n := rep.Counts[reconcile.Deleted]; n != 0 {
		t.Errorf("report says %d deleted after a failed apply", n)
	}
	if _, ok := getConfigMap(t, ns, "b"); !ok {
		t.Error("ConfigMap b was pruned although an apply failed")
	}

	// Once Git is fixed, the next run prunes b: it was kept in the inventory.
	r.remove("bad.yaml")
	rep, err = run(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep)["ConfigMap/"+ns+"/b"]; got != reconcile.Deleted {
		t.Errorf("b after the fix: %q, want deleted", got)
	}
}

func TestDriftReportWritesNothing(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "from git"))
	r.write("b.yaml", configMap(ns, "b", "1"))
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}

	// Someone edits a by hand; Git also changes b.
	patch := []byte(`{"data":{"value":"by hand"}}`)
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(context.Background(), "a", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	r.write("b.yaml", configMap(ns, "b", "2"))

	o.Drift = reconcile.DriftReport
	rep, err := run(t, o)
	if !errors.Is(err, reconcile.ErrDrift) {
		t.Fatalf("err = %v, want ErrDrift", err)
	}
	var drifted []reconcile.Entry
	for _, e := range rep.Objects {
		if e.Action == reconcile.Drifted {
			drifted = append(drifted, e)
		}
	}
	if len(drifted) != 1 || drifted[0].Object() != "ConfigMap/"+ns+"/a" {
		t.Fatalf("drifted entries = %+v, want ConfigMap a only", drifted)
	}
	if !strings.Contains(drifted[0].Diff, "by hand") || !strings.Contains(drifted[0].Diff, "from git") {
		t.Errorf("the drift diff does not show both values:\n%s", drifted[0].Diff)
	}
	if cm, _ := getConfigMap(t, ns, "a"); cm.Data["value"] != "by hand" {
		t.Errorf("drift was reverted under --drift=report: value = %q", cm.Data["value"])
	}
	if cm, _ := getConfigMap(t, ns, "b"); cm.Data["value"] != "1" {
		t.Errorf("--drift=report with drift still applied b: value = %q", cm.Data["value"])
	}

	// With revert, the same run applies Git over the drift.
	o.Drift = reconcile.DriftRevert
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	if cm, _ := getConfigMap(t, ns, "a"); cm.Data["value"] != "from git" {
		t.Errorf("drift not reverted: value = %q", cm.Data["value"])
	}
}

func TestDryRunLeavesNoTrace(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	o := options(t, r, ns, func(o *reconcile.Options) { o.DryRun = true })
	rep, err := run(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep)["ConfigMap/"+ns+"/a"]; got != reconcile.Created {
		t.Errorf("dry-run action = %q, want created", got)
	}
	if _, ok := getConfigMap(t, ns, "a"); ok {
		t.Error("a dry-run created ConfigMap a")
	}
	if _, ok := getConfigMap(t, ns, "inventory"); ok {
		t.Error("a dry-run wrote the inventory")
	}
}

func TestImageAutomationObjectsAreNotApplied(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	r.write("policy.yaml", "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata:\n  name: web\n  namespace: "+ns+"\nspec:\n  imageRepositoryRef:\n    name: web\n  policy:\n    semver:\n      range: 1.x\n")
	rep, err := run(t, options(t, r, ns))
	if err != nil {
		t.Fatalf("the CRD of ImagePolicy is not installed, so applying it would fail: %v", err)
	}
	if got := actions(rep)["ImagePolicy.image.toolkit.fluxcd.io/"+ns+"/web"]; got != reconcile.Skipped {
		t.Errorf("ImagePolicy action = %q, want skipped", got)
	}
}

func TestAllowNamespaceRefusesBeforeAnyWrite(t *testing.T) {
	ns := env.Namespace(t)
	other := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	r.write("b.yaml", configMap(other, "b", "1"))
	o := options(t, r, ns, func(o *reconcile.Options) { o.AllowNamespaces = []string{ns} })
	_, err := run(t, o)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/"+other+"/b") || !strings.Contains(err.Error(), "--allow-namespace") {
		t.Fatalf("err = %v, want a refusal naming ConfigMap %s/b and --allow-namespace", err, other)
	}
	if _, ok := getConfigMap(t, ns, "a"); ok {
		t.Error("the allowed object was applied although the run was refused")
	}

	// The Namespace exists already (the test made it), so it is adopted
	// explicitly: tidegate takes over no existing object unasked.
	r.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n  annotations:\n    tidegate.dev/adopt: enabled\n")
	r.remove("b.yaml")
	if _, err := run(t, o); err == nil || !strings.Contains(err.Error(), "cluster-scoped") {
		t.Fatalf("a Namespace was not refused: %v", err)
	}
	o.AllowClusterScoped = true
	if _, err := run(t, o); err != nil {
		t.Fatalf("with --allow-cluster-scoped: %v", err)
	}
}

func TestEmptyRenderIsNotAMassDeletion(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	r.remove("a.yaml")
	r.write("README.md", "nothing to apply here\n")
	if _, err := run(t, o); !errors.Is(err, prune.ErrMassPrune) {
		t.Fatalf("err = %v, want ErrMassPrune", err)
	}
	if _, ok := getConfigMap(t, ns, "a"); !ok {
		t.Fatal("an empty render deleted everything")
	}
	o.AllowMassPrune = true
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	if _, ok := getConfigMap(t, ns, "a"); ok {
		t.Error("--allow-mass-prune did not prune")
	}
}

func TestDiffShowsChangesAndPrunes(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("a.yaml", configMap(ns, "a", "1"))
	r.write("b.yaml", configMap(ns, "b", "1"))
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	r.write("a.yaml", configMap(ns, "a", "2"))
	r.remove("b.yaml")
	r.write("c.yaml", configMap(ns, "c", "1"))

	rec, err := reconcile.New(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rec.Diff(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]reconcile.Action{
		"ConfigMap/" + ns + "/a": reconcile.Configured,
		"ConfigMap/" + ns + "/b": reconcile.Deleted,
		"ConfigMap/" + ns + "/c": reconcile.Created,
	}
	if d := cmp.Diff(want, actions(rep)); d != "" {
		t.Fatalf("diff actions (-want +got):\n%s", d)
	}
	if !rep.Changed() {
		t.Error("Changed() = false for a diff with changes")
	}
	for _, e := range rep.Objects {
		if e.Object() == "ConfigMap/"+ns+"/a" && !strings.Contains(e.Diff, `"2"`) && !strings.Contains(e.Diff, "2") {
			t.Errorf("diff of a does not show the new value:\n%s", e.Diff)
		}
	}
	// Diff wrote nothing.
	if cm, _ := getConfigMap(t, ns, "a"); cm.Data["value"] != "1" {
		t.Error("diff changed ConfigMap a")
	}
	if _, ok := getConfigMap(t, ns, "b"); !ok {
		t.Error("diff deleted ConfigMap b")
	}
}

func dynamicClient(t *testing.T) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

func TestCustomResourceWithItsDefinitionInOneRun(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	group := strings.ReplaceAll(ns, "-", "") + ".tidegate.dev"
	r.write("crd.yaml", `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.`+group+`
spec:
  group: `+group+`
  names: {kind: Gizmo, plural: gizmos}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)
	r.write("gizmo.yaml", "apiVersion: "+group+"/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: "+ns+"\nspec:\n  size: 1\n")
	o := options(t, r, ns)
	rep, err := run(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep)["Gizmo."+group+"/"+ns+"/g"]; got != reconcile.Created {
		t.Fatalf("Gizmo: %q, want created (actions %v)", got, actions(rep))
	}
	rep, err = run(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep)["Gizmo."+group+"/"+ns+"/g"]; got != reconcile.Unchanged {
		t.Errorf("second run: Gizmo %q, want unchanged", got)
	}
}
