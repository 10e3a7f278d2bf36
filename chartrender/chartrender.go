package chartrender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// CRDPolicy says what happens to the files of a chart's crds/
// directories, with the names of Flux's install.crds and upgrade.crds.
type CRDPolicy string

const (
	// CRDsSkip renders no CRD from crds/.
	CRDsSkip CRDPolicy = "Skip"
	// CRDsCreate renders them, to be created when missing and never
	// changed (helm install's behaviour).
	CRDsCreate CRDPolicy = "Create"
	// CRDsCreateReplace renders them, to be created or updated.
	CRDsCreateReplace CRDPolicy = "CreateReplace"
)

// ParseCRDPolicy accepts the three policies; an empty string means the
// default, which depends on install or upgrade (see Options.CRDs).
func ParseCRDPolicy(s string) (CRDPolicy, error) {
	switch p := CRDPolicy(s); p {
	case "", CRDsSkip, CRDsCreate, CRDsCreateReplace:
		return p, nil
	}
	return "", fmt.Errorf("CRD policy %q: use Skip, Create or CreateReplace", s)
}

// Capabilities is what a template sees as .Capabilities: the cluster's
// Kubernetes version ("v1.34.1") and API versions ("apps/v1" and
// "apps/v1/Deployment" forms, as discovery lists them).
type Capabilities struct {
	KubeVersion string
	// APIVersions replaces the SDK's default set when not nil, as a
	// live cluster does for helm install; nil keeps `helm template`'s.
	APIVersions []string
}

// Options are the inputs of one release's rendering besides the chart.
type Options struct {
	// ReleaseName and Namespace are .Release.Name and
	// .Release.Namespace; both are required.
	ReleaseName string
	Namespace   string
	// Revision is .Release.Revision (default 1).
	Revision int
	// IsUpgrade sets .Release.IsUpgrade; otherwise .Release.IsInstall.
	IsUpgrade    bool
	Capabilities Capabilities
	// CRDs is the crds/ policy; empty means Create on install and Skip
	// on upgrade, the defaults of helm and Flux.
	CRDs CRDPolicy
	// SkipSchemaValidation does not check the values against the
	// charts' values.schema.json.
	SkipSchemaValidation bool
	// PostRender, when set, changes the rendered templates' objects
	// before they are sorted into hooks and objects, as a Helm
	// post-renderer does; PostRenderStrategy says whether hooks pass
	// through it (default combined).
	PostRender         PostRenderer
	PostRenderStrategy PostRenderStrategy
}

func (o Options) withDefaults() Options {
	if o.Revision == 0 {
		o.Revision = 1
	}
	if o.CRDs == "" {
		o.CRDs = CRDsCreate
		if o.IsUpgrade {
			o.CRDs = CRDsSkip
		}
	}
	return o
}

// Object is one rendered object and the chart file it came from
// ("app/templates/deployment.yaml", "app/charts/db/crds/backups.yaml").
type Object struct {
	Source string
	Object *unstructured.Unstructured
}

// Hook is a rendered hook object with the annotations that say when it
// runs and when it is deleted.
type Hook struct {
	Object
	// Events as the chart wrote them: "pre-install", "post-upgrade",
	// "test", …
	Events []string
	// Weight orders hooks of one event, lowest first.
	Weight int
	// DeletePolicies: "before-hook-creation", "hook-succeeded",
	// "hook-failed". Helm's default, when none is given, is
	// before-hook-creation.
	DeletePolicies []string
}

// Has reports whether the hook runs on event.
func (h Hook) Has(event string) bool {
	for _, e := range h.Events {
		if e == event {
			return true
		}
	}
	return false
}

// Result is one release's rendering.
type Result struct {
	// CRDs are the crds/ files (empty under CRDsSkip), in the SDK's
	// order: the chart's own, then its sub-charts'.
	CRDs []Object
	// CRDPolicy is the policy that was applied, defaults resolved.
	CRDPolicy CRDPolicy
	// Objects are the release's regular objects, in Helm's install
	// order.
	Objects []Object
	// Hooks in the order helm template prints them.
	Hooks []Hook
	// Notes is the rendered NOTES.txt of the top chart.
	Notes string
}

