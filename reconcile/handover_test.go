package reconcile_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tidegate/tidegate/handover"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

// fluxApplied applies obj as kustomize-controller does: a server-side
// apply under its field manager, with force, with the labels of the Flux
// Kustomization ksNamespace/ksName (none when ksName is empty).
func fluxApplied(t *testing.T, ns, kind, name, ksNamespace, ksName, body string) types.UID {
	t.Helper()
	labels := "{}"
	if ksName != "" {
		b, _ := json.Marshal(handover.FluxLabels(ksNamespace, ksName))
		labels = string(b)
	}
	var raw []byte
	var err error
	force := true
	switch kind {
	case "ConfigMap":
		raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `","namespace":"` + ns + `","labels":` + labels + `},` + body + `}`)
		cm, e := env.Client().CoreV1().ConfigMaps(ns).Patch(context.Background(), name, types.ApplyPatchType, raw, metav1.PatchOptions{FieldManager: handover.FluxManager, Force: &force})
		if e == nil {
			return cm.UID
		}
		err = e
	case "Deployment":
		raw = []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + name + `","namespace":"` + ns + `","labels":` + labels + `},` + body + `}`)
		d, e := env.Client().AppsV1().Deployments(ns).Patch(context.Background(), name, types.ApplyPatchType, raw, metav1.PatchOptions{FieldManager: handover.FluxManager, Force: &force})
		if e == nil {
			return d.UID
		}
		err = e
	}
	t.Fatalf("apply %s/%s as kustomize-controller: %v", kind, name, err)
	return ""
}

