package reconcile_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/prune"
	"github.com/tidegate/tidegate/reconcile"
)

// writeRecorder records every request that is not a read, to prove that
// a refused run wrote nothing at all, inventory included. Server-side
// dry-runs (what diff sends) change nothing and are left out.
type writeRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeRecorder) RoundTrip(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.URL.Query().Get("dryRun") != "All" {
			w.mu.Lock()
			w.writes = append(w.writes, r.Method+" "+r.URL.Path)
			w.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

func (w *writeRecorder) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recorded runs (or diffs) with a configuration that records writes.
func recorded(t *testing.T, o reconcile.Options, diff bool) (*reconcile.Report, error, []string) {
	t.Helper()
	w := &writeRecorder{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = w.RoundTrip
	r, err := reconcile.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	var rep *reconcile.Report
	if diff {
		rep, err = r.Diff(context.Background())
	} else {
		rep, err = r.Run(context.Background())
	}
	return rep, err, w.get()
}

func wantRefusal(t *testing.T, err error, writes []string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the run succeeded, want a refusal naming %q", fragments)
	}
	t.Logf("refused: %v", err)
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("the refusal does not say %q:\n%v", f, err)
		}
	}
	if len(writes) > 0 {
		t.Errorf("a refused run wrote: %v", writes)
	}
}

func entryOf(rep *reconcile.Report, object string) reconcile.Entry {
	for _, e := range rep.Objects {
		if e.Object() == object {
			return e
		}
	}
	return reconcile.Entry{}
}

