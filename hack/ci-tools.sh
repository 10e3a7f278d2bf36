#!/usr/bin/env bash
# Installs the CI runners the end-to-end tests drive for real, cached per
# version: nektos/act (runs the GitHub Action on the host, no Docker) from
# the Go module proxy, and gitlab-ci-local (runs the GitLab CI template's
# jobs with a shell executor) from the npm registry.
# Prints "ACT GITLAB_CI_LOCAL" paths on stdout; an empty field means that
# tool could not be installed and its test says so.
set -uo pipefail
ACT_VERSION="${ACT_VERSION:-v0.2.89}"
GCL_VERSION="${GCL_VERSION:-4.60.1}"
cache="${TIDEGATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidegate-testenv}"

act="$("$(dirname "$0")/go-tool.sh" act github.com/nektos/act "$ACT_VERSION")" || act=""

gcl="$cache/gitlab-ci-local-$GCL_VERSION/node_modules/.bin/gitlab-ci-local"
if [ ! -x "$gcl" ]; then
	echo "ci-tools: installing gitlab-ci-local $GCL_VERSION (once)" >&2
	if command -v npm >/dev/null; then
		mkdir -p "$cache/gitlab-ci-local-$GCL_VERSION"
		npm install --no-audit --no-fund --prefix "$cache/gitlab-ci-local-$GCL_VERSION" "gitlab-ci-local@$GCL_VERSION" >&2 || gcl=""
	else
		gcl=""
	fi
fi
echo "${act:--} ${gcl:--}"
