package render

import (
	"strings"
	"testing"
)

// FuzzKustomizationChecks: reading a kustomization as the scan does
// (bounds, syntax, duplicate keys, kustomize's decoder, the remote
// checks) never panics, and every error names the file.
func FuzzKustomizationChecks(f *testing.F) {
	f.Add([]byte("resources:\n- ../base\n- https://example.invalid/x.yaml\n"))
	f.Add([]byte("configMapGenerator:\n- name: a\n  files:\n  - k=https://example.invalid/\n  envs: [x.env]\n"))
	f.Add([]byte("generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: g}\n  files: [https://x]\n"))
	f.Add([]byte("helmCharts:\n- name: c\n  repo: https://example.invalid\n"))
	f.Add([]byte("helmGlobals:\n  chartHome: /abs\n  configHome: x\nhelmCharts:\n- name: ../c\n  repo: file:///x\n  valuesFile: https://x/v.yaml\n  additionalValuesFiles: [/etc/x]\n  valuesMerge: nope\n  devel: true\n  releaseName: a\n  nameTemplate: b\nhelmChartInflationGenerator:\n- chartName: d\n  values: ../v.yaml\n"))
	f.Add([]byte("openapi:\n  path: https://example.invalid/s.json\npatchesStrategicMerge:\n- |\n  apiVersion: v1\n"))
	f.Add([]byte("a: &a [*a]\n"))
	lim := Options{MaxAliasNodes: 1000}.limits()
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKustomization("k/kustomization.yaml", data, lim)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "k/kustomization.yaml") {
				t.Errorf("error does not start with the file name: %v", err)
			}
			return
		}
		// Without an inflater helmCharts are refused; with one, their
		// fields are checked instead.
		for _, helm := range []bool{false, true} {
			if err := kustomizationChecks("k/kustomization.yaml", k, helm); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(line, "k/kustomization.yaml: ") {
						t.Errorf("helm %v: error line does not start with the file name: %q", helm, line)
					}
				}
			}
		}
	})
}
