// Package handover is what tidegate does to a cluster that Flux still
// manages, before a Flux Kustomization unit is reconciled there.
//
// A Flux Kustomization that is live (spec.suspend unset or false) makes
// kustomize-controller apply its objects again at every interval, with
// force: tidegate and Flux would be two reconcilers fighting over the
// same objects, each reverting what the other wrote, and Flux pruning
// what tidegate adds. Guard refuses such a unit unless the user lets
// tidegate suspend it first (--suspend-flux), which sets spec.suspend:
// true on that one Kustomization, the same write `flux suspend
// kustomization` makes. Resuming it (`flux resume kustomization`) hands
// the objects back to Flux.
//
// Guard touches nothing else: not the GitRepository, OCIRepository or
// HelmRelease objects, not the Flux controllers. Adopting the objects
// Flux applied and taking over their field ownership from
// kustomize-controller is the reconcile's part (reconcile.Options
// AdoptLabels and TakeOverManagers, with FluxLabels and FluxManager from
// here).
package handover
