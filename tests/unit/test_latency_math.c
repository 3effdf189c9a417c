// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Percentiles from log-linear buckets, and the latency report. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "render/latency.h"

static void add(struct pw_lat *l, __u64 ns, __u64 times)
{
	l->bucket[pw_hist_bucket(ns)] += times;
	l->count += times;
	l->sum_ns += ns * times;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

static void test_quantile_empty(void **state)
{
	struct pw_lat l = {};

	(void)state;
	assert_float_equal(pw_lat_quantile_ns(&l, 0.5), 0, 0);
}

/* Every estimate lies in the bucket that holds the true value, so within
 * 12.5% of it, and never above the largest value seen. */
static void test_quantile_two_classes(void **state)
{
	struct pw_lat *l = calloc(1, sizeof(*l));
	double p50, p95;

	(void)state;
	add(l, 5100000, 120); /* 5.1 ms */
	add(l, 80300000, 80); /* 80.3 ms */
	p50 = pw_lat_quantile_ns(l, 0.50);
	p95 = pw_lat_quantile_ns(l, 0.95);
	assert_true(p50 >= 5100000 / 1.125 && p50 <= 5100000 * 1.125);
	assert_true(p95 >= 80300000 / 1.125 && p95 <= 80300000);
	assert_float_equal(pw_lat_quantile_ns(l, 1.0), 80300000, 0);
	assert_true(pw_lat_quantile_ns(l, 0.0) <= 5100000);
	free(l);
}

static void test_quantile_interpolates(void **state)
{
	struct pw_lat *l = calloc(1, sizeof(*l));
	__u32 b = pw_hist_bucket(1000000);
	double lower = (double)pw_hist_upper_ns(b - 1) + 1, upper = (double)pw_hist_upper_ns(b);

	(void)state;
	/* 100 values in one bucket, max at its top: the median is its middle. */
	l->bucket[b] = 100;
	l->count = 100;
	l->max_ns = (__u64)upper;
	assert_float_equal(pw_lat_quantile_ns(l, 0.5), lower + (upper - lower) / 2, 1);
	assert_float_equal(pw_lat_quantile_ns(l, 0.01), lower + (upper - lower) / 100, 1);
	/* Overflow bucket: the max is all we know. */
	memset(l, 0, sizeof(*l));
	add(l, 1ULL << 50, 3);
	assert_float_equal(pw_lat_quantile_ns(l, 0.5), (double)(1ULL << 50), 0);
	free(l);
}

static void test_add_sub(void **state)
{
	struct pw_lat *a = calloc(3, sizeof(*a)), *b = a + 1, *d = a + 2;

	(void)state;
	add(a, 1000000, 2);
	add(b, 3000000, 1);
	pw_lat_add(a, b);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->max_ns, 3000000);
	assert_int_equal(a->sum_ns, 5000000);
	pw_lat_sub(d, a, b);
	assert_int_equal(d->count, 2);
	assert_int_equal(d->bucket[pw_hist_bucket(3000000)], 0);
	assert_int_equal(d->bucket[pw_hist_bucket(1000000)], 2);
	free(a);
}

