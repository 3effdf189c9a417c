// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch latency` against what clients measure, in a namespace of its
 * own: a server that answers after a known delay, keep-alive connections. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "helpers.h"
#include "pw_hist.h"
#define CONNS 4
#define PER_CONN 50
#define N (CONNS * PER_CONN)

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Request i of a connection is answered after 5 ms, or 80 ms for two in
 * five: p50 falls among the fast ones, p95 among the slow. */
static long delay_us(int i)
{
	return i % 5 < 3 ? 5000 : 80000;
}

/* Split messages: each answer is written in two parts SPLIT_ANS_US apart,
 * and each 2-byte request in one write, or in two SPLIT_REQ_US apart (every
 * other connection). Latency still runs from the request's first byte to
 * the answer's first byte. Answers take 5 or 20 ms: under the 40 ms of a
 * delayed acknowledgement, so that the first part is often the server's
 * first segment since the request came (the case the send hook leaves to
 * the transmit stamp). */
#define SPLIT_REQ_US 3000
#define SPLIT_ANS_US 30000
static bool split;

/* Each request's time as the server saw it, from reading the request to
 * writing the answer, by (connection, request): shared with its children. */
static double *srv_lat;

static long split_delay_us(int i)
{
	return i % 5 < 3 ? 5000 : 20000;
}

