package flux

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// HelmGroup is the API group of helm-controller's HelmRelease.
const HelmGroup = "helm.toolkit.fluxcd.io"

var (
	helmReleaseVersions    = []string{"v2", "v2beta2", "v2beta1"}
	helmRepositoryVersions = []string{"v1", "v1beta2"}
)

// HelmRelease is a Flux HelmRelease read as what to render: a chart,
// where it comes from, and its values.
type HelmRelease struct {
	Namespace, Name string
	File            string
	// Chart is spec.chart.spec.chart: the chart's name in a
	// HelmRepository, or its directory in a GitRepository.
	Chart string
	// Version is spec.chart.spec.version, a semver range ("" is the
	// latest stable, as in Flux's "*").
	Version string
	// SourceRef is spec.chart.spec.sourceRef (HelmRepository or
	// GitRepository), its namespace defaulted to the HelmRelease's. It
	// is zero when ChartRef is used.
	SourceRef Ref
	// ChartRef is spec.chartRef (OCIRepository), nil when unset.
	ChartRef *Ref
	// ReleaseName is spec.releaseName, or Flux's default:
	// [targetNamespace-]name.
	ReleaseName string
	// TargetNamespace is spec.targetNamespace; the release namespace is
	// it, or the HelmRelease's own namespace (ReleaseNamespace).
	TargetNamespace string
	// Values is spec.values; ValuesFrom is spec.valuesFrom in order.
	Values     map[string]any
	ValuesFrom []ValuesFrom
	// InstallCRDs and UpgradeCRDs are spec.install.crds and
	// spec.upgrade.crds: Skip, Create or CreateReplace ("" is Flux's
	// default, Create on install, Skip on upgrade).
	InstallCRDs, UpgradeCRDs string
	// PostRenderers says whether spec.postRenderers is set;
	// PostRenderKustomize holds each entry's kustomize mapping as
	// written, in order (render.PostRender reads it), and
	// PostRenderStrategy is spec.postRenderStrategy.
	PostRenderers       bool
	PostRenderKustomize []map[string]any
	PostRenderStrategy  string
	// ServiceAccountName is spec.serviceAccountName: whom helm-controller
	// applies the release as.
	ServiceAccountName string
	// KubeConfig says whether spec.kubeConfig is set (a release for
	// another cluster); ValuesFiles is spec.chart.spec.valuesFiles.
	KubeConfig  bool
	ValuesFiles []string
	Suspend     bool
	// Repository and Git are where a Flux v1 (helm.fluxcd.io) release
	// names its chart inline, where v2 names a source object: a chart
	// repository by URL (Chart is the chart's name, Version an exact
	// version), or a Git repository to clone (Chart is the chart's
	// directory in it). Both nil for a v2 release.
	Repository *HelmRepository
	Git        *GitRepository
	// Ignored is Flux v1's fluxcd.io/ignore: "true": fluxd left such an
	// object as it was in the cluster, so tidegate leaves the release
	// as it is, like a suspended one.
	Ignored bool
	Object  *unstructured.Unstructured

	// IgnoreMissingValuesFiles is spec.chart.spec.ignoreMissingValuesFiles.
	IgnoreMissingValuesFiles bool
}

// ReleaseNamespace is where Helm installs the release's objects.
func (h *HelmRelease) ReleaseNamespace() string {
	if h.TargetNamespace != "" {
		return h.TargetNamespace
	}
	return h.Namespace
}

// ValuesFrom is one entry of spec.valuesFrom.
type ValuesFrom struct {
	// Kind is ConfigMap or Secret, in Namespace; or ChartFile (Flux v1's
	// chartFileRef), a values file of the chart, Name its path in it.
	Kind, Name string
	// Namespace is the object's namespace when Flux v1 names one; "" is
	// the HelmRelease's.
	Namespace string
	// ValuesKey defaults to values.yaml (left "" here).
	ValuesKey  string
	TargetPath string
	Optional   bool
}

// HelmRepository is a Flux HelmRepository read as where to fetch charts.
type HelmRepository struct {
	Namespace, Name string
	File            string
	// URL is spec.url: http(s):// for an index, oci:// for a registry.
	URL string
	// Type is spec.type: default (an index) or oci.
	Type string
	// SecretName is spec.secretRef.name; PassCredentials sends its
	// credentials to hosts other than the repository's too.
	SecretName string
	// CertSecretName is spec.certSecretRef.name (ca.crt, tls.crt,
	// tls.key).
	CertSecretName  string
	PassCredentials bool
	Insecure        bool
	Suspend         bool
	Object          *unstructured.Unstructured
}

// IsHelmRelease reports whether u is a Flux v2 HelmRelease, of any
// version of helm.toolkit.fluxcd.io.
func IsHelmRelease(u *unstructured.Unstructured) bool {
	if u == nil {
		return false
	}
	gvk := u.GroupVersionKind()
	return gvk.Group == HelmGroup && gvk.Kind == "HelmRelease"
}

// IsHelmRepository reports whether u is a Flux HelmRepository.
func IsHelmRepository(u *unstructured.Unstructured) bool { return isSource(u, "HelmRepository") }

