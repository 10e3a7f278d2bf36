package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// A kustomization's helmCharts are inflated by kustomize with the helm
// binary, which downloads the chart and runs as a subprocess: neither
// is allowed in this stage. Instead, when Options.Helm is set, render
// reads each entry as kustomize (the version in go.mod) would, reads the
// files it names inside the repository (valuesFile,
// additionalValuesFiles, a chart vendored in helmGlobals.chartHome),
// and hands the entry to the HelmInflater, which fetches and renders
// the chart outside the stage. The objects are served to krusty from
// memory as one more resource of that kustomization, marked as
// kustomize marks a chart's output (so that its namespace transformer
// leaves them alone, as it does for helm's), and the kustomization is
// served without its helm fields: the checkout is never written, and
// krusty itself still has Helm off.
//
// The inflation runs as krusty reads the kustomization, under the
// process-wide krusty lock (render.go): a chart fetched then holds up
// other units' builds for its download, bounded by the fetcher's
// timeouts. Done before krusty instead, it could not know the
// namespace kustomize hands down to a base.

// HelmInflater renders the chart of one helmCharts entry the way
// `helm template` does, with the entry's flags (includeCRDs,
// skipHooks, skipTests, apiVersions, kubeVersion, release name and
// namespace), and returns the objects in the order helm prints them.
type HelmInflater interface {
	Inflate(ctx context.Context, chart *HelmChart) ([]*unstructured.Unstructured, error)
}

// HelmChart is one helmCharts entry, read against the repository.
type HelmChart struct {
	// HelmChart is the entry as kustomize reads it: Namespace resolved
	// as kustomize resolves it (the entry's, else its kustomization's,
	// else the nearest kustomization above it that sets one), and
	// ValuesFile and AdditionalValuesFiles read into the fields below.
	types.HelmChart
	// Root is the repository's root, an absolute path.
	Root string
	// ChartDir, when set, is the chart vendored in the repository
	// (relative to Root), used as it is without any network; otherwise
	// the chart is fetched from Repo.
	ChartDir string
	// Values is the content of valuesFile; nil means the chart's own
	// values.yaml, kustomize's default.
	Values []byte
	// AdditionalValues are the additionalValuesFiles' contents, in
	// order.
	AdditionalValues [][]byte
}

const (
	// valuesMerge's modes; kustomize's default is override.
	valuesOverride = "override"
	valuesMerge    = "merge"
	valuesReplace  = "replace"
)

// helmChartsOf lists a kustomization's charts as kustomize reads them:
// helmCharts, then the deprecated helmChartInflationGenerator converted
// by kustomize's own function, with the field name of each for errors.
func helmChartsOf(k *types.Kustomization) ([]types.HelmChart, []string, types.HelmGlobals) {
	old, oldGlobals := types.SplitHelmParameters(k.HelmChartInflationGenerator)
	globals := oldGlobals
	if k.HelmGlobals != nil {
		globals = *k.HelmGlobals
	}
	var list []types.HelmChart
	var fields []string
	for _, c := range k.HelmCharts {
		list = append(list, c)
		fields = append(fields, fmt.Sprintf("helmCharts[%s]", c.Name))
	}
	for _, c := range old {
		list = append(list, c)
		fields = append(fields, fmt.Sprintf("helmChartInflationGenerator[%s]", c.Name))
	}
	return list, fields, globals
}

