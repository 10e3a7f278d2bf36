#!/usr/bin/env bash
# go-tool.sh NAME MODULE/PATH VERSION: prints the path of a Go tool built
# from the Go module proxy at VERSION, building it once into the cache
# (~/.cache/tidegate-testenv/NAME-VERSION/NAME). The tool scripts
# (ci-tools, release-tools, lint-tools) share it. The tool's own go.mod
# pins its dependencies: the caller's GOFLAGS (-mod=mod) must not leak in.
set -euo pipefail
name="$1" pkg="$2" version="$3"
cache="${TIDEGATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidegate-testenv}"
dir="$cache/$name-$version"
if [ ! -x "$dir/$name" ]; then
	echo "tools: building $name $version (once)" >&2
	GOBIN="$dir" GOFLAGS='' CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$pkg@$version" >&2
fi
echo "$dir/$name"
