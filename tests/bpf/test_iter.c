// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The iterator passes (bpf/iter.bpf.c) at the skeleton level: the sync pass
 * seeding sockets that existed before the tracker and repairing state
 * changes the state hook missed, and the counting pass for minisockets and
 * listeners, which no tracepoint follows. Misses are real: the state hook
 * is detached while sockets change state. */
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

#define N 3

struct conns {
	int lfd, cfd[N], afd[N];
};

static void connect_all(struct conns *c, uint16_t port)
{
	int i;

	c->lfd = bt_listen(port);
	assert_true(c->lfd >= 0);
	for (i = 0; i < N; i++) {
		c->cfd[i] = bt_connect(port);
		assert_true(c->cfd[i] >= 0);
		c->afd[i] = accept(c->lfd, NULL, NULL);
		assert_true(c->afd[i] >= 0);
	}
}

static void close_all(struct conns *c)
{
	int i;

	for (i = 0; i < N; i++) {
		close(c->cfd[i]);
		close(c->afd[i]);
	}
	close(c->lfd);
}

/* The sync pass as the tracker runs it: listeners first, then the rest,
 * classified by the listening ports. */
static void sync_pass(struct bt *t, uint16_t port)
{
	t->skel->bss->pw_sync_listeners = true;
	assert_int_equal(bt_run_iter(t, t->skel->progs.sync), 0);
	t->skel->bss->pw_sync_listeners = false;
	assert_int_equal(bt_set_listening(t, &port, 1), 0);
	assert_int_equal(bt_run_iter(t, t->skel->progs.sync), 0);
}

/* Sockets made before the tracker: the seeding pass gives each its state
 * and place, and none of that is counted as a repair. */
static void test_seed(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct pw_sk sk;
	struct conns c;

	connect_all(&c, 3301);
	/* One half-closed: FIN_WAIT2 at the client (a full socket while it
	 * is held), CLOSE_WAIT at the server. */
	shutdown(c.cfd[0], SHUT_WR);
	usleep(20000);
	/* No state hook in this setup: nothing is known yet. */
	assert_int_equal(bt_sk(t, c.afd[1], &sk), -ENOENT);
	t->skel->bss->pw_seeding = true;
	sync_pass(t, 3301);
	t->skel->bss->pw_seeding = false;

	assert_int_equal(bt_sk(t, c.afd[1], &sk), 0);
	assert_int_equal(sk.key.dir, PW_DIR_INBOUND);
	assert_int_equal(sk.key.port, 3301);
	assert_int_equal(sk.state, PW_TCP_ESTABLISHED);
	assert_true(sk.flags & PW_SK_SEEDED);
	assert_int_equal(bt_sk(t, c.cfd[1], &sk), 0);
	assert_int_equal(sk.key.dir, PW_DIR_OUTBOUND);
	assert_int_equal(sk.key.port, 3301);
	assert_int_equal(bt_row(t, 3301, PW_DIR_LISTEN, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_LISTEN], 1);
	assert_int_equal(bt_row(t, 3301, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], N - 1);
	assert_int_equal(s.gauge[PW_TCP_CLOSE_WAIT], 1);
	assert_int_equal(bt_row(t, 3301, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], N - 1);
	assert_int_equal(s.gauge[PW_TCP_FIN_WAIT2], 1);
	assert_int_equal(bt_fixes(t, PW_FIX_DRIFT), 0);

	/* A second pass finds nothing to change. */
	sync_pass(t, 3301);
	assert_int_equal(bt_fixes(t, PW_FIX_DRIFT), 0);
	close_all(&c);
}

/* State changes the hook missed (detached meanwhile): the gauges are off
 * until the sync pass moves each live socket to its state, one repair
 * each; a socket that died meanwhile is taken out by the destroy hook. */
