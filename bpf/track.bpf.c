// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Live tracking. Every TCP state change updates per-(port, direction) gauges
 * and counters in the kernel; only notable events (CLOSE_WAIT entered or
 * left, resets, failed connects) go to userspace. Per-socket state lives in
 * socket storage and dies with the socket. Time-wait and request minisockets
 * have no state tracepoints: a counting pass (iter/tcp) counts them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "pw_track.h"
#include "pw_sock.bpf.h"
#define ECONNREFUSED 111
#define ETIMEDOUT 110

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings, fixed at load. */
const volatile __u32 pw_netns = 0; /* namespace inode to track; 0: every one */
const volatile __u16 pw_eph_lo = 32768; /* ip_local_port_range */
const volatile __u16 pw_eph_hi = 60999;
const volatile __u64 pw_ns_per_jiffy = 4000000;
/* Tests only: ignore every Nth state change, as the kernel does when a run
 * would nest, to prove the sync pass repairs the gauges. 0: off. */
const volatile __u32 pw_test_skip_every = 0;
/* Measure request latency (the latency hooks are loaded only then). */
const volatile bool pw_latency = false;
/* Requests at least this slow become events; 0: none. */
const volatile __u64 pw_slow_ns = 0;
/* Measure accept-queue waits (the syscall-exit hook is loaded only then). */
const volatile bool pw_accept_wait = false;
/* The tcp_destroy_sock hook is loaded. */
const volatile bool pw_destroy_hook = true;
__u64 pw_test_calls;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pw_sk);
} sk_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_cw_hist);
} cw_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} latency SEC(".maps");

/* Connect latency: SYN_SENT to ESTABLISHED, per outbound row. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} connect_latency SEC(".maps");

/* Accept-queue wait: from a connection being queued on its listener to the
 * accept() that returns it, per inbound row. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} accept_wait SEC(".maps");

/* Connections queued and not yet accepted, by socket address: the accept
 * hook finds the new socket through the task's file table with probe
 * reads, which give an address, not a pointer socket storage would take. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket address */
	__type(value, struct pw_accept_q);
} accept_q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket address */
	__type(value, struct pw_cw_sock);
} close_wait SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_FIX_MAX);
	__type(key, __u32);
	__type(value, __u64);
} health SEC(".maps");

/* Set by userspace while the first sync pass runs: sockets it finds are
 * new to us then, not drift. */
volatile bool pw_seeding;
/* Set for a sync pass over listeners only: they need no classification,
 * and the ports they give classify everything else in the next pass. */
volatile bool pw_sync_listeners;

/* Listening ports of the seeded namespace, written by userspace before each
 * iterator pass that classifies. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_listening);
} listening SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pw_mini_key);
	__type(value, __u64);
} mini SEC(".maps");

/* Per-socket state when socket storage cannot be used (the BTF-less
 * fallback hooks get a bare socket address): keyed by that address,
 * removed when the socket closes or dies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct pw_sk);
} sk_hash SEC(".maps");

/* Which of the two holds per-socket state; fixed at load. */
const volatile bool pw_sk_hash = false;

static const struct pw_stats zero_stats;
static const struct pw_lat zero_lat;
static const struct pw_sk zero_sk;
static const struct pw_cw_hist zero_hist;

static void drop(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &reason);

	if (c)
		(*c)++;
}

static void fixed(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&health, &what);

	if (c)
		(*c)++;
}

static struct pw_stats *stats_get(const struct pw_key *key)
{
	struct pw_stats *s = bpf_map_lookup_elem(&stats, key);

	if (s)
		return s;
	bpf_map_update_elem(&stats, key, &zero_stats, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&stats, key);
	if (!s)
		drop(PW_DROP_STATS);
	return s;
}

/* A socket's identity in maps and events: its address, the one thing both
 * kinds of hook know. */
static __u64 sk_id(const struct sock *sk)
{
	return (__u64)sk;
}

static struct pw_sk *sk_hash_get(__u64 id, bool create)
{
	struct pw_sk *st = bpf_map_lookup_elem(&sk_hash, &id);

	if (st || !create)
		return st;
	bpf_map_update_elem(&sk_hash, &id, &zero_sk, BPF_NOEXIST);
	return bpf_map_lookup_elem(&sk_hash, &id);
}

/* Per-socket state of a BTF socket pointer. */
static struct pw_sk *sk_get(struct sock *sk, bool create)
{
	if (pw_sk_hash)
		return sk_hash_get(sk_id(sk), create);
	return bpf_sk_storage_get(&sk_info, sk, NULL, create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

static __u32 netns_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static bool is_tcp(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	/* sk_protocol was a bitfield before 5.6; the probed read handles both. */
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP &&
	       (family == AF_INET || family == AF_INET6);
}

static bool wanted(const struct sock *sk)
{
	return is_tcp(sk) && (!pw_netns || netns_of(sk) == pw_netns);
}

static void set_owner(struct pw_sk *st)
{
	st->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(st->comm, sizeof(st->comm));
}

static void read_addrs(const struct sock *sk, __u16 *family, __u8 *saddr, __u8 *daddr)
{
	*family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (*family == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)daddr, sk, __sk_common.skc_daddr);
	}
}

