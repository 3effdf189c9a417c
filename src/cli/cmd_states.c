// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch states`: one row per (port, direction) with a count per state. */
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/netns.h"
#include "core/snapshot.h"
#include "render/format.h"
#include "render/report.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portwatch states [--port P]... [--state S,...] [-4|-6] [--pid PID]\n"
		"                        [--comm NAME] [--all-netns] [--json] [-H] [-v]\n\n"
		"Count the TCP sockets of this network namespace (or of every one) by state,\n"
		"one row per service port and direction. A socket is 'inbound' when its local\n"
		"port has a listener, 'outbound' otherwise (counted under the remote port);\n"
		"'listen' rows show the accept queue depth/limit. The same set of sockets as\n"
		"'ss -tan'.\n\n"
		"Options:\n"
		"  -p, --port P      only these ports (repeat, or P1,P2,...)\n"
		"  -A, --all-netns   every network namespace: rows per namespace, with its\n"
		"                    inode (NETNS column, JSON \"netns\")\n"
		"  -s, --state S,...  only sockets in these states, as ss names them\n"
		"                    (established, close-wait, time-wait, listening, ...;\n"
		"                    connected: all but listening)\n"
		"  -4, -6            only IPv4 or IPv6 sockets\n"
		"      --pid PID     only sockets this process holds (lsof -p)\n"
		"      --comm NAME   only sockets a process named NAME... holds (lsof -c)\n"
		"  -H, --no-header   no header line (ss -H)\n"
		"  -j, --json        a JSON array of {port, direction, states, ...}\n"
		"  -v, --verbose     show libbpf's log\n"
		"  -h, --help        this text\n\n"
		"Examples:\n"
		"  portwatch states                  # every port\n"
		"  portwatch states --port 3001      # one backend\n"
		"  portwatch states -A --port 3001   # the backend in every container\n"
		"  portwatch states --comm nginx -s established,close-wait\n"
		"  portwatch states --json | jq '.[] | select(.states.CLOSE_WAIT > 0)'\n");
}

int cmd_states(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },  { "all-netns", no_argument, NULL, 'A' },
		{ "state", required_argument, NULL, 's' }, PW_FILTER_LONG_OPTS,
		{ "json", no_argument, NULL, 'j' },	   { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	   {},
	};
	struct pw_portset ports = {};
	struct pw_snap snap;
	struct pw_live rows = {};
	bool json = false, all_netns = false, no_header = false;
	struct pw_sock_filter filter = {};
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:As:46Hjvh", opts, NULL)) != -1) {
		switch (pw_common_option("states", c, &ports, argv)) {
		case 1:
			continue;
		case -1:
			return PW_EXIT_USAGE;
		}
		switch (pw_filter_option(c, &filter, &no_header)) {
		case 1:
			continue;
		case -1:
			return PW_EXIT_USAGE;
		}
		switch (c) {
		case 'A':
			all_netns = true;
			pw_set_netns_namer(pw_netns_name);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return PW_EXIT_OK;
		}
	}
	if (pw_no_operands("states", argc, argv))
		return PW_EXIT_USAGE;

	if (pw_preflight() || pw_snapshot_take(&snap, all_netns))
		return PW_EXIT_FAIL;
	pw_snap_filter(&snap, &filter);
	err = pw_live_from_snap(&rows, &snap, &ports, pw_mono_ns());
	if (err) {
		pw_err("count sockets: out of memory");
		goto out;
	}
	if (json) {
		json_t *doc = pw_states_json(&rows);

		err = pw_json_print(stdout, doc);
		json_decref(doc);
	} else {
		pw_states_print(stdout, &rows, !no_header);
	}
	if (err || fflush(stdout)) {
		pw_err("write output: I/O error");
		err = -1;
	}
out:
	pw_live_free(&rows);
	pw_snap_free(&snap);
	return err ? PW_EXIT_FAIL : PW_EXIT_OK;
}
