// Package inflate renders the charts a kustomization lists in
// helmCharts, for render, the way `kustomize build --enable-helm` does
// with the kustomize version tidegate is built with, but with the Helm
// SDK (package chartrender) instead of the helm binary, and with charts
// fetched by package charts, bounded and digest-checked, instead of
// `helm pull` writing into the repository.
//
// kustomize's steps, reproduced:
//
//	chart    the directory render found in chartHome, used as it is;
//	         otherwise fetched from repo (an HTTP(S) index or an oci://
//	         registry) at version (a semver range; empty is the latest
//	         stable), kept in memory for the rest of the run.
//	values   valuesFile, by default the chart's own values.yaml; with
//	         valuesInline, merged into it with kustomize's merge
//	         (override: the inline values win; merge: the file's win;
//	         replace: the inline values alone); then
//	         additionalValuesFiles over that, key by key, as helm's -f
//	         merges them. The chart's values.yaml stays underneath, as
//	         in helm template.
//	render   helm template's flags: releaseName (kustomize's default
//	         gives helm template's "release-name"), nameTemplate,
//	         namespace ("default" when neither the chart nor a
//	         kustomization above it names one), includeCRDs, skipHooks,
//	         skipTests, apiVersions (added to the SDK's defaults) and
//	         kubeVersion.
package inflate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/render"
)

// Inflater is a render.HelmInflater. One serves a whole run: a chart
// fetched for one kustomization is used again for the others.
type Inflater struct {
	fetch *charts.Fetcher
	log   *slog.Logger

	mu      sync.Mutex
	fetched map[string]*charts.Chart
}

// New returns an Inflater that fetches with f; log may be nil.
func New(f *charts.Fetcher, log *slog.Logger) *Inflater {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inflater{fetch: f, log: log, fetched: map[string]*charts.Chart{}}
}

// helm template's release name when none is given: kustomize passes
// --generate-name, which helm template ignores for this default.
const defaultReleaseName = "release-name"

// Inflate renders one chart as kustomize's helm template would.
func (in *Inflater) Inflate(ctx context.Context, c *render.HelmChart) ([]*unstructured.Unstructured, error) {
	ch, err := in.chart(ctx, c)
	if err != nil {
		return nil, err
	}
	// helm template's own check (action.CheckIfInstallable).
	if t := ch.Chart.Metadata.Type; t != "" && t != "application" {
		return nil, fmt.Errorf("chart %s %s is a %s chart, and helm installs only application charts: point helmCharts at the chart that uses it", ch.Name, ch.Version, t)
	}
	vals, err := values(ch, c)
	if err != nil {
		return nil, err
	}
	name := c.ReleaseName
	if name == "" {
		name = defaultReleaseName
	}
	if c.NameTemplate != "" {
		if name, err = templateName(c.NameTemplate); err != nil {
			return nil, fmt.Errorf("nameTemplate: %w", err)
		}
		// A release renamed on every run would be a new release each
		// time, its objects pruned and created again.
		if again, _ := templateName(c.NameTemplate); again != name {
			return nil, fmt.Errorf("nameTemplate %q gives another name each time (%q, then %q): a random or clock function; set releaseName instead", c.NameTemplate, name, again)
		}
	}
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return nil, fmt.Errorf("release name %q: %w", name, err)
	}
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	caps := chartrender.Capabilities{KubeVersion: c.KubeVersion}
	if len(c.ApiVersions) > 0 {
		caps.APIVersions = append(append([]string(nil), common.DefaultVersionSet...), c.ApiVersions...)
	}
	crds := chartrender.CRDsSkip
	if c.IncludeCRDs {
		crds = chartrender.CRDsCreate
	}
	res, err := chartrender.Render(ctx, ch.Chart, vals, chartrender.Options{ReleaseName: name, Namespace: ns, Capabilities: caps, CRDs: crds})
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, o := range res.CRDs {
		out = append(out, o.Object)
	}
	for _, o := range res.Objects {
		out = append(out, o.Object)
	}
	if !c.SkipHooks {
		for _, h := range res.Hooks {
			if c.SkipTests && h.Has("test") {
				continue
			}
			out = append(out, h.Object.Object)
		}
	}
	in.log.Debug("inflated helm chart", "chart", ch.Name, "version", ch.Version, "from", ch.URL, "release", name, "namespace", ns, "objects", len(out))
	return out, nil
}