#define TRANSITION(old, new) (((old) << 8) | (new))

/* transition: TRANSITION(old state, new state). */
static void emit(struct sock *sk, const struct pw_sk *st, __u8 type, __u32 transition, __s32 err)
{
	__u64 now = bpf_ktime_get_ns();
	struct pw_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		drop(PW_DROP_RINGBUF);
		return;
	}
	e->ts_ns = now;
	e->cookie = sk_id(sk);
	e->time_in_state_ns =
		st->state_since_ns && now > st->state_since_ns ? now - st->state_since_ns : 0;
	e->key = st->key;
	e->pid = st->pid;
	e->err = err;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->type = type;
	e->old_state = transition >> 8;
	e->new_state = transition & 0xff;
	e->flags = st->flags;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	read_addrs(sk, &e->family, e->saddr, e->daddr);
	__builtin_memcpy(e->comm, st->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

static void cw_enter(struct sock *sk, const struct pw_sk *st)
{
	struct pw_cw_sock c = {};
	__u64 cookie = sk_id(sk);

	c.key = st->key;
	c.since_ns = st->state_since_ns;
	c.pid = st->pid;
	c.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	read_addrs(sk, &c.family, c.saddr, c.daddr);
	__builtin_memcpy(c.comm, st->comm, sizeof(c.comm));
	if (bpf_map_update_elem(&close_wait, &cookie, &c, BPF_ANY))
		drop(PW_DROP_CLOSE_WAIT);
}

static void cw_leave(struct sock *sk, const struct pw_sk *st, __u64 now)
{
	__u64 cookie = sk_id(sk);
	__u64 dur = now > st->state_since_ns ? now - st->state_since_ns : 0;
	struct pw_cw_hist *h;
	__u32 b;

	bpf_map_delete_elem(&close_wait, &cookie);
	h = bpf_map_lookup_elem(&cw_hist, &st->key);
	if (!h) {
		bpf_map_update_elem(&cw_hist, &st->key, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&cw_hist, &st->key);
		if (!h) {
			drop(PW_DROP_STATS);
			return;
		}
	}
	b = pw_hist_bucket(dur);
	if (b >= PW_HIST_BUCKETS)
		return;
	__sync_fetch_and_add(&h->bucket[b], 1);
	__sync_fetch_and_add(&h->sum_ns, dur);
	__sync_fetch_and_add(&h->count, 1);
}

/* A socket we see for the first time (or reused after CLOSE): classify it by
 * how it came to be; one first seen in mid-life (its earlier changes were
 * missed) is classified like the snapshot does. */
static void classify_new(struct pw_sk *st, const struct sock *sk, int old, int new, __u64 now)
{
	__u16 sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	const struct pw_listening *l;
	__u32 zero = 0;

	st->key.netns = netns_of(sk);
	st->key.pad = 0;
	if (new == PW_TCP_LISTEN) {
		st->key.dir = PW_DIR_LISTEN;
		st->key.port = sport;
	} else if (old == PW_TCP_LISTEN || old == PW_TCP_SYN_RECV || new == PW_TCP_SYN_RECV) {
		/* A child of a listener. */
		st->key.dir = PW_DIR_INBOUND;
		st->key.port = sport;
	} else if (old == PW_TCP_CLOSE || !(l = bpf_map_lookup_elem(&listening, &zero))) {
		st->key.dir = PW_DIR_OUTBOUND;
		st->key.port = dport;
	} else {
		st->key.dir = pw_classify_ports(new, sport, dport, l->bits, pw_eph_lo, pw_eph_hi,
						&st->key.port);
	}
	st->start_ns = now;
	st->state = 0;
	st->flags = 0;
	st->lat_phase = PW_LAT_IDLE;
	st->lat_flags = 0;
	st->mark_ns = 0;
}

static void count_transition(struct pw_stats *s, struct sock *sk, int old, int new)
{
	int err;

	if (new == PW_TCP_ESTABLISHED)
		s->counter[PW_C_OPENED]++;
	if (new == PW_TCP_CLOSE_WAIT)
		s->counter[PW_C_CLOSE_WAIT_ENTERED]++;
	if (old == PW_TCP_CLOSE_WAIT)
		s->counter[PW_C_CLOSE_WAIT_LEFT]++;
	if (new != PW_TCP_CLOSE)
		return;
	switch (old) {
	case PW_TCP_ESTABLISHED:
	case PW_TCP_FIN_WAIT1:
	case PW_TCP_FIN_WAIT2:
	case PW_TCP_CLOSE_WAIT:
	case PW_TCP_LAST_ACK:
	case PW_TCP_CLOSING:
		s->counter[PW_C_CLOSED]++;
		break;
	case PW_TCP_SYN_SENT:
		/* tcp_reset() and tcp_write_err() set sk_err before tcp_done(). */
		err = BPF_CORE_READ(sk, sk_err);
		if (err == ECONNREFUSED)
			s->counter[PW_C_CONNECT_REFUSED]++;
		else if (err == ETIMEDOUT)
			s->counter[PW_C_CONNECT_TIMEOUT]++;
		else if (err)
			s->counter[PW_C_CONNECT_ERROR]++;
		break;
	}
}

/* Request latency. Inbound (a server's socket) a request begins when data
 * arrives on a connection not already in a request, and ends at the first
 * send after it. Outbound (a client's) the other way round: it begins with
 * the first send after the last answer began, and ends when the first byte
 * of the answer arrives. Pipelined requests count from the first.
 *
 * What this costs per request is not the work but the memory: a cache line
 * written on one CPU and then touched on another moves between them, and
 * the send and the arrival of one connection usually run on different CPUs
 * (the application's, and the one taking its packets in). So the state
 * lives in one line that data arrival writes, and a send leaves it alone
 * when the socket's own fields tell what it needs, which is the usual case:
 * - rcv_wup == rcv_nxt unless data has arrived since this socket last
 *   transmitted anything (every segment sent records rcv_nxt there). So at
 *   a send, rcv_wup != rcv_nxt means it is the first since the peer last
 *   spoke: inbound it starts the answer to the request that arrived,
 *   outbound it starts a new request after the answer that arrived.
 * - Such a send, with nothing in flight or queued and fitting one segment,
 *   is transmitted with its time in tp->first_tx_mstamp (delivery-rate
 *   sampling stamps the first segment sent with nothing in flight, in us),
 *   which stays until the next send that finds nothing in flight.
 * Then the send does nothing; the next arrival reads the time: inbound, the
 *   next request records the last answer (so does the socket's next state
 *   change, its death, and the counting pass each read runs); outbound, the
 *   answer reads its request's start. Any other send looks at the state and
 *   records what the stamp cannot: the time now, or the stamp before this
 *   send can replace it. Reading the clock is avoided as well where the
 *   socket has the time: tp->tcp_clock_cache was just set by the receive
 *   path when data arrives. */

/* A row's histogram, made if new. */
static struct pw_lat *lat_row(void *map, const struct pw_key *key)
{
	struct pw_lat *l = bpf_map_lookup_elem(map, key);

	if (l)
		return l;
	bpf_map_update_elem(map, key, &zero_lat, BPF_NOEXIST);
	l = bpf_map_lookup_elem(map, key);
	if (!l)
		drop(PW_DROP_STATS);
	return l;
}

/* One duration into a row's histogram. */
static void observe(void *map, const struct pw_key *key, __u64 d)
{
	struct pw_lat *l = lat_row(map, key);
	__u32 b;

	if (!l)
		return;
	b = pw_hist_bucket(d);
	if (b < PW_HIST_BUCKETS)
		l->bucket[b]++;
	l->count++;
	l->sum_ns += d;
	if (d > l->max_ns)
		l->max_ns = d;
}

/* The socket's timed requests into its row's histogram. */
static void lat_flush_batch(struct pw_sk *st)
{
	__u32 n = st->batch_n, i, b;
	struct pw_lat *l;

	if (!n)
		return;
	st->batch_n = 0;
	l = lat_row(&latency, &st->key);
	if (l) {
		for (i = 0; i < PW_LAT_BATCH && i < n; i++) {
			b = st->batch[i];
			if (b < PW_HIST_BUCKETS)
				l->bucket[b]++;
		}
		l->count += n;
		l->sum_ns += st->batch_sum_ns;
		if (st->batch_max_ns > l->max_ns)
			l->max_ns = st->batch_max_ns;
	}
	st->batch_sum_ns = 0;
	st->batch_max_ns = 0;
}

/* A request took from start to end. */
static void lat_record(struct sock *sk, struct pw_sk *st, __u64 start, __u64 end)
{
	__u64 d = end > start ? end - start : 0, since;
	__u32 n = st->batch_n;

	st->batch[n & (PW_LAT_BATCH - 1)] = pw_hist_bucket(d);
	st->batch_n = ++n;
	st->batch_sum_ns += d;
	if (d > st->batch_max_ns)
		st->batch_max_ns = d;
	if (n >= PW_LAT_BATCH)
		lat_flush_batch(st);
	if (pw_slow_ns && d >= pw_slow_ns) {
		/* The event's time-in-state is the request's duration. */
		since = st->state_since_ns;
		st->state_since_ns = end - d;
		emit(sk, st, PW_EV_SLOW, TRANSITION(st->state, st->state), 0);
		st->state_since_ns = since;
	}
}

/* Whether first_tx_us (us) is a transmit time at or after since_ns (ns). */
static bool stamp_since(__u64 first_tx_us, __u64 since_ns)
{
	return first_tx_us && first_tx_us >= since_ns / 1000;
}

#define PW_NOW (~0ULL)

/* Inbound: if anything was written since the request in progress began,
 * that answered it; a send that could not leave its time in first_tx_us
 * has recorded it already. fallback_ns: the end if the stamp is unusable
 * (its data is not out yet): a time, PW_NOW, or 0 to leave it pending. */
static void in_resolve(struct sock *sk, struct pw_sk *st, __u32 write_seq, __u64 first_tx_us,
		       __u64 fallback_ns)
{
	if (st->lat_phase != PW_LAT_REQUEST || write_seq == st->req_seq)
		return;
	if (stamp_since(first_tx_us, st->req_start_ns))
		fallback_ns = first_tx_us * 1000;
	else if (fallback_ns == PW_NOW)
		fallback_ns = bpf_ktime_get_ns();
	if (!fallback_ns)
		return;
	st->lat_phase = PW_LAT_IDLE;
	lat_record(sk, st, st->req_start_ns, fallback_ns);
}

/* The same through probe reads, for hooks that may hold a bare address. */
static void in_resolve_probed(struct sock *sk, struct pw_sk *st, __u64 fallback_ns)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	if (st->key.dir == PW_DIR_INBOUND && st->lat_phase == PW_LAT_REQUEST)
		in_resolve(sk, st, BPF_CORE_READ(tp, write_seq), BPF_CORE_READ(tp, first_tx_mstamp),
			   fallback_ns);
}

