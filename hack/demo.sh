#!/usr/bin/env bash
# The README's main-job command: reconcile the example repository in
# testdata/fleet into a local API server, change Git, reconcile again, and
# show drift being reported instead of reverted. No setup, no network.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export GOFLAGS="${GOFLAGS:--mod=mod}"
export TIDEGATE_TESTENV_ASSETS="$("$root/hack/testenv.sh")"

work="$(mktemp -d)"
cluster_pid=""
cleanup() {
	if [ -n "$cluster_pid" ]; then kill "$cluster_pid" 2>/dev/null || true; wait "$cluster_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building tidegate and the local API server"
(cd "$root" && go build -o "$work/tidegate" . && go build -o "$work/testcluster" ./internal/testenv/cmd/testcluster)

"$work/testcluster" --kubeconfig "$work/kubeconfig" --ready-file "$work/ready" >"$work/cluster.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 120); do
	[ -f "$work/ready" ] && break
	kill -0 "$cluster_pid" 2>/dev/null || { cat "$work/cluster.log"; exit 1; }
	sleep 0.5
done
[ -f "$work/ready" ] || { echo "demo: the local API server did not start; see $work/cluster.log"; cat "$work/cluster.log"; exit 1; }

step "a Git repository from testdata/fleet"
repo="$work/fleet"
cp -r "$root/testdata/fleet" "$repo"
git -C "$repo" init -q -b main
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -qm "fleet: initial"
find "$repo" -name '*.yaml' -not -path '*/.git/*' | sed "s|$repo/||" | sort

tg() { "$work/tidegate" --kubeconfig "$work/kubeconfig" "$@"; }
# The demo API server runs no controllers, so Deployments never become
# ready: --no-wait. A real cluster would use the default --wait.
src=(--source "file://$repo" --path infrastructure --path clusters/demo --path apps/demo --path image-automation)
common=("${src[@]}" --inventory-namespace default --inventory-name demo)

step "tidegate render (no cluster needed; what the run will apply)"
tg render "${src[@]}" | grep -E '^(kind|  name):' | paste - - | column -t

step "tidegate reconcile (first run: everything is created)"
tg reconcile "${common[@]}" --no-wait

step "tidegate reconcile again (nothing to do: every object unchanged, no writes)"
tg reconcile "${common[@]}" --no-wait

step "Git changes: one object edited, one removed"
sed -i 's/greeting: hello/greeting: hello from git/' "$repo/apps/demo/configmap.yaml"
git -C "$repo" rm -q apps/demo/service.yaml
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -qam "fleet: edit greeting, drop service"
git -C "$repo" show --stat --format='%h %s' HEAD | head -5

step "tidegate diff (exit 2: there are changes)"
set +e; tg diff "${common[@]}"; code=$?; set -e
echo "diff exit code: $code"

step "tidegate reconcile (configured + pruned)"
tg reconcile "${common[@]}" --no-wait

step "someone edits the cluster by hand; tidegate reconcile --drift=report pauses instead of reverting"
kubectl_patch='{"data":{"greeting":"changed by hand"}}'
if command -v kubectl >/dev/null; then
	kubectl --kubeconfig "$work/kubeconfig" -n demo patch configmap demo-settings --type merge -p "$kubectl_patch" --field-manager=kubectl-edit >/dev/null
	set +e; tg reconcile "${common[@]}" --no-wait --drift=report; code=$?; set -e
	echo "reconcile --drift=report exit code: $code (2: drift found, nothing reverted)"

	step "tidegate reconcile (default --drift=revert: Git wins again)"
	tg reconcile "${common[@]}" --no-wait

	step "the inventory is an ApplySet parent kubectl can read"
	kubectl --kubeconfig "$work/kubeconfig" -n default get configmap demo -o jsonpath='{.metadata.labels}{"\n"}{.metadata.annotations}{"\n"}'
	echo
else
	echo "(kubectl not installed: skipping the drift step)"
fi

step "done"
