// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus text: histogram bounds on kernel buckets, the port cap, and
 * the exact text for known rows. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "render/format.h"
#include "render/metrics.h"

static void test_le_exact_decimal(void **state)
{
	char buf[32];

	(void)state;
	pw_bounds_le(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0.000001023");
	/* 2^30 ns - 1, the top of the octave below 1.07 s. */
	pw_bounds_le(buf, sizeof(buf), pw_hist_bucket((1ULL << 30) - 1));
	assert_string_equal(buf, "1.073741823");
	pw_bounds_le(buf, sizeof(buf), pw_hist_bucket(1ULL << 30));
	assert_string_equal(buf, "1.207959551");
}

/* Each configured bound becomes the bound of the bucket holding it: never
 * below it, at most 12.5% above; repeats collapse. */
static void test_bounds_round_up(void **state)
{
	static const double secs[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				       0.5,   1,      2.5,   5,	   10,	  30,	60 };
	struct pw_bounds b;
	size_t i;

	(void)state;
	assert_int_equal(pw_bounds_init(&b, secs, 15), 0);
	assert_int_equal(b.n, 15);
	for (i = 0; i < b.n; i++) {
		double le = pw_hist_upper_ns(b.bucket[i]) / 1e9;

		assert_true(le >= secs[i]);
		assert_true(le <= secs[i] * 1.125);
		if (i)
			assert_true(b.bucket[i] > b.bucket[i - 1]);
	}
	/* 1.000 s and 1.001 s share a bucket. */
	assert_int_equal(pw_bounds_init(&b, (const double[]){ 1.0, 1.001 }, 2), 0);
	assert_int_equal(b.n, 1);
	/* An exact bucket bound maps to that bucket. */
	assert_int_equal(pw_bounds_init(&b, (const double[]){ 1.073741823 }, 1), 0);
	assert_int_equal(b.bucket[0], pw_hist_bucket((1ULL << 30) - 1));
}

static void test_bounds_reject(void **state)
{
	struct pw_bounds b;

	(void)state;
	assert_int_equal(pw_bounds_init(&b, (const double[]){ 0 }, 1), -EINVAL);
	assert_int_equal(pw_bounds_init(&b, (const double[]){ -1 }, 1), -EINVAL);
	assert_int_equal(pw_bounds_init(&b, (const double[]){ 2, 1 }, 2), -EINVAL);
	assert_int_equal(pw_bounds_init(&b, (const double[]){ 1e6 }, 1), -EINVAL);
}

static struct pw_live_row *inb(struct pw_live *l, __u16 port, __s64 cw, __u64 opened)
{
	struct pw_live_row *r =
		pw_live_row(l, &(struct pw_key){ .netns = 1, .port = port, .dir = PW_DIR_INBOUND });

	r->states[PW_TCP_CLOSE_WAIT] = cw;
	r->counter[PW_C_OPENED] = opened;
	return r;
}

#define CW(port)                                                                                   \
	"portwatch_tcp_connections{port=\"" port "\",direction=\"inbound\",state=\"close_wait\"} "
#define OPENED(port) "portwatch_connections_opened_total{port=\"" port "\",direction=\"inbound\"} "

/* Ports by activity: the busiest get places; a busy newcomer takes the
 * place of an idle member; a forgotten port gives its place up; "other"
 * only ever grows. */
static void test_portcap(void **state)
{
	struct pw_portcap *c = calloc(1, sizeof(*c));
	struct pw_live l = {};
	struct pw_text t = {};
	struct pw_bounds b;
	struct pw_metrics_opts o = { .bounds = &b };

	(void)state;
	pw_bounds_init(&b, (const double[]){ 1 }, 1);
	pw_portcap_init(c, NULL, 0, 2);
	/* At most two ports: the busiest two. */
	inb(&l, 443, 1, 5);
	inb(&l, 80, 2, 7);
	inb(&l, 8080, 3, 0);
	l.ts_ns = 1;
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_non_null(strstr(t.s, CW("8080") "3\n"));
	assert_non_null(strstr(t.s, CW("80") "2\n"));
	assert_non_null(strstr(t.s, CW("other") "1\n"));
	assert_non_null(strstr(t.s, OPENED("other") "5\n"));
	assert_null(strstr(t.s, "port=\"443\""));

	/* 80 goes idle (no sockets, totals unchanged); 443 gets busy and takes
	 * its place. What 80 had stays with 80's gone series: "other" does not
	 * jump by it, nor fall back by 443's 5. */
	pw_live_reset(&l);
	inb(&l, 443, 4, 10);
	inb(&l, 80, 0, 7);
	inb(&l, 8080, 3, 0);
	l.ts_ns = 2;
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_non_null(strstr(t.s, CW("443") "4\n"));
	assert_non_null(strstr(t.s, OPENED("443") "10\n"));
	assert_non_null(strstr(t.s, CW("other") "0\n"));
	assert_non_null(strstr(t.s, OPENED("other") "5\n"));
	assert_null(strstr(t.s, "port=\"80\""));

	/* Under "other", 80 adds what it does from now on. */
	pw_live_reset(&l);
	inb(&l, 443, 4, 10);
	inb(&l, 80, 1, 9);
	inb(&l, 8080, 3, 0);
	l.ts_ns = 3;
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_non_null(strstr(t.s, OPENED("other") "7\n"));
	assert_non_null(strstr(t.s, CW("other") "1\n"));

	/* 8080 forgotten by the tracker (no row): its place goes to 9000. */
	pw_live_reset(&l);
	inb(&l, 443, 4, 10);
	inb(&l, 80, 1, 9);
	inb(&l, 9000, 2, 1);
	l.ts_ns = 4;
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_non_null(strstr(t.s, CW("9000") "2\n"));
	assert_non_null(strstr(t.s, OPENED("other") "7\n"));
	assert_null(strstr(t.s, "port=\"8080\""));

	/* An allowlist: only its ports, nothing under "other". */
	pw_portcap_free(c);
	pw_portcap_init(c, (const __u16[]){ 80 }, 1, 64);
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_null(strstr(t.s, "other"));
	assert_null(strstr(t.s, "9000"));
	assert_non_null(strstr(t.s, CW("80") "1\n"));
	pw_portcap_free(c);
	pw_text_free(&t);
	pw_live_free(&l);
	free(c);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)); hay++)
		n++;
	return n;
}

