package cli

// Detailed help: kong prints a command's Help() under its one-line help
// in `tidegate <command> --help`. Each shows the commands people start
// from; the flags follow.

// Help is shown by `tidegate render --help`.
func (*RenderCmd) Help() string {
	return `Examples:
  tidegate render --path clusters/prod                    # this checkout
  tidegate render --source https://github.com/acme/fleet --path apps/web -o json
  SOPS_AGE_KEY_FILE=key.txt tidegate render --path clusters/prod

Nothing reaches stdout unless the whole render succeeded; Secret values are
masked unless --show-secrets.`
}

// Help is shown by `tidegate diff --help`.
func (*DiffCmd) Help() string {
	return `Examples:
  tidegate diff --path clusters/prod --inventory-name prod
  tidegate diff --source git@github.com:acme/fleet.git --ssh-key-file deploy-key \
    --known-hosts known_hosts --path clusters/prod

Exit codes: 0 nothing would change, 2 something would (created, configured,
adopted, drifted or pruned), 1 error (also: an existing object reconcile
would refuse to take over; --adopt shows it adopted). Use the same --inventory-* and --path as the
reconcile you are previewing.`
}

// Help is shown by `tidegate reconcile --help`.
func (*ReconcileCmd) Help() string {
	return `Examples:
  tidegate reconcile --path clusters/prod --inventory-name prod
  tidegate reconcile --path clusters/prod --drift=report     # stop at hand edits (exit 2)
  tidegate reconcile --path clusters/prod --dry-run          # server-side dry-run, writes nothing
  tidegate reconcile --path apps/shop --allow-namespace shop # a tenant's run
  tidegate reconcile --path apps --adopt                     # take over what kubectl or Flux made

Nothing is applied when the render fails; nothing is pruned when the render
or any apply failed. An object that exists but is not in this inventory is
refused before any write unless adopted (--adopt, or the annotation
tidegate.dev/adopt: enabled). Exit codes: 0 done, 1 failed, 2 drift found with
--drift=report.`
}

// Help is shown by `tidegate check --help`.
func (*CheckCmd) Help() string {
	return `Examples:
  tidegate check --path clusters/prod --inventory-name prod
  tidegate check --path clusters/prod --skip-cluster     # Git, render, SOPS, registries only

Checks exactly what a reconcile with the same flags needs. Exit 0 when every
line is ✔, 1 when any is ✗; each ✗ says what to do.`
}

// Help is shown by `tidegate images update --help`.
func (*ImagesUpdateCmd) Help() string {
	return `Examples:
  tidegate images update --dry-run                              # the bumps as a diff, exit 2 if any
  tidegate images update                                        # rewrite this checkout
  tidegate images update --source https://github.com/acme/fleet --propose \
    --forge-token "$GITHUB_TOKEN" --label dependencies          # one PR per policy

Only the marked values change; comments, quoting and indentation stay.`
}

// Help is shown by `tidegate workloads list --help`.
func (*WorkloadsListCmd) Help() string {
	return `Examples:
  tidegate workloads list --path clusters/prod
  tidegate workloads list --path clusters/prod -n shop --live   # with what the cluster runs`
}

// Help is shown by `tidegate release --help`.
func (*ReleaseCmd) Help() string {
	return `Examples:
  tidegate release -w shop:deployment/web -c app -i ghcr.io/acme/web:1.4.2 --dry-run
  tidegate release -w shop:deployment/web -c app -i :1.4.1 --propose   # a rollback, as a PR
  tidegate release -w shop:deployment/web -c app -i :2.0.0 --force     # outside the filter

Without --propose a local checkout is edited in place; a remote source needs
--propose (or --dry-run).`
}

// Help is shown by `tidegate lock --help`.
func (*LockCmd) Help() string {
	return `Examples:
  tidegate lock -w shop:deployment/web -m "incident 123: hold 1.4.1" --propose
  tidegate unlock -w shop:deployment/web --propose`
}

// Help is shown by `tidegate policy --help`.
func (*PolicyCmd) Help() string {
	return `Examples:
  tidegate policy -w shop:deployment/web --tag app=semver:~1.4 --propose
  tidegate policy -w shop:deployment/web --tag-all 'glob:main-*'
  tidegate policy -w shop:deployment/web --untag sidecar`
}

// Help is shown by `tidegate init --help`.
func (*InitCmd) Help() string {
	return `Examples:
  tidegate init --home cronjob --path clusters/prod \
    --age-key-out ~/keys/fleet.agekey --deploy-key-out ~/keys/fleet-deploy
  tidegate init --home github --path clusters/prod --age-recipient age1… --dry-run
  tidegate init --home gitlab --path clusters/prod --source https://gitlab.com/acme/fleet \
    --age-recipient age1… --propose --forge-token "$GITLAB_TOKEN"

Private keys are only written to the files you name, never into the
repository or onto the terminal.`
}
