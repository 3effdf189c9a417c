// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /metrics and /healthz over libmicrohttpd. A gate thread accepts every
 * connection and hands it to libmicrohttpd only once its request head is
 * in: idle and dripping clients hold a file descriptor for a few seconds,
 * never one of the server's slots. Bodies are shared, refcounted responses
 * made once per published text. */
#define _GNU_SOURCE
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include "common/clock.h"
#include "common/log.h"
#include "daemon/exporter.h"

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* A request head must be in this long after the connection is accepted,
 * and a handed-over connection must send its answer (or, kept alive, its
 * next request) this long after its last answer. */
#define HEAD_NS (5 * PW_NSEC_PER_SEC)
#define REQUEST_NS (10 * PW_NSEC_PER_SEC)
/* With every slot taken, a client reading its answer for this long gives
 * its slot up to a waiting request (a scrape takes milliseconds). */
#define SLOW_NS (2 * PW_NSEC_PER_SEC)
/* A head longer than this is refused (431) before libmicrohttpd sees it. */
#define HEAD_MAX 16384
/* Connections whose head is not in yet: the oldest gives its place up to a
 * new one, so a flood of idle connections delays no scraper. */
#define PENDING_MAX 1024
/* The tracing loop beats at least once a second: this long without a beat
 * and /healthz says it is stalled (a blocked log, a hung kernel read). */
#define STALL_NS (10 * PW_NSEC_PER_SEC)

enum { EV_LISTEN, EV_WAKE, EV_PENDING };

/* Accepted, head not complete yet (ready: complete, waiting for a slot). */
struct pending {
	int fd;
	bool ready;
	__u64 since;
	socklen_t alen;
	struct sockaddr_storage addr;
};

/* A connection libmicrohttpd serves: its socket context. */
struct slot {
	bool used;
	bool busy; /* between its request's head and its answer sent */
	bool evicted; /* shut down to make room; libmicrohttpd closes it */
	int fd;
	__u64 since; /* handed over, or its last answer sent */
};

struct pw_exporter {
	struct MHD_Daemon *mhd;
	int fd;
	int wake; /* eventfd: a scrape wants fresher text than there is */
	__u64 max_age_ns;
	pthread_mutex_t lock;
	/* The text, owned by resp (freed with its last reference). */
	char *text;
	size_t len;
	struct MHD_Response *resp, *resp_gz; /* gzipped at the first scrape asking */
	__u64 published_ns; /* CLOCK_MONOTONIC of the text */
	__u64 beat_ns; /* the tracing loop's last pass */
	/* Scrapes suspended until the next publish. */
	struct MHD_Connection **waiting;
	size_t n_waiting, max_waiting;
	bool healthy;
	char why[128];

	/* The gate: its thread, epoll set and wake-up; under gate_lock the
	 * slots (connections handed over) and how many are taken. */
	pthread_t gate;
	bool gate_started;
	int ep, gate_wake;
	volatile bool stop;
	struct pending *pending;
	size_t n_pending, max_pending;
	__u64 listen_paused_until; /* out of descriptors: not accepting till then */
	pthread_mutex_t gate_lock;
	struct slot *slots;
	size_t n_slots, max_slots, slot_limit;
};

/* Under e->lock: whether the tracing loop has made no pass for STALL_NS. */
static bool stalled_at(const struct pw_exporter *e, __u64 now)
{
	return now > e->beat_ns && now - e->beat_ns > STALL_NS;
}

static void resume_waiting(struct pw_exporter *e);

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

static struct MHD_Response *metrics_response(void *body, size_t len, bool gz)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer_with_free_callback(len, body, free);

	if (!r) {
		free(body);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_METRICS);
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (gz)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	return r;
}

/* The text gzipped, under e->lock; false if zlib fails. Texts compress
 * about tenfold; a scrape of many ports is hundreds of kilobytes. */
static bool gzip_text(struct pw_exporter *e)
{
	z_stream z = {};
	uLong cap;
	char *gz;

	if (e->resp_gz)
		return true;
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16 /* gzip */, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return false;
	cap = deflateBound(&z, e->len);
	gz = malloc(cap);
	z.next_in = (Bytef *)e->text;
	z.avail_in = (uInt)e->len;
	z.next_out = (Bytef *)gz;
	z.avail_out = (uInt)cap;
	if (!gz || deflate(&z, Z_FINISH) != Z_STREAM_END) {
		free(gz);
		deflateEnd(&z);
		return false;
	}
	deflateEnd(&z);
	e->resp_gz = metrics_response(gz, z.total_out, true);
	return e->resp_gz != NULL;
}

