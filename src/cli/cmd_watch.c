// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch watch`: live per-port gauges and rates. On a terminal a table
 * refreshed in place; otherwise one line (or JSON object) per row per
 * interval. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/watch.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/stop.h"
#include "core/netns.h"
#include "core/snapshot.h"
#include "core/track.h"
#include "render/format.h"
#include "render/latency.h"
#include "render/report.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portwatch watch [--port P]... [--all-netns] [--interval DURATION] [--count "
		"N]\n"
		"                       [--json] [--reconcile DURATION] [-v]\n\n"
		"Follow every TCP state change in the kernel and show, per service port and\n"
		"direction: ESTABLISHED and CLOSE_WAIT sockets, the oldest CLOSE_WAIT socket\n"
		"and its owner, TIME_WAIT, and connections opened, closed, reset and failed\n"
		"per second. Counts match ss, sockets older than portwatch included; a state\n"
		"change the kernel skipped (it does not nest tracing programs on one CPU) is\n"
		"counted in the status line and repaired at the next --reconcile.\n\n"
		"On a terminal the table refreshes in place, sorted by CLOSE_WAIT; q quits.\n"
		"Otherwise it prints one line per row per interval, or with --json one object\n"
		"per row per interval and one status object with the drop counters.\n\n"
		"Options:\n"
		"  -p, --port P              only these ports (repeat, or P1,P2,...)\n"
		"  -A, --all-netns           every network namespace, each row with its inode\n"
		"                            (default: the namespace portwatch runs in)\n"
		"  -L, --latency             also requests/s and p50/p95/p99 request latency\n"
		"                            over each interval (see 'portwatch latency')\n"
		"  -i, --interval DURATION   refresh interval (default 1s, at least 10ms)\n"
		"  -n, --count N             stop after N intervals\n"
		"  -j, --json                JSON objects, one per line\n"
		"  -r, --reconcile DURATION  recount every socket this often and repair what\n"
		"                            missed events left wrong (default 60s, 0: never)\n"
		"  -v, --verbose             show libbpf's log\n"
		"  -h, --help                this text\n\n"
		"Examples:\n"
		"  portwatch watch                         # live table\n"
		"  portwatch watch --port 3001 --interval 5s | tee watch.log\n"
		"  portwatch watch --json --count 60 > minute.jsonl\n");
}

static const char *const drop_names[PW_DROP_MAX] = {
	[PW_DROP_RINGBUF] = "ringbuf",	     [PW_DROP_STATS] = "stats",
	[PW_DROP_SK_STORAGE] = "sk_storage", [PW_DROP_CLOSE_WAIT] = "close_wait",
	[PW_DROP_MINI] = "minisock",
};

/* Requests completed during the interval, as a histogram. */
static void interval_latency(const struct pw_watch *w, const struct pw_live_row *r,
			     struct pw_lat *out)
{
	const struct pw_live_row *p = w->prev ? pw_live_find(w->prev, &r->key) : NULL;
	static const struct pw_lat none;

	pw_lat_sub(out, pw_row_hist(r, PW_H_LAT), p ? pw_row_hist(p, PW_H_LAT) : &none);
}

/* Listen rows: segments dropped during the interval. */
static __u64 listen_drops_delta(const struct pw_watch *w, const struct pw_live_row *r)
{
	const struct pw_live_row *p = w->prev ? pw_live_find(w->prev, &r->key) : NULL;
	__u64 before = p ? p->listen_drops : 0;

	return r->listen_drops > before ? r->listen_drops - before : 0;
}

/* Rows worth showing: on a wanted port, in our netns, with sockets or
 * activity. */
static bool row_shown(const struct pw_watch *w, const struct pw_live_row *r)
{
	int s;

	if (!pw_portset_match(w->ports, r->key.port))
		return false;
	for (s = 0; s < PW_STATE_SLOTS; s++)
		if (r->states[s])
			return true;
	for (s = 0; s < PW_C_MAX; s++)
		if (pw_live_delta(w->prev, r, s))
			return true;
	if (listen_drops_delta(w, r))
		return true;
	if (w->latency) {
		const struct pw_live_row *p = w->prev ? pw_live_find(w->prev, &r->key) : NULL;

		return pw_row_hist(r, PW_H_LAT)->count != (p ? pw_row_hist(p, PW_H_LAT)->count : 0);
	}
	return false;
}

