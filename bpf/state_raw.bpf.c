// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fallbacks for kernels that refuse the BTF hooks: the same tracepoints,
 * raw (untyped arguments, no BTF, no tracefs). A bare address is no
 * pointer the program may load from: socket fields are read by probe, and
 * state goes to sk_hash. */
#define PW_PROBED
#include "state.bpf.h"

SEC("raw_tracepoint/inet_sock_set_state")
int on_state_raw(struct bpf_raw_tracepoint_args *ctx)
{
	state_changed((struct sock *)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2]);
	return 0;
}

SEC("raw_tracepoint/tcp_destroy_sock")
int on_destroy_raw(struct bpf_raw_tracepoint_args *ctx)
{
	destroyed((struct sock *)ctx->args[0]);
	return 0;
}
