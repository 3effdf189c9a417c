/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Record layouts shared by the BPF programs and userspace. Every struct here
 * crosses the kernel boundary as raw bytes, so sizes are pinned. */
#ifndef PORTWATCH_H
#define PORTWATCH_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* TCP states as the kernel numbers them (include/net/tcp_states.h). */
enum pw_tcp_state {
	PW_TCP_ESTABLISHED = 1,
	PW_TCP_SYN_SENT,
	PW_TCP_SYN_RECV,
	PW_TCP_FIN_WAIT1,
	PW_TCP_FIN_WAIT2,
	PW_TCP_TIME_WAIT,
	PW_TCP_CLOSE,
	PW_TCP_CLOSE_WAIT,
	PW_TCP_LAST_ACK,
	PW_TCP_LISTEN,
	PW_TCP_CLOSING,
	PW_TCP_NEW_SYN_RECV,
	PW_TCP_STATE_MAX = PW_TCP_NEW_SYN_RECV,
};

/* One TCP socket as iter/tcp sees it. The state is the one ss shows: request
 * sockets read as SYN_RECV, time-wait sockets as their substate. */
struct pw_sock_rec {
	__u64 sk; /* kernel address: joins with pw_file_rec.sk, never shown */
	__u8 saddr[16]; /* network order; IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 state; /* enum pw_tcp_state */
	__u8 pad0;
	__u32 rx_queue; /* listeners: accept queue depth; others: Recv-Q */
	__u32 tx_queue; /* listeners: accept queue limit; others: Send-Q */
	__u32 lastrcv_jiffies; /* full sockets: jiffies since data last arrived */
	__u32 ino; /* full sockets: inode of the socket's file; 0: none */
	/* Full sockets: jiffies since the peer last sent anything (data, FIN or
	 * ACK: ss -ti's lastrcv and lastack, the later). For a socket in
	 * CLOSE_WAIT, the peer's FIN: nothing comes after it. */
	__u32 heard_jiffies;
	__u32 pad1;
};
_Static_assert(sizeof(struct pw_sock_rec) == 72, "pw_sock_rec layout");

#define PW_COMM_LEN 16

/* One open file descriptor that refers to a TCP socket. */
struct pw_file_rec {
	__u64 sk;
	__u32 pid; /* thread group id */
	__u32 fd;
	char comm[PW_COMM_LEN];
};
_Static_assert(sizeof(struct pw_file_rec) == 32, "pw_file_rec layout");

#endif /* PORTWATCH_H */
