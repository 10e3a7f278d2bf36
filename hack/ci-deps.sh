#!/usr/bin/env bash
# Installs the Debian packages the test suite starts for real: etcd (the
# test API server's store), sshd and git's daemon (Git over SSH and git://),
# Debian's docker-registry (a second registry implementation, with auth),
# prometheus-pushgateway (metrics pushes; the tests start their own on a
# free loopback port and never use the package's service on :9091).
# Idempotent; needs root (CI runs as root).
set -euo pipefail
pkgs=(etcd-server openssh-server openssh-client docker-registry gnupg git rsync ca-certificates prometheus-pushgateway)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "ci-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