static double rate(const struct pw_watch *w, const struct pw_live_row *r, enum pw_counter c)
{
	return w->interval_s > 0 ? pw_live_delta(w->prev, r, c) / w->interval_s : 0;
}

static __u64 failures_delta(const struct pw_watch *w, const struct pw_live_row *r)
{
	const struct pw_live_row *p = w->prev ? pw_live_find(w->prev, &r->key) : NULL;
	__u64 now = pw_live_connect_failures(r->counter);
	__u64 before = p ? pw_live_connect_failures(p->counter) : 0;

	return now >= before ? now - before : 0;
}

static double oldest_age(const struct pw_watch *w, const struct pw_live_row *r)
{
	if (!r->cw_oldest_since_ns || r->cw_oldest_since_ns > w->cur->ts_ns)
		return 0;
	return pw_seconds(w->cur->ts_ns - r->cw_oldest_since_ns);
}

/* Cumulative since start, Prometheus-style: count, sum, and the non-empty
 * buckets by upper bound. */
static json_t *hist_json(const struct pw_lat *h)
{
	return json_pack("{s:I, s:f, s:o}", "count", (json_int_t)h->count, "sum_seconds",
			 pw_seconds(h->sum_ns), "buckets", pw_json_buckets(h->bucket));
}

json_t *pw_watch_row_json(const struct pw_watch *w, const struct pw_live_row *r)
{
	json_t *obj, *owner = json_null();

	if (r->cw_oldest_since_ns && r->cw_oldest_pid)
		owner = json_pack("{s:i, s:s}", "pid", r->cw_oldest_pid, "comm", r->cw_oldest_comm);
	obj = json_pack("{s:o, s:i, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I}", "timestamp",
			json_real(w->wall), "port", r->key.port, "direction",
			pw_dir_name(r->key.dir), "states", pw_state_counts_json(r->states),
			"interval_seconds", pw_json_seconds(w->interval_s), "opened",
			(json_int_t)pw_live_delta(w->prev, r, PW_C_OPENED), "closed",
			(json_int_t)pw_live_delta(w->prev, r, PW_C_CLOSED), "resets_sent",
			(json_int_t)pw_live_delta(w->prev, r, PW_C_RESETS_SENT), "resets_received",
			(json_int_t)pw_live_delta(w->prev, r, PW_C_RESETS_RECEIVED),
			"connect_failures", (json_int_t)failures_delta(w, r));
	if (!obj)
		return NULL;
	if (!w->netns) {
		json_object_set_new(obj, "netns", json_integer(r->key.netns));
		pw_json_netns_name(obj, r->key.netns);
	}
	json_object_set_new(
		obj, "close_wait_entered",
		json_integer((json_int_t)pw_live_delta(w->prev, r, PW_C_CLOSE_WAIT_ENTERED)));
	json_object_set_new(
		obj, "close_wait_left",
		json_integer((json_int_t)pw_live_delta(w->prev, r, PW_C_CLOSE_WAIT_LEFT)));
	json_object_set_new(obj, "close_wait_duration", hist_json(pw_row_hist(r, PW_H_CW)));
	json_object_set_new(obj, "retransmits",
			    json_integer((json_int_t)pw_live_delta(w->prev, r, PW_C_RETRANSMITS)));
	if (r->key.dir == PW_DIR_LISTEN) {
		json_object_set_new(obj, "accept_queue", json_integer(r->acceptq));
		json_object_set_new(obj, "accept_queue_max", json_integer(r->acceptq_max));
		json_object_set_new(obj, "listen_drops",
				    json_integer((json_int_t)listen_drops_delta(w, r)));
	}
	if (w->latency && r->key.dir != PW_DIR_LISTEN) {
		struct pw_lat *l = calloc(1, sizeof(*l));

		if (l) {
			interval_latency(w, r, l);
			json_object_set_new(obj, "requests", json_integer((json_int_t)l->count));
			json_object_set_new(obj, "unanswered",
					    json_integer((json_int_t)pw_live_delta(
						    w->prev, r, PW_C_UNANSWERED)));
			json_object_set_new(obj, "latency_p50_seconds",
					    pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.50)));
			json_object_set_new(obj, "latency_p95_seconds",
					    pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.95)));
			json_object_set_new(obj, "latency_p99_seconds",
					    pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.99)));
			free(l);
		}
	}
	json_object_set_new(obj, "close_wait_oldest_seconds",
			    r->cw_oldest_since_ns ? pw_json_seconds(oldest_age(w, r))
						  : json_null());
	json_object_set_new(obj, "close_wait_oldest_owner", owner);
	return obj;
}

