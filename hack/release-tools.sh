#!/usr/bin/env bash
# Installs the release and workflow tools from the Go module proxy, cached
# per version (built once by hack/go-tool.sh): GoReleaser (archives,
# checksums, images), cyclonedx-gomod (the SBOMs GoReleaser asks for) and
# actionlint (checks .github/workflows in make lint).
# Prints "GORELEASER CYCLONEDX_GOMOD ACTIONLINT" paths on stdout; fails
# when one cannot be installed, since lint and the snapshot need all three.
set -euo pipefail
GORELEASER_VERSION="${GORELEASER_VERSION:-v2.15.1}"
CYCLONEDX_GOMOD_VERSION="${CYCLONEDX_GOMOD_VERSION:-v1.10.0}"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
install() { "$(dirname "$0")/go-tool.sh" "$@"; }

goreleaser="$(install goreleaser github.com/goreleaser/goreleaser/v2 "$GORELEASER_VERSION")"
cyclonedx="$(install cyclonedx-gomod github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod "$CYCLONEDX_GOMOD_VERSION")"
actionlint="$(install actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION")"
echo "$goreleaser $cyclonedx $actionlint"
