// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Latency histograms as text bars (like bcc's biolatency) and JSON. */
#include <string.h>
#include "render/format.h"
#include "render/latency.h"

static const double quantiles[] = { 0.50, 0.90, 0.95, 0.99 };

/* "  what: N  p50 ..  max ..", without the line's end. */
static void print_summary(FILE *out, const char *what, const struct pw_lat *c)
{
	char q[16];
	size_t k;

	fprintf(out, "  %s: %llu", what, (unsigned long long)c->count);
	for (k = 0; c->count && k < sizeof(quantiles) / sizeof(quantiles[0]); k++) {
		pw_format_duration(q, sizeof(q), pw_lat_quantile_ns(c, quantiles[k]));
		fprintf(out, "  p%.0f %s", quantiles[k] * 100, q);
	}
	if (c->count) {
		pw_format_duration(q, sizeof(q), (double)c->max_ns);
		fprintf(out, "  max %s", q);
	}
}

void pw_lat_print_accepts(FILE *out, const struct pw_live_row *r)
{
	print_summary(out, "accepts", pw_row_hist(r, PW_H_ACCEPT));
	fputc('\n', out);
}

static void print_connects(FILE *out, const struct pw_live_row *r)
{
	print_summary(out, "connects", pw_row_hist(r, PW_H_CONNECT));
	fprintf(out, "  failed: %llu refused, %llu timed out, %llu other\n",
		(unsigned long long)r->counter[PW_C_CONNECT_REFUSED],
		(unsigned long long)r->counter[PW_C_CONNECT_TIMEOUT],
		(unsigned long long)r->counter[PW_C_CONNECT_ERROR]);
}

bool pw_lat_row_has_data(const struct pw_live_row *r)
{
	return pw_row_hist(r, PW_H_LAT)->count || pw_row_hist(r, PW_H_RESP)->count ||
	       pw_row_hist(r, PW_H_CONNECT)->count || pw_row_hist(r, PW_H_ACCEPT)->count ||
	       r->counter[PW_C_UNANSWERED] || pw_live_connect_failures(r->counter);
}

static void print_hist(FILE *out, const struct pw_key *key, const struct pw_lat *l,
		       __u64 unanswered, bool netns);

void pw_lat_print(FILE *out, const struct pw_live_row *r, bool netns)
{
	const struct pw_lat *resp = pw_row_hist(r, PW_H_RESP);

	print_hist(out, &r->key, pw_row_hist(r, PW_H_LAT), r->counter[PW_C_UNANSWERED], netns);
	if (resp->count) {
		print_summary(out, "responses (to the last byte)", resp);
		fputc('\n', out);
	}
	if (r->key.dir == PW_DIR_OUTBOUND)
		print_connects(out, r);
}

static void print_hist(FILE *out, const struct pw_key *key, const struct pw_lat *l,
		       __u64 unanswered, bool netns)
{
	__u64 octave[PW_HIST_BUCKETS / PW_HIST_SUB + 2] = {}, most = 0;
	int first = -1, last = -1, o, i, width;
	char lo[16], hi[16], q[16];
	size_t k;
	__u32 b;

	fprintf(out, "port %u %s", key->port, pw_dir_name(key->dir));
	if (netns) {
		fprintf(out, " in netns %u", key->netns);
		if (pw_netns_named(key->netns)[0])
			fprintf(out, " (%s)", pw_netns_named(key->netns));
	}
	fprintf(out, ": %llu requests", (unsigned long long)l->count);
	for (k = 0; l->count && k < sizeof(quantiles) / sizeof(quantiles[0]); k++) {
		pw_format_duration(q, sizeof(q), pw_lat_quantile_ns(l, quantiles[k]));
		fprintf(out, "  p%.0f %s", quantiles[k] * 100, q);
	}
	if (l->count) {
		pw_format_duration(q, sizeof(q), (double)l->max_ns);
		fprintf(out, "  max %s", q);
	}
	if (unanswered)
		fprintf(out, "  unanswered %llu", (unsigned long long)unanswered);
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

		pw_format_duration(lo, sizeof(lo), from);
		pw_format_duration(hi, sizeof(hi), to);
		width = most ? (int)(octave[o] * 40 / most) : 0;
		fprintf(out, "  %9s -> %-9s : %-8llu |", lo, hi, (unsigned long long)octave[o]);
		for (i = 0; i < 40; i++)
			fputc(i < width ? '*' : ' ', out);
		fputs("|\n", out);
	}
}

static json_t *quantiles_json(const struct pw_lat *l)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "count", (json_int_t)l->count,
			 "p50_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.50)),
			 "p90_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.90)),
			 "p95_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.95)),
			 "p99_seconds", pw_json_ns_as_seconds(pw_lat_quantile_ns(l, 0.99)),
			 "max_seconds", pw_json_ns_as_seconds((double)l->max_ns));
}

json_t *pw_lat_accept_json(const struct pw_live_row *r)
{
	const struct pw_lat *a = pw_row_hist(r, PW_H_ACCEPT);
	json_t *o = quantiles_json(a);

	if (o)
		json_object_set_new(o, "buckets", pw_json_buckets(a->bucket));
	return o;
}

json_t *pw_lat_json(const struct pw_live_row *r, bool netns)
{
	const struct pw_lat *l = pw_row_hist(r, PW_H_LAT), *resp = pw_row_hist(r, PW_H_RESP);
	const struct pw_key *key = &r->key;
	json_t *obj, *connect;

	obj = json_pack("{s:i, s:s}", "port", key->port, "direction", pw_dir_name(key->dir));
	if (obj) {
		json_t *q = quantiles_json(l);

		json_object_update(obj, q);
		json_decref(q);
		json_object_set_new(obj, "buckets", pw_json_buckets(l->bucket));
		json_object_set_new(obj, "unanswered",
				    json_integer((json_int_t)r->counter[PW_C_UNANSWERED]));
		q = quantiles_json(resp);
		if (q)
			json_object_set_new(q, "buckets", pw_json_buckets(resp->bucket));
		json_object_set_new(obj, "response", q);
	}
	if (obj && key->dir == PW_DIR_OUTBOUND) {
		connect = quantiles_json(pw_row_hist(r, PW_H_CONNECT));
		json_object_set_new(connect, "failures",
				    json_pack("{s:I, s:I, s:I}", "refused",
					      (json_int_t)r->counter[PW_C_CONNECT_REFUSED],
					      "timed_out",
					      (json_int_t)r->counter[PW_C_CONNECT_TIMEOUT], "other",
					      (json_int_t)r->counter[PW_C_CONNECT_ERROR]));
		json_object_set_new(obj, "connect", connect);
	}
	if (obj && netns) {
		json_object_set_new(obj, "netns", json_integer(key->netns));
		pw_json_netns_name(obj, key->netns);
	}
	return obj;
}
