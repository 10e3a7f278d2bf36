#!/usr/bin/env bash
# Installs the helm CLI at the version of the Helm SDK in go.mod (built
# once by hack/go-tool.sh), so that the chartrender tests compare the
# engine with `helm template` of the same code. Prints the binary's path;
# make test exports it as TIDEGATE_HELM.
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(GOFLAGS=-mod=mod go list -m -f '{{.Version}}' helm.sh/helm/v4)"
exec hack/go-tool.sh helm helm.sh/helm/v4/cmd/helm "$version"
