package apply

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/object"
)

// byStage groups objects by object.Stage, keeping each object's input
// order within its stage so that a run is deterministic.
func byStage(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	out := make([][]*unstructured.Unstructured, object.LastStage+1)
	for _, o := range objs {
		s := object.Stage(object.FromUnstructured(o))
		out[s] = append(out[s], o)
	}
	return out
}