static bool read_full(int fd, char *b, size_t n)
{
	ssize_t r;

	while (n) {
		r = read(fd, b, n);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

/* Accepts CONNS connections, a process each, answering 1 byte per byte (2
 * per 2, in two writes, when split). */
static void server(void *arg, int ready)
{
	int lfd = tcp_listen(AF_INET, 3001, 64), fd, i, k;
	char b[2];

	(void)arg;
	if (lfd < 0 || write(ready, "l", 1) != 1)
		_exit(1);
	for (k = 0; k < CONNS; k++) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(1);
		if (fork() == 0) {
			for (i = 0; read_full(fd, b, 1); i++) {
				/* Not before the request's first byte came. */
				double t = mono();

				if (split && !read_full(fd, b + 1, 1))
					break;
				usleep((useconds_t)(split ? split_delay_us(i) : delay_us(i)));
				if (srv_lat && i < PER_CONN)
					srv_lat[k * PER_CONN + i] = mono() - t;
				if (write(fd, b, 1) != 1)
					break;
				if (split && (usleep(SPLIT_ANS_US), write(fd, b + 1, 1)) != 1)
					break;
			}
			_exit(0);
		}
		close(fd);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs the clients; their measured latencies, sorted, into lat[N]. */
static void run_clients(double *lat)
{
	double *shared = mmap(NULL, N * sizeof(double), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[CONNS];
	int k, i, fd, status;
	char b = 'q';

	assert_true(shared != MAP_FAILED);
	for (k = 0; k < CONNS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			fd = tcp_connect(AF_INET, 3001);
			if (fd < 0)
				_exit(1);
			for (i = 0; i < PER_CONN; i++) {
				double t = mono();

				if (write(fd, "qq", split && k % 2 == 0 ? 2 : 1) < 1)
					_exit(1);
				if (split && k % 2 && (usleep(SPLIT_REQ_US), write(fd, &b, 1)) != 1)
					_exit(1);
				if (read(fd, &b, 1) != 1)
					_exit(1);
				shared[k * PER_CONN + i] = mono() - t;
				if (split && read(fd, &b, 1) != 1)
					_exit(1);
			}
			close(fd);
			_exit(0);
		}
	}
	for (k = 0; k < CONNS; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	memcpy(lat, shared, N * sizeof(double));
	munmap(shared, N * sizeof(double));
	qsort(lat, N, sizeof(double), cmp_double);
}

static json_t *find(json_t *doc, const char *dir)
{
	return find_row(doc, 3001, dir);
}

/* Smallest and largest value the histogram bucket holding seconds holds. */
static double bucket_lower(double seconds)
{
	__u32 b = pw_hist_bucket((__u64)(seconds * 1e9));

	return b ? (double)(pw_hist_upper_ns(b - 1) + 1) / 1e9 : 0;
}

static double bucket_upper(double seconds)
{
	return (double)pw_hist_upper_ns(pw_hist_bucket((__u64)(seconds * 1e9))) / 1e9;
}

/* What the test saw brackets each request: the server's time (from its
 * read's return to its write) is at most portwatch's, on either side, and
 * the client's (from its write to its read's return) at least. Order
 * statistics keep that order, so portwatch's quantile q lies in the
 * buckets between the same quantile of lo[] and of hi[] (sorted, n each),
 * however slow the machine; on a fast one that is a bucket or two. */
static void quantile_between(double got, const double *lo, const double *hi, int n, double q,
			     const char *what)
{
	int k = (int)ceil(q * n - 1e-9) - 1; /* the value portwatch's rank falls on */
	double min = bucket_lower(lo[k]), max = bucket_upper(hi[k]);

	fprintf(stderr, "# %s: portwatch %.4fs, server %.4fs, clients %.4fs\n", what, got, lo[k],
		hi[k]);
	/* JSON carries microseconds. */
	if (got < min - 1e-6 || got > max + 1e-6)
		fail_msg("%s: portwatch %.4fs, outside %.4f-%.4fs (buckets of server %.4fs, "
			 "clients %.4fs)",
			 what, got, min, max, lo[k], hi[k]);
}

/* Shared with the server's children before spawning it; sorted out of
 * them into lo[N] once the clients are done. */
static void server_times_open(void)
{
	srv_lat = mmap(NULL, N * sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	assert_true(srv_lat != MAP_FAILED);
	memset(srv_lat, 0, N * sizeof(double));
}

static void server_times(double *lo)
{
	memcpy(lo, srv_lat, N * sizeof(double));
	munmap(srv_lat, N * sizeof(double));
	srv_lat = NULL;
	qsort(lo, N, sizeof(double), cmp_double);
}

/* Lines of b's output holding needle. */
static int count_lines_with(const struct bg *b, const char *needle)
{
	char *out = bg_output(b), *p;
	int n = 0;

	for (p = out; p && (p = strstr(p, needle)); p++)
		n++;
	free(out);
	return n;
}

static void wait_measuring(struct bg *pw)
{
	char *err = NULL;
	int tries;

	for (tries = 0; tries < WAIT_MS / 50; tries++) {
		err = bg_errors(pw);
		if (strstr(err, "measuring"))
			break;
		free(err);
		err = NULL;
		usleep(50000);
	}
	assert_non_null(err);
	free(err);
}

/* Exact request counts; p50 and p95 between the server's and the clients'
 * own, on the server's side (inbound) and the clients' (outbound) alike. */
static void check_request_latency(const char *const *env)
{
	static const char *const args[] = { "latency", "--json", NULL };
	double lat[N], lo[N];
	json_t *doc, *o;
	struct bg pw;
	char *out;
	pid_t srv;

	server_times_open();
	srv = spawn(server, NULL);
	assert_true(srv > 0);
	assert_int_equal(wait_child(srv, WAIT_MS), 0);
	assert_int_equal(bg_portwatch_env(&pw, env, args), 0);
	wait_measuring(&pw);

	run_clients(lat);
	server_times(lo);
	kill(pw.pid, SIGINT);
	assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
	out = bg_output(&pw);
	doc = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(doc);

	o = find(doc, "inbound");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "count")), N);
	quantile_between(json_real_value(json_object_get(o, "p50_seconds")), lo, lat, N, 0.50,
			 "inbound p50");
	quantile_between(json_real_value(json_object_get(o, "p95_seconds")), lo, lat, N, 0.95,
			 "inbound p95");
	o = find(doc, "outbound");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "count")), N);
	quantile_between(json_real_value(json_object_get(o, "p50_seconds")), lo, lat, N, 0.50,
			 "outbound p50");
	quantile_between(json_real_value(json_object_get(o, "p95_seconds")), lo, lat, N, 0.95,
			 "outbound p95");
	/* The max is a real request, bounded by what the slowest client saw. */
	assert_true(json_real_value(json_object_get(o, "max_seconds")) <= lat[N - 1] + 0.001);
	json_decref(doc);
}

static void test_request_latency(void **state)
{
	(void)state;
	split = false;
	check_request_latency(NULL);
}

/* Requests and answers in two writes each, with pauses between the parts
 * long enough for the peer to acknowledge the first: the second part of an
 * answer must not be taken for its start, nor the second part of a request
 * for its beginning. */
static void test_split_messages(void **state)
{
	(void)state;
	split = true;
	check_request_latency(NULL);
	split = false;
}

/* The same through the hook kernels before 6.8 have, after sendmsg()
 * returns (tcp_sendmsg_locked hidden). */
static void test_split_messages_after_send(void **state)
{
	static const char *const env[] = { "PORTWATCH_TEST_NO_HOOKS=tcp_sendmsg_locked", NULL };

	(void)state;
	split = true;
	check_request_latency(env);
	split = false;
}

