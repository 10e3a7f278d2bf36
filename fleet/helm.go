package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/internal/plaintext"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// helmReleases renders the charts of the HelmReleases in u's render and
// adds their objects to it, so that they are applied, tracked in the
// unit's inventory and pruned like the unit's other objects. The
// HelmRelease itself stays in the render as configuration (skipFlux).
//
// A release is rendered as `helm install` would render it
// (.Release.IsInstall) until its objects are in the unit's inventory,
// then as `helm upgrade` would (.Release.IsUpgrade, revision 1 still:
// tidegate keeps no release history). The inventory stands for Helm's
// release record: a release is installed once its objects were applied
// and tracked. On upgrade spec.upgrade.crds applies, unset the install's
// policy (see upgradeCRDs).
//
// spec.postRenderers (kustomize patches and images) change the
// templates' objects, hooks included as spec.postRenderStrategy says,
// not the crds/ files, as in helm-controller; spec.chart.spec.valuesFiles
// replace the chart's values.yaml as source-controller merges them.
//
// Hooks: pre-/post-install and pre-/post-upgrade hooks stay in the
// render (render and images see them) and are recorded in
// u.HelmReleases, so that the unit's reconcile sets them aside from the
// apply and runs them around it, as Helm does: pre hooks applied and
// waited for before anything else is written, post hooks after, by
// weight, with their delete policies, and only when the release
// installs or changes (see reconcile.Release). Test hooks and
// delete/rollback-only hooks are not rendered.
func (e *expander) helmReleases(ctx context.Context, u *Unit) error {
	if u.Rendered == nil {
		return nil
	}
	res := u.Rendered
	var releases []*flux.HelmRelease
	var errs []error
	for _, o := range res.Objects {
		parse := flux.ParseHelmRelease
		switch {
		case flux.IsHelmRelease(o):
		case flux.IsHelmOperatorRelease(o):
			// Flux v1's helm-operator: the same release, its chart
			// named inline.
			parse = flux.ParseHelmOperatorRelease
		default:
			continue
		}
		hr, err := parse(o, res.Origins[object.FromUnstructured(o)].File)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if hr.Suspend || hr.Ignored {
			u.SuspendedReleases = append(u.SuspendedReleases, hr.Namespace+"/"+hr.Name)
			continue
		}
		releases = append(releases, hr)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(releases) == 0 {
		return nil
	}
	cl, err := e.f.clients.forUnit(ctx, u.Kustomization)
	if err != nil {
		return err
	}
	// Where each object of the unit came from, to name both files when a
	// chart renders an object the unit already holds.
	have := map[object.ID]string{}
	for _, o := range res.Objects {
		have[object.FromUnstructured(o)] = originName(res.Origins[object.FromUnstructured(o)])
	}
	for _, hr := range releases {
		objs, secret, err := e.helmRelease(ctx, u, cl, hr)
		if err != nil {
			return fmt.Errorf("HelmRelease %s/%s (%s): %w", hr.Namespace, hr.Name, fileOr(hr.File), err)
		}
		for _, o := range objs {
			id := object.FromUnstructured(o)
			if prev, ok := have[id]; ok {
				return fmt.Errorf("HelmRelease %s/%s (%s): its chart renders %s, which the unit also holds from %s; keep one of them", hr.Namespace, hr.Name, fileOr(hr.File), id, prev)
			}
			have[id] = "HelmRelease " + hr.Namespace + "/" + hr.Name
			res.Objects = append(res.Objects, o)
			// Decrypted: values from a Secret may be anywhere in the
			// chart's objects, so diffs mask them wherever they land.
			res.Origins[id] = render.Origin{Path: u.Path, File: hr.File, Decrypted: secret}
		}
	}
	return nil
}

func originName(o render.Origin) string {
	if o.File != "" {
		return o.File
	}
	return "path " + o.Path
}

// fileOr names a file in a message, or says it is not known.
func fileOr(f string) string {
	if f == "" {
		return "file unknown"
	}
	return f
}

// helmRelease fetches, values and renders one release.
func (e *expander) helmRelease(ctx context.Context, u *Unit, cl *clusterClient, hr *flux.HelmRelease) (objs []*unstructured.Unstructured, secret bool, err error) {
	if hr.KubeConfig {
		return nil, false, errors.New("spec.kubeConfig is not supported: tidegate applies a release to its unit's cluster; move the HelmRelease into a Kustomization with that spec.kubeConfig")
	}
	if sa := hr.ServiceAccountName; sa != "" && (u.Kustomization == nil || u.Kustomization.ServiceAccountName != sa || u.Kustomization.Namespace != hr.Namespace) {
		// helm-controller would apply the release as that account;
		// tidegate applies it as the unit, so a different account
		// would widen (or narrow) what the release may write.
		return nil, false, fmt.Errorf("spec.serviceAccountName %s differs from the account its unit applies as (the Kustomization's spec.serviceAccountName): tidegate applies a release as its unit; set the same serviceAccountName on the Kustomization, in the HelmRelease's namespace", sa)
	}
	strategy, err := chartrender.ParsePostRenderStrategy(hr.PostRenderStrategy)
	if err != nil {
		return nil, false, fmt.Errorf("spec.postRenderStrategy: %w", err)
	}
	if err := checkValuesFiles(hr); err != nil {
		return nil, false, err
	}
	ch, err := e.chart(ctx, u, cl, hr)
	if err != nil {
		return nil, false, err
	}
	if ch, err = e.withValuesFiles(ctx, u, hr, ch); err != nil {
		return nil, false, err
	}
	look := &lookup{pool: e.pool, cluster: cl, unit: u.Name, log: e.f.log}
	var secretValues bool
	found := map[chartrender.ValuesSource]map[string][]byte{}
	var refs []chartrender.ValuesReference
	for _, v := range hr.ValuesFrom {
		refs = append(refs, chartrender.ValuesReference{Kind: v.Kind, Name: v.Name, Namespace: v.Namespace, ValuesKey: v.ValuesKey, TargetPath: v.TargetPath, Optional: v.Optional})
		key := chartrender.ValuesSource{Kind: v.Kind, Namespace: v.Namespace, Name: v.Name}
		if v.Kind == chartrender.ChartFile {
			if data, ok := chartFile(ch, v.Name); ok {
				found[key] = map[string][]byte{v.Name: data}
			}
			continue
		}
		ns := hr.Namespace
		if v.Namespace != "" {
			ns = v.Namespace
		}
		data, ok, err := look.Get(ctx, v.Kind, ns, v.Name)
		if err != nil {
			return nil, false, fmt.Errorf("spec.valuesFrom: %w", err)
		}
		if !ok {
			continue
		}
		b := make(map[string][]byte, len(data))
		for k, s := range data {
			b[k] = []byte(s)
		}
		found[key] = b
		if v.Kind == "Secret" {
			secretValues = true
			maskValues(u.Rendered.Plaintext, v, data)
		}
	}
	vals, err := chartrender.MergeValues(hr.Namespace, hr.Values, refs, found)
	if err != nil {
		return nil, false, err
	}
	caps, err := cl.capabilities()
	if err != nil {
		return nil, false, err
	}
	policy, err := chartrender.ParseCRDPolicy(hr.InstallCRDs)
	if err != nil {
		return nil, false, err
	}
	ns := hr.ReleaseNamespace()
	opts := chartrender.Options{ReleaseName: hr.ReleaseName, Namespace: ns, Capabilities: caps, CRDs: policy, PostRender: postRenderer(hr), PostRenderStrategy: strategy}
	out, opts, err := e.renderRelease(ctx, u, cl, hr, ch.Chart, vals, opts)
	if err != nil {
		return nil, false, err
	}
	for _, c := range out.CRDs {
		objs = append(objs, c.Object)
	}
	for _, o := range out.Objects {
		objs = append(objs, o.Object)
	}
	var hooks []chartrender.Hook
	for _, h := range out.Hooks {
		if h.Has("pre-install") || h.Has("post-install") || h.Has("pre-upgrade") || h.Has("post-upgrade") {
			objs = append(objs, h.Object.Object)
			hooks = append(hooks, h)
		}
	}
	// The release's own CRDs say the scope of kinds the cluster may not
	// know yet.
	crds := object.CRDs(objs)
	for _, o := range objs {
		if o.GetNamespace() == "" && !cl.clusterScoped(o, crds) {
			// Helm applies what a chart leaves unnamespaced into
			// the release namespace.
			o.SetNamespace(ns)
		}
	}
	u.HelmReleases = append(u.HelmReleases, releaseOf(hr, objs, hooks))
	e.f.log.Info("rendered HelmRelease", "unit", u.Name, "helmrelease", hr.Namespace+"/"+hr.Name, "chart", ch.Name, "version", ch.Version, "upgrade", opts.IsUpgrade, "objects", len(objs))
	return objs, secretValues, nil
}

// chartFile is a file of the loaded chart (Flux v1's chartFileRef), by
// its slash-separated path in the chart: only what the chart holds can
// be read, never a file beside it.
func chartFile(ch *charts.Chart, name string) ([]byte, bool) {
	for _, f := range ch.Chart.Raw {
		if f.Name == name {
			return f.Data, true
		}
	}
	return nil, false
}

// maskValues records the values a valuesFrom Secret gives, so that diffs
// and messages mask them: the whole text at a targetPath, else every
// scalar of its YAML.
func maskValues(set *plaintext.Set, v flux.ValuesFrom, data map[string]string) {
	key := v.ValuesKey
	if key == "" {
		key = "values.yaml"
	}
	text, ok := data[key]
	if !ok {
		return
	}
	if v.TargetPath != "" {
		set.Add(text)
		return
	}
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return
	}
	var walk func(any)
	walk = func(n any) {
		switch t := n.(type) {
		case map[string]any:
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		case nil:
		default:
			set.Add(t)
		}
	}
	walk(doc)
}

