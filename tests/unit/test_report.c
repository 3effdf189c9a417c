// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Names, endpoints, ages, the states and closewait documents, and checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "render/format.h"
#include "render/report.h"

static const struct pw_port_range eph = { 32768, 60999 };

/* Captures what a printer writes. */
struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *capture_open(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	return c->f;
}

static const char *capture_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(pw_state_name(PW_TCP_CLOSE_WAIT), "CLOSE_WAIT");
	assert_string_equal(pw_state_name(PW_TCP_ESTABLISHED), "ESTABLISHED");
	assert_string_equal(pw_state_label(PW_TCP_FIN_WAIT1), "FIN-WAIT-1");
	assert_string_equal(pw_state_label(PW_TCP_NEW_SYN_RECV), "SYN-RECV");
	assert_null(pw_state_name(0));
	assert_null(pw_state_name(200));
	assert_string_equal(pw_dir_name(PW_DIR_INBOUND), "inbound");
	assert_string_equal(pw_dir_name(PW_DIR_OUTBOUND), "outbound");
	assert_string_equal(pw_dir_name(PW_DIR_LISTEN), "listen");
	assert_string_equal(pw_dir_name(99), "unknown");
}

static void test_endpoint(void **state)
{
	char buf[PW_ENDPOINT_LEN];
	__u8 a[16] = {};

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", a);
	pw_format_endpoint(buf, sizeof(buf), AF_INET, a, 3001);
	assert_string_equal(buf, "127.0.0.1:3001");
	pw_format_endpoint(buf, sizeof(buf), AF_INET, a, 0);
	assert_string_equal(buf, "127.0.0.1:*");
	inet_pton(AF_INET6, "::1", a);
	pw_format_endpoint(buf, sizeof(buf), AF_INET6, a, 3001);
	assert_string_equal(buf, "[::1]:3001");
	inet_pton(AF_INET6, "::ffff:10.0.0.1", a);
	pw_format_endpoint(buf, sizeof(buf), AF_INET6, a, 65535);
	assert_string_equal(buf, "[::ffff:10.0.0.1]:65535");
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", a);
	pw_format_endpoint(buf, sizeof(buf), AF_INET6, a, 65535);
	assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

static void test_age(void **state)
{
	static const struct {
		double s;
		const char *out;
	} cases[] = {
		{ -1, "0ms" },	     { 0, "0ms" },	   { 0.004, "4ms" },	{ 0.9999, "999ms" },
		{ 1.0, "1.0s" },     { 12.56, "12.5s" },   { 59.99, "59.9s" },	{ 60, "1m00s" },
		{ 192.7, "3m12s" },  { 3599.9, "59m59s" }, { 3600, "1h00m" },	{ 7500, "2h05m" },
		{ 86399, "23h59m" }, { 86400, "1d00h" },   { 360000, "4d04h" },
	};
	char buf[PW_AGE_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pw_format_age(buf, sizeof(buf), cases[i].s);
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_states_json(void **state)
{
	struct pw_live_row rows[2] = {};
	struct pw_live l = { .rows = rows, .n = 2 };
	json_t *doc, *o, *st;
	const char *key;
	json_t *v;
	int n = 0;

	(void)state;
	rows[0].key.port = 3001;
	rows[0].key.dir = PW_DIR_LISTEN;
	rows[0].states[PW_TCP_LISTEN] = 1;
	rows[0].acceptq = 3;
	rows[0].acceptq_max = 5;
	rows[1].key.port = 3001;
	rows[1].key.dir = PW_DIR_INBOUND;
	rows[1].states[PW_TCP_CLOSE_WAIT] = 57;
	doc = pw_states_json(&l);
	assert_non_null(doc);
	assert_int_equal(json_array_size(doc), 2);
	o = json_array_get(doc, 0);
	assert_string_equal(json_string_value(json_object_get(o, "direction")), "listen");
	assert_int_equal(json_integer_value(json_object_get(o, "accept_queue")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "accept_queue_max")), 5);
	o = json_array_get(doc, 1);
	assert_int_equal(json_integer_value(json_object_get(o, "port")), 3001);
	assert_null(json_object_get(o, "accept_queue"));
	st = json_object_get(o, "states");
	/* Every state ss can show is present, zero or not. */
	json_object_foreach (st, key, v) {
		assert_true(json_is_integer(v));
		n++;
	}
	assert_int_equal(n, 11);
	assert_int_equal(json_integer_value(json_object_get(st, "CLOSE_WAIT")), 57);
	assert_int_equal(json_integer_value(json_object_get(st, "ESTABLISHED")), 0);
	assert_null(json_object_get(st, "NEW_SYN_RECV"));
	json_decref(doc);
}

static void test_states_text(void **state)
{
	struct pw_live_row rows[2] = {};
	struct pw_live l = { .rows = rows, .n = 2 };
	struct capture c;
	const char *out;

	(void)state;
	rows[0].key.port = 3001;
	rows[0].key.dir = PW_DIR_LISTEN;
	rows[0].acceptq = 3;
	rows[0].acceptq_max = 5;
	rows[1].key.port = 3001;
	rows[1].key.dir = PW_DIR_INBOUND;
	rows[1].states[PW_TCP_CLOSE_WAIT] = 57;
	pw_states_print(capture_open(&c), &l, true);
	out = capture_close(&c);
	assert_non_null(strstr(out, "CLOSE-WAIT"));
	assert_non_null(strstr(out, "3/5\n"));
	assert_non_null(strstr(out, "3001  inbound           0          0          0         57"));
	free(c.buf);
}

/* Three CLOSE_WAIT sockets on 3001: one shared by two processes (one of
 * them through two fds), one orphan; plus one on 443 outbound. */
static void make_cw_snap(struct pw_snap *snap)
{
	static const struct pw_sock_rec socks[] = {
		{ .sk = 1, .family = AF_INET, .state = PW_TCP_LISTEN, .sport = 3001 },
		{ .sk = 2,
		  .family = AF_INET,
		  .state = PW_TCP_CLOSE_WAIT,
		  .sport = 3001,
		  .dport = 40001,
		  .lastrcv_jiffies = 250,
		  .heard_jiffies = 250,
		  .saddr = { 127, 0, 0, 1 },
		  .daddr = { 127, 0, 0, 1 } },
		{ .sk = 3,
		  .family = AF_INET,
		  .state = PW_TCP_CLOSE_WAIT,
		  .sport = 3001,
		  .dport = 40002,
		  .lastrcv_jiffies = 2500,
		  .heard_jiffies = 2500 },
		{ .sk = 4,
		  .family = AF_INET,
		  .state = PW_TCP_CLOSE_WAIT,
		  .sport = 3001,
		  .dport = 40003,
		  .lastrcv_jiffies = 25,
		  .heard_jiffies = 25 },
		{ .sk = 5,
		  .family = AF_INET6,
		  .state = PW_TCP_CLOSE_WAIT,
		  .sport = 50000,
		  .dport = 443,
		  .lastrcv_jiffies = 500,
		  .heard_jiffies = 500 },
		{ .sk = 6,
		  .family = AF_INET,
		  .state = PW_TCP_ESTABLISHED,
		  .sport = 3001,
		  .dport = 40004 },
	};
	static const struct pw_file_rec files[] = {
		{ .sk = 2, .pid = 100, .fd = 7, .comm = "server" },
		{ .sk = 2, .pid = 101, .fd = 7, .comm = "server" },
		{ .sk = 2, .pid = 101, .fd = 8, .comm = "server" },
		{ .sk = 3, .pid = 100, .fd = 9, .comm = "server" },
		{ .sk = 5, .pid = 200, .fd = 3, .comm = "curl" },
	};

	memset(snap, 0, sizeof(*snap));
	snap->nsocks = sizeof(socks) / sizeof(socks[0]);
	snap->nfiles = sizeof(files) / sizeof(files[0]);
	snap->socks = malloc(sizeof(socks));
	snap->files = malloc(sizeof(files));
	assert_non_null(snap->socks);
	assert_non_null(snap->files);
	memcpy(snap->socks, socks, sizeof(socks));
	memcpy(snap->files, files, sizeof(files));
	snap->hz = 250;
	assert_int_equal(pw_snap_index(snap, eph), 0);
}

static void test_cw_collect_and_group(void **state)
{
	struct pw_portset filter = {};
	struct pw_cw_group *g;
	struct pw_snap snap;
	struct pw_cw *list;
	const char *why;
	size_t n, ng;

	(void)state;
	make_cw_snap(&snap);
	assert_int_equal(pw_cw_collect(&snap, &filter, 0, &list, &n), 0);
	assert_int_equal(n, 4);
	/* Oldest first. */
	assert_int_equal(snap.socks[list[0].sock].sk, 3);
	assert_float_equal(list[0].age_seconds, 10.0, 1e-9);
	assert_int_equal(snap.socks[list[1].sock].sk, 5);
	assert_int_equal(snap.socks[list[2].sock].sk, 2);
	assert_int_equal(snap.socks[list[3].sock].sk, 4);

	assert_int_equal(pw_cw_group(&snap, list, n, &g, &ng), 0);
	assert_int_equal(ng, 4);
	/* pid 100 holds sockets 2 and 3; pid 101 holds socket 2 twice but
	 * counts it once; socket 4 has no owner. */
	assert_int_equal(g[0].pid, 100);
	assert_int_equal(g[0].count, 2);
	assert_float_equal(g[0].oldest_seconds, 10.0, 1e-9);
	assert_int_equal(g[1].pid, 200);
	assert_int_equal(g[1].port, 443);
	assert_int_equal(g[1].dir, PW_DIR_OUTBOUND);
	assert_int_equal(g[2].pid, 101);
	assert_int_equal(g[2].count, 1);
	assert_int_equal(g[3].pid, 0);
	assert_string_equal(g[3].comm, "(orphan)");
	free(g);
	free(list);

	assert_int_equal(pw_cw_collect(&snap, &filter, 1.0, &list, &n), 0);
	assert_int_equal(n, 3); /* 1.0 s itself is included */
	free(list);
	assert_int_equal(pw_portset_add(&filter, "443", &why), 0);
	assert_int_equal(pw_cw_collect(&snap, &filter, 0, &list, &n), 0);
	assert_int_equal(n, 1);
	free(list);
	pw_snap_free(&snap);
}

static void test_cw_json(void **state)
{
	struct pw_portset filter = {};
	struct pw_snap snap;
	struct pw_cw *list;
	json_t *doc, *o, *owners;
	size_t n;

	(void)state;
	make_cw_snap(&snap);
	assert_int_equal(pw_cw_collect(&snap, &filter, 0, &list, &n), 0);
	doc = pw_cw_json(&snap, list, n);
	assert_int_equal(json_array_size(doc), 4);
	o = json_array_get(doc, 2);
	assert_int_equal(json_integer_value(json_object_get(o, "port")), 3001);
	assert_string_equal(json_string_value(json_object_get(o, "direction")), "inbound");
	assert_string_equal(json_string_value(json_object_get(o, "local")), "127.0.0.1:3001");
	assert_string_equal(json_string_value(json_object_get(o, "remote")), "127.0.0.1:40001");
	assert_float_equal(json_real_value(json_object_get(o, "age_seconds")), 1.0, 1e-9);
	owners = json_object_get(o, "owners");
	assert_int_equal(json_array_size(owners), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(owners, 0), "pid")),
			 100);
	assert_string_equal(json_string_value(json_object_get(json_array_get(owners, 0), "comm")),
			    "server");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(owners, 2), "fd")), 8);
	o = json_array_get(doc, 1);
	assert_string_equal(json_string_value(json_object_get(o, "local")), "[::]:50000");
	o = json_array_get(doc, 3);
	assert_int_equal(json_array_size(json_object_get(o, "owners")), 0);
	json_decref(doc);
	free(list);
	pw_snap_free(&snap);
}

