package render

import (
	"reflect"
	"testing"

	"sigs.k8s.io/kustomize/api/provider"
)

// TestObjectOfResourceMatches: for resources holding every kind of value
// YAML can give, the direct reading equals the JSON detour's, or
// declines (and the detour then runs).
func TestObjectOfResourceMatches(t *testing.T) {
	docs := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    x: \"1\"\ndata:\n  s: text\n  q: 'yes'\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: b\nspec:\n  i: 3\n  neg: -7\n  f: 1.5\n  whole: 2.0\n  big: 12345678901234567890\n  huge: 1e30\n  b: true\n  yes: yes\n  n: null\n  e:\n  list: [1, two, 3.0, {k: v}, [nested]]\n  oct: 0755\n  hex: 0x1F\n  under: 1_000\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: c\nspec:\n  ts: 2001-12-14t21:59:43.10-05:00\n  date: 2001-12-14\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: d\nspec:\n  inf: .inf\n  nan: .nan\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: e\nspec:\n  1: one\n  true: t\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: f\nspec:\n  bin: !!binary aGVsbG8=\n  str: !!str 12\n  block: |\n    line\n  folded: >\n    a\n    b\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: g\nspec:\n  min: -9223372036854775808\n  max: 9223372036854775807\n  over: 9223372036854775808\n  negzero: -0.0\n  exp: 1e3\n",
	}
	f := provider.NewDefaultDepProvider().GetResourceFactory()
	fast := 0
	for _, d := range docs {
		rs, err := f.SliceFromBytes([]byte(d))
		if err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		for _, r := range rs {
			j, slowErr := r.MarshalJSON()
			var want map[string]any
			if slowErr == nil {
				want, slowErr = jsonObject(j)
			}
			got, ok := objectOfResource(r)
			if !ok {
				continue
			}
			fast++
			if slowErr != nil {
				t.Errorf("%s: the direct reading accepted what the detour refuses (%v)", r.GetName(), slowErr)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: direct\n%#v\ndetour\n%#v", r.GetName(), got, want)
			}
		}
	}
	if fast < 4 {
		t.Fatalf("the direct reading took only %d of the resources; the comparison proves little", fast)
	}
}