/* Two namespaces' rows of one port fold into one series; histogram counts
 * are cumulative and exact at the bounds; one HELP and TYPE per family. */
static const char *fake_names(__u32 netns)
{
	return netns == 2 ? "web-\"1\"" : "";
}

static void test_write_ports_text(void **state)
{
	struct pw_portcap *c = calloc(1, sizeof(*c));
	struct pw_live l = { .ts_ns = 100000000000ULL };
	struct pw_text t = {};
	struct pw_bounds b;
	struct pw_metrics_opts o = { .bounds = &b, .latency = true };
	struct pw_live_row *r;
	__u64 at = (1ULL << 20) - 1; /* the top of a bucket: counts under its le */

	(void)state;
	pw_bounds_init(&b, (const double[]){ at / 1e9, 0.5 }, 2);
	r = pw_live_row(&l, &(struct pw_key){ .netns = 1, .port = 3001, .dir = PW_DIR_INBOUND });
	r->states[PW_TCP_ESTABLISHED] = 3;
	r->states[PW_TCP_CLOSE_WAIT] = 2;
	r->counter[PW_C_OPENED] = 10;
	r->cw_oldest_since_ns = 40000000000ULL; /* 60 s old */
	pw_live_hist(&l, r, PW_H_LAT)->bucket[pw_hist_bucket(at)] = 4;
	pw_live_hist(&l, r, PW_H_LAT)->bucket[pw_hist_bucket(at + 1)] = 1;
	pw_live_hist(&l, r, PW_H_LAT)->bucket[pw_hist_bucket(2000000000)] = 1;
	pw_live_hist(&l, r, PW_H_LAT)->count = 6;
	pw_live_hist(&l, r, PW_H_LAT)->sum_ns = 2500000000ULL;
	pw_live_hist(&l, r, PW_H_ACCEPT)->bucket[pw_hist_bucket(at)] = 2;
	pw_live_hist(&l, r, PW_H_ACCEPT)->count = 2;
	pw_live_hist(&l, r, PW_H_ACCEPT)->sum_ns = 1000000ULL;
	r = pw_live_row(&l, &(struct pw_key){ .netns = 2, .port = 3001, .dir = PW_DIR_INBOUND });
	r->states[PW_TCP_CLOSE_WAIT] = 5;
	r->counter[PW_C_OPENED] = 1;
	r->cw_oldest_since_ns = 70000000000ULL;
	pw_live_hist(&l, r, PW_H_ACCEPT)->bucket[pw_hist_bucket(at + 1)] = 1;
	pw_live_hist(&l, r, PW_H_ACCEPT)->count = 1;
	pw_live_hist(&l, r, PW_H_ACCEPT)->sum_ns = 2000000ULL;
	r = pw_live_row(&l, &(struct pw_key){ .netns = 1, .port = 3001, .dir = PW_DIR_LISTEN });
	r->states[PW_TCP_LISTEN] = 1;
	r->acceptq = 2;
	r->acceptq_max = 1;
	r->listen_drops = 3;
	/* Another listener of the port (another namespace here): more queued,
	 * but far from its limit; the fullest is the figure, drops add up. */
	r = pw_live_row(&l, &(struct pw_key){ .netns = 2, .port = 3001, .dir = PW_DIR_LISTEN });
	r->acceptq = 3;
	r->acceptq_max = 128;
	r->listen_drops = 4;
	pw_live_row(&l, &(struct pw_key){ .netns = 1, .port = 3001, .dir = PW_DIR_OUTBOUND })
		->counter[PW_C_CONNECT_REFUSED] = 7;
	pw_portcap_init(c, NULL, 0, 64);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_int_equal(t.err, 0);

	assert_non_null(
		strstr(t.s, "{port=\"3001\",direction=\"inbound\",state=\"close_wait\"} 7\n"));
	assert_non_null(
		strstr(t.s, "{port=\"3001\",direction=\"inbound\",state=\"established\"} 3\n"));
	assert_non_null(strstr(t.s, "{port=\"3001\",direction=\"listen\",state=\"listen\"} 1\n"));
	assert_null(strstr(t.s, "direction=\"listen\",state=\"established\""));
	assert_non_null(strstr(t.s, "\nportwatch_accept_queue{port=\"3001\"} 2\n"));
	assert_non_null(strstr(t.s, "\nportwatch_accept_queue_max{port=\"3001\"} 1\n"));
	assert_non_null(strstr(t.s, "\nportwatch_listen_drops_total{port=\"3001\"} 7\n"));
	assert_null(strstr(t.s, "state=\"close\"}"));
	assert_non_null(strstr(t.s, "portwatch_close_wait_oldest_age_seconds{port=\"3001\","
				    "direction=\"inbound\"} 60.000000000\n"));
	assert_non_null(strstr(t.s, "portwatch_request_duration_seconds_bucket{port=\"3001\","
				    "direction=\"inbound\",le=\"0.001048575\"} 4\n"));
	assert_non_null(strstr(t.s, "portwatch_request_duration_seconds_bucket{port=\"3001\","
				    "direction=\"inbound\",le=\"+Inf\"} 6\n"));
	assert_non_null(strstr(t.s, "portwatch_request_duration_seconds_sum{port=\"3001\","
				    "direction=\"inbound\"} 2.500000000\n"));
	assert_non_null(strstr(t.s, "portwatch_request_duration_seconds_count{port=\"3001\","
				    "direction=\"inbound\"} 6\n"));
	/* 0.5 s rounds up to its bucket's bound; holds the 5 below it. */
	assert_non_null(strstr(t.s, "le=\"0.503316479\"} 5\n"));
	assert_non_null(strstr(t.s, "portwatch_connections_opened_total{port=\"3001\","
				    "direction=\"inbound\"} 11\n"));
	assert_non_null(strstr(t.s, "portwatch_connect_failures_total{port=\"3001\","
				    "direction=\"outbound\",reason=\"refused\"} 7\n"));
	assert_null(strstr(t.s, "portwatch_connect_failures_total{port=\"3001\","
				"direction=\"inbound\""));
	assert_int_equal(count(t.s, "# TYPE portwatch_request_duration_seconds histogram\n"), 1);
	assert_int_equal(count(t.s, "# HELP "), count(t.s, "# TYPE "));
	assert_int_equal(count(t.s, "# TYPE "), 17);
	/* Listeners per port: the listen row's LISTEN count. */
	assert_non_null(strstr(t.s, "# TYPE portwatch_listening gauge\n"));
	assert_non_null(strstr(t.s, "\nportwatch_listening{port=\"3001\"} 1\n"));
	assert_null(strstr(t.s, "portwatch_accept_wait_seconds"));

	/* Accept-queue waits, when measured: inbound rows only, folded too. */
	o.accept_wait = true;
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_int_equal(count(t.s, "# TYPE portwatch_accept_wait_seconds histogram\n"), 1);
	assert_non_null(strstr(t.s, "portwatch_accept_wait_seconds_bucket{port=\"3001\","
				    "direction=\"inbound\",le=\"0.001048575\"} 2\n"));
	assert_non_null(strstr(t.s, "portwatch_accept_wait_seconds_bucket{port=\"3001\","
				    "direction=\"inbound\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(t.s, "portwatch_accept_wait_seconds_sum{port=\"3001\","
				    "direction=\"inbound\"} 0.003000000\n"));
	assert_null(strstr(t.s, "portwatch_accept_wait_seconds_count{port=\"3001\","
				"direction=\"outbound\""));
	o.accept_wait = false;

	/* With a netns label the namespaces stay apart. */
	o.netns_label = true;
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	assert_non_null(strstr(t.s, "{netns=\"2\",port=\"3001\",direction=\"inbound\","
				    "state=\"close_wait\"} 5\n"));
	/* Named namespaces add netns_name (escaped), nothing else. */
	pw_set_netns_namer(fake_names);
	pw_text_reset(&t);
	pw_metrics_write_ports(&t, &l, c, &o);
	pw_set_netns_namer(NULL);
	assert_non_null(strstr(t.s, "{netns=\"2\",netns_name=\"web-\\\"1\\\"\",port=\"3001\","
				    "direction=\"inbound\",state=\"close_wait\"} 5\n"));
	assert_non_null(strstr(t.s, "\nportwatch_listening{netns=\"2\",netns_name=\"web-"));
	pw_portcap_free(c);
	pw_text_free(&t);
	pw_live_free(&l);
	free(c);
}

static void test_label_escape(void **state)
{
	struct pw_text t = {};

	(void)state;
	pw_metrics_label_value(&t, "a\"b\\c\nd");
	assert_string_equal(t.s, "a\\\"b\\\\c\\nd");
	pw_text_free(&t);
}

/* Rows sorted by netns, port and direction, each with its own contents
 * (the sort moves whole rows by a permutation of an index). */
static void test_live_sort(void **state)
{
	struct pw_live l = {};
	struct pw_key k = {};
	size_t i, n = 3001;
	__u64 prev = 0, r;

	(void)state;
	srand(7);
	for (i = 0; i < n; i++) {
		k.netns = (__u32)(rand() % 3 + 1);
		k.port = (__u16)(rand() % 65536);
		k.dir = (__u8)(rand() % 3);
		if (pw_live_find(&l, &k))
			continue;
		struct pw_live_row *row = pw_live_row(&l, &k);

		assert_non_null(row);
		row->counter[PW_C_OPENED] = (__u64)k.netns * 1000000 + k.port * 10 + k.dir;
		pw_live_hist(&l, row, PW_H_LAT)->bucket[PW_HIST_BUCKETS - 1] = k.port;
	}
	assert_true(l.n > 2900);
	pw_live_sort(&l);
	for (i = 0; i < l.n; i++) {
		const struct pw_key *x = &l.rows[i].key;

		r = (__u64)x->netns << 32 | (__u64)x->port << 16 | x->dir;
		assert_true(i == 0 || r > prev);
		prev = r;
		assert_int_equal(l.rows[i].counter[PW_C_OPENED],
				 (__u64)x->netns * 1000000 + x->port * 10 + x->dir);
		assert_int_equal(pw_row_hist(&l.rows[i], PW_H_LAT)->bucket[PW_HIST_BUCKETS - 1],
				 x->port);
		assert_ptr_equal(pw_live_find(&l, x), &l.rows[i]);
	}
	pw_live_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_le_exact_decimal), cmocka_unit_test(test_bounds_round_up),
		cmocka_unit_test(test_bounds_reject),	 cmocka_unit_test(test_portcap),
		cmocka_unit_test(test_write_ports_text), cmocka_unit_test(test_label_escape),
		cmocka_unit_test(test_live_sort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
