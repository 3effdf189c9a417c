/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Live tracking: map keys and values, events and drop reasons shared by
 * bpf/track.bpf.c and userspace. */
#ifndef PW_TRACK_H
#define PW_TRACK_H

#include "portwatch.h"
#include "pw_classify.h"
#include "pw_hist.h"

/* One row: a service port and direction in a network namespace. Port 0 is
 * each direction's row for traffic with no port of its own (so nothing an
 * outside host sends makes a row per port): the kernel's resets for
 * segments no socket takes (attempts to closed ports, inbound; late
 * segments of connections already gone, by their local port's range), and
 * outbound attempts to ports no connection has reached yet (see
 * PW_SK_NOROW). */
struct pw_key {
	__u32 netns; /* namespace inode */
	__u16 port;
	__u8 dir; /* enum pw_dir */
	__u8 pad;
};
_Static_assert(sizeof(struct pw_key) == 8, "pw_key layout");

enum pw_counter {
	PW_C_OPENED, /* entered ESTABLISHED */
	PW_C_CLOSED, /* an established connection reached CLOSE */
	PW_C_RESETS_SENT,
	PW_C_RESETS_RECEIVED,
	PW_C_CONNECT_REFUSED, /* SYN_SENT -> CLOSE on ECONNREFUSED */
	PW_C_CONNECT_TIMEOUT, /* SYN_SENT -> CLOSE on ETIMEDOUT */
	PW_C_CONNECT_ERROR, /* SYN_SENT -> CLOSE on any other error */
	PW_C_CLOSE_WAIT_ENTERED,
	PW_C_CLOSE_WAIT_LEFT,
	/* a request never answered: its connection closed or reset first
	 * (measured with request latency) */
	PW_C_UNANSWERED,
	PW_C_RETRANSMITS, /* segments retransmitted */
	PW_C_MAX,
};

/* Per-CPU value of the stats map. Gauges count full sockets only and are
 * deltas per CPU (a socket may enter a state on one CPU and leave it on
 * another): only their sum over CPUs means anything. */
#define PW_STATE_SLOTS 16 /* > PW_TCP_STATE_MAX; a power of two to mask with */

struct pw_stats {
	__s64 gauge[PW_STATE_SLOTS];
	__u64 counter[PW_C_MAX];
};

/* Time spent in CLOSE_WAIT, observed when a socket leaves it. Leaving
 * CLOSE_WAIT is rare, so one shared copy updated atomically. */
struct pw_cw_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 bucket[PW_HIST_BUCKETS];
};

struct pw_listening {
	__u64 bits[PW_LISTEN_WORDS];
};

/* Request durations are added to the row's histogram this many at a time
 * (and at every read, and when the socket changes state or dies): one
 * per-CPU map lookup per request cost more than everything else. */
#define PW_LAT_BATCH 8

/* Per-socket state, in socket-local storage: it dies with the socket.
 * The storage's header takes the first 8 bytes of a cache line, so the
 * first 56 bytes here share its line: fields written only at state changes
 * and read by every hook, so that line stays shared between the CPUs that
 * read it. Request latency is in the next line, written where data arrives
 * (for a connection, as a rule, one CPU) and by sends only when the
 * socket's own fields cannot tell (see track.bpf.c): a line that moved
 * between CPUs on every request would cost more than all the rest. */
struct pw_sk {
	__u64 state_since_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 start_ns;
	struct pw_key key;
	__u32 pid; /* owner (tgid) seen in process context; 0: not yet */
	__u8 state; /* the state counted in the gauges; 0: not counted */
	__u8 flags; /* PW_SK_* */
	__u16 pad0;
	char comm[PW_COMM_LEN];
	__u64 pad1;
	/* Inbound: when the request in progress began (its first byte came);
	 * outbound: when the request in progress was sent, if PW_LAT_F_START. */
	__u64 req_start_ns;
	/* Outbound: when the last answer began to arrive, and write_seq then:
	 * bytes sent after it belong to a new request. */
	__u64 mark_ns;
	/* Inbound: write_seq when the request began (anything written
	 * since answers it); outbound: the mark_seq whose request req_start_ns is. */
	__u32 req_seq;
	__u32 mark_seq;
	__u8 lat_phase; /* PW_LAT_* */
	__u8 lat_flags; /* PW_LAT_F_* */
	/* Requests timed and not yet in the row's histogram (see
	 * PW_LAT_BATCH): their buckets, sum and largest. */
	__u8 batch_n;
	__u8 pad2;
	__u16 batch[PW_LAT_BATCH];
	__u32 pad3;
	__u64 batch_sum_ns;
	__u64 batch_max_ns;
	/* The response, from its request's start to the last byte of its
	 * answer: inbound, the last send before the next request or our
	 * close; outbound, the last data to arrive before the next answer
	 * begins or the connection closes. In a third line: written by every
	 * later send (inbound) or arrival (outbound) of a long answer. */
	__u64 resp_start_ns; /* 0: no answer in progress */
	__u64 resp_last_ns;
	__u8 rbatch_n; /* responses timed, not yet in the row's histogram */
	__u8 pad4;
	__u16 rbatch[PW_LAT_BATCH];
	__u16 pad5;
	__u32 resp_rcv_nxt; /* outbound: rcv_nxt (less a FIN) when resp_last_ns was set */
	__u64 rbatch_sum_ns;
	__u64 rbatch_max_ns;
};
_Static_assert(__builtin_offsetof(struct pw_sk, req_start_ns) == 56, "pw_sk layout");
_Static_assert(__builtin_offsetof(struct pw_sk, resp_start_ns) == 120,
	       "pw_sk: latency in one cache line");
