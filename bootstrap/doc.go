// Package bootstrap holds what `tidegate init` writes into a repository
// and why: the home tidegate runs from (a CronJob in the cluster, a GitHub
// Actions workflow or a GitLab CI include), the pinned image it runs, the
// .sops.yaml for an age recipient, and the files of each home, rendered
// from the templates under templates/.
//
// The package takes plain values and returns file contents; the command
// layer decides what to write, propose or print. It never writes to the
// repository itself.
package bootstrap
