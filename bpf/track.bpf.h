/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the tracker's programs share: settings, maps and the per-socket
 * helpers. The tracker is several objects (one per concern: state, latency, resets, accept, iter)
 * linked into one with `bpftool gen object`; state.bpf.c defines the maps
 * and settings (PW_DEFINE), the others see them as externs. */
#ifndef PW_TRACK_BPF_H
#define PW_TRACK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "pw_track.h"
#include "pw_sock.bpf.h"
#include "compat.bpf.h"

/* One load from a kernel object. The BTF hooks (tp_btf, fentry, iterators)
 * get pointers the program may load from directly: one instruction, which
 * the verifier allows within the pointer's type only (a cast to a larger
 * type needs BPF_CORE_READ). The fallback hooks (raw tracepoints, kprobes)
 * get bare addresses, read with a helper call each (when every hook read
 * that way: 15% of the state hook's time, 40% of the reset hooks'): their
 * objects define PW_PROBED before including this file. */
#ifdef PW_PROBED
#define PW_READ(p, field) BPF_CORE_READ(p, field)
#else
#define PW_READ(p, field) ((p)->field)
#endif

#define ECONNREFUSED 111
#define ETIMEDOUT 110

#ifdef PW_DEFINE
#define PW_EXTERN
#define PW_SET(v) = v
#else
#define PW_EXTERN extern
#define PW_SET(v)
#endif

/* Settings, fixed at load. */
PW_EXTERN const volatile __u32 pw_netns PW_SET(0); /* namespace inode to track; 0: all */
PW_EXTERN const volatile __u16 pw_eph_lo PW_SET(PW_EPH_LO_DEFAULT); /* ip_local_port_range */
PW_EXTERN const volatile __u16 pw_eph_hi PW_SET(PW_EPH_HI_DEFAULT);
PW_EXTERN const volatile __u64 pw_ns_per_jiffy PW_SET(4000000);
/* Tests only: ignore every Nth state change, as the kernel does when a run
 * would nest, to prove the sync pass repairs the gauges. 0: off. */
PW_EXTERN const volatile __u32 pw_test_skip_every PW_SET(0);
/* Measure request latency (the latency hooks are loaded only then). */
PW_EXTERN const volatile bool pw_latency PW_SET(false);
/* Requests at least this slow become events; 0: none. */
PW_EXTERN const volatile __u64 pw_slow_ns PW_SET(0);
/* Measure accept-queue waits (the syscall-exit hook is loaded only then). */
PW_EXTERN const volatile bool pw_accept_wait PW_SET(false);
/* Event types userspace reads (bit 1 << type); the rest are only counted. */
PW_EXTERN const volatile __u32 pw_emit PW_SET(0);
/* Userspace is woken when this much is waiting, else it collects on its own
 * clock: a storm of events costs one wakeup per batch, not one each. */
PW_EXTERN const volatile __u32 pw_wake_bytes PW_SET(0);
/* The tcp_destroy_sock hook is loaded. */
PW_EXTERN const volatile bool pw_destroy_hook PW_SET(true);
/* Per-socket state in sk_hash rather than socket storage (see compat). */
PW_EXTERN const volatile bool pw_sk_hash PW_SET(false);

/* Tests only: state changes seen, for pw_test_skip_every. */
PW_EXTERN __u64 pw_test_calls;
/* Set by userspace while the first sync pass runs: sockets it finds are
 * new to us then, not drift. */
PW_EXTERN volatile bool pw_seeding;
/* Set for a sync pass over listeners only: they need no classification,
 * and the ports they give classify everything else in the next pass. */
PW_EXTERN volatile bool pw_sync_listeners;

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pw_sk);
} sk_info SEC(".maps");

/* Per-socket state when socket storage cannot be used (before 5.11, or the
 * raw fallback hook, which gets a bare address): keyed by that address,
 * removed when the socket closes or dies. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct pw_sk);
} sk_hash SEC(".maps");

/* Per-port maps (stats, cw_hist and the histograms): userspace sizes them
 * at load (row_capacity() in track.c); 4096 is the floor. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_stats);
} stats SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_cw_hist);
} cw_hist SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} latency SEC(".maps");

/* Response duration: request start to the last byte of its answer, per
 * row (see struct pw_sk). */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} response SEC(".maps");