// ParseHelmRelease reads a Flux HelmRelease (helm.toolkit.fluxcd.io v2,
// v2beta2 or v2beta1) from file.
func ParseHelmRelease(u *unstructured.Unstructured, file string) (*HelmRelease, error) {
	f := newFields()
	if u == nil || u.Object == nil {
		return nil, fmt.Errorf("%s: no object", quotePath(file))
	}
	self := Ref{Kind: "HelmRelease", Namespace: u.GetNamespace(), Name: u.GetName()}
	if !IsHelmRelease(u) {
		f.fail("apiVersion", "%s %s is not a Flux HelmRelease (%s)", quote(u.GetAPIVersion()), quote(u.GetKind()), HelmGroup)
		return nil, f.errs(self, file)
	}
	checkVersion(f, u, helmReleaseVersions)
	self.Namespace, self.Name = checkMeta(f, u.Object)
	spec, ok := f.mapping(u.Object, "spec")
	if !ok {
		f.fail("spec", "is missing: a HelmRelease needs at least spec.chart (or spec.chartRef) and spec.interval")
		return nil, f.errs(self, file)
	}
	s := f.at("spec")
	h := &HelmRelease{Namespace: self.Namespace, Name: self.Name, File: file, Object: u}
	s.duration(spec, "interval")
	h.Suspend = s.boolean(spec, "suspend")
	h.TargetNamespace = s.str(spec, "targetNamespace")
	if h.TargetNamespace != "" {
		validNamespace(s, "spec.targetNamespace", h.TargetNamespace)
	}
	h.ReleaseName = s.str(spec, "releaseName")
	if h.ReleaseName == "" {
		h.ReleaseName = h.Name
		if h.TargetNamespace != "" {
			h.ReleaseName = h.TargetNamespace + "-" + h.Name
		}
	}
	checkReleaseName(s, h.ReleaseName)
	_, hasChart := s.mapping(spec, "chart")
	_, hasRef := s.mapping(spec, "chartRef")
	switch {
	case hasChart && hasRef:
		s.fail("spec.chartRef", "is set with spec.chart: keep one of them")
	case hasChart:
		cs := s.at("spec.chart.spec")
		cspec, ok := s.mapping(spec, "chart", "spec")
		if !ok {
			s.fail("spec.chart.spec", "is missing: give chart, version and sourceRef")
			break
		}
		if h.Chart = cs.str(cspec, "chart"); h.Chart == "" {
			cs.fail("spec.chart.spec.chart", "is missing: name the chart (or its directory in a GitRepository)")
		}
		h.Version = cs.str(cspec, "version")
		h.SourceRef = Ref{
			Kind:       cs.str(cspec, "sourceRef", "kind"),
			Name:       cs.str(cspec, "sourceRef", "name"),
			Namespace:  cs.str(cspec, "sourceRef", "namespace"),
			APIVersion: cs.str(cspec, "sourceRef", "apiVersion"),
		}
		if h.SourceRef.Namespace == "" {
			h.SourceRef.Namespace = h.Namespace
		}
		switch h.SourceRef.Kind {
		case "HelmRepository", "GitRepository":
		case "":
			cs.fail("spec.chart.spec.sourceRef.kind", "is missing: HelmRepository or GitRepository")
		case "Bucket":
			cs.fail("spec.chart.spec.sourceRef.kind", "is Bucket: tidegate fetches charts from HelmRepository and GitRepository sources (or an OCIRepository through spec.chartRef)")
		default:
			cs.fail("spec.chart.spec.sourceRef.kind", "is %s: a chart comes from a HelmRepository or a GitRepository", quote(h.SourceRef.Kind))
		}
		if h.SourceRef.Name == "" {
			cs.fail("spec.chart.spec.sourceRef.name", "is missing: name the %s", h.SourceRef.Kind)
		} else {
			validName(cs, "spec.chart.spec.sourceRef.name", h.SourceRef.Name)
		}
	case hasRef:
		ref := Ref{
			Kind:       s.str(spec, "chartRef", "kind"),
			Name:       s.str(spec, "chartRef", "name"),
			Namespace:  s.str(spec, "chartRef", "namespace"),
			APIVersion: s.str(spec, "chartRef", "apiVersion"),
		}
		if ref.Namespace == "" {
			ref.Namespace = h.Namespace
		}
		if ref.Kind != "OCIRepository" {
			s.fail("spec.chartRef.kind", "is %s: tidegate reads chartRef of kind OCIRepository (a HelmChart is not supported: use spec.chart)", quote(ref.Kind))
		}
		if ref.Name == "" {
			s.fail("spec.chartRef.name", "is missing: name the OCIRepository")
		}
		h.ChartRef = &ref
	default:
		s.fail("spec.chart", "is missing: give spec.chart.spec (chart, version, sourceRef) or spec.chartRef")
	}
	h.Values, _ = s.mapping(spec, "values")
	s.items(spec, func(i fields, item map[string]any) {
		v := ValuesFrom{
			Kind:       i.str(item, "kind"),
			Name:       i.str(item, "name"),
			ValuesKey:  i.str(item, "valuesKey"),
			TargetPath: i.str(item, "targetPath"),
			Optional:   i.boolean(item, "optional"),
		}
		if v.Kind != "ConfigMap" && v.Kind != "Secret" {
			i.fail(i.name("kind"), "is %s: valuesFrom reads a ConfigMap or a Secret", quote(v.Kind))
		}
		if v.Name == "" {
			i.fail(i.name("name"), "is missing: name the %s", v.Kind)
		}
		h.ValuesFrom = append(h.ValuesFrom, v)
	}, "valuesFrom")
	h.InstallCRDs = crdPolicy(s, spec, "install")
	h.UpgradeCRDs = crdPolicy(s, spec, "upgrade")
	h.ServiceAccountName = s.str(spec, "serviceAccountName")
	_, h.KubeConfig = s.mapping(spec, "kubeConfig")
	h.ValuesFiles = s.strings(spec, "chart", "spec", "valuesFiles")
	if vf := s.str(spec, "chart", "spec", "valuesFile"); vf != "" {
		h.ValuesFiles = append([]string{vf}, h.ValuesFiles...)
	}
	h.IgnoreMissingValuesFiles = s.boolean(spec, "chart", "spec", "ignoreMissingValuesFiles")
	_, h.PostRenderers = s.get(spec, "postRenderers")
	parsePostRenderers(s, spec, h)
	if !f.ok() {
		return nil, f.errs(self, file)
	}
	return h, nil
}

