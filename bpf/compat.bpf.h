/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel differences the BPF side handles, in one place. Each shim names the
 * kernel version it is for; which hooks load is decided in userspace
 * (src/track.c, choose_hooks()) by probing, never by version string. */
#ifndef PW_COMPAT_BPF_H
#define PW_COMPAT_BPF_H

#include <bpf/bpf_helpers.h>

/* Linux 6.2 added the kfunc bpf_rdonly_cast. Weak, so the object still
 * loads on older kernels: only the programs of hooks that exist from 6.3
 * on (sk_data_ready, sock_send_length, tcp_sendmsg_locked) call it. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* A tcp_sock view of a socket known to be TCP, for the 6.3+ tracepoints:
 * a cast the verifier turns into a register move; reads through it are
 * probed. */
static __always_inline struct tcp_sock *pw_tcp_cast(const struct sock *sk)
{
	return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
}

/* The same for the fentry/fexit hooks of older kernels: a helper call
 * (Linux 5.9) that checks the socket is TCP. NULL otherwise. */
static __always_inline struct tcp_sock *pw_tcp_checked(struct sock *sk)
{
	return bpf_skc_to_tcp_sock(sk);
}

/* Linux 5.11 allowed socket storage in tracing programs (and iterators).
 * Before, per-socket state is kept in a hash map keyed by the socket's
 * address (pw_sk_hash, set by userspace). */

/* Linux 5.11 added bpf_sock_from_file. Before, iter/task_file cannot tell
 * a socket's file from another's: owners are matched by socket inode
 * (pw_sock_ino) against /proc/PID/fd, as ss -p does. The inode of a full
 * socket's file: SOCK_INODE(sk->sk_socket), read through its file. */
static __always_inline __u32 pw_sock_ino(const struct sock *sk)
{
	return (__u32)BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

/* A histogram index the verifier of 6.1 can bound. clang compares one
 * zero-extended copy of a 32-bit index and indexes with another, and 6.1
 * does not carry the bound across; widened once, behind a barrier, the
 * check and the access use one register. */
static __always_inline __u64 pw_index(__u32 b)
{
	__u64 i = b;

	barrier_var(i);
	return i;
}

#endif
