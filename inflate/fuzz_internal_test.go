package inflate

import (
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/render"
)

// FuzzValues: kustomize's values steps on any valuesFile, inline values
// and additional file never panic, in each merge mode.
func FuzzValues(f *testing.F) {
	f.Add([]byte("a: 1\nb:\n  c: [1, 2]\n"), []byte("b:\n  c: null\n  d: x\n"), []byte("e: {f: g}\n"))
	f.Add([]byte("- not a map\n"), []byte("a: &x [*x]\n"), []byte(""))
	f.Add([]byte("a: !!binary aGk=\n"), []byte("k: {name: x, list: [{name: a, v: 1}]}\n"), []byte("---\n---\n"))
	ch := &charts.Chart{Name: "c", Version: "0.1.0", Chart: &chartv2.Chart{Metadata: &chartv2.Metadata{Name: "c"}, Raw: []*common.File{{Name: "values.yaml", Data: []byte("a: 0\n")}}}}
	f.Fuzz(func(t *testing.T, file, inline, more []byte) {
		var in map[string]any
		if yaml.Unmarshal(inline, &in) != nil {
			in = nil
		}
		for _, mode := range []string{"", "override", "merge", "replace"} {
			c := &render.HelmChart{HelmChart: types.HelmChart{ValuesInline: in, ValuesMerge: mode}, Values: file, AdditionalValues: [][]byte{more}}
			_, _ = values(ch, c)
		}
	})
}
