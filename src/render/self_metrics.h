/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The daemon's own metric families: what the BPF side lost and repaired,
 * reloads, program run times, kernel features, notifier deliveries and
 * alert states. Each writer takes the values it prints. Pure logic. */
#ifndef PW_SELF_METRICS_H
#define PW_SELF_METRICS_H

#include <stddef.h>
#include <linux/types.h>
#include "model/alert.h"
#include "pw_track.h"
#include "render/metrics.h"

struct pw_self_stats {
	__u64 drops[PW_DROP_MAX]; /* by reason */
	__u64 fixes[PW_FIX_MAX]; /* reconciliation repairs, by kind */
	__u64 missed; /* tracing program runs the kernel skipped */
	long long tracked; /* sockets counted, every state and port */
	__u64 reloads_ok, reloads_failed;
	double last_reload_ok; /* wall clock */
};

/* Drops, repairs, missed runs, tracked sockets and reloads. */
void pw_self_write_stats(struct pw_text *t, const struct pw_self_stats *s);

/* The BPF programs' run time and count, gathered one program at a time
 * (pw_self_prog_stat has the signature of pw_prog_stat_fn) so that each
 * family stays contiguous; written only if every sample fitted. */
struct pw_prog_text {
	struct pw_text secs, runs;
};
void pw_self_prog_stat(void *ctx, const char *prog, __u64 run_ns, __u64 runs);
void pw_self_write_prog_stats(struct pw_text *t, const struct pw_prog_text *p);
void pw_prog_text_free(struct pw_prog_text *p);

/* Per feature its id and the hook in use ("" when off). */
void pw_self_write_features(struct pw_text *t, const char *const *ids, const char *const *hooks,
			    size_t n);

void pw_self_write_build_info(struct pw_text *t);

/* One notifier's deliveries (see pw_notify_stats). */
struct pw_notifier_counts {
	const char *name;
	__u64 sent, failed, dropped, timeouts;
};
void pw_self_write_notifiers(struct pw_text *t, const struct pw_notifier_counts *c, size_t n);

/* Each rule's state, severity, last value and transitions. */
void pw_self_write_alerts(struct pw_text *t, const struct pw_alerts *a);

#endif
