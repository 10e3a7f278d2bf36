package chartrender

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/strvals"
)

// ValuesReference is one entry of a HelmRelease's spec.valuesFrom.
type ValuesReference struct {
	// Kind is ConfigMap or Secret; or ChartFile, a values file of the
	// chart (Flux v1's chartFileRef), Name its path and its text under
	// that same key.
	Kind string
	Name string
	// Namespace is the object's when it is not the release's (Flux v1
	// may name one); "" is the namespace MergeValues is given.
	Namespace string
	// ValuesKey is the data key (default values.yaml).
	ValuesKey string
	// TargetPath, when set, puts the key's whole text at this path
	// (Helm's --set syntax: "a.b[0].c") instead of merging it as YAML.
	TargetPath string
	// Optional references that are missing (object or key) are skipped.
	Optional bool
	// Literal takes the text at TargetPath as a plain string, with no
	// --set parsing of commas, brackets or quotes.
	Literal bool
}

func (r ValuesReference) key() string {
	switch {
	case r.ValuesKey != "":
		return r.ValuesKey
	case r.Kind == ChartFile:
		return r.Name
	}
	return "values.yaml"
}

// ChartFile is the kind of a reference to a values file of the chart.
const ChartFile = "ChartFile"

// ValuesSource names a ConfigMap or Secret, of the release's namespace
// when Namespace is "", or a chart file (Kind ChartFile).
type ValuesSource struct{ Kind, Namespace, Name string }

// ErrValuesNotFound is wrapped by MergeValues when a required object or
// key is missing.
var ErrValuesNotFound = errors.New("not found")

// MergeValues computes a HelmRelease's values the way helm-controller
// does: each valuesFrom reference in order, a later one overriding an
// earlier one key by key, and the inline values last, overriding them.
// A targetPath write goes into the inline values' own maps, so it wins
// even over them where it lands inside an inline map (helm-controller's
// "target path precedence over all"); the caller's map is not changed.
// found holds the data of the referenced objects that exist (Secret data
// decoded from base64, ConfigMap data as bytes); namespace only names
// them in errors. Errors name the object and key and never quote its
// data, since a Secret's parse error would otherwise echo it.
func MergeValues(namespace string, inline map[string]any, refs []ValuesReference, found map[ValuesSource]map[string][]byte) (map[string]any, error) {
	inline, _ = copyValue(map[string]any(inline)).(map[string]any)
	result := map[string]any{}
	for _, ref := range refs {
		ns := namespace
		if ref.Namespace != "" {
			ns = ref.Namespace
		}
		id := fmt.Sprintf("%s/%s/%s", ref.Kind, ns, ref.Name)
		switch ref.Kind {
		case "ConfigMap", "Secret":
		case ChartFile:
			id = "chart file " + ref.Name
		default:
			return nil, fmt.Errorf("valuesFrom %s: kind %q is not supported: use ConfigMap or Secret", id, ref.Kind)
		}
		data, ok := found[ValuesSource{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}]
		if !ok {
			if ref.Optional {
				continue
			}
			return nil, fmt.Errorf("valuesFrom %s: %w: create it, or mark the reference optional", id, ErrValuesNotFound)
		}
		text, ok := data[ref.key()]
		if !ok {
			if ref.Optional {
				continue
			}
			return nil, fmt.Errorf("valuesFrom %s: key %q %w: add the key, or set valuesKey", id, ref.key(), ErrValuesNotFound)
		}
		if ref.TargetPath != "" {
			// helm-controller merges the inline values before a
			// targetPath write, sharing their maps: the write lands in
			// them and survives the final merge.
			result = mergeMaps(result, inline)
			if err := setPath(result, ref.TargetPath, string(text), ref.Literal); err != nil {
				return nil, fmt.Errorf("valuesFrom %s key %q: targetPath %q: %s", id, ref.key(), ref.TargetPath, redacted(ref.Kind, err))
			}
			continue
		}
		vals, err := common.ReadValues(text)
		if err != nil {
			return nil, fmt.Errorf("valuesFrom %s key %q: not a YAML map: %s", id, ref.key(), redacted(ref.Kind, err))
		}
		result = mergeMaps(result, vals)
	}
	return mergeMaps(result, inline), nil
}

// setPath writes value at path with the --set parser, quoted values as
// strings, as helm-controller's ReplacePathValue does.
func setPath(values map[string]any, path, value string, literal bool) error {
	if literal {
		escaper := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `[`, `\[`, `]`, `\]`, `{`, `\{`, `}`, `\}`)
		return strvals.ParseIntoString(path+"="+escaper.Replace(value), values)
	}
	single := strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'")
	double := strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`)
	if single || double {
		return strvals.ParseIntoString(path+"="+strings.Trim(value, `'"`), values)
	}
	return strvals.ParseInto(path+"="+value, values)
}

var lineRef = regexp.MustCompile(`line \d+`)

// redacted keeps a parser's message for a ConfigMap; for a Secret only
// the line it names, since YAML and --set errors quote the input.
func redacted(kind string, err error) string {
	if kind != "Secret" {
		return err.Error()
	}
	if l := lineRef.FindString(err.Error()); l != "" {
		return "invalid at " + l + " (the parser's message is withheld: it may quote the Secret's data)"
	}
	return "invalid (the parser's message is withheld: it may quote the Secret's data)"
}

// mergeMaps is helm-controller's merge: b over a, maps merged key by
// key, anything else replaced.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
