package flux

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// toolkitGroups are the API groups of Flux's controllers: their objects
// are instructions to Flux (and to tidegate in Flux mode), never workload.
var toolkitGroups = []string{
	SourceGroup,
	KustomizeGroup,
	"helm.toolkit.fluxcd.io",
	"image.toolkit.fluxcd.io",
	"notification.toolkit.fluxcd.io",
	// ArtifactGenerator (source-watcher).
	"source.extensions.fluxcd.io",
}

// The labels `flux install` and `flux bootstrap` put on everything
// gotk-components.yaml installs.
const (
	partOfLabel   = "app.kubernetes.io/part-of"
	instanceLabel = "app.kubernetes.io/instance"
)

// IsConfig reports whether u is Flux's own configuration, which Flux mode
// reads or leaves to Flux but never applies (issue 13, item 4), and says
// why in words that follow "skipped" in a report:
//   - every kind of Flux's toolkit groups (source, kustomize, helm, image,
//     notification, source.extensions): tidegate reads them;
//   - Flux v1's helm-operator HelmRelease (helm.fluxcd.io), whose chart
//     tidegate renders as it renders a v2 one;
//   - the CustomResourceDefinitions of those groups;
//   - what gotk-components.yaml installs — the controllers, their RBAC,
//     Services, NetworkPolicies, ServiceAccounts, the flux-system
//     Namespace… — recognised by the labels flux install writes on all of
//     them: app.kubernetes.io/part-of: flux and an
//     app.kubernetes.io/instance (the namespace Flux is installed in).
func IsConfig(u *unstructured.Unstructured) (reason string, ok bool) {
	if u == nil {
		return "", false
	}
	gvk := u.GroupVersionKind()
	if toolkit(gvk.Group) {
		return "Flux configuration, read by tidegate", true
	}
	if gvk.Group == HelmOperatorGroup {
		if u.GetAnnotations()[IgnoreAnnotation] == "true" {
			return "Flux configuration (Flux v1 helm-operator) with " + IgnoreAnnotation + ": its chart is not rendered and its objects are left as they are", true
		}
		return "Flux configuration (Flux v1 helm-operator), read by tidegate", true
	}
	if gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition" {
		group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
		if group == "" {
			// A CRD's name is plural.group: a spec that does not
			// read as one still tells its group by name.
			if _, g, ok := strings.Cut(u.GetName(), "."); ok {
				group = g
			}
		}
		if toolkit(group) || group == HelmOperatorGroup {
			return "Flux configuration: the CustomResourceDefinition of a " + group + " kind, installed with Flux", true
		}
	}
	labels := u.GetLabels()
	if labels[partOfLabel] == "flux" && labels[instanceLabel] != "" {
		return "Flux configuration: installed by flux install (" + partOfLabel + ": flux, " + instanceLabel + ": " + quote(labels[instanceLabel]) + ")", true
	}
	return "", false
}

func toolkit(group string) bool {
	for _, g := range toolkitGroups {
		if group == g {
			return true
		}
	}
	return false
}
