#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs each test binary (cmocka, TAP output) and ends with "N passed, N failed".
# Usage: tests/run.sh PORTWATCH_BINARY TEST...
set -u
PORTWATCH=$(realpath "$1")
export PORTWATCH
shift
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# One binary: its output, and p and f set to what it passed and failed.
run_one() {
	# A hung test must not hang the run: each binary gets at most 5 minutes
	# (TEST_TIMEOUT seconds: make sanitize gives its slower builds more).
	CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 5 "${TEST_TIMEOUT:-300}" "$1" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$log" | head -n 1)
	# A crash or timeout leaves tests unreported: they count as failed.
	if [ -n "$planned" ] && [ $((p + f)) -lt "$planned" ]; then
		f=$((planned - p))
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "# ${1##*/} exited with status $rc"
		f=1
	fi
}
for t in "$@"; do
	echo "== ${t##*/}"
	run_one "$t"
	# RERUN_FAILED=1 (make test-kernels, under software emulation): a
	# binary with failures runs once more and that run counts; both are
	# in the log. Native runs count the first.
	if [ "$f" -ne 0 ] && [ "${RERUN_FAILED:-0}" = 1 ]; then
		echo "# ${t##*/}: $f failed; running it again (RERUN_FAILED)"
		run_one "$t"
		echo "# ${t##*/} on the rerun: $p passed, $f failed"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
