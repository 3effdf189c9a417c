// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `states` and `closewait` against ss, each test in its own network
 * namespace with real sockets held by real processes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sched.h>
#include "helpers.h"

struct server_args {
	int family;
	uint16_t port;
	int accept_n;
	bool close_accepted; /* close each accepted socket: the client leaks */
};

/* Listens (ready), accepts accept_n connections (ready), keeps or closes them. */
static void server(void *arg, int ready)
{
	struct server_args *a = arg;
	int lfd, fd, i;

	lfd = tcp_listen(a->family, a->port, 512);
	if (lfd < 0)
		_exit(1);
	if (write(ready, "l", 1) != 1)
		_exit(1);
	for (i = 0; i < a->accept_n; i++) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(1);
		if (a->close_accepted)
			close(fd);
	}
	if (write(ready, "a", 1) != 1)
		_exit(1);
}

struct client_args {
	int family;
	uint16_t port;
	int n;
};

/* Connects n times and never closes (ready). */
static void client(void *arg, int ready)
{
	struct client_args *a = arg;
	int i;

	for (i = 0; i < a->n; i++)
		if (tcp_connect(a->family, a->port) < 0)
			_exit(1);
	if (write(ready, "c", 1) != 1)
		_exit(1);
}

/* N inbound leaks: a server that never closes what it accepts, its clients
 * gone. Returns the server's pid. The test process's client sockets are
 * orphaned into FIN_WAIT2. */
