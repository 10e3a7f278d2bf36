package object

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// CRD is what a CustomResourceDefinition in a render says about its kind.
type CRD struct {
	Plural     string
	Namespaced bool
}

// CRDs reads the kinds defined by the CustomResourceDefinitions among
// objs. Discovery cannot know them before they are applied, so a run that
// brings a CRD and its resources together needs them from here.
func CRDs(objs []*unstructured.Unstructured) map[schema.GroupKind]CRD {
	out := map[schema.GroupKind]CRD{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		out[schema.GroupKind{Group: group, Kind: kind}] = CRD{Plural: plural, Namespaced: scope != "Cluster"}
	}
	return out
}