// chart fetches the release's chart from its source.
func (e *expander) chart(ctx context.Context, u *Unit, cl *clusterClient, hr *flux.HelmRelease) (*charts.Chart, error) {
	if hr.ChartRef != nil {
		obj, err := e.sourceObject(ctx, cl, *hr.ChartRef)
		if err != nil {
			return nil, fmt.Errorf("spec.chartRef: %w", err)
		}
		repo, err := flux.ParseOCIRepository(obj, "")
		if err != nil {
			return nil, fmt.Errorf("spec.chartRef: %w", err)
		}
		secret, err := cl.optionalSecret(ctx, repo.Namespace, repo.SecretName)
		if err != nil {
			return nil, fmt.Errorf("spec.chartRef %s: spec.secretRef: %w", hr.ChartRef, err)
		}
		r := repo.Ref
		c, err := e.charts.FromOCI(ctx, charts.Repository{URL: repo.URL, Secret: secret, Insecure: repo.Insecure}, charts.OCIReference{Tag: r.Tag, SemVer: r.SemVer, Digest: r.Digest})
		if err != nil {
			return nil, fmt.Errorf("spec.chartRef %s: %w", hr.ChartRef, err)
		}
		return c, nil
	}
	switch {
	case hr.Repository != nil:
		// Flux v1: the repository by URL; helm-operator had no
		// per-release credentials for it (chartPullSecret was never
		// implemented).
		c, err := e.charts.FromRepository(ctx, charts.Repository{URL: hr.Repository.URL}, hr.Chart, hr.Version)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.repository: %w", err)
		}
		return c, nil
	case hr.Git != nil:
		src, err := e.operatorGit(ctx, cl, hr.Git)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.git: %w", err)
		}
		return chartDirectory(ctx, e.charts, src, hr.Chart, "spec.chart.path "+hr.Chart+" of "+src.display)
	}
	ref := hr.SourceRef
	switch ref.Kind {
	case "HelmRepository":
		obj, err := e.sourceObject(ctx, cl, ref)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.spec.sourceRef: %w", err)
		}
		repo, err := flux.ParseHelmRepository(obj, "")
		if err != nil {
			return nil, fmt.Errorf("spec.chart.spec.sourceRef: %w", err)
		}
		secret, err := cl.optionalSecret(ctx, repo.Namespace, repo.SecretName)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.spec.sourceRef %s: spec.secretRef: %w", ref, err)
		}
		if repo.CertSecretName != "" {
			certs, err := cl.secret(ctx, repo.Namespace, repo.CertSecretName)
			if err != nil {
				return nil, fmt.Errorf("spec.chart.spec.sourceRef %s: spec.certSecretRef: %w", ref, err)
			}
			if secret == nil {
				secret = map[string][]byte{}
			}
			for k, v := range certs {
				secret[k] = v
			}
		}
		c, err := e.charts.FromRepository(ctx, charts.Repository{URL: repo.URL, Secret: secret, PassCredentials: repo.PassCredentials, Insecure: repo.Insecure}, hr.Chart, hr.Version)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.spec.sourceRef %s: %w", ref, err)
		}
		return c, nil
	case "GitRepository":
		// The chart is a directory of the repository, fetched once per
		// run like a unit's source, with the unit's access.
		k := flux.Kustomization{Namespace: hr.Namespace, Name: hr.Name}
		if u.Kustomization != nil {
			k = *u.Kustomization
		}
		k.SourceRef = ref
		src, err := e.source(ctx, &k)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.spec.sourceRef: %w", err)
		}
		return chartDirectory(ctx, e.charts, src, hr.Chart, "spec.chart.spec.chart "+hr.Chart+" of "+ref.String())
	}
	return nil, fmt.Errorf("spec.chart.spec.sourceRef: kind %s is not supported", ref.Kind)
}