// helmChecks refuses the parts of a kustomization's charts tidegate does
// not inflate, or that would leave the repository. It reads no file.
func helmChecks(file string, k *types.Kustomization) []error {
	charts, fields, globals := helmChartsOf(k)
	if len(charts) == 0 {
		return nil
	}
	var errs []error
	refuse := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", file, field, fmt.Sprintf(format, args...)))
	}
	if home := globals.ChartHome; home != "" && (filepath.IsAbs(home) || isRemote(home)) {
		refuse("helmGlobals.chartHome", "%q is not a path relative to the kustomization; tidegate reads charts only from the repository: give a relative directory (default charts)", home)
	}
	if globals.ConfigHome != "" {
		refuse("helmGlobals.configHome", "tidegate reads no Helm configuration (repositories, registry logins); remove configHome: public chart repositories need none")
	}
	for i, c := range charts {
		f := fields[i]
		switch {
		case c.Name == "":
			refuse(f, "name is empty: give the chart's name")
		case strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == "..":
			refuse(f+".name", "%q is not a chart name: give the bare name; the chart is looked for under chartHome", c.Name)
		}
		if c.ReleaseName != "" && c.NameTemplate != "" {
			refuse(f, "releaseName and nameTemplate are both set; helm refuses both (cannot set --name-template and also specify a name): keep one")
		}
		if c.Devel {
			refuse(f+".devel", "is not supported: give the pre-release you want in version")
		}
		switch c.ValuesMerge {
		case "", valuesOverride, valuesMerge, valuesReplace:
		default:
			refuse(f+".valuesMerge", "%q: use override, merge or replace", c.ValuesMerge)
		}
		if c.Repo != "" {
			if u, err := url.Parse(c.Repo); err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "oci") || u.Host == "" {
				refuse(f+".repo", "%q is not an http(s):// chart repository or an oci:// registry: give one of those, or vendor the chart under chartHome", redactURL(c.Repo))
			} else if u.User != nil {
				refuse(f+".repo", "%q holds credentials: tidegate fetches helmCharts from public repositories only; remove them", redactURL(c.Repo))
			}
		}
		paths := func(field, p string) {
			switch {
			case isRemote(p):
				errs = append(errs, &RemoteError{File: file, Field: field, Entry: p, Why: whyURL, Fix: fixFile})
			case filepath.IsAbs(p):
				refuse(field, "%q is absolute: give a path relative to the kustomization, inside the repository", p)
			}
		}
		paths(f+".valuesFile", c.ValuesFile)
		for j, p := range c.AdditionalValuesFiles {
			paths(fmt.Sprintf("%s.additionalValuesFiles[%d]", f, j), p)
		}
	}
	return errs
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// helmFile is the name a chart's objects are served under, next to the
// kustomization that lists them; a real file of that name is shadowed.
func helmFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf(".tidegate-helmcharts-%d.yaml", i))
}

