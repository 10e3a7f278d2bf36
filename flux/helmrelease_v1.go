package flux

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// HelmOperatorGroup is the API group of Flux v1's helm-operator
// HelmRelease.
const HelmOperatorGroup = "helm.fluxcd.io"

// IgnoreAnnotation is Flux v1's annotation for objects fluxd does not
// sync.
const IgnoreAnnotation = "fluxcd.io/ignore"

// scpRemote is git's user@host:path, the form Flux v1 repositories
// write chart.git in (git@github.com:org/repo).
var scpRemote = regexp.MustCompile(`^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:[^/]`)

// commitRef is a (short) commit SHA, which chart.ref may be.
var commitRef = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// IsHelmOperatorRelease reports whether u is a Flux v1 helm-operator
// HelmRelease (helm.fluxcd.io).
func IsHelmOperatorRelease(u *unstructured.Unstructured) bool {
	if u == nil {
		return false
	}
	gvk := u.GroupVersionKind()
	return gvk.Group == HelmOperatorGroup && gvk.Kind == "HelmRelease"
}

// ParseHelmOperatorRelease reads a Flux v1 HelmRelease (helm.fluxcd.io/v1)
// into the shape of a v2 one, with helm-operator's defaults: the release
// is named namespace-name (namespace-targetNamespace-name when the
// target differs), the chart comes from spec.chart.repository/name/
// version or from spec.chart.git/ref (master)/path, and spec.values go
// over spec.valuesFrom in order. spec.valuesFrom externalSourceRef is
// refused: it would read a URL no source declares. What belongs to a
// controller (wait, timeout, rollback, test, resetValues, forceUpgrade,
// maxHistory, helmVersion) is read and not used.
func ParseHelmOperatorRelease(u *unstructured.Unstructured, file string) (*HelmRelease, error) {
	f := newFields()
	if u == nil || u.Object == nil {
		return nil, fmt.Errorf("%s: no object", quotePath(file))
	}
	self := Ref{Kind: "HelmRelease", Namespace: u.GetNamespace(), Name: u.GetName()}
	if !IsHelmOperatorRelease(u) {
		f.fail("apiVersion", "%s %s is not a Flux v1 HelmRelease (%s)", quote(u.GetAPIVersion()), quote(u.GetKind()), HelmOperatorGroup)
		return nil, f.errs(self, file)
	}
	checkVersion(f, u, []string{"v1"})
	self.Namespace, self.Name = checkMeta(f, u.Object)
	spec, ok := f.mapping(u.Object, "spec")
	if !ok {
		f.fail("spec", "is missing: a HelmRelease needs at least spec.chart")
		return nil, f.errs(self, file)
	}
	s := f.at("spec")
	h := &HelmRelease{Namespace: self.Namespace, Name: self.Name, File: file, Object: u}
	h.Ignored = u.GetAnnotations()[IgnoreAnnotation] == "true"
	h.TargetNamespace = s.str(spec, "targetNamespace")
	if h.TargetNamespace != "" {
		validNamespace(s, "spec.targetNamespace", h.TargetNamespace)
	}
	h.ReleaseName = s.str(spec, "releaseName")
	if h.ReleaseName == "" {
		h.ReleaseName = h.Namespace + "-" + h.Name
		if t := h.TargetNamespace; t != "" && t != h.Namespace {
			h.ReleaseName = h.Namespace + "-" + t + "-" + h.Name
		}
	}
	checkReleaseName(s, h.ReleaseName)
	operatorChart(s, spec, h)
	h.Values, _ = s.mapping(spec, "values")
	// valueFileSecrets is the deprecated form of secretKeyRef, read
	// before valuesFrom as helm-operator reads it.
	s.items(spec, func(i fields, item map[string]any) {
		v := ValuesFrom{Kind: "Secret", Name: i.str(item, "name")}
		if v.Name == "" {
			i.fail(i.name("name"), "is missing: name the Secret")
		}
		h.ValuesFrom = append(h.ValuesFrom, v)
	}, "valueFileSecrets")
	s.items(spec, func(i fields, item map[string]any) {
		if v, ok := operatorValuesFrom(i, item); ok {
			h.ValuesFrom = append(h.ValuesFrom, v)
		}
	}, "valuesFrom")
	if s.boolean(spec, "skipCRDs") {
		h.InstallCRDs = "Skip"
	}
	// Read for their types only: they steer helm-operator's upgrades,
	// which a one-shot apply has no use for.
	s.boolean(spec, "resetValues")
	s.boolean(spec, "forceUpgrade")
	s.boolean(spec, "wait")
	s.mapping(spec, "rollback")
	s.mapping(spec, "test")
	switch v := s.str(spec, "helmVersion"); v {
	case "", "v2", "v3":
	default:
		s.fail("spec.helmVersion", "is %s: helm-operator knows v2 and v3", quote(v))
	}
	if !f.ok() {
		return nil, f.errs(self, file)
	}
	return h, nil
}