static void test_check_eval(void **state)
{
	struct pw_threshold t = { .has_warn = true, .warn = 10, .has_crit = true, .crit = 50 };
	struct pw_threshold only_crit = { .has_crit = true, .crit = 1 };
	struct pw_threshold zero = { .has_warn = true, .warn = 0 };

	(void)state;
	assert_int_equal(pw_check_eval(&t, 0), PW_CHECK_OK);
	assert_int_equal(pw_check_eval(&t, 9), PW_CHECK_OK);
	assert_int_equal(pw_check_eval(&t, 10), PW_CHECK_WARNING);
	assert_int_equal(pw_check_eval(&t, 49), PW_CHECK_WARNING);
	assert_int_equal(pw_check_eval(&t, 50), PW_CHECK_CRITICAL);
	assert_int_equal(pw_check_eval(&t, 1000000), PW_CHECK_CRITICAL);
	assert_int_equal(pw_check_eval(&only_crit, 0), PW_CHECK_OK);
	assert_int_equal(pw_check_eval(&only_crit, 1), PW_CHECK_CRITICAL);
	assert_int_equal(pw_check_eval(&zero, 0), PW_CHECK_WARNING);
	assert_string_equal(pw_check_name(PW_CHECK_UNKNOWN), "UNKNOWN");
}

