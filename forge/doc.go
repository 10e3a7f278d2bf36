// Package forge opens and updates the pull requests (GitHub, Gitea,
// Forgejo) and merge requests (GitLab) through which tidegate proposes
// image bumps instead of pushing them to the main branch.
//
// A forge is addressed by the Git remote tidegate already cloned: Detect
// guesses the hosting service from the remote's host (github.com, any host
// with "gitlab" in its name, hosts with "gitea", "forgejo" or "codeberg"),
// and New derives the repository from the remote's path. GitHub and Gitea
// name a repository owner/name; GitLab names a project by its full path,
// subgroups included ("group/subgroup/project"). Self-hosted instances are
// reached through Config.APIURL: the GitHub Enterprise host (the client
// adds /api/v3), the GitLab root (the client adds /api/v4) or the Gitea
// root (the client adds /api/v1).
//
// The interface is the smallest one an idempotent, stateless proposer needs:
// find the pull request of a branch whatever its state (so a run can tell
// "open, update it" from "closed by a reviewer, leave it alone" from
// "merged"), create one, and update its title and body. Each call is a few
// REST requests; nothing is cached between runs. DeployKeyAdder, which
// every provider implements too, installs the SSH key `tidegate init`
// generates; it is a separate interface because it needs admin rights a
// pull request token usually lacks.
//
// Errors are *Error values that name the provider, the operation and the
// HTTP status, and say what the user can do (a token without the needed
// scope, a repository the token cannot see, a rate limit and when it
// resets). They never contain the token.
package forge
