// Package propose turns image bumps into pull requests (merge requests on
// GitLab) instead of commits on the main branch, and does so idempotently
// so that a CronJob can run it every few minutes.
//
// A run computes the bumps on a fresh checkout of the base branch (package
// images, in dry-run), splits them into proposals — one per policy, or one
// for all with Options.Group — and for each proposal:
//
//   - derives a deterministic branch, by default
//     tidegate/images/<id>, where id is a short hash of the policy set, so
//     every run finds the branch and pull request of the previous one;
//   - renders the commit message, title (the message's first line) and body
//     (a table of image, old → new, file) from text/templates;
//   - asks the forge for the pull request of that branch. One closed
//     without merge that proposed exactly this change (same body) means a
//     reviewer said no: nothing is pushed and it is reported, unless
//     Options.Reopen;
//   - force-pushes one commit on top of the current base to the branch;
//     the push is skipped when the branch already holds exactly this
//     change on this base, so an unchanged run writes nothing;
//   - creates the pull request, or updates the open one's title and body
//     when they changed. A run with nothing new makes no API write.
//
// The result is data (a Proposal per branch with its Action); the CLI and
// summaries only format it.
package propose
