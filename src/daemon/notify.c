// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The notifiers' public side and their worker: per notifier a bounded FIFO
 * and at most one delivery in progress, one thread whose event loop waits on
 * libcurl's multi handle (HTTP), pidfds and pipes (exec) and an eventfd (new
 * work). The transports are notify_exec.c and notify_http.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "common/clock.h"
#include "common/log.h"
#include "daemon/notify_int.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DEFAULT_TIMEOUT_MS 10000
/* Longest sleep of the worker when nothing is due (a safety net only). */
#define IDLE_WAIT_MS 1000

static const size_t msg_str_off[] = {
	offsetof(struct pw_alert_msg, rule),	  offsetof(struct pw_alert_msg, metric),
	offsetof(struct pw_alert_msg, direction), offsetof(struct pw_alert_msg, status),
	offsetof(struct pw_alert_msg, severity),  offsetof(struct pw_alert_msg, summary),
	offsetof(struct pw_alert_msg, hostname),
};

static const char **msg_str(struct pw_alert_msg *m, size_t i)
{
	return (const char **)((char *)m + msg_str_off[i]);
}

/* One allocation holding the message and its strings. */
static struct msg *msg_new(const struct pw_alert_msg *m)
{
	struct pw_alert_msg tmp = *m;
	size_t i, len = 0;
	struct msg *c;
	char *t;

	for (i = 0; i < ARRAY_SIZE(msg_str_off); i++) {
		if (!*msg_str(&tmp, i))
			*msg_str(&tmp, i) = "";
		len += strlen(*msg_str(&tmp, i)) + 1;
	}
	c = malloc(sizeof(*c) + len);
	if (!c)
		return NULL;
	c->refs = 0;
	c->m = tmp;
	t = c->text;
	for (i = 0; i < ARRAY_SIZE(msg_str_off); i++) {
		size_t n = strlen(*msg_str(&tmp, i)) + 1;

		memcpy(t, *msg_str(&tmp, i), n);
		*msg_str(&c->m, i) = t;
		t += n;
	}
	return c;
}

static void msg_put(struct msg *c)
{
	if (c && --c->refs == 0)
		free(c);
}

void notify_count_timeout(struct pw_notify *p, struct nstate *ns)
{
	pthread_mutex_lock(&p->lock);
	ns->stats.timeouts++;
	pthread_mutex_unlock(&p->lock);
}

/* Ends the delivery in progress. */
void notify_finish(struct pw_notify *p, struct nstate *ns, bool ok)
{
	pthread_mutex_lock(&p->lock);
	if (ok)
		ns->stats.sent++;
	else
		ns->stats.failed++;
	pthread_mutex_unlock(&p->lock);
	msg_put(ns->cur);
	ns->cur = NULL;
	free(ns->body);
	ns->body = NULL;
	ns->tries = 0;
	ns->deadline_ms = NO_DEADLINE;
}

bool notify_build_body(struct pw_notify *p, struct nstate *ns)
{
	if (ns->cfg.kind == PW_NK_ALERTMANAGER)
		ns->body = pw_alert_msg_am_json(&ns->cur->m, &ns->body_len);
	else
		ns->body = pw_alert_msg_json(&ns->cur->m, &ns->body_len);
	if (ns->body)
		return true;
	pw_warn("notifier %s: encode alert %s: invalid UTF-8 or out of memory", ns->cfg.name,
		ns->cur->m.rule);
	notify_finish(p, ns, false);
	return false;
}

/* The daemon logs every transition once, at warning level when a `log`
 * notifier is among its targets: the delivery is that line. */
static void log_deliver(struct pw_notify *p, struct nstate *ns)
{
	notify_finish(p, ns, true);
}

static bool pop(struct pw_notify *p, struct nstate *ns)
{
	pthread_mutex_lock(&p->lock);
	if (ns->q_len) {
		ns->cur = ns->queue[ns->q_head];
		ns->q_head = (ns->q_head + 1) % PW_NOTIFY_QUEUE_LEN;
		ns->q_len--;
	}
	pthread_mutex_unlock(&p->lock);
	return ns->cur;
}

