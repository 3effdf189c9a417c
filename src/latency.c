// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Latency histograms as text bars (like bcc's biolatency) and JSON. */
#include <string.h>
#include "format.h"
#include "latency.h"

static const double quantiles[] = { 0.50, 0.90, 0.95, 0.99 };

static void duration(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
}

void pw_lat_print(FILE *out, const struct pw_key *key, const struct pw_lat *l)
{
	__u64 octave[PW_HIST_BUCKETS / PW_HIST_SUB + 2] = {}, most = 0;
	int first = -1, last = -1, o, i, width;
	char lo[16], hi[16], q[16];
	size_t k;
	__u32 b;

	fprintf(out, "port %u %s: %llu requests", key->port, pw_dir_name(key->dir),
		(unsigned long long)l->count);
	for (k = 0; l->count && k < sizeof(quantiles) / sizeof(quantiles[0]); k++) {
		duration(q, sizeof(q), pw_lat_quantile_ns(l, quantiles[k]));
		fprintf(out, "  p%.0f %s", quantiles[k] * 100, q);
	}
	if (l->count) {
		duration(q, sizeof(q), (double)l->max_ns);
		fprintf(out, "  max %s", q);
	}
	fputc('\n', out);
	if (!l->count)
		return;
	/* Bucket 0 is everything below 2^PW_HIST_MIN_SHIFT: its own row 0. */
	for (b = 0; b < PW_HIST_BUCKETS; b++) {
		o = b == 0 ? 0 : (int)((b - 1) / PW_HIST_SUB) + 1;
		octave[o] += l->bucket[b];
	}
	for (o = 0; o < (int)(sizeof(octave) / sizeof(octave[0])); o++) {
		if (!octave[o])
			continue;
		if (first < 0)
			first = o;
		last = o;
		if (octave[o] > most)
			most = octave[o];
	}
	fprintf(out, "  %21s : %-8s %s\n", "range", "count", "distribution");
	for (o = first; o <= last; o++) {
		double from = o == 0 ? 0 : (double)(1ULL << (PW_HIST_MIN_SHIFT + o - 1));
		double to = (double)(1ULL << (PW_HIST_MIN_SHIFT + o)) - 1;

		duration(lo, sizeof(lo), from);
		duration(hi, sizeof(hi), to);
		width = most ? (int)(octave[o] * 40 / most) : 0;
		fprintf(out, "  %9s -> %-9s : %-8llu |", lo, hi, (unsigned long long)octave[o]);
		for (i = 0; i < 40; i++)
			fputc(i < width ? '*' : ' ', out);
		fputs("|\n", out);
	}
}

json_t *pw_lat_json(const struct pw_key *key, const struct pw_lat *l, bool netns)
{
	json_t *obj, *buckets = json_array();
	__u32 b;

	for (b = 0; buckets && b < PW_HIST_BUCKETS; b++) {
		json_t *le;

		if (!l->bucket[b])
			continue;
		le = b == PW_HIST_BUCKETS - 1 ? json_string("+Inf")
					      : json_real((double)pw_hist_upper_ns(b) / 1e9);
		json_array_append_new(buckets, json_pack("{s:o, s:I}", "le_seconds", le, "count",
							 (json_int_t)l->bucket[b]));
	}
	obj = json_pack("{s:i, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "port", key->port,
			"direction", pw_dir_name(key->dir), "count", (json_int_t)l->count,
			"p50_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.50)),
			"p90_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.90)),
			"p95_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.95)),
			"p99_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.99)),
			"max_seconds", pw_json_ns_as_seconds((double)l->max_ns), "buckets",
			buckets);
	if (obj && netns)
		json_object_set_new(obj, "netns", json_integer(key->netns));
	return obj;
}