/* Outbound: a new connection, or one first seen in mid-request: only
 * requests sent from now on are timed. */
static void out_mark(struct pw_sk *st, __u32 write_seq, __u64 now)
{
	st->mark_seq = write_seq;
	st->mark_ns = now;
	st->lat_flags = 0;
}

/* Outbound: the start of the request after the mark is recorded. */
static bool out_started(const struct pw_sk *st)
{
	return (st->lat_flags & PW_LAT_F_START) && st->req_seq == st->mark_seq;
}

/* Outbound: records the start of the request after the mark: the stamp if
 * it is that request's (sent after the mark), else the time now. */
static void out_start(struct pw_sk *st, __u64 first_tx_us)
{
	st->req_start_ns =
		stamp_since(first_tx_us, st->mark_ns) ? first_tx_us * 1000 : bpf_ktime_get_ns();
	st->req_seq = st->mark_seq;
	st->lat_flags = PW_LAT_F_START;
}

/* Latency state at a state change. */
static void lat_transition(struct sock *sk, struct pw_sk *st, int old, int new, __u64 now)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	if (st->key.dir == PW_DIR_OUTBOUND) {
		if (new == PW_TCP_ESTABLISHED)
			out_mark(st, BPF_CORE_READ(tp, write_seq), now);
	} else {
		/* A FIN sent or received ends the answer at the latest. */
		in_resolve_probed(sk, st, now);
		/* Closing our side: a request unanswered never will be. */
		if (new == PW_TCP_FIN_WAIT1 || new == PW_TCP_LAST_ACK || new == PW_TCP_CLOSE)
			st->lat_phase = PW_LAT_IDLE;
	}
	lat_flush_batch(st);
}

