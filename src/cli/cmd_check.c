// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch check`: the daemon's rules evaluated once from a snapshot, for
 * cron, with a Nagios plugin's status line and exit codes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include "cli/cli.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/snapshot.h"
#include "daemon/daemon.h"
#include "model/alert.h"
#include "model/live.h"
#include "render/metrics.h"
#include "render/report.h"

static void check_usage(FILE *out)
{
	fprintf(out, "Usage: portwatch check --config FILE [-v]\n\n"
		     "Evaluate the config's rules once, from a snapshot of the kernel's socket\n"
		     "tables, and exit like a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL,\n"
		     "3 UNKNOWN, with one status line. For hosts that keep cron. It reads what\n"
		     "the daemon would: every network namespace with `namespaces: all`. A\n"
		     "snapshot has no history: close_wait, close_wait_age, accept_queue and\n"
		     "listening rules are evaluated, windowed rules (latency, rates, connect\n"
		     "failures) are listed as skipped; `for` and cooldown do not apply.\n\n"
		     "Options:\n"
		     "  -c, --config FILE  the daemon's YAML configuration\n"
		     "  -v, --verbose      show libbpf's log\n"
		     "  -h, --help         this text\n\n"
		     "Example (cron, every 3 minutes):\n"
		     "  */3 * * * * root portwatch check --config /etc/portwatch/portwatch.yaml "
		     "|| restart-backend\n");
}

/* The snapshot as live rows: states per row, oldest CLOSE_WAIT. */
/* One rule into the status line (msg) and perfdata: its severity, or -1
 * when a snapshot cannot evaluate it. */
static int check_rule(const struct pw_rule *r, const struct pw_live *l, struct pw_text *msg,
		      struct pw_text *perf)
{
	double v, th;
	int sev;

	if (pw_rule_windowed(r->metric)) {
		pw_text_printf(msg, "%s%s: skipped (%s needs the daemon's history)",
			       msg->len ? "; " : "", r->name, pw_rule_metric_name(r->metric));
		return -1;
	}
	v = pw_rule_value_now(r, l);
	sev = pw_rule_severity(r, v);
	th = sev == PW_SEV_CRITICAL ? r->crit : r->has_warn ? r->warn : r->crit;
	pw_text_printf(msg, "%s%s: %g on port %u", msg->len ? "; " : "", r->name, v, r->port);
	if (sev)
		pw_text_printf(msg, " (%s %g)", sev == PW_SEV_CRITICAL ? "crit" : "warn", th);
	pw_text_printf(perf, " %s=%g;", r->name, v);
	if (r->has_warn)
		pw_text_printf(perf, "%g", r->warn);
	pw_text_printf(perf, ";");
	if (r->has_crit)
		pw_text_printf(perf, "%g", r->crit);
	return sev;
}

/* The config file named by the flags; NULL after printing why. */
static const char *check_args(int argc, char **argv, bool *help)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *path = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			pw_set_verbose(true);
			break;
		case 'h':
			*help = true;
			return NULL;
		default:
			pw_option_error("check", c, argv);
			return NULL;
		}
	}
	if (pw_no_operands("check", argc, argv))
		return NULL;
	if (!path)
		pw_err("check needs --config FILE (see 'portwatch check --help')");
	return path;
}

int cmd_check(int argc, char **argv)
{
	static const char *const status[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	struct pw_text msg = {}, perf = {};
	struct pw_config cfg = {};
	struct pw_live l = {};
	struct pw_snap snap = {};
	const char *path;
	size_t i, evaluated = 0;
	int worst = 0, sev, code = PW_CHECK_UNKNOWN;
	bool help = false;

	path = check_args(argc, argv, &help);
	if (help) {
		check_usage(stdout);
		return PW_EXIT_OK;
	}
	if (!path || pw_daemon_load_config(path, &cfg))
		goto unknown;
	if (pw_preflight() || pw_snapshot_take(&snap, cfg.all_netns))
		goto unknown;
	if (pw_live_from_snap(&l, &snap, NULL, pw_mono_ns())) {
		pw_err("count sockets: out of memory");
		goto unknown;
	}
	for (i = 0; i < cfg.n_rules; i++) {
		sev = check_rule(&cfg.rules[i], &l, &msg, &perf);
		if (sev < 0)
			continue;
		evaluated++;
		if (sev > worst)
			worst = sev;
	}
	if (!evaluated && cfg.n_rules) {
		pw_err("%s: no rule can be evaluated from a snapshot", path);
		goto unknown;
	}
	code = worst;
	printf("PORTWATCH %s - %s%s%s\n", status[code], msg.len ? msg.s : "no rules",
	       perf.len ? " |" : "", perf.len ? perf.s : "");
	goto out;
unknown:
	code = PW_CHECK_UNKNOWN;
	printf("PORTWATCH UNKNOWN - %s\n", pw_last_error());
out:
	pw_text_free(&msg);
	pw_text_free(&perf);
	pw_live_free(&l);
	pw_snap_free(&snap);
	pw_config_free(&cfg);
	return code;
}
