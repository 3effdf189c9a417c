#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Checks the files under deploy/ with the tools that consume them, printing TAP.
# Run from the repository root: tests/deploy/check.sh
#   OUTPUT     build directory (default build); yaml2json is compiled into
#              $OUTPUT/tests/ when missing or older than its source.
#   PORTWATCH  the portwatch binary (tests/run.sh exports it): when set, the
#              example configs are validated with `portwatch daemon --check`.
# Needs: promtool (Debian: prometheus), jq, libyaml-dev and a C compiler;
# amtool (Debian: prometheus-alertmanager) when present.
set -u

OUTPUT=${OUTPUT:-build}
OUTPUT=${OUTPUT%/}
DEPLOY=deploy
TESTS=tests/deploy
Y2J=$OUTPUT/tests/yaml2json

n=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "1..17"

# ok/not ok from a command's status; its output is shown as TAP comments on
# failure only.
check() {
	local desc=$1 log=$tmp/log
	shift
	n=$((n + 1))
	if "$@" >"$log" 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		sed 's/^/# /' "$log"
		failed=$((failed + 1))
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n - # SKIP $1"
}

# Metric names the daemon exports: the string literals in its sources.
daemon_metrics() {
	grep -ohE '"portwatch_[a-z0-9_]+' src/*/*.c | tr -d '"' | sort -u
}

# Every portwatch_* name in the text on stdin must be exported by the daemon,
# directly or as a histogram's _bucket/_sum/_count series.
names_exported() {
	local known=$tmp/known names=$tmp/names name base bad=0
	daemon_metrics >"$known"
	if [ ! -s "$known" ]; then
		echo "no portwatch_* metric names found in src/*/*.c"
		return 1
	fi
	grep -oE '(^|[^a-zA-Z0-9_])portwatch_[a-z0-9_]+' | grep -oE 'portwatch_[a-z0-9_]+' |
		sort -u >"$names"
	if [ ! -s "$names" ]; then
		echo "no portwatch_* metric names in the expressions"
		return 1
	fi
	while read -r name; do
		base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")
		if ! grep -qxF "$name" "$known" && ! grep -qxF "$base" "$known"; then
			echo "$name: not a metric the daemon exports"
			bad=1
		fi
	done <"$names"
	return $bad
}

# --- Prometheus ---------------------------------------------------------------

prometheus_config() {
	# The config names its rule file relative to itself: check the pair as
	# they are installed, side by side.
	cp "$DEPLOY/prometheus.yml" "$DEPLOY/portwatch-rules.yml" "$tmp/" &&
		promtool check config "$tmp/prometheus.yml"
}

if command -v promtool >/dev/null; then
	check "promtool check config deploy/prometheus.yml" prometheus_config
	check "promtool check rules deploy/portwatch-rules.yml" \
		promtool check rules "$DEPLOY/portwatch-rules.yml"
	check "promtool test rules tests/deploy/rules_test.yml" \
		promtool test rules "$TESTS/rules_test.yml"
else
	check "promtool check config deploy/prometheus.yml (promtool: Debian package prometheus)" false
	check "promtool check rules deploy/portwatch-rules.yml (promtool missing)" false
	check "promtool test rules tests/deploy/rules_test.yml (promtool missing)" false
fi

if command -v amtool >/dev/null; then
	check "amtool check-config deploy/alertmanager.yml" \
		amtool check-config "$DEPLOY/alertmanager.yml"
else
	skip "amtool not installed (Debian package prometheus-alertmanager)"
fi

# --- yaml2json ----------------------------------------------------------------

build_yaml2json() {
	if [ -x "$Y2J" ] && [ "$Y2J" -nt "$TESTS/yaml2json.c" ]; then
		return 0
	fi
	mkdir -p "$OUTPUT/tests" &&
		${CC:-cc} -O2 -Wall "$TESTS/yaml2json.c" -lyaml -o "$Y2J"
}
check "yaml2json builds ($Y2J)" build_yaml2json

# --- Rules' metric names ------------------------------------------------------

rules_metrics() {
	"$Y2J" "$DEPLOY/portwatch-rules.yml" >"$tmp/rules.json" &&
		jq -r '.[].groups[].rules[].expr' "$tmp/rules.json" | names_exported
}
check "portwatch-rules.yml uses only metrics the daemon exports" rules_metrics

# --- Grafana ------------------------------------------------------------------

DASH=$DEPLOY/grafana-dashboard.json

dashboard_valid() {
	jq -e '(.title | type == "string") and (.uid | type == "string")
		and (.panels | type == "array" and length > 0)
		and ([.panels[] | .id] | length == (unique | length))
		and all(.panels[]; .type == "row" or (.targets | type == "array" and length > 0))' \
		"$DASH"
}
check "grafana-dashboard.json is valid JSON, every panel has queries, ids unique" dashboard_valid

