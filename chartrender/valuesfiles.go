package chartrender

import (
	"fmt"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// ValuesFile is one entry of a HelmRelease's spec.chart.spec.valuesFiles,
// read: Name as written (for errors), Data its text, or nil for the
// chart's own values.yaml listed among them.
type ValuesFile struct {
	Name string
	Data []byte
}

// WithValuesFiles returns ch with files merged, in order, as its default
// values, as source-controller packages a HelmChart with valuesFiles:
// each file over the ones before, maps merged key by key, and the result
// replaces the chart's values.yaml (which counts only where it is
// listed). ch itself is not changed, so a cached chart stays as it was
// fetched.
func WithValuesFiles(ch *chartv2.Chart, files []ValuesFile) (*chartv2.Chart, error) {
	merged := map[string]any{}
	for _, f := range files {
		vals := map[string]any(ch.Values)
		if f.Data != nil {
			v, err := common.ReadValues(f.Data)
			if err != nil {
				return nil, fmt.Errorf("values file %s: %w", f.Name, err)
			}
			vals = v
		}
		// vals is a map, so its copy is one too.
		copied, _ := copyValue(vals).(map[string]any)
		merged = mergeMaps(merged, copied)
	}
	out := new(chartv2.Chart)
	*out = *ch
	out.Values = merged
	// The dependencies keep their parent: the SDK reads a sub-chart's
	// parent only for its values path, which the copy does not change.
	return out, nil
}