// chartDirectory loads the chart at dir of a checkout, confined to it;
// where names the field in errors.
func chartDirectory(ctx context.Context, f *charts.Fetcher, src *fetched, dir, where string) (*charts.Chart, error) {
	c, err := f.FromDirectoryContext(ctx, src.root, strings.TrimPrefix(dir, "./"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return c, nil
}

// sourceObject is a Flux source from the run's renders, else from the
// cluster.
func (e *expander) sourceObject(ctx context.Context, cl *clusterClient, ref flux.Ref) (*unstructured.Unstructured, error) {
	if obj := e.pool.source(ref); obj != nil {
		return obj, nil
	}
	return cl.source(ctx, ref)
}

// builtinClusterScoped are the cluster-scoped kinds charts commonly
// render, for a run without a cluster to ask.
var builtinClusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true, {Kind: "PersistentVolume"}: true, {Kind: "Node"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                       true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                 true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                    true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                             true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:      true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                           true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                              true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                    true,
}

// clusterScoped asks the cluster's kinds, then the release's own CRDs,
// then the built-in list.
func (c *clusterClient) clusterScoped(o *unstructured.Unstructured, crds map[schema.GroupKind]object.CRD) bool {
	gvk := o.GroupVersionKind()
	if c.mapper != nil {
		if m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			return m.Scope.Name() == meta.RESTScopeNameRoot
		}
	}
	if crd, ok := crds[gvk.GroupKind()]; ok {
		return !crd.Namespaced
	}
	return builtinClusterScoped[gvk.GroupKind()]
}

// capabilities is what a chart sees as .Capabilities: the cluster's
// version and API versions as helm install would read them, or the
// SDK's defaults without a cluster. Discovered once per access.
func (c *clusterClient) capabilities() (chartrender.Capabilities, error) {
	if c.disc == nil {
		return chartrender.Capabilities{}, nil
	}
	c.capsOnce.Do(func() {
		// The mapper's cached discovery: the API versions are read once
		// for both.
		dc := c.disc
		v, err := dc.ServerVersion()
		if err != nil {
			c.capsErr = fmt.Errorf("read the cluster's version for .Capabilities: %w", err)
			return
		}
		_, lists, err := dc.ServerGroupsAndResources()
		if err != nil && len(lists) == 0 {
			c.capsErr = fmt.Errorf("read the cluster's API versions for .Capabilities: %w", err)
			return
		}
		caps := chartrender.Capabilities{KubeVersion: v.GitVersion, APIVersions: []string{}}
		for _, l := range lists {
			caps.APIVersions = append(caps.APIVersions, l.GroupVersion)
			for _, r := range l.APIResources {
				if !strings.Contains(r.Name, "/") {
					caps.APIVersions = append(caps.APIVersions, l.GroupVersion+"/"+r.Kind)
				}
			}
		}
		c.caps = caps
	})
	return c.caps, c.capsErr
}
