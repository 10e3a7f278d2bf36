package fleet

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/reconcile"
)

// releaseOf is what the unit's reconcile needs to run a release's hooks:
// its objects, to tell an install or a change, and its hooks, whose
// objects are among objs (namespaced already).
func releaseOf(hr *flux.HelmRelease, objs []*unstructured.Unstructured, hooks []chartrender.Hook) reconcile.Release {
	rel := reconcile.Release{Name: hr.Namespace + "/" + hr.Name}
	isHook := map[*unstructured.Unstructured]bool{}
	for _, h := range hooks {
		isHook[h.Object.Object] = true
		rel.Hooks = append(rel.Hooks, reconcile.Hook{
			ID:             object.FromUnstructured(h.Object.Object),
			Events:         h.Events,
			Weight:         h.Weight,
			DeletePolicies: h.DeletePolicies,
		})
	}
	for _, o := range objs {
		if !isHook[o] {
			rel.Objects = append(rel.Objects, object.FromUnstructured(o))
		}
	}
	return rel
}
