// Package fleet runs a Flux repository as Flux would, in one pass:
// every Flux Kustomization (kustomize.toolkit.fluxcd.io) the run's paths
// render is a unit, and each unit is one reconcile of its own, with its
// own source, build, variables, keys, credentials and inventory.
//
// The story of a run:
//
//	render the run's paths → find Kustomizations → render each unit
//	(recursively: units that render units) → order them by dependsOn →
//	reconcile each unit (independent units at once) → one report
//
// The rules users trust:
//
//   - a unit is rendered completely before anything is written, and the
//     whole set of units is known (and its dependencies checked: no cycle,
//     nothing missing) before the first unit writes;
//   - a unit that fails (render, apply, prune, wait) stops the units that
//     depend on it, and the units it created, and nothing else; the report
//     says which ran, failed and were skipped;
//   - each unit has its own inventory, named after it, so a unit prunes
//     only what it applied;
//   - a unit with spec.serviceAccountName reads and writes as that
//     ServiceAccount (impersonation), so a tenant's unit cannot write
//     outside its RBAC, and a unit with spec.kubeConfig writes to the
//     cluster of that kubeconfig;
//   - Flux's own objects (its sources, Kustomizations, HelmReleases, the
//     controllers and CRDs gotk-components.yaml installs) are read as
//     configuration and never applied.
//
// A unit's HelmReleases (helm.toolkit.fluxcd.io) have their charts
// fetched (package charts) and rendered (package chartrender) into the
// unit's render once it is built, so their objects are applied, tracked
// and pruned as the unit's own; a release that cannot be rendered fails
// its unit. See helmReleases for the choices (install, hooks, CRDs).
//
// Flux v1 helm-operator HelmReleases (helm.fluxcd.io) are rendered the
// same way, their chart.git cloned through Sources like a GitRepository.
// A Flux v1 repository has no Kustomizations: its releases make an Auto
// run a Flux run of the root unit alone.
//
// Reads go ahead of the story where nothing depends on them: the root's
// inventory and live objects are read while the run's paths render, each
// unit without dependsOn has its own read while the units render
// (reconcile.Prefetch; a unit plans on it only while it is a few seconds
// old), and the inventories of units removed from Git are listed while
// the units run. Only reads: nothing is written before the whole set of
// units is known.
//
// A run whose paths render no Flux Kustomization and no Flux v1
// HelmRelease (or with Mode Off) is one plain unit: exactly what
// reconcile.Reconciler does on its own.
package fleet
