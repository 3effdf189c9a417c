// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The state concern (bpf/state.bpf.c) at the skeleton level: its programs
 * loaded and attached alone, in a network namespace of each test's own, and
 * its maps read per socket: the per-socket state by descriptor (socket
 * storage takes one as its key from userspace), the per-port rows by key.
 * What the CLI shows is tested end to end elsewhere (tests/integration);
 * here each kernel-side rule is pinned where it is kept. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpf_test.h"

/* Each socket's state names its row and the state it is counted in; the
 * rows' gauges are the sums of those. */
static void test_rows_per_socket(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct pw_sk sk;
	struct bt_conn c;

	bt_connect_pair(&c, 3101);
	assert_int_equal(bt_sk(t, c.lfd, &sk), 0);
	assert_int_equal(sk.key.dir, PW_DIR_LISTEN);
	assert_int_equal(sk.key.port, 3101);
	assert_int_equal(sk.key.netns, t->netns);
	assert_int_equal(sk.state, PW_TCP_LISTEN);
	/* listen() runs in its owner's own system call. */
	assert_int_equal(sk.pid, getpid());

	assert_int_equal(bt_sk(t, c.cfd, &sk), 0);
	assert_int_equal(sk.key.dir, PW_DIR_OUTBOUND);
	assert_int_equal(sk.key.port, 3101); /* the server's port, not ours */
	assert_int_equal(sk.state, PW_TCP_ESTABLISHED);
	assert_int_equal(sk.pid, getpid());

	assert_int_equal(bt_sk(t, c.afd, &sk), 0);
	assert_int_equal(sk.key.dir, PW_DIR_INBOUND);
	assert_int_equal(sk.key.port, 3101);
	assert_int_equal(sk.state, PW_TCP_ESTABLISHED);

	assert_int_equal(bt_row(t, 3101, PW_DIR_LISTEN, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_LISTEN], 1);
	assert_int_equal(bt_row(t, 3101, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 1);
	assert_int_equal(s.counter[PW_C_OPENED], 1);
	assert_int_equal(bt_row(t, 3101, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 1);
	assert_int_equal(s.counter[PW_C_OPENED], 1);
	close(c.cfd);
	close(c.afd);
	close(c.lfd);
}

/* CLOSE_WAIT, entered and left: the socket's state, its entry in the
 * close_wait map, the row's gauge and counters, and the time spent in it
 * in the row's histogram. */
static void test_close_wait(void **state)
{
	struct bt *t = *state;
	struct pw_cw_hist h;
	struct pw_cw_sock cw;
	struct pw_stats s;
	struct pw_sk sk;
	struct bt_conn c;

	bt_connect_pair(&c, 3102);
	close(c.cfd); /* the peer's FIN: the server's end in CLOSE_WAIT */
	assert_int_equal(bt_wait_state(t, c.afd, PW_TCP_CLOSE_WAIT), 0);
	assert_int_equal(bt_sk(t, c.afd, &sk), 0);
	assert_int_equal(sk.key.dir, PW_DIR_INBOUND);
	assert_int_equal(bt_close_wait(t, &cw), 1);
	assert_int_equal(cw.key.port, 3102);
	assert_int_equal(cw.key.dir, PW_DIR_INBOUND);
	assert_int_equal(bt_row(t, 3102, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_CLOSE_WAIT], 1);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 0);
	assert_int_equal(s.counter[PW_C_CLOSE_WAIT_ENTERED], 1);
	assert_int_equal(s.counter[PW_C_CLOSE_WAIT_LEFT], 0);

	usleep(20000);
	close(c.afd); /* LAST_ACK, then CLOSE at the peer's ACK */
	assert_int_equal(bt_wait_row_gauge(t, 3102, PW_DIR_INBOUND, PW_TCP_LAST_ACK, 0), 0);
	assert_int_equal(bt_row(t, 3102, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_CLOSE_WAIT], 0);
	assert_int_equal(s.counter[PW_C_CLOSE_WAIT_LEFT], 1);
	assert_int_equal(s.counter[PW_C_CLOSED], 1);
	assert_int_equal(bt_close_wait(t, &cw), 0);
	assert_int_equal(bt_cw_hist(t, 3102, PW_DIR_INBOUND, &h), 0);
	assert_int_equal(h.count, 1);
	assert_true(h.sum_ns >= 20000000ULL);
	close(c.lfd);
}

/* An attempt to a port nobody listens on makes no row of its own (a scan of
 * closed ports would make one each): it is counted under port 0. */
static void test_refused_makes_no_row(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	int i, fd;

	for (i = 0; i < 20; i++) {
		fd = bt_connect(3200 + i);
		assert_true(fd < 0 && errno == ECONNREFUSED);
	}
	for (i = 0; i < 20; i++)
		assert_int_equal(bt_row(t, 3200 + i, PW_DIR_OUTBOUND, &s), -ENOENT);
	assert_int_equal(bt_row(t, 0, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.counter[PW_C_CONNECT_REFUSED], 20);
	assert_int_equal(s.gauge[PW_TCP_SYN_SENT], 0);
}

/* Sockets of another namespace are not ours: no state, no row. */
static void test_other_netns_ignored(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct pw_sk sk;
	struct bt_conn c;

	assert_int_equal(bt_enter_new_netns(), 0);
	bt_connect_pair(&c, 3103);
	assert_int_equal(bt_sk(t, c.lfd, &sk), -ENOENT);
	assert_int_equal(bt_sk(t, c.afd, &sk), -ENOENT);
	assert_int_equal(bt_row(t, 3103, PW_DIR_INBOUND, &s), -ENOENT);
	close(c.cfd);
	close(c.afd);
	close(c.lfd);
}

/* A reset, sent and received, counts in both ends' rows. */
static void test_resets(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct bt_conn c;

	bt_connect_pair(&c, 3104);
	bt_abort(c.cfd); /* SO_LINGER {1, 0}: close sends a reset */
	assert_int_equal(bt_wait_row_gauge(t, 3104, PW_DIR_INBOUND, PW_TCP_ESTABLISHED, 0), 0);
	assert_int_equal(bt_row(t, 3104, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.counter[PW_C_RESETS_SENT], 1);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 0);
	assert_int_equal(bt_row(t, 3104, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.counter[PW_C_RESETS_RECEIVED], 1);
	close(c.afd);
	close(c.lfd);
}

/* Entries of a hash map. */
static int map_count(struct bpf_map *map)
{
	__u64 key[2], next[2];
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(bpf_map__fd(map), prev, next)) {
		memcpy(key, next, sizeof(key));
		prev = key;
		n++;
	}
	return n;
}

/* The raw hooks with per-socket state by address, as on 5.10 (socket
 * storage is not for tracing programs there): the same rows, and each
 * socket's entry gone once it closes. */
static void test_raw_by_address(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct pw_sk sk;
	struct bt_conn c;

	bt_connect_pair(&c, 3105);
	assert_int_equal(bt_sk(t, c.afd, &sk), -ENOENT); /* no socket storage */
	assert_int_equal(map_count(t->skel->maps.sk_hash), 3);
	assert_int_equal(bt_row(t, 3105, PW_DIR_LISTEN, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_LISTEN], 1);
	assert_int_equal(bt_row(t, 3105, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 1);
	assert_int_equal(bt_row(t, 3105, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 1);

	close(c.cfd);
	assert_int_equal(bt_wait_row_gauge(t, 3105, PW_DIR_INBOUND, PW_TCP_CLOSE_WAIT, 1), 0);
	close(c.afd);
	close(c.lfd);
	assert_int_equal(bt_wait_row_gauge(t, 3105, PW_DIR_INBOUND, PW_TCP_LAST_ACK, 0), 0);
	assert_int_equal(bt_row(t, 3105, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_CLOSE_WAIT], 0);
	assert_int_equal(s.counter[PW_C_CLOSE_WAIT_LEFT], 1);
	assert_int_equal(bt_row(t, 3105, PW_DIR_LISTEN, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_LISTEN], 0);
	/* The client's end waits in TIME_WAIT, a minisocket: no entry. */
	assert_int_equal(map_count(t->skel->maps.sk_hash), 0);
}

static void by_address(struct track_bpf *skel)
{
	skel->rodata->pw_sk_hash = true;
}

static int setup_raw(void **state)
{
	static const char *const progs[] = { "on_state_raw", "on_destroy_raw", NULL };

	return bt_setup_with(state, progs, by_address);
}

static int setup_state(void **state)
{
	static const char *const progs[] = { "on_state", "on_destroy", "on_reset_sent",
					     "on_reset_received", NULL };

	return bt_setup(state, progs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rows_per_socket, setup_state, bt_teardown),
		cmocka_unit_test_setup_teardown(test_close_wait, setup_state, bt_teardown),
		cmocka_unit_test_setup_teardown(test_refused_makes_no_row, setup_state,
						bt_teardown),
		cmocka_unit_test_setup_teardown(test_other_netns_ignored, setup_state, bt_teardown),
		cmocka_unit_test_setup_teardown(test_resets, setup_state, bt_teardown),
		cmocka_unit_test_setup_teardown(test_raw_by_address, setup_raw, bt_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "BPF tests need root\n");
		return 1;
	}
	return cmocka_run_group_tests_name("bpf_state", tests, NULL, NULL);
}