json_t *pw_watch_status_json(const struct pw_watch *w)
{
	json_t *drops = json_object();
	int i;

	for (i = 0; i < PW_DROP_MAX; i++)
		json_object_set_new(drops, drop_names[i], json_integer((json_int_t)w->drops[i]));
	json_object_set_new(drops, "missed_events", json_integer((json_int_t)w->missed));
	return json_pack("{s:o, s:o, s:{s:I, s:I}}", "timestamp", json_real(w->wall), "drops",
			 drops, "repairs", "reconcile", (json_int_t)w->fixes[PW_FIX_DRIFT],
			 "destroy", (json_int_t)w->fixes[PW_FIX_DESTROYED]);
}

static void owner_text(char *buf, size_t len, const struct pw_live_row *r)
{
	if (!r->cw_oldest_since_ns)
		snprintf(buf, len, "-");
	else if (!r->cw_oldest_pid)
		snprintf(buf, len, "(orphan)");
	else
		snprintf(buf, len, "%s[%u]", r->cw_oldest_comm, r->cw_oldest_pid);
}

static void print_header(FILE *out, bool clock, bool netns, bool latency)
{
	if (clock)
		fprintf(out, "%-8s ", "TIME");
	if (netns)
		fprintf(out, "%-16s ", "NETNS");
	if (latency)
		fprintf(out, "%8s %8s %8s %8s %8s ", "REQ/s", "P50", "P95", "P99", "UNANS/s");
	fprintf(out, "%-5s %-8s %7s %10s %8s %-22s %9s %8s %8s %8s %8s %8s %11s %8s\n", "PORT",
		"DIR", "ESTAB", "CLOSE-WAIT", "OLDEST", "OWNER", "TIME-WAIT", "NEW/s", "CLOSED/s",
		"RST/s", "FAIL/s", "RETR/s", "ACCEPT-Q", "DROP/s");
}

static void print_row(FILE *out, const struct pw_watch *w, const struct pw_live_row *r,
		      const char *clock)
{
	char age[PW_AGE_LEN] = "-", owner[40], q[24] = "-", ns[PW_NETNS_SHOW_LEN];

	if (r->cw_oldest_since_ns)
		pw_format_age(age, sizeof(age), oldest_age(w, r));
	owner_text(owner, sizeof(owner), r);
	if (clock)
		fprintf(out, "%-8s ", clock);
	if (!w->netns)
		fprintf(out, "%-16s ", pw_netns_show(ns, sizeof(ns), r->key.netns));
	if (w->latency) {
		struct pw_lat *l = calloc(1, sizeof(*l));
		char q[3][16] = { "-", "-", "-" };

		if (l) {
			interval_latency(w, r, l);
			if (l->count) {
				pw_format_duration(q[0], sizeof(q[0]), pw_lat_quantile_ns(l, 0.50));
				pw_format_duration(q[1], sizeof(q[1]), pw_lat_quantile_ns(l, 0.95));
				pw_format_duration(q[2], sizeof(q[2]), pw_lat_quantile_ns(l, 0.99));
			}
			fprintf(out, "%8.1f %8s %8s %8s %8.1f ",
				w->interval_s > 0 ? (double)l->count / w->interval_s : 0, q[0],
				q[1], q[2], rate(w, r, PW_C_UNANSWERED));
			free(l);
		}
	}
	if (r->key.port)
		fprintf(out, "%-5u ", r->key.port);
	else
		fprintf(out, "%-5s ", "none"); /* no socket of its own: see README */
	if (r->key.dir == PW_DIR_LISTEN)
		snprintf(q, sizeof(q), "%u/%u", r->acceptq, r->acceptq_max);
	fprintf(out, "%-8s %7lld %10lld %8s %-22.22s %9lld %8.1f %8.1f %8.1f %8.1f %8.1f %11s ",
		pw_dir_name(r->key.dir), (long long)r->states[PW_TCP_ESTABLISHED],
		(long long)r->states[PW_TCP_CLOSE_WAIT], age, owner,
		(long long)r->states[PW_TCP_TIME_WAIT], rate(w, r, PW_C_OPENED),
		rate(w, r, PW_C_CLOSED),
		rate(w, r, PW_C_RESETS_SENT) + rate(w, r, PW_C_RESETS_RECEIVED),
		w->interval_s > 0 ? failures_delta(w, r) / w->interval_s : 0,
		rate(w, r, PW_C_RETRANSMITS), q);
	if (r->key.dir == PW_DIR_LISTEN)
		fprintf(out, "%8.1f\n",
			w->interval_s > 0 ? listen_drops_delta(w, r) / w->interval_s : 0);
	else
		fprintf(out, "%8s\n", "-");
}

