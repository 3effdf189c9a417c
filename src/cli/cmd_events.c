// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch events`: the notable events as they happen. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "cli/watch.h"
#include "common/args.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/stop.h"
#include "core/netns.h"
#include "core/snapshot.h"
#include "core/track.h"
#include "render/format.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portwatch events [--port P]... [--type T,...] [--direction in|out]\n"
		"                        [--min-time DURATION] [--slow DURATION] [--all-netns]\n"
		"                        [--json] [--ringbuf-size BYTES] [-v]\n\n"
		"Print each notable TCP event as it happens: a socket entering or leaving\n"
		"CLOSE_WAIT (with how long it stayed), a reset sent or received, a connect\n"
		"that failed (refused or timed out). Owners are the process that connected,\n"
		"listened, first sent on the socket or closed it: never the task that\n"
		"happened to run when the packet arrived. IN-STATE is the time spent in the\n"
		"state the socket was in (for close_wait_enter, the state it left).\n\n"
		"With --slow, also every request at least that slow (see 'portwatch latency'\n"
		"for what a request is); its latency is the IN-STATE column.\n\n"
		"--min-time keeps only events with at least that IN-STATE, and a CLOSE_WAIT\n"
		"episode only once it has lasted that long: a client that closes at once\n"
		"after its server's FIN (every healthy Connection: close) prints nothing;\n"
		"a leaking one prints its close_wait_enter that long after the fact.\n\n"
		"Events lost to a full ring buffer are counted and reported on stderr.\n\n"
		"Options:\n"
		"  -p, --port P              only these ports (repeat, or P1,P2,...)\n"
		"  -t, --type T,...          only these: close_wait_enter, close_wait_leave,\n"
		"                            reset_sent, reset_received, connect_refused,\n"
		"                            connect_timeout, connect_failed, slow_request, or\n"
		"                            close_wait, reset, connect for each family\n"
		"  -d, --direction in|out    only inbound or outbound\n"
		"  -m, --min-time DURATION   only what stayed at least this long (e.g. 1s)\n"
		"  -s, --slow DURATION       also requests at least this slow (e.g. 500ms)\n"
		"  -A, --all-netns           every network namespace (JSON adds \"netns\")\n"
		"  -j, --json                one JSON object per event\n"
		"      --ringbuf-size BYTES  ring buffer size (power of two, 4K..256M, default "
		"256K)\n"
		"  -v, --verbose             show libbpf's log\n"
		"  -h, --help                this text\n\n"
		"Examples:\n"
		"  portwatch events --type close_wait --min-time 5s    # leaks, not closes\n"
		"  portwatch events --port 3001 --type reset,connect --json\n"
		"  portwatch events --slow 500ms --port 3001\n");
}

/* A close_wait_enter held until its socket has been in CLOSE_WAIT for
 * --min-time (dropped if it leaves sooner). */
struct held {
	struct pw_event e;
	bool used;
};

#define MAX_HELD 65536

struct events_ctx {
	struct pw_tracker *t;
	const struct pw_portset *ports;
	__u32 netns;
	bool json;
	__u32 kinds; /* bits of enum pw_event_kind */
	int dir; /* -1: both */
	__u64 min_ns;
	struct held *held;
	size_t n_held;
	__u64 held_over; /* enters printed early: no room to hold them */
	double mono_to_wall; /* add to CLOCK_MONOTONIC seconds */
	int err;
};

static enum pw_event_kind event_kind(const struct pw_event *e)
{
	switch (e->type) {
	case PW_EV_STATE:
		return e->new_state == PW_TCP_CLOSE_WAIT ? PW_EK_CLOSE_WAIT_ENTER
							 : PW_EK_CLOSE_WAIT_LEAVE;
	case PW_EV_RESET_SENT:
		return PW_EK_RESET_SENT;
	case PW_EV_RESET_RECEIVED:
		return PW_EK_RESET_RECEIVED;
	case PW_EV_SLOW:
		return PW_EK_SLOW_REQUEST;
	default:
		return e->err == ECONNREFUSED ? PW_EK_CONNECT_REFUSED
		       : e->err == ETIMEDOUT  ? PW_EK_CONNECT_TIMEOUT
					      : PW_EK_CONNECT_FAILED;
	}
}

