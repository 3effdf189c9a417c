/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every network namespace on the host, entered in turn: BPF's tcp
 * iterator and procfs answer for the namespace of the task that reads
 * them, so walking a namespace means being in it. */
#ifndef PW_NETNS_H
#define PW_NETNS_H

#include <linux/types.h>

/* Calls fn(inode, arg) from inside each namespace some process or a
 * /run/netns name holds (each once; at most 1,024), then returns the
 * calling thread to its own. Stops at fn's first error and returns it;
 * -errno if the thread cannot come back. */
int pw_netns_each(int (*fn)(__u32 netns, void *arg), void *arg);
/* The calling thread's namespace inode, 0 if unknown. */
__u32 pw_netns_self(void);

#define PW_NETNS_NAME_LEN 64
/* What an operator knows a namespace by: its `ip netns` name; else, for a
 * container, its hostname (a Kubernetes pod's name, a Docker container's
 * short id or --hostname) or "container:ID12" from the cgroup of a process
 * in it; else "COMM[PID]" of the first process in it. Empty when nothing
 * holds it. Looked up once per namespace (cached). */
const char *pw_netns_name(__u32 netns); /* valid until 1,024 more lookups */

#endif