/* Accept-queue wait, begin and abandon. A child socket is created (LISTEN ->
 * SYN_RECV) when the handshake completes (at the SYN with TCP Fast Open) and
 * is queued on its listener in the same softirq. */
static void accept_track(struct sock *sk, struct pw_sk *st, int old, int new, __u64 now)
{
	struct pw_accept_q q = {};
	__u64 id = sk_id(sk);

	if (old == PW_TCP_LISTEN && new == PW_TCP_SYN_RECV) {
		q.key = st->key;
		q.since_ns = now;
		if (bpf_map_update_elem(&accept_q, &id, &q, BPF_ANY)) {
			drop(PW_DROP_STATS);
			return;
		}
		st->flags |= PW_SK_ACCEPT_Q;
	} else if (new == PW_TCP_CLOSE && (st->flags & PW_SK_ACCEPT_Q) && !pw_destroy_hook) {
		/* Without the destroy hook, forget it at CLOSE. With it, a
		 * connection reset while queued stays queued, and its accept()
		 * still counts; the entry goes when the socket dies. */
		bpf_map_delete_elem(&accept_q, &id);
		st->flags &= ~PW_SK_ACCEPT_Q;
	}
}

/* One state change, whichever hook saw it. sk is read only through CO-RE
 * probe reads, so a bare address from the fallback hook works too. */
