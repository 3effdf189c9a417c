/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* State changes and gauges: what the BTF hooks (state.bpf.c) and their raw
 * fallbacks (state_raw.bpf.c, socket fields read by probe) share. Every TCP
 * state change updates per-(port, direction) gauges and counters in the
 * kernel; only notable events (CLOSE_WAIT entered or left, failed connects)
 * go to userspace, and only when a reader asked for them. Per-socket state
 * lives in socket storage (or sk_hash, see compat.bpf.h) and dies with the
 * socket. Time-wait and request minisockets have no state tracepoints: a
 * counting pass (iter.bpf.c) counts them. */
#ifndef PW_STATE_BPF_H
#define PW_STATE_BPF_H

#include "track.bpf.h"
#include "latency.bpf.h"

/* A socket we see for the first time (or reused after CLOSE): classify it by
 * how it came to be; one first seen in mid-life (its earlier changes were
 * missed) is classified like the snapshot does. */
static void classify_new(struct pw_sk *st, const struct sock *sk, int old, int new, __u64 now)
{
	__u16 sport = sk_sport(sk);
	__u16 dport = sk_dport(sk);
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
	st->resp_start_ns = 0;
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
		err = PW_READ(sk, sk_err);
		if (err == ECONNREFUSED)
			s->counter[PW_C_CONNECT_REFUSED]++;
		else if (err == ETIMEDOUT)
			s->counter[PW_C_CONNECT_TIMEOUT]++;
		else if (err)
			s->counter[PW_C_CONNECT_ERROR]++;
		break;
	}
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

/* The row a socket in state new is counted in, and PW_SK_NOROW set to say
 * so: an outbound attempt counts in its port's row only if that row exists
 * (a scan of closed ports must not make a row each). cur: the row
 * counted_key() gives now, if looked up already. */
static struct pw_stats *row_for(struct pw_sk *st, int new, struct pw_stats *cur)
{
	bool norow = st->flags & PW_SK_NOROW;
	struct pw_stats *s;
	struct pw_key k;

	if (new == PW_TCP_SYN_SENT && st->key.dir == PW_DIR_OUTBOUND) {
		s = bpf_map_lookup_elem(&stats, &st->key);
		if (s) {
			st->flags &= ~PW_SK_NOROW;
			return s;
		}
		st->flags |= PW_SK_NOROW;
		if (norow && cur)
			return cur;
	} else {
		st->flags &= ~PW_SK_NOROW;
		if (!norow && cur)
			return cur;
	}
	k = counted_key(st);
	return stats_get(&k);
}

/* One state change, whichever hook saw it. */
static void on_transition(struct sock *sk, struct pw_sk *st, int old, int new)
{
	struct pw_stats *s = NULL;
	__u64 now = bpf_ktime_get_ns();
	bool unanswered = false;
	struct pw_key key;
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
		unanswered = lat_transition(sk, st, old, new, now);

	counted = st->state;
	/* Leaving CLOSE_WAIT without having seen it entered (the kernel
	 * skipped that run): it began when the peer's FIN came. */
	if (old == PW_TCP_CLOSE_WAIT && counted != PW_TCP_CLOSE_WAIT)
		st->state_since_ns = last_heard_ns(sk, now);
	st->state = 0;
	key = counted_key(st);
	if (counted || new == PW_TCP_CLOSE)
		s = stats_get(&key);
	if (s && counted)
		s->gauge[counted & (PW_STATE_SLOTS - 1)]--;
	if (new != PW_TCP_CLOSE) {
		s = row_for(st, new, s);
		if (s) {
			s->gauge[new &(PW_STATE_SLOTS - 1)]++;
			st->state = new;
		}
	}
	if (!s)
		goto out;
	count_transition(s, sk, old, new);
	if (unanswered)
		s->counter[PW_C_UNANSWERED]++;
	if (pw_latency && old == PW_TCP_SYN_SENT && new == PW_TCP_ESTABLISHED &&
	    st->key.dir == PW_DIR_OUTBOUND &&now > st->state_since_ns)
		observe(&connect_latency, &st->key, now - st->state_since_ns);
out:
	if (old == PW_TCP_CLOSE_WAIT) {
		cw_leave(sk, st, now);
		emit(sk, st, PW_EV_STATE, TRANSITION(old, new), 0);
	}
	if (old == PW_TCP_SYN_SENT && new == PW_TCP_CLOSE) {
		err = PW_READ(sk, sk_err);
		if (err)
			emit(sk, st, PW_EV_CONNECT_FAILED, TRANSITION(old, new), err);
	}
	/* Entering CLOSE_WAIT: the event carries the time spent in the state
	 * left (established, usually), so it goes before the clock restarts. */
	if (new == PW_TCP_CLOSE_WAIT)
		emit(sk, st, PW_EV_STATE, TRANSITION(old, new), 0);
	st->state_since_ns = now;
	if (new == PW_TCP_CLOSE_WAIT)
		cw_enter(sk, st);
}

static bool skip(int old, int new)
{
	if ((unsigned int)new > PW_TCP_STATE_MAX || (unsigned int)old > PW_TCP_STATE_MAX)
		return true;
	/* Not atomic: 5.10 has no fetching atomics, and "about every Nth"
	 * is all the test needs. */
	return pw_test_skip_every && pw_test_calls++ % pw_test_skip_every == 0;
}

/* One state change of a socket the hook has a pointer to. */
static __always_inline void state_changed(struct sock *sk, int old, int new)
{
	struct pw_sk *st;

	if (!wanted(sk) || skip(old, new))
		return;
	st = sk_get(sk, true);
	if (!st) {
		drop(PW_DROP_SK_STORAGE);
		return;
	}
	on_transition(sk, st, old, new);
	/* Closed: nothing to keep by address; a reused socket starts afresh. */
	if (new == PW_TCP_CLOSE)
		sk_forget(sk);
}

/* A socket dies: if it is still counted, its last transition was missed. */
static void uncount_dead(struct sock *sk, struct pw_sk *st)
{
	struct pw_stats *s;
	struct pw_key key;
	__u64 id;

	if (st && (st->flags & PW_SK_ACCEPT_Q)) {
		id = sk_id(sk);
		bpf_map_delete_elem(&accept_q, &id);
	}
	if (!st || !st->state)
		return;
	fixed(PW_FIX_DESTROYED);
	key = counted_key(st);
	s = bpf_map_lookup_elem(&stats, &key);
	if (s)
		s->gauge[st->state & (PW_STATE_SLOTS - 1)]--;
	if (st->state == PW_TCP_CLOSE_WAIT)
		cw_leave(sk, st, bpf_ktime_get_ns());
	st->state = 0;
}

/* A socket dies. Kept by address, its state may be gone already (at
 * CLOSE), and with it the flag saying whether it was still queued. */
static __always_inline void destroyed(struct sock *sk)
{
	struct pw_sk *st = sk_get(sk, false);
	__u64 id = sk_id(sk);

	if (st && pw_latency) {
		in_resolve_probed(sk, st, 0);
		resp_record(st);
		lat_flush_batch(st);
	}
	uncount_dead(sk, st);
	if (pw_sk_hash) {
		bpf_map_delete_elem(&sk_hash, &id);
		if (pw_accept_wait)
			bpf_map_delete_elem(&accept_q, &id);
	}
}

#endif