static pid_t leak_inbound(int family, uint16_t port, int n)
{
	struct server_args sa = { family, port, n, false };
	int fds[256], i;
	pid_t pid;

	assert_true(n <= 256);
	pid = spawn(server, &sa);
	assert_true(pid > 0);
	assert_int_equal(wait_child(pid, WAIT_MS), 0);
	for (i = 0; i < n; i++) {
		fds[i] = tcp_connect(family, port);
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(wait_child(pid, WAIT_MS), 0);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return pid;
}

/* M outbound leaks: a client that never closes after the server's FIN.
 * Returns the client's pid. */
static pid_t leak_outbound(int family, uint16_t port, int m)
{
	struct server_args sa = { family, port, m, true };
	struct client_args ca = { family, port, m };
	pid_t srv, cli;

	srv = spawn(server, &sa);
	assert_true(srv > 0);
	assert_int_equal(wait_child(srv, WAIT_MS), 0);
	cli = spawn(client, &ca);
	assert_true(cli > 0);
	assert_int_equal(wait_child(cli, WAIT_MS), 0);
	assert_int_equal(wait_child(srv, WAIT_MS), 0);
	return cli;
}

/* Every closewait entry on (port, dir) is held by exactly pid. */
static void assert_owned_by(json_t *cw, int port, const char *dir, pid_t pid, long want)
{
	json_t *e, *owners;
	long n = 0;
	size_t i;

	json_array_foreach (cw, i, e) {
		if (json_integer_value(json_object_get(e, "port")) != port ||
		    strcmp(json_string_value(json_object_get(e, "direction")), dir))
			continue;
		owners = json_object_get(e, "owners");
		assert_int_equal(json_array_size(owners), 1);
		assert_int_equal(
			json_integer_value(json_object_get(json_array_get(owners, 0), "pid")), pid);
		n++;
	}
	assert_int_equal(n, want);
}

static void check_leaks(int family)
{
	const int N = 25, M = 17;
	const char *lo = family == AF_INET6 ? "[::1]:" : "127.0.0.1:";
	pid_t srv, cli;
	json_t *st, *cw, *e;
	size_t i;

	srv = leak_inbound(family, 3001, N);
	cli = leak_outbound(family, 3002, M);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3001, -1, N, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", -1, 3002, M, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("FIN-WAIT-2", -1, 3001, N, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("FIN-WAIT-2", 3002, -1, M, WAIT_MS), 0);

	st = states_checked();
	assert_int_equal(row_state(st, 3001, "inbound", "CLOSE_WAIT"), N);
	assert_int_equal(row_state(st, 3002, "outbound", "CLOSE_WAIT"), M);
	/* The other ends: orphaned FIN_WAIT2 time-wait minisocks. */
	assert_int_equal(row_state(st, 3001, "outbound", "FIN_WAIT2"), N);
	assert_int_equal(row_state(st, 3002, "inbound", "FIN_WAIT2"), M);
	assert_int_equal(row_state(st, 3001, "listen", "LISTEN"), 1);
	assert_int_equal(row_state(st, 3002, "listen", "LISTEN"), 1);
	/* Ports and directions are the only rows: no ephemeral port row. */
	assert_int_equal(json_array_size(st), 6);
	json_decref(st);

	cw = closewait_checked();
	assert_int_equal(json_array_size(cw), N + M);
	assert_owned_by(cw, 3001, "inbound", srv, N);
	assert_owned_by(cw, 3002, "outbound", cli, M);
	json_array_foreach (cw, i, e) {
		const char *local = json_string_value(json_object_get(e, "local"));

		assert_memory_equal(local, lo, strlen(lo));
		assert_true(json_real_value(json_object_get(e, "age_seconds")) >= 0);
	}
	json_decref(cw);
}

static void test_leaks_ipv4(void **state)
{
	(void)state;
	check_leaks(AF_INET);
}

static void test_leaks_ipv6(void **state)
{
	(void)state;
	check_leaks(AF_INET6);
}

struct fork_args {
	int fds[8];
	int n;
};

/* Inherits the parent's sockets and holds them (ready). */
static void hold_inherited(void *arg, int ready)
{
	(void)arg;
	if (write(ready, "h", 1) != 1)
		_exit(1);
}

static void test_shared_after_fork(void **state)
{
	struct client_args ca = { AF_INET, 3003, 3 };
	int lfd, fds[3], i;
	json_t *cw, *e, *owners;
	pid_t cli, twin;
	size_t k;

	(void)state;
	lfd = tcp_listen(AF_INET, 3003, 16);
	assert_true(lfd >= 0);
	cli = spawn(client, &ca);
	assert_true(cli > 0);
	assert_int_equal(wait_child(cli, WAIT_MS), 0);
	for (i = 0; i < 3; i++) {
		fds[i] = accept(lfd, NULL, NULL);
		assert_true(fds[i] >= 0);
	}
	/* After fork the accepted sockets belong to both processes. */
	twin = spawn(hold_inherited, NULL);
	assert_true(twin > 0);
	assert_int_equal(wait_child(twin, WAIT_MS), 0);
	reap_children(); /* kills both: the client's close is a FIN to us */
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3003, -1, 3, WAIT_MS), 0);

	twin = spawn(hold_inherited, NULL);
	assert_int_equal(wait_child(twin, WAIT_MS), 0);
	cw = closewait_checked();
	assert_int_equal(json_array_size(cw), 3);
	json_array_foreach (cw, k, e) {
		bool me = false, child = false;
		json_t *o;
		size_t j;

		owners = json_object_get(e, "owners");
		assert_int_equal(json_array_size(owners), 2);
		json_array_foreach (owners, j, o) {
			me |= json_integer_value(json_object_get(o, "pid")) == getpid();
			child |= json_integer_value(json_object_get(o, "pid")) == twin;
		}
		assert_true(me && child);
	}
	json_decref(cw);
	json_decref(states_checked());
	for (i = 0; i < 3; i++)
		close(fds[i]);
	close(lfd);
}

