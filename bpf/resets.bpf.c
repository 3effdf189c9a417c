// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Resets sent and received, per row, and an event for each on a socket we
 * track; retransmitted segments per row. */
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

/* A reset on a socket we track, in the row it is counted in. */
static __always_inline void reset_of(struct sock *sk, __u32 counter, __u8 type)
{
	struct pw_sk *st = sk_get(sk, false);
	struct pw_key key;

	if (!st || !st->key.netns)
		return;
	key = counted_key(st);
	count_reset(sk, &key, counter, type);
}

/* No socket: the kernel's answer to a segment no socket takes. Counted in
 * the port-0 row of its direction, never under the port it came to (a
 * scan would make a row per port; a late segment of a connection already
 * gone, a row for its ephemeral port): a connection attempt (SYN) to a
 * closed port is inbound; anything else belongs to a connection that
 * existed, outbound if its local port is in the ephemeral range. */
static __always_inline void reset_unowned(const struct sk_buff *skb)
{
	struct pw_key key = {};
	__u8 *th, flags = 0;
	__u16 port;

	if (!skb)
		return;
	key.netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
	if (pw_netns && key.netns != pw_netns)
		return;
	th = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, transport_header);
	port = bpf_ntohs(BPF_CORE_READ((struct tcphdr *)th, dest));
	bpf_probe_read_kernel(&flags, 1, th + 13); /* CWR ECE URG ACK PSH RST SYN FIN */
	if ((flags & 0x12) == 0x02 /* SYN, no ACK */ || port < pw_eph_lo || port > pw_eph_hi)
		key.dir = PW_DIR_INBOUND;
	else
		key.dir = PW_DIR_OUTBOUND;
	count_reset(NULL, &key, PW_C_RESETS_SENT, PW_EV_RESET_SENT);
}

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
