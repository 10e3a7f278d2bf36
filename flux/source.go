package flux

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SourceGroup is the API group of Flux's sources.
const SourceGroup = "source.toolkit.fluxcd.io"

var (
	gitVersions = []string{"v1", "v1beta2", "v1beta1"}
	ociVersions = []string{"v1", "v1beta2"}
)

// defaultSourceTimeout is source-controller's default spec.timeout for
// Git and OCI operations.
const defaultSourceTimeout = 60 * time.Second

// GitRepository is a Flux GitRepository read as what to clone.
type GitRepository struct {
	Namespace, Name string
	// URL is spec.url (http, https or ssh).
	URL string
	// Ignore is spec.ignore, patterns in .gitignore syntax that replace
	// Flux's default ignores when IgnoreSet.
	Ignore    string
	IgnoreSet bool
	// SecretName is spec.secretRef.name: the credentials to clone with.
	SecretName string
	File       string
	// Ref is spec.ref; with nothing set, Flux checks out branch master.
	Ref GitRef
	// Timeout is spec.timeout, 60s when unset as in source-controller.
	Timeout time.Duration
	// Provider is spec.provider ("" or generic: credentials from
	// SecretName; azure, github, aws: workload identity).
	Provider string
	// RecurseSubmodules, Include and Verify are Flux features a unit
	// may need refused: the submodules, the included repositories' names,
	// and whether spec.verify asks for commit signatures to be checked.
	RecurseSubmodules bool
	Include           []string
	Verify            bool
	Object            *unstructured.Unstructured
}

// GitRef is spec.ref of a GitRepository. Flux's precedence, most specific
// first: Commit, Name, SemVer, Tag, Branch.
type GitRef struct{ Branch, Tag, SemVer, Name, Commit string }

// OCIRepository is a Flux OCIRepository read as what to pull.
type OCIRepository struct {
	Namespace, Name string
	// URL is spec.url, oci://registry/repository.
	URL        string
	Ignore     string
	IgnoreSet  bool
	SecretName string
	File       string
	// Ref is spec.ref; with nothing set, Flux pulls tag latest.
	Ref OCIRef
	// MediaType and Operation are spec.layerSelector: which layer to take
	// (the first when MediaType is "") and whether to extract it
	// (extract, the default) or copy it as it is (copy).
	MediaType, Operation string
	Insecure             bool
	Provider             string
	// Verify says whether spec.verify asks for signatures to be checked.
	Verify  bool
	Timeout time.Duration
	Object  *unstructured.Unstructured
}

// OCIRef is spec.ref of an OCIRepository. Flux's precedence: Digest,
// then SemVer, then Tag. SemverFilter narrows the SemVer candidates.
type OCIRef struct{ Tag, SemVer, Digest, SemverFilter string }

// IsGitRepository reports whether u is a Flux GitRepository, of any
// version (ParseGitRepository refuses the ones tidegate does not read).
func IsGitRepository(u *unstructured.Unstructured) bool { return isSource(u, "GitRepository") }

// IsOCIRepository reports whether u is a Flux OCIRepository, of any
// version.
func IsOCIRepository(u *unstructured.Unstructured) bool { return isSource(u, "OCIRepository") }

func isSource(u *unstructured.Unstructured, kind string) bool {
	if u == nil {
		return false
	}
	gvk := u.GroupVersionKind()
	return gvk.Group == SourceGroup && gvk.Kind == kind
}