static void test_accept_queue(void **state)
{
	int lfd, lfd6, fds[5], i;
	json_t *st, *row;

	(void)state;
	lfd = tcp_listen(AF_INET, 3004, 4);
	lfd6 = tcp_listen(AF_INET6, 3004, 7);
	assert_true(lfd >= 0 && lfd6 >= 0);
	/* Handshakes complete in the kernel; nobody accepts. */
	for (i = 0; i < 3; i++)
		assert_true((fds[i] = tcp_connect(AF_INET, 3004)) >= 0);
	for (i = 3; i < 5; i++)
		assert_true((fds[i] = tcp_connect(AF_INET6, 3004)) >= 0);
	assert_int_equal(ss_wait_count("ESTAB", 3004, -1, 5, WAIT_MS), 0);

	st = states_checked();
	row = find_row(st, 3004, "listen");
	assert_non_null(row);
	/* The fullest listener's (IPv4: 3 of 4), as watch and the daemon
	 * show it: the two queues are never summed. */
	assert_int_equal(json_integer_value(json_object_get(row, "accept_queue")), 3);
	assert_int_equal(json_integer_value(json_object_get(row, "accept_queue_max")), 4);
	assert_int_equal(row_state(st, 3004, "listen", "LISTEN"), 2);
	assert_int_equal(row_state(st, 3004, "inbound", "ESTABLISHED"), 5);
	assert_int_equal(row_state(st, 3004, "outbound", "ESTABLISHED"), 5);
	json_decref(st);
	for (i = 0; i < 5; i++)
		close(fds[i]);
	close(lfd);
	close(lfd6);
}

static void test_port_filter(void **state)
{
	struct cmd c;
	json_t *doc;
	json_error_t jerr;

	(void)state;
	leak_inbound(AF_INET, 3001, 4);
	leak_outbound(AF_INET, 3002, 3);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", -1, -1, 7, WAIT_MS), 0);

	assert_int_equal(portwatch(&c, "states", "--json", "--port", "3002", NULL), 0);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, &jerr);
	assert_non_null(doc);
	assert_int_equal(json_array_size(doc), 3); /* listen, inbound, outbound */
	assert_int_equal(row_state(doc, 3002, "outbound", "CLOSE_WAIT"), 3);
	assert_null(find_row(doc, 3001, "inbound"));
	json_decref(doc);
	cmd_free(&c);

	assert_int_equal(portwatch(&c, "closewait", "--json", "-p", "3001,9", NULL), 0);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, &jerr);
	assert_non_null(doc);
	assert_int_equal(json_array_size(doc), 4);
	json_decref(doc);
	cmd_free(&c);

	/* The text views carry the same facts. */
	assert_int_equal(portwatch(&c, "closewait", NULL), 0);
	assert_int_equal(c.status, 0);
	assert_non_null(strstr(c.out, "3001  inbound         4"));
	assert_non_null(strstr(c.out, "3002  outbound        3"));
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "states", "--port", "3001", NULL), 0);
	assert_int_equal(c.status, 0);
	assert_int_equal(count_lines(c.out), 4); /* header + 3 rows */
	cmd_free(&c);
}

/* Fails unless entry e's age lies between the time since the peer last
 * sent anything (the smaller of lastrcv and lastack) ss gave its socket
 * just before portwatch looked and just after, and its idle time between
 * the lastrcv ones (all in jiffies, as portwatch's; 1 ms for rounding). */
static double age_between(json_t *e, const struct ss_rcv *before, size_t nb,
			  const struct ss_rcv *after, size_t na)
{
	const char *local = json_string_value(json_object_get(e, "local"));
	const char *remote = json_string_value(json_object_get(e, "remote"));
	double age = json_real_value(json_object_get(e, "age_seconds"));
	const struct ss_rcv *b = ss_rcv_find(before, nb, local, remote);
	const struct ss_rcv *a = ss_rcv_find(after, na, local, remote);
	double idle = json_real_value(json_object_get(e, "idle_seconds"));

	if (!b || !a)
		fail_msg("%s -> %s: not in CLOSE_WAIT for ss", local, remote);
	if (age * 1000 < b->heard_ms - 1.0 || age * 1000 > a->heard_ms + 1.0)
		fail_msg("%s: age %.3fs, ss lastrcv/lastack %ums before and %ums after", remote,
			 age, b->heard_ms, a->heard_ms);
	if (idle * 1000 < b->lastrcv_ms - 1.0 || idle * 1000 > a->lastrcv_ms + 1.0)
		fail_msg("%s: idle %.3fs, ss lastrcv %ums before and %ums after", remote, idle,
			 b->lastrcv_ms, a->lastrcv_ms);
	return age;
}