static void test_report(void **state)
{
	struct pw_live_row *r = calloc(1, sizeof(*r));
	struct pw_lat *h = calloc(PW_H_MAX, sizeof(*h));
	struct pw_lat *l = &h[PW_H_LAT];
	json_t *doc, *b, *c;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(r);
	assert_non_null(h);
	for (int k = 0; k < PW_H_MAX; k++)
		r->hist[k] = &h[k];
	r->key.port = 3001;
	r->key.dir = PW_DIR_OUTBOUND;
	add(l, 5100000, 120);
	add(l, 80300000, 80);
	add(&h[PW_H_CONNECT], 60000, 4);
	r->counter[PW_C_CONNECT_REFUSED] = 3;
	r->counter[PW_C_CONNECT_TIMEOUT] = 1;
	assert_true(pw_lat_row_has_data(r));
	f = open_memstream(&buf, &len);
	pw_lat_print(f, r, false);
	fclose(f);
	assert_non_null(strstr(buf, "port 3001 outbound: 200 requests  p50 "));
	assert_non_null(strstr(buf, "max 80.3ms"));
	/* One bar per power of two from the first to the last non-empty. */
	assert_non_null(strstr(buf, "4.2ms -> 8.4ms     : 120      |****"));
	assert_non_null(strstr(buf, "67.1ms -> 134.2ms   : 80       |****"));
	assert_non_null(strstr(buf, "8.4ms -> 16.8ms    : 0        |     "));
	assert_non_null(strstr(buf, "  connects: 4  p50 "));
	assert_non_null(strstr(buf, "failed: 3 refused, 1 timed out, 0 other\n"));
	free(buf);
	/* Several namespaces: each block says which (they were alike). */
	r->key.netns = 4026532417U;
	f = open_memstream(&buf, &len);
	pw_lat_print(f, r, true);
	fclose(f);
	assert_non_null(strstr(buf, "port 3001 outbound in netns 4026532417: 200 requests"));
	free(buf);
	r->key.netns = 0;

	doc = pw_lat_json(r, false);
	c = json_object_get(doc, "connect");
	assert_int_equal(json_integer_value(json_object_get(c, "count")), 4);
	assert_float_equal(json_real_value(json_object_get(c, "max_seconds")), 0.00006, 1e-9);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "failures"), "refused")), 3);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "failures"), "timed_out")),
		1);
	assert_int_equal(json_integer_value(json_object_get(doc, "count")), 200);
	assert_string_equal(json_string_value(json_object_get(doc, "direction")), "outbound");
	assert_float_equal(json_real_value(json_object_get(doc, "max_seconds")), 0.0803, 1e-9);
	assert_null(json_object_get(doc, "netns"));
	assert_int_equal(json_array_size(json_object_get(doc, "buckets")), 2);
	b = json_array_get(json_object_get(doc, "buckets"), 0);
	assert_int_equal(json_integer_value(json_object_get(b, "count")), 120);
	assert_true(json_real_value(json_object_get(b, "le_seconds")) >= 0.0051);
	assert_true(json_real_value(json_object_get(b, "le_seconds")) <= 0.0051 * 1.125);
	json_decref(doc);
	free(h);
	free(r);
}

/* Accept-queue waits: their own line and JSON object; a row with only
 * accepts is still worth reporting. */
static void test_report_accepts(void **state)
{
	struct pw_live_row *r = calloc(1, sizeof(*r));
	struct pw_lat *h = calloc(PW_H_MAX, sizeof(*h));
	char *buf = NULL;
	size_t len = 0;
	json_t *a, *b;
	FILE *f;

	(void)state;
	assert_non_null(r);
	assert_non_null(h);
	r->key.port = 8080;
	r->key.dir = PW_DIR_INBOUND;
	assert_false(pw_lat_row_has_data(r));
	for (int k = 0; k < PW_H_MAX; k++)
		r->hist[k] = &h[k];
	assert_false(pw_lat_row_has_data(r));
	add(&h[PW_H_ACCEPT], 50000000, 3);
	add(&h[PW_H_ACCEPT], 200000000, 1);
	assert_true(pw_lat_row_has_data(r));
	f = open_memstream(&buf, &len);
	pw_lat_print_accepts(f, r);
	fclose(f);
	assert_non_null(strstr(buf, "  accepts: 4  p50 "));
	assert_non_null(strstr(buf, "max 200.0ms\n"));
	free(buf);

	a = pw_lat_accept_json(r);
	assert_int_equal(json_integer_value(json_object_get(a, "count")), 4);
	assert_float_equal(json_real_value(json_object_get(a, "max_seconds")), 0.2, 1e-9);
	assert_true(json_real_value(json_object_get(a, "p50_seconds")) >= 0.05 / 1.125);
	assert_true(json_real_value(json_object_get(a, "p50_seconds")) <= 0.05 * 1.125);
	assert_int_equal(json_array_size(json_object_get(a, "buckets")), 2);
	b = json_array_get(json_object_get(a, "buckets"), 1);
	assert_int_equal(json_integer_value(json_object_get(b, "count")), 1);
	assert_true(json_real_value(json_object_get(b, "le_seconds")) >= 0.2);
	json_decref(a);
	free(h);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantile_empty),
		cmocka_unit_test(test_quantile_two_classes),
		cmocka_unit_test(test_quantile_interpolates),
		cmocka_unit_test(test_add_sub),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_report_accepts),
	};

	return cmocka_run_group_tests_name("latency_math", tests, NULL, NULL);
}