_Static_assert(sizeof(struct pw_sk) == 176, "pw_sk: the response in a line of its own");

/* Inbound: whether a request is waiting for (the recording of) its answer. */
enum pw_lat_phase {
	PW_LAT_IDLE,
	PW_LAT_REQUEST,
};

/* Outbound: req_start_ns holds the start of the request after mark_seq. */
#define PW_LAT_F_START 0x1

/* Request latency per row: inbound, request arrival to response start;
 * outbound, request sent to response's first byte. Per CPU. */
struct pw_lat {
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
	__u64 bucket[PW_HIST_BUCKETS];
};

#define PW_SK_SEEDED 0x1 /* found by the seeding pass, not seen from its start */
#define PW_SK_ACCEPT_Q 0x2 /* has an accept_q entry: queued for accept() */
/* Counted in its direction's port-0 row: an outbound attempt to a port
 * with no row yet. It moves to its port's row once established. */
#define PW_SK_NOROW 0x4

/* A connection in a listener's accept queue, not yet accepted: in the
 * accept_q map, keyed by socket address, while accept waits are measured. */
struct pw_accept_q {
	struct pw_key key; /* the inbound row */
	__u64 since_ns; /* CLOCK_MONOTONIC: when it was queued */
};

/* A socket in CLOSE_WAIT, in the close_wait map keyed by socket cookie. */
struct pw_cw_sock {
	struct pw_key key;
	__u64 since_ns;
	__u32 pid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 pad[6];
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[PW_COMM_LEN];
};

/* An open file's holder, by socket inode, in the owner_ino map: how owners
 * are found where the kernel lacks bpf_sock_from_file (before 5.11). */
struct pw_owner {
	__u32 pid; /* thread group id */
	__u32 pad;
	char comm[PW_COMM_LEN];
};
_Static_assert(sizeof(struct pw_owner) == 24, "pw_owner layout");

enum pw_event_type {
	PW_EV_STATE = 1, /* entered or left CLOSE_WAIT */
	PW_EV_RESET_SENT,
	PW_EV_RESET_RECEIVED,
	PW_EV_CONNECT_FAILED,
	PW_EV_SLOW, /* a request slower than the threshold; time_in_state_ns holds it */
};

struct pw_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 cookie;
	__u64 time_in_state_ns; /* in old_state, when known */
	struct pw_key key;
	__u32 pid;
	__s32 err; /* connect failures: the socket error */
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 type;
	__u8 old_state;
	__u8 new_state;
	__u8 flags; /* PW_SK_* of the socket */
	__u8 pad[6];
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[PW_COMM_LEN];
};
_Static_assert(sizeof(struct pw_event) == 104, "pw_event layout");

/* Why something was not recorded; each has a per-CPU counter. */
enum pw_drop {
	PW_DROP_RINGBUF, /* event lost: ring buffer full */
	PW_DROP_STATS, /* stats map full: the socket is not counted */
	PW_DROP_SK_STORAGE, /* no socket storage: the socket is not tracked */
	PW_DROP_CLOSE_WAIT, /* close_wait map full: socket missing from it */
	PW_DROP_MINI, /* minisocket count map full: undercounted */
	PW_DROP_MAX,
};

/* Repairs, also per-CPU counters (in the `health` map). */
enum pw_fix {
	PW_FIX_DRIFT, /* the sync pass found a socket counted in the wrong state */
	PW_FIX_DESTROYED, /* a socket died still counted: its CLOSE was missed */
	PW_FIX_MAX,
};

/* A listener, found by the counting pass, in the listeners map by socket
 * address: its accept queue and what it dropped. */
struct pw_listener {
	struct pw_key key; /* its listen row */
	__u32 backlog; /* connections queued for accept() */
	__u32 max_backlog; /* the limit listen() set */
	/* segments it dropped since it was made (sk_drops): SYNs and
	 * handshake ends refused with the queue full, and other drops */
	__u64 drops;
	__u32 pass; /* the counting pass that found it (see pw_mini_val) */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_listener) == 32, "pw_listener layout");

/* A row's minisockets in one state as of counting pass `pass` (pw_pass).
 * Entries stay from one pass to the next, and the first sighting in a new
 * pass restarts the count: userspace only deletes the entries no pass
 * found any more, instead of emptying the map before every pass. */
struct pw_mini_val {
	__u32 pass;
	__u32 pad;
	__u64 count;
};
_Static_assert(sizeof(struct pw_mini_val) == 16, "pw_mini_val layout");

/* A time-wait or request minisocket counted by the counting pass. */
struct pw_mini_key {
	struct pw_key key;
	__u32 state;
};

#endif