static json_t *find_entry(json_t *doc, const char *local, const char *remote)
{
	json_t *e;
	size_t i;

	json_array_foreach (doc, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "local")), local) &&
		    !strcmp(json_string_value(json_object_get(e, "remote")), remote))
			return e;
	return NULL;
}

/* Ages track what ss says the peer last sent; --min-age keeps only the
 * old ones. */
static void test_ages(void **state)
{
	struct ss_rcv *before, *after;
	int min_age_ms, gap_ms, old = 0, young = 0;
	char min_age[32];
	size_t nb, na, i;
	json_t *doc, *e;
	struct cmd c;
	double t;

	(void)state;
	/* The young sockets must stay well under --min-age while portwatch
	 * starts and reads, however slow the machine: four times one look. */
	t = mono_now();
	json_decref(closewait_checked());
	min_age_ms = (int)((mono_now() - t) * 4 * 10 + 1) * 100;
	if (min_age_ms < 1000)
		min_age_ms = 1000;
	gap_ms = min_age_ms + 300;
	snprintf(min_age, sizeof(min_age), "%dms", min_age_ms);
	print_message("# --min-age %s, young and old %d ms apart\n", min_age, gap_ms);

	leak_inbound(AF_INET, 3001, 3);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3001, -1, 3, WAIT_MS), 0);
	usleep((useconds_t)gap_ms * 1000);
	leak_inbound(AF_INET, 3005, 2);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3005, -1, 2, WAIT_MS), 0);

	/* Listed: every socket ss found at least that old just before;
	 * never one it found younger just after. */
	assert_int_equal(ss_read_lastrcv(&before, &nb), 0);
	assert_int_equal(portwatch(&c, "closewait", "--json", "--min-age", min_age, NULL), 0);
	assert_int_equal(ss_read_lastrcv(&after, &na), 0);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(na, 5);
	for (i = 0; i < na; i++) {
		const struct ss_rcv *b = ss_rcv_find(before, nb, after[i].local, after[i].peer);

		assert_non_null(b);
		e = find_entry(doc, after[i].local, after[i].peer);
		if (b->heard_ms >= (unsigned int)min_age_ms) {
			if (!e)
				fail_msg("%s: %u ms old for ss, not listed", b->peer, b->heard_ms);
			old++;
		}
		if (after[i].heard_ms < (unsigned int)min_age_ms) {
			if (e)
				fail_msg("%s: %u ms old for ss, listed", b->peer,
					 after[i].heard_ms);
			young++;
		}
	}
	/* The three old ones in, the two young ones out: none in between. */
	assert_int_equal(old, 3);
	assert_int_equal(young, 2);
	assert_int_equal(json_array_size(doc), 3);
	json_array_foreach (doc, i, e) {
		assert_int_equal(json_integer_value(json_object_get(e, "port")), 3001);
		age_between(e, before, nb, after, na);
	}
	json_decref(doc);
	cmd_free(&c);
	free(before);
	free(after);

	/* Every age between ss's figures read just before and just after. */
	assert_int_equal(ss_read_lastrcv(&before, &nb), 0);
	doc = closewait_checked();
	assert_int_equal(ss_read_lastrcv(&after, &na), 0);
	assert_int_equal(json_array_size(doc), 5);
	old = 0;
	json_array_foreach (doc, i, e) {
		t = age_between(e, before, nb, after, na);
		if (json_integer_value(json_object_get(e, "port")) != 3001)
			continue;
		/* Older than the pause, give or take a jiffy. */
		assert_true(t * 1000 >= gap_ms - 10);
		old++;
	}
	assert_int_equal(old, 3);
	json_decref(doc);
	free(before);
	free(after);
}

