#!/usr/bin/env bash
# Installs golangci-lint from the Go module proxy, cached per version (built
# once, like hack/release-tools.sh), for make lint. Pinned so a new linter
# release cannot turn a green tree red; .golangci.yml says which linters run.
# Prints the binary's path on stdout; fails when it cannot be installed,
# since make lint needs it.
set -euo pipefail
GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
cache="${TIDEGATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidegate-testenv}"

dir="$cache/golangci-lint-$GOLANGCI_LINT_VERSION"
if [ ! -x "$dir/golangci-lint" ]; then
	echo "lint-tools: building golangci-lint $GOLANGCI_LINT_VERSION (once)" >&2
	# golangci-lint's own go.mod pins its linters; -mod=mod of the caller's
	# GOFLAGS must not leak into that build.
	GOBIN="$dir" GOFLAGS='' CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
		"github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION" >&2
fi
echo "$dir/golangci-lint"