/* Sums watch's per-interval requests for port 3001, by direction, and
 * the largest interval p95 into *p95_max (may be NULL). */
static void sum_requests(char *out, long *in, long *outb, double *p95_max)
{
	char *line, *save;
	double p95;

	*in = *outb = 0;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *dir = json_string_value(json_object_get(o, "direction"));

		if (dir && json_integer_value(json_object_get(o, "port")) == 3001) {
			if (!strcmp(dir, "inbound"))
				*in += json_integer_value(json_object_get(o, "requests"));
			if (!strcmp(dir, "outbound"))
				*outb += json_integer_value(json_object_get(o, "requests"));
			p95 = json_real_value(json_object_get(o, "latency_p95_seconds"));
			if (p95_max && p95 > *p95_max)
				*p95_max = p95;
		}
		json_decref(o);
	}
}

/* Requests are counted when they complete, not when their connection
 * closes: a keep-alive connection left open shows every request (the
 * kernel side adds them to the histogram in batches; a read takes the rest). */
static void test_counts_while_open(void **state)
{
	static const char *const args[] = { "watch",	  "--latency", "--json",
					    "--interval", "200ms",     NULL };
	long in, outb;
	int fd, i;
	struct bg w;
	char b = 'q', *out;
	pid_t srv;

	(void)state;
	split = false;
	srv = spawn(server, NULL);
	assert_true(srv > 0);
	assert_int_equal(wait_child(srv, WAIT_MS), 0);
	assert_int_equal(bg_portwatch_env(&w, NULL, args), 0);
	json_decref(watch_rows_after(&w, 0, NULL, WAIT_MS));
	fd = tcp_connect(AF_INET, 3001);
	assert_true(fd >= 0);
	for (i = 0; i < 13; i++) {
		assert_int_equal(write(fd, &b, 1), 1);
		assert_int_equal(read(fd, &b, 1), 1);
	}
	json_decref(watch_rows_after(&w, wall_now() + 0.2, NULL, WAIT_MS));
	assert_int_equal(bg_stop(&w, WAIT_MS), 0);
	out = bg_output(&w);
	sum_requests(out, &in, &outb, NULL);
	free(out);
	close(fd);
	assert_int_equal(in, 13);
	assert_int_equal(outb, 13);
}

/* events --slow: every request above the threshold, and only those, with
 * its latency and an owner, on both sides. */
static void test_slow_events(void **state)
{
	static const char *const args[] = { "events", "--slow", "50ms", "--json", NULL };
	int in = 0, out_n = 0, slow_lo, slow_hi, k;
	char *out, *line, *save, *err;
	double lat[N], lo[N];
	struct bg pw;
	pid_t srv;

	(void)state;
	split = false; /* a split test that failed left it set */
	server_times_open();
	srv = spawn(server, NULL);
	assert_true(srv > 0);
	assert_int_equal(wait_child(srv, WAIT_MS), 0);
	assert_int_equal(bg_portwatch_env(&pw, NULL, args), 0);
	assert_int_equal(events_wait_ready(&pw, EVENTS_CANARY_PORT, WAIT_MS), 0);
	run_clients(lat);
	server_times(lo);
	/* A request is slow for portwatch when it is for the server, and only
	 * when it is for the client. */
	for (k = 0, slow_lo = 0, slow_hi = 0; k < N; k++) {
		slow_lo += lo[k] >= 0.05;
		slow_hi += lat[k] >= 0.05;
	}
	/* Two in five requests take 80 ms; on a slow machine a few more. */
	assert_true(slow_lo >= N * 2 / 5);
	for (k = 0; k < WAIT_MS / 20 && count_lines_with(&pw, "slow_request") < 2 * slow_lo; k++)
		usleep(20000);
	assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
	err = bg_errors(&pw);
	assert_string_equal(err, "");
	free(err);
	out = bg_output(&pw);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *dir;

		assert_non_null(o);
		if (strcmp(json_string_value(json_object_get(o, "type")), "slow_request")) {
			json_decref(o);
			continue;
		}
		assert_int_equal(json_integer_value(json_object_get(o, "port")), 3001);
		assert_true(json_real_value(json_object_get(o, "time_in_state_seconds")) >= 0.05);
		/* Within the slowest client's time, give or take the kernel's
		 * send stamp (whole microseconds) and the printed rounding. */
		assert_true(json_real_value(json_object_get(o, "time_in_state_seconds")) <=
			    lat[N - 1] + 2e-6);
		assert_true(json_integer_value(json_object_get(o, "pid")) > 0);
		dir = json_string_value(json_object_get(o, "direction"));
		in += !strcmp(dir, "inbound");
		out_n += !strcmp(dir, "outbound");
		json_decref(o);
	}
	free(out);
	fprintf(stderr, "# slow: %d in, %d out, %d for the server, %d for the clients\n", in, out_n,
		slow_lo, slow_hi);
	assert_true(in >= slow_lo && in <= slow_hi);
	assert_true(out_n >= slow_lo && out_n <= slow_hi);
}