/* A namespace with a socket in every state that can be held still, each
 * counted where ss says and under the right port and direction. */
static void test_every_state(void **state)
{
	int full, defer, slow, tw, c1, c2, c3, c4, srv, cli, small = 4096, one = 1, i;
	char buf[4096] = {};
	json_t *st;

	(void)state;
	/* SYN_SENT: the listener's accept queue (limit 0) is full with c1, so
	 * the kernel drops c2's SYN and c2 keeps retrying. */
	full = tcp_listen(AF_INET, 3006, 0);
	assert_true(full >= 0);
	c1 = tcp_connect(AF_INET, 3006);
	assert_true(c1 >= 0);
	assert_int_equal(ss_wait_count("ESTAB", 3006, -1, 1, WAIT_MS), 0);
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(3006),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(c2, (struct sockaddr *)&sin, sizeof(sin)), -1);
	assert_int_equal(errno, EINPROGRESS);

	/* SYN_RECV: with TCP_DEFER_ACCEPT the server keeps a request socket
	 * until data arrives; the client is already established. */
	defer = tcp_listen(AF_INET6, 3007, 16);
	assert_true(defer >= 0);
	assert_int_equal(
		setsockopt(defer, IPPROTO_TCP, TCP_DEFER_ACCEPT, &(int){ 30 }, sizeof(int)), 0);
	c3 = tcp_connect(AF_INET6, 3007);
	assert_true(c3 >= 0);

	/* FIN_WAIT1: the FIN waits behind data the server never reads. */
	slow = tcp_listen(AF_INET, 3008, 16);
	assert_true(slow >= 0);
	setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	c4 = tcp_connect(AF_INET, 3008);
	assert_true(c4 >= 0);
	srv = accept(slow, NULL, NULL);
	assert_true(srv >= 0);
	setsockopt(c4, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	fcntl(c4, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 10000 && write(c4, buf, sizeof(buf)) > 0; i++)
		;
	assert_int_equal(errno, EAGAIN);
	close(c4);

	/* TIME_WAIT: the client closes first, then the server. */
	tw = tcp_listen(AF_INET, 3009, 16);
	assert_true(tw >= 0);
	cli = tcp_connect(AF_INET, 3009);
	assert_true(cli >= 0);
	int acc = accept(tw, NULL, NULL);
	assert_true(acc >= 0);
	setsockopt(acc, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(cli);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3009, -1, 1, WAIT_MS), 0);
	close(acc);

	assert_int_equal(ss_wait_count("SYN-SENT", -1, 3006, 1, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("SYN-RECV", 3007, -1, 1, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("FIN-WAIT-1", -1, 3008, 1, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("TIME-WAIT", -1, 3009, 1, WAIT_MS), 0);

	st = states_checked();
	assert_int_equal(row_state(st, 3006, "outbound", "SYN_SENT"), 1);
	assert_int_equal(row_state(st, 3006, "outbound", "ESTABLISHED"), 1);
	assert_int_equal(row_state(st, 3006, "inbound", "ESTABLISHED"), 1);
	assert_int_equal(
		json_integer_value(json_object_get(find_row(st, 3006, "listen"), "accept_queue")),
		1);
	assert_int_equal(row_state(st, 3007, "inbound", "SYN_RECV"), 1);
	assert_int_equal(row_state(st, 3007, "outbound", "ESTABLISHED"), 1);
	assert_int_equal(row_state(st, 3008, "outbound", "FIN_WAIT1"), 1);
	assert_int_equal(row_state(st, 3008, "inbound", "ESTABLISHED"), 1);
	assert_int_equal(row_state(st, 3009, "outbound", "TIME_WAIT"), 1);
	json_decref(st);
	close(c1);
	close(c2);
	close(c3);
	close(srv);
	close(full);
	close(defer);
	close(slow);
	close(tw);
}

static void test_check_exit_codes(void **state)
{
	static const struct {
		const char *args[6];
		int status;
		const char *line;
	} cases[] = {
		{ { "--warn", "3", "--crit", "10" }, 1, "CLOSEWAIT WARNING - 5 sockets" },
		{ { "--warn", "3", "--crit", "5" }, 2, "CLOSEWAIT CRITICAL - 5 sockets" },
		{ { "--crit", "5" }, 2, "CLOSEWAIT CRITICAL" },
		{ { "--warn", "6" }, 0, "CLOSEWAIT OK - 5 sockets" },
		{ { "--warn", "1", "--port", "9999" }, 0, "CLOSEWAIT OK - 0 sockets" },
		{ { "--warn", "1", "--min-age", "1h" }, 0, "CLOSEWAIT OK - 0 sockets" },
		{ { "-w", "5", "-p", "3001" }, 1, "CLOSEWAIT WARNING - 5 sockets" },
	};
	const char *argv[10];
	struct cmd c;
	size_t i, k;

	(void)state;
	leak_inbound(AF_INET, 3001, 5);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3001, -1, 5, WAIT_MS), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		argv[0] = getenv("PORTWATCH");
		argv[1] = "closewait";
		for (k = 0; cases[i].args[k]; k++)
			argv[k + 2] = cases[i].args[k];
		argv[k + 2] = NULL;
		assert_int_equal(cmd_run(&c, argv, NULL, 30000), 0);
		if (c.status != cases[i].status ||
		    strncmp(c.out, cases[i].line, strlen(cases[i].line)))
			fail_msg("case %zu: exit %d, output '%s', want %d '%s'", i, c.status, c.out,
				 cases[i].status, cases[i].line);
		assert_int_equal(count_lines(c.out), 1);
		cmd_free(&c);
	}
}

