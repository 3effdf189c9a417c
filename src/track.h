/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The live tracker: BPF programs attached for as long as it lives. */
#ifndef PW_TRACK_SRC_H
#define PW_TRACK_SRC_H

#include <stdbool.h>
#include "live.h"

struct pw_tracker_opts {
	__u32 ringbuf_bytes; /* 0: default; else a power of two >= page size */
};

struct pw_tracker;

/* Loads, attaches and seeds. NULL with errno set, after printing why. */
struct pw_tracker *pw_tracker__new(const struct pw_tracker_opts *opts);
/* Detaches everything. */
void pw_tracker__free(struct pw_tracker *t);
/* Current rows of the tracked namespace into *l (reset first). */
int pw_tracker__read(struct pw_tracker *t, struct pw_live *l);
/* Drop counters summed over CPUs. */
int pw_tracker__drops(struct pw_tracker *t, __u64 drops[PW_DROP_MAX]);
__u32 pw_tracker__netns(const struct pw_tracker *t);

typedef int (*pw_event_fn)(void *ctx, const struct pw_event *e);
/* Delivers pending events to fn, waiting up to timeout_ms for the first.
 * Returns the number delivered or -errno (-EINTR on a signal). */
int pw_tracker__poll(struct pw_tracker *t, int timeout_ms, pw_event_fn fn, void *ctx);

#endif
