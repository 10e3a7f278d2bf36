package cli

// CLI is tidegate's command tree. main.go hands it to kong.
type CLI struct {
	Globals

	Render    RenderCmd    `cmd:"" help:"Render the repository to the objects a reconcile would apply, with no cluster."`
	Diff      DiffCmd      `cmd:"" help:"Show what a reconcile would change in the cluster. Exit 0: nothing, 2: changes."`
	Reconcile ReconcileCmd `cmd:"" help:"Make the cluster equal to Git: apply, prune what Git removed, wait for health."`
	Images    ImagesCmd    `cmd:"" help:"Find newer image tags under the repository's policies and bump them."`
	Version   VersionCmd   `cmd:"" help:"Print tidegate's version."`
}

// Description is the text at the top of tidegate --help.
const Description = `tidegate makes a Kubernetes cluster equal to a Git repository in one run, then exits.

It reads the repository (local path, HTTPS or SSH), renders kustomize overlays
and plain YAML directories, decrypts SOPS secrets, applies the result with
server-side apply, prunes what Git no longer has, and proposes image bumps as
pull/merge requests. Run it from a CronJob, a GitHub Action, a GitLab CI job,
or locally as a dry-run.

Examples:
  tidegate render --source . --path apps/production
  tidegate diff --source https://github.com/acme/fleet --path clusters/prod
  tidegate reconcile --source git@github.com:acme/fleet.git --path clusters/prod

Exit codes: 0 ok, 1 error, 2 changes found (diff, --drift=report), 64 bad usage.
Every flag can also be set by the environment variable shown next to it.`