static void on_transition(struct sock *sk, struct pw_sk *st, int old, int new)
{
	struct pw_stats *s;
	__u64 now = bpf_ktime_get_ns();
	__u8 counted;
	int err;

	if (!st->key.netns || old == PW_TCP_CLOSE) {
		if (pw_latency)
			lat_flush_batch(st); /* a socket reused: its last requests */
		classify_new(st, sk, old, new, now);
	}
	/* Owners are taken in process context only: connect() and listen()
	 * run in the owning task; a FIN or RST arrives in softirq, whatever
	 * task the CPU happened to be running. */
	if (old == PW_TCP_CLOSE && (new == PW_TCP_SYN_SENT || new == PW_TCP_LISTEN))
		set_owner(st);
	/* Only close() and shutdown() lead to FIN_WAIT1 and LAST_ACK, in the
	 * holder's own system call. */
	if (!st->pid && (new == PW_TCP_FIN_WAIT1 || new == PW_TCP_LAST_ACK))
		set_owner(st);
	if (pw_accept_wait)
		accept_track(sk, st, old, new, now);
	if (pw_latency)
		lat_transition(sk, st, old, new, now);

	counted = st->state;
	st->state = 0;
	s = stats_get(&st->key);
	if (!s)
		goto out;
	if (counted)
		s->gauge[counted & (PW_STATE_SLOTS - 1)]--;
	if (new != PW_TCP_CLOSE) {
		s->gauge[new &(PW_STATE_SLOTS - 1)]++;
		st->state = new;
	}
	count_transition(s, sk, old, new);
	if (pw_latency && old == PW_TCP_SYN_SENT && new == PW_TCP_ESTABLISHED &&
	    st->key.dir == PW_DIR_OUTBOUND &&now > st->state_since_ns)
		observe(&connect_latency, &st->key, now - st->state_since_ns);
out:
	if (old == PW_TCP_CLOSE_WAIT) {
		cw_leave(sk, st, now);
		emit(sk, st, PW_EV_STATE, TRANSITION(old, new), 0);
	}
	if (old == PW_TCP_SYN_SENT && new == PW_TCP_CLOSE) {
		err = BPF_CORE_READ(sk, sk_err);
		if (err)
			emit(sk, st, PW_EV_CONNECT_FAILED, TRANSITION(old, new), err);
	}
	st->state_since_ns = now;
	if (new == PW_TCP_CLOSE_WAIT) {
		cw_enter(sk, st);
		emit(sk, st, PW_EV_STATE, TRANSITION(old, new), 0);
	}
}

static bool skip(int old, int new)
{
	if ((unsigned int)new > PW_TCP_STATE_MAX || (unsigned int)old > PW_TCP_STATE_MAX)
		return true;
	return pw_test_skip_every &&
	       __sync_fetch_and_add(&pw_test_calls, 1) % pw_test_skip_every == 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, struct sock *sk, int old, int new)
{
	struct pw_sk *st;

	if (!wanted(sk) || skip(old, new))
		return 0;
	st = bpf_sk_storage_get(&sk_info, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		drop(PW_DROP_SK_STORAGE);
		return 0;
	}
	on_transition(sk, st, old, new);
	return 0;
}

/* Fallback for kernels that refuse the BTF hook: the same tracepoint, raw
 * (untyped arguments, no BTF, no tracefs). State goes to sk_hash. */
SEC("raw_tracepoint/inet_sock_set_state")
int on_state_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int old = (int)ctx->args[1], new = (int)ctx->args[2];
	struct pw_sk *st;

	if (!wanted(sk) || skip(old, new))
		return 0;
	st = sk_hash_get(sk_id(sk), true);
	if (!st) {
		drop(PW_DROP_SK_STORAGE);
		return 0;
	}
	on_transition(sk, st, old, new);
	/* Closed: nothing to keep; a reused socket starts afresh. */
	if (new == PW_TCP_CLOSE) {
		__u64 id = sk_id(sk);

		bpf_map_delete_elem(&sk_hash, &id);
	}
	return 0;
}

/* The first task to send or receive on an accepted socket owns it. */
static void claim(struct sock *sk, struct pw_sk *st)
{
	struct pw_cw_sock *c;
	__u64 id;

	if (st->pid)
		return;
	set_owner(st);
	if (st->state != PW_TCP_CLOSE_WAIT)
		return;
	id = sk_id(sk);
	c = bpf_map_lookup_elem(&close_wait, &id);
	if (c) {
		c->pid = st->pid;
		__builtin_memcpy(c->comm, st->comm, sizeof(c->comm));
	}
}

/* A tcp_sock view of a socket known to be TCP (it has our storage): a cast
 * the verifier turns into a register move, reads through it are probed. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static struct tcp_sock *tcp_of(const struct sock *sk)
{
	return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
}

/* Data arrived: unread bytes beyond a FIN (a bare FIN is no request). */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(on_data, struct sock *sk)
{
	struct pw_sk *st = sk_get(sk, false);
	struct tcp_sock *tp;
	__u64 now, start;
	__s32 avail;
	__u32 snd_nxt;

	if (!st || st->key.dir == PW_DIR_LISTEN)
		return 0;
	tp = tcp_of(sk);
	snd_nxt = tp->snd_nxt;
	/* Decide before reading more: inbound, nothing to do in a request
	 * not answered yet (pipelined); outbound, for data that is not the
	 * first after a request was sent (nothing sent since the last answer
	 * began, or only our FIN). */
	if (st->key.dir == PW_DIR_INBOUND) {
		if (st->lat_phase == PW_LAT_REQUEST && tp->write_seq == st->req_seq)
			return 0;
	} else if (!st->mark_ns || (__s32)(snd_nxt - st->mark_seq) <= 0 ||
		   (snd_nxt - st->mark_seq == 1 && (sk->sk_shutdown & 2 /* SEND_SHUTDOWN */))) {
		if (!st->mark_ns)
			out_mark(st, tp->write_seq, bpf_ktime_get_ns());
		return 0;
	}
	avail = (__s32)(tp->rcv_nxt - tp->copied_seq);
	if (sk->sk_shutdown & 1 /* RCV_SHUTDOWN */)
		avail--;
	if (avail <= 0)
		return 0;
	now = bpf_core_field_exists(tp->tcp_clock_cache) ? tp->tcp_clock_cache : 0;
	if (!now)
		now = bpf_ktime_get_ns();
	if (st->key.dir == PW_DIR_INBOUND) {
		/* The last answer was sent and not recorded yet. */
		in_resolve(sk, st, tp->write_seq, tp->first_tx_mstamp, now);
		st->lat_phase = PW_LAT_REQUEST;
		st->req_start_ns = now;
		st->req_seq = tp->write_seq;
		return 0;
	}
	if (out_started(st))
		start = st->req_start_ns;
	else if (stamp_since(tp->first_tx_mstamp, st->mark_ns))
		start = tp->first_tx_mstamp * 1000;
	else
		start = now; /* cannot happen: the send recorded it (see above) */
	lat_record(sk, st, start, now);
	out_mark(st, tp->write_seq, now);
	return 0;
}

