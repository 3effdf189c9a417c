/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Inside the notifiers: the state notify.c (queues, worker) shares with its
 * transports, notify_exec.c and notify_http.c. Only the worker thread calls
 * the transports. */
#ifndef PW_NOTIFY_INT_H
#define PW_NOTIFY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <curl/curl.h>
#include "daemon/notify.h"

/* How much of an HTTP error reply is logged. */
#define REPLY_LEN 160
#define NO_DEADLINE UINT64_MAX

/* One alert, shared by the queues it is in; its strings point into text. */
struct msg {
	unsigned refs; /* set by send under the lock, then only the worker's */
	struct pw_alert_msg m;
	char text[];
};

struct nstate {
	struct pw_notifier cfg; /* deep copy */
	long timeout_ms;
	char *post_url; /* webhook: url; alertmanager: url + /api/v2/alerts */
	struct curl_slist *headers;
	CURL *easy;

	/* Under pw_notify.lock. */
	struct msg *queue[PW_NOTIFY_QUEUE_LEN];
	size_t q_head, q_len;
	__u64 drops_unlogged;
	struct pw_notify_stats stats;

	/* The worker's: the delivery in progress, if cur. */
	struct msg *cur;
	char *body; /* the JSON document sent */
	size_t body_len, body_off; /* exec: written to stdin so far */
	__u64 deadline_ms; /* exec: next signal; HTTP: next try */
	unsigned tries; /* HTTP tries started */
	bool in_multi; /* HTTP: a try is running */
	pid_t pid; /* exec: child, leader of its own process group */
	int pidfd, in_fd, err_fd; /* err_fd: the child's stderr, read end */
	char err_text[PW_NOTIFY_STDERR_KEEP + 1]; /* the first bytes of it */
	size_t err_len;
	__u64 err_total; /* bytes it wrote to stderr */
	int kills; /* exec: 0, 1 (SIGTERM sent) or 2 (SIGKILL sent) */
	bool stopped; /* exec: killed because the notifiers stop */
	char errbuf[CURL_ERROR_SIZE];
	char reply[REPLY_LEN + 1];
	size_t reply_len;
	char why[CURL_ERROR_SIZE + REPLY_LEN + 16]; /* HTTP: last failure */
};

struct pw_notify {
	pthread_mutex_t lock;
	bool stop; /* under lock */
	int wake_fd;
	pthread_t thread;
	CURLM *multi;
	struct curl_waitfd *fds; /* the worker's poll set */
	struct nstate *ns;
	size_t count;
};

/* notify.c: a delivery's end (counted), a timeout counted, and the
 * document of the delivery in progress (false: failed, logged, ended). */
void notify_finish(struct pw_notify *p, struct nstate *ns, bool ok);
void notify_count_timeout(struct pw_notify *p, struct nstate *ns);
bool notify_build_body(struct pw_notify *p, struct nstate *ns);

/* notify_exec.c */
void notify_exec_start(struct pw_notify *p, struct nstate *ns, __u64 now);
/* Feeds, drains, and at its deadline signals the running command; reaps
 * it when it has exited. stop: the notifiers are stopping. */
void notify_exec_step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now);
/* The running command's fds to wait on, into fds (at most 3); shortens
 * *wait_ms when the command can only be polled. How many. */
size_t notify_exec_fds(const struct nstate *ns, struct curl_waitfd *fds, __u64 *wait_ms);
int notify_exec_verify(const struct pw_notifier *n, char *why, size_t len);

/* notify_http.c: libcurl's global state, once per process; -ENOMEM when
 * libcurl cannot start (said by the caller). */
int notify_http_global_init(void);
int notify_http_init(struct nstate *ns);
void notify_http_fini(struct nstate *ns);
void notify_http_start(struct pw_notify *p, struct nstate *ns);
/* A try that is not running: retried at its deadline, or failed when the
 * notifiers stop; one in flight is aborted when they stop. */
void notify_http_step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now);
/* Drives the transfers; whether any ended (the worker then goes round
 * again before waiting). */
bool notify_http_perform(struct pw_notify *p, bool stop);
int notify_http_verify(const struct pw_notifier *n, char *why, size_t len);

#endif
