#!/usr/bin/env bash
# Installs golangci-lint from the Go module proxy, cached per version (built
# once by hack/go-tool.sh), for make lint. Pinned so a new linter release
# cannot turn a green tree red; .golangci.yml says which linters run.
# Prints the binary's path on stdout; fails when it cannot be installed,
# since make lint needs it.
set -euo pipefail
GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
exec "$(dirname "$0")/go-tool.sh" golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION"