func deployment(ns, name string, env ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\nspec:\n  selector: {matchLabels: {app: " + name + "}}\n  template:\n    metadata: {labels: {app: " + name + "}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n")
	if len(env) > 0 {
		b.WriteString("        env:\n")
		for _, e := range env {
			b.WriteString("        - {name: " + e + ", value: git}\n")
		}
	}
	return b.String()
}

// unitOptions are a Flux Kustomization unit's: adopt by its labels,
// take over kustomize-controller's fields.
func unitOptions(ksNamespace, ksName string) func(*reconcile.Options) {
	return func(o *reconcile.Options) {
		o.AdoptLabels = handover.FluxLabels(ksNamespace, ksName)
		o.TakeOverManagers = []string{handover.FluxManager}
	}
}

// TestFluxHandover: objects that kustomize-controller applied for the
// Kustomization flux-system/apps are adopted by that unit's reconcile
// without --adopt, kept (same UID, no conflict, nothing recreated), and
// from then on owned by tidegate's field manager: what Git drops is
// removed from them, while Flux's labels stay.
func TestFluxHandover(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	cmUID := fluxApplied(t, ns, "ConfigMap", "settings", "flux-system", "apps", `"data":{"mode":"flux","legacy":"flux"}`)
	depUID := fluxApplied(t, ns, "Deployment", "web", "flux-system", "apps", `"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.26","env":[{"name":"A","value":"flux"},{"name":"B","value":"flux"}]}]}}}`)

	r := newRepo(t)
	r.write("settings.yaml", configMap(ns, "settings", "git"))
	r.write("web.yaml", deployment(ns, "web", "A", "B"))
	o := options(t, r, ns, unitOptions("flux-system", "apps"))

	// Look first: the diff shows them adopted, with what the run will
	// change, the keys only Flux applied going included, and writes
	// nothing.
	rep, err, writes := recorded(t, o, true)
	if err != nil || len(writes) > 0 {
		t.Fatalf("diff: %v, writes %v", err, writes)
	}
	if e := entryOf(rep, "ConfigMap/"+ns+"/settings"); e.Action != reconcile.Adopted || !strings.Contains(e.Diff, "-  legacy: flux") || !strings.Contains(e.Diff, "+  value: git") || strings.Contains(e.Diff, "-    "+handover.NameLabel) {
		t.Errorf("diff of settings: %+v", e)
	}
	if e := entryOf(rep, "Deployment/"+ns+"/web"); e.Action != reconcile.Adopted || !strings.Contains(e.Diff, "+        image: nginx:1.27") {
		t.Errorf("diff of web: %+v", e)
	}

	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("handover run: %v", err)
	}
	for _, id := range []string{"ConfigMap/" + ns + "/settings", "Deployment/" + ns + "/web"} {
		e := entryOf(rep, id)
		if e.Action != reconcile.Adopted || !strings.Contains(e.Reason, "kustomize.toolkit.fluxcd.io/name=apps") || !strings.Contains(e.Reason, "kustomize-controller") {
			t.Errorf("%s: %+v, want adopted by the Flux labels, naming kustomize-controller", id, e)
		}
	}
	var text strings.Builder
	rep.WriteText(&text, false)
	if !strings.Contains(text.String(), "2 adopted") {
		t.Errorf("text report:\n%s", text.String())
	}

	cm, _ := getConfigMap(t, ns, "settings")
	if cm.UID != cmUID {
		t.Error("the ConfigMap was recreated")
	}
	if cm.Data["value"] != "git" || cm.Data["mode"] != "" || cm.Data["legacy"] != "" {
		t.Errorf("ConfigMap data %v, want only Git's value: keys only Flux had applied must go", cm.Data)
	}
	if cm.Labels[inventory.PartOfLabel] != o.Inventory.ID() || cm.Labels[handover.NameLabel] != "apps" || cm.Labels[handover.NamespaceLabel] != "flux-system" {
		t.Errorf("ConfigMap labels %v, want tidegate's part-of and Flux's labels kept", cm.Labels)
	}
	dep, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.UID != depUID {
		t.Error("the Deployment was recreated")
	}
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "nginx:1.27" {
		t.Errorf("image %s, want Git's nginx:1.27", got)
	}
	for _, mf := range dep.ManagedFields {
		if mf.Manager == handover.FluxManager && mf.Operation == metav1.ManagedFieldsOperationApply && strings.Contains(mf.FieldsV1.String(), "f:spec") {
			t.Errorf("kustomize-controller still owns spec fields: %s", mf.FieldsV1.String())
		}
	}
	if !ownsField(dep.ManagedFields, "tidegate", `"k:{\"name\":\"A\"}"`) {
		t.Errorf("tidegate does not own the env var A: %+v", dep.ManagedFields)
	}

	// A member now: the next run is a no-op, and a field removed from Git
	// is removed from the live object.
	rep, err = run(t, o)
	if err != nil || entryOf(rep, "Deployment/"+ns+"/web").Action != reconcile.Unchanged {
		t.Fatalf("second run: %v %+v", err, rep.Objects)
	}
	r.write("web.yaml", deployment(ns, "web", "A"))
	if rep, err = run(t, o); err != nil || entryOf(rep, "Deployment/"+ns+"/web").Action != reconcile.Configured {
		t.Fatalf("Git dropped env B: %v %+v", err, rep.Objects)
	}
	dep, _ = env.Client().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if envs := dep.Spec.Template.Spec.Containers[0].Env; len(envs) != 1 || envs[0].Name != "A" {
		t.Errorf("env after Git dropped B: %+v", envs)
	}
	if dep.UID != depUID {
		t.Error("the Deployment was recreated")
	}
	// A Flux apply that was under way when Flux was suspended lands after
	// the handover: the next run finds it as drift and takes it back.
	fluxApplied(t, ns, "ConfigMap", "settings", "flux-system", "apps", `"data":{"mode":"flux","legacy":"flux","value":"flux"}`)
	if rep, err = run(t, o); err != nil || entryOf(rep, "ConfigMap/"+ns+"/settings").Reason != "drift reverted" {
		t.Fatalf("after a late Flux apply: %v %+v", err, rep.Objects)
	}
	if cm, _ = getConfigMap(t, ns, "settings"); cm.Data["value"] != "git" || len(cm.Data) != 1 || cm.UID != cmUID {
		t.Errorf("after a late Flux apply: %v", cm.Data)
	}
	// And one removed from Git is pruned as any member.
	r.remove("settings.yaml")
	if rep, err = run(t, o); err != nil || entryOf(rep, "ConfigMap/"+ns+"/settings").Action != reconcile.Deleted {
		t.Fatalf("adopted ConfigMap removed from Git: %v %+v", err, rep.Objects)
	}
}