static void test_repair(void **state)
{
	struct bt *t = *state;
	struct pw_stats s;
	struct pw_sk sk;
	struct conns c;
	int i;

	connect_all(&c, 3302);
	assert_int_equal(bt_wait_row_gauge(t, 3302, PW_DIR_INBOUND, PW_TCP_ESTABLISHED, N), 0);
	bpf_link__destroy(t->links[0]); /* on_state */
	t->links[0] = NULL;
	for (i = 0; i < N; i++)
		shutdown(c.cfd[i], SHUT_WR);
	usleep(20000);
	assert_int_equal(bt_row(t, 3302, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], N); /* stale */
	assert_int_equal(s.gauge[PW_TCP_CLOSE_WAIT], 0);

	sync_pass(t, 3302);
	assert_int_equal(bt_row(t, 3302, PW_DIR_INBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 0);
	assert_int_equal(s.gauge[PW_TCP_CLOSE_WAIT], N);
	assert_int_equal(bt_row(t, 3302, PW_DIR_OUTBOUND, &s), 0);
	assert_int_equal(s.gauge[PW_TCP_ESTABLISHED], 0);
	assert_int_equal(s.gauge[PW_TCP_FIN_WAIT2], N);
	assert_int_equal(bt_sk(t, c.afd[0], &sk), 0);
	assert_int_equal(sk.state, PW_TCP_CLOSE_WAIT);
	/* N server ends and N client ends, each moved once. */
	assert_int_equal(bt_fixes(t, PW_FIX_DRIFT), 2 * N);

	/* Closed unseen, the clients' full sockets die (an orphan in
	 * FIN_WAIT2 lives on as a minisocket): each death uncounts one. */
	for (i = 0; i < N; i++)
		close(c.cfd[i]);
	assert_int_equal(bt_wait_row_gauge(t, 3302, PW_DIR_OUTBOUND, PW_TCP_FIN_WAIT2, 0), 0);
	assert_int_equal(bt_fixes(t, PW_FIX_DESTROYED), N);
	for (i = 0; i < N; i++)
		close(c.afd[i]);
	close(c.lfd);
}

/* Time-wait sockets and the listener's queue, which only the counting
 * pass sees: per row and state in `mini`, per listener in `listeners`,
 * each tagged with the pass that found it. A later pass starts its counts
 * afresh in the same entries; what it no longer finds keeps the old tag. */
static void test_count_mini(void **state)
{
	struct bt *t = *state;
	struct pw_mini_key mk = { .state = PW_TCP_TIME_WAIT };
	struct pw_mini_val mv;
	struct pw_listener v;
	__u64 id, *prev = NULL;
	uint16_t port = 3303;
	struct conns c;
	int i, fd, n = 0;

	connect_all(&c, port);
	/* The clients close first: they end in TIME_WAIT once the servers
	 * close too. One more connection waits, never accepted. */
	for (i = 0; i < N; i++)
		close(c.cfd[i]);
	usleep(20000);
	for (i = 0; i < N; i++)
		close(c.afd[i]);
	fd = bt_connect(port);
	assert_true(fd >= 0);
	usleep(50000);
	assert_int_equal(bt_set_listening(t, &port, 1), 0);
	t->skel->bss->pw_pass = 7;
	assert_int_equal(bt_run_iter(t, t->skel->progs.count_mini), 0);

	mk.key = (struct pw_key){ .netns = t->netns, .port = port, .dir = PW_DIR_OUTBOUND };
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.mini), &mk, &mv), 0);
	assert_int_equal(mv.pass, 7);
	assert_int_equal(mv.count, N);
	/* The next pass counts afresh: N again, not 2 N. */
	t->skel->bss->pw_pass = 8;
	assert_int_equal(bt_run_iter(t, t->skel->progs.count_mini), 0);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.mini), &mk, &mv), 0);
	assert_int_equal(mv.pass, 8);
	assert_int_equal(mv.count, N);
	while (!bpf_map_get_next_key(bpf_map__fd(t->skel->maps.listeners), prev, &id)) {
		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.listeners), &id, &v),
				 0);
		prev = &id;
		n++;
	}
	assert_int_equal(n, 1);
	assert_int_equal(v.key.port, port);
	assert_int_equal(v.key.dir, PW_DIR_LISTEN);
	assert_int_equal(v.backlog, 1);
	assert_int_equal(v.max_backlog, 16);
	assert_int_equal(v.pass, 8);

	/* The listener gone, a pass no longer finds it: its entry keeps the
	 * tag of the last pass that did, for userspace to delete. */
	close(fd);
	close(c.lfd);
	t->skel->bss->pw_pass = 9;
	assert_int_equal(bt_run_iter(t, t->skel->progs.count_mini), 0);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.listeners), &id, &v), 0);
	assert_int_equal(v.pass, 8);
}

static int setup_iter(void **state)
{
	static const char *const progs[] = { "sync", "count_mini", NULL };

	return bt_setup(state, progs);
}

static int setup_state_iter(void **state)
{
	static const char *const progs[] = { "on_state", "on_destroy", "sync", NULL };

	return bt_setup(state, progs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seed, setup_iter, bt_teardown),
		cmocka_unit_test_setup_teardown(test_repair, setup_state_iter, bt_teardown),
		cmocka_unit_test_setup_teardown(test_count_mini, setup_iter, bt_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "BPF tests need root\n");
		return 1;
	}
	return cmocka_run_group_tests_name("bpf_iter", tests, NULL, NULL);
}
