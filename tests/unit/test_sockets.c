// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Classification by service port and direction, owner join, per-port rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "model/sockets.h"

static const struct pw_port_range eph = { 32768, 60999 };

static struct pw_sock_rec sock(__u64 sk, __u8 state, __u16 sport, __u16 dport)
{
	struct pw_sock_rec r = {
		.sk = sk, .family = AF_INET, .state = state, .sport = sport, .dport = dport
	};

	return r;
}

static void listen_on(__u64 *map, __u16 port)
{
	map[port / 64] |= 1ULL << (port % 64);
}

static void test_classify(void **state)
{
	__u64 listening[65536 / 64] = {};
	struct pw_sock_rec r;
	__u16 port;

	(void)state;
	listen_on(listening, 3001);
	listen_on(listening, 40000);

	r = sock(1, PW_TCP_LISTEN, 3001, 0);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_LISTEN);
	assert_int_equal(port, 3001);
	/* Accepted by our listener. */
	r = sock(2, PW_TCP_CLOSE_WAIT, 3001, 46582);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_INBOUND);
	assert_int_equal(port, 3001);
	/* A listener inside the ephemeral range still makes a server port. */
	r = sock(3, PW_TCP_ESTABLISHED, 40000, 50000);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_INBOUND);
	assert_int_equal(port, 40000);
	/* A client of a remote backend: counted under the backend's port. */
	r = sock(4, PW_TCP_ESTABLISHED, 46582, 5432);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_OUTBOUND);
	assert_int_equal(port, 5432);
	/* A client of our own listener over loopback is outbound too. */
	r = sock(5, PW_TCP_FIN_WAIT2, 46582, 3001);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_OUTBOUND);
	assert_int_equal(port, 3001);
	/* The listener has gone: the server side keeps its fixed port and
	 * never becomes a row for the client's ephemeral port. */
	r = sock(6, PW_TCP_CLOSE_WAIT, 8080, 46582);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_INBOUND);
	assert_int_equal(port, 8080);
	/* Both ends ephemeral and no listener: the remote end is the service. */
	r = sock(7, PW_TCP_ESTABLISHED, 50001, 50002);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_OUTBOUND);
	assert_int_equal(port, 50002);
	/* Range bounds are inclusive. */
	r = sock(8, PW_TCP_ESTABLISHED, 9000, 32768);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_INBOUND);
	r = sock(9, PW_TCP_ESTABLISHED, 9000, 60999);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_INBOUND);
	r = sock(10, PW_TCP_ESTABLISHED, 9000, 61000);
	assert_int_equal(pw_classify(&r, listening, eph, &port), PW_DIR_OUTBOUND);
	assert_int_equal(port, 61000);
}

static void make_snap(struct pw_snap *snap, const struct pw_sock_rec *socks, size_t n,
		      const struct pw_file_rec *files, size_t nf)
{
	memset(snap, 0, sizeof(*snap));
	snap->socks = calloc(n, sizeof(*socks));
	snap->files = calloc(nf + 1, sizeof(*files));
	assert_non_null(snap->socks);
	assert_non_null(snap->files);
	if (n)
		memcpy(snap->socks, socks, n * sizeof(*socks));
	if (nf) /* files may be NULL then: memcpy's arguments must not be */
		memcpy(snap->files, files, nf * sizeof(*files));
	snap->nsocks = n;
	snap->nfiles = nf;
	snap->hz = 250;
	assert_int_equal(pw_snap_index(snap, eph), 0);
}

static void test_owners(void **state)
{
	const struct pw_sock_rec socks[] = {
		sock(0x100, PW_TCP_LISTEN, 3001, 0),
		sock(0x200, PW_TCP_CLOSE_WAIT, 3001, 40001),
		sock(0x300, PW_TCP_CLOSE_WAIT, 3001, 40002),
	};
	/* Unsorted on purpose; 0x200 shared by two processes after fork. */
	const struct pw_file_rec files[] = {
		{ .sk = 0x200, .pid = 20, .fd = 5, .comm = "child" },
		{ .sk = 0x100, .pid = 10, .fd = 3, .comm = "server" },
		{ .sk = 0x200, .pid = 10, .fd = 4, .comm = "server" },
		{ .sk = 0x999, .pid = 30, .fd = 9, .comm = "other-netns" },
	};
	struct pw_snap snap;
	size_t first;

	(void)state;
	make_snap(&snap, socks, 3, files, 4);
	assert_int_equal(pw_snap_owners(&snap, 0x100, &first), 1);
	assert_int_equal(snap.files[first].pid, 10);
	assert_int_equal(pw_snap_owners(&snap, 0x200, &first), 2);
	assert_int_equal(snap.files[first].pid, 10);
	assert_int_equal(snap.files[first + 1].pid, 20);
	assert_int_equal(pw_snap_owners(&snap, 0x300, &first), 0);
	assert_int_equal(pw_snap_owners(&snap, 0x050, &first), 0);
	assert_int_equal(pw_snap_owners(&snap, 0xfff, &first), 0);
	pw_snap_free(&snap);
	pw_snap_free(NULL);
}

