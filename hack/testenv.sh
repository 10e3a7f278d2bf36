#!/usr/bin/env bash
# Makes sure the binaries the test environment needs are on this machine:
#   - kube-apiserver, built from source through the Go module proxy
#     (hack/tools pins the version) and cached per version;
#   - etcd, from Debian's etcd-server package.
# Prints the asset directory on stdout, everything else on stderr.
# Re-running is cheap: a cached build is reused.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${TIDEGATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidegate-testenv}"
assets="$cache/$KUBE_VERSION"
mkdir -p "$assets"

log() { echo "testenv: $*" >&2; }

if [ ! -x "$assets/kube-apiserver" ]; then
	log "building kube-apiserver $KUBE_VERSION into $assets (about 4-6 minutes on 2 cores, once)"
	minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
	(
		cd "$root/hack/tools"
		go build -trimpath -o "$assets/kube-apiserver.tmp" \
			-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
			k8s.io/kubernetes/cmd/kube-apiserver
	) >&2
	mv "$assets/kube-apiserver.tmp" "$assets/kube-apiserver"
fi

if [ ! -x "$assets/etcd" ]; then
	if ! command -v etcd >/dev/null 2>&1; then
		log "installing Debian's etcd-server"
		if [ "$(id -u)" -eq 0 ]; then
			apt-get install -y --no-install-recommends etcd-server >&2 || { apt-get update >&2 && apt-get install -y --no-install-recommends etcd-server >&2; }
		else
			log "etcd is missing and this is not root: install Debian's etcd-server (sudo apt-get install etcd-server)"
			exit 1
		fi
	fi
	ln -sf "$(command -v etcd)" "$assets/etcd"
fi

echo "$assets"