/* Connect latency and failures by reason, outbound, all on loopback: a
 * refused port, and a listener whose full accept queue drops SYNs with one
 * SYN retry allowed in this namespace (a timeout in about 3 s). */
static void test_connect_latency(void **state)
{
	static const char *const args[] = { "latency", "--json", NULL };
	int lfd, full, queued, i, fd;
	double t, slowest = 0;
	json_t *doc, *o, *c;
	struct bg pw;
	char *out;
	FILE *f;

	(void)state;
	f = fopen("/proc/sys/net/ipv4/tcp_syn_retries", "w");
	assert_non_null(f);
	fputs("1", f);
	fclose(f);
	lfd = tcp_listen(AF_INET, 3001, 64);
	full = tcp_listen(AF_INET, 3006, 0);
	assert_true(lfd >= 0 && full >= 0);
	assert_int_equal(bg_portwatch_env(&pw, NULL, args), 0);
	wait_measuring(&pw);
	for (i = 0; i < 10; i++) {
		t = mono();
		fd = tcp_connect(AF_INET, 3001);
		t = mono() - t;
		slowest = t > slowest ? t : slowest;
		assert_true(fd >= 0);
		close(fd);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(tcp_connect(AF_INET, 3999), -ECONNREFUSED);
	queued = tcp_connect(AF_INET, 3006);
	assert_true(queued >= 0);
	assert_int_equal(tcp_connect(AF_INET, 3006), -ETIMEDOUT);
	kill(pw.pid, SIGINT);
	assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
	out = bg_output(&pw);
	doc = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(doc);

	c = json_object_get(find_row(doc, 3001, "outbound"), "connect");
	assert_int_equal(json_integer_value(json_object_get(c, "count")), 10);
	/* No connect took portwatch longer than the slowest took the test. */
	assert_true(json_real_value(json_object_get(c, "p99_seconds")) <=
		    bucket_upper(slowest) + 1e-6);
	assert_true(json_real_value(json_object_get(c, "max_seconds")) <= slowest + 1e-6);
	assert_true(json_real_value(json_object_get(c, "max_seconds")) > 0);
	/* 3999 never had a connection: its refused attempts are under port 0. */
	assert_null(find_row(doc, 3999, "outbound"));
	o = find_row(doc, 0, "outbound");
	assert_non_null(o);
	c = json_object_get(o, "connect");
	assert_int_equal(json_integer_value(json_object_get(c, "count")), 0);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "failures"), "refused")), 3);
	c = json_object_get(find_row(doc, 3006, "outbound"), "connect");
	assert_int_equal(json_integer_value(json_object_get(c, "count")), 1);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "failures"), "timed_out")),
		1);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "failures"), "refused")), 0);
	json_decref(doc);
	close(queued);
	close(full);
	close(lfd);
}

/* watch --latency: requests per interval add up to every request, and the
 * slow class shows in the interval percentiles. */
static void test_watch_latency(void **state)
{
	static const char *const args[] = { "watch",	  "--latency", "--json",
					    "--interval", "200ms",     NULL };
	long req_in, req_out;
	double lat[N], lo[N], p95_max = 0;
	struct bg w;
	char *out;
	pid_t srv;

	(void)state;
	split = false;
	server_times_open();
	srv = spawn(server, NULL);
	assert_true(srv > 0);
	assert_int_equal(wait_child(srv, WAIT_MS), 0);
	assert_int_equal(bg_portwatch_env(&w, NULL, args), 0);
	json_decref(watch_rows_after(&w, 0, NULL, WAIT_MS));
	run_clients(lat);
	server_times(lo);
	json_decref(watch_rows_after(&w, wall_now() + 0.2, NULL, WAIT_MS));
	assert_int_equal(bg_stop(&w, WAIT_MS), 0);
	out = bg_output(&w);
	sum_requests(out, &req_in, &req_out, &p95_max);
	free(out);
	assert_int_equal(req_in, N);
	assert_int_equal(req_out, N);
	/* No interval's p95 above the slowest request; the slow class (two
	 * in five, at least 80 ms for the server) above p95 somewhere. */
	fprintf(stderr, "# largest interval p95 %.4fs, slow requests %.4f-%.4fs\n", p95_max,
		lo[N * 3 / 5], lat[N - 1]);
	assert_true(p95_max >= bucket_lower(lo[N * 3 / 5]) - 1e-6);
	assert_true(p95_max <= bucket_upper(lat[N - 1]) + 1e-6);
}

