// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The request-latency concern (bpf/latency.bpf.c, bpf/latency.bpf.h) and
 * the accept-queue wait (bpf/accept.bpf.c) at the skeleton level: their
 * programs loaded alone with the state hook, one request made by hand, and
 * the rows' histograms and counters read from the maps. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpf_test.h"

#define MS 1000000ULL

static void close_pair(struct bt_conn *c)
{
	close(c->cfd);
	close(c->afd);
	close(c->lfd);
}

/* Sends n bytes on fd and reads them on peer. */
static void pass(int fd, int peer, const char *what)
{
	char buf[16];
	size_t n = strlen(what);

	assert_int_equal(write(fd, what, n), (ssize_t)n);
	assert_int_equal(read(peer, buf, sizeof(buf)), (ssize_t)n);
}

/* One request answered 30 ms later: one request in the server's inbound
 * row and in the client's outbound row, each at least 30 ms (first byte
 * of the answer), once the connection's end records it. */
static void test_request(void **state)
{
	struct bt *t = *state;
	struct pw_lat in, out;
	struct bt_conn c;

	bt_connect_pair(&c, 3401);
	pass(c.cfd, c.afd, "GET /");
	usleep(30 * MS / 1000);
	pass(c.afd, c.cfd, "200 OK");
	close_pair(&c);
	assert_int_equal(bt_wait_row_gauge(t, 3401, PW_DIR_INBOUND, PW_TCP_LAST_ACK, 0), 0);
	usleep(50000);

	assert_int_equal(bt_lat(t, t->skel->maps.latency, 3401, PW_DIR_INBOUND, &in), 0);
	assert_int_equal(in.count, 1);
	assert_true(in.sum_ns >= 30 * MS && in.sum_ns < 1000 * MS);
	assert_int_equal(bt_lat(t, t->skel->maps.latency, 3401, PW_DIR_OUTBOUND, &out), 0);
	assert_int_equal(out.count, 1);
	assert_true(out.sum_ns >= 30 * MS && out.sum_ns < 1000 * MS);
	/* The answer's last byte is its first here: the same duration. */
	assert_int_equal(bt_lat(t, t->skel->maps.response, 3401, PW_DIR_INBOUND, &in), 0);
	assert_int_equal(in.count, 1);
	/* connect(): SYN_SENT to ESTABLISHED, outbound only. */
	assert_int_equal(bt_lat(t, t->skel->maps.connect_latency, 3401, PW_DIR_OUTBOUND, &out), 0);
	assert_int_equal(out.count, 1);
}

/* A request never answered (the client gives up and closes): counted as
 * unanswered at both ends, and in no histogram. */
static void test_unanswered(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct pw_lat l;
	struct bt_conn c;

	bt_connect_pair(&c, 3402);
	pass(c.cfd, c.afd, "GET /");
	usleep(10000);
	close_pair(&c);
	assert_int_equal(bt_wait_row_gauge(t, 3402, PW_DIR_INBOUND, PW_TCP_LAST_ACK, 0), 0);
	usleep(50000);
	assert_int_equal(bt_row(t, 3402, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.counter[PW_C_UNANSWERED], 1);
	assert_int_equal(bt_row(t, 3402, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.counter[PW_C_UNANSWERED], 1);
	if (!bt_lat(t, t->skel->maps.latency, 3402, PW_DIR_INBOUND, &l))
		assert_int_equal(l.count, 0);
}

/* A connection queued 30 ms before accept(): one wait of at least that in
 * the inbound row's accept histogram. */
static void test_accept_wait(void **state)
{
	struct bt *t = *state;
	int lfd, cfd, afd;
	struct pw_lat l;

	lfd = bt_listen(3403);
	cfd = bt_connect(3403);
	assert_true(lfd >= 0 && cfd >= 0);
	usleep(30 * MS / 1000);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(bt_lat(t, t->skel->maps.accept_wait, 3403, PW_DIR_INBOUND, &l), 0);
	assert_int_equal(l.count, 1);
	assert_true(l.sum_ns >= 30 * MS && l.sum_ns < 1000 * MS);
	close(cfd);
	close(afd);
	close(lfd);
}

static void latency_on(struct track_bpf *skel)
{
	skel->rodata->pw_latency = true;
}

static void accept_wait_on(struct track_bpf *skel)
{
	skel->rodata->pw_accept_wait = true;
}

static int setup_latency(void **state)
{
	static const char *const progs[] = { "on_state", "on_destroy", "on_data", "on_send_locked",
					     NULL };

	return bt_setup_with(state, progs, latency_on);
}

static int setup_accept(void **state)
{
	static const char *const progs[] = { "on_state", "on_destroy", "on_sys_exit", NULL };

	return bt_setup_with(state, progs, accept_wait_on);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request, setup_latency, bt_teardown),
		cmocka_unit_test_setup_teardown(test_unanswered, setup_latency, bt_teardown),
		cmocka_unit_test_setup_teardown(test_accept_wait, setup_accept, bt_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "BPF tests need root\n");
		return 1;
	}
	return cmocka_run_group_tests_name("bpf_latency", tests, NULL, NULL);
}
