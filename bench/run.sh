#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make bench: loopback churn and ping-pong, without a tracer and with
# `portwatch watch` running, alternating, each trial in a fresh network
# namespace. Prints medians, and the ratio as the median of the ratios of
# each adjacent (baseline, portwatch) pair: this VM's throughput drifts by
# tens of percent within minutes, and pairing cancels the drift.
# Usage: bench/run.sh PORTWATCH LOADGEN [TRIALS] [SECONDS]
# BENCH_ONLY: run only the configurations whose name (WORKLOAD:MODE, workloads
# churn, resets, closed, pingpong; modes watch, latency, daemon, accept; and
# cpu:daemon, the daemon's CPU at 10,000 connections/s) contains one of these
# comma-separated words, e.g. BENCH_ONLY=pingpong or BENCH_ONLY=churn:latency.
set -euo pipefail
PW=$(realpath "$1")
LOADGEN=$(realpath "$2")
TRIALS=${3:-5}
SECS=${4:-2}

# The daemon serves /metrics before it has loaded and seeded its tracer (an
# early scrape waits for the first text): ready once a scrape has an answer
# with portwatch's metrics in it, so neither the throughput trials nor the
# CPU figure include the start, which BENCHMARKS.md reports apart.
DAEMON_READY='daemon_ready() {
	local body
	body=$( (exec 3<>/dev/tcp/127.0.0.1/9977 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 &&
		cat <&3) 2>/dev/null) || return 1
	case $body in *portwatch_build_info*) return 0 ;; esac
	return 1
}'

# One trial in a new netns: mode (base, watch, latency, daemon, accept), workload, seconds.
trial() {
	unshare -n bash -s "$1" "$2" "$SECS" "$PW" "$LOADGEN" "$DAEMON_READY" <<'EOS'
set -eu
eval "$6"
mode=$1 work=$2 secs=$3 pw=$4 loadgen=$5
ip link set lo up
if [ "$mode" != base ]; then
	out=$(mktemp)
	if [ "$mode" = latency ]; then
		"$pw" latency --json >"$out" 2>&1 &
	elif [ "$mode" = accept ]; then
		"$pw" latency --accept-wait --json >"$out" 2>&1 &
	elif [ "$mode" = daemon ]; then
		# Its default configuration: an empty file.
		cfg=$(mktemp)
		"$pw" daemon --config "$cfg" >/dev/null 2>"$out" &
	else
		"$pw" watch --json --interval 1s >"$out" 2>&1 &
	fi
	pid=$!
	# Ready once the first interval is printed (attached and seeded);
	# the daemon once /metrics has its first text (see daemon_ready).
	for _ in $(seq 100); do
		if [ "$mode" = daemon ]; then
			daemon_ready && break
		else
			[ -s "$out" ] && break
		fi
		sleep 0.05
	done
fi
"$loadgen" "$work" "$secs" 100000000
if [ "$mode" != base ]; then
	kill -TERM "$pid"; wait "$pid" || true
	rm -f "$out" "${cfg:-}"
fi
EOS
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "trials:  $TRIALS x ${SECS}s per configuration, alternating"
echo
printf '%-19s %12s %12s %8s %8s\n' workload baseline/s traced/s ratio loss
wanted() {
	local w
	[ -z "${BENCH_ONLY:-}" ] && return 0
	for w in ${BENCH_ONLY//,/ }; do
		case $1 in *"$w"*) return 0 ;; esac
	done
	return 1
}

RUNS=${BENCH_RUNS:-"churn:watch resets:watch closed:watch pingpong:watch
churn:latency resets:latency closed:latency pingpong:latency
churn:daemon resets:daemon closed:daemon pingpong:daemon churn:accept pingpong:accept"}
for run in $RUNS; do
	wanted "$run" || continue
	work=${run%:*} mode=${run#*:}
	base=() traced=()
	for _ in $(seq "$TRIALS"); do
		base+=("$(trial base "$work")")
		traced+=("$(trial "$mode" "$work")")
	done
	b=$(printf '%s\n' "${base[@]}" | median)
	t=$(printf '%s\n' "${traced[@]}" | median)
	r=$(for i in "${!base[@]}"; do awk -v b="${base[$i]}" -v t="${traced[$i]}" \
		'BEGIN {printf "%.4f\n", t/b}'; done | median)
	awk -v w="$work ($mode)" \
		-v b="$b" -v t="$t" -v r="$r" \
		'BEGIN {printf "%-19s %12.0f %12.0f %8.3f %7.1f%%\n", w, b, t, r, (1-r)*100}'
	echo "  baseline runs: ${base[*]}"
	echo "  traced runs:   ${traced[*]}"
done

# The daemon's own CPU (default config) while 10,000 connections/s spread
# over 2,000 ports, scraped every 15 s, as a share of one core (utime + stime
# from /proc), and its peak resident memory (VmHWM).
cpu_trial() {
	unshare -n bash -s "$SPREAD_SECS" "$PW" "$LOADGEN" "$DAEMON_READY" <<'EOS'
set -eu
secs=$1 pw=$2 loadgen=$3
eval "$4"
ip link set lo up
cfg=$(mktemp)
"$pw" daemon --config "$cfg" >/dev/null 2>&1 &
pid=$!
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for _ in $(seq 200); do daemon_ready && break; sleep 0.05; done
start=$(ticks)
# Prometheus scraping every 15 s (deploy/prometheus.yml's interval).
( while sleep 15; do
	exec 3<>/dev/tcp/127.0.0.1/9977 || exit 0
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
	cat <&3 >/dev/null
	exec 3<&-
done ) &
scraper=$!
t0=$(ticks) s0=$(date +%s.%N)
rate=$("$loadgen" spread "$secs" 10000000)
t1=$(ticks) s1=$(date +%s.%N)
kill "$scraper" 2>/dev/null || true
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
rm -f "$cfg"
awk -v t="$((t1 - t0))" -v st="$start" -v hz="$(getconf CLK_TCK)" -v a="$s0" -v b="$s1" \
	-v r="$rate" -v m="$hwm" \
	'BEGIN {printf "%.2f %s %.2f %.1f\n", 100 * t / hz / (b - a), r, st / hz, m / 1024}'
EOS
}
if wanted cpu:daemon; then
	SPREAD_SECS=${SPREAD_SECS:-60}
	echo
	echo "daemon CPU, default config, 10,000 connections/s over 2,000 ports, scraped every 15s, ${SPREAD_SECS}s:"
	for _ in $(seq "$TRIALS"); do cpu_trial; done | sort -n |
		awk '{c[NR]=$1; r[NR]=$2; s[NR]=$3; h[NR]=$4} END {m=(NR+1)/2; printf "  median %.2f%% of one core (runs: ", c[int(m)]; for (i=1;i<=NR;i++) printf "%s%% ", c[i]; printf "), %s connections/s\n", r[int(m)]; printf "  start (load, attach, seed, first text), CPU seconds per run: "; for (i=1;i<=NR;i++) printf "%s ", s[i]; printf "\n  peak resident memory (VmHWM), MiB per run: "; for (i=1;i<=NR;i++) printf "%s ", h[i]; printf "\n"}'
fi