static const char *event_name(const struct pw_event *e)
{
	return pw_event_kind_name(event_kind(e));
}

static int show_event(struct events_ctx *ctx, const struct pw_event *ev)
{
	struct pw_event copy, *e = &copy;
	char local[PW_ENDPOINT_LEN], remote[PW_ENDPOINT_LEN], clock[32], in[PW_AGE_LEN];
	double wall;
	time_t secs;
	struct tm tm;

	copy = *ev;
	/* Entered CLOSE_WAIT before any task touched it (still queued for
	 * accept, or accepted and never read): by now it may have a holder. */
	if (!e->pid && e->type == PW_EV_STATE && e->new_state == PW_TCP_CLOSE_WAIT)
		pw_tracker__resolve_owner(ctx->t, e->cookie, &e->pid, e->comm);
	wall = pw_seconds(e->ts_ns) + ctx->mono_to_wall;
	secs = (time_t)wall;
	pw_format_endpoint(local, sizeof(local), e->family, e->saddr, e->sport);
	pw_format_endpoint(remote, sizeof(remote), e->family, e->daddr, e->dport);
	if (ctx->json) {
		json_t *doc = json_pack(
			"{s:o, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:s, s:i}", "timestamp",
			json_real(wall), "type", event_name(e), "port", e->key.port, "direction",
			pw_dir_name(e->key.dir), "local", local, "remote", remote, "old_state",
			pw_state_name(e->old_state) ? pw_state_name(e->old_state) : "?",
			"new_state",
			pw_state_name(e->new_state) ? pw_state_name(e->new_state) : "?",
			"time_in_state_seconds", pw_json_ns_as_seconds((double)e->time_in_state_ns),
			"pid", e->pid, "comm", e->pid ? e->comm : "", "error", e->err);

		if (doc && !ctx->netns) {
			json_object_set_new(doc, "netns", json_integer(e->key.netns));
			pw_json_netns_name(doc, e->key.netns);
		}
		/* A socket found at start: its time in state counts from what
		 * the peer last sent (ss's lastrcv or lastack), not from when it
		 * was seen to enter. */
		if (doc && (e->flags & PW_SK_SEEDED))
			json_object_set_new(doc, "seeded", json_true());
		ctx->err = pw_json_print(stdout, doc);
		json_decref(doc);
	} else {
		localtime_r(&secs, &tm);
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
		pw_format_age(in, sizeof(in), pw_seconds(e->time_in_state_ns));
		char change[32];

		/* A reset happens in one state; a state event moves between two. */
		if (e->old_state == e->new_state)
			snprintf(change, sizeof(change), "%s", pw_state_label(e->old_state) ?: "?");
		else
			snprintf(change, sizeof(change), "%s->%s",
				 pw_state_label(e->old_state) ?: "?",
				 pw_state_label(e->new_state) ?: "?");
		printf("%s.%03d ", clock, (int)((wall - (double)secs) * 1000));
		if (!ctx->netns) {
			char ns[PW_NETNS_SHOW_LEN];

			printf("%-16s ", pw_netns_show(ns, sizeof(ns), e->key.netns));
		}
		printf("%-5u %-8s %-16s %-24s %-24s %-22s %8s %s[%u]\n", e->key.port,
		       pw_dir_name(e->key.dir), event_name(e), local, remote, change, in,
		       e->pid ? e->comm : "-", e->pid);
	}
	if (fflush(stdout))
		ctx->err = -EIO;
	return ctx->err;
}

/* Holds a close_wait_enter until --min-time passes. */
static int hold(struct events_ctx *ctx, const struct pw_event *e)
{
	size_t i;

	for (i = 0; i < ctx->n_held && ctx->held[i].used; i++)
		;
	if (i == MAX_HELD) {
		ctx->held_over++;
		return show_event(ctx, e);
	}
	if (i == ctx->n_held)
		ctx->n_held++;
	ctx->held[i].e = *e;
	ctx->held[i].used = true;
	return 0;
}