// operatorChart reads spec.chart: a chart repository's chart, or a
// chart directory of a Git repository.
func operatorChart(s fields, spec map[string]any, h *HelmRelease) {
	chart, ok := s.mapping(spec, "chart")
	if !ok {
		s.fail("spec.chart", "is missing: give repository, name and version, or git, ref and path")
		return
	}
	c := s.at("spec.chart")
	repoURL, gitURL := c.str(chart, "repository"), c.str(chart, "git")
	switch {
	case repoURL != "" && gitURL != "":
		c.fail("spec.chart.git", "is set with spec.chart.repository: keep one of them")
	case repoURL != "":
		if !hasScheme(repoURL, "http://", "https://") {
			c.fail("spec.chart.repository", "%s is not an http:// or https:// URL: tidegate reads a chart repository's index.yaml over HTTP(S) (helm downloader plugins such as s3:// are not run)", quote(redactURL(repoURL)))
		}
		h.Repository = &HelmRepository{Namespace: h.Namespace, URL: repoURL, Type: "default"}
		if h.Chart = c.str(chart, "name"); h.Chart == "" {
			c.fail("spec.chart.name", "is missing: name the chart in the repository")
		}
		if h.Version = c.str(chart, "version"); h.Version == "" {
			c.fail("spec.chart.version", "is missing: give the chart's version, as helm-operator needs")
		}
		// chartPullSecret: helm-operator never implemented it.
		c.mapping(chart, "chartPullSecret")
	case gitURL != "":
		if !hasScheme(gitURL, "http://", "https://", "ssh://") && !scpRemote.MatchString(gitURL) {
			c.fail("spec.chart.git", "%s is not an http://, https:// or ssh:// URL or git@host:path: a chart is cloned from a Git server, never read from this machine", quote(redactURL(gitURL)))
		}
		g := &GitRepository{Namespace: h.Namespace, Name: h.Name, URL: gitURL, File: h.File, Ref: operatorGitRef(c.str(chart, "ref"))}
		if _, ok := c.mapping(chart, "secretRef"); ok {
			if g.SecretName = c.str(chart, "secretRef", "name"); g.SecretName == "" {
				c.fail("spec.chart.secretRef.name", "is missing: name the Secret with username and password, or remove spec.chart.secretRef")
			} else {
				validName(c, "spec.chart.secretRef.name", g.SecretName)
			}
			if ns := c.str(chart, "secretRef", "namespace"); ns != "" {
				validNamespace(c, "spec.chart.secretRef.namespace", ns)
				g.Namespace = ns
			}
		}
		h.Git = g
		h.Chart = c.str(chart, "path")
		if h.Chart == "" {
			c.fail("spec.chart.path", "is missing: give the chart's directory in the repository")
		} else if !inside(h.Chart) {
			c.fail("spec.chart.path", "%s leaves the repository: give a directory relative to its root, without ..", quote(h.Chart))
		}
		c.boolean(chart, "skipDepUpdate")
	default:
		c.fail("spec.chart", "names no chart: give repository, name and version, or git, ref and path")
	}
}

// operatorGitRef is chart.ref as a GitRef: a commit SHA, a full
// reference name, else a branch (the caller tries a tag of that name
// when there is no such branch, as git checkout would).
func operatorGitRef(ref string) GitRef {
	switch {
	case ref == "":
		return GitRef{Branch: "master"}
	case commitRef.MatchString(ref):
		return GitRef{Commit: ref}
	case strings.HasPrefix(ref, "refs/"):
		return GitRef{Name: ref}
	}
	return GitRef{Branch: ref}
}

// operatorValuesFrom reads one spec.valuesFrom entry; false when it is
// refused (the problem recorded).
func operatorValuesFrom(i fields, item map[string]any) (ValuesFrom, bool) {
	var set []string
	for _, k := range []string{"configMapKeyRef", "secretKeyRef", "chartFileRef", "externalSourceRef"} {
		if _, ok := i.get(item, k); ok {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		i.fail(i.name(), "sets %d of configMapKeyRef, secretKeyRef, chartFileRef, externalSourceRef: set exactly one", len(set))
		return ValuesFrom{}, false
	}
	k := set[0]
	ref, ok := i.mapping(item, k)
	if !ok {
		return ValuesFrom{}, false
	}
	r := i.at(i.name(k))
	switch k {
	case "externalSourceRef":
		i.fail(i.name(k), "is not supported: tidegate reads values only from the repository, the sources it declares and the cluster, never from a URL fetched at render time (network no source declares, content no review saw); put these values in Git, in a ConfigMap (configMapKeyRef) or in spec.values")
		return ValuesFrom{}, false
	case "chartFileRef":
		p := r.str(ref, "path")
		switch {
		case p == "":
			r.fail(r.name("path"), "is missing: give the values file's path in the chart")
		case !inside(p):
			r.fail(r.name("path"), "%s leaves the chart: give a path relative to the chart's directory, without ..", quote(p))
		}
		return ValuesFrom{Kind: "ChartFile", Name: path.Clean(p), Optional: r.boolean(ref, "optional")}, true
	}
	v := ValuesFrom{Kind: "ConfigMap", Name: r.str(ref, "name"), Namespace: r.str(ref, "namespace"), ValuesKey: r.str(ref, "key"), Optional: r.boolean(ref, "optional")}
	if k == "secretKeyRef" {
		v.Kind = "Secret"
	}
	if v.Name == "" {
		r.fail(r.name("name"), "is missing: name the %s", v.Kind)
	} else {
		validName(r, r.name("name"), v.Name)
	}
	if v.Namespace != "" {
		validNamespace(r, r.name("namespace"), v.Namespace)
	}
	return v, true
}

// inside reports whether a slash-separated relative path stays below
// the directory it is relative to.
func inside(p string) bool {
	c := path.Clean(strings.TrimPrefix(p, "./"))
	return !path.IsAbs(p) && !strings.HasPrefix(p, "\\") && c != ".." && !strings.HasPrefix(c, "../")
}
