// Package apply is tidegate's server-side apply engine.
//
// Apply sends every object as a server-side apply PATCH under the field
// manager "tidegate", in stages: CustomResourceDefinitions first (and it
// waits until they are Established, so that their custom resources in the
// same run can be applied), then Namespaces, then cluster-wide policy and
// *Class kinds, then namespaced configuration (ServiceAccounts, Roles,
// ConfigMaps, Secrets, …), then workloads and everything else. Within a
// stage objects are applied concurrently.
//
// Most runs change little, so the engine first plans: it reads live state
// in bulk, one LIST per type and namespace, and compares. Every object
// tidegate applies carries the annotation tidegate.dev/digest, the hash of
// the object as Git rendered it. A live object whose digest equals the
// rendered one and whose fields still hold every value Git sets is
// unchanged and is not sent at all: its resourceVersion stays and watchers
// see nothing. A live object whose digest equals the rendered one but
// whose fields differ was changed in the cluster by someone else: Plan
// marks it Drifted, so that the caller can decide to revert or report it.
//
// The engine writes whatever it is given: whether an existing object may
// be written at all (it belongs to this inventory, or is adopted) is
// decided before, by package prune's ownership rules, from the live
// objects Plan read.
//
// Objects once managed with kubectl's client-side apply are taken over:
// the last-applied-configuration annotation is dropped and kubectl's
// field ownership is migrated to tidegate, so that a field later removed
// from Git is removed from the cluster too. Objects another controller
// applied with server-side apply are taken over the same way when its
// field manager is one of Options.TakeOverManagers (Flux's
// kustomize-controller, for a Flux unit): its Apply entries in
// managedFields become tidegate's, except the labels in KeepLabels.
//
// Conflicts with other field managers and changes to immutable fields
// fail with an error that names the object and the field; Force (or the
// annotation tidegate.dev/force: enabled on the object) takes the fields
// over and deletes and recreates objects whose immutable fields changed.
package apply
