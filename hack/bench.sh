#!/usr/bin/env bash
# Whole-tool benchmark: tidegate vs raw client-go (and kubectl), one run,
# ratios printed. Pass -n N to change the object count.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export GOFLAGS="${GOFLAGS:--mod=mod}"
export TIDEGATE_TESTENV_ASSETS="$(hack/testenv.sh)"
exec go run ./hack/bench "$@"
