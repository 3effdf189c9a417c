// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Snapshot iterators: every TCP socket of the reader's network namespace
 * (iter/tcp) and every file descriptor that holds one (iter/task_file). Both
 * write fixed-size records to the seq_file; userspace joins them on sk. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "portwatch.h"
#include "pw_sock.bpf.h"
#include "compat.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static void read_addrs(struct pw_sock_rec *r, const struct sock_common *skc)
{
	if (r->family == AF_INET6) {
		BPF_CORE_READ_INTO(&r->saddr, skc, skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r->daddr, skc, skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)r->saddr, skc, skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)r->daddr, skc, skc_daddr);
	}
}

/* Queue figures exactly as inet_diag reports them (tcp_diag_get_info). */
static void read_full_sock(struct pw_sock_rec *r, struct tcp_sock *tp)
{
	const struct inet_connection_sock *icsk = &tp->inet_conn;
	const struct sock *sk = &icsk->icsk_inet.sk;
	__s32 inq;

	if (r->state == PW_TCP_LISTEN) {
		r->ino = pw_sock_ino(sk);
		r->rx_queue = sk->sk_ack_backlog;
		r->tx_queue = sk->sk_max_ack_backlog;
		return;
	}
	inq = (__s32)(tp->rcv_nxt - tp->copied_seq);
	r->rx_queue = inq > 0 ? inq : 0;
	r->tx_queue = tp->write_seq - tp->snd_una;
	/* tcp_jiffies32 arithmetic, as tcp_get_info() computes lastrcv and
	 * lastack (rcv_tstamp: the last ACK taken, a bare FIN's included). */
	r->lastrcv_jiffies = (__u32)bpf_jiffies64() - icsk->icsk_ack.lrcvtime;
	r->heard_jiffies =
		(__u32)bpf_jiffies64() - pw_later_jiffies(icsk->icsk_ack.lrcvtime, tp->rcv_tstamp);
	r->ino = pw_sock_ino(sk);
}

SEC("iter/tcp")
int dump_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct pw_sock_rec r = {};
	struct tcp_timewait_sock *tw;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	r.sk = (__u64)skc;
	r.family = skc->skc_family;
	r.state = skc->skc_state;
	r.sport = skc->skc_num;
	r.dport = bpf_ntohs(skc->skc_dport);
	read_addrs(&r, skc);

	if (r.state == PW_TCP_TIME_WAIT) {
		/* ss shows an orphaned FIN_WAIT2 socket, which lives on as a
		 * time-wait minisock, by its substate. */
		tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (tw)
			r.state = tw->tw_sk.tw_substate;
	} else if (r.state == PW_TCP_NEW_SYN_RECV) {
		r.state = PW_TCP_SYN_RECV;
	} else {
		tp = bpf_skc_to_tcp_sock(skc);
		if (tp)
			read_full_sock(&r, tp);
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("iter/task_file")
int dump_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct pw_file_rec r = {};
	struct sock *sk;

	if (!task || !file)
		return 0;
	sk = file_tcp_sock(file);
	if (!sk)
		return 0;

	r.sk = (__u64)sk;
	r.pid = task->tgid;
	r.fd = ctx->fd;
	BPF_CORE_READ_STR_INTO(&r.comm, task, comm);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