/* A send on a connection, in tcp_sendmsg under the socket lock before
 * anything is transmitted, so a fast answer can never be seen before its
 * request. Claims the connection and, when the socket's fields cannot tell
 * (see above), begins (outbound) or ends (inbound) a request. first: the
 * first send since data arrived; stamped: its time will be in
 * first_tx_mstamp. */
static void sent(struct sock *sk, struct tcp_sock *tp, bool first, bool stamped)
{
	struct pw_sk *st = sk_get(sk, false);

	if (!st)
		return;
	claim(sk, st);
	if (!pw_latency || st->key.dir == PW_DIR_LISTEN)
		return;
	/* The first send since data arrived, and stamped: nothing to do
	 * (slow-request events, inbound, must not wait for the next event). */
	if (first && stamped && (!pw_slow_ns || st->key.dir == PW_DIR_OUTBOUND))
		return;
	if (st->key.dir == PW_DIR_INBOUND) {
		/* Answered before this send (its time is still the stamp, which
		 * this send may replace), or by it. */
		in_resolve(sk, st, tp->write_seq, tp->first_tx_mstamp, PW_NOW);
		if (st->lat_phase == PW_LAT_REQUEST) {
			st->lat_phase = PW_LAT_IDLE;
			lat_record(sk, st, st->req_start_ns, bpf_ktime_get_ns());
		}
		return;
	}
	if (!st->mark_ns || out_started(st))
		return; /* not timing yet, or the start is recorded */
	/* A new request: stamped (nothing to do), or its time is now (it has
	 * no stamp of its own yet: 0). More of a request begun with a stamp:
	 * keep the stamp before this data replaces it when it goes out (even
	 * if something is in flight now: Nagle may hold it until nothing is). */
	if (tp->write_seq == st->mark_seq && stamped)
		return;
	out_start(st, tp->write_seq == st->mark_seq ? 0 : tp->first_tx_mstamp);
}

/* Preferred: inside tcp_sendmsg (6.8 and later), once per segment-sized
 * chunk of a send. skb: the write queue's tail, NULL when nothing is
 * queued unsent. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(on_send_locked, struct sock *sk, struct msghdr *msg, struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_of(sk);
	bool first = tp->rcv_wup != tp->rcv_nxt, stamped = false;

	if (pw_latency)
		/* Its time will be in first_tx_mstamp. */
		stamped = !skb && !tp->packets_out && msg->msg_iter.count <= tp->mss_cache;
	/* The usual send needs no storage lookup: the owner was claimed at
	 * the first send (the socket has sent data since), and for latency
	 * it has nothing to record (see above). */
	if (tp->data_segs_out && (!pw_latency || (first && stamped && !pw_slow_ns)))
		return 0;
	sent(sk, tp, first, stamped);
	return 0;
}

/* Before 6.8: after sendmsg() returns, outside the lock, when the data may
 * be out and answered already. Inbound, a request answered ends now unless
 * its stamp tells; outbound, the first send after an answer begins one. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret)
{
	struct pw_sk *st;
	struct tcp_sock *tp;

	if (ret <= 0)
		return 0;
	st = sk_get(sk, false);
	if (!st)
		return 0;
	claim(sk, st);
	if (!pw_latency || st->key.dir == PW_DIR_LISTEN)
		return 0;
	tp = tcp_of(sk);
	if (st->key.dir == PW_DIR_INBOUND) {
		in_resolve(sk, st, tp->write_seq, tp->first_tx_mstamp, PW_NOW);
		return 0;
	}
	if (st->mark_ns && tp->write_seq - (__u32)ret == st->mark_seq && !out_started(st))
		out_start(st, tp->first_tx_mstamp);
	return 0;
}

static void count_reset(struct sock *sk, const struct pw_key *key, __u32 counter, __u8 type)
{
	struct pw_stats *s = stats_get(key);
	struct pw_sk *st;

	if (s)
		s->counter[counter]++;
	if (!sk)
		return;
	st = sk_get(sk, false);
	if (st)
		emit(sk, st, type, TRANSITION(st->state, st->state), 0);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_reset_received, struct sock *sk)
{
	struct pw_sk *st;

	if (!wanted(sk))
		return 0;
	st = sk_get(sk, false);
	if (st && st->key.netns)
		count_reset(sk, &st->key, PW_C_RESETS_RECEIVED, PW_EV_RESET_RECEIVED);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_reset_sent, struct sock *sk, struct sk_buff *skb)
{
	struct pw_key key = {};
	struct tcphdr *th;
	struct pw_sk *st;

	if (sk) {
		/* Full sockets only: storage refuses the others. */
		if (!wanted(sk))
			return 0;
		st = sk_get(sk, false);
		if (st && st->key.netns)
			count_reset(sk, &st->key, PW_C_RESETS_SENT, PW_EV_RESET_SENT);
		return 0;
	}
	/* No socket: an answer to a segment for a port nobody has open, such
	 * as a refused connection attempt. Count it under that port, inbound. */
	if (!skb)
		return 0;
	key.netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
	if (pw_netns && key.netns != pw_netns)
		return 0;
	th = (struct tcphdr *)(BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, transport_header));
	key.port = bpf_ntohs(BPF_CORE_READ(th, dest));
	key.dir = PW_DIR_INBOUND;
	count_reset(NULL, &key, PW_C_RESETS_SENT, PW_EV_RESET_SENT);
	return 0;
}