func ownsField(mfs []metav1.ManagedFieldsEntry, manager, fragment string) bool {
	for _, mf := range mfs {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply && strings.Contains(mf.FieldsV1.String(), fragment) {
			return true
		}
	}
	return false
}

// TestHostileFluxHandover: adopting by Flux's labels takes exactly the
// objects of this unit's Kustomization. Anything else that exists stays
// refused before any write, and the refusal says whose it is.
func TestHostileFluxHandover(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// ksNamespace/ksName label the existing object; empty: unlabelled.
		ksNamespace, ksName string
		// theirInventory makes the object a member of another inventory.
		theirInventory bool
		refusal        []string
	}{
		{name: "unlabelled unowned object", refusal: []string{"kustomize-controller", "this run adopts only objects labelled kustomize.toolkit.fluxcd.io/name=apps,kustomize.toolkit.fluxcd.io/namespace=flux-system", "--adopt"}},
		{name: "labelled for another Kustomization", ksNamespace: "flux-system", ksName: "infra", refusal: []string{"Flux Kustomization flux-system/infra", "this run adopts only objects labelled", "flux suspend kustomization infra -n flux-system"}},
		{name: "same name in another namespace", ksNamespace: "team-b", ksName: "apps", refusal: []string{"Flux Kustomization team-b/apps"}},
		{name: "labelled for this unit but in another inventory", ksNamespace: "flux-system", ksName: "apps", theirInventory: true, refusal: []string{"another inventory", "--force"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			if tc.theirInventory {
				theirs := newRepo(t)
				theirs.write("cm.yaml", configMap(ns, "settings", "flux"))
				if _, err := run(t, options(t, theirs, ns, func(o *reconcile.Options) { o.Inventory.Name = "other" })); err != nil {
					t.Fatal(err)
				}
			}
			uid := fluxApplied(t, ns, "ConfigMap", "settings", tc.ksNamespace, tc.ksName, `"data":{"value":"flux"}`)
			before, _ := getConfigMap(t, ns, "settings")
			// An object of this unit next to it: not written either.
			fluxApplied(t, ns, "ConfigMap", "mine", "flux-system", "apps", `"data":{"value":"flux"}`)
			r := newRepo(t)
			r.write("settings.yaml", configMap(ns, "settings", "git"))
			r.write("mine.yaml", configMap(ns, "mine", "git"))
			o := options(t, r, ns, unitOptions("flux-system", "apps"))

			rep, err, writes := recorded(t, o, false)
			wantRefusal(t, err, writes, append([]string{"ConfigMap/" + ns + "/settings", "nothing was written"}, tc.refusal...)...)
			if strings.Contains(err.Error(), "ConfigMap/"+ns+"/mine") {
				t.Errorf("the object labelled for this unit was refused too: %v", err)
			}
			if got := entryOf(rep, "ConfigMap/"+ns+"/settings").Action; got != reconcile.Failed {
				t.Errorf("report: settings is %q, want failed", got)
			}
			after, _ := getConfigMap(t, ns, "settings")
			if after.UID != uid || after.ResourceVersion != before.ResourceVersion || after.Labels[inventory.PartOfLabel] != before.Labels[inventory.PartOfLabel] {
				t.Errorf("the refused object was written: %v", after.Labels)
			}
			if ours, _ := getConfigMap(t, ns, "mine"); ours.Data["value"] != "flux" || ours.Labels[inventory.PartOfLabel] != "" {
				t.Error("an object was adopted by a refused run")
			}
			// The diff refuses the same, and writes nothing.
			_, err, writes = recorded(t, o, true)
			wantRefusal(t, err, writes, "ConfigMap/"+ns+"/settings", "a reconcile would write nothing")
			if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, o.Inventory.Name, metav1.GetOptions{}); err == nil {
				t.Error("the inventory was written by a refused run")
			}
		})
	}
}
