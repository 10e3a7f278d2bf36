package flux

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The API group of Flux's Kustomization and the versions tidegate reads.
const (
	KustomizeGroup    = "kustomize.toolkit.fluxcd.io"
	KustomizationKind = "Kustomization"
)

var kustomizeVersions = []string{"v1", "v1beta2", "v1beta1"}

// Kustomization is a Flux Kustomization object read as an instruction: a
// unit of the run that builds Path from SourceRef and applies the result.
type Kustomization struct {
	Namespace, Name string
	// File is the repository file the object came from ("" if unknown).
	File string
	// Path is spec.path, cleaned and relative to the root of the source
	// ("." for the root, Flux's default when spec.path is empty).
	Path string
	// SourceRef is spec.sourceRef, its namespace defaulted to the
	// Kustomization's as Flux does.
	SourceRef Ref
	// DependsOn are the Kustomizations this one waits for (Kind
	// Kustomization, namespace defaulted to the object's), without
	// duplicates, in the object's order. A dependency's readyExpr is not
	// evaluated: a dependency is ready when its unit succeeded.
	DependsOn []Ref
	Prune     bool
	// Suspend units are skipped and reported.
	Suspend bool
	Force   bool
	Wait    bool
	// Timeout is how long the unit's apply and health checks may take:
	// spec.timeout, else spec.interval less 30s, never under 30s
	// (kustomize-controller's GetTimeout).
	Timeout time.Duration
	// Interval is spec.interval; a one-shot run uses it only for Timeout.
	Interval           time.Duration
	TargetNamespace    string
	ServiceAccountName string
	// HealthChecks are the objects spec.healthChecks asks to be ready,
	// with their APIVersion (apps/v1 when not given, as Flux does); their
	// namespace is as written ("" for a cluster-scoped object).
	HealthChecks []Ref
	// KubeConfig is spec.kubeConfig.secretRef: the unit applies to the
	// cluster of that kubeconfig.
	KubeConfig *SecretKeyRef
	// Decryption is spec.decryption (provider sops).
	Decryption *Decryption
	// SubstituteFrom is spec.postBuild.substituteFrom, in order.
	SubstituteFrom []SubstituteRef
	// Substitute is spec.postBuild.substitute.
	Substitute map[string]string
	// SubstituteStrategy is spec.postBuild.substituteStrategy:
	// WithVariables (the default: substitute only when some variable is
	// defined) or Always.
	SubstituteStrategy string
	// HasPostBuild says whether spec.postBuild is present at all.
	HasPostBuild bool
	// DeletionPolicy is spec.deletionPolicy: what becomes of the unit's
	// objects when the Kustomization itself is deleted (MirrorPrune, the
	// default, follows Prune; Delete, WaitForTermination, Orphan).
	DeletionPolicy string
	// Object is the whole object, for render.Options.Flux.
	Object *unstructured.Unstructured
}

// SecretKeyRef names one key of a Secret in the object's namespace; an
// empty Key means Flux's default for the field.
type SecretKeyRef struct{ Name, Key string }

// Decryption is spec.decryption.
type Decryption struct {
	// Provider is always "sops", the only one Flux has.
	Provider string
	// SecretName holds the keys (see DecryptionKeys); "" when the keys
	// come from the run (--age-key and friends).
	SecretName string
	// ServiceAccountName authenticates to cloud KMS in Flux; tidegate
	// does not use it.
	ServiceAccountName string
}

// SubstituteRef is one entry of spec.postBuild.substituteFrom.
type SubstituteRef struct {
	// Kind is ConfigMap or Secret.
	Kind     string
	Name     string
	Optional bool
}

// Ref returns the Kustomization's own reference.
func (k *Kustomization) Ref() Ref {
	return Ref{Kind: KustomizationKind, Namespace: k.Namespace, Name: k.Name}
}

