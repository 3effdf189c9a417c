/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One interval of `watch`: what its printers need. */
#ifndef PW_WATCH_H
#define PW_WATCH_H

#include <jansson.h>
#include "common/args.h"
#include "model/live.h"

enum pw_watch_mode {
	PW_WATCH_TTY,
	PW_WATCH_LINES,
	PW_WATCH_JSON,
};

struct pw_watch {
	const struct pw_portset *ports;
	struct pw_live *prev, *cur;
	__u64 drops[PW_DROP_MAX];
	__u64 fixes[PW_FIX_MAX];
	__u64 missed; /* tracepoint runs the kernel skipped */
	__u32 netns;
	bool latency; /* rows show requests and latency over the interval */
	double interval_s;
	double wall; /* seconds since the epoch at the read */
};

json_t *pw_watch_row_json(const struct pw_watch *w, const struct pw_live_row *r);
json_t *pw_watch_status_json(const struct pw_watch *w);

#endif