/* Connect latency: SYN_SENT to ESTABLISHED, per outbound row. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} connect_latency SEC(".maps");

/* Accept-queue wait: from a connection being queued on its listener to the
 * accept() that returns it, per inbound row. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} accept_wait SEC(".maps");

/* Connections queued and not yet accepted, by socket address: the accept
 * hook finds the new socket through the task's file table with probe
 * reads, which give an address, not a pointer socket storage would take. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket address */
	__type(value, struct pw_accept_q);
} accept_q SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket address */
	__type(value, struct pw_cw_sock);
} close_wait SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_FIX_MAX);
	__type(key, __u32);
	__type(value, __u64);
} health SEC(".maps");

/* Listening ports of the seeded namespace, written by userspace before each
 * iterator pass that classifies. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_listening);
} listening SEC(".maps");

/* Minisocket counts per (row, state), and listeners by socket address, from
 * the counting pass: preallocated, as userspace empties them before every
 * pass (allocating and freeing thousands of entries each read costs more). */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct pw_mini_key);
	__type(value, __u64);
} mini SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pw_listener);
} listeners SEC(".maps");

/* Owners by socket inode, filled by userspace from /proc/PID/fd where the
 * kernel lacks bpf_sock_from_file (before 5.11), for iter.bpf.c. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32); /* socket inode */
	__type(value, struct pw_owner);
} owner_ino SEC(".maps");

static const struct pw_stats zero_stats;
static const struct pw_sk zero_sk;

static __always_inline void drop(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &reason);

	if (c)
		(*c)++;
}

/* The value for key, made from zero if there is none; NULL if the map is
 * full (the caller counts the drop under its reason). */
static __always_inline void *lookup_or_make(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline void fixed(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&health, &what);

	if (c)
		(*c)++;
}

static struct pw_stats *stats_get(const struct pw_key *key)
{
	struct pw_stats *s = lookup_or_make(&stats, key, &zero_stats);

	if (!s)
		drop(PW_DROP_STATS);
	return s;
}

/* The row a socket is counted in (see PW_SK_NOROW). */
static __always_inline struct pw_key counted_key(const struct pw_sk *st)
{
	struct pw_key k = st->key;

	if (st->flags & PW_SK_NOROW)
		k.port = 0;
	return k;
}

/* A socket's identity in maps and events: its address, the one thing every
 * kind of hook knows. */
static __always_inline __u64 sk_id(const struct sock *sk)
{
	return (__u64)sk;
}

static struct pw_sk *sk_hash_get(__u64 id, bool create)
{
	if (!create)
		return bpf_map_lookup_elem(&sk_hash, &id);
	return lookup_or_make(&sk_hash, &id, &zero_sk);
}