func TestHostileOwnership(t *testing.T) {
	ctx := context.Background()
	cms := func(ns string) interface {
		Create(context.Context, *corev1.ConfigMap, metav1.CreateOptions) (*corev1.ConfigMap, error)
	} {
		return env.Client().CoreV1().ConfigMaps(ns)
	}

	t.Run("unowned object from kubectl apply", func(t *testing.T) {
		ns := env.Namespace(t)
		// What `kubectl apply` leaves: the last-applied annotation and the
		// client-side-apply field manager.
		theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}}, Data: map[string]string{"value": "their data"}}
		if _, err := cms(ns).Create(ctx, theirs, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
			t.Fatal(err)
		}
		before, _ := getConfigMap(t, ns, "theirs")
		r := newRepo(t)
		r.write("ours.yaml", configMap(ns, "ours", "1"))
		r.write("theirs.yaml", configMap(ns, "theirs", "from git"))
		o := options(t, r, ns)

		rep, err, writes := recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/theirs", "kubectl-client-side-apply", "applied with kubectl apply", "--adopt", prune.AdoptAnnotation, "nothing was written")
		if got := entryOf(rep, "ConfigMap/"+ns+"/theirs").Action; got != reconcile.Failed {
			t.Errorf("report: theirs is %q, want failed", got)
		}
		if _, ok := getConfigMap(t, ns, "ours"); ok {
			t.Error("the new object was created although the run was refused")
		}
		if _, ok := getConfigMap(t, ns, o.Inventory.Name); ok {
			t.Error("the inventory was written although the run was refused")
		}
		if after, _ := getConfigMap(t, ns, "theirs"); after.ResourceVersion != before.ResourceVersion {
			t.Error("the refused object was written")
		}

		// diff shows the same refusal, and with --adopt what it would adopt.
		rep, err, writes = recorded(t, o, true)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/theirs", "tidegate diff --adopt")
		if got := entryOf(rep, "ConfigMap/"+ns+"/ours").Action; got != reconcile.Created {
			t.Errorf("diff: ours is %q, want created next to the refusal", got)
		}
		o.Adopt = true
		rep, err, _ = recorded(t, o, true)
		if err != nil {
			t.Fatalf("diff --adopt: %v", err)
		}
		if e := entryOf(rep, "ConfigMap/"+ns+"/theirs"); e.Action != reconcile.Adopted || !strings.Contains(e.Diff, "from git") {
			t.Errorf("diff --adopt: theirs = %+v, want adopted with a diff", e)
		}

		rep, err = run(t, o)
		if err != nil {
			t.Fatalf("--adopt: %v", err)
		}
		if e := entryOf(rep, "ConfigMap/"+ns+"/theirs"); e.Action != reconcile.Adopted || !strings.Contains(e.Reason, "kubectl-client-side-apply") {
			t.Errorf("--adopt: theirs = %+v, want adopted, naming whom from", e)
		}
		if !rep.Changed() {
			t.Error("a run that adopted reports no change")
		}
		var text strings.Builder
		rep.WriteText(&text, false)
		if !strings.Contains(text.String(), "1 adopted") {
			t.Errorf("text report:\n%s", text.String())
		}
		cm, _ := getConfigMap(t, ns, "theirs")
		if cm.Labels[inventory.PartOfLabel] != o.Inventory.ID() || cm.Data["value"] != "from git" {
			t.Errorf("after adoption: labels %v, data %v", cm.Labels, cm.Data)
		}

		// Now a member: no --adopt needed, and removing it from Git prunes it.
		o.Adopt = false
		if rep, err = run(t, o); err != nil || entryOf(rep, "ConfigMap/"+ns+"/theirs").Action != reconcile.Unchanged {
			t.Fatalf("after adoption: %v %+v", err, rep.Objects)
		}
		r.remove("theirs.yaml")
		if rep, err = run(t, o); err != nil || entryOf(rep, "ConfigMap/"+ns+"/theirs").Action != reconcile.Deleted {
			t.Fatalf("an adopted object removed from Git: %v %+v", err, rep.Objects)
		}
	})

	t.Run("annotation adopts one object", func(t *testing.T) {
		ns := env.Namespace(t)
		for _, name := range []string{"annotated", "other"} {
			if _, err := cms(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"value": "made by hand"}}, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
				t.Fatal(err)
			}
		}
		r := newRepo(t)
		r.write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: annotated\n  namespace: "+ns+"\n  annotations:\n    tidegate.dev/adopt: enabled\ndata:\n  value: git\n")
		r.write("b.yaml", configMap(ns, "other", "git"))
		o := options(t, r, ns)
		rep, err, writes := recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/other", "kubectl-create")
		if strings.Contains(err.Error(), "ConfigMap/"+ns+"/annotated") {
			t.Errorf("the annotated object was refused: %v", err)
		}
		r.remove("b.yaml")
		rep, err = run(t, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := entryOf(rep, "ConfigMap/"+ns+"/annotated").Action; got != reconcile.Adopted {
			t.Errorf("annotated: %q, want adopted", got)
		}
		// Adopting takes over the fields Git sets from their manager.
		if cm, _ := getConfigMap(t, ns, "annotated"); cm.Data["value"] != "git" {
			t.Errorf("annotated after adoption: %v", cm.Data)
		}
		if cm, _ := getConfigMap(t, ns, "other"); cm.Labels[inventory.PartOfLabel] != "" {
			t.Error("the object without the annotation was taken over")
		}
	})

	t.Run("member of another inventory", func(t *testing.T) {
		ns := env.Namespace(t)
		theirRepo := newRepo(t)
		theirRepo.write("shared.yaml", configMap(ns, "shared", "theirs"))
		theirRepo.write("keep.yaml", configMap(ns, "keep", "theirs"))
		theirs := options(t, theirRepo, ns, func(o *reconcile.Options) { o.Inventory.Name = "team-a" })
		if _, err := run(t, theirs); err != nil {
			t.Fatal(err)
		}
		r := newRepo(t)
		r.write("shared.yaml", configMap(ns, "shared", "ours"))
		o := options(t, r, ns, func(o *reconcile.Options) { o.Inventory.Name = "team-b" })
		_, err, writes := recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/shared", "another inventory", theirs.Inventory.ID(), "--force")
		o.Adopt = true
		_, err, writes = recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/shared", "not even with --adopt")
		if cm, _ := getConfigMap(t, ns, "shared"); cm.Data["value"] != "theirs" {
			t.Error("--adopt took another inventory's object")
		}

		o.Adopt, o.Force = false, true
		rep, err, _ := recorded(t, o, true)
		if err != nil || entryOf(rep, "ConfigMap/"+ns+"/shared").Action != reconcile.Adopted {
			t.Fatalf("diff --force: %v %+v", err, rep.Objects)
		}
		rep, err = run(t, o)
		if err != nil {
			t.Fatalf("--force: %v", err)
		}
		if e := entryOf(rep, "ConfigMap/"+ns+"/shared"); e.Action != reconcile.Adopted || !strings.Contains(e.Reason, theirs.Inventory.ID()) {
			t.Errorf("--force: %+v, want adopted from the other inventory", e)
		}
		// The other inventory's next run, which no longer has it in Git,
		// does not delete what is now ours.
		theirRepo.remove("shared.yaml")
		rep, err = run(t, theirs)
		if err != nil {
			t.Fatal(err)
		}
		if got := entryOf(rep, "ConfigMap/"+ns+"/shared").Action; got != reconcile.Skipped {
			t.Errorf("the other inventory's prune: %q, want skipped", got)
		}
		if cm, ok := getConfigMap(t, ns, "shared"); !ok || cm.Data["value"] != "ours" {
			t.Error("the other inventory deleted or changed the object taken from it")
		}
	})

	t.Run("Flux-labelled object", func(t *testing.T) {
		ns := env.Namespace(t)
		body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-flux","namespace":"` + ns + `","labels":{"kustomize.toolkit.fluxcd.io/name":"apps","kustomize.toolkit.fluxcd.io/namespace":"flux-system"}},"data":{"value":"flux"}}`
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(ctx, "from-flux", types.ApplyPatchType, []byte(body), metav1.PatchOptions{FieldManager: "kustomize-controller"}); err != nil {
			t.Fatal(err)
		}
		r := newRepo(t)
		r.write("cm.yaml", configMap(ns, "from-flux", "flux"))
		o := options(t, r, ns)
		_, err, writes := recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/from-flux", "kustomize-controller", "Flux Kustomization flux-system/apps", "flux suspend kustomization apps -n flux-system", "--adopt")
		o.Adopt = true
		rep, err := run(t, o)
		if err != nil {
			t.Fatalf("--adopt: %v", err)
		}
		if got := entryOf(rep, "ConfigMap/"+ns+"/from-flux").Action; got != reconcile.Adopted {
			t.Errorf("from-flux: %q, want adopted", got)
		}
	})

	t.Run("existing Namespace", func(t *testing.T) {
		ns := env.Namespace(t)
		r := newRepo(t)
		// "default" always exists and nobody's inventory holds it.
		r.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels:\n    team: hostile\n")
		_, err, writes := recorded(t, options(t, r, ns), false)
		wantRefusal(t, err, writes, "Namespace/default", "--adopt")
		live, err := env.Client().CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		if err != nil || live.Labels["team"] != "" || live.Labels[inventory.PartOfLabel] != "" {
			t.Errorf("the default Namespace was written: %v %v", err, live.Labels)
		}
	})
}