static void report_drops(struct pw_notify *p, struct nstate *ns)
{
	__u64 n;

	pthread_mutex_lock(&p->lock);
	n = ns->drops_unlogged;
	ns->drops_unlogged = 0;
	pthread_mutex_unlock(&p->lock);
	if (n)
		pw_warn("notifier %s: queue full, dropped %llu alerts", ns->cfg.name,
			(unsigned long long)n);
}

/* Advances one notifier: the running delivery, then the next ones. */
/* Advances one notifier: the running delivery, then the next ones. A `log`
 * notifier's delivery ends as it starts: it is never running here. */
static void step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now)
{
	report_drops(p, ns);
	if (ns->cur && ns->cfg.kind == PW_NK_EXEC)
		notify_exec_step(p, ns, stop, now);
	else if (ns->cur)
		notify_http_step(p, ns, stop, now);
	while (!ns->cur && !stop && pop(p, ns)) {
		switch (ns->cfg.kind) {
		case PW_NK_LOG:
			log_deliver(p, ns);
			break;
		case PW_NK_EXEC:
			notify_exec_start(p, ns, now);
			break;
		case PW_NK_WEBHOOK:
		case PW_NK_ALERTMANAGER:
			notify_http_start(p, ns);
			break;
		}
	}
}

static void *worker(void *arg)
{
	struct pw_notify *p = arg;

	for (;;) {
		__u64 now = pw_mono_ms(), wait = IDLE_WAIT_MS, v;
		bool stop, busy = false, again;
		size_t i, nfds = 0;

		if (read(p->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: woken by something else */
		}
		pthread_mutex_lock(&p->lock);
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		for (i = 0; i < p->count; i++)
			step(p, &p->ns[i], stop, now);
		again = notify_http_perform(p, stop);

		p->fds[nfds++] =
			(struct curl_waitfd){ .fd = p->wake_fd, .events = CURL_WAIT_POLLIN };
		now = pw_mono_ms();
		for (i = 0; i < p->count; i++) {
			struct nstate *ns = &p->ns[i];

			if (!ns->cur)
				continue;
			busy = true;
			if (ns->deadline_ms <= now)
				wait = 0;
			else if (ns->deadline_ms - now < wait)
				wait = ns->deadline_ms - now;
			if (ns->cfg.kind == PW_NK_EXEC)
				nfds += notify_exec_fds(ns, p->fds + nfds, &wait);
		}
		if (stop && !busy)
			break;
		if (!again)
			curl_multi_poll(p->multi, p->fds, nfds, (int)wait, NULL);
	}
	return NULL;
}

static void ns_fini(struct nstate *ns)
{
	size_t i;

	notify_http_fini(ns);
	free(ns->cfg.url);
	for (i = 0; ns->cfg.argv && ns->cfg.argv[i]; i++)
		free(ns->cfg.argv[i]);
	free(ns->cfg.argv);
}

static int ns_init(struct nstate *ns, const struct pw_notifier *n)
{
	size_t i, argc = 0;

	ns->cfg = *n;
	ns->cfg.name[PW_NAME_LEN - 1] = '\0';
	ns->cfg.argv = NULL;
	ns->cfg.argc = 0;
	ns->cfg.url = NULL;
	ns->pidfd = ns->in_fd = ns->err_fd = -1;
	ns->deadline_ms = NO_DEADLINE;
	ns->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (n->timeout_ns)
		ns->timeout_ms = n->timeout_ns < 1000000 ? 1 : (long)(n->timeout_ns / 1000000);
	switch (n->kind) {
	case PW_NK_LOG:
		return 0;
	case PW_NK_EXEC:
		if (!n->argv || !n->argv[0] || n->argv[0][0] != '/')
			return -EINVAL;
		while (n->argv[argc])
			argc++;
		ns->cfg.argv = calloc(argc + 1, sizeof(*ns->cfg.argv));
		if (!ns->cfg.argv)
			return -ENOMEM;
		for (i = 0; i < argc; i++) {
			ns->cfg.argv[i] = strdup(n->argv[i]);
			if (!ns->cfg.argv[i])
				return -ENOMEM;
		}
		ns->cfg.argc = argc;
		return 0;
	case PW_NK_WEBHOOK:
	case PW_NK_ALERTMANAGER:
		if (!n->url || !n->url[0])
			return -EINVAL;
		ns->cfg.url = strdup(n->url);
		if (!ns->cfg.url)
			return -ENOMEM;
		return notify_http_init(ns);
	}
	return -EINVAL;
}

int pw_notify_verify(const struct pw_notifier *n, char *why, size_t len)
{
	switch (n->kind) {
	case PW_NK_EXEC:
		return notify_exec_verify(n, why, len);
	case PW_NK_WEBHOOK:
	case PW_NK_ALERTMANAGER:
		return notify_http_verify(n, why, len);
	default:
		return 0;
	}
}

struct pw_notify *pw_notify__new(const struct pw_notifier *n, size_t count)
{
	struct pw_notify *p;
	sigset_t all, old;
	size_t i, inited = 0;
	int err;

	err = notify_http_global_init();
	if (err) {
		errno = -err;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->wake_fd = -1;
	p->count = count;
	p->ns = calloc(count ? count : 1, sizeof(*p->ns));
	/* The wake eventfd plus, per exec notifier, a pidfd, its stdin and its
	 * stderr. */
	p->fds = calloc(1 + 3 * count, sizeof(*p->fds));
	p->multi = curl_multi_init();
	if (!p->ns || !p->fds || !p->multi) {
		err = -ENOMEM;
		goto err_free;
	}
	for (; inited < count; inited++) {
		err = ns_init(&p->ns[inited], &n[inited]);
		if (err) {
			inited++;
			goto err_free;
		}
	}
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		err = -errno;
		goto err_free;
	}
	err = -pthread_mutex_init(&p->lock, NULL);
	if (err)
		goto err_free;
	/* Signals stay with the daemon's threads; SIGPIPE from a closed pipe or
	 * socket becomes EPIPE here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&p->thread, NULL, worker, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto err_mutex;
	return p;

err_mutex:
	pthread_mutex_destroy(&p->lock);
err_free:
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	for (i = 0; i < inited; i++)
		ns_fini(&p->ns[i]);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	free(p->fds);
	free(p->ns);
	free(p);
	errno = -err;
	return NULL;
}

static void wake(struct pw_notify *p)
{
	__u64 one = 1;

	if (write(p->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the worker is woken anyway */
	}
}

