/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Holders of sockets from /proc/PID/fd, as ss -p and lsof find them: for
 * kernels whose BPF cannot map a file to its socket (before 5.11). */
#ifndef PW_PROCFD_H
#define PW_PROCFD_H

#include <linux/types.h>

/* Called for every open file that is a socket: its inode, the holder's
 * thread group id, the descriptor, and the holder's command name. A
 * non-zero return stops the walk and is returned. */
typedef int (*pw_procfd_fn)(void *ctx, __u32 ino, __u32 pid, __u32 fd, const char *comm);
int pw_procfd_walk(const char *proc, pw_procfd_fn fn, void *ctx);

#endif