// Unsupported says why tidegate refuses the unit's source kind; "" when
// it is supported (see the function Unsupported).
func (k *Kustomization) Unsupported() string { return Unsupported(k.SourceRef.Kind) }

// String is Ref().String().
func (k *Kustomization) String() string { return k.Ref().String() }

// IsKustomization reports whether u is a Flux Kustomization
// (kustomize.toolkit.fluxcd.io), as opposed to kustomize's own
// kustomize.config.k8s.io Kustomization. It is true for every version of
// the group, so that ParseKustomization refuses a version tidegate does
// not read instead of the object slipping through as a plain object.
func IsKustomization(u *unstructured.Unstructured) bool {
	if u == nil {
		return false
	}
	gvk := u.GroupVersionKind()
	return gvk.Group == KustomizeGroup && gvk.Kind == KustomizationKind
}

// ParseKustomization reads a Flux Kustomization (v1, v1beta2 or v1beta1)
// from file. Every problem is reported at once, each an *Error naming
// the object, the file and the field.
func ParseKustomization(u *unstructured.Unstructured, file string) (*Kustomization, error) {
	if u == nil || u.Object == nil {
		return nil, fmt.Errorf("%s: no object", quotePath(file))
	}
	self := Ref{Kind: KustomizationKind, Namespace: u.GetNamespace(), Name: u.GetName()}
	f := newFields()
	obj := u.Object
	if !IsKustomization(u) {
		f.fail("apiVersion", "%s %s is not a Flux Kustomization (%s)", quote(u.GetAPIVersion()), quote(u.GetKind()), KustomizeGroup)
		return nil, f.errs(self, file)
	}
	checkVersion(f, u, kustomizeVersions)
	self.Namespace, self.Name = checkMeta(f, obj)

	k := &Kustomization{Namespace: self.Namespace, Name: self.Name, File: file, Object: u}
	spec, ok := f.mapping(obj, "spec")
	if !ok {
		f.fail("spec", "is missing: a Flux Kustomization needs at least spec.interval and spec.sourceRef")
		return nil, f.errs(self, file)
	}
	s := f.at("spec")

	p := s.str(spec, "path")
	if cleaned, err := cleanPath(p); err != nil {
		s.fail("spec.path", "%w", err)
	} else {
		k.Path = cleaned
	}

	k.SourceRef = sourceRef(s, spec, k.Namespace)

	seen := map[Ref]bool{}
	s.items(spec, func(d fields, item map[string]any) {
		ref := Ref{Kind: KustomizationKind, Namespace: d.str(item, "namespace"), Name: d.str(item, "name")}
		d.str(item, "readyExpr")
		if ref.Name == "" {
			d.fail(d.name("name"), "is missing: name the Kustomization this one waits for")
			return
		}
		if ref.Namespace == "" {
			ref.Namespace = k.Namespace
		}
		if !validName(d, d.name("name"), ref.Name) || !validNamespace(d, d.name("namespace"), ref.Namespace) {
			return
		}
		if !seen[ref] {
			seen[ref] = true
			k.DependsOn = append(k.DependsOn, ref)
		}
	}, "dependsOn")

	k.Prune = s.boolean(spec, "prune")
	k.Suspend = s.boolean(spec, "suspend")
	k.Force = s.boolean(spec, "force")
	k.Wait = s.boolean(spec, "wait")

	interval, _ := s.duration(spec, "interval")
	if spec["interval"] == nil {
		s.fail("spec.interval", "is missing: Flux requires it (the API server refuses the object without it); add interval: 10m")
	}
	timeout, hasTimeout := s.duration(spec, "timeout")
	s.duration(spec, "retryInterval")
	k.Interval = interval
	k.Timeout = fluxTimeout(interval, timeout, hasTimeout)

	if ns := s.str(spec, "targetNamespace"); ns != "" {
		if validNamespace(s, "spec.targetNamespace", ns) {
			k.TargetNamespace = ns
		}
	}
	if sa := s.str(spec, "serviceAccountName"); sa != "" {
		if validName(s, "spec.serviceAccountName", sa) {
			k.ServiceAccountName = sa
		}
	}

	s.items(spec, func(h fields, item map[string]any) {
		ref := Ref{APIVersion: h.str(item, "apiVersion"), Kind: h.str(item, "kind"), Namespace: h.str(item, "namespace"), Name: h.str(item, "name")}
		if ref.Kind == "" {
			h.fail(h.name("kind"), "is missing: name the kind of the object to check, such as Deployment")
			return
		}
		if ref.Name == "" {
			h.fail(h.name("name"), "is missing: name the object to check")
			return
		}
		if ref.APIVersion == "" {
			// kustomize-controller's default, kept from v1beta1.
			ref.APIVersion = "apps/v1"
		}
		if _, err := schema.ParseGroupVersion(ref.APIVersion); err != nil {
			h.fail(h.name("apiVersion"), "%s is not an API version: write group/version, such as apps/v1 (v1 for the core group)", quotePath(ref.APIVersion))
			return
		}
		k.HealthChecks = append(k.HealthChecks, ref)
	}, "healthChecks")

	if kc, ok := s.mapping(spec, "kubeConfig"); ok {
		kf := s.at("spec.kubeConfig")
		if _, ok := kf.get(kc, "configMapRef"); ok {
			kf.fail("spec.kubeConfig.configMapRef", "is not supported: tidegate reads a remote cluster's kubeconfig from a Secret; use spec.kubeConfig.secretRef")
		}
		if ref, ok := kf.mapping(kc, "secretRef"); ok {
			rf := kf.at("spec.kubeConfig.secretRef")
			name := rf.str(ref, "name")
			if name == "" {
				kf.fail("spec.kubeConfig.secretRef.name", "is missing: name the Secret that holds the kubeconfig")
			} else if validName(kf, "spec.kubeConfig.secretRef.name", name) {
				k.KubeConfig = &SecretKeyRef{Name: name, Key: rf.str(ref, "key")}
			}
		} else if _, ok := kf.get(kc, "configMapRef"); !ok {
			kf.fail("spec.kubeConfig.secretRef", "is missing: name the Secret that holds the remote cluster's kubeconfig, or remove spec.kubeConfig to apply to this cluster")
		}
	}

	if dec, ok := s.mapping(spec, "decryption"); ok {
		df := s.at("spec.decryption")
		d := &Decryption{Provider: df.str(dec, "provider"), SecretName: df.str(dec, "secretRef", "name"), ServiceAccountName: df.str(dec, "serviceAccountName")}
		switch {
		case d.Provider == "":
			df.fail("spec.decryption.provider", "is missing: Flux's only provider is sops; add provider: sops")
		case d.Provider != "sops":
			df.fail("spec.decryption.provider", "is %s: Flux's only decryption provider is sops", quote(d.Provider))
		}
		if d.SecretName != "" && !validName(df, "spec.decryption.secretRef.name", d.SecretName) {
			d.SecretName = ""
		}
		k.Decryption = d
	}

	if pb, ok := s.mapping(spec, "postBuild"); ok {
		k.HasPostBuild = true
		pf := s.at("spec.postBuild")
		k.Substitute = pf.stringMap(pb, "substitute")
		switch st := pf.str(pb, "substituteStrategy"); st {
		case "", "WithVariables", "Always":
			k.SubstituteStrategy = st
		default:
			pf.fail("spec.postBuild.substituteStrategy", "is %s: Flux knows WithVariables (the default) and Always", quote(st))
		}
		pf.items(pb, func(r fields, item map[string]any) {
			ref := SubstituteRef{Kind: r.str(item, "kind"), Name: r.str(item, "name"), Optional: r.boolean(item, "optional")}
			switch ref.Kind {
			case "ConfigMap", "Secret":
			case "":
				r.fail(r.name("kind"), "is missing: write ConfigMap or Secret")
				return
			default:
				r.fail(r.name("kind"), "is %s: Flux substitutes from a ConfigMap or a Secret", quote(ref.Kind))
				return
			}
			if ref.Name == "" {
				r.fail(r.name("name"), "is missing: name the %s that holds the variables", ref.Kind)
				return
			}
			if validName(r, r.name("name"), ref.Name) {
				k.SubstituteFrom = append(k.SubstituteFrom, ref)
			}
		}, "substituteFrom")
	}

	if k.SubstituteStrategy == "" {
		k.SubstituteStrategy = "WithVariables"
	}
	switch dp := s.str(spec, "deletionPolicy"); dp {
	case "":
		k.DeletionPolicy = "MirrorPrune"
	case "MirrorPrune", "Delete", "WaitForTermination", "Orphan":
		k.DeletionPolicy = dp
	default:
		s.fail("spec.deletionPolicy", "is %s: Flux knows MirrorPrune (the default), Delete, WaitForTermination and Orphan", quote(dp))
	}

	// The build fields are render's to apply; reading their shapes here
	// refuses a wrong type before anything is built.
	s.str(spec, "namePrefix")
	s.str(spec, "nameSuffix")
	s.items(spec, func(p fields, item map[string]any) {
		p.str(item, "patch")
		selector(p, item)
	}, "patches")
	// A strategic merge patch is a partial object of any shape.
	s.items(spec, func(fields, map[string]any) {}, "patchesStrategicMerge")
	s.items(spec, func(p fields, item map[string]any) {
		selector(p, item)
		p.items(item, func(op fields, o map[string]any) {
			op.str(o, "op")
			op.str(o, "path")
			op.str(o, "from")
		}, "patch")
	}, "patchesJson6902")
	s.items(spec, func(i fields, item map[string]any) {
		for _, k := range []string{"name", "newName", "newTag", "digest"} {
			i.str(item, k)
		}
	}, "images")
	s.strings(spec, "components")
	s.boolean(spec, "ignoreMissingComponents")
	if cm, ok := s.mapping(spec, "commonMetadata"); ok {
		c := s.at("spec.commonMetadata")
		c.stringMap(cm, "labels")
		c.stringMap(cm, "annotations")
	}

	if !f.ok() {
		return nil, f.errs(self, file)
	}
	return k, nil
}

