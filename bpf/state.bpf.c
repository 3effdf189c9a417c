// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* State changes and socket deaths, from the BTF tracepoints (state.bpf.h
 * says what they do). This object defines the maps and settings every part
 * of the tracker shares. */
#define PW_DEFINE
#include "state.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, struct sock *sk, int old, int new)
{
	state_changed(sk, old, new);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	destroyed(sk);
	return 0;
}
