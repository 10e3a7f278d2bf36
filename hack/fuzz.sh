#!/usr/bin/env bash
# Runs every Go fuzzer in the module for FUZZTIME each (default 60s), one
# after the other, and prints one line per fuzzer: its package, name, how
# long it ran and whether it found a failure. Not part of `make test`:
# fuzzing is open-ended, CI runs only the seed corpora (as plain tests).
# A failure leaves its input under the package's testdata/fuzz/, which
# `go test` then replays as a regression test: commit it with the fix.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-60s}"
filter="${1:-.}"
status=0
while IFS=: read -r file name; do
	pkg="./$(dirname "$file")"
	start=$(date +%s)
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"/tmp/fuzz-${name}.log" 2>&1; then
		result="ok"
	else
		result="FAILED (see /tmp/fuzz-${name}.log)"
		status=1
	fi
	printf '%-28s %-24s %4ss  %s\n' "$pkg" "$name" "$(($(date +%s) - start))" "$result"
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' | sed -E 's/^([^:]+):[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*/\1:\2/' | grep -E "$filter")
exit $status