// selector checks the target of a patch.
func selector(f fields, item map[string]any) {
	if _, ok := f.mapping(item, "target"); ok {
		for _, k := range []string{"group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"} {
			f.str(item, "target", k)
		}
	}
}

// fluxTimeout is kustomize-controller's GetTimeout.
func fluxTimeout(interval, timeout time.Duration, hasTimeout bool) time.Duration {
	d := interval - 30*time.Second
	if hasTimeout {
		d = timeout
	}
	if d < 30*time.Second {
		return 30 * time.Second
	}
	return d
}

// sourceRef reads spec.sourceRef.
func sourceRef(s fields, spec map[string]any, namespace string) Ref {
	sr, ok := s.mapping(spec, "sourceRef")
	if !ok {
		if spec["sourceRef"] == nil {
			s.fail("spec.sourceRef", "is missing: name the GitRepository or OCIRepository to build from (flux bootstrap's is GitRepository flux-system)")
		}
		return Ref{}
	}
	f := s.at("spec.sourceRef")
	ref := Ref{APIVersion: f.str(sr, "apiVersion"), Kind: f.str(sr, "kind"), Namespace: f.str(sr, "namespace"), Name: f.str(sr, "name")}
	switch ref.Kind {
	case "GitRepository", "OCIRepository", "Bucket", "ExternalArtifact":
	case "":
		f.fail("spec.sourceRef.kind", "is missing: write GitRepository or OCIRepository")
	default:
		f.fail("spec.sourceRef.kind", "is %s: a Flux Kustomization builds from a GitRepository, OCIRepository, Bucket or ExternalArtifact", quote(ref.Kind))
	}
	if ref.Name == "" {
		f.fail("spec.sourceRef.name", "is missing: name the %s to build from", orWord(ref.Kind, "source"))
	} else {
		validName(f, "spec.sourceRef.name", ref.Name)
	}
	if ref.Namespace == "" {
		ref.Namespace = namespace
	} else {
		validNamespace(f, "spec.sourceRef.namespace", ref.Namespace)
	}
	return ref
}