/* Per-socket state of a BTF socket pointer. */
static __always_inline struct pw_sk *sk_get(struct sock *sk, bool create)
{
	if (pw_sk_hash)
		return sk_hash_get(sk_id(sk), create);
	return bpf_sk_storage_get(&sk_info, sk, NULL, create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

/* Forgets a socket's state kept by address (it closed or died); storage
 * goes with the socket by itself. */
static __always_inline void sk_forget(const struct sock *sk)
{
	__u64 id = sk_id(sk);

	if (pw_sk_hash)
		bpf_map_delete_elem(&sk_hash, &id);
}

static __always_inline __u32 netns_of(const struct sock *sk)
{
	const struct net *net = PW_READ(sk, __sk_common.skc_net.net);

	return PW_READ(net, ns.inum);
}

static __always_inline __u16 sk_sport(const struct sock *sk)
{
	return PW_READ(sk, __sk_common.skc_num);
}

static __always_inline __u16 sk_dport(const struct sock *sk)
{
	return bpf_ntohs(PW_READ(sk, __sk_common.skc_dport));
}

static __always_inline bool is_tcp(const struct sock *sk)
{
	__u16 family = PW_READ(sk, __sk_common.skc_family);

	return PW_READ(sk, sk_protocol) == IPPROTO_TCP && (family == AF_INET || family == AF_INET6);
}

static __always_inline bool wanted(const struct sock *sk)
{
	return is_tcp(sk) && (!pw_netns || netns_of(sk) == pw_netns);
}

static __always_inline void set_owner(struct pw_sk *st)
{
	st->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(st->comm, sizeof(st->comm));
}

/* Probed in every hook: only events and CLOSE_WAIT entries need them. */
static __always_inline void read_addrs(const struct sock *sk, __u16 *family, __u8 *saddr,
				       __u8 *daddr)
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

/* Whether userspace reads events of this type. */
static __always_inline bool emitting(__u8 type)
{
	return pw_emit & (1U << type);
}

/* transition: TRANSITION(old state, new state). */
static void emit(struct sock *sk, const struct pw_sk *st, __u8 type, __u32 transition, __s32 err)
{
	__u64 now = bpf_ktime_get_ns();
	struct pw_event *e;

	if (!emitting(type))
		return;
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
	e->sport = sk_sport(sk);
	e->dport = sk_dport(sk);
	e->type = type;
	e->old_state = transition >> 8;
	e->new_state = transition & 0xff;
	e->flags = st->flags;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	read_addrs(sk, &e->family, e->saddr, e->daddr);
	__builtin_memcpy(e->comm, st->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= pw_wake_bytes
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP);
}

/* When the peer last sent anything (data, FIN or ACK: ss -ti's lastrcv
 * and lastack, the later), in bpf_ktime_get_ns time: for a socket in
 * CLOSE_WAIT whose entry we did not see, the peer's FIN, which nothing
 * follows. The snapshot's CLOSE_WAIT ages read the same. */
static __always_inline __u64 last_heard_ns(const struct sock *sk, __u64 now)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	/* Probed: the verifier knows sk as a struct sock, not a larger one. */
	__u32 heard = pw_later_jiffies(BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime),
				       BPF_CORE_READ(tp, rcv_tstamp));
	__u64 age = (__u64)((__u32)bpf_jiffies64() - heard) * pw_ns_per_jiffy;

	return age < now ? now - age : 0;
}

/* The owner of a socket in CLOSE_WAIT, into its close_wait entry. */
static __always_inline void cw_set_owner(const struct sock *sk, const struct pw_sk *st)
{
	struct pw_cw_sock *c;
	__u64 id = sk_id(sk);

	c = bpf_map_lookup_elem(&close_wait, &id);
	if (c) {
		c->pid = st->pid;
		__builtin_memcpy(c->comm, st->comm, sizeof(c->comm));
	}
}

static void cw_enter(struct sock *sk, const struct pw_sk *st)
{
	struct pw_cw_sock c = {};
	__u64 cookie = sk_id(sk);

	c.key = st->key;
	c.since_ns = st->state_since_ns;
	c.pid = st->pid;
	c.sport = sk_sport(sk);
	c.dport = sk_dport(sk);
	read_addrs(sk, &c.family, c.saddr, c.daddr);
	__builtin_memcpy(c.comm, st->comm, sizeof(c.comm));
	if (bpf_map_update_elem(&close_wait, &cookie, &c, BPF_ANY))
		drop(PW_DROP_CLOSE_WAIT);
}

static const struct pw_cw_hist zero_hist;

static void cw_leave(struct sock *sk, const struct pw_sk *st, __u64 now)
{
	__u64 cookie = sk_id(sk);
	__u64 dur = now > st->state_since_ns ? now - st->state_since_ns : 0;
	struct pw_cw_hist *h;
	__u64 b;

	bpf_map_delete_elem(&close_wait, &cookie);
	h = lookup_or_make(&cw_hist, &st->key, &zero_hist);
	if (!h) {
		drop(PW_DROP_STATS);
		return;
	}
	b = pw_index(pw_hist_bucket(dur));
	if (b >= PW_HIST_BUCKETS)
		return;
	__sync_fetch_and_add(&h->bucket[b], 1);
	__sync_fetch_and_add(&h->sum_ns, dur);
	__sync_fetch_and_add(&h->count, 1);
}

/* The first task to send or receive on an accepted socket owns it. */
static __always_inline void claim(struct sock *sk, struct pw_sk *st)
{
	if (st->pid)
		return;
	set_owner(st);
	if (st->state == PW_TCP_CLOSE_WAIT)
		cw_set_owner(sk, st);
}

#endif