/* A close_wait_leave: the enter it ends, if still held, goes unprinted:
 * the episode was shorter than --min-time. */
static bool drop_held(struct events_ctx *ctx, __u64 cookie)
{
	size_t i;

	for (i = 0; i < ctx->n_held; i++) {
		if (ctx->held[i].used && ctx->held[i].e.cookie == cookie) {
			ctx->held[i].used = false;
			return true;
		}
	}
	return false;
}

/* Enters whose socket has been in CLOSE_WAIT --min-time by now. */
static void release_held(struct events_ctx *ctx, __u64 now_ns)
{
	size_t i;

	for (i = 0; i < ctx->n_held && !ctx->err; i++) {
		struct held *h = &ctx->held[i];

		if (h->used && now_ns >= h->e.ts_ns + ctx->min_ns) {
			h->used = false;
			ctx->err = show_event(ctx, &h->e);
		}
	}
	while (ctx->n_held && !ctx->held[ctx->n_held - 1].used)
		ctx->n_held--;
}

static int print_event(void *arg, const struct pw_event *e)
{
	struct events_ctx *ctx = arg;
	enum pw_event_kind k = event_kind(e);

	if ((ctx->netns && e->key.netns != ctx->netns) ||
	    !pw_portset_match(ctx->ports, e->key.port) || (ctx->dir >= 0 && e->key.dir != ctx->dir))
		return 0;
	if (ctx->min_ns && k == PW_EK_CLOSE_WAIT_LEAVE && drop_held(ctx, e->cookie))
		return 0; /* shorter than --min-time: neither end shown */
	if (!(ctx->kinds & (1U << k)))
		return 0;
	if (ctx->min_ns && k == PW_EK_CLOSE_WAIT_ENTER)
		return hold(ctx, e);
	if (e->time_in_state_ns < ctx->min_ns)
		return 0;
	return show_event(ctx, e);
}

/* The kernel sends only the families asked for. */
static __u32 kernel_events(__u32 kinds)
{
	__u32 ev = 0;

	if (kinds & (1U << PW_EK_CLOSE_WAIT_ENTER | 1U << PW_EK_CLOSE_WAIT_LEAVE))
		ev |= 1U << PW_EV_STATE;
	if (kinds & (1U << PW_EK_RESET_SENT))
		ev |= 1U << PW_EV_RESET_SENT;
	if (kinds & (1U << PW_EK_RESET_RECEIVED))
		ev |= 1U << PW_EV_RESET_RECEIVED;
	if (kinds & (1U << PW_EK_CONNECT_REFUSED | 1U << PW_EK_CONNECT_TIMEOUT |
		     1U << PW_EK_CONNECT_FAILED))
		ev |= 1U << PW_EV_CONNECT_FAILED;
	if (kinds & (1U << PW_EK_SLOW_REQUEST))
		ev |= 1U << PW_EV_SLOW;
	return ev;
}