// withHelmCharts returns the kustomization at abs (data, as krusty is
// about to read it) with its charts inflated: each one's objects served
// as a resource from memory, the helm fields removed. Without charts,
// or without an inflater (the scan has refused them then), data is
// returned as it is.
func (r *renderer) withHelmCharts(abs string, data []byte) ([]byte, error) {
	if r.helm == nil || !bytes.Contains(bytes.ToLower(data), []byte("helm")) {
		return data, nil
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return data, nil // krusty says what is wrong, in its words
	}
	charts, fields, globals := helmChartsOf(&k)
	if len(charts) == 0 {
		return data, nil
	}
	file := r.rel(abs)
	if errs := helmChecks(file, &k); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	// kustomize's order: the entry's namespace, the kustomization's,
	// the one handed down from above.
	inherited, nsErr := r.inheritedNamespace(dir, file)
	var errs []error
	var served []string
	for i, c := range charts {
		switch {
		case c.Namespace != "":
		case k.Namespace != "":
			c.Namespace = k.Namespace
		case nsErr != nil:
			errs = append(errs, fmt.Errorf("%s: %w", fields[i], nsErr))
			continue
		default:
			c.Namespace = inherited
		}
		count := r.dec.count
		objs, err := r.inflate(dir, globals, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", file, fields[i], err))
			continue
		}
		stream, err := helmStream(objs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", file, fields[i], err))
			continue
		}
		name := helmFile(dir, i)
		if r.virtual == nil {
			r.virtual = map[string][]byte{}
		}
		r.virtual[name] = stream
		r.helmOrigins[name] = file
		// Values from a SOPS file may land anywhere in the chart's
		// objects, templated or encoded: every one is masked.
		r.helmDecrypted[name] = r.dec.count > count
		served = append(served, "./"+filepath.Base(name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// After bases, as kustomize's generators come after them.
	k.Resources = append(append(k.Resources, k.Bases...), served...)
	k.Bases = nil
	k.HelmCharts, k.HelmGlobals, k.HelmChartInflationGenerator = nil, nil, nil
	return yaml.Marshal(k)
}

// inflate reads the files one chart names and has it inflated.
func (r *renderer) inflate(dir string, globals types.HelmGlobals, c types.HelmChart) ([]*unstructured.Unstructured, error) {
	home := globals.ChartHome
	if home == "" {
		home = types.HelmDefaultHome
	}
	homeAbs := filepath.Join(dir, filepath.FromSlash(home))
	if err := r.check(homeAbs); err != nil {
		return nil, fmt.Errorf("helmGlobals.chartHome: %w", err)
	}
	// kustomize's layout: a chart pulled at a version from a repository
	// lives in <chartHome>/<name>-<version>/<name>, any other in
	// <chartHome>/<name>.
	chartAbs := filepath.Join(homeAbs, c.Name)
	if c.Version != "" && c.Repo != "" {
		chartAbs = filepath.Join(homeAbs, c.Name+"-"+c.Version, c.Name)
	}
	req := &HelmChart{HelmChart: c, Root: r.root}
	if err := r.check(chartAbs); err != nil {
		return nil, fmt.Errorf("helmGlobals.chartHome: %w", err)
	}
	if real, err := filepath.EvalSymlinks(chartAbs); err == nil && !r.ignored(real) {
		if fi, err := os.Stat(real); err == nil && fi.IsDir() {
			req.ChartDir = r.rel(real)
		}
	}
	if req.ChartDir == "" && c.Repo == "" {
		return nil, fmt.Errorf("no chart at %s and no repo to fetch it from: vendor the chart there (helm pull --untar) or set repo", r.rel(chartAbs))
	}
	fs := &repoFS{r: r}
	read := func(field, p string) ([]byte, error) {
		abs := filepath.Join(dir, filepath.FromSlash(p))
		data, err := fs.ReadFile(abs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return data, nil
	}
	// kustomize reads valuesFile only to merge inline values into it.
	if c.ValuesFile != "" && (len(c.ValuesInline) == 0 || c.ValuesMerge != valuesReplace) {
		data, err := read("valuesFile", c.ValuesFile)
		if err != nil {
			return nil, err
		}
		// An empty file is a file: nil would mean the chart's values.
		req.Values = append([]byte{}, data...)
	}
	for i, p := range c.AdditionalValuesFiles {
		data, err := read(fmt.Sprintf("additionalValuesFiles[%d]", i), p)
		if err != nil {
			return nil, err
		}
		req.AdditionalValues = append(req.AdditionalValues, data)
	}
	req.ValuesFile, req.AdditionalValuesFiles = "", nil
	return r.helm.Inflate(r.ctx, req)
}

// inheritedNamespace is the namespace kustomize passes down to the
// kustomization in dir from the ones above it in this build (the
// nearest that sets one), "" for none. A kustomization reached with two
// different ones would inflate differently on each path: refused.
func (r *renderer) inheritedNamespace(dir, file string) (string, error) {
	type visit struct{ dir, ns string }
	seen := map[visit]bool{}
	found := map[string]bool{}
	var walk func(d, ns string)
	walk = func(d, ns string) {
		if seen[visit{d, ns}] {
			return
		}
		seen[visit{d, ns}] = true
		if d == dir {
			found[ns] = true
		}
		next := ns
		if n := r.namespaces[d]; n != "" {
			next = n
		}
		for _, c := range r.children[d] {
			walk(c, next)
		}
	}
	walk(r.buildRoot, "")
	if len(found) <= 1 {
		for ns := range found {
			return ns, nil
		}
		return "", nil
	}
	var list []string
	for ns := range found {
		if ns == "" {
			ns = "(none)"
		}
		list = append(list, ns)
	}
	sort.Strings(list)
	return "", fmt.Errorf("%s is reached from kustomizations with different namespaces (%s), and kustomize gives its charts the namespace of the one above: set namespace on the chart", file, strings.Join(list, ", "))
}

// helmStream is a chart's objects as one YAML stream, each marked as
// kustomize marks what helm renders. Lists are expanded first, as
// kustomize expands them (items after the other objects), so that the
// mark is on every item.
func helmStream(objs []*unstructured.Unstructured) ([]byte, error) {
	queue := make([]map[string]any, 0, len(objs))
	for _, o := range objs {
		queue = append(queue, o.Object)
	}
	var buf bytes.Buffer
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if kind, _ := m["kind"].(string); strings.HasSuffix(kind, "List") {
			if items, ok := m["items"]; ok {
				list, ok := items.([]any)
				if items != nil && !ok {
					return nil, fmt.Errorf("the chart renders a %s whose items are a %T, not a list: fix the template", kind, items)
				}
				for _, it := range list {
					im, ok := it.(map[string]any)
					if !ok {
						return nil, fmt.Errorf("the chart renders a %s with an item that is a %T, not an object: fix the template", kind, it)
					}
					queue = append(queue, im)
				}
				continue
			}
		}
		u := &unstructured.Unstructured{Object: m}
		ann := u.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[konfig.HelmGeneratedAnnotation] = "true"
		u.SetAnnotations(ann)
		b, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