// ParseGitRepository reads a Flux GitRepository (source.toolkit.fluxcd.io
// v1, v1beta2 or v1beta1) from file.
func ParseGitRepository(u *unstructured.Unstructured, file string) (*GitRepository, error) {
	spec, f, self, err := sourceSpec(u, file, "GitRepository", gitVersions)
	if err != nil {
		return nil, err
	}
	s := f.at("spec")
	g := &GitRepository{Namespace: self.Namespace, Name: self.Name, File: file, Object: u}
	g.URL = s.str(spec, "url")
	switch {
	case g.URL == "":
		s.fail("spec.url", "is missing: give the repository's http, https or ssh URL")
	case !hasScheme(g.URL, "http://", "https://", "ssh://"):
		s.fail("spec.url", "%s is not an http://, https:// or ssh:// URL, the forms Flux accepts (write git@host:repo as ssh://git@host/repo)", quote(redactURL(g.URL)))
	}
	g.Ref = GitRef{
		Branch: s.str(spec, "ref", "branch"),
		Tag:    s.str(spec, "ref", "tag"),
		SemVer: s.str(spec, "ref", "semver"),
		Name:   s.str(spec, "ref", "name"),
		Commit: s.str(spec, "ref", "commit"),
	}
	if g.Ref == (GitRef{}) {
		g.Ref.Branch = "master"
	}
	g.Ignore, g.IgnoreSet = ignore(s, spec)
	g.SecretName = secretName(s, spec, "secretRef")
	g.Provider = s.str(spec, "provider")
	switch g.Provider {
	case "", "generic", "azure", "github", "aws":
	default:
		s.fail("spec.provider", "is %s: Flux knows generic, azure, github and aws", quote(g.Provider))
	}
	g.RecurseSubmodules = s.boolean(spec, "recurseSubmodules")
	s.items(spec, func(i fields, item map[string]any) {
		name := i.str(item, "repository", "name")
		if name == "" {
			i.fail(i.name("repository", "name"), "is missing: name the GitRepository to include")
			return
		}
		g.Include = append(g.Include, name)
	}, "include")
	_, g.Verify = s.mapping(spec, "verify")
	s.strings(spec, "sparseCheckout")
	g.Timeout = sourceTimeout(s, spec)
	if !f.ok() {
		return nil, f.errs(self, file)
	}
	return g, nil
}

// ParseOCIRepository reads a Flux OCIRepository (source.toolkit.fluxcd.io
// v1 or v1beta2) from file.
func ParseOCIRepository(u *unstructured.Unstructured, file string) (*OCIRepository, error) {
	spec, f, self, err := sourceSpec(u, file, "OCIRepository", ociVersions)
	if err != nil {
		return nil, err
	}
	s := f.at("spec")
	o := &OCIRepository{Namespace: self.Namespace, Name: self.Name, File: file, Object: u}
	o.URL = s.str(spec, "url")
	switch {
	case o.URL == "":
		s.fail("spec.url", "is missing: give the artifact's repository as oci://registry/repository")
	case !hasScheme(o.URL, "oci://"):
		s.fail("spec.url", "%s is not an oci:// URL: write oci://registry/repository", quote(redactURL(o.URL)))
	}
	o.Ref = OCIRef{
		Tag:          s.str(spec, "ref", "tag"),
		SemVer:       s.str(spec, "ref", "semver"),
		Digest:       s.str(spec, "ref", "digest"),
		SemverFilter: s.str(spec, "ref", "semverFilter"),
	}
	if o.Ref.Tag == "" && o.Ref.SemVer == "" && o.Ref.Digest == "" {
		o.Ref.Tag = "latest"
	}
	o.MediaType = s.str(spec, "layerSelector", "mediaType")
	o.Operation = s.str(spec, "layerSelector", "operation")
	switch o.Operation {
	case "":
		o.Operation = "extract"
	case "extract", "copy":
	default:
		s.fail("spec.layerSelector.operation", "is %s: Flux knows extract (the default) and copy", quote(o.Operation))
	}
	o.Insecure = s.boolean(spec, "insecure")
	o.Provider = s.str(spec, "provider")
	switch o.Provider {
	case "", "generic", "aws", "azure", "gcp":
	default:
		s.fail("spec.provider", "is %s: Flux knows generic, aws, azure and gcp", quote(o.Provider))
	}
	o.Ignore, o.IgnoreSet = ignore(s, spec)
	o.SecretName = secretName(s, spec, "secretRef")
	secretName(s, spec, "certSecretRef")
	_, o.Verify = s.mapping(spec, "verify")
	o.Timeout = sourceTimeout(s, spec)
	if !f.ok() {
		return nil, f.errs(self, file)
	}
	return o, nil
}