int cmd_events(int argc, char **argv)
{
	enum { OPT_RINGBUF = 0x100 };
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "direction", required_argument, NULL, 'd' },
		{ "min-time", required_argument, NULL, 'm' },
		{ "all-netns", no_argument, NULL, 'A' },
		{ "slow", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "ringbuf-size", required_argument, NULL, OPT_RINGBUF },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct pw_tracker_opts topts = {};
	struct pw_portset ports = {};
	struct events_ctx ctx = { .ports = &ports, .dir = -1 };
	__u64 drops[PW_DROP_MAX], lost = 0;
	struct pw_tracker *t;
	const char *why;
	int c, n;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:t:d:m:As:jvh", opts, NULL)) != -1) {
		switch (pw_common_option("events", c, &ports, argv)) {
		case 1:
			continue;
		case -1:
			return PW_EXIT_USAGE;
		}
		switch (c) {
		case 'j':
			ctx.json = true;
			break;
		case 't':
			if (pw_parse_event_kinds(optarg, &ctx.kinds, &why)) {
				pw_value_error("--type", optarg, why);
				return PW_EXIT_USAGE;
			}
			break;
		case 'd':
			if (pw_parse_direction(optarg, &ctx.dir, &why)) {
				pw_value_error("--direction", optarg, why);
				return PW_EXIT_USAGE;
			}
			break;
		case 'm':
			if (pw_parse_duration(optarg, &ctx.min_ns, &why)) {
				pw_value_error("--min-time", optarg, why);
				return PW_EXIT_USAGE;
			}
			break;
		case 'A':
			topts.all_netns = true;
			pw_set_netns_namer(pw_netns_name);
			break;
		case 's':
			if (pw_parse_duration(optarg, &topts.slow_ns, &why)) {
				pw_value_error("--slow", optarg, why);
				return PW_EXIT_USAGE;
			}
			if (!topts.slow_ns) {
				pw_value_error("--slow", optarg, "must be above 0");
				return PW_EXIT_USAGE;
			}
			topts.latency = true;
			break;
		case OPT_RINGBUF:
			if (pw_parse_ringbuf_size(optarg, &topts.ringbuf_bytes, &why)) {
				pw_value_error("--ringbuf-size", optarg, why);
				return PW_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return PW_EXIT_OK;
		}
	}
	if (pw_no_operands("events", argc, argv))
		return PW_EXIT_USAGE;
	if (ctx.kinds == 1U << PW_EK_SLOW_REQUEST && !topts.slow_ns) {
		pw_err("--type slow_request needs --slow DURATION");
		return PW_EXIT_USAGE;
	}
	if (!ctx.kinds) /* every kind; slow requests only come with --slow */
		ctx.kinds = (1U << PW_EK_MAX) - 1;
	if (ctx.min_ns) {
		ctx.held = calloc(MAX_HELD, sizeof(*ctx.held));
		if (!ctx.held) {
			pw_err("start: out of memory");
			return PW_EXIT_FAIL;
		}
	}
	if (pw_preflight()) {
		free(ctx.held);
		return PW_EXIT_FAIL;
	}
	pw_install_stop_handlers();
	topts.events = kernel_events(ctx.kinds) & PW_EVENTS_ALL;
	t = pw_tracker__new(&topts);
	if (!t) {
		free(ctx.held);
		return PW_EXIT_FAIL;
	}
	ctx.t = t;
	ctx.netns = pw_tracker__netns(t);
	if (topts.slow_ns && !pw_tracker__latency(t)) {
		/* The tracker has said which tracepoints are missing. */
		pw_tracker__free(t);
		return PW_EXIT_FAIL;
	}
	ctx.mono_to_wall = pw_mono_to_wall();
	if (!ctx.json) {
		printf("%-12s ", "TIME");
		if (!ctx.netns)
			printf("%-16s ", "NETNS");
		printf("%-5s %-8s %-16s %-24s %-24s %-22s %8s %s\n", "PORT", "DIR", "EVENT",
		       "LOCAL", "REMOTE", "STATE", "IN-STATE", "OWNER");
	}
	while (!pw_stopping() && !ctx.err) {
		n = pw_tracker__poll(t, 100, print_event, &ctx);
		if (ctx.min_ns && n >= 0 && !ctx.err) {
			release_held(&ctx, pw_mono_ns());
		}
		if (ctx.err == -EIO)
			break;
		if (n == -EIO) /* stdout gone (events | head): stop quietly */
			break;
		if (n < 0 && n != -EINTR) {
			pw_err("read events: %s", strerror(-n));
			ctx.err = n;
			break;
		}
		if (!pw_tracker__drops(t, drops) && drops[PW_DROP_RINGBUF] > lost) {
			pw_warn("lost %llu events: ring buffer full (%llu in all)",
				(unsigned long long)(drops[PW_DROP_RINGBUF] - lost),
				(unsigned long long)drops[PW_DROP_RINGBUF]);
			lost = drops[PW_DROP_RINGBUF];
		}
	}
	if (ctx.held_over)
		pw_warn("%llu close_wait_enter events printed before --min-time: more than %d "
			"sockets in CLOSE_WAIT at once",
			(unsigned long long)ctx.held_over, MAX_HELD);
	pw_tracker__free(t);
	free(ctx.held);
	return ctx.err && ctx.err != -EIO ? PW_EXIT_FAIL : PW_EXIT_OK;
}