/* The ss and lsof filters: --state, -4/-6, --pid, --comm, -H. Two
 * servers leak over IPv4 (3 sockets) and IPv6 (2); the test's own
 * listener on 3009 holds an established pair. Each filtered view equals
 * ss's count of the same. */
static void test_filters(void **state)
{
	pid_t p4, p6;
	char pid[16];
	struct cmd c;
	json_t *doc, *e;
	size_t i;
	int lfd, cfd, afd;

	(void)state;
	p4 = leak_inbound(AF_INET, 3001, 3);
	p6 = leak_inbound(AF_INET6, 3002, 2);
	lfd = tcp_listen(AF_INET, 3009, 8);
	cfd = tcp_connect(AF_INET, 3009);
	afd = accept(lfd, NULL, NULL);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", -1, -1, 5, WAIT_MS), 0);

	/* --state: only CLOSE_WAIT counted, every row. */
	assert_int_equal(portwatch(&c, "states", "--state", "close-wait", "--json", NULL), 0);
	doc = json_loads(c.out, 0, NULL);
	assert_int_equal(json_array_size(doc), 2);
	json_array_foreach (doc, i, e) {
		json_t *st = json_object_get(e, "states");

		assert_int_equal(json_integer_value(json_object_get(st, "ESTABLISHED")), 0);
		assert_true(json_integer_value(json_object_get(st, "CLOSE_WAIT")) > 0);
	}
	json_decref(doc);
	cmd_free(&c);
	/* -6: the IPv6 server's two, nothing of 3001. */
	assert_int_equal(portwatch(&c, "closewait", "-6", "--json", NULL), 0);
	doc = json_loads(c.out, 0, NULL);
	assert_int_equal(json_array_size(doc), 2);
	json_array_foreach (doc, i, e)
		assert_int_equal(json_integer_value(json_object_get(e, "port")), 3002);
	json_decref(doc);
	cmd_free(&c);
	/* --pid: the IPv4 server's three. */
	snprintf(pid, sizeof(pid), "%d", p4);
	assert_int_equal(portwatch(&c, "closewait", "--pid", pid, "--json", NULL), 0);
	doc = json_loads(c.out, 0, NULL);
	assert_int_equal(json_array_size(doc), 3);
	json_decref(doc);
	cmd_free(&c);
	/* --comm: the test process (test_snapshot) holds the 3009 pair and
	 * its listener; the leaking servers are its forks, named the same:
	 * everything. A name nobody has: nothing, and -H prints nothing. */
	assert_int_equal(
		portwatch(&c, "states", "--comm", "test_snap", "--port", "3009", "-H", NULL), 0);
	assert_int_equal(count_lines(c.out), 3); /* listen, inbound, outbound */
	assert_null(strstr(c.out, "PORT"));
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "closewait", "--comm", "no-such-comm", "-H", NULL), 0);
	assert_string_equal(c.out, "");
	cmd_free(&c);
	/* -H: the socket lines alone. */
	assert_int_equal(portwatch(&c, "closewait", "-H", NULL), 0);
	assert_int_equal(count_lines(c.out), 5);
	cmd_free(&c);
	/* Bad values: one line, usage exit. */
	assert_int_equal(portwatch(&c, "states", "--state", "half-open", NULL), 0);
	assert_int_equal(c.status, 2);
	assert_non_null(strstr(c.err, "invalid --state 'half-open': not a TCP state"));
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "closewait", "--pid", "0", NULL), 0);
	assert_int_equal(c.status, 2);
	cmd_free(&c);
	(void)p6;
	close(cfd);
	close(afd);
	close(lfd);
}