static void test_age(void **state)
{
	struct pw_sock_rec r = sock(1, PW_TCP_CLOSE_WAIT, 3001, 40000);
	struct pw_snap snap = { .hz = 250 };

	(void)state;
	/* Age: since the peer last sent anything (its FIN); idle: since
	 * data last came, which may be much earlier. */
	r.heard_jiffies = 3125;
	r.lastrcv_jiffies = 5000;
	assert_float_equal(pw_snap_age_seconds(&snap, &r), 12.5, 1e-9);
	assert_float_equal(pw_snap_idle_seconds(&snap, &r), 20, 1e-9);
	snap.hz = 1000;
	assert_float_equal(pw_snap_age_seconds(&snap, &r), 3.125, 1e-9);
	snap.hz = 0;
	assert_float_equal(pw_snap_age_seconds(&snap, &r), 0, 0);
	assert_float_equal(pw_snap_idle_seconds(&snap, &r), 0, 0);
}

static void test_rows(void **state)
{
	struct pw_sock_rec socks[] = {
		sock(1, PW_TCP_LISTEN, 3001, 0),
		sock(2, PW_TCP_LISTEN, 3001, 0), /* the IPv6 twin */
		sock(3, PW_TCP_CLOSE_WAIT, 3001, 40001),
		sock(4, PW_TCP_CLOSE_WAIT, 3001, 40002),
		sock(5, PW_TCP_ESTABLISHED, 3001, 40003),
		sock(6, PW_TCP_FIN_WAIT2, 40001, 3001),
		sock(7, PW_TCP_FIN_WAIT2, 40002, 3001),
		sock(8, PW_TCP_ESTABLISHED, 40003, 3001),
		sock(9, PW_TCP_TIME_WAIT, 45000, 443),
		sock(10, PW_TCP_SYN_RECV, 3001, 40004),
	};
	struct pw_portset filter = {};
	struct pw_live l = {};
	struct pw_live_row *rows;
	struct pw_snap snap;
	const char *why;
	size_t n;

	(void)state;
	socks[0].rx_queue = 2;
	socks[0].tx_queue = 128;
	socks[1].rx_queue = 3;
	socks[1].tx_queue = 64;
	make_snap(&snap, socks, sizeof(socks) / sizeof(socks[0]), NULL, 0);
	assert_int_equal(pw_live_from_snap(&l, &snap, &filter, 1000 * PW_NSEC_PER_SEC), 0);
	rows = l.rows;
	n = l.n;
	assert_int_equal(n, 4);
	/* Sorted by port, then listen, inbound, outbound. */
	assert_int_equal(rows[0].key.port, 443);
	assert_int_equal(rows[0].key.dir, PW_DIR_OUTBOUND);
	assert_int_equal(rows[0].states[PW_TCP_TIME_WAIT], 1);
	assert_int_equal(rows[1].key.port, 3001);
	assert_int_equal(rows[1].key.dir, PW_DIR_LISTEN);
	assert_int_equal(rows[1].states[PW_TCP_LISTEN], 2);
	/* The fullest listener's queue (3/64 over 2/128), never a sum. */
	assert_int_equal(rows[1].acceptq, 3);
	assert_int_equal(rows[1].acceptq_max, 64);
	assert_int_equal(rows[2].key.dir, PW_DIR_INBOUND);
	assert_int_equal(rows[2].states[PW_TCP_CLOSE_WAIT], 2);
	assert_int_equal(rows[2].states[PW_TCP_ESTABLISHED], 1);
	assert_int_equal(rows[2].states[PW_TCP_SYN_RECV], 1);
	assert_int_equal(rows[2].acceptq, 0);
	assert_int_equal(rows[3].key.dir, PW_DIR_OUTBOUND);
	assert_int_equal(rows[3].states[PW_TCP_FIN_WAIT2], 2);
	assert_int_equal(rows[3].states[PW_TCP_ESTABLISHED], 1);

	assert_int_equal(pw_portset_add(&filter, "443", &why), 0);
	assert_int_equal(pw_live_from_snap(&l, &snap, &filter, 1000 * PW_NSEC_PER_SEC), 0);
	rows = l.rows;
	n = l.n;
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].key.port, 443);

	assert_int_equal(pw_portset_add(&filter, "9", &why), 0);
	memset(&filter, 0, sizeof(filter));
	assert_int_equal(pw_portset_add(&filter, "9", &why), 0);
	assert_int_equal(pw_live_from_snap(&l, &snap, &filter, 1000 * PW_NSEC_PER_SEC), 0);
	rows = l.rows;
	n = l.n;
	assert_int_equal(n, 0);
	pw_live_free(&l);
	pw_snap_free(&snap);
}

/* Several namespaces (their sockets contiguous, as a snapshot appends
 * them): the same port makes a row per namespace, sorted by namespace. */
