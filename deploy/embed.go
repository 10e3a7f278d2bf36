// Package deploy holds tidegate's in-cluster manifests: the kustomize base
// of the CronJob (base/), its two RBAC variants (rbac/) and examples.
// They are embedded so that `tidegate init` writes the manifests of the
// very version it is, with no network access.
package deploy

import "embed"

// Files holds base/, rbac/ and examples/ as they are in the repository.
//
//go:embed base rbac examples
var Files embed.FS
