// Package prune deletes what Git removed, safely, and decides what a run
// may write. The inventory it works from (the ApplySet parent and its
// members) is package inventory's.
//
// Writing is decided here (policy.go): an object that exists in the
// cluster is written only if it is a member (this inventory's part-of
// label, or listed in the previous inventory); an unowned object only
// when adopted (--adopt, tidegate.dev/adopt: enabled, or the labels a
// Flux unit adopts by: those kustomize-controller put on what its
// Kustomization applied), and a member of another inventory only with
// force. The caller refuses the whole run
// before any write otherwise.
//
// Deleting is where GitOps tools lose users' trust, so a prune deletes an
// object only when all of these hold:
//
//   - it was a member of the previous inventory, and Git no longer has it;
//   - its live copy still carries part-of with this inventory's id (an
//     object someone else created under the same name is left alone);
//   - it lies inside the namespaces the run may touch (AllowNamespaces);
//     members elsewhere are kept in the inventory, not deleted;
//   - it does not opt out: tidegate.dev/prune: disabled, Flux's
//     kustomize.toolkit.fluxcd.io/prune: disabled, Argo CD's
//     argocd.argoproj.io/sync-options containing Prune=false, or
//     cli-utils' cli-utils.sigs.k8s.io/on-remove: keep;
//   - the run is not a mass deletion: an empty render, or a prune of more
//     than MaxShare of an inventory of at least minGuardedSize objects, is
//     refused as a whole unless AllowMassPrune.
//
// Deletes run in the exact reverse of the apply stages (object.Stage:
// custom resources before their definitions, a Namespace's members
// before it, definitions last) with the UID read as a precondition. A
// delete that fails stays in the inventory so that the next run retries
// it. The caller (package reconcile) prunes only after the render and
// every apply succeeded.
package prune