/* Requests the backend has answered, after srv_lat in the same mapping. */
#define backend_n (*(int *)(srv_lat + N))

/* An HTTP backend: /slow answers after 80 ms, anything else after 20 ms
 * (nginx logs with 1 ms resolution: 5 ms would leave no room for 10%);
 * one request per connection, as nginx sends them by default. */
/* The backend's totals, for /split answers (headers, then the body later). */
static double *srv_total;

static void http_backend(void *arg, int ready)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				    "Connection: close\r\n\r\nok";
	int lfd = tcp_listen(AF_INET, 3001, 64), fd, one = 1, k;
	char req[2048];
	size_t len;
	ssize_t n;
	double t;

	(void)arg;
	if (lfd < 0 || write(ready, "l", 1) != 1)
		_exit(1);
	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		if (fork() == 0) {
			for (len = 0; len < sizeof(req) - 1; len += (size_t)n) {
				n = read(fd, req + len, sizeof(req) - 1 - len);
				if (n <= 0)
					_exit(1);
				req[len + (size_t)n] = '\0';
				if (strstr(req, "\r\n\r\n"))
					break;
			}
			t = mono();
			if (strstr(req, "GET /split")) {
				/* Headers after 10 ms, the body 40 or 120 ms later. */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				usleep(10000);
				k = __sync_fetch_and_add(&backend_n, 1) % N;
				srv_lat[k] = mono() - t;
				if (write(fd, reply, sizeof(reply) - 3) < 0)
					_exit(1);
				usleep(strstr(req, "GET /split-slow") ? 120000 : 40000);
				srv_total[k] = mono() - t;
				if (write(fd, reply + sizeof(reply) - 3, 2) < 0)
					_exit(1);
				_exit(0);
			}
			usleep(strstr(req, "GET /slow") ? 80000 : 20000);
			if (srv_lat)
				srv_lat[__sync_fetch_and_add(&backend_n, 1) % N] = mono() - t;
			if (write(fd, reply, sizeof(reply) - 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(fd);
	}
}

static char nginx_dir[64];

static void run_nginx(void *arg, int ready)
{
	char conf[128];

	(void)arg;
	(void)ready;
	snprintf(conf, sizeof(conf), "%s/nginx.conf", nginx_dir);
	execlp("nginx", "nginx", "-p", nginx_dir, "-c", conf, (char *)NULL);
	_exit(127);
}

/* One request through nginx on a keep-alive connection: the whole reply. */
static void http_get(int fd, const char *path)
{
	char req[128], buf[4096];
	size_t len = 0;
	ssize_t n;
	char *body;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		buf[len] = '\0';
		body = strstr(buf, "\r\n\r\n");
		if (body && strlen(body + 4) >= 2)
			return;
	}
}

/* nginx on 8080 proxying to the backend on 3001, logging fmt per request;
 * srv_lat (and srv_total) shared with the backend. Returns a client
 * connection to nginx. */
