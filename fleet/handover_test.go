package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/reconcile"
)

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	ksGVR  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	cmGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

func admin(t *testing.T) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// installKustomizationCRD makes the test cluster a Flux cluster: it
// serves kustomize.toolkit.fluxcd.io/v1 Kustomizations.
func installKustomizationCRD(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile("../handover/testdata/kustomization-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		body, _ := u.MarshalJSON()
		force := true
		if _, err := admin(t).Resource(crdGVR).Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "test", Force: &force}); err != nil {
			t.Fatal(err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := admin(t).Resource(ksGVR).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("Kustomizations are not served: %v", err)
	}
}

// fluxApplied creates obj as kustomize-controller leaves it: applied
// with its field manager and labelled with its Kustomization.
func fluxApplied(t *testing.T, ns, ks, yaml string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(yaml), 4096).Decode(&u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetLabels(map[string]string{"kustomize.toolkit.fluxcd.io/name": ks, "kustomize.toolkit.fluxcd.io/namespace": ns})
	body, _ := u.MarshalJSON()
	force := true
	out, err := admin(t).Resource(cmGVR).Namespace(ns).Patch(context.Background(), u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "kustomize-controller", Force: &force})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFleetMovingFromFlux is the README's "Moving from Flux" walk-through
// on a cluster where Flux applied a unit's objects and its Kustomization
// is live: the unit is refused until --suspend-flux; a diff writes
// nothing; the reconcile suspends the Kustomization, adopts the objects
// Flux labelled for it (same UID, nothing recreated) and takes their
// fields over from kustomize-controller, so a field Git dropped goes.
func TestFleetMovingFromFlux(t *testing.T) {
	installKustomizationCRD(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	live := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "apps", "namespace": ns},
		"spec":     map[string]any{"interval": "10m", "path": "./apps", "prune": true, "sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"}},
	}}
	if _, err := admin(t).Resource(ksGVR).Namespace(ns).Create(ctx, live, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := fluxApplied(t, ns, "apps", configMap(ns, "app-cm", "1")+"  old: gone-from-git\n")
	r := newRepo(t)
	r.write("clusters/test/apps.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/cm.yaml", configMap(ns, "app-cm", "1"))

	// 1. Flux still reconciles apps: refused, nothing written.
	rep, err := run(t, options(r, ns))
	if err == nil {
		t.Fatal("a unit whose Kustomization Flux still reconciles ran")
	}
	if u := unit(rep, ns+"/apps"); u.Status != reconcile.UnitFailed || !strings.Contains(u.Reason, "--suspend-flux") {
		t.Fatalf("unit apps: %s (%s), want failed pointing at --suspend-flux", u.Status, u.Reason)
	}

	// 2. A diff, with or without --suspend-flux, shows the take-over and
	// writes nothing, not even the suspend.
	suspend := func(o *fleet.Options) { o.SuspendFlux = true }
	for _, o := range []fleet.Options{options(r, ns), options(r, ns, suspend)} {
		rep, err = diff(t, o)
		if err != nil {
			t.Fatalf("diff (suspend %v): %v", o.SuspendFlux, err)
		}
		if got := actions(rep)[ns+"/apps ConfigMap/"+ns+"/app-cm"]; got != reconcile.Adopted {
			t.Errorf("diff (suspend %v) shows app-cm as %q, want adopted", o.SuspendFlux, got)
		}
	}
	ks, err := admin(t).Resource(ksGVR).Namespace(ns).Get(ctx, "apps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := unstructured.NestedBool(ks.Object, "spec", "suspend"); s {
		t.Fatal("diff suspended the Kustomization")
	}

	// 3. The reconcile takes over.
	rep, err = run(t, options(r, ns, suspend))
	if err != nil {
		t.Fatalf("reconcile --suspend-flux: %v (%s)", err, unit(rep, ns+"/apps").Reason)
	}
	if got := actions(rep)[ns+"/apps ConfigMap/"+ns+"/app-cm"]; got != reconcile.Adopted {
		t.Errorf("app-cm: %q, want adopted", got)
	}
	ks, err = admin(t).Resource(ksGVR).Namespace(ns).Get(ctx, "apps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := unstructured.NestedBool(ks.Object, "spec", "suspend"); !s {
		t.Error("the live Kustomization was not suspended")
	}
	after, err := admin(t).Resource(cmGVR).Namespace(ns).Get(ctx, "app-cm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetUID() != before.GetUID() {
		t.Error("the object was recreated")
	}
	if _, ok, _ := unstructured.NestedString(after.Object, "data", "old"); ok {
		t.Error("a field Flux applied and Git no longer has was kept: field ownership was not taken over")
	}
	// kustomize-controller keeps only Flux's own labels (so a resumed
	// Flux still knows its objects); the content is tidegate's.
	for _, mf := range after.GetManagedFields() {
		if mf.Manager == "kustomize-controller" && strings.Contains(mf.FieldsV1.GetRawString(), "f:data") {
			t.Errorf("kustomize-controller still owns the data: %s", mf.FieldsV1.GetRawString())
		}
	}

	// 4. And the next run is a no-op.
	rep, err = run(t, options(r, ns, suspend))
	if err != nil {
		t.Fatalf("no-op: %v", err)
	}
	if rep.Changed() {
		t.Errorf("no-op run changed: %v", actions(rep))
	}
}
