/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Taking a snapshot with the BPF iterators. */
#ifndef PW_SNAPSHOT_H
#define PW_SNAPSHOT_H

#include "sockets.h"

/* Check privileges and kernel support; prints one line and returns -errno
 * when something is missing. */
int pw_preflight(void);
/* Every TCP socket of the caller's netns, with owners, classified. */
int pw_snapshot_take(struct pw_snap *snap);

#endif