// checkReleaseName refuses a release name Helm would refuse, over 53
// characters. Flux shortens a long default name with a hash; tidegate
// does not guess it.
func checkReleaseName(s fields, name string) {
	if len(name) > 53 {
		s.fail("spec.releaseName", "%s is longer than the 53 characters Helm allows: set spec.releaseName", quote(name))
	}
}

func crdPolicy(s fields, spec map[string]any, action string) string {
	p := s.str(spec, action, "crds")
	switch p {
	case "", "Skip", "Create", "CreateReplace":
	default:
		s.fail(s.name(action, "crds"), "is %s: use Skip, Create or CreateReplace", quote(p))
	}
	return p
}

// ParseHelmRepository reads a Flux HelmRepository
// (source.toolkit.fluxcd.io v1 or v1beta2) from file.
func ParseHelmRepository(u *unstructured.Unstructured, file string) (*HelmRepository, error) {
	f := newFields()
	if u == nil || u.Object == nil {
		return nil, fmt.Errorf("%s: no object", quotePath(file))
	}
	self := Ref{Kind: "HelmRepository", Namespace: u.GetNamespace(), Name: u.GetName()}
	if !IsHelmRepository(u) {
		f.fail("apiVersion", "%s %s is not a Flux HelmRepository (%s)", quote(u.GetAPIVersion()), quote(u.GetKind()), SourceGroup)
		return nil, f.errs(self, file)
	}
	checkVersion(f, u, helmRepositoryVersions)
	self.Namespace, self.Name = checkMeta(f, u.Object)
	spec, ok := f.mapping(u.Object, "spec")
	if !ok {
		f.fail("spec", "is missing: a HelmRepository needs at least spec.url")
		return nil, f.errs(self, file)
	}
	s := f.at("spec")
	r := &HelmRepository{Namespace: self.Namespace, Name: self.Name, File: file, Object: u}
	// spec.interval is optional for a HelmRepository (Flux does not
	// poll an OCI one), so it is only checked when given.
	s.duration(spec, "interval")
	s.duration(spec, "timeout")
	r.Suspend = s.boolean(spec, "suspend")
	r.Type = s.str(spec, "type")
	switch r.Type {
	case "":
		r.Type = "default"
	case "default", "oci":
	default:
		s.fail("spec.type", "is %s: Flux knows default (an index over HTTP) and oci", quote(r.Type))
	}
	r.URL = s.str(spec, "url")
	switch {
	case r.URL == "":
		s.fail("spec.url", "is missing: give the repository's https:// (or oci://) URL")
	case r.Type == "oci" && !hasScheme(r.URL, "oci://"):
		s.fail("spec.url", "%s is not an oci:// URL, which a HelmRepository of type oci needs", quote(redactURL(r.URL)))
	case r.Type == "default" && !hasScheme(r.URL, "http://", "https://"):
		s.fail("spec.url", "%s is not an http:// or https:// URL: a HelmRepository of type default reads index.yaml over HTTP (set type: oci for a registry)", quote(redactURL(r.URL)))
	}
	r.SecretName = secretName(s, spec, "secretRef")
	r.CertSecretName = secretName(s, spec, "certSecretRef")
	r.PassCredentials = s.boolean(spec, "passCredentials")
	r.Insecure = s.boolean(spec, "insecure")
	if p := s.str(spec, "provider"); p != "" && p != "generic" {
		s.fail("spec.provider", "is %s: tidegate reads credentials from spec.secretRef only (provider generic)", quote(p))
	}
	if !f.ok() {
		return nil, f.errs(self, file)
	}
	return r, nil
}