static int nginx_start(const char *fmt)
{
	char path[128];
	int fd = -1, i;
	FILE *f;

	snprintf(nginx_dir, sizeof(nginx_dir), "/tmp/portwatch-nginx-XXXXXX");
	assert_non_null(mkdtemp(nginx_dir));
	snprintf(path, sizeof(path), "%s/nginx.conf", nginx_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"daemon off; master_process off; worker_processes 1;\n"
		"error_log %s/error.log; pid %s/nginx.pid;\n"
		"events { worker_connections 64; }\n"
		"http {\n"
		"  log_format up '%s';\n"
		"  access_log %s/access.log up;\n"
		"  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
		"  uwsgi_temp_path %s; scgi_temp_path %s;\n"
		"  server { listen 127.0.0.1:8080;\n"
		"    location / { proxy_pass http://127.0.0.1:3001; } }\n"
		"}\n",
		nginx_dir, nginx_dir, fmt, nginx_dir, nginx_dir, nginx_dir, nginx_dir, nginx_dir,
		nginx_dir);
	fclose(f);
	srv_lat = mmap(NULL, (2 * N + 1) * sizeof(double), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(srv_lat != MAP_FAILED);
	memset(srv_lat, 0, (2 * N + 1) * sizeof(double));
	srv_total = srv_lat + N + 1;
	assert_true(spawn(http_backend, NULL) > 0);
	assert_true(spawn(run_nginx, NULL) > 0);
	for (i = 0; i < 100 && (fd = tcp_connect(AF_INET, 8080)) < 0; i++)
		usleep(50000);
	assert_true(fd >= 0);
	return fd;
}

/* nginx's log, n lines of one or two times (in seconds, truncated to the
 * ms: + 1 ms each), sorted; the backend's times, sorted; then cleans up. */
static void nginx_finish(int n, double *up1, double *up2, double *lo1, double *lo2)
{
	char path[128], line[64];
	int i = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/access.log", nginx_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	for (; i < n && fgets(line, sizeof(line), f); i++) {
		char *end;

		up1[i] = strtod(line, &end) + 0.001;
		if (up2)
			up2[i] = strtod(end, NULL) + 0.001;
	}
	fclose(f);
	assert_int_equal(i, n);
	assert_int_equal(backend_n, n);
	qsort(up1, (size_t)n, sizeof(double), cmp_double);
	memcpy(lo1, srv_lat, (size_t)n * sizeof(double));
	qsort(lo1, (size_t)n, sizeof(double), cmp_double);
	if (up2) {
		qsort(up2, (size_t)n, sizeof(double), cmp_double);
		memcpy(lo2, srv_total, (size_t)n * sizeof(double));
		qsort(lo2, (size_t)n, sizeof(double), cmp_double);
	}
	munmap(srv_lat, (2 * N + 1) * sizeof(double));
	srv_lat = srv_total = NULL;
	snprintf(path, sizeof(path), "rm -rf %s", nginx_dir);
	assert_int_equal(system(path), 0);
}

/* Through a real reverse proxy: portwatch's outbound latency for the
 * backend port lies between the backend's own time and nginx's
 * $upstream_response_time (which starts before nginx connects, and ends
 * once the whole answer is in; 1 ms resolution) at p50 and p95. */
static void test_nginx_upstream(void **state)
{
	static const char *const args[] = { "latency", "--json", "--port", "3001", NULL };
	double up[100], lo[100];
	struct bg pw;
	json_t *doc, *o;
	char *out;
	int fd, i;

	(void)state;
	fd = nginx_start("$upstream_response_time");
	assert_int_equal(bg_portwatch_env(&pw, NULL, args), 0);
	wait_measuring(&pw);
	for (i = 0; i < 100; i++)
		http_get(fd, i % 5 < 3 ? "/fast" : "/slow");
	close(fd);
	kill(pw.pid, SIGINT);
	assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
	nginx_finish(100, up, NULL, lo, NULL);

	out = bg_output(&pw);
	doc = json_loads(out, 0, NULL);
	free(out);
	o = find(doc, "outbound");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "count")), 100);
	quantile_between(json_real_value(json_object_get(o, "p50_seconds")), lo, up, 100, 0.50,
			 "nginx p50");
	quantile_between(json_real_value(json_object_get(o, "p95_seconds")), lo, up, 100, 0.95,
			 "nginx p95");
	json_decref(doc);
}

/* A backend that sends its headers, then its body later: the request
 * latency is the time to the first byte, between the backend's and
 * nginx's $upstream_header_time; the response, to the last byte, between
 * the backend's and nginx's $upstream_response_time. */
