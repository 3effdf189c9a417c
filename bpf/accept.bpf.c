// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Accept-queue wait: a connection queued on its listener (state.bpf.c
 * notes when) until the accept() that returns it. */
#include "track.bpf.h"
#include "latency.bpf.h"

/* accept() and accept4() by number, and where the number is in the registers
 * the syscall-exit tracepoint passes; other architectures: not measured. */
#if defined(__TARGET_ARCH_x86)
#define PW_NR_ACCEPT 43
#define PW_NR_ACCEPT4 288
#define PW_REGS_NR orig_ax
const volatile bool pw_accept_supported = true;
#else
const volatile bool pw_accept_supported = false;
#endif
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* accept() returned fd: if it is a connection we saw queued, its wait ends.
 * The new file is read from the task's file table with probe reads (the
 * fd table is an array of pointers, which the verifier will not walk), and
 * checked to be a socket before its private data is taken for one. */
static __always_inline void accepted(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pw_accept_q *q;
	struct fdtable *fdt;
	struct file **fds, *file = NULL;
	struct socket *sock;
	__u64 id, now;
	__u32 mode;

	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (__u64)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(file, private_data);
	id = (__u64)BPF_CORE_READ(sock, sk);
	q = bpf_map_lookup_elem(&accept_q, &id);
	if (!q)
		return;
	now = bpf_ktime_get_ns();
	observe(&accept_wait, &q->key, now > q->since_ns ? now - q->since_ns : 0);
	bpf_map_delete_elem(&accept_q, &id);
}

/* Every system call's exit, of every task: the number is checked first and
 * nothing else is read for any other call. Loaded only when accept waits are
 * asked for (see README: it costs every system call). */
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
#ifdef PW_REGS_NR
	long nr = regs->PW_REGS_NR;

	if (ret >= 0 && (nr == PW_NR_ACCEPT || nr == PW_NR_ACCEPT4))
		accepted(ret);
#endif
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int on_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef PW_REGS_NR
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long ret = (long)ctx->args[1], nr;

	if (ret < 0)
		return 0;
	nr = BPF_CORE_READ(regs, PW_REGS_NR);
	if (nr == PW_NR_ACCEPT || nr == PW_NR_ACCEPT4)
		accepted(ret);
#endif
	return 0;
}