// chart loads the vendored chart or fetches it, once per run.
func (in *Inflater) chart(ctx context.Context, c *render.HelmChart) (*charts.Chart, error) {
	if c.ChartDir != "" {
		return in.fetch.FromDirectoryContext(ctx, c.Root, c.ChartDir)
	}
	repo := strings.TrimSuffix(c.Repo, "/")
	key := repo + "\x00" + c.Name + "\x00" + c.Version
	in.mu.Lock()
	ch, ok := in.fetched[key]
	in.mu.Unlock()
	if ok {
		return ch, nil
	}
	ch, err := in.fetch.FromRepository(ctx, charts.Repository{URL: repo}, c.Name, c.Version)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	in.fetched[key] = ch
	in.mu.Unlock()
	return ch, nil
}

// values computes the values kustomize hands helm template (see the
// package documentation).
func values(ch *charts.Chart, c *render.HelmChart) (map[string]any, error) {
	mode := c.ValuesMerge
	if mode == "" {
		mode = "override"
	}
	file := c.Values
	if file == nil && (len(c.ValuesInline) == 0 || mode != "replace") {
		for _, f := range ch.Chart.Raw {
			if f.Name == "values.yaml" {
				file = f.Data
			}
		}
		if file == nil {
			return nil, fmt.Errorf("chart %s %s has no values.yaml, which kustomize reads when valuesFile is not set: set valuesFile", ch.Name, ch.Version)
		}
	}
	first := file
	if len(c.ValuesInline) > 0 {
		inline := c.ValuesInline
		if mode != "replace" {
			merged, err := mergeInline(file, inline, mode)
			if err != nil {
				return nil, err
			}
			inline = merged
		}
		b, err := yaml.Marshal(inline)
		if err != nil {
			return nil, fmt.Errorf("valuesInline: %w", err)
		}
		first = b
	}
	base := map[string]any{}
	for i, data := range append([][]byte{first}, c.AdditionalValues...) {
		cur, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			what := "valuesFile"
			if i > 0 {
				what = fmt.Sprintf("additionalValuesFiles[%d]", i-1)
			}
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		base = loader.MergeMaps(base, cur)
	}
	return base, nil
}

// mergeInline is kustomize's merge of valuesInline into the values
// file, with kyaml's merge: for override the inline values are the
// source merged over the file, for merge the other way round.
func mergeInline(file []byte, inline map[string]any, mode string) (map[string]any, error) {
	fileNode, err := kyaml.Parse(string(file))
	if err != nil {
		return nil, fmt.Errorf("valuesFile: %w", err)
	}
	inlineNode, err := kyaml.FromMap(inline)
	if err != nil {
		return nil, fmt.Errorf("valuesInline: %w", err)
	}
	var out *kyaml.RNode
	if mode == "override" {
		out, err = merge2.Merge(inlineNode, fileNode.Copy(), kyaml.MergeOptions{})
	} else {
		out, err = merge2.Merge(fileNode, inlineNode.Copy(), kyaml.MergeOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("valuesInline: merging into valuesFile: %w", err)
	}
	m, err := out.Map()
	if err != nil {
		return nil, fmt.Errorf("valuesInline: %w", err)
	}
	return m, nil
}

// templateName is helm's --name-template: a text/template with sprig's
// functions and no data.
func templateName(text string) (string, error) {
	t, err := template.New("name-template").Funcs(sprig.TxtFuncMap()).Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return "", err
	}
	return b.String(), nil
}
