/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Taking a snapshot with the BPF iterators. */
#ifndef PW_SNAPSHOT_H
#define PW_SNAPSHOT_H

#include <stdbool.h>
#include "model/sockets.h"

struct bpf_program;

/* Check privileges and kernel support; prints one line and returns -errno
 * when something is missing. */
int pw_preflight(void);
/* Every TCP socket of the caller's netns, with owners, classified; with
 * all_netns, of every namespace on the host (snap->netns says which). */
int pw_snapshot_take(struct pw_snap *snap, bool all_netns);
/* The caller's netns's ip_local_port_range; if it cannot be read, the
 * kernel's default, said in a warning unless quiet. */
struct pw_port_range pw_local_port_range(bool quiet);
/* The kernel's jiffies per second, 0 if unknown. */
__u32 pw_kernel_hz(void);
/* Runs an iterator program to its end, keeping whole records of rec_size
 * bytes in *buf (malloc'd). With rec_size 0 the output is discarded. */
int pw_run_iter(struct bpf_program *prog, size_t rec_size, void **buf, size_t *nrec);

#endif
