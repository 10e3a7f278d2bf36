// Package chartrender turns a loaded Helm chart and its values into the
// Kubernetes objects a release would install, the way `helm template`
// does, without a cluster and without the network.
//
// A release is three sets of objects, and tidegate treats them apart:
//
//	CRDs     the files of the chart's (and its sub-charts') crds/
//	         directories, never templated; Helm installs them before
//	         anything else and never upgrades them, so the policy
//	         (Flux's install.crds / upgrade.crds: Skip, Create,
//	         CreateReplace) decides whether they are rendered at all.
//	objects  the templates that are not hooks, sorted in Helm's install
//	         order (namespaces first, then CRDs from templates, …).
//	hooks    templates annotated helm.sh/hook: each with its events
//	         (pre-install, post-upgrade, test, …), its weight
//	         (helm.sh/hook-weight) and its delete policies
//	         (helm.sh/hook-delete-policy). The caller decides when to
//	         apply them; rendering only reports them.
//
// The inputs helm install would read from the cluster are passed in:
// .Capabilities (Kubernetes version and API versions) and whether the
// release is an install or an upgrade (.Release.IsInstall/IsUpgrade).
// With no capabilities, the SDK's defaults apply, as for `helm template`.
//
// Rendering calls the SDK's engine directly instead of action.Install in
// client-only dry-run mode: Install would replace the capabilities by the
// SDK's defaults with the given API versions added (a chart probing for
// an API the cluster lacks would see it), and it drags a Kubernetes
// client, release storage and the registry client into a step that must
// stay offline. The steps Install takes before and after the engine
// (dependency conditions and import-values, schema validation, the
// kubeVersion check, NOTES.txt removal, manifest sorting) are the SDK's
// own exported functions; the tests compare the result with the helm CLI
// of the same version, object for object.
//
// Values are merged before rendering: MergeValues applies a HelmRelease's
// valuesFrom and values in helm-controller's order, from ConfigMap and
// Secret data the caller has already read.
package chartrender