static enum MHD_Result serve_metrics(struct pw_exporter *e, struct MHD_Connection *c, void **state)
{
	static const __u64 one = 1;
	enum MHD_Result ret;
	__u64 now;

	pthread_mutex_lock(&e->lock);
	now = pw_mono_ns();
	/* Text older than max_age: the scrape waits (suspended, the server
	 * serves others) for the tracing loop to read afresh, once. The
	 * daemon reads the kernel's maps when asked, not on a clock. A
	 * stalled loop would never answer: then the text there is. */
	if (*state != &waited && now - e->published_ns > e->max_age_ns && !stalled_at(e, now) &&
	    e->n_waiting < e->max_waiting) {
		*state = &waited; /* served whatever there is next time */
		e->waiting[e->n_waiting++] = c;
		MHD_suspend_connection(c);
		pthread_mutex_unlock(&e->lock);
		/* Fails only with the counter full, and readable then. */
		(void)!write(e->wake, &one, sizeof(one));
		return MHD_YES;
	}
	/* The responses are shared by every scrape of one text (refcounted
	 * by libmicrohttpd): memory does not grow with the clients. */
	if (e->len >= 1024 && accepts_gzip(c) && gzip_text(e))
		ret = MHD_queue_response(c, MHD_HTTP_OK, e->resp_gz);
	else if (e->resp)
		ret = MHD_queue_response(c, MHD_HTTP_OK, e->resp);
	else /* nothing published yet */
		ret = reply(c, MHD_HTTP_OK, CONTENT_TYPE_METRICS, "", 0);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static enum MHD_Result serve_health(struct pw_exporter *e, struct MHD_Connection *c)
{
	char body[160];
	bool ok;

	__u64 now;

	pthread_mutex_lock(&e->lock);
	now = pw_mono_ns();
	ok = e->healthy && !stalled_at(e, now);
	if (stalled_at(e, now))
		snprintf(body, sizeof(body), "tracing loop stalled: no pass for %llu s\n",
			 (unsigned long long)((now - e->beat_ns) / PW_NSEC_PER_SEC));
	else
		snprintf(body, sizeof(body), "%s\n", ok ? "ok" : e->why);
	pthread_mutex_unlock(&e->lock);
	return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body,
		     strlen(body));
}

static struct slot *slot_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

/* A request's head is in: its answer is due within REQUEST_NS. */
static void mark_busy(struct pw_exporter *e, struct MHD_Connection *c)
{
	struct slot *s = slot_of(c);

	pthread_mutex_lock(&e->gate_lock);
	if (s && s->used) {
		s->busy = true;
		s->since = pw_mono_ns();
	}
	pthread_mutex_unlock(&e->gate_lock);
}

/* Its answer is sent: idle, kept alive, until its next request. */
static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	struct pw_exporter *e = cls;
	struct slot *s = slot_of(c);

	(void)state;
	(void)toe;
	pthread_mutex_lock(&e->gate_lock);
	if (s && s->used) {
		s->busy = false;
		s->since = pw_mono_ns();
	}
	pthread_mutex_unlock(&e->gate_lock);
}

static void wake_gate(struct pw_exporter *e)
{
	static const __u64 one = 1;

	(void)!write(e->gate_wake, &one, sizeof(one));
}

/* libmicrohttpd took a handed-over connection, or closed one. It calls
 * this before it closes the socket: under gate_lock the slot's fd is the
 * connection's, so the gate may shut it down. */
