package cli

// CLI is tidegate's command tree. main.go hands it to kong.
type CLI struct {
	Globals

	Render     RenderCmd     `cmd:"" help:"Render the repository to the objects a reconcile would apply, with no cluster."`
	Diff       DiffCmd       `cmd:"" help:"Show what a reconcile would change in the cluster. Exit 0: nothing, 2: changes."`
	Reconcile  ReconcileCmd  `cmd:"" help:"Make the cluster equal to Git: apply, prune what Git removed, wait for health."`
	Check      CheckCmd      `cmd:"" help:"Pre-flight: is everything a reconcile needs in place? One ✔/✗ line per check; exit 1 on any ✗."`
	Images     ImagesCmd     `cmd:"" help:"Find newer image tags under the repository's policies and bump them."`
	Workloads  WorkloadsCmd  `cmd:"" help:"List the workloads Git declares, their images and policies, and with --live what the cluster runs."`
	Release    ReleaseCmd    `cmd:"" group:"Change Git through pull requests (fluxctl)" help:"Set a container's image (a rollback is a release of an older tag). Refuses locked workloads and tags outside the filter unless --force."`
	Automate   AutomateCmd   `cmd:"" group:"Change Git through pull requests (fluxctl)" help:"Turn on image automation for a workload (fluxcd.io/automated)."`
	Deautomate DeautomateCmd `cmd:"" group:"Change Git through pull requests (fluxctl)" help:"Turn off image automation for a workload."`
	Lock       LockCmd       `cmd:"" group:"Change Git through pull requests (fluxctl)" help:"Freeze a workload's images: automation and releases leave it alone (fluxcd.io/locked)."`
	Unlock     UnlockCmd     `cmd:"" group:"Change Git through pull requests (fluxctl)" help:"Lift a workload's lock."`
	Policy     PolicyCmd     `cmd:"" group:"Change Git through pull requests (fluxctl)" help:"Set which tags a workload's containers may move to (fluxcd.io/tag.<container>: semver:~1.2)."`
	Init       InitCmd       `cmd:"" help:"Set a repository up for tidegate: the manifests or pipeline of where it runs (CronJob, GitHub Actions, GitLab CI), a .sops.yaml for an age key, and an SSH deploy key. --propose: as a pull request."`
	Version    VersionCmd    `cmd:"" help:"Print tidegate's version."`
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

Exit codes: 0 ok, 1 error, 2 changes found (diff, --drift=report), 64 bad usage,
130/143 interrupted (SIGINT/SIGTERM). --result-file tells a finished run.
Every flag can also be set by the environment variable shown next to it.`