/* --all-netns: rows and sockets of each namespace with its inode, each
 * namespace's equal to ss inside it; other namespaces on the host may add
 * rows, never change these. */
static void test_all_netns(void **state)
{
	struct netns_leak leak = { .port = 3001, .n = 6 };
	struct ss_sock *here, *there;
	size_t nhere, nthere, i, mine = 0;
	long long ino_here, ino_there;
	json_t *doc, *e, *owners;
	json_error_t jerr;
	struct cmd c = {};
	char path[96];
	int lfd, srv[2];
	pid_t other;

	(void)state;
	/* Here: two CLOSE_WAIT of our own on the same port. */
	lfd = tcp_listen(AF_INET, 3001, 16);
	for (i = 0; i < 2; i++) {
		int cfd = tcp_connect(AF_INET, 3001);

		srv[i] = accept(lfd, NULL, NULL);
		close(cfd);
	}
	other = spawn(netns_leak, &leak);
	assert_true(other > 0);
	assert_int_equal(wait_child(other, WAIT_MS), 0);
	ino_here = netns_ino(0);
	ino_there = netns_ino(other);
	assert_true(ino_here > 0 && ino_there > 0);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3001, -1, 2, WAIT_MS), 0);

	assert_int_equal(portwatch(&c, "states", "--all-netns", "--json", NULL), 0);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, &jerr);
	assert_non_null(doc);
	assert_int_equal(ss_read(&here, &nhere), 0);
	assert_int_equal(ss_read_in(other, &there, &nthere), 0);
	assert_int_equal(ss_count(there, nthere, "CLOSE-WAIT", 3001, -1), 6);
	assert_rows_match_ss(doc, ino_here, here, nhere);
	assert_rows_match_ss(doc, ino_there, there, nthere);
	json_decref(doc);
	cmd_free(&c);
	/* The table says which namespace a row is in: by the process in it,
	 * nothing else naming it. */
	assert_int_equal(portwatch(&c, "states", "-A", "--port", "3001", NULL), 0);
	assert_non_null(strstr(c.out, "NETNS"));
	{
		char who[32];

		snprintf(who, sizeof(who), "test_snapshot[%d]", other);
		snprintf(path, sizeof(path), "\n%-16s 3001  inbound", who);
	}
	assert_non_null(strstr(c.out, path));
	cmd_free(&c);

	/* closewait: 2 here, 6 there, each with its namespace and owner. */
	assert_int_equal(portwatch(&c, "closewait", "-A", "--json", "--port", "3001", NULL), 0);
	doc = json_loads(c.out, 0, &jerr);
	assert_non_null(doc);
	json_array_foreach (doc, i, e) {
		long long ns = json_integer_value(json_object_get(e, "netns"));

		owners = json_object_get(e, "owners");
		if (ns == ino_there) {
			mine++;
			assert_int_equal(json_integer_value(
						 json_object_get(json_array_get(owners, 0), "pid")),
					 other);
		} else if (ns == ino_here) {
			mine += 100;
		}
	}
	assert_int_equal(mine, 6 + 2 * 100);
	json_decref(doc);
	cmd_free(&c);
	/* Named: by the process in it when nothing else names it. */
	assert_int_equal(portwatch(&c, "closewait", "-A", "--json", "--port", "3001", NULL), 0);
	doc = json_loads(c.out, 0, &jerr);
	{
		char want[64];

		snprintf(want, sizeof(want), "test_snapshot[%d]", other);
		json_array_foreach (doc, i, e)
			if (json_integer_value(json_object_get(e, "netns")) == ino_there)
				assert_string_equal(
					json_string_value(json_object_get(e, "netns_name")), want);
	}
	json_decref(doc);
	cmd_free(&c);
	/* Without the flag: this namespace only, no netns field. */
	assert_int_equal(portwatch(&c, "closewait", "--json", "--port", "3001", NULL), 0);
	doc = json_loads(c.out, 0, &jerr);
	assert_int_equal(json_array_size(doc), 2);
	assert_null(json_object_get(json_array_get(doc, 0), "netns"));
	json_decref(doc);
	cmd_free(&c);
	free(here);
	free(there);
	for (i = 0; i < 2; i++)
		close(srv[i]);
	close(lfd);
}

