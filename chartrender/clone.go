package chartrender

import (
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// clone copies what the SDK's dependency processing writes to: the
// dependency tree, the metadata's dependency list (Enabled,
// ImportValues) and the values. Templates, files and schemas are read
// only and stay shared.
func clone(ch *chartv2.Chart) *chartv2.Chart {
	out := new(chartv2.Chart)
	*out = *ch
	if ch.Metadata != nil {
		md := *ch.Metadata
		md.Dependencies = make([]*chartv2.Dependency, len(ch.Metadata.Dependencies))
		for i, d := range ch.Metadata.Dependencies {
			dc := *d
			dc.ImportValues = append([]any(nil), d.ImportValues...)
			dc.Tags = append([]string(nil), d.Tags...)
			md.Dependencies[i] = &dc
		}
		if ch.Metadata.Dependencies == nil {
			md.Dependencies = nil
		}
		out.Metadata = &md
	}
	out.Values, _ = copyValue(ch.Values).(map[string]any)
	subs := make([]*chartv2.Chart, 0, len(ch.Dependencies()))
	for _, sub := range ch.Dependencies() {
		subs = append(subs, clone(sub))
	}
	out.SetDependencies(subs...)
	return out
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return map[string]any(nil)
		}
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = copyValue(e)
		}
		return s
	}
	return v
}
