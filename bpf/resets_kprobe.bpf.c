// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The kernel's resets for segments no socket takes, where the kernel
 * refuses fentry but has kprobes (before 6.10; after, the tracepoint has
 * them). A kprobe's arguments are bare addresses: read by probe. */
#define PW_PROBED
#include "resets.bpf.h"

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
