/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What `latency` prints: per-row histograms and percentiles. Pure logic. */
#ifndef PW_LATENCY_H
#define PW_LATENCY_H

#include <stdio.h>
#include <jansson.h>
#include "model/live.h"

/* Text: a header line with count and percentiles, then one bar per power
 * of two from the first non-empty bucket to the last; for outbound rows a
 * line on connects. */
void pw_lat_print(FILE *out, const struct pw_live_row *r, bool netns);
/* {"port", "direction", "count", "p50_seconds", ..., "max_seconds",
 *  "buckets": [{"le_seconds", "count"}]} with non-empty buckets only;
 * outbound rows add "connect": {"count", "p50_seconds", ..., "max_seconds",
 * "failures": {"refused", "timed_out", "other"}}. */
json_t *pw_lat_json(const struct pw_live_row *r, bool netns);
/* The accept-queue line of an inbound row: "  accepts: N  p50 ...  max ...". */
void pw_lat_print_accepts(FILE *out, const struct pw_live_row *r);
/* {"count", "p50_seconds", ..., "max_seconds", "buckets"} of the accept-queue
 * waits. */
json_t *pw_lat_accept_json(const struct pw_live_row *r);
/* Worth a report: requests, connects, failed connects or accepts. */
bool pw_lat_row_has_data(const struct pw_live_row *r);

#endif