static void test_nginx_response(void **state)
{
	static const char *const args[] = { "latency", "--json", "--port", "3001", NULL };
	double up_hdr[50], up_all[50], lo_hdr[50], lo_all[50];
	struct bg pw;
	json_t *doc, *o, *r;
	char *out;
	int fd, i;

	(void)state;
	fd = nginx_start("$upstream_header_time $upstream_response_time");
	assert_int_equal(bg_portwatch_env(&pw, NULL, args), 0);
	wait_measuring(&pw);
	for (i = 0; i < 50; i++)
		http_get(fd, i % 5 < 3 ? "/split-fast" : "/split-slow");
	close(fd);
	/* The backend's last answer is whole when its socket closes: wait for
	 * that before the last read (a slow machine closes it late). */
	assert_int_equal(ss_wait_count("ESTAB", 3001, -1, 0, WAIT_MS), 0);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", 3001, -1, 0, WAIT_MS), 0);
	kill(pw.pid, SIGINT);
	assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
	nginx_finish(50, up_hdr, up_all, lo_hdr, lo_all);

	out = bg_output(&pw);
	doc = json_loads(out, 0, NULL);
	free(out);
	o = find(doc, "outbound");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "count")), 50);
	quantile_between(json_real_value(json_object_get(o, "p50_seconds")), lo_hdr, up_hdr, 50,
			 0.50, "header p50");
	quantile_between(json_real_value(json_object_get(o, "p95_seconds")), lo_hdr, up_hdr, 50,
			 0.95, "header p95");
	r = json_object_get(o, "response");
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 50);
	quantile_between(json_real_value(json_object_get(r, "p50_seconds")), lo_all, up_all, 50,
			 0.50, "response p50");
	quantile_between(json_real_value(json_object_get(r, "p95_seconds")), lo_all, up_all, 50,
			 0.95, "response p95");
	/* Inbound at the backend: its answers end at its last send. */
	r = json_object_get(find(doc, "inbound"), "response");
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 50);
	quantile_between(json_real_value(json_object_get(r, "p95_seconds")), lo_all, up_all, 50,
			 0.95, "inbound response p95");
	json_decref(doc);
}

#define ACCEPTS 8
#define ACCEPT_GAP_US 50000

/* Upper bounds of a JSON histogram's buckets, one per value counted, in
 * order: the i-th smallest value counted is at most out[i]. */
static size_t bucket_bounds(json_t *buckets, double *out, size_t max)
{
	size_t i, n = 0;
	json_t *b;
	long k;

	json_array_foreach (buckets, i, b) {
		for (k = json_integer_value(json_object_get(b, "count")); k > 0 && n < max; k--)
			out[n++] = json_real_value(json_object_get(b, "le_seconds"));
	}
	return n;
}

/* Accept-queue wait: ACCEPTS connections queued at once (one of them reset
 * by its client, one closed, while still queued: accept() returns those
 * too), accepted one every 50 ms. Every accept counted, each wait in the
 * bucket of what the test measured, the largest within 10%; the syscall
 * hook attached while measuring. */
static void test_accept_wait(void **state)
{
	static const char *const args[] = { "latency", "--accept-wait", "--json", NULL };
	double before[ACCEPTS], queued[ACCEPTS], lo[ACCEPTS], hi[ACCEPTS], bounds[ACCEPTS + 1], t;
	struct linger lg = { 1, 0 };
	int lfd, cfd[ACCEPTS], afd, i;
	json_t *doc, *a;
	struct bg pw;
	char *out;

	(void)state;
	lfd = tcp_listen(AF_INET, 3001, 64);
	assert_true(lfd >= 0);
	assert_int_equal(bg_portwatch_env(&pw, NULL, args), 0);
	wait_measuring(&pw);
	assert_int_equal(bpf_prog_count_of_wait(pw.pid, "on_sys_exit", 1, WAIT_MS), 1);
	for (i = 0; i < ACCEPTS; i++) {
		before[i] = mono();
		cfd[i] = tcp_connect(AF_INET, 3001);
		assert_true(cfd[i] >= 0);
		/* Queued once the client's ACK is in: after connect() began,
		 * by the time the listener counts it. */
		assert_int_equal(wait_accept_queue(lfd, (unsigned int)i + 1, WAIT_MS), 0);
		queued[i] = mono();
	}
	assert_int_equal(setsockopt(cfd[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(cfd[1]); /* RST: the queued socket is closed */
	close(cfd[2]); /* FIN: CLOSE_WAIT in the queue */
	for (i = 0; i < ACCEPTS; i++) {
		usleep(ACCEPT_GAP_US);
		t = mono();
		afd = accept(lfd, NULL, NULL);
		/* Taken during accept(). */
		lo[i] = t - queued[i];
		hi[i] = mono() - before[i];
		assert_true(afd >= 0);
		close(afd);
	}
	kill(pw.pid, SIGINT);
	assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
	out = bg_output(&pw);
	doc = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(doc);

	a = json_object_get(find(doc, "inbound"), "accept_wait");
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "count")), ACCEPTS);
	/* Each wait lies between lo[i] and hi[i]; sorted, so do the i-th
	 * smallest, which must then be in the i-th bucket counted. */
	qsort(lo, ACCEPTS, sizeof(double), cmp_double);
	qsort(hi, ACCEPTS, sizeof(double), cmp_double);
	t = json_real_value(json_object_get(a, "max_seconds"));
	fprintf(stderr, "# largest accept wait: portwatch %.4fs, test %.4f-%.4fs\n", t,
		lo[ACCEPTS - 1], hi[ACCEPTS - 1]);
	assert_true(t >= lo[ACCEPTS - 1] - 1e-6 && t <= hi[ACCEPTS - 1] + 1e-6);
	assert_int_equal(bucket_bounds(json_object_get(a, "buckets"), bounds, ACCEPTS + 1),
			 ACCEPTS);
	for (i = 0; i < ACCEPTS; i++) {
		fprintf(stderr, "# accept wait %d: test %.4f-%.4fs, bucket up to %.4fs\n", i, lo[i],
			hi[i], bounds[i]);
		assert_true(lo[i] <= bounds[i] + 1e-6);
		assert_true(hi[i] >= bucket_lower(bounds[i]) - 1e-6);
	}
	/* Outbound rows have no accept waits; connects are counted. */
	assert_null(json_object_get(find(doc, "outbound"), "accept_wait"));
	json_decref(doc);
	for (i = 0; i < ACCEPTS; i++)
		if (i != 1 && i != 2)
			close(cfd[i]);
	close(lfd);
}