func orWord(s, alt string) string {
	if s == "" || !plain(s) {
		return alt
	}
	return s
}

// checkVersion refuses a version of the group tidegate does not read.
func checkVersion(f fields, u *unstructured.Unstructured, versions []string) {
	v := u.GroupVersionKind().Version
	for _, want := range versions {
		if v == want {
			return
		}
	}
	f.fail("apiVersion", "%s is not a version tidegate reads: use %s/%s", quote(u.GetAPIVersion()), u.GroupVersionKind().Group, strings.Join(versions, ", "))
}

// checkMeta reads and validates metadata.namespace and metadata.name.
// Flux objects are namespaced and have no namespace to fall back on in a
// repository, so a missing namespace is refused rather than guessed.
func checkMeta(f fields, obj map[string]any) (namespace, name string) {
	if name = f.str(obj, "metadata", "name"); name != "" {
		validName(f, "metadata.name", name)
	} else {
		f.fail("metadata.name", "is missing: every Flux object needs a name")
	}
	if namespace = f.str(obj, "metadata", "namespace"); namespace != "" {
		validNamespace(f, "metadata.namespace", namespace)
	} else {
		f.fail("metadata.namespace", "is missing: Flux objects are namespaced; set metadata.namespace (flux bootstrap uses flux-system)")
	}
	return namespace, name
}

