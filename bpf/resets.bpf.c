// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Resets sent and received, per row, and an event for each on a socket we
 * track. */
#include "track.bpf.h"

static void count_reset(struct sock *sk, const struct pw_key *key, __u32 counter, __u8 type)
{
	struct pw_stats *s = stats_get(key);
	struct pw_sk *st;

	if (s)
		s->counter[counter]++;
	if (!sk || !emitting(type))
		return;
	st = sk_get(sk, false);
	if (st)
		emit(sk, st, type, TRANSITION(st->state, st->state), 0);
}

/* No socket: an answer to a segment for a port nobody has open, such as a
 * refused connection attempt. Counted under that port, inbound. */
static __always_inline void reset_unowned(const struct sk_buff *skb)
{
	struct pw_key key = {};
	struct tcphdr *th;

	if (!skb)
		return;
	key.netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
	if (pw_netns && key.netns != pw_netns)
		return;
	th = (struct tcphdr *)(BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, transport_header));
	key.port = bpf_ntohs(BPF_CORE_READ(th, dest));
	key.dir = PW_DIR_INBOUND;
	count_reset(NULL, &key, PW_C_RESETS_SENT, PW_EV_RESET_SENT);
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
	reset_unowned(skb);
	return 0;
}

/* Before 6.10 the tracepoint fires only for resets a socket sends; the
 * kernel's answers for ports nobody has open come from these two. */
SEC("fentry/tcp_v4_send_reset")
int BPF_PROG(on_reset_v4, const struct sock *sk, struct sk_buff *skb)
{
	if (!sk)
		reset_unowned(skb);
	return 0;
}

SEC("fentry/tcp_v6_send_reset")
int BPF_PROG(on_reset_v6, const struct sock *sk, struct sk_buff *skb)
{
	if (!sk)
		reset_unowned(skb);
	return 0;
}

/* The same where the kernel refuses fentry but has kprobes (before 6.10). */
SEC("kprobe/tcp_v4_send_reset")
int BPF_KPROBE(on_reset_v4_kprobe, const struct sock *sk, struct sk_buff *skb)
{
	if (!sk)
		reset_unowned(skb);
	return 0;
}

SEC("kprobe/tcp_v6_send_reset")
int BPF_KPROBE(on_reset_v6_kprobe, const struct sock *sk, struct sk_buff *skb)
{
	if (!sk)
		reset_unowned(skb);
	return 0;
}