void pw_notify__send(struct pw_notify *p, const size_t *idx, size_t n_idx,
		     const struct pw_alert_msg *m)
{
	struct msg *c;
	size_t i;

	if (!p || !n_idx)
		return;
	c = msg_new(m);
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n_idx; i++) {
		struct nstate *ns;

		if (idx[i] >= p->count)
			continue;
		ns = &p->ns[idx[i]];
		if (!c || ns->q_len == PW_NOTIFY_QUEUE_LEN || p->stop) {
			ns->stats.dropped++;
			ns->drops_unlogged++;
			continue;
		}
		ns->queue[(ns->q_head + ns->q_len++) % PW_NOTIFY_QUEUE_LEN] = c;
		c->refs++;
	}
	pthread_mutex_unlock(&p->lock);
	if (c && !c->refs)
		free(c);
	wake(p);
}

void pw_notify__stats(struct pw_notify *p, size_t notifier, struct pw_notify_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!p || notifier >= p->count)
		return;
	pthread_mutex_lock(&p->lock);
	*out = p->ns[notifier].stats;
	pthread_mutex_unlock(&p->lock);
}

void pw_notify__free(struct pw_notify *p)
{
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	wake(p);
	pthread_join(p->thread, NULL);
	for (i = 0; i < p->count; i++) {
		struct nstate *ns = &p->ns[i];

		report_drops(p, ns);
		if (ns->q_len)
			pw_warn("notifier %s: stopping, dropped %zu queued alerts", ns->cfg.name,
				ns->q_len);
		ns->stats.dropped += ns->q_len;
		for (; ns->q_len; ns->q_len--) {
			msg_put(ns->queue[ns->q_head]);
			ns->q_head = (ns->q_head + 1) % PW_NOTIFY_QUEUE_LEN;
		}
		ns_fini(ns);
	}
	curl_multi_cleanup(p->multi);
	pthread_mutex_destroy(&p->lock);
	close(p->wake_fd);
	free(p->fds);
	free(p->ns);
	free(p);
}
