package flux

import (
	"strings"
	"testing"
)

func TestIsConfig(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      string // "" for not configuration
	}{
		{"Kustomization", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"unknown Kustomization version", "apiVersion: kustomize.toolkit.fluxcd.io/v9\nkind: Kustomization\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"GitRepository", "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"HelmRelease", "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"ImagePolicy", "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"Alert", "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"ArtifactGenerator", "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata: {name: a, namespace: f}\n", "read by tidegate"},
		{"CRD by spec.group", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: helmreleases.helm.toolkit.fluxcd.io}\nspec: {group: helm.toolkit.fluxcd.io}\n", "CustomResourceDefinition of a helm.toolkit.fluxcd.io kind"},
		{"Flux v1 HelmRelease", "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: a, namespace: f}\n", "Flux v1 helm-operator), read by tidegate"},
		{"ignored Flux v1 HelmRelease", "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: a\n  namespace: f\n  annotations: {fluxcd.io/ignore: \"true\"}\n", "fluxcd.io/ignore: its chart is not rendered"},
		{"helm-operator CRD", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: helmreleases.helm.fluxcd.io}\nspec: {group: helm.fluxcd.io}\n", "CustomResourceDefinition of a helm.fluxcd.io kind"},
		{"CRD by name only", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: alerts.notification.toolkit.fluxcd.io}\n", "notification.toolkit.fluxcd.io"},
		{"CRD with a wrong spec type", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.example.com}\nspec: 7\n", ""},
		{"labelled Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: helm-controller\n  namespace: flux-system\n  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/instance: flux-system}\n", "installed by flux install"},
		{"installed in another namespace", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: gitops\n  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/instance: gitops}\n", "app.kubernetes.io/instance: gitops"},
		{"someone else's CRD", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: certificates.cert-manager.io}\nspec: {group: cert-manager.io}\n", ""},
		{"a CRD named like Flux's of another group", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: kustomizations.kustomize.toolkit.fluxcd.io.example.com}\nspec: {group: kustomize.toolkit.fluxcd.io.example.com}\n", ""},
		{"kustomize's Kustomization", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", ""},
		{"part-of flux without instance", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: b\n  labels: {app.kubernetes.io/part-of: flux}\n", ""},
		{"another part-of", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: b\n  labels: {app.kubernetes.io/part-of: fluxish, app.kubernetes.io/instance: flux-system}\n", ""},
		{"workload in flux-system", "apiVersion: v1\nkind: Secret\nmetadata: {name: sops-age, namespace: flux-system}\n", ""},
		{"a group that ends like Flux's", "apiVersion: evil.source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: f}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, ok := IsConfig(obj(t, tc.doc))
			if ok != (tc.want != "") || !strings.Contains(reason, tc.want) || ok && !strings.HasPrefix(reason, "Flux configuration") {
				t.Errorf("IsConfig = %q, %v; want %q", reason, ok, tc.want)
			}
		})
	}
	if _, ok := IsConfig(nil); ok {
		t.Error("IsConfig(nil) = true")
	}
}