/* A child that enters the named namespace and listens on 3007 there. */
static void listen_in_named(void *arg, int ready)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", (const char *)arg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) || lo_up() || tcp_listen(AF_INET, 3007, 4) < 0)
		_exit(1);
	if (write(ready, "n", 1) != 1)
		_exit(1);
}

/* An `ip netns` name is what --all-netns shows for its namespace: in the
 * NETNS column and as "netns_name". */
static void test_named_netns(void **state)
{
	const char *add[] = { "ip", "netns", "add", NULL, NULL };
	const char *del[] = { "ip", "netns", "del", NULL, NULL };
	char name[32];
	struct cmd c;
	json_t *doc, *e;
	size_t i;
	int found = 0;
	pid_t pid;

	(void)state;
	snprintf(name, sizeof(name), "pwtest-%d", getpid());
	add[3] = del[3] = name;
	assert_int_equal(cmd_run(&c, add, NULL, WAIT_MS), 0);
	assert_int_equal(c.status, 0);
	cmd_free(&c);
	pid = spawn(listen_in_named, name);
	assert_true(pid > 0);
	assert_int_equal(wait_child(pid, WAIT_MS), 0);
	assert_int_equal(portwatch(&c, "states", "-A", "--json", "--port", "3007", NULL), 0);
	doc = json_loads(c.out, 0, NULL);
	json_array_foreach (doc, i, e)
		found += !strcmp(json_string_value(json_object_get(e, "netns_name")) ?: "", name);
	json_decref(doc);
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "states", "-A", "--port", "3007", NULL), 0);
	assert_non_null(strstr(c.out, name));
	cmd_free(&c);
	reap_children();
	assert_int_equal(cmd_run(&c, del, NULL, WAIT_MS), 0);
	cmd_free(&c);
	assert_int_equal(found, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_leaks_ipv4, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_leaks_ipv6, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_shared_after_fork, netns_setup,
						netns_teardown),
		cmocka_unit_test_setup_teardown(test_accept_queue, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_every_state, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_port_filter, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_ages, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_check_exit_codes, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_filters, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_all_netns, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_named_netns, netns_setup, netns_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "integration tests need root\n");
		return 1;
	}
	if (getenv("TEST_FILTER")) /* one test by name (a glob), for development */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