static void on_connection(void *cls, struct MHD_Connection *c, void **ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct pw_exporter *e = cls;
	const union MHD_ConnectionInfo *i;
	struct slot *s = *ctx;
	size_t k;

	pthread_mutex_lock(&e->gate_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		for (k = 0; k < e->max_slots && e->slots[k].used; k++)
			;
		if (k < e->max_slots && i)
			e->slots[k] = (struct slot){ .used = true,
						     .fd = i->connect_fd,
						     .since = pw_mono_ns() };
		*ctx = k < e->max_slots && i ? &e->slots[k] : NULL;
	} else {
		if (s)
			s->used = false;
		*ctx = NULL;
		if (e->n_slots)
			e->n_slots--;
	}
	pthread_mutex_unlock(&e->gate_lock);
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		wake_gate(e); /* a slot is free: a ready connection may go */
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
		mark_busy(e, c);
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
	    listen(fd, 1024)) {
		err = -errno;
		pw_err(v6 ? "listen on [%s]:%u: %s" : "listen on %s:%u: %s", addr, port,
		       strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

static void drop_pending(struct pw_exporter *e, struct pending *p)
{
	close(p->fd); /* leaves the epoll set with it */
	p->fd = -1;
	e->n_pending--;
}

/* A refusal the client can read, then the close; best effort. */
static void refuse(struct pw_exporter *e, struct pending *p, const char *status)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status);

	(void)!send(p->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	drop_pending(e, p);
}

static struct pending *oldest_pending(struct pw_exporter *e, bool ready)
{
	struct pending *o = NULL;
	size_t i;

	for (i = 0; i < e->max_pending; i++) {
		struct pending *p = &e->pending[i];

		if (p->fd >= 0 && p->ready == ready && (!o || p->since < o->since))
			o = p;
	}
	return o;
}

static void accept_all(struct pw_exporter *e, __u64 now)
{
	struct pending *p;
	size_t i;

	for (;;) {
		struct sockaddr_storage addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(e->fd, (struct sockaddr *)&addr, &alen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* Out of descriptors with none of ours to give back:
			 * stop listening a moment rather than spin. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			    errno == ENOBUFS) {
				p = oldest_pending(e, false);
				if (p) {
					drop_pending(e, p);
					continue;
				}
				epoll_ctl(e->ep, EPOLL_CTL_DEL, e->fd, NULL);
				e->listen_paused_until = now + PW_NSEC_PER_SEC / 10;
			}
			return;
		}
		if (e->n_pending == e->max_pending) {
			p = oldest_pending(e, false);
			if (!p) {
				close(fd); /* every place holds a complete request */
				continue;
			}
			drop_pending(e, p);
		}
		for (i = 0; e->pending[i].fd >= 0; i++)
			;
		p = &e->pending[i];
		*p = (struct pending){ .fd = fd, .since = now, .alen = alen, .addr = addr };
		e->n_pending++;
		if (epoll_ctl(e->ep, EPOLL_CTL_ADD, fd,
			      &(struct epoll_event){ .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
						     .data.u64 = EV_PENDING + i }))
			drop_pending(e, p);
	}
}

/* Whether the request head is in: looked at, not read, so libmicrohttpd
 * reads the request as the client sent it. Edge-triggered: each new
 * segment brings one more look. */
static void look(struct pw_exporter *e, struct pending *p, bool hup)
{
	char buf[HEAD_MAX];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop_pending(e, p);
		return;
	}
	if (n < 0)
		return;
	if (memmem(buf, (size_t)n, "\n\r\n", 3) || memmem(buf, (size_t)n, "\n\n", 2) || hup) {
		/* Complete, or all the client will send: libmicrohttpd
		 * answers it, an error for an incomplete one. */
		p->ready = true;
		epoll_ctl(e->ep, EPOLL_CTL_DEL, p->fd, NULL);
	} else if (n == sizeof(buf)) {
		refuse(e, p, "431 Request Header Fields Too Large");
	}
}

/* Ready connections go to libmicrohttpd while it has room. Without room,
 * the connection idle longest since its last answer is shut down to make
 * some, else the one taking longest (past SLOW_NS) to read its answer: a
 * kept-alive or slow client never stands between a scraper and an answer. */
static void hand_over(struct pw_exporter *e, __u64 now)
{
	struct pending *p;
	size_t k, ready, evicting;

	while ((p = oldest_pending(e, true))) {
		struct slot *victim = NULL;
		bool room;

		pthread_mutex_lock(&e->gate_lock);
		room = e->n_slots < e->slot_limit;
		if (room) {
			e->n_slots++;
		} else {
			for (k = 0; k < e->max_slots; k++) {
				struct slot *s = &e->slots[k];

				if (!s->used || s->evicted || (s->busy && now < s->since + SLOW_NS))
					continue;
				if (!victim || victim->busy > s->busy ||
				    (victim->busy == s->busy && s->since < victim->since))
					victim = s;
			}
			for (k = 0, evicting = 0; k < e->max_slots; k++)
				evicting += e->slots[k].used && e->slots[k].evicted;
			for (k = 0, ready = 0; k < e->max_pending; k++)
				ready += e->pending[k].fd >= 0 && e->pending[k].ready;
			/* One eviction in flight per ready connection. */
			if (victim && evicting < ready) {
				victim->evicted = true;
				shutdown(victim->fd, SHUT_RDWR);
			}
		}
		pthread_mutex_unlock(&e->gate_lock);
		if (!room)
			return; /* again when a slot is freed */
		/* libmicrohttpd owns the socket from here, closed on failure. */
		if (MHD_add_connection(e->mhd, p->fd, (struct sockaddr *)&p->addr, p->alen) !=
		    MHD_YES) {
			pthread_mutex_lock(&e->gate_lock);
			e->n_slots--;
			pthread_mutex_unlock(&e->gate_lock);
		}
		p->fd = -1;
		e->n_pending--;
	}
}

