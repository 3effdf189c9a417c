/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Request latency per connection: the state machine the data, send and
 * state-change hooks share, and the per-row histograms it fills. */
#ifndef PW_LATENCY_BPF_H
#define PW_LATENCY_BPF_H

#include "track.bpf.h"

static const struct pw_lat zero_lat;

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
	struct pw_lat *l = lookup_or_make(map, key, &zero_lat);

	if (!l)
		drop(PW_DROP_STATS);
	return l;
}

/* One duration into a row's histogram. */
static void observe(void *map, const struct pw_key *key, __u64 d)
{
	struct pw_lat *l = lat_row(map, key);
	__u64 b;

	if (!l)
		return;
	b = pw_index(pw_hist_bucket(d));
	if (b < PW_HIST_BUCKETS)
		l->bucket[b]++;
	l->count++;
	l->sum_ns += d;
	if (d > l->max_ns)
		l->max_ns = d;
}

/* The socket's timed responses into its row's histogram. */
static void resp_flush_batch(struct pw_sk *st)
{
	__u32 n = st->rbatch_n, i;
	__u64 b;
	struct pw_lat *l;

	if (!n)
		return;
	st->rbatch_n = 0;
	l = lat_row(&response, &st->key);
	if (l) {
		for (i = 0; i < PW_LAT_BATCH && i < n; i++) {
			b = pw_index(st->rbatch[i]);
			if (b < PW_HIST_BUCKETS)
				l->bucket[b]++;
		}
		l->count += n;
		l->sum_ns += st->rbatch_sum_ns;
		if (st->rbatch_max_ns > l->max_ns)
			l->max_ns = st->rbatch_max_ns;
	}
	st->rbatch_sum_ns = 0;
	st->rbatch_max_ns = 0;
}

/* The answer in progress is complete: its response time into the batch. */
static void resp_record(struct pw_sk *st)
{
	__u64 d = st->resp_last_ns > st->resp_start_ns ? st->resp_last_ns - st->resp_start_ns : 0;
	__u32 n = st->rbatch_n;

	if (!st->resp_start_ns)
		return;
	st->resp_start_ns = 0;
	st->rbatch[n & (PW_LAT_BATCH - 1)] = pw_hist_bucket(d);
	st->rbatch_n = ++n;
	st->rbatch_sum_ns += d;
	if (d > st->rbatch_max_ns)
		st->rbatch_max_ns = d;
	if (n >= PW_LAT_BATCH)
		resp_flush_batch(st);
}

/* More of the answer in progress went (inbound) or came (outbound) now. */
static __always_inline void resp_more(struct pw_sk *st, __u64 now)
{
	if (st->resp_start_ns && now > st->resp_last_ns)
		st->resp_last_ns = now;
}

/* The socket's timed requests into its row's histogram. */
static void lat_flush_batch(struct pw_sk *st)
{
	__u32 n = st->batch_n, i;
	__u64 b;
	struct pw_lat *l;

	resp_flush_batch(st);
	if (!n)
		return;
	st->batch_n = 0;
	l = lat_row(&latency, &st->key);
	if (l) {
		for (i = 0; i < PW_LAT_BATCH && i < n; i++) {
			b = pw_index(st->batch[i]);
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

/* A request took from start to end (the first byte of its answer); its
 * response goes on until the answer's last byte. */
static void lat_record(struct sock *sk, struct pw_sk *st, __u64 start, __u64 end)
{
	__u64 d = end > start ? end - start : 0, since;
	__u32 n;

	resp_record(st); /* an answer still open ends where the next begins */
	st->resp_start_ns = start;
	st->resp_last_ns = end;
	n = st->batch_n;

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

/* Latency state at a state change. Returns whether a request dies
 * unanswered: inbound, our side closes or the connection resets with a
 * request nothing was written for (after only the peer's FIN the answer may
 * still come); outbound, the peer closes or resets, or we give up, with a
 * request sent since the last answer began. */
static bool lat_transition(struct sock *sk, struct pw_sk *st, int old, int new, __u64 now)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	bool lost = false;

	if (st->key.dir == PW_DIR_OUTBOUND) {
		if (new == PW_TCP_ESTABLISHED) {
			out_mark(st, BPF_CORE_READ(tp, write_seq), now);
		} else if (new == PW_TCP_CLOSE_WAIT || new == PW_TCP_FIN_WAIT1 ||
			   new == PW_TCP_CLOSE) {
			/* The peer's FIN ends its answer; so does our giving up. */
			resp_record(st);
			if (st->mark_ns)
				lost = (__s32)(BPF_CORE_READ(tp, write_seq) - st->mark_seq) > 0;
			st->mark_ns = 0; /* nothing more to time */
		}
	} else if (st->key.dir == PW_DIR_INBOUND) {
		/* A FIN sent or received ends the answer at the latest. */
		in_resolve_probed(sk, st, now);
		if (new == PW_TCP_FIN_WAIT1 || new == PW_TCP_LAST_ACK || new == PW_TCP_CLOSE) {
			lost = st->lat_phase == PW_LAT_REQUEST;
			st->lat_phase = PW_LAT_IDLE;
			resp_record(st); /* we close: the answer is all sent */
		}
	}
	lat_flush_batch(st);
	return lost;
}

#endif
