/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Prometheus text exposition (format 0.0.4) of the live rows: which ports
 * get their own series, histogram bounds on the in-kernel buckets, and the
 * text itself. Pure logic. */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include "model/live.h"

/* A growable text buffer; err is set (-ENOMEM) once an append failed. */
struct pw_text {
	char *s;
	size_t len, cap;
	int err;
};

void pw_text_printf(struct pw_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pw_text_reset(struct pw_text *t);
void pw_text_free(struct pw_text *t);

/* Which ports get series of their own. With an allowlist, exactly those.
 * Otherwise at most max ports, chosen by activity and re-evaluated at each
 * write: a port joins while there is room; when there is none, a port with
 * sockets or activity takes the place of the member idle longest (no
 * sockets, totals unchanged since the last write); a port the tracker has
 * forgotten gives its place up. The rest are summed under port="other",
 * whose counters and histograms grow by what the ports under it add, so
 * they stay monotonic as ports come and go. */
struct pw_portcap {
	__u64 own[65536 / 64];
	__u32 n, max;
	bool allowlist;
	/* Per port, allocated at the first write: totals at the last write,
	 * and since when they have not moved (0: active at the last write). */
	__u64 *sig, *idle_since;
	struct pw_live prev; /* the rows of the last write */
	struct pw_live other; /* what "other" has accumulated, per direction */
};

/* c zeroed, or freed with pw_portcap_free(). */
void pw_portcap_init(struct pw_portcap *c, const __u16 *ports, size_t n_ports, __u32 max_ports);
void pw_portcap_free(struct pw_portcap *c);

/* Histogram bounds: the in-kernel bucket index for each configured bound
 * (rounded up to the bucket holding it), ascending, without repeats. */
struct pw_bounds {
	__u32 bucket[64];
	size_t n;
};

/* seconds must be ascending and positive. -EINVAL otherwise. */
int pw_bounds_init(struct pw_bounds *b, const double *seconds, size_t n);
/* An exact decimal for a bucket's inclusive upper bound in seconds. */
void pw_bounds_le(char *buf, size_t len, __u32 bucket);

struct pw_metrics_opts {
	const struct pw_bounds *bounds;
	bool netns_label; /* rows from several namespaces: label them */
	bool latency; /* request durations are measured */
	bool accept_wait; /* accept-queue waits are measured */
};

/* HELP and TYPE lines of one family. */
void pw_metrics_family(struct pw_text *t, const char *name, const char *type, const char *help);
/* A label value with \, " and newline escaped. */
void pw_metrics_label_value(struct pw_text *t, const char *v);

/* The per-port families from l: connections by state, oldest CLOSE_WAIT
 * age, CLOSE_WAIT/request/connect duration histograms, and counters.
 * cap decides ports; it learns new ones as they appear. */
void pw_metrics_write_ports(struct pw_text *t, const struct pw_live *l, struct pw_portcap *cap,
			    const struct pw_metrics_opts *o);

#endif