/* Deadlines; the time until the next one, in ms for epoll_wait (-1: none). */
static int expire(struct pw_exporter *e, __u64 now)
{
	__u64 next = UINT64_MAX;
	size_t i;

	for (i = 0; i < e->max_pending; i++) {
		struct pending *p = &e->pending[i];

		if (p->fd < 0)
			continue;
		if (now >= p->since + HEAD_NS) {
			if (p->ready)
				refuse(e, p, "503 Service Unavailable");
			else
				drop_pending(e, p);
		} else if (p->ready) {
			next = now; /* waiting for a slot: look again soon */
		} else if (p->since + HEAD_NS < next) {
			next = p->since + HEAD_NS;
		}
	}
	pthread_mutex_lock(&e->gate_lock);
	for (i = 0; i < e->max_slots; i++) {
		struct slot *s = &e->slots[i];

		if (!s->used || s->evicted)
			continue;
		/* A request not answered in time (a client that reads
		 * nothing), or kept alive without a new one. */
		/* since may be later than now: set by the server's thread. */
		if (now >= s->since + REQUEST_NS) {
			s->evicted = true;
			shutdown(s->fd, SHUT_RDWR);
		} else if (s->since + REQUEST_NS < next) {
			next = s->since + REQUEST_NS;
		}
	}
	pthread_mutex_unlock(&e->gate_lock);
	if (e->listen_paused_until && next > e->listen_paused_until)
		next = e->listen_paused_until;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 10 : (int)((next - now + 999999) / 1000000);
}

static void *gate_run(void *arg)
{
	struct pw_exporter *e = arg;
	struct epoll_event ev[64];
	int n, i, timeout = -1;
	bool waiting, stalled;
	__u64 now, v;

	while (!e->stop) {
		n = epoll_wait(e->ep, ev, 64, timeout);
		now = pw_mono_ns();
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == EV_LISTEN)
				accept_all(e, now);
			else if (ev[i].data.u64 == EV_WAKE)
				(void)!read(e->gate_wake, &v, sizeof(v));
			else if (e->pending[ev[i].data.u64 - EV_PENDING].fd >= 0)
				look(e, &e->pending[ev[i].data.u64 - EV_PENDING],
				     ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		}
		if (e->listen_paused_until && now >= e->listen_paused_until &&
		    !epoll_ctl(e->ep, EPOLL_CTL_ADD, e->fd,
			       &(struct epoll_event){ .events = EPOLLIN, .data.u64 = EV_LISTEN }))
			e->listen_paused_until = 0;
		hand_over(e, now);
		timeout = expire(e, now);
		/* A stalled tracing loop would hold suspended scrapes forever:
		 * they get the text there is. Looked after once a second. */
		pthread_mutex_lock(&e->lock);
		waiting = e->n_waiting;
		stalled = stalled_at(e, now);
		pthread_mutex_unlock(&e->lock);
		if (waiting && stalled)
			resume_waiting(e);
		if (waiting && (timeout < 0 || timeout > 1000))
			timeout = 1000;
	}
	return NULL;
}

/* Descriptors for waiting connections: the soft limit is raised to the
 * hard one (systemd's default soft limit is 1,024), and a quarter of it,
 * at most PENDING_MAX, left to connections not yet handed over. */
static size_t pending_room(__u32 max_conns)
{
	struct rlimit r;
	rlim_t spare;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return 16;
	if (r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
	}
	spare = r.rlim_cur > 2ULL * max_conns + 256 ? (r.rlim_cur - 2ULL * max_conns - 256) : 0;
	spare /= 4;
	return spare < 16 ? 16 : spare > PENDING_MAX ? PENDING_MAX : (size_t)spare;
}