# Every query: panels' targets, template variables, annotations.
dashboard_exprs() {
	jq -r '[.. | objects | (.expr?, .definition?, (.query? | strings))] | .[] | strings' "$DASH"
}
dashboard_metrics() {
	dashboard_exprs >"$tmp/dash.exprs" && names_exported <"$tmp/dash.exprs"
}
check "grafana-dashboard.json uses only metrics the daemon exports" dashboard_metrics

# What the dashboard is for: each of these appears in some panel's query.
dashboard_covers() {
	local want bad=0
	jq -r '.panels[].targets[]?.expr' "$DASH" >"$tmp/panel.exprs" || return 1
	for want in \
		'portwatch_tcp_connections\{[^}]*state="close_wait"' \
		'portwatch_close_wait_oldest_age_seconds' \
		'histogram_quantile\([^,]*, *sum by \([^)]*\) \(rate\(portwatch_request_duration_seconds_bucket' \
		'portwatch_connections_opened_total' \
		'portwatch_connections_closed_total' \
		'portwatch_resets_sent_total' \
		'portwatch_resets_received_total' \
		'portwatch_connect_failures_total' \
		'portwatch_alert_state' \
		'portwatch_drops_total' \
		'portwatch_tracked_sockets'; do
		if ! grep -qE "$want" "$tmp/panel.exprs"; then
			echo "no panel query matches: $want"
			bad=1
		fi
	done
	return $bad
}
check "grafana-dashboard.json has panels for CLOSE_WAIT, latency, connections, resets, connect failures, alerts, drops, tracked sockets" dashboard_covers

# --- Kubernetes ---------------------------------------------------------------

K8S=$DEPLOY/kubernetes/daemonset.yaml

k8s_daemonset() {
	"$Y2J" "$K8S" >"$tmp/k8s.json" || return 1
	jq -e '
		([.[] | select(.kind == "DaemonSet")] | length == 1)
		and all(.[] | select(.kind == "DaemonSet"); .spec.template.spec.hostNetwork == true)
		and ([.. | objects | select(has("privileged")) | .privileged] | all(. != true))
		and all(.[] | select(.kind == "DaemonSet") | .spec.template.spec.containers[];
			(.args | index("daemon") != null) and (.args | index("--config") != null)
			and (.readinessProbe.httpGet.path == "/healthz")
			and (.livenessProbe.httpGet.path == "/healthz")
			and (.securityContext.capabilities.add | index("BPF") != null))' "$tmp/k8s.json"
}
check "kubernetes/daemonset.yaml parses, one DaemonSet: hostNetwork, not privileged, CAP_BPF, /healthz probes" k8s_daemonset

k8s_configmap_mounted() {
	# The config the DaemonSet passes is the ConfigMap's key, mounted there.
	jq -e '
		([.[] | select(.kind == "ConfigMap") | .data | keys[]] | index("portwatch.yaml") != null)
		and all(.[] | select(.kind == "DaemonSet") | .spec.template.spec.containers[];
			.args[(.args | index("--config")) + 1] as $cfg
			| any(.volumeMounts[]; .mountPath + "/portwatch.yaml" == $cfg))' "$tmp/k8s.json"
}
check "kubernetes/daemonset.yaml mounts its ConfigMap where --config points" k8s_configmap_mounted

if [ -n "${PORTWATCH:-}" ]; then
	k8s_config_valid() {
		jq -r '.[] | select(.kind == "ConfigMap") | .data["portwatch.yaml"]' \
			"$tmp/k8s.json" >"$tmp/k8s-portwatch.yaml" &&
			"$PORTWATCH" daemon --config "$tmp/k8s-portwatch.yaml" --check
	}
	check "kubernetes ConfigMap's portwatch.yaml passes portwatch daemon --check" k8s_config_valid
else
	skip "kubernetes ConfigMap's config not validated: PORTWATCH not set"
fi

# --- systemd ------------------------------------------------------------------

UNIT=$DEPLOY/portwatch.service

