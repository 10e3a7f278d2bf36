#!/usr/bin/env bash
# Installs the release and workflow tools from the Go module proxy, cached
# per version (built once, like hack/ci-tools.sh): GoReleaser (archives,
# checksums, images), cyclonedx-gomod (the SBOMs GoReleaser asks for) and
# actionlint (checks .github/workflows in make lint).
# Prints "GORELEASER CYCLONEDX_GOMOD ACTIONLINT" paths on stdout; fails
# when one cannot be installed, since lint and the snapshot need all three.
set -euo pipefail
GORELEASER_VERSION="${GORELEASER_VERSION:-v2.15.1}"
CYCLONEDX_GOMOD_VERSION="${CYCLONEDX_GOMOD_VERSION:-v1.10.0}"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
cache="${TIDEGATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidegate-testenv}"

# install NAME MODULE/PATH VERSION prints the cached binary, building it once.
install() {
	local dir="$cache/$1-$3"
	if [ ! -x "$dir/$1" ]; then
		echo "release-tools: building $1 $3 (once)" >&2
		GOBIN="$dir" GOFLAGS='' CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$2@$3" >&2
	fi
	echo "$dir/$1"
}

goreleaser="$(install goreleaser github.com/goreleaser/goreleaser/v2 "$GORELEASER_VERSION")"
cyclonedx="$(install cyclonedx-gomod github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod "$CYCLONEDX_GOMOD_VERSION")"
actionlint="$(install actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION")"
echo "$goreleaser $cyclonedx $actionlint"
