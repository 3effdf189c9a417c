// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /metrics and /healthz over libmicrohttpd, one internal epoll thread.
 * Bodies are copied out under a mutex held only for that copy. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "exporter.h"
#include "log.h"

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct pw_exporter {
	struct MHD_Daemon *mhd;
	int fd;
	pthread_mutex_t lock;
	char *text;
	size_t len;
	bool healthy;
	char why[128];
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_metrics(struct pw_exporter *e, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	pthread_mutex_lock(&e->lock);
	r = MHD_create_response_from_buffer(e->len, e->text ? e->text : (char *)"",
					    MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&e->lock);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_METRICS);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_health(struct pw_exporter *e, struct MHD_Connection *c)
{
	char body[160];
	bool ok;

	pthread_mutex_lock(&e->lock);
	ok = e->healthy;
	snprintf(body, sizeof(body), "%s\n", ok ? "ok" : e->why);
	pthread_mutex_unlock(&e->lock);
	return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body,
		     strlen(body));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **state)
{
	static const char index_page[] =
		"<html><head><title>portwatch</title></head><body><h1>portwatch</h1>"
		"<p><a href=\"/metrics\">metrics</a> <a href=\"/healthz\">healthz</a></p>"
		"</body></html>\n";
	struct pw_exporter *e = cls;

	(void)version;
	(void)upload_data;
	/* A body on a GET is ignored: swallow it and answer. */
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	(void)state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
			     19);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(e, c);
	if (!strcmp(url, "/healthz"))
		return serve_health(e, c);
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "text/html", index_page, sizeof(index_page) - 1);
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (pw_verbose())
		pw_vdebug(fmt, ap);
}

static int listen_on(const char *addr, __u16 port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	bool v6 = strchr(addr, ':') != NULL;
	int fd, one = 1, err;

	if (v6 ? inet_pton(AF_INET6, addr, &s6.sin6_addr) != 1
	       : inet_pton(AF_INET, addr, &s4.sin_addr) != 1) {
		pw_err("listen on %s: not a numeric address", addr);
		return -EINVAL;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, v6 ? (struct sockaddr *)&s6 : (struct sockaddr *)&s4,
		 v6 ? sizeof(s6) : sizeof(s4)) ||
	    listen(fd, 64)) {
		err = -errno;
		pw_err(v6 ? "listen on [%s]:%u: %s" : "listen on %s:%u: %s", addr, port,
		       strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

struct pw_exporter *pw_exporter__new(const char *addr, __u16 port, __u32 max_conns)
{
	struct pw_exporter *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	pthread_mutex_init(&e->lock, NULL);
	snprintf(e->why, sizeof(e->why), "starting");
	e->fd = listen_on(addr, port);
	if (e->fd < 0) {
		err = e->fd;
		goto err_free;
	}
	e->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				  handle, e, MHD_OPTION_LISTEN_SOCKET, e->fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)max_conns,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!e->mhd) {
		err = -EIO;
		pw_err("start HTTP server: libmicrohttpd refused to start");
		goto err_close;
	}
	return e;

err_close:
	close(e->fd);
err_free:
	pthread_mutex_destroy(&e->lock);
	free(e);
	errno = -err;
	return NULL;
}

void pw_exporter__free(struct pw_exporter *e)
{
	if (!e)
		return;
	/* MHD closes the listening socket it was given. */
	MHD_stop_daemon(e->mhd);
	pthread_mutex_destroy(&e->lock);
	free(e->text);
	free(e);
}

int pw_exporter__publish(struct pw_exporter *e, const char *text, size_t len)
{
	char *copy = malloc(len + 1), *old;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&e->lock);
	old = e->text;
	e->text = copy;
	e->len = len;
	pthread_mutex_unlock(&e->lock);
	free(old);
	return 0;
}

void pw_exporter__health(struct pw_exporter *e, bool ok, const char *why)
{
	pthread_mutex_lock(&e->lock);
	e->healthy = ok;
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	pthread_mutex_unlock(&e->lock);
}