unit_ok() {
	local bad=0 re
	for re in \
		'^ExecStart=/[^ ]*portwatch daemon --config /' \
		'^ExecReload=/bin/kill -HUP \$MAINPID$' \
		'^CapabilityBoundingSet=CAP_' \
		'^AmbientCapabilities=CAP_' \
		'^NoNewPrivileges=yes$' \
		'^ProtectSystem=strict$' \
		'^Restart=on-failure$' \
		'^User=portwatch$' \
		'^WantedBy=multi-user.target$'; do
		if ! grep -qE "$re" "$UNIT"; then
			echo "$UNIT: no line matching $re"
			bad=1
		fi
	done
	# Ambient capabilities beyond the bounding set would be silently lost.
	local bound ambient c
	bound=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
	ambient=$(sed -n 's/^AmbientCapabilities=//p' "$UNIT")
	for c in $ambient; do
		if ! grep -qw -- "$c" <<<"$bound"; then
			echo "$UNIT: $c is ambient but not in CapabilityBoundingSet"
			bad=1
		fi
	done
	# The sysusers file creates the unit's user.
	if ! grep -qE '^u portwatch ' "$DEPLOY/portwatch.sysusers"; then
		echo "$DEPLOY/portwatch.sysusers: does not create user portwatch"
		bad=1
	fi
	return $bad
}
check "portwatch.service: ExecStart daemon --config, capabilities bounded, hardening, user" unit_ok

dropin_ok() {
	grep -qx '\[Service\]' "$DEPLOY/all-namespaces.conf" &&
		grep -qE '^CapabilityBoundingSet=.*CAP_SYS_ADMIN' "$DEPLOY/all-namespaces.conf" &&
		grep -qE '^AmbientCapabilities=.*CAP_SYS_ADMIN' "$DEPLOY/all-namespaces.conf"
}
check "all-namespaces.conf: a [Service] drop-in adding CAP_SYS_ADMIN" dropin_ok

# --- The example config -------------------------------------------------------

if [ -z "${PORTWATCH:-}" ]; then
	skip "deploy/portwatch.yaml not validated: PORTWATCH not set"
elif [ ! -f "$DEPLOY/portwatch.yaml" ]; then
	skip "deploy/portwatch.yaml does not exist"
else
	# Its exec notifier names a script the operator writes: with one that
	# exists the file passes; as shipped, --check says the script is
	# missing (and exits 2) rather than letting the first alert find out.
	example_with_command() {
		sed 's#/usr/local/sbin/restart-backend#/bin/true#' "$DEPLOY/portwatch.yaml" \
			>"$tmp/example.yaml" && chmod 644 "$tmp/example.yaml" &&
			"$PORTWATCH" daemon --config "$tmp/example.yaml" --check
	}
	example_missing_command() {
		local out rc=0
		out=$("$PORTWATCH" daemon --config "$DEPLOY/portwatch.yaml" --check 2>&1) || rc=$?
		echo "$out"
		[ "$rc" -eq 2 ] &&
			[ "$out" = "portwatch: $DEPLOY/portwatch.yaml: notifier restart-backend: /usr/local/sbin/restart-backend: No such file or directory" ]
	}
	check "portwatch daemon --config deploy/portwatch.yaml --check (its command present)" \
		example_with_command
	if [ -e /usr/local/sbin/restart-backend ]; then
		skip "/usr/local/sbin/restart-backend exists here: the missing-command case is not"
	else
		check "deploy/portwatch.yaml --check names its missing command and exits 2" \
			example_missing_command
	fi
fi

# The unit's capabilities are enough: the daemon as an unprivileged user with
# exactly its AmbientCapabilities (and no new privileges), in a network
# namespace of its own, serves /healthz and /metrics and stops cleanly.
unit_caps_run() {
	local caps
	caps=$(sed -n 's/^AmbientCapabilities=//p' "$DEPLOY/portwatch.service" | tr ' ' '\n' |
		sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd, -)
	if [ -z "$caps" ]; then
		echo "no AmbientCapabilities in $DEPLOY/portwatch.service"
		return 1
	fi
	echo "capabilities: $caps"
	chmod 755 "$tmp"
	cp "$PORTWATCH" "$tmp/portwatch"
	printf 'listen: 127.0.0.1:9977\n' >"$tmp/caps.yaml"
	chmod 644 "$tmp/caps.yaml"
	timeout 30 unshare -n bash -s "$tmp" "$caps" <<'EOS'
set -u
dir=$1 caps=$2
ip link set lo up
setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
	--inh-caps=-all,"$caps" --ambient-caps=-all,"$caps" --bounding-set=-all,"$caps" \
	"$dir/portwatch" daemon --config "$dir/caps.yaml" &
pid=$!
for _ in $(seq 50); do
	curl -sf http://127.0.0.1:9977/healthz >/dev/null && break
	sleep 0.1
done
rc=0
curl -sf http://127.0.0.1:9977/metrics | grep -q '^portwatch_tracked_sockets ' || rc=1
kill -TERM "$pid"
wait "$pid" || rc=1
exit $rc
EOS
}
if [ -z "${PORTWATCH:-}" ]; then
	skip "portwatch.service capabilities not tried: PORTWATCH not set"
else
	check "portwatch.service's capabilities suffice: the daemon as nobody serves /metrics" \
		unit_caps_run
fi

[ "$failed" -eq 0 ]