// validName checks an object name as the API server would, so that a
// name no cluster could hold is refused where it is written.
func validName(f fields, field, name string) bool {
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		f.fail(field, "%s is not a valid object name: use at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", quote(name))
		return false
	}
	return true
}

func validNamespace(f fields, field, ns string) bool {
	if len(validation.IsDNS1123Label(ns)) > 0 {
		f.fail(field, "%s is not a valid namespace name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", quote(ns))
		return false
	}
	return true
}

// errEscapes is wrapped by the error of a path that leaves the source.
var errEscapes = errors.New("leaves the root of the source")

// cleanPath makes a Flux spec.path relative to the source root: "" and
// "./" are the root ("."), a leading "/" is the root too (kustomize-
// controller joins spec.path under the artifact), and a path that climbs
// out of the root with ".." is refused instead of clamped, since it is a
// mistake either way.
func cleanPath(p string) (string, error) {
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%s holds a control character: write a plain directory path such as ./apps/production", quote(p))
		}
	}
	c := path.Clean("./" + strings.TrimLeft(p, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%s %w: spec.path is relative to the root of spec.sourceRef's repository or artifact; write it from that root, such as ./apps/production", quote(p), errEscapes)
	}
	return c, nil
}

// SelfRef reports whether k is the Kustomization that syncs the very
// directory this run was started on from the run's own source, as flux
// bootstrap's flux-system Kustomization does (sourceRef GitRepository
// flux-system, path ./clusters/<name>): the run is already doing what it
// says, so the unit is recognised and not followed a second time.
// runSource is the reference of the source the run checked out (its
// APIVersion is ignored); runPath is the run's path relative to that
// source's root.
func SelfRef(k *Kustomization, runSource Ref, runPath string) bool {
	if k == nil || k.SourceRef.key() != runSource.key() {
		return false
	}
	p, err := cleanPath(runPath)
	if err != nil {
		return false
	}
	kp, err := cleanPath(k.Path)
	return err == nil && kp == p
}
