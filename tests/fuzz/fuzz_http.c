// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer target: the exporter's request handling. One exporter (on
 * 127.0.0.1:19977, its own libmicrohttpd thread) serves a published text;
 * each input is written to a new connection as it is, the write side shut,
 * and the answer read. A crash or sanitizer report in the server thread
 * fails the run. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/exporter.h"

#define FUZZ_PORT 19977

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pw_exporter *server(void)
{
	static struct pw_exporter *e;
	static char text[4096];
	size_t i;

	if (e)
		return e;
	/* A text worth compressing, and answered at once (never stale). */
	for (i = 0; i + 40 < sizeof(text); i += 40)
		memcpy(text + i, "portwatch_fuzz_sample{port=\"3001\"} 42\n", 39),
			text[i + 39] = '\n';
	e = pw_exporter__new("127.0.0.1", FUZZ_PORT, 16, UINT64_MAX);
	if (!e)
		abort();
	pw_exporter__health(e, true, NULL);
	pw_exporter__publish(e, text, i);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(FUZZ_PORT) };
	struct pollfd p;
	char buf[65536];
	int fd, wait_ms;
	size_t off = 0;
	ssize_t n;

	server();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		abort();
	while (off < size) {
		n = write(fd, data + off, size - off);
		if (n <= 0)
			break; /* the server may close early on garbage */
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	/* The answer, until the server closes or goes quiet (a kept-alive
	 * connection stays open after it: closing ours then ends it at the
	 * server too). An incomplete request gets no answer: 300 ms. */
	for (wait_ms = 300; poll(&p, 1, wait_ms) == 1; wait_ms = 200)
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
	close(fd);
	return 0;
}
