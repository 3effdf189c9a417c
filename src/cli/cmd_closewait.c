// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch closewait`: every CLOSE_WAIT socket with its owners and age, and
 * a Nagios-style check on their number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/log.h"
#include "core/netns.h"
#include "core/snapshot.h"
#include "render/format.h"
#include "render/report.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portwatch closewait [--port P]... [--min-age DURATION] [-4|-6]\n"
		"                           [--pid PID] [--comm NAME] [--all-netns] [--json]\n"
		"                           [-H] [--warn N] [--crit N] [-v]\n\n"
		"List the sockets stuck in CLOSE_WAIT (the peer closed, the owner did not),\n"
		"oldest first, then a summary per port, direction and process. AGE is the\n"
		"time since the socket entered CLOSE_WAIT (the peer's FIN: the last thing it\n"
		"sent), the age watch and the daemon show; IDLE the time since data last\n"
		"arrived (ss -ti's lastrcv), which includes any idle time before the FIN.\n\n"
		"With --warn or --crit it is a check: one status line, and exit 0 OK,\n"
		"1 WARNING, 2 CRITICAL or 3 UNKNOWN on the number of sockets listed\n"
		"(alerting when the number is >= the threshold).\n\n"
		"Options:\n"
		"  -p, --port P            only these ports (repeat, or P1,P2,...)\n"
		"  -a, --min-age DURATION  only sockets at least this old (500ms, 30s, 5m, 1h)\n"
		"  -A, --all-netns         every network namespace (a NETNS column, JSON "
		"\"netns\")\n"
		"  -j, --json              a JSON array, one object per socket\n"
		"  -w, --warn N            WARNING when N or more sockets are listed\n"
		"  -c, --crit N            CRITICAL when N or more sockets are listed\n"
		"  -v, --verbose           show libbpf's log\n"
		"  -h, --help              this text\n\n"
		"Examples:\n"
		"  portwatch closewait                        # who holds CLOSE_WAIT sockets\n"
		"  portwatch closewait --port 3001 --min-age 1m\n"
		"  portwatch closewait --comm gunicorn -H | wc -l\n"
		"  portwatch closewait --port 3001 --warn 10 --crit 50   # cron or Nagios\n");
}

static bool is_check(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strncmp(argv[i], "--warn", 6) || !strncmp(argv[i], "--crit", 6) ||
		    !strncmp(argv[i], "-w", 2) || !strncmp(argv[i], "-c", 2))
			return true;
	}
	return false;
}

static int unknown(bool check, int code)
{
	if (check)
		printf("CLOSEWAIT UNKNOWN - %s\n", pw_last_error());
	return code;
}

int cmd_closewait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "min-age", required_argument, NULL, 'a' },
		{ "all-netns", no_argument, NULL, 'A' },
		PW_FILTER_LONG_OPTS,
		{ "json", no_argument, NULL, 'j' },
		{ "warn", required_argument, NULL, 'w' },
		{ "crit", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	/* A check reports every failure as UNKNOWN, as monitoring expects. */
	bool check = is_check(argc, argv), json = false, all_netns = false, no_header = false;
	struct pw_sock_filter filter = {};
	int fail = check ? PW_CHECK_UNKNOWN : PW_EXIT_FAIL;
	int usage_fail = check ? PW_CHECK_UNKNOWN : PW_EXIT_USAGE;
	struct pw_cw_group *groups = NULL;
	struct pw_threshold th = {};
	struct pw_portset ports = {};
	struct pw_cw *list = NULL;
	size_t n = 0, ngroups = 0;
	__u64 min_age_ns = 0;
	struct pw_snap snap;
	const char *why;
	int c, err, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:a:A46Hjw:c:vh", opts, NULL)) != -1) {
		switch (pw_common_option("closewait", c, &ports, argv)) {
		case 1:
			continue;
		case -1:
			return unknown(check, usage_fail);
		}
		switch (pw_filter_option(c, &filter, &no_header)) {
		case 1:
			continue;
		case -1:
			return unknown(check, usage_fail);
		}
		switch (c) {
		case 'a':
			if (pw_parse_duration(optarg, &min_age_ns, &why)) {
				pw_value_error("--min-age", optarg, why);
				return unknown(check, usage_fail);
			}
			break;
		case 'A':
			all_netns = true;
			pw_set_netns_namer(pw_netns_name);
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			if (pw_parse_count(optarg, &th.warn, &why)) {
				pw_value_error("--warn", optarg, why);
				return unknown(check, usage_fail);
			}
			if (!th.warn) {
				pw_value_error("--warn", optarg,
					       "must be at least 1 (0 would always alert)");
				return unknown(check, usage_fail);
			}
			th.has_warn = true;
			break;
		case 'c':
			if (pw_parse_count(optarg, &th.crit, &why)) {
				pw_value_error("--crit", optarg, why);
				return unknown(check, usage_fail);
			}
			if (!th.crit) {
				pw_value_error("--crit", optarg,
					       "must be at least 1 (0 would always alert)");
				return unknown(check, usage_fail);
			}
			th.has_crit = true;
			break;
		case 'h':
			usage(stdout);
			return PW_EXIT_OK;
		}
	}
	if (pw_no_operands("closewait", argc, argv))
		return unknown(check, usage_fail);
	if (th.has_warn && th.has_crit && th.warn > th.crit) {
		pw_err("invalid thresholds: --warn %u is above --crit %u", th.warn, th.crit);
		return unknown(check, usage_fail);
	}
	if (check && json) {
		pw_err("--json cannot be combined with --warn/--crit: a check prints one status "
		       "line");
		return unknown(check, usage_fail);
	}

	if (pw_preflight() || pw_snapshot_take(&snap, all_netns))
		return unknown(check, fail);
	pw_snap_filter(&snap, &filter);
	err = pw_cw_collect(&snap, &ports, (double)min_age_ns / PW_NSEC_PER_SEC, &list, &n);
	if (!err)
		err = pw_cw_group(&snap, list, n, &groups, &ngroups);
	if (err) {
		pw_err("collect CLOSE_WAIT sockets: out of memory");
		ret = unknown(check, fail);
		goto out;
	}
	ret = PW_EXIT_OK;
	if (check) {
		ret = (int)pw_check_eval(&th, n);
		pw_cw_check_print(stdout, (enum pw_check)ret, &th, list, n, groups, ngroups);
	} else if (json) {
		json_t *doc = pw_cw_json(&snap, list, n);

		if (pw_json_print(stdout, doc))
			ret = fail;
		json_decref(doc);
	} else {
		pw_cw_print(stdout, &snap, list, n, groups, ngroups, !no_header);
	}
	if (fflush(stdout)) {
		pw_err("write output: I/O error");
		ret = fail;
	}
out:
	free(groups);
	free(list);
	pw_snap_free(&snap);
	return ret;
}
