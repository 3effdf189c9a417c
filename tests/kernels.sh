#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs the integration suite (tests/run.sh) under each kernel in $KERNELS, one VM at a time,
# and ends with "N passed, N failed" over all of them; a VM that fails counts as a failure.
# Usage: tests/kernels.sh PORTWATCH_BINARY TEST...     (make test-kernels passes them)
# Environment: KERNELS ("5.10 6.1 6.12 newest"), OUTPUT (build), VM_TIMEOUT (1200 s per VM).
# Logs: $OUTPUT/kernels/<uname -r>.log (the run) and .console (the kernel's console);
# $OUTPUT/kernels/summary.txt, one line per kernel, for the README tables.
set -euo pipefail

[ $# -ge 2 ] || {
	sed -n '5p' "$0" | sed 's/^# *//' >&2
	exit 2
}
RUNNER=$(dirname "$0")/vm/run-in-vm.sh
DIR=${OUTPUT:-build}/kernels
export VM_TIMEOUT=${VM_TIMEOUT:-1200}
mkdir -p "$DIR"

total_p=0
total_f=0
results=()
printf '# kernel uname passed failed seconds status\n' >"$DIR/summary.txt"

for k in ${KERNELS:-5.10 6.1 6.12 newest}; do
	echo "=== kernel $k"
	t0=$SECONDS
	if ! abi=$("$RUNNER" --resolve "$k"); then
		results+=("kernel $k: 0 passed, 1 failed (could not fetch the kernel)")
		printf '%s - 0 1 0 fetch-failed\n' "$k" >>"$DIR/summary.txt"
		total_f=$((total_f + 1))
		continue
	fi
	log=$DIR/$abi.log
	died=0
	for attempt in 1 2; do
		rc=0
		VM_CONSOLE=$DIR/$abi.console "$RUNNER" "$abi" \
			sh -c 'echo "uname -r: $(uname -r)"; RERUN_FAILED=1 exec tests/run.sh "$@"' \
			sh "$@" 2>&1 | tee "$log" || rc=$?
		# A guest that died (125: a kernel oops under emulation, such as an int3
		# hit while TCG's threads patch a tracepoint's jump) boots once more and
		# that run counts; the first one's log and console are kept, and the
		# kernel's line says so.
		[ "$rc" -eq 125 ] && [ "$attempt" -eq 1 ] || break
		died=1
		mv "$log" "$log.died"
		mv "$DIR/$abi.console" "$DIR/$abi.console.died" 2>/dev/null || true
		echo "# $abi: the guest died; booting it once more ($DIR/$abi.console.died)"
	done
	secs=$((SECONDS - t0))
	uname=$(sed -n 's/^uname -r: //p' "$log" | head -n 1)
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed}
	else
		# The suite never finished: count what it reported, and the VM as one more failure.
		p=$(grep -c '^ok ' "$log" || true)
		f=$(grep -c '^not ok ' "$log" || true)
	fi
	case $rc in
	0 | 1) status=ran ;;
	124) status=vm-timeout ;;
	125) status=vm-failed ;;
	*) status=exit-$rc ;;
	esac
	# tests/run.sh exits 1 when a test failed; anything else is a failure of its own.
	if [ -z "$line" ] || [ "$status" != ran ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
		f=$((f + 1))
	fi
	note="${secs} s"
	reruns=$(grep -c 'running it again (RERUN_FAILED)' "$log" || true)
	[ "$reruns" -eq 0 ] || note="$note; $reruns test binaries rerun after a failure, see $log"
	[ "$died" -eq 0 ] || note="$note; the guest died once and was booted again, see $log.died"
	[ "$status" = ran ] || note="$status, $note"
	results+=("kernel ${uname:-$abi}: $p passed, $f failed ($note)")
	printf '%s %s %s %s %s %s\n' "$k" "${uname:-$abi}" "$p" "$f" "$secs" "$status" \
		>>"$DIR/summary.txt"
	echo "${results[-1]}"
	total_p=$((total_p + p))
	total_f=$((total_f + f))
done

echo "=== all kernels (logs in $DIR)"
printf '%s\n' "${results[@]}"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