static int cmp_close_wait(const void *a, const void *b)
{
	const struct pw_live_row *x = *(const struct pw_live_row *const *)a;
	const struct pw_live_row *y = *(const struct pw_live_row *const *)b;

	if (x->states[PW_TCP_CLOSE_WAIT] != y->states[PW_TCP_CLOSE_WAIT])
		return x->states[PW_TCP_CLOSE_WAIT] > y->states[PW_TCP_CLOSE_WAIT] ? -1 : 1;
	if (x->key.port != y->key.port)
		return x->key.port < y->key.port ? -1 : 1;
	return x->key.dir < y->key.dir ? -1 : x->key.dir > y->key.dir;
}

static void print_status(FILE *out, const struct pw_watch *w)
{
	int i;

	fprintf(out, "drops:");
	for (i = 0; i < PW_DROP_MAX; i++)
		fprintf(out, " %s=%llu", drop_names[i], (unsigned long long)w->drops[i]);
	fprintf(out, " missed_events=%llu  repairs: reconcile=%llu destroy=%llu\n",
		(unsigned long long)w->missed, (unsigned long long)w->fixes[PW_FIX_DRIFT],
		(unsigned long long)w->fixes[PW_FIX_DESTROYED]);
}

/* Prints one interval in the chosen form. */
static int show(FILE *out, const struct pw_watch *w, enum pw_watch_mode mode)
{
	const struct pw_live_row **shown;
	char clock[16];
	struct tm tm;
	time_t now = (time_t)w->wall;
	size_t i, n = 0;
	int err = 0;

	shown = calloc(w->cur->n + 1, sizeof(*shown));
	if (!shown)
		return -ENOMEM;
	for (i = 0; i < w->cur->n; i++)
		if ((!w->netns || w->cur->rows[i].key.netns == w->netns) &&
		    row_shown(w, &w->cur->rows[i]))
			shown[n++] = &w->cur->rows[i];
	switch (mode) {
	case PW_WATCH_JSON:
		for (i = 0; !err && i < n; i++) {
			json_t *doc = pw_watch_row_json(w, shown[i]);

			err = pw_json_print(out, doc);
			json_decref(doc);
		}
		if (!err) {
			json_t *doc = pw_watch_status_json(w);

			err = pw_json_print(out, doc);
			json_decref(doc);
		}
		break;
	case PW_WATCH_LINES:
		localtime_r(&now, &tm);
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
		for (i = 0; i < n; i++)
			print_row(out, w, shown[i], clock);
		break;
	case PW_WATCH_TTY:
		qsort(shown, n, sizeof(*shown), cmp_close_wait);
		localtime_r(&now, &tm);
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
		/* Home, clear: redraw in place. */
		fprintf(out, "\033[H\033[2Jportwatch %s  every %.3gs  (q quits)\n\n", clock,
			w->interval_s);
		print_header(out, false, !w->netns, w->latency);
		for (i = 0; i < n; i++)
			print_row(out, w, shown[i], NULL);
		fputc('\n', out);
		print_status(out, w);
		break;
	}
	free((void *)shown);
	if (fflush(out) || err)
		return -EIO;
	return 0;
}