// sourceSpec checks the kind, version and metadata of a source and
// returns its spec; problems so far stay in f.
func sourceSpec(u *unstructured.Unstructured, file, kind string, versions []string) (map[string]any, fields, Ref, error) {
	f := newFields()
	if u == nil || u.Object == nil {
		return nil, f, Ref{}, fmt.Errorf("%s: no object", quotePath(file))
	}
	self := Ref{Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName()}
	gvk := u.GroupVersionKind()
	if gvk.Group != SourceGroup || gvk.Kind != kind {
		f.fail("apiVersion", "%s %s is not a Flux %s (%s)", quote(u.GetAPIVersion()), quote(u.GetKind()), kind, SourceGroup)
		return nil, f, self, f.errs(self, file)
	}
	checkVersion(f, u, versions)
	self.Namespace, self.Name = checkMeta(f, u.Object)
	spec, ok := f.mapping(u.Object, "spec")
	if !ok {
		f.fail("spec", "is missing: a Flux %s needs at least spec.url and spec.interval", kind)
		return nil, f, self, f.errs(self, file)
	}
	s := f.at("spec")
	s.duration(spec, "interval")
	if spec["interval"] == nil {
		s.fail("spec.interval", "is missing: Flux requires it (the API server refuses the object without it); add interval: 10m")
	}
	s.boolean(spec, "suspend")
	return spec, f, self, nil
}

func sourceTimeout(s fields, spec map[string]any) time.Duration {
	if d, ok := s.duration(spec, "timeout"); ok {
		return d
	}
	return defaultSourceTimeout
}

func ignore(s fields, spec map[string]any) (string, bool) {
	_, set := s.get(spec, "ignore")
	return s.str(spec, "ignore"), set
}

func secretName(s fields, spec map[string]any, field string) string {
	if _, ok := s.mapping(spec, field); !ok {
		return ""
	}
	name := s.str(spec, field, "name")
	if name == "" {
		s.fail(s.name(field, "name"), "is missing: name the Secret, or remove spec.%s", field)
		return ""
	}
	if !validName(s, s.name(field, "name"), name) {
		return ""
	}
	return name
}

func hasScheme(u string, schemes ...string) bool {
	for _, s := range schemes {
		if len(u) > len(s) && strings.EqualFold(u[:len(s)], s) {
			return true
		}
	}
	return false
}

// redactURL drops the userinfo of a URL: a password written into
// spec.url must not reach an error message.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			return "***@" + u[at+1:]
		}
		return u
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndex(host, "@"); at >= 0 {
		return scheme + "://***@" + rest[at+1:]
	}
	return u
}

// Unsupported says why tidegate refuses a Kustomization whose sourceRef
// has the given kind; "" when the kind is supported (GitRepository,
// OCIRepository).
func Unsupported(kind string) string {
	switch kind {
	case "GitRepository", "OCIRepository":
		return ""
	case "Bucket":
		return "Bucket sources are not supported: tidegate builds from GitRepository and OCIRepository sources; publish the manifests to Git or as an OCI artifact (flux push artifact) and point spec.sourceRef at it"
	case "ExternalArtifact", "ArtifactGenerator":
		return kind + " sources are not supported: tidegate builds from GitRepository and OCIRepository sources; point spec.sourceRef at the GitRepository or OCIRepository the artifact is made from"
	default:
		return fmt.Sprintf("sourceRef kind %s is unknown: a Flux Kustomization builds from a GitRepository or an OCIRepository", quote(kind))
	}
}