static void test_rows_netns(void **state)
{
	const struct pw_sock_rec socks[] = {
		sock(0x100, PW_TCP_LISTEN, 3001, 0),
		sock(0x200, PW_TCP_CLOSE_WAIT, 3001, 40001),
		sock(0x300, PW_TCP_LISTEN, 3001, 0),
		sock(0x400, PW_TCP_CLOSE_WAIT, 3001, 40001),
		sock(0x500, PW_TCP_CLOSE_WAIT, 3001, 40002),
		sock(0x600, PW_TCP_ESTABLISHED, 3001, 40003),
	};
	const __u32 ns[] = { 900, 900, 700, 700, 700, 500 };
	struct pw_portset all = {};
	struct pw_snap snap;
	struct pw_live l = {};
	struct pw_live_row *rows;
	size_t n;

	(void)state;
	make_snap(&snap, socks, 6, NULL, 0);
	snap.netns = malloc(sizeof(ns));
	assert_non_null(snap.netns);
	memcpy(snap.netns, ns, sizeof(ns));
	assert_int_equal(pw_live_from_snap(&l, &snap, &all, 1000 * PW_NSEC_PER_SEC), 0);
	rows = l.rows;
	n = l.n;
	assert_int_equal(n, 5);
	assert_int_equal(rows[0].key.netns, 500);
	assert_int_equal(rows[0].states[PW_TCP_ESTABLISHED], 1);
	assert_int_equal(rows[1].key.netns, 700);
	assert_int_equal(rows[1].key.dir, PW_DIR_LISTEN);
	assert_int_equal(rows[2].key.netns, 700);
	assert_int_equal(rows[2].key.dir, PW_DIR_INBOUND);
	assert_int_equal(rows[2].states[PW_TCP_CLOSE_WAIT], 2);
	assert_int_equal(rows[3].key.netns, 900);
	assert_int_equal(rows[3].key.dir, PW_DIR_LISTEN);
	assert_int_equal(rows[4].key.netns, 900);
	assert_int_equal(rows[4].states[PW_TCP_CLOSE_WAIT], 1);
	pw_live_free(&l);
	pw_snap_free(&snap);
}

/* ss/lsof filters: state, family, holder's pid or name prefix. */
static void test_filter(void **state)
{
	struct pw_sock_rec socks[] = {
		sock(0x100, PW_TCP_LISTEN, 3001, 0),
		sock(0x200, PW_TCP_CLOSE_WAIT, 3001, 40001),
		sock(0x300, PW_TCP_ESTABLISHED, 3001, 40002),
		sock(0x400, PW_TCP_CLOSE_WAIT, 3001, 40003),
	};
	const struct pw_file_rec files[] = {
		{ .sk = 0x100, .pid = 10, .fd = 3, .comm = "gunicorn" },
		{ .sk = 0x200, .pid = 11, .fd = 7, .comm = "gunicorn" },
		{ .sk = 0x300, .pid = 12, .fd = 8, .comm = "python3" },
	};
	struct pw_sock_filter f = {};
	struct pw_snap snap;

	(void)state;
	socks[3].family = AF_INET6;
	make_snap(&snap, socks, 4, files, 3);
	f.states = 1U << PW_TCP_CLOSE_WAIT;
	pw_snap_filter(&snap, &f);
	assert_int_equal(snap.nsocks, 2);
	assert_int_equal(snap.socks[0].sk, 0x200);
	assert_int_equal(snap.socks[1].sk, 0x400);
	assert_int_equal(snap.port[1], 3001);
	pw_snap_free(&snap);

	make_snap(&snap, socks, 4, files, 3);
	f = (struct pw_sock_filter){ .family = AF_INET6 };
	pw_snap_filter(&snap, &f);
	assert_int_equal(snap.nsocks, 1);
	assert_int_equal(snap.socks[0].sk, 0x400);
	pw_snap_free(&snap);

	/* A name prefix matches two processes; the orphan 0x400 goes. */
	make_snap(&snap, socks, 4, files, 3);
	f = (struct pw_sock_filter){ .comm = "guni" };
	pw_snap_filter(&snap, &f);
	assert_int_equal(snap.nsocks, 2);
	assert_int_equal(snap.socks[0].sk, 0x100);
	assert_int_equal(snap.socks[1].sk, 0x200);
	pw_snap_free(&snap);

	make_snap(&snap, socks, 4, files, 3);
	f = (struct pw_sock_filter){ .pid = 12 };
	pw_snap_filter(&snap, &f);
	assert_int_equal(snap.nsocks, 1);
	assert_int_equal(snap.socks[0].sk, 0x300);
	pw_snap_free(&snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),   cmocka_unit_test(test_owners),
		cmocka_unit_test(test_age),	   cmocka_unit_test(test_rows),
		cmocka_unit_test(test_rows_netns), cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests_name("sockets", tests, NULL, NULL);
}
