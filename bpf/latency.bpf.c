// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Request latency hooks: data arriving and data sent, each from the best
 * hook the kernel has (chosen in userspace): the tracepoints of 6.3 and
 * later, else fentry/fexit on the functions they sit in. The state machine
 * is in latency.bpf.h. */
#include "track.bpf.h"
#include "latency.bpf.h"

/* The time data arrived: the socket's clock, just set by the receive path
 * where the kernel has it. */
static __always_inline __u64 now_of(struct tcp_sock *tp)
{
	__u64 now = bpf_core_field_exists(tp->tcp_clock_cache) ? tp->tcp_clock_cache : 0;

	return now ? now : bpf_ktime_get_ns();
}

/* Outbound, nothing sent since the answer began: more of it, if data came
 * (not only the peer's FIN, which may come long after, from a server
 * closing an idle connection). */
static __always_inline void answer_more(struct sock *sk, struct tcp_sock *tp, struct pw_sk *st)
{
	__u32 fin = sk->sk_shutdown & 1 /* RCV_SHUTDOWN */, rcv_nxt = tp->rcv_nxt;

	if ((__s32)(rcv_nxt - fin - st->resp_rcv_nxt) <= 0)
		return;
	st->resp_rcv_nxt = rcv_nxt - fin;
	resp_more(st, now_of(tp));
}

/* Data arrived: unread bytes beyond a FIN (a bare FIN is no request). */
static __always_inline int data_ready(struct sock *sk, struct tcp_sock *tp)
{
	struct pw_sk *st = sk_get(sk, false);
	__u64 now, start;
	__s32 avail;
	__u32 snd_nxt;

	if (!st || st->key.dir == PW_DIR_LISTEN)
		return 0;
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
		else if (st->resp_start_ns)
			answer_more(sk, tp, st);
		return 0;
	}
	avail = (__s32)(tp->rcv_nxt - tp->copied_seq);
	if (sk->sk_shutdown & 1 /* RCV_SHUTDOWN */)
		avail--;
	if (avail <= 0)
		return 0;
	now = now_of(tp);
	if (st->key.dir == PW_DIR_INBOUND) {
		/* The last answer was sent and not recorded yet; whatever
		 * followed its first byte was sent by now: its response ends. */
		in_resolve(sk, st, tp->write_seq, tp->first_tx_mstamp, now);
		resp_record(st);
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
	st->resp_rcv_nxt = tp->rcv_nxt - (sk->sk_shutdown & 1);
	out_mark(st, tp->write_seq, now);
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(on_data, struct sock *sk)
{
	return data_ready(sk, pw_tcp_cast(sk));
}

/* Before 6.3: tcp_data_ready() is where TCP calls sk_data_ready. */
SEC("fentry/tcp_data_ready")
int BPF_PROG(on_data_fentry, struct sock *sk)
{
	struct tcp_sock *tp = pw_tcp_checked(sk);

	return tp ? data_ready(sk, tp) : 0;
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
		} else {
			resp_more(st, bpf_ktime_get_ns()); /* more of the answer */
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

/* Preferred: inside tcp_sendmsg (kernels after 6.12), once per segment-sized
 * chunk of a send. skb: the write queue's tail, NULL when nothing is
 * queued unsent. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(on_send_locked, struct sock *sk, struct msghdr *msg, struct sk_buff *skb)
{
	struct tcp_sock *tp = pw_tcp_cast(sk);
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

/* Before that: after sendmsg() returns, outside the lock, when the data may
 * be out and answered already. Inbound, a request answered ends now unless
 * its stamp tells; outbound, the first send after an answer begins one. */
static __always_inline int send_done(struct sock *sk, struct tcp_sock *tp, int ret)
{
	struct pw_sk *st;

	if (ret <= 0)
		return 0;
	st = sk_get(sk, false);
	if (!st)
		return 0;
	claim(sk, st);
	if (!pw_latency || st->key.dir == PW_DIR_LISTEN)
		return 0;
	if (st->key.dir == PW_DIR_INBOUND) {
		in_resolve(sk, st, tp->write_seq, tp->first_tx_mstamp, PW_NOW);
		resp_more(st, bpf_ktime_get_ns()); /* this send was of the answer */
		return 0;
	}
	if (st->mark_ns && tp->write_seq - (__u32)ret == st->mark_seq && !out_started(st))
		out_start(st, tp->first_tx_mstamp);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret)
{
	return send_done(sk, pw_tcp_cast(sk), ret);
}

/* Before 6.3: tcp_sendmsg() returning is where sock_send_length fires for
 * TCP. */
SEC("fexit/tcp_sendmsg")
int BPF_PROG(on_send_fexit, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	struct tcp_sock *tp = pw_tcp_checked(sk);

	return tp ? send_done(sk, tp, ret) : 0;
}