// Render renders ch with vals (merged already: the chart's own
// values.yaml is coalesced underneath by the SDK). The chart is not
// changed, so a cached chart can be rendered again with other values.
// Errors start with the chart's name and version and, for template
// errors, name the template file and line as the SDK reports them.
func Render(ctx context.Context, ch *chartv2.Chart, vals map[string]any, opts Options) (*Result, error) {
	if ch == nil || ch.Metadata == nil {
		return nil, errors.New("render chart: no chart (nil or without Chart.yaml)")
	}
	o := opts.withDefaults()
	where := fmt.Sprintf("chart %s %s", ch.Metadata.Name, ch.Metadata.Version)
	if o.ReleaseName == "" || o.Namespace == "" {
		return nil, fmt.Errorf("%s: render needs a release name and a namespace", where)
	}
	if _, err := ParseCRDPolicy(string(o.CRDs)); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	caps, err := o.Capabilities.sdk()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := missingDependencies(ch); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("%s: Chart.yaml: %w", where, err)
	}
	// ProcessDependencies drops disabled sub-charts and imports values
	// into the chart it is given; a clone keeps the caller's intact.
	ch = clone(ch)
	if vals == nil {
		vals = map[string]any{}
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, fmt.Errorf("%s: dependencies: %w", where, err)
	}
	if kv := ch.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("%s: the chart requires kubeVersion %s, the cluster is %s: pick a chart version for this cluster", where, kv, caps.KubeVersion.Version)
	}
	top, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, common.ReleaseOptions{
		Name: o.ReleaseName, Namespace: o.Namespace, Revision: o.Revision,
		IsInstall: !o.IsUpgrade, IsUpgrade: o.IsUpgrade,
	}, caps, o.SkipSchemaValidation)
	if err != nil {
		return nil, fmt.Errorf("%s: values: %w", where, err)
	}
	// A zero Engine has no REST config: lookup returns empty objects, as
	// in helm template, and nothing reaches a cluster.
	var e engine.Engine
	files, err := e.RenderWithContext(ctx, ch, top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	res := &Result{CRDPolicy: o.CRDs}
	for name, text := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			if name == ch.Name()+"/templates/NOTES.txt" {
				res.Notes = text
			}
			delete(files, name)
		}
	}
	if o.PostRender != nil {
		if files, err = postRender(files, o.PostRender, o.PostRenderStrategy); err != nil {
			return nil, fmt.Errorf("%s: post-render: %w", where, err)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("%s: rendered manifests: %w", where, err)
	}
	if o.CRDs != CRDsSkip {
		for _, crd := range ch.CRDObjects() {
			objs, err := decode(crd.Filename, crd.File.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			res.CRDs = append(res.CRDs, objs...)
		}
	}
	for _, m := range manifests {
		objs, err := decode(m.Name, []byte(m.Content))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		res.Objects = append(res.Objects, objs...)
	}
	for _, h := range hooks {
		objs, err := decode(h.Path, []byte(h.Manifest))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		for _, obj := range objs {
			res.Hooks = append(res.Hooks, hookOf(h, obj))
		}
	}
	return res, nil
}

func hookOf(h *releasev1.Hook, obj Object) Hook {
	out := Hook{Object: obj, Weight: h.Weight}
	for _, e := range h.Events {
		out.Events = append(out.Events, string(e))
	}
	for _, p := range h.DeletePolicies {
		out.DeletePolicies = append(out.DeletePolicies, string(p))
	}
	return out
}

func (c Capabilities) sdk() (*common.Capabilities, error) {
	caps := common.DefaultCapabilities.Copy()
	if c.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(c.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("capabilities: Kubernetes version %q: %w", c.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	if c.APIVersions != nil {
		caps.APIVersions = append(common.VersionSet(nil), c.APIVersions...)
	}
	return caps, nil
}

// missingDependencies is helm install's check that every dependency in
// Chart.yaml is vendored under charts/: without it a missing sub-chart
// renders silently as nothing.
func missingDependencies(ch *chartv2.Chart) error {
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		found := false
		for _, sub := range ch.Dependencies() {
			if sub.Name() == d.Name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dependencies %s are declared in Chart.yaml but missing from charts/: run helm dependency build and commit charts/, or publish the chart packaged", strings.Join(missing, ", "))
	}
	return nil
}

// decode reads the YAML documents of one rendered file; documents that
// hold nothing (comments only) are dropped, as the SDK drops them.
// Whole numbers become int64, as in every object tidegate decodes, so
// that unstructured's accessors work on them. A List stays one object,
// as helm template prints it.
func decode(name string, data []byte) ([]Object, error) {
	var out []Object
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if v == nil {
			continue
		}
		m, ok := numbers(v).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: document %d is not a mapping: fix the template", name, i)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d has no apiVersion or kind: fix the template", name, i)
		}
		out = append(out, Object{Source: name, Object: obj})
	}
}

func numbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = numbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbers(e)
		}
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		f, _ := t.Float64()
		return f
	}
	return v
}