func TestHostileInventory(t *testing.T) {
	ctx := context.Background()

	t.Run("prune keeps members outside --allow-namespace", func(t *testing.T) {
		ns := env.Namespace(t)
		other := env.Namespace(t)
		role := "tidegate-test-" + ns
		r := newRepo(t)
		r.write("a.yaml", configMap(ns, "a", "1"))
		r.write("gone.yaml", configMap(ns, "gone", "1"))
		r.write("b.yaml", configMap(other, "b", "1"))
		r.write("role.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: "+role+"\nrules: []\n")
		o := options(t, r, ns)
		if _, err := run(t, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.Client().RbacV1().ClusterRoles().Delete(ctx, role, metav1.DeleteOptions{}) })
		r.remove("gone.yaml")
		r.remove("b.yaml")
		r.remove("role.yaml")
		o.AllowNamespaces = []string{ns}
		o.AllowMassPrune = true
		rep, err := run(t, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := entryOf(rep, "ConfigMap/"+ns+"/gone").Action; got != reconcile.Deleted {
			t.Errorf("gone (allowed namespace): %q, want deleted", got)
		}
		for id, want := range map[string]string{"ConfigMap/" + other + "/b": "outside the allowed namespaces", "ClusterRole.rbac.authorization.k8s.io/" + role: "cluster-scoped"} {
			if e := entryOf(rep, id); e.Action != reconcile.Skipped || !strings.Contains(e.Reason, want) || !strings.Contains(e.Reason, "kept in the inventory") {
				t.Errorf("%s: %+v, want skipped saying %q", id, e, want)
			}
		}
		if _, ok := getConfigMap(t, other, "b"); !ok {
			t.Error("a member outside --allow-namespace was deleted")
		}
		if _, err := env.Client().RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); err != nil {
			t.Errorf("a cluster-scoped member was deleted without --allow-cluster-scoped: %v", err)
		}
		inv, err := inventory.NewStore(dynamicClient(t), o.Inventory, "tidegate/test").Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var members []string
		for _, id := range inv.Members {
			members = append(members, id.String())
		}
		got := strings.Join(members, " ")
		if !strings.Contains(got, "ConfigMap/"+other+"/b") || !strings.Contains(got, role) || strings.Contains(got, "/gone") {
			t.Errorf("inventory members: %s", got)
		}
		// A run allowed there prunes them.
		o.AllowNamespaces = nil
		if rep, err = run(t, o); err != nil || entryOf(rep, "ConfigMap/"+other+"/b").Action != reconcile.Deleted {
			t.Fatalf("an unrestricted run: %v %+v", err, rep.Objects)
		}
	})

	t.Run("Invalid_Name", func(t *testing.T) {
		ns := env.Namespace(t)
		r := newRepo(t)
		r.write("good.yaml", configMap(ns, "good", "1"))
		r.write("bad.yaml", configMap(ns, "Invalid_Name", "1"))
		r.write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web.v2\n  namespace: "+ns+"\nspec:\n  ports: [{port: 80}]\n")
		o := options(t, r, ns)
		_, err, writes := recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap/"+ns+"/Invalid_Name", "apps/bad.yaml", "DNS-1123 subdomain", "Service/"+ns+"/web.v2", "apps/svc.yaml", "DNS-1123 label")
		if _, ok := getConfigMap(t, ns, o.Inventory.Name); ok {
			t.Error("the inventory was written for a render with invalid names")
		}
		if _, ok := getConfigMap(t, ns, "good"); ok {
			t.Error("a valid object was applied next to invalid ones")
		}
	})

	t.Run("names the API server accepts are not refused and read back", func(t *testing.T) {
		ns := env.Namespace(t)
		role := "system:tidegate-test_" + ns + ":x_y"
		r := newRepo(t)
		r.write("role.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: "+role+"\nrules: []\n")
		r.write("rb.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: Mixed_Case\n  namespace: "+ns+"\nrules: []\n")
		o := options(t, r, ns)
		if _, err := run(t, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.Client().RbacV1().ClusterRoles().Delete(ctx, role, metav1.DeleteOptions{}) })
		rep, err := run(t, o)
		if err != nil {
			t.Fatalf("the second run could not read the inventory back: %v", err)
		}
		if got := entryOf(rep, "ClusterRole.rbac.authorization.k8s.io/"+role).Action; got != reconcile.Unchanged {
			t.Errorf("second run: %q, want unchanged", got)
		}
		// And a prune finds it by its inventory entry.
		r.remove("role.yaml")
		if rep, err = run(t, o); err != nil || entryOf(rep, "ClusterRole.rbac.authorization.k8s.io/"+role).Action != reconcile.Deleted {
			t.Fatalf("prune of %s: %v %+v", role, err, rep.Objects)
		}
		if _, err := env.Client().RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the ClusterRole still exists: %v", err)
		}
	})

	t.Run("corrupt inventory and its repair", func(t *testing.T) {
		ns := env.Namespace(t)
		r := newRepo(t)
		r.write("a.yaml", configMap(ns, "a", "1"))
		r.write("b.yaml", configMap(ns, "b", "1"))
		o := options(t, r, ns)
		if _, err := run(t, o); err != nil {
			t.Fatal(err)
		}
		inv, _ := getConfigMap(t, ns, o.Inventory.Name)
		inv.Data["members"] += "\ngarbage-by-hand\n" + ns + "__ConfigMap"
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Update(ctx, inv, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		r.remove("b.yaml")
		_, err, writes := recorded(t, o, false)
		wantRefusal(t, err, writes, "ConfigMap "+ns+"/"+o.Inventory.Name, "garbage-by-hand", "line 3", "tidegate reconcile --repair-inventory --inventory-kind ConfigMap --inventory-namespace "+ns+" --inventory-name "+o.Inventory.Name, "kubectl -n "+ns+" edit configmap "+o.Inventory.Name)
		if _, ok := getConfigMap(t, ns, "b"); !ok {
			t.Error("b was pruned from a corrupt inventory")
		}
		_, err, writes = recorded(t, o, true)
		wantRefusal(t, err, writes, "--repair-inventory")

		o.RepairInventory = true
		rep, err := run(t, o)
		if err != nil {
			t.Fatalf("--repair-inventory: %v", err)
		}
		if got := entryOf(rep, "ConfigMap/"+ns+"/b").Action; got != reconcile.Deleted {
			t.Errorf("b after the repair: %q, want deleted (its member entry was readable)", got)
		}
		repaired, _ := getConfigMap(t, ns, o.Inventory.Name)
		if strings.Contains(repaired.Data["members"], "garbage") || !strings.Contains(repaired.Data["members"], ns+"_a__ConfigMap") {
			t.Errorf("repaired members:\n%s", repaired.Data["members"])
		}
		o.RepairInventory = false
		if _, err := run(t, o); err != nil {
			t.Fatalf("a run after the repair, without the flag: %v", err)
		}
	})
}