struct pw_exporter *pw_exporter__new(const char *addr, __u16 port, __u32 max_conns,
				     __u64 max_age_ns)
{
	struct pw_exporter *e = calloc(1, sizeof(*e));
	size_t i;
	int err;

	if (!e)
		return NULL;
	e->wake = e->ep = e->gate_wake = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->gate_lock, NULL);
	snprintf(e->why, sizeof(e->why), "starting");
	e->beat_ns = pw_mono_ns();
	e->fd = listen_on(addr, port);
	if (e->fd < 0) {
		err = e->fd;
		goto err_free;
	}
	e->max_age_ns = max_age_ns;
	e->max_waiting = max_conns;
	/* libmicrohttpd's own limit is above ours: a slot it has not
	 * released yet never makes it refuse a connection we counted. */
	e->slot_limit = max_conns;
	e->max_slots = 2 * (size_t)max_conns + 8;
	e->max_pending = pending_room(max_conns);
	e->waiting = calloc(max_conns ? max_conns : 1, sizeof(*e->waiting));
	e->slots = calloc(e->max_slots, sizeof(*e->slots));
	e->pending = calloc(e->max_pending, sizeof(*e->pending));
	e->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->gate_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!e->waiting || !e->slots || !e->pending || e->wake < 0 || e->gate_wake < 0 ||
	    e->ep < 0) {
		err = -ENOMEM;
		goto err_close;
	}
	for (i = 0; i < e->max_pending; i++)
		e->pending[i].fd = -1;
	if (epoll_ctl(e->ep, EPOLL_CTL_ADD, e->fd,
		      &(struct epoll_event){ .events = EPOLLIN, .data.u64 = EV_LISTEN }) ||
	    epoll_ctl(e->ep, EPOLL_CTL_ADD, e->gate_wake,
		      &(struct epoll_event){ .events = EPOLLIN, .data.u64 = EV_WAKE })) {
		err = -errno;
		goto err_close;
	}
	e->mhd = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
			MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
		0, NULL, NULL, handle, e, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)e->max_slots,
		MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)65536, MHD_OPTION_NOTIFY_CONNECTION, on_connection, e,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, e, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		NULL, MHD_OPTION_END);
	if (!e->mhd) {
		err = -EIO;
		pw_err("start HTTP server: libmicrohttpd refused to start");
		goto err_close;
	}
	err = -pthread_create(&e->gate, NULL, gate_run, e);
	if (err) {
		pw_err("start HTTP server: %s", strerror(-err));
		goto err_stop;
	}
	e->gate_started = true;
	return e;

err_stop:
	MHD_stop_daemon(e->mhd);
err_close:
	close(e->fd);
err_free:
	if (e->ep >= 0)
		close(e->ep);
	if (e->gate_wake >= 0)
		close(e->gate_wake);
	if (e->wake >= 0)
		close(e->wake);
	free(e->waiting);
	free(e->slots);
	free(e->pending);
	pthread_mutex_destroy(&e->gate_lock);
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
	size_t i;

	if (!e)
		return;
	if (e->gate_started) {
		e->stop = true;
		wake_gate(e);
		pthread_join(e->gate, NULL);
	}
	for (i = 0; i < e->max_pending; i++)
		if (e->pending[i].fd >= 0)
			close(e->pending[i].fd);
	/* Nothing may stay suspended when the server stops. */
	resume_waiting(e);
	MHD_stop_daemon(e->mhd);
	close(e->fd);
	close(e->ep);
	close(e->gate_wake);
	close(e->wake);
	MHD_destroy_response(e->resp);
	MHD_destroy_response(e->resp_gz);
	pthread_mutex_destroy(&e->gate_lock);
	pthread_mutex_destroy(&e->lock);
	free(e->waiting);
	free(e->slots);
	free(e->pending);
	free(e);
}

int pw_exporter__publish(struct pw_exporter *e, const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	struct MHD_Response *r, *old, *old_gz;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	r = metrics_response(copy, len, false);
	if (!r)
		return -ENOMEM;
	pthread_mutex_lock(&e->lock);
	old = e->resp;
	old_gz = e->resp_gz;
	e->resp = r;
	e->resp_gz = NULL;
	e->text = copy;
	e->len = len;
	e->published_ns = pw_mono_ns();
	pthread_mutex_unlock(&e->lock);
	/* Freed once the last client sending them is done. */
	MHD_destroy_response(old);
	MHD_destroy_response(old_gz);
	resume_waiting(e);
	return 0;
}

void pw_exporter__beat(struct pw_exporter *e)
{
	pthread_mutex_lock(&e->lock);
	e->beat_ns = pw_mono_ns();
	pthread_mutex_unlock(&e->lock);
}

void pw_exporter__health(struct pw_exporter *e, bool ok, const char *why)
{
	pthread_mutex_lock(&e->lock);
	e->healthy = ok;
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	pthread_mutex_unlock(&e->lock);
}