int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "all-netns", no_argument, NULL, 'A' },
		{ "latency", no_argument, NULL, 'L' },
		{ "interval", required_argument, NULL, 'i' },
		{ "reconcile", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct pw_tracker_opts topts = {};
	struct pw_live a = {}, b = {};
	struct pw_portset ports = {};
	struct pw_watch w = { .ports = &ports };
	struct termios saved;
	enum pw_watch_mode mode;
	__u64 interval_ns = PW_NSEC_PER_SEC, deadline, reconcile_ns = 60 * PW_NSEC_PER_SEC;
	__u64 next_reconcile;
	__u32 count = 0, done = 0;
	struct pw_tracker *t;
	bool json = false, raw = false;
	const char *why;
	int c, err = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:ALi:r:n:jvh", opts, NULL)) != -1) {
		switch (pw_common_option("watch", c, &ports, argv)) {
		case 1:
			continue;
		case -1:
			return PW_EXIT_USAGE;
		}
		switch (c) {
		case 'i':
			if (pw_parse_duration(optarg, &interval_ns, &why)) {
				pw_value_error("--interval", optarg, why);
				return PW_EXIT_USAGE;
			}
			if (interval_ns < 10000000ULL) {
				pw_value_error("--interval", optarg, "below 10ms");
				return PW_EXIT_USAGE;
			}
			break;
		case 'r':
			if (pw_parse_duration(optarg, &reconcile_ns, &why)) {
				pw_value_error("--reconcile", optarg, why);
				return PW_EXIT_USAGE;
			}
			break;
		case 'n':
			if (pw_parse_count(optarg, &count, &why)) {
				pw_value_error("--count", optarg, why);
				return PW_EXIT_USAGE;
			}
			if (!count) {
				pw_value_error("--count", optarg, "must be at least 1");
				return PW_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'A':
			topts.all_netns = true;
			pw_set_netns_namer(pw_netns_name);
			break;
		case 'L':
			topts.latency = true;
			break;
		case 'h':
			usage(stdout);
			return PW_EXIT_OK;
		}
	}
	if (pw_no_operands("watch", argc, argv))
		return PW_EXIT_USAGE;
	mode = json ? PW_WATCH_JSON : isatty(STDOUT_FILENO) ? PW_WATCH_TTY : PW_WATCH_LINES;

	if (pw_preflight())
		return PW_EXIT_FAIL;
	pw_install_stop_handlers();
	topts.pins = &ports; /* attempts to them count under them at once */
	t = pw_tracker__new(&topts);
	if (!t)
		return PW_EXIT_FAIL;
	w.netns = pw_tracker__netns(t);
	w.latency = pw_tracker__latency(t);
	w.prev = &a;
	w.cur = &b;
	if (pw_tracker__read(t, w.prev)) {
		err = -EIO;
		goto out;
	}
	if (mode == PW_WATCH_TTY && isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &saved)) {
		struct termios rawt = saved;

		/* Keys without Enter, for q; output processing untouched. */
		rawt.c_lflag &= ~(ICANON | ECHO);
		raw = !tcsetattr(STDIN_FILENO, TCSANOW, &rawt);
	}
	if (mode == PW_WATCH_LINES)
		print_header(stdout, true, !w.netns, w.latency);
	deadline = w.prev->ts_ns + interval_ns;
	next_reconcile = w.prev->ts_ns + reconcile_ns;
	while (!pw_stopping()) {
		struct pw_live *tmp;
		__u64 now;
		int wait_ms;

		now = pw_mono_ns();
		if (now < deadline) {
			wait_ms = (int)((deadline - now + 999999) / 1000000);
			if (raw) {
				struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
				char key;

				if (poll(&pfd, 1, wait_ms) == 1 &&
				    read(STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q'))
					break;
			} else {
				poll(NULL, 0, wait_ms);
			}
			continue;
		}
		deadline += interval_ns;
		if (deadline < now)
			deadline = now + interval_ns; /* we were stopped: skip ticks */
		if (reconcile_ns && now >= next_reconcile) {
			next_reconcile = now + reconcile_ns;
			if (pw_tracker__reconcile(t, w.prev)) {
				err = -EIO;
				break;
			}
		}
		if (pw_tracker__read(t, w.cur) || pw_tracker__drops(t, w.drops) ||
		    pw_tracker__health(t, w.fixes, &w.missed)) {
			err = -EIO;
			break;
		}
		w.wall = pw_wall_now();
		w.interval_s = pw_seconds(w.cur->ts_ns - w.prev->ts_ns);
		err = show(stdout, &w, mode);
		if (err) {
			if (err != -EIO || errno != EPIPE)
				pw_err("write output: %s", strerror(errno ? errno : EIO));
			break;
		}
		tmp = w.prev;
		w.prev = w.cur;
		w.cur = tmp;
		if (count && ++done >= count)
			break;
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
out:
	pw_tracker__free(t);
	pw_live_free(&a);
	pw_live_free(&b);
	return err ? PW_EXIT_FAIL : PW_EXIT_OK;
}
