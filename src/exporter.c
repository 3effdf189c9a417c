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
#include <strings.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include "exporter.h"
#include "log.h"

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct pw_exporter {
	struct MHD_Daemon *mhd;
	int fd;
	int wake; /* eventfd: a scrape wants fresher text than there is */
	__u64 max_age_ns;
	pthread_mutex_t lock;
	char *text;
	size_t len;
	__u64 published_ns; /* CLOCK_MONOTONIC of the text */
	/* The text gzipped, made at the first scrape that accepts it. */
	char *gz;
	size_t gz_len;
	/* Scrapes suspended until the next publish. */
	struct MHD_Connection **waiting;
	size_t n_waiting, max_waiting;
	bool healthy;
	char why[128];
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

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

/* Markers in a request's state: its headers are in (answered at the next
 * call, with the request complete, so the connection can be kept alive);
 * it waited for fresher text once already. */
static char headers_in, waited;

/* Whether the client takes gzip: a "gzip" coding in Accept-Encoding that
 * is not refused with q=0. */
static bool accepts_gzip(struct MHD_Connection *c)
{
	const char *v =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	const char *p, *end;

	for (p = v; p && *p; p = end + (*end == ',')) {
		end = p + strcspn(p, ",");
		p += strspn(p, " \t");
		if (!strncasecmp(p, "gzip", 4) && (p + 4 == end || strchr(" \t;", p[4]))) {
			const char *q = memchr(p, ';', (size_t)(end - p));

			/* A weight of 0 (q=0, q=0.0, q=0.000) refuses it. */
			while (q && q < end && strncasecmp(q, "q=", 2))
				q++;
			return !q || q >= end || strtod(q + 2, NULL) > 0;
		}
	}
	return false;
}

/* The text gzipped, under e->lock; false if zlib fails. Texts compress
 * about tenfold; a scrape of many ports is hundreds of kilobytes. */
static bool gzip_text(struct pw_exporter *e)
{
	z_stream z = {};
	uLong cap;

	if (e->gz)
		return true;
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16 /* gzip */, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return false;
	cap = deflateBound(&z, e->len);
	e->gz = malloc(cap);
	z.next_in = (Bytef *)(e->text ? e->text : "");
	z.avail_in = (uInt)e->len;
	z.next_out = (Bytef *)e->gz;
	z.avail_out = (uInt)cap;
	if (!e->gz || deflate(&z, Z_FINISH) != Z_STREAM_END) {
		free(e->gz);
		e->gz = NULL;
		deflateEnd(&z);
		return false;
	}
	e->gz_len = z.total_out;
	deflateEnd(&z);
	return true;
}

static enum MHD_Result serve_metrics(struct pw_exporter *e, struct MHD_Connection *c, void **state)
{
	static const __u64 one = 1;
	struct MHD_Response *r;
	enum MHD_Result ret;
	bool gz;

	pthread_mutex_lock(&e->lock);
	/* Text older than max_age: the scrape waits (suspended, the server
	 * serves others) for the tracing loop to read afresh, once. The
	 * daemon reads the kernel's maps when asked, not on a clock. */
	if (*state != &waited && mono_ns() - e->published_ns > e->max_age_ns &&
	    e->n_waiting < e->max_waiting) {
		*state = &waited; /* served whatever there is next time */
		e->waiting[e->n_waiting++] = c;
		MHD_suspend_connection(c);
		pthread_mutex_unlock(&e->lock);
		/* Fails only with the counter full, and readable then. */
		(void)!write(e->wake, &one, sizeof(one));
		return MHD_YES;
	}
	gz = e->len >= 1024 && accepts_gzip(c) && gzip_text(e);
	if (gz)
		r = MHD_create_response_from_buffer(e->gz_len, e->gz, MHD_RESPMEM_MUST_COPY);
	else
		r = MHD_create_response_from_buffer(e->len, e->text ? e->text : (char *)"",
						    MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&e->lock);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_METRICS);
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (gz)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
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
	/* Answered once the whole request is in: a response queued at the
	 * first call, with the headers only, makes libmicrohttpd close the
	 * connection after it (no keep-alive, no pipelining). */
	if (!*state) {
		*state = &headers_in;
		return MHD_YES;
	}
	/* A body on a GET is ignored: swallow it and answer. */
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
			     19);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(e, c, state);
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

struct pw_exporter *pw_exporter__new(const char *addr, __u16 port, __u32 max_conns,
				     __u64 max_age_ns)
{
	struct pw_exporter *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	e->wake = -1;
	pthread_mutex_init(&e->lock, NULL);
	snprintf(e->why, sizeof(e->why), "starting");
	e->fd = listen_on(addr, port);
	if (e->fd < 0) {
		err = e->fd;
		goto err_free;
	}
	e->max_age_ns = max_age_ns;
	e->max_waiting = max_conns;
	e->waiting = calloc(max_conns ? max_conns : 1, sizeof(*e->waiting));
	e->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!e->waiting || e->wake < 0) {
		err = -ENOMEM;
		close(e->fd);
		goto err_free;
	}
	e->mhd = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0,
		NULL, NULL, handle, e, MHD_OPTION_LISTEN_SOCKET, e->fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)max_conns, MHD_OPTION_CONNECTION_TIMEOUT, 10U,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_EXTERNAL_LOGGER,
		mhd_log, NULL, MHD_OPTION_END);
	if (!e->mhd) {
		err = -EIO;
		pw_err("start HTTP server: libmicrohttpd refused to start");
		goto err_close;
	}
	return e;

err_close:
	close(e->fd);
err_free:
	if (e->wake >= 0)
		close(e->wake);
	free(e->waiting);
	pthread_mutex_destroy(&e->lock);
	free(e);
	errno = -err;
	return NULL;
}

/* Resumes every suspended scrape: they are served the text there is. */
static void resume_waiting(struct pw_exporter *e)
{
	struct MHD_Connection *c[e->max_waiting ? e->max_waiting : 1];
	size_t i, n;

	pthread_mutex_lock(&e->lock);
	n = e->n_waiting;
	memcpy(c, e->waiting, n * sizeof(*c));
	e->n_waiting = 0;
	pthread_mutex_unlock(&e->lock);
	for (i = 0; i < n; i++)
		MHD_resume_connection(c[i]);
}

int pw_exporter__fd(const struct pw_exporter *e)
{
	return e->wake;
}

bool pw_exporter__wanted(struct pw_exporter *e)
{
	__u64 n;

	return read(e->wake, &n, sizeof(n)) == sizeof(n);
}

void pw_exporter__free(struct pw_exporter *e)
{
	if (!e)
		return;
	/* Nothing may stay suspended when the server stops. MHD closes the
	 * listening socket it was given. */
	resume_waiting(e);
	MHD_stop_daemon(e->mhd);
	pthread_mutex_destroy(&e->lock);
	close(e->wake);
	free(e->waiting);
	free(e->text);
	free(e->gz);
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
	e->published_ns = mono_ns();
	free(e->gz);
	e->gz = NULL;
	pthread_mutex_unlock(&e->lock);
	free(old);
	resume_waiting(e);
	return 0;
}

void pw_exporter__health(struct pw_exporter *e, bool ok, const char *why)
{
	pthread_mutex_lock(&e->lock);
	e->healthy = ok;
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	pthread_mutex_unlock(&e->lock);
}
