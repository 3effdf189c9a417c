/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the tracker's programs share: the per-socket and per-row helpers,
 * over the settings and maps of maps.bpf.h. The tracker is several objects
 * (one per concern: state, latency, resets, accept, iter) linked into one
 * with `bpftool gen object`. */
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

#include "maps.bpf.h"

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
