/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The live tracker: BPF programs attached for as long as it lives. */
#ifndef PW_TRACK_SRC_H
#define PW_TRACK_SRC_H

#include <stdbool.h>
#include "model/live.h"

struct pw_kernel;
struct pw_portset;

struct pw_tracker_opts {
	/* Event types the caller reads: 1 << PW_EV_*; 0: none (only counts;
	 * no record leaves the kernel). PW_EV_SLOW also needs slow_ns. */
	__u32 events;
	__u32 ringbuf_bytes; /* 0: default; else a power of two >= page size */
	bool all_netns; /* every network namespace, not only the caller's */
	bool latency; /* measure request latency: two more hooks per request */
	__u64 slow_ns; /* requests at least this slow become events; 0: none */
	/* measure accept-queue waits: a hook on every system call's exit, of
	 * every task (see README), so only when asked */
	bool accept_wait;
	/* load the programs only: no attach, no seeding (portwatch features) */
	bool probe_only;
	/* Ports whose outbound row exists from the start, in the caller's
	 * namespace: attempts to them count under the port even before any
	 * connection there succeeded (others count under port 0 until one
	 * does), and the row is never forgotten. NULL: none. */
	const struct pw_portset *pins;
	/* A row with no sockets and no activity for this long is forgotten
	 * (its counters start again from 0 if the port comes back). 0: 10 min. */
	__u64 forget_ns;
};

/* What the tracker does on this kernel, feature by feature. */
enum pw_feature {
	PW_FEAT_STATES, /* gauges, counters, CLOSE_WAIT */
	PW_FEAT_SK_STATE, /* where per-socket state lives */
	PW_FEAT_OWNERS, /* owners of sockets from the processes' files */
	PW_FEAT_CLAIM, /* owners at an accepted socket's first send */
	PW_FEAT_DESTROY, /* missed closes repaired when a socket dies */
	PW_FEAT_RESETS_RECEIVED,
	PW_FEAT_RESETS_SENT,
	PW_FEAT_RESETS_CLOSED, /* the kernel's resets for ports nobody has open */
	PW_FEAT_RETRANSMITS,
	PW_FEAT_LATENCY, /* request latency */
	PW_FEAT_ACCEPT_WAIT,
	PW_FEAT_MAX,
};

struct pw_feature_state {
	char hook[96]; /* the hook in use; "" if off */
	char why[224]; /* off: why; on: a note, or "" */
};

struct pw_tracker;

/* The features, indexed by enum pw_feature, and their names. */
const struct pw_feature_state *pw_tracker__features(const struct pw_tracker *t);
const char *pw_feature_name(enum pw_feature f);
/* A feature's name as a metric label value: "request_latency". */
const char *pw_feature_id(enum pw_feature f);
/* What the tracker probed of the running kernel. */
const struct pw_kernel *pw_tracker__kernel(const struct pw_tracker *t);
/* Loads, attaches and seeds. NULL with errno set, after printing why. */
struct pw_tracker *pw_tracker__new(const struct pw_tracker_opts *opts);
/* A running tracker takes more pinned ports (see pw_tracker_opts; pins
 * are only ever added) and a new forget_ns (0: 10 min). 0 or -errno. */
int pw_tracker__update(struct pw_tracker *t, const struct pw_portset *pins, __u64 forget_ns);
/* Detaches everything. */
void pw_tracker__free(struct pw_tracker *t);
/* Current rows of the tracked namespace into *l (reset first). Forgets
 * the rows idle for forget_ns (see pw_tracker_opts) as it goes. */
int pw_tracker__read(struct pw_tracker *t, struct pw_live *l);
/* Drop counters summed over CPUs. */
int pw_tracker__drops(struct pw_tracker *t, __u64 drops[PW_DROP_MAX]);
/* Repairs made, and program runs the kernel skipped (a tracing program
 * does not nest on one CPU: those state changes were missed). */
int pw_tracker__health(struct pw_tracker *t, __u64 fixes[PW_FIX_MAX], __u64 *missed);
/* Runs the sync pass: every full socket counted in its actual state. l is
 * a recent read (for the listening ports). */
int pw_tracker__reconcile(struct pw_tracker *t, const struct pw_live *l);
/* Whether it measures request latency (asked for, and the kernel can). */
bool pw_tracker__latency(const struct pw_tracker *t);
/* Run time and run count of each loaded program, from the kernel's BPF
 * statistics, which cost a clock read per run and so are off unless
 * kernel.bpf_stats_enabled=1: then fn is called per program and 0 returned;
 * off, -ENODATA and no call. */
typedef void (*pw_prog_stat_fn)(void *ctx, const char *prog, __u64 run_ns, __u64 runs);
int pw_tracker__prog_stats(struct pw_tracker *t, pw_prog_stat_fn fn, void *ctx);
/* Whether it measures accept-queue waits (asked for, and the kernel can). */
bool pw_tracker__accept_wait(const struct pw_tracker *t);
/* The caller's namespace inode; 0 when tracking every namespace. */
__u32 pw_tracker__netns(const struct pw_tracker *t);

/* Owner of a socket still in CLOSE_WAIT, looked up in the processes' file
 * tables when no task had touched it when it got there. 0 or -ENOENT. */
int pw_tracker__resolve_owner(struct pw_tracker *t, __u64 cookie, __u32 *pid, char *comm);

/* Every event type, for pw_tracker_opts.events. */
#define PW_EVENTS_ALL                                                                              \
	((1U << PW_EV_STATE) | (1U << PW_EV_RESET_SENT) | (1U << PW_EV_RESET_RECEIVED) |           \
	 (1U << PW_EV_CONNECT_FAILED) | (1U << PW_EV_SLOW))

typedef int (*pw_event_fn)(void *ctx, const struct pw_event *e);
/* Waits up to timeout_ms, then delivers pending events to fn. The kernel
 * wakes the caller only when a quarter of the ring buffer is waiting, so a
 * caller that reads events polls with a short timeout (100 ms is what
 * events uses). Returns the number delivered or -errno (-EINTR on a signal). */
int pw_tracker__poll(struct pw_tracker *t, int timeout_ms, pw_event_fn fn, void *ctx);

#endif
