/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What `latency` prints: per-row histograms and percentiles. Pure logic. */
#ifndef PW_LATENCY_H
#define PW_LATENCY_H

#include <stdio.h>
#include <jansson.h>
#include "live.h"

/* Text: a header line with count and percentiles, then one bar per power
 * of two from the first non-empty bucket to the last. */
void pw_lat_print(FILE *out, const struct pw_key *key, const struct pw_lat *l);
/* {"port", "direction", "count", "p50_seconds", ..., "max_seconds",
 *  "buckets": [{"le_seconds", "count"}]} with non-empty buckets only. */
json_t *pw_lat_json(const struct pw_key *key, const struct pw_lat *l, bool netns);

#endif
