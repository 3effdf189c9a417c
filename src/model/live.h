/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Live rows: what the tracker reads each interval, and the rates between
 * two reads. Pure logic. */
#ifndef PW_LIVE_H
#define PW_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include "pw_track.h"

/* A row's histograms, all since portwatch started. 2.4 KB each, so kept
 * out of the row and made when first filled: most rows have one or none
 * (CLOSE_WAIT times on an inbound row; latency off by default), and rows
 * are read, copied and sorted at every interval. */
enum pw_hist_kind {
	PW_H_CW, /* time spent in CLOSE_WAIT (no max_ns) */
	PW_H_LAT, /* request latency */
	PW_H_CONNECT, /* connect latency (outbound) */
	PW_H_ACCEPT, /* accept-queue wait (inbound) */
	PW_H_RESP, /* response: to the answer's last byte */
	PW_H_MAX,
};

struct pw_live_row {
	struct pw_key key;
	__s64 states[PW_STATE_SLOTS]; /* current sockets per state */
	__u64 counter[PW_C_MAX]; /* totals since portwatch started */
	/* Owned by the table the row is in (pw_live_hist); NULL: empty. */
	struct pw_lat *hist[PW_H_MAX];
	/* Listen rows: the fullest listener's accept queue and its limit
	 * (per listener, never summed: IPv4 and IPv6 sockets, or
	 * SO_REUSEPORT groups, each have their own), and the segments the
	 * port's listeners dropped, since portwatch started or they were made. */
	__u32 acceptq, acceptq_max;
	__u64 listen_drops;
	__u64 cw_oldest_since_ns; /* 0: no CLOSE_WAIT socket */
	__u32 cw_oldest_pid;
	char cw_oldest_comm[PW_COMM_LEN];
};

struct pw_live {
	struct pw_live_row *rows;
	size_t n, cap;
	__u64 ts_ns; /* CLOCK_MONOTONIC of the read */
	/* Rows by key: open addressing, row index + 1 (0: free); rebuilt
	 * when it is too small for n or the rows moved (sorting). A read of
	 * thousands of rows adds every CPU's copy of each. */
	__u32 *index;
	size_t index_cap; /* a power of two, > 2 n; 0: none yet */
	size_t indexed; /* rows in the index: rebuilt when it is not n */
	bool index_stale;
	/* Histograms of rows reset, for the next ones to reuse. */
	struct pw_lat **spare;
	size_t n_spare, cap_spare;
};

/* A row's histogram to read: an empty one if the row has none. */
const struct pw_lat *pw_row_hist(const struct pw_live_row *r, enum pw_hist_kind k);
/* A histogram of a row of l to fill: made (zeroed) if the row has none
 * yet; NULL on ENOMEM. */
struct pw_lat *pw_live_hist(struct pw_live *l, struct pw_live_row *r, enum pw_hist_kind k);

/* The row for key, added zeroed if missing; NULL on ENOMEM. */
struct pw_live_row *pw_live_row(struct pw_live *l, const struct pw_key *key);
/* Adds one per-CPU stats value to its row. */
int pw_live_add_stats(struct pw_live *l, const struct pw_key *key, const struct pw_stats *s);
/* Counts a listener's accept queue towards its row's: the row shows the
 * fullest listener's (relative to its backlog), never a sum. */
void pw_live_add_listener(struct pw_live_row *r, __u32 depth, __u32 max);
/* Counts a CLOSE_WAIT socket towards its row's oldest. */
int pw_live_add_cw(struct pw_live *l, const struct pw_cw_sock *c);
/* Sorted by netns, port, direction. */
void pw_live_sort(struct pw_live *l);
/* to becomes a copy of from's rows (one copy, no per-row lookups). */
int pw_live_copy(struct pw_live *to, const struct pw_live *from);
void pw_live_reset(struct pw_live *l);
void pw_live_free(struct pw_live *l);
/* A row's counter growth since prev (0 if prev has no such row). */
__u64 pw_live_delta(const struct pw_live *prev, const struct pw_live_row *row, enum pw_counter c);
const struct pw_live_row *pw_live_find(const struct pw_live *l, const struct pw_key *key);
/* Adds one CPU's latency histogram into a total. */
void pw_lat_add(struct pw_lat *total, const struct pw_lat *one);
/* What `later` holds that `earlier` did not (max: later's). */
void pw_lat_sub(struct pw_lat *out, const struct pw_lat *later, const struct pw_lat *earlier);
/* Quantile q (0..1) estimated from the buckets: linear within the bucket
 * holding it, never above the largest value seen. 0 when empty. */
double pw_lat_quantile_ns(const struct pw_lat *l, double q);
/* Connect failures of any kind. */
__u64 pw_live_connect_failures(const __u64 *counter);
/* All of a row's counters added up. */
__u64 pw_live_counters_sum(const __u64 *counter);
/* Everything a row has counted (counters, histogram counts, listen drops):
 * it grows with any activity, and going back means the row started over. */
__u64 pw_live_row_total(const struct pw_live_row *r);

#endif
