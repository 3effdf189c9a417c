// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch latency`: request latency per port and direction, measured in
 * the kernel over a period, as histograms and percentiles. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/watch.h"
#include "common/log.h"
#include "common/stop.h"
#include "core/netns.h"
#include "core/snapshot.h"
#include "core/track.h"
#include "render/format.h"
#include "render/latency.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portwatch latency [--port P]... [--direction in|out] [--duration D]\n"
		"                         [--accept-wait] [--all-netns] [--json] [-v]\n\n"
		"Measure request latency per service port in the kernel, for any protocol,\n"
		"until D has passed or Ctrl-C, then print per port and direction a histogram,\n"
		"the count, p50, p90, p95, p99 and max.\n\n"
		"  inbound   a server's port: from a request's first byte arriving to the\n"
		"            first byte of the answer sent\n"
		"  outbound  a client's (a proxy's upstream): from the request sent to the\n"
		"            first byte of the answer arriving; what a proxy's 504 is about\n\n"
		"A connection carries many requests (keep-alive); pipelined requests count\n"
		"from the first byte. Percentiles come from log-linear buckets (8 per power\n"
		"of two): within 12.5%% of the true value. Outbound rows add connect latency\n"
		"and failed connects.\n\n"
		"With --accept-wait, inbound rows add the accept-queue wait: from a\n"
		"connection being queued on its listener (handshake complete) to the\n"
		"accept() that returns it. It hooks every system call's exit, of every\n"
		"process, so it costs more than the rest (see BENCHMARKS.md).\n\n"
		"Options:\n"
		"  -p, --port P           only these ports (repeat, or P1,P2,...)\n"
		"  -d, --direction DIR    in or out (default both)\n"
		"  -D, --duration D       how long to measure (default: until Ctrl-C)\n"
		"  -a, --accept-wait      also the accept-queue wait of inbound connections\n"
		"  -A, --all-netns        every network namespace\n"
		"  -j, --json             a JSON array, one object per port and direction\n"
		"  -v, --verbose          show libbpf's log\n"
		"  -h, --help             this text\n\n"
		"Examples:\n"
		"  portwatch latency --port 3001 --duration 30s\n"
		"  portwatch latency --port 8080 --direction in --accept-wait --duration 10s\n"
		"  portwatch latency --direction out --json --duration 1m | jq "
		"'.[].p95_seconds'\n");
}

int cmd_latency(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "direction", required_argument, NULL, 'd' },
		{ "duration", required_argument, NULL, 'D' },
		{ "accept-wait", no_argument, NULL, 'a' },
		{ "all-netns", no_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct pw_tracker_opts topts = {};
	struct pw_portset ports = {};
	struct pw_live l = {};
	__u64 duration_ns = 0;
	int dir = -1, c, err = 0;
	bool json = false, accepts;
	struct pw_tracker *t;
	json_t *doc = NULL;
	const char *why;
	size_t i;
	__u32 netns;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:d:D:aAjvh", opts, NULL)) != -1) {
		switch (pw_common_option("latency", c, &ports, argv)) {
		case 1:
			continue;
		case -1:
			return PW_EXIT_USAGE;
		}
		switch (c) {
		case 'd':
			if (pw_parse_direction(optarg, &dir, &why)) {
				pw_value_error("--direction", optarg, why);
				return PW_EXIT_USAGE;
			}
			break;
		case 'D':
			if (pw_parse_duration(optarg, &duration_ns, &why)) {
				pw_value_error("--duration", optarg, why);
				return PW_EXIT_USAGE;
			}
			if (!duration_ns) {
				pw_value_error("--duration", optarg, "must be above 0");
				return PW_EXIT_USAGE;
			}
			break;
		case 'a':
			topts.accept_wait = true;
			break;
		case 'A':
			topts.all_netns = true;
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
	if (pw_no_operands("latency", argc, argv))
		return PW_EXIT_USAGE;
	if (pw_preflight())
		return PW_EXIT_FAIL;
	pw_install_stop_handlers();
	topts.latency = true;
	topts.pins = &ports; /* attempts to them count under them at once */
	t = pw_tracker__new(&topts);
	if (!t)
		return PW_EXIT_FAIL;
	accepts = pw_tracker__accept_wait(t);
	if (!pw_tracker__latency(t) && !accepts) {
		/* The tracker has said, in one line, which tracepoints are missing. */
		pw_tracker__free(t);
		return PW_EXIT_FAIL;
	}
	/* On stderr even with --json: it tells a script when measuring began. */
	fprintf(stderr, "portwatch: measuring %s%s; Ctrl-C to stop\n",
		!pw_tracker__latency(t) ? "accept-queue wait"
		: accepts		? "request latency and accept-queue wait"
					: "request latency",
		duration_ns ? " for the given duration" : "");
	/* Sleep in slices so Ctrl-C ends the wait. */
	for (__u64 waited = 0; !pw_stopping() && (!duration_ns || waited < duration_ns);
	     waited += 100000000ULL)
		poll(NULL, 0,
		     duration_ns && duration_ns - waited < 100000000ULL
			     ? (int)((duration_ns - waited) / 1000000)
			     : 100);
	err = pw_tracker__read(t, &l);
	netns = pw_tracker__netns(t);
	if (json)
		doc = json_array();
	for (i = 0; !err && i < l.n; i++) {
		const struct pw_live_row *r = &l.rows[i];

		if (!pw_lat_row_has_data(r) || (netns && r->key.netns != netns) ||
		    !pw_portset_match(&ports, r->key.port) || (dir >= 0 && r->key.dir != dir))
			continue;
		if (json) {
			json_t *o = pw_lat_json(r, !netns);

			if (o && accepts && r->key.dir == PW_DIR_INBOUND)
				json_object_set_new(o, "accept_wait", pw_lat_accept_json(r));
			json_array_append_new(doc, o);
		} else {
			pw_lat_print(stdout, r, !netns);
			if (accepts && r->key.dir == PW_DIR_INBOUND)
				pw_lat_print_accepts(stdout, r);
		}
	}
	if (json && !err)
		err = pw_json_print(stdout, doc);
	json_decref(doc);
	pw_tracker__free(t);
	pw_live_free(&l);
	return err ? PW_EXIT_FAIL : PW_EXIT_OK;
}