// TestDiffOnAFreshClusterShowsNewNamespaces: a dry-run creates no
// Namespace, so the server cannot dry-run what goes into one; diff and
// reconcile --dry-run show those objects as to be created.
func TestDiffOnAFreshClusterShowsNewNamespaces(t *testing.T) {
	ns := env.Namespace(t)
	fresh := "fresh-" + ns
	r := newRepo(t)
	r.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+fresh+"\n")
	r.write("a.yaml", configMap(fresh, "a", "1"))
	r.write("b.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: "+fresh+"\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n")
	r.write("missing.yaml", configMap("nowhere-"+ns, "c", "1"))
	o := options(t, r, ns)

	// A namespace that neither exists nor comes in the run stays an error.
	_, err, _ := recorded(t, o, true)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/nowhere-"+ns+"/c") {
		t.Fatalf("diff into a namespace nobody creates: %v", err)
	}
	r.remove("missing.yaml")
	for _, diff := range []bool{true, false} {
		o.DryRun = !diff
		rep, err, writes := recorded(t, o, diff)
		if err != nil {
			t.Fatalf("diff=%v: %v", diff, err)
		}
		for _, id := range []string{"Namespace/" + fresh, "ConfigMap/" + fresh + "/a", "Deployment/" + fresh + "/web"} {
			if got := entryOf(rep, id).Action; got != reconcile.Created {
				t.Errorf("diff=%v: %s is %q, want created", diff, id, got)
			}
		}
		if diff && !strings.Contains(entryOf(rep, "ConfigMap/"+fresh+"/a").Diff, "+  value:") {
			t.Errorf("diff of a: %q", entryOf(rep, "ConfigMap/"+fresh+"/a").Diff)
		}
		if !rep.Changed() {
			t.Errorf("diff=%v: no changes reported", diff)
		}
		if len(writes) > 0 {
			t.Errorf("diff=%v wrote %v", diff, writes)
		}
	}
	if _, err := env.Client().CoreV1().Namespaces().Get(context.Background(), fresh, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the fresh namespace exists after a diff and a dry-run: %v", err)
	}
}
