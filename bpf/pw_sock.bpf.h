/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* BPF-only helpers shared by the snapshot and tracking programs. */
#ifndef PW_SOCK_BPF_H
#define PW_SOCK_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* The later of two tcp_jiffies32 stamps (they wrap: compared as
 * differences, as the kernel's after() does). */
static __always_inline __u32 pw_later_jiffies(__u32 a, __u32 b)
{
	return (__s32)(b - a) > 0 ? b : a;
}

/* The TCP socket behind an open file, or NULL. */
static __always_inline struct sock *file_tcp_sock(struct file *file)
{
	struct socket *sock = bpf_sock_from_file(file);
	struct sock *sk;
	__u16 family;

	if (!sock)
		return NULL;
	sk = sock->sk;
	if (!sk)
		return NULL;
	/* sk_protocol was a bitfield before 5.6; the probed read handles both. */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

#endif
