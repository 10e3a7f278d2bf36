package render

import (
	"math"

	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// objectOfResource reads a built resource into the value
// jsonObject(res.MarshalJSON()) gives, without its detour: MarshalJSON
// prints the node as YAML, parses that text again (yaml.v3) and prints it
// as JSON, which jsonObject then parses. Decoding the node itself is the
// same yaml.v3 decoding of the same node; what the JSON detour changes
// (integers become int64, integral floats too, as JSON has no such
// difference) is done here directly. Anything else (a timestamp, a
// non-string key, NaN) returns false, for the old path and its errors.
// TestObjectOfResourceMatches compares the two.
func objectOfResource(res *resource.Resource) (map[string]any, bool) {
	return objectOfNode(res.YNode())
}

// objectOfNode is objectOfResource of a resource's node.
func objectOfNode(n *yaml.Node) (map[string]any, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, false
	}
	v, ok := jsonValue(m)
	if !ok {
		return nil, false
	}
	out, ok := v.(map[string]any)
	return out, ok
}

// jsonValue is v as JSON and back would make it, in place.
func jsonValue(v any) (any, bool) {
	switch t := v.(type) {
	case nil, bool, string, int64:
		return t, true
	case int:
		return int64(t), true
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), true
		}
		return float64(t), true
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, false
		}
		// JSON prints an integral float as an integer, which reads back
		// as int64 where it fits.
		if t == math.Trunc(t) && t >= math.MinInt64 && t < math.MaxInt64 {
			return int64(t), true
		}
		return t, true
	case map[string]any:
		for k, e := range t {
			c, ok := jsonValue(e)
			if !ok {
				return nil, false
			}
			t[k] = c
		}
		return t, true
	case []any:
		for i, e := range t {
			c, ok := jsonValue(e)
			if !ok {
				return nil, false
			}
			t[i] = c
		}
		return t, true
	}
	return nil, false
}