static void test_check_line(void **state)
{
	struct pw_threshold t = { .has_warn = true, .warn = 2, .has_crit = true, .crit = 5 };
	struct pw_threshold w = { .has_warn = true, .warn = 2 };
	struct pw_portset filter = {};
	struct pw_cw_group *g;
	struct pw_snap snap;
	struct pw_cw *list;
	struct capture c;
	size_t n, ng;

	(void)state;
	make_cw_snap(&snap);
	assert_int_equal(pw_cw_collect(&snap, &filter, 0, &list, &n), 0);
	assert_int_equal(pw_cw_group(&snap, list, n, &g, &ng), 0);
	pw_cw_check_print(capture_open(&c), PW_CHECK_WARNING, &t, list, n, g, ng);
	assert_string_equal(
		capture_close(&c),
		"CLOSEWAIT WARNING - 4 sockets in CLOSE_WAIT, oldest 10.0s; most on port "
		"3001 inbound: 2 held by server[100] | close_wait=4;2;5;0; "
		"close_wait_oldest=10.000s;;;0;\n");
	free(c.buf);
	pw_cw_check_print(capture_open(&c), PW_CHECK_OK, &w, list, 0, g, 0);
	assert_string_equal(capture_close(&c),
			    "CLOSEWAIT OK - 0 sockets in CLOSE_WAIT | "
			    "close_wait=0;2;;0; close_wait_oldest=0.000s;;;0;\n");
	free(c.buf);
	free(g);
	free(list);
	pw_snap_free(&snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),	    cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_age),	    cmocka_unit_test(test_states_json),
		cmocka_unit_test(test_states_text), cmocka_unit_test(test_cw_collect_and_group),
		cmocka_unit_test(test_cw_json),	    cmocka_unit_test(test_check_eval),
		cmocka_unit_test(test_check_line),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