/* Not asked for: no syscall hook at all, no accept_wait in the output. And
 * asked for on a kernel without the tracepoint (simulated): one line says
 * so, request latency is measured as ever. */
static void test_accept_wait_off(void **state)
{
	static const char *const plain[] = { "latency", "--json", NULL };
	static const char *const asked[] = { "latency", "--json", "--accept-wait", NULL };
	static const char *const no_hook[] = { "PORTWATCH_TEST_NO_HOOKS=sys_exit", NULL };
	const char *const *args[] = { plain, asked };
	const char *const *env[] = { NULL, no_hook };
	int lfd, cfd, afd, run;
	char *out, *err;
	json_t *doc, *o;
	struct bg pw;
	char b = 'x';

	(void)state;
	lfd = tcp_listen(AF_INET, 3001, 64);
	assert_true(lfd >= 0);
	for (run = 0; run < 2; run++) {
		assert_int_equal(bg_portwatch_env(&pw, env[run], args[run]), 0);
		wait_measuring(&pw);
		assert_int_equal(bpf_prog_count_of(pw.pid, "on_sys_exit"), 0);
		assert_int_equal(bpf_prog_count_of(pw.pid, "on_state"), 1);
		cfd = tcp_connect(AF_INET, 3001);
		assert_true(cfd >= 0);
		afd = accept(lfd, NULL, NULL);
		assert_true(afd >= 0);
		assert_int_equal(write(cfd, &b, 1), 1);
		assert_int_equal(read(afd, &b, 1), 1);
		assert_int_equal(write(afd, &b, 1), 1);
		assert_int_equal(read(cfd, &b, 1), 1);
		close(cfd);
		close(afd);
		kill(pw.pid, SIGINT);
		assert_int_equal(bg_stop(&pw, WAIT_MS), 0);
		err = bg_errors(&pw);
		if (run == 0) {
			assert_int_equal(count_lines(err), 1); /* "measuring ..." */
		} else {
			assert_int_equal(count_lines(err), 2);
			assert_non_null(strstr(
				err, "no accept-queue wait: kernel lacks the tracepoint sys_exit"));
		}
		free(err);
		out = bg_output(&pw);
		doc = json_loads(out, 0, NULL);
		free(out);
		o = find(doc, "inbound");
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "count")), 1);
		assert_null(json_object_get(o, "accept_wait"));
		json_decref(doc);
	}
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_latency, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_split_messages, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_split_messages_after_send, netns_setup,
						netns_teardown),
		cmocka_unit_test_setup_teardown(test_slow_events, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_connect_latency, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_watch_latency, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_counts_while_open, netns_setup,
						netns_teardown),
		cmocka_unit_test_setup_teardown(test_nginx_upstream, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_nginx_response, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_accept_wait, netns_setup, netns_teardown),
		cmocka_unit_test_setup_teardown(test_accept_wait_off, netns_setup, netns_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "integration tests need root\n");
		return 1;
	}
	if (getenv("TEST_FILTER")) /* one test by name (a glob), for development */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("latency", tests, NULL, NULL);
}
