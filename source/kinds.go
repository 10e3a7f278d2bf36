package source

import "fmt"

// The kinds of a Flux Kustomization's spec.sourceRef that tidegate
// fetches: Open with WithGitRef for the first, PullArtifact for the
// second.
const (
	KindGitRepository = "GitRepository"
	KindOCIRepository = "OCIRepository"
)

// SupportedKind returns nil for a sourceRef kind tidegate can fetch, and
// otherwise an error that says so and what to do instead.
func SupportedKind(kind string) error {
	switch kind {
	case KindGitRepository, KindOCIRepository:
		return nil
	case "Bucket":
		return fmt.Errorf("sourceRef kind Bucket is not supported yet: tidegate fetches GitRepository and OCIRepository sources; push the manifests as an OCI artifact (flux push artifact) or keep them in Git")
	case "ArtifactGenerator", "ExternalArtifact":
		return fmt.Errorf("sourceRef kind %s is not supported yet: tidegate fetches GitRepository and OCIRepository sources; point the Kustomization at the GitRepository or OCIRepository the artifact is made from", kind)
	case "":
		return fmt.Errorf("sourceRef has no kind: set spec.sourceRef.kind to %s or %s", KindGitRepository, KindOCIRepository)
	}
	return fmt.Errorf("sourceRef kind %q is not a Flux source tidegate knows: use %s or %s", kind, KindGitRepository, KindOCIRepository)
}
