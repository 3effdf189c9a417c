// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loopback load for `make bench`, bounded in count and time.
 *   loadgen churn SECONDS MAX     connect/accept/close as fast as possible
 *   loadgen resets SECONDS MAX    the same, the client closing with a reset
 *                                 (SO_LINGER 0, as health checkers and timed-out
 *                                 clients do)
 *   loadgen closed SECONDS MAX    connection attempts to a port nobody listens on
 *   loadgen pingpong SECONDS MAX  1-byte request/response on one connection
 *   loadgen spread SECONDS MAX    10,000 connections/s, no more, spread over
 *                                 2,000 ports (20000-21999) round robin
 * Prints operations per second. Run it in a network namespace of its own. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORT 3001

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = __builtin_bswap16(PORT) };

static int listener(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4096)) {
		perror("listen");
		exit(1);
	}
	return fd;
}

static void *churn_server(void *arg)
{
	int lfd = *(int *)arg, fd;

	while ((fd = accept(lfd, NULL, NULL)) >= 0)
		close(fd);
	return NULL;
}

static void *echo_server(void *arg)
{
	int lfd = *(int *)arg, fd, one = 1;
	char b;

	fd = accept(lfd, NULL, NULL);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read(fd, &b, 1) == 1 && write(fd, &b, 1) == 1)
		;
	return NULL;
}

#define SPREAD_PORTS 2000
#define SPREAD_RATE 10000.0

/* Accepts and closes on every listener. */
static void *spread_server(void *arg)
{
	int ep = *(int *)arg, n, i, fd;
	struct epoll_event ev[64];

	for (;;) {
		n = epoll_wait(ep, ev, 64, -1);
		for (i = 0; i < n; i++)
			while ((fd = accept4(ev[i].data.fd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
				close(fd);
	}
	return NULL;
}

/* Connections at SPREAD_RATE over SPREAD_PORTS ports, for secs or max. */
static long spread(double secs, long max)
{
	struct rlimit rl = { SPREAD_PORTS + 64, SPREAD_PORTS + 64 };
	struct sockaddr_in a = addr;
	struct epoll_event e = { .events = EPOLLIN };
	double start = now(), t;
	int ep = epoll_create1(0), i, fd, one = 1;
	pthread_t th;
	long n;

	if (setrlimit(RLIMIT_NOFILE, &rl) || ep < 0) {
		perror("setrlimit/epoll");
		exit(1);
	}
	for (i = 0; i < SPREAD_PORTS; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		a.sin_port = htons(20000 + i);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
			perror("listen");
			exit(1);
		}
		e.data.fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	}
	pthread_create(&th, NULL, spread_server, &ep);
	start = now();
	for (n = 0; n < max; n++) {
		if (!(n & 63)) {
			t = now();
			if (t - start >= secs)
				break;
			/* Ahead of the rate: wait for it. */
			if (n / SPREAD_RATE > t - start)
				usleep((useconds_t)((n / SPREAD_RATE - (t - start)) * 1e6));
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_port = htons(20000 + n % SPREAD_PORTS);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			perror("connect");
			exit(1);
		}
		close(fd);
	}
	printf("%.0f\n", n / (now() - start));
	return n;
}

int main(int argc, char **argv)
{
	double secs, start, end;
	long max, n = 0;
	pthread_t th;
	int lfd, fd, one = 1;
	char b = 'x';

	struct linger lg = { 1, 0 };
	bool resets, closed;

	if (argc != 4 ||
	    (strcmp(argv[1], "churn") && strcmp(argv[1], "resets") && strcmp(argv[1], "closed") &&
	     strcmp(argv[1], "pingpong") && strcmp(argv[1], "spread"))) {
		fprintf(stderr, "usage: loadgen churn|resets|closed|pingpong|spread SECONDS MAX\n");
		return 2;
	}
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!strcmp(argv[1], "spread")) {
		spread(atof(argv[2]), atol(argv[3]));
		return 0;
	}
	resets = !strcmp(argv[1], "resets");
	closed = !strcmp(argv[1], "closed");
	secs = atof(argv[2]);
	max = atol(argv[3]);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = listener();
	start = now();
	end = start + secs;
	if (closed) {
		struct sockaddr_in none = addr;

		none.sin_port = htons(PORT + 1);
		for (; n < max && ((n & 63) || now() < end); n++) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (!connect(fd, (struct sockaddr *)&none, sizeof(none))) {
				fprintf(stderr, "connect: port %d is open\n", PORT + 1);
				return 1;
			}
			close(fd);
		}
	} else if (strcmp(argv[1], "pingpong")) {
		pthread_create(&th, NULL, churn_server, &lfd);
		/* Check the clock every 64 connections: cheap and bounded. */
		for (; n < max && ((n & 63) || now() < end); n++) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
				perror("connect");
				return 1;
			}
			if (resets)
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
		}
	} else {
		pthread_create(&th, NULL, echo_server, &lfd);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
			perror("connect");
			return 1;
		}
		for (; n < max && ((n & 255) || now() < end); n++)
			if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1) {
				perror("pingpong");
				return 1;
			}
	}
	printf("%.0f\n", n / (now() - start));
	return 0;
}
