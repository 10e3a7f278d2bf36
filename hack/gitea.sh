#!/usr/bin/env bash
# Makes sure the Gitea server the forge tests run against is on this
# machine: built from source through the Go module proxy (hack/gitea pins
# the version) with SQLite support, and cached per version.
# Prints the binary's path on stdout, everything else on stderr.
# Re-running is cheap: a cached build is reused.
set -euo pipefail

GITEA_VERSION="${GITEA_VERSION:-v1.26.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${TIDEGATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidegate-testenv}"
dir="$cache/gitea-$GITEA_VERSION"
bin="$dir/gitea"
mkdir -p "$dir"

log() { echo "gitea: $*" >&2; }

if [ ! -x "$bin" ]; then
	log "building gitea $GITEA_VERSION into $dir (about 6-10 minutes on 2 cores, once)"
	start=$(date +%s)
	(
		cd "$root/hack/gitea"
		GOFLAGS=-mod=mod go build -trimpath -tags "sqlite sqlite_unlock_notify" \
			-ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" \
			-o "$bin.tmp" code.gitea.io/gitea
	) >&2
	mv "$bin.tmp" "$bin"
	log "built in $(( $(date +%s) - start ))s"
fi

echo "$bin"