/* accept() and accept4() by number, and where the number is in the registers
 * the syscall-exit tracepoint passes; other architectures: not measured. */
#if defined(__TARGET_ARCH_x86)
#define PW_NR_ACCEPT 43
#define PW_NR_ACCEPT4 288
#define PW_REGS_NR orig_ax
const volatile bool pw_accept_supported = true;
#else
const volatile bool pw_accept_supported = false;
#endif
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* accept() returned fd: if it is a connection we saw queued, its wait ends.
 * The new file is read from the task's file table with probe reads (the
 * fd table is an array of pointers, which the verifier will not walk), and
 * checked to be a socket before its private data is taken for one. */
static __always_inline void accepted(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pw_accept_q *q;
	struct fdtable *fdt;
	struct file **fds, *file = NULL;
	struct socket *sock;
	__u64 id, now;
	__u32 mode;

	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (__u64)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(file, private_data);
	id = (__u64)BPF_CORE_READ(sock, sk);
	q = bpf_map_lookup_elem(&accept_q, &id);
	if (!q)
		return;
	now = bpf_ktime_get_ns();
	observe(&accept_wait, &q->key, now > q->since_ns ? now - q->since_ns : 0);
	bpf_map_delete_elem(&accept_q, &id);
}

/* Every system call's exit, of every task: the number is checked first and
 * nothing else is read for any other call. Loaded only when accept waits are
 * asked for (see README: it costs every system call). */
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
#ifdef PW_REGS_NR
	long nr = regs->PW_REGS_NR;

	if (ret >= 0 && (nr == PW_NR_ACCEPT || nr == PW_NR_ACCEPT4))
		accepted(ret);
#endif
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int on_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef PW_REGS_NR
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long ret = (long)ctx->args[1], nr;

	if (ret < 0)
		return 0;
	nr = BPF_CORE_READ(regs, PW_REGS_NR);
	if (nr == PW_NR_ACCEPT || nr == PW_NR_ACCEPT4)
		accepted(ret);
#endif
	return 0;
}

/* The sync pass: at start it gives every existing full socket its storage
 * and its place in the gauges, classified like the snapshot; afterwards it
 * repairs what missed events left wrong and counts each repair as drift.
 * (The kernel skips a tracing program that would nest on the same CPU, so
 * a softirq state change interrupting a process-context one is missed.)
 * The iterator runs with the socket locked, so no state change interleaves. */
SEC("iter/tcp")
int sync(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	const struct pw_listening *l;
	struct inet_connection_sock *icsk;
	struct pw_stats *s;
	struct tcp_sock *tp;
	struct pw_sk *st;
	__u32 zero = 0, jiffies;
	__u64 now, age;
	__u8 state, counted;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	l = bpf_map_lookup_elem(&listening, &zero);
	if (!tp || !l)
		return 0;
	state = skc->skc_state;
	if (state == PW_TCP_CLOSE || state > PW_TCP_STATE_MAX ||
	    (pw_sync_listeners && state != PW_TCP_LISTEN))
		return 0;
	st = sk_get((struct sock *)tp, true);
	if (!st) {
		drop(PW_DROP_SK_STORAGE);
		return 0;
	}
	counted = st->state;
	if (counted == state)
		return 0;
	now = bpf_ktime_get_ns();
	if (!st->key.netns) {
		st->key.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
		st->key.dir = pw_classify_ports(state, skc->skc_num, bpf_ntohs(skc->skc_dport),
						l->bits, pw_eph_lo, pw_eph_hi, &st->key.port);
		st->start_ns = now;
		st->flags = PW_SK_SEEDED;
		if (pw_latency && st->key.dir == PW_DIR_OUTBOUND)
			out_mark(st, tp->write_seq, now);
	}
	if (!pw_seeding || counted)
		fixed(PW_FIX_DRIFT);
	s = stats_get(&st->key);
	if (!s)
		return 0;
	if (counted)
		s->gauge[counted & (PW_STATE_SLOTS - 1)]--;
	if (counted == PW_TCP_CLOSE_WAIT)
		cw_leave((struct sock *)tp, st, now);
	s->gauge[state & (PW_STATE_SLOTS - 1)]++;
	st->state = state;
	st->state_since_ns = now;
	if (state == PW_TCP_CLOSE_WAIT) {
		/* Since data last arrived: ss -ti's lastrcv. */
		icsk = &tp->inet_conn;
		jiffies = (__u32)bpf_jiffies64() - icsk->icsk_ack.lrcvtime;
		age = (__u64)jiffies * pw_ns_per_jiffy;
		st->state_since_ns = age < now ? now - age : 0;
		cw_enter((struct sock *)tp, st);
	}
	return 0;
}

