package prune_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/prune"
)

func TestDecide(t *testing.T) {
	const ours, theirs = "applyset-ours-v1", "applyset-theirs-v1"
	cm := func(labels, annotations map[string]string, managers ...string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetNamespace("web")
		u.SetName("cfg")
		u.SetLabels(labels)
		u.SetAnnotations(annotations)
		var mf []metav1.ManagedFieldsEntry
		for _, m := range managers {
			mf = append(mf, metav1.ManagedFieldsEntry{Manager: m, Operation: metav1.ManagedFieldsOperationUpdate})
		}
		u.SetManagedFields(mf)
		return u
	}
	git := cm(nil, nil)
	annotated := cm(nil, map[string]string{prune.AdoptAnnotation: "enabled"})
	forced := cm(nil, map[string]string{"tidegate.dev/force": "enabled"})
	listed := inventory.NewSet(object.FromUnstructured(git))
	const fluxName, fluxNS = "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"
	fluxApps := map[string]string{fluxName: "apps", fluxNS: "flux-system"}
	forceAnn := func(u *unstructured.Unstructured) bool { return u.GetAnnotations()["tidegate.dev/force"] == "enabled" }
	for _, tc := range []struct {
		name          string
		desired, live *unstructured.Unstructured
		previous      inventory.Set
		opts          prune.ClaimOptions
		own           prune.Ownership
		adopted       bool
		refusal       []string // fragments; nil when allowed
	}{
		{"absent", git, nil, inventory.Set{}, prune.ClaimOptions{}, prune.Absent, false, nil},
		{"our label", git, cm(map[string]string{inventory.PartOfLabel: ours}, nil), inventory.Set{}, prune.ClaimOptions{}, prune.Member, false, nil},
		{"listed in the previous inventory", git, cm(nil, nil, "tidegate"), listed, prune.ClaimOptions{}, prune.Member, false, nil},
		{"unowned", git, cm(nil, nil, "kubectl-edit", "helm"), inventory.Set{}, prune.ClaimOptions{}, prune.Unowned, false, []string{"ConfigMap/web/cfg:", "field managers: helm, kubectl-edit", "tidegate reconcile --adopt", prune.AdoptAnnotation}},
		{"unowned, --force is not --adopt", git, cm(nil, nil, "kubectl-edit"), inventory.Set{}, prune.ClaimOptions{Force: true}, prune.Unowned, false, []string{"--adopt"}},
		{"unowned, --adopt", git, cm(nil, nil, "kubectl-edit"), inventory.Set{}, prune.ClaimOptions{Adopt: true}, prune.Unowned, true, nil},
		{"unowned, annotated", annotated, cm(nil, nil, "kubectl-edit"), inventory.Set{}, prune.ClaimOptions{}, prune.Unowned, true, nil},
		{"Helm's", git, cm(nil, map[string]string{"meta.helm.sh/release-name": "shop", "meta.helm.sh/release-namespace": "web"}, "helm"), inventory.Set{}, prune.ClaimOptions{}, prune.Unowned, false, []string{"Helm release web/shop", "helm.sh/resource-policy: keep"}},
		{"another inventory", git, cm(map[string]string{inventory.PartOfLabel: theirs}, nil, "tidegate"), inventory.Set{}, prune.ClaimOptions{}, prune.Foreign, false, []string{theirs, "--force"}},
		{"another inventory, even listed in ours", git, cm(map[string]string{inventory.PartOfLabel: theirs}, nil), listed, prune.ClaimOptions{}, prune.Foreign, false, []string{theirs}},
		{"another inventory, --adopt", annotated, cm(map[string]string{inventory.PartOfLabel: theirs}, nil), inventory.Set{}, prune.ClaimOptions{Adopt: true}, prune.Foreign, false, []string{"not even with --adopt"}},
		{"another inventory, --force", git, cm(map[string]string{inventory.PartOfLabel: theirs}, nil), inventory.Set{}, prune.ClaimOptions{Force: true}, prune.Foreign, true, nil},
		{"another inventory, force annotation", forced, cm(map[string]string{inventory.PartOfLabel: theirs}, nil), inventory.Set{}, prune.ClaimOptions{ForceObject: forceAnn}, prune.Foreign, true, nil},
		{"Flux's, labelled for this unit", git, cm(fluxApps, nil, "kustomize-controller"), inventory.Set{}, prune.ClaimOptions{AdoptLabels: fluxApps}, prune.Unowned, true, nil},
		{"Flux's, labelled for another unit", git, cm(map[string]string{fluxName: "infra", fluxNS: "flux-system"}, nil, "kustomize-controller"), inventory.Set{}, prune.ClaimOptions{AdoptLabels: fluxApps}, prune.Unowned, false, []string{"Flux Kustomization flux-system/infra", "this run adopts only objects labelled " + fluxName + "=apps," + fluxNS + "=flux-system", "flux suspend kustomization infra -n flux-system"}},
		{"Flux's, one label of this unit only", git, cm(map[string]string{fluxName: "apps", fluxNS: "tenants"}, nil, "kustomize-controller"), inventory.Set{}, prune.ClaimOptions{AdoptLabels: fluxApps}, prune.Unowned, false, []string{"flux suspend kustomization apps -n tenants"}},
		{"unlabelled, adopting by labels", git, cm(nil, nil, "kubectl-edit"), inventory.Set{}, prune.ClaimOptions{AdoptLabels: fluxApps}, prune.Unowned, false, []string{"kubectl-edit", "this run adopts only objects labelled"}},
		{"empty adopt labels adopt nothing", git, cm(map[string]string{}, nil, "kubectl-edit"), inventory.Set{}, prune.ClaimOptions{AdoptLabels: map[string]string{}}, prune.Unowned, false, []string{"--adopt"}},
		{"adopt labels never take another inventory's", git, cm(map[string]string{inventory.PartOfLabel: theirs, fluxName: "apps", fluxNS: "flux-system"}, nil), inventory.Set{}, prune.ClaimOptions{AdoptLabels: fluxApps}, prune.Foreign, false, []string{theirs, "--force"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := prune.Decide(tc.desired, tc.live, ours, tc.previous, tc.opts)
			if c.Ownership != tc.own || c.Adopted != tc.adopted {
				t.Errorf("ownership %s adopted %v, want %s %v", c.Ownership, c.Adopted, tc.own, tc.adopted)
			}
			if (c.Refused != nil) != (tc.refusal != nil) {
				t.Fatalf("refused = %v, want a refusal: %v", c.Refused, tc.refusal != nil)
			}
			for _, f := range tc.refusal {
				if !strings.Contains(c.Refused.Error(), f) {
					t.Errorf("the refusal does not say %q: %v", f, c.Refused)
				}
			}
		})
	}
}
