// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Resets sent and received, per row, and an event for each on a socket we
 * track; retransmitted segments per row. */
#include "resets.bpf.h"

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_reset_received, struct sock *sk)
{
	if (wanted(sk))
		reset_of(sk, PW_C_RESETS_RECEIVED, PW_EV_RESET_RECEIVED);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_reset_sent, struct sock *sk, struct sk_buff *skb)
{
	/* Full sockets only: storage refuses the others. */
	if (sk && wanted(sk))
		reset_of(sk, PW_C_RESETS_SENT, PW_EV_RESET_SENT);
	else if (!sk)
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

/* A segment retransmitted (the tracepoint is in every kernel we run on). */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, struct sock *sk)
{
	struct pw_stats *s;
	struct pw_sk *st;
	struct pw_key key;

	st = sk_get(sk, false);
	if (!st || !st->state)
		return 0;
	key = counted_key(st);
	s = bpf_map_lookup_elem(&stats, &key);
	if (s)
		s->counter[PW_C_RETRANSMITS]++;
	return 0;
}
