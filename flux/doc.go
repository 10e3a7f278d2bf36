// Package flux reads a Flux v2 repository's objects as instructions to a
// run, the way Flux's controllers read them, without a cluster.
//
// A Flux repository describes its cluster in objects of Flux's own API
// groups. A Kustomization (kustomize.toolkit.fluxcd.io v1, v1beta2,
// v1beta1) says "build spec.path of spec.sourceRef, transform it as the
// spec says, apply it, prune what it no longer holds": in tidegate it is a
// unit of the run (ParseKustomization). Its sourceRef is a GitRepository
// or an OCIRepository (source.toolkit.fluxcd.io; ParseGitRepository,
// ParseOCIRepository); Bucket and ExternalArtifact sources are parsed but
// refused (Unsupported). Defaults are Flux's: spec.path empty is the
// source's root, a reference's namespace is the referring object's, the
// timeout is spec.timeout or spec.interval less 30s (at least 30s), a
// GitRepository without a ref follows branch master, an OCIRepository
// without one follows tag latest.
//
// A HelmRelease (helm.toolkit.fluxcd.io v2, v2beta2, v2beta1) names a
// chart in a HelmRepository (ParseHelmRepository), a GitRepository or,
// through spec.chartRef, an OCIRepository, and its values
// (ParseHelmRelease); Flux's defaults apply: the release is named
// [targetNamespace-]name and installed into targetNamespace or the
// HelmRelease's namespace, a sourceRef's namespace is the HelmRelease's.
//
// A Flux v1 helm-operator HelmRelease (helm.fluxcd.io/v1) names its chart
// inline, a chart repository's URL with name and version, or a Git URL
// with ref and path; ParseHelmOperatorRelease reads it into the same
// HelmRelease with helm-operator's defaults (release namespace-name, ref
// master, valuesFrom keys values.yaml) and refuses what would make a run
// read a URL no source declares (valuesFrom externalSourceRef) or a path
// outside the clone or the chart.
//
// Units depend on each other through spec.dependsOn. Order sorts them into
// levels that run one after the other, the units of one level
// concurrently; Dependents says which units to skip when one fails.
//
// Some inputs live outside the repository: spec.postBuild.substituteFrom
// ConfigMaps and Secrets (Vars, through a Lookup: Objects reads the run's
// own objects, the caller adds the cluster's, Lookups asks them in turn),
// the keys of spec.decryption.secretRef (DecryptionKeys) and the kubeconfig
// of spec.kubeConfig.secretRef (KubeConfig). This package only reads what
// it is handed: it has no client, fetches nothing, and imports only
// apimachinery and the standard library.
//
// Flux's own objects — the toolkit kinds, their CRDs and the controllers
// flux install writes — are configuration, not workload (IsConfig), and
// flux bootstrap's flux-system Kustomization, which points back at the
// directory being run, is recognised (SelfRef) so it is not followed twice.
//
// Every parse error is an *Error that starts with the object
// (Kustomization/namespace/name) and its file, names the field, and says
// what to write instead; names that are not plain text are quoted.
package flux
