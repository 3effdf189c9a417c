/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Resets sent and received, per row: what the BTF hooks (resets.bpf.c) and
 * the kprobes of kernels that refuse fentry (resets_kprobe.bpf.c) share. */
#ifndef PW_RESETS_BPF_H
#define PW_RESETS_BPF_H

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
	const struct net_device *dev;
	struct pw_key key = {};
	const struct net *net;
	__u8 th[14]; /* the TCP header up to its flags */
	unsigned char *head;
	__u16 port;

	if (!skb)
		return;
	dev = PW_READ(skb, dev);
	net = PW_READ(dev, nd_net.net);
	key.netns = PW_READ(net, ns.inum);
	if (pw_netns && key.netns != pw_netns)
		return;
	head = PW_READ(skb, head);
	if (bpf_probe_read_kernel(th, sizeof(th), head + PW_READ(skb, transport_header)))
		return;
	port = (__u16)th[2] << 8 | th[3]; /* destination, network order */
	/* th[13]: CWR ECE URG ACK PSH RST SYN FIN */
	if ((th[13] & 0x12) == 0x02 /* SYN, no ACK */ || port < pw_eph_lo || port > pw_eph_hi)
		key.dir = PW_DIR_INBOUND;
	else
		key.dir = PW_DIR_OUTBOUND;
	count_reset(NULL, &key, PW_C_RESETS_SENT, PW_EV_RESET_SENT);
}

#endif