/* A socket dies: if it is still counted, its last transition was missed. */
static void uncount_dead(struct sock *sk, struct pw_sk *st)
{
	struct pw_stats *s;
	__u64 id;

	if (st && (st->flags & PW_SK_ACCEPT_Q)) {
		id = sk_id(sk);
		bpf_map_delete_elem(&accept_q, &id);
	}
	if (!st || !st->state)
		return;
	fixed(PW_FIX_DESTROYED);
	s = bpf_map_lookup_elem(&stats, &st->key);
	if (s)
		s->gauge[st->state & (PW_STATE_SLOTS - 1)]--;
	if (st->state == PW_TCP_CLOSE_WAIT)
		cw_leave(sk, st, bpf_ktime_get_ns());
	st->state = 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	struct pw_sk *st = sk_get(sk, false);

	if (st && pw_latency) {
		in_resolve_probed(sk, st, 0);
		lat_flush_batch(st);
	}
	uncount_dead(sk, st);
	return 0;
}

SEC("raw_tracepoint/tcp_destroy_sock")
int on_destroy_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	__u64 id = sk_id(sk);

	uncount_dead(sk, sk_hash_get(id, false));
	bpf_map_delete_elem(&sk_hash, &id);
	/* Its state (and the flag) went at CLOSE: no telling whether it was
	 * still queued. */
	if (pw_accept_wait)
		bpf_map_delete_elem(&accept_q, &id);
	return 0;
}

/* Owners of seeded sockets, from the processes' file tables. */
SEC("iter/task_file")
int seed_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct pw_cw_sock *c;
	struct pw_sk *st;
	struct sock *sk;
	__u64 cookie;

	if (!task || !file)
		return 0;
	sk = file_tcp_sock(file);
	if (!sk)
		return 0;
	st = sk_get(sk, false);
	if (!st || st->pid)
		return 0;
	st->pid = task->tgid;
	BPF_CORE_READ_STR_INTO(&st->comm, task, comm);
	if (st->state != PW_TCP_CLOSE_WAIT)
		return 0;
	cookie = sk_id(sk);
	c = bpf_map_lookup_elem(&close_wait, &cookie);
	if (c) {
		c->pid = st->pid;
		__builtin_memcpy(c->comm, st->comm, sizeof(c->comm));
	}
	return 0;
}

/* An answer sent and not yet recorded (its time is read at the socket's
 * next event) is recorded now, and the requests timed go into the
 * histogram, so every read has every request answered. */
static void lat_flush(struct sock_common *skc)
{
	struct tcp_sock *tp;
	struct pw_sk *st;

	if (!pw_latency)
		return;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return;
	st = sk_get((struct sock *)tp, false);
	if (!st)
		return;
	if (st->key.dir == PW_DIR_INBOUND && st->lat_phase == PW_LAT_REQUEST)
		in_resolve((struct sock *)tp, st, tp->write_seq, tp->first_tx_mstamp, 0);
	lat_flush_batch(st);
}

/* Counting pass for minisockets, which no tracepoint follows: time-wait
 * sockets (TIME_WAIT, and FIN_WAIT2 after close) and request sockets
 * (SYN_RECV). Userspace empties `mini` before each pass. */
SEC("iter/tcp")
int count_mini(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_timewait_sock *tw;
	const struct pw_listening *l;
	struct pw_mini_key mk = {};
	__u64 one = 1, *v;
	__u32 zero = 0;
	__u8 state;

	if (!skc)
		return 0;
	state = skc->skc_state;
	if (state == PW_TCP_TIME_WAIT) {
		tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (!tw)
			return 0;
		state = tw->tw_sk.tw_substate;
	} else if (state == PW_TCP_NEW_SYN_RECV) {
		state = PW_TCP_SYN_RECV;
	} else {
		lat_flush(skc);
		return 0;
	}
	l = bpf_map_lookup_elem(&listening, &zero);
	if (!l)
		return 0;
	mk.key.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	mk.key.dir = pw_classify_ports(state, skc->skc_num, bpf_ntohs(skc->skc_dport), l->bits,
				       pw_eph_lo, pw_eph_hi, &mk.key.port);
	mk.state = state;
	v = bpf_map_lookup_elem(&mini, &mk);
	if (v)
		(*v)++;
	else if (bpf_map_update_elem(&mini, &mk, &one, BPF_NOEXIST))
		drop(PW_DROP_MINI);
	return 0;
}
