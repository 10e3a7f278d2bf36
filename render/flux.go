package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Flux builds a path the way kustomize-controller builds the spec.path of
// a Flux Kustomization object (kustomize.toolkit.fluxcd.io v1, v1beta2,
// v1beta1): the directory's kustomization (generated when it has none,
// see the package doc) with the object's build fields merged over it
// (targetNamespace, namePrefix, nameSuffix, patches, patchesStrategicMerge,
// patchesJson6902, images, components, ignoreMissingComponents), then
// spec.postBuild variables substituted, then spec.commonMetadata set on
// every object: kustomize-controller substitutes while it builds and sets
// commonMetadata when it applies, so a ${var} in commonMetadata stays as
// written and commonMetadata cannot opt an object out of substitution.
//
// The caller resolves spec.postBuild.substituteFrom (ConfigMaps and
// Secrets, from Git or the cluster); render reads only the repository.
type Flux struct {
	// Kustomization is the Flux Kustomization object whose spec is
	// applied. Its spec.path is not read: the path is Render's.
	Kustomization *unstructured.Unstructured
	// Vars are the variables of spec.postBuild.substituteFrom, already
	// merged in Flux's order (later references win). The object's
	// spec.postBuild.substitute is merged over them by render.
	Vars map[string]string
	// SecretVars names the Vars that came from a Secret: their values are
	// recorded as plaintext (scrubbed from every output) and an object
	// holding one is masked like a decrypted one.
	SecretVars map[string]bool
}
