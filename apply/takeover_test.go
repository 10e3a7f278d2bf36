package apply_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/apply"
)

// TestTakeOverFromAnotherManager: an object a controller applied with
// server-side apply (Flux's kustomize-controller) is taken over without
// conflict and without recreating it; afterwards a key Git drops is
// removed, and the labels that are to stay keep their owner.
func TestTakeOverFromAnotherManager(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	const name, nsLabel = "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"
	flux := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f","namespace":"` + ns + `","labels":{"` + name + `":"apps","` + nsLabel + `":"flux-system","team":"a"}},"data":{"keep":"flux","drop":"flux"}}`
	cms := dyn.Resource(configMaps).Namespace(ns)
	created, err := cms.Patch(ctx, "f", types.ApplyPatchType, []byte(flux), metav1.PatchOptions{FieldManager: "kustomize-controller"})
	if err != nil {
		t.Fatal(err)
	}
	// A controller's status-like write under the same name, but not an
	// apply of the main resource, is not taken.
	if _, err := cms.Patch(ctx, "f", types.MergePatchType, []byte(`{"metadata":{"annotations":{"touched":"yes"}}}`), metav1.PatchOptions{FieldManager: "kustomize-controller"}); err != nil {
		t.Fatal(err)
	}
	desired := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n  namespace: "+ns+"\n  labels:\n    team: b\ndata:\n  keep: git\n")

	// Without the take-over, Git's value conflicts with the controller's.
	plain := apply.New(dyn, mapper, apply.Options{})
	if _, err := plain.Apply(ctx, []*unstructured.Unstructured{desired}, apply.ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "kustomize-controller") {
		t.Fatalf("without TakeOverManagers: %v, want a conflict naming kustomize-controller", err)
	}

	m := apply.New(dyn, mapper, apply.Options{TakeOverManagers: []string{"kustomize-controller"}, KeepLabels: []string{name, nsLabel}})
	// The diff shows what the write will do, though a dry-run cannot
	// move the ownership first: the key only Flux set goes, its labels
	// stay. A plain diff would not show the key going.
	before, _ := cms.Get(ctx, "f", metav1.GetOptions{})
	for _, tc := range []struct {
		m        *apply.Manager
		dropShow bool
	}{{m, true}, {plain, false}} {
		changes, err := tc.m.Diff(ctx, []*unstructured.Unstructured{desired})
		if err != nil {
			t.Fatal(err)
		}
		d := changes[0].Diff
		if got := strings.Contains(d, "-  drop: flux"); got != tc.dropShow {
			t.Errorf("take-over %v: diff shows drop removed: %v, want %v:\n%s", tc.dropShow, got, tc.dropShow, d)
		}
		if !strings.Contains(d, "+  keep: git") || strings.Contains(d, "-    "+name) {
			t.Errorf("diff:\n%s", d)
		}
	}
	if live, _ := cms.Get(ctx, "f", metav1.GetOptions{}); live.GetResourceVersion() != before.GetResourceVersion() {
		t.Error("the diff wrote")
	}
	cs, err := m.Apply(ctx, []*unstructured.Unstructured{desired}, apply.ApplyOptions{})
	if err != nil {
		t.Fatalf("with TakeOverManagers: %v", err)
	}
	if got := actions(cs)["ConfigMap/"+ns+"/f"]; got != apply.Configured {
		t.Errorf("action %q, want configured", got)
	}
	live, err := cms.Get(ctx, "f", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if live.GetUID() != created.GetUID() {
		t.Error("the object was recreated")
	}
	data := live.Object["data"].(map[string]any)
	if data["keep"] != "git" {
		t.Errorf("data %v, want keep=git", data)
	}
	if _, ok := data["drop"]; ok {
		t.Error("a key Git does not have survived: kustomize-controller's ownership was not moved")
	}
	labels := live.GetLabels()
	if labels[name] != "apps" || labels[nsLabel] != "flux-system" || labels["team"] != "b" {
		t.Errorf("labels %v, want Flux's kept and team=b", labels)
	}
	if live.GetAnnotations()["touched"] != "yes" {
		t.Error("a field of the controller's update (not its apply) was removed")
	}
	var fluxApply, fluxUpdate, ours string
	for _, f := range live.GetManagedFields() {
		switch {
		case f.Manager == "kustomize-controller" && f.Operation == metav1.ManagedFieldsOperationApply:
			fluxApply = f.FieldsV1.String()
		case f.Manager == "kustomize-controller":
			fluxUpdate = f.FieldsV1.String()
		case f.Manager == "tidegate" && f.Operation == metav1.ManagedFieldsOperationApply:
			ours = f.FieldsV1.String()
		}
	}
	if !strings.Contains(ours, `"f:keep"`) || !strings.Contains(ours, `"f:team"`) {
		t.Errorf("tidegate's entry does not own Git's fields: %s", ours)
	}
	if strings.Contains(fluxApply, "f:data") || strings.Contains(fluxApply, "f:team") || !strings.Contains(fluxApply, name) || !strings.Contains(fluxApply, nsLabel) {
		t.Errorf("kustomize-controller's apply entry should hold only its two labels: %s", fluxApply)
	}
	if !strings.Contains(fluxUpdate, "f:touched") {
		t.Errorf("kustomize-controller's update entry changed: %q", fluxUpdate)
	}

	// Taken over once: a second apply has nothing to move, and a key
	// Git drops next goes too.
	desired = obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n  namespace: "+ns+"\ndata:\n  other: git\n")
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{desired}, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	live, _ = cms.Get(ctx, "f", metav1.GetOptions{})
	if data := live.Object["data"].(map[string]any); data["keep"] != nil || data["other"] != "git" || live.GetLabels()["team"] != "" {
		t.Errorf("after Git dropped keep and team: data %v labels %v", data, live.GetLabels())
	}
	if live.GetLabels()[name] != "apps" {
		t.Errorf("Flux's label went: %v", live.GetLabels())
	}
}
