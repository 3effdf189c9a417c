/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Alert notifiers: log, exec, webhook and Alertmanager. One worker thread
 * delivers what pw_notify__send queues, so the caller (the tracing loop)
 * never waits on a command or a network peer. */
#ifndef PW_NOTIFY_H
#define PW_NOTIFY_H

#include <stddef.h>
#include <time.h>
#include <linux/types.h>
#include "config/config.h"
#include "render/alert_payload.h"

/* What each kind does with an alert:
 * - log: one line through pw_warn: "alert firing: rule=R port=P
 *   severity=S value=V threshold=T".
 * - exec: fork and exec (no shell) of argv in its own process group, with
 *   only PATH and PORTWATCH_* in the environment, the JSON document on
 *   stdin, stdout on /dev/null, no other fds; no capabilities (bounding,
 *   ambient, permitted and effective sets empty), no_new_privs, and the
 *   notifier's user and group if it names them. Its stderr is read: the
 *   first PW_NOTIFY_STDERR_KEEP bytes go to one log line with the total.
 *   At the timeout, and at once when the notifiers stop (reload, shutdown),
 *   the group gets SIGTERM, PW_NOTIFY_KILL_GRACE_MS later SIGKILL; the
 *   child is always reaped. Exit status 0 is success.
 * - webhook: POST of the JSON document (application/json).
 * - alertmanager: POST {url}/api/v2/alerts of one postableAlert; firing
 *   alerts carry no endsAt, resolved ones the resolution time.
 * HTTP: libcurl, timeout_ns for connect and whole request, 2xx is success;
 * transport errors, 5xx, 408 and 429 are tried again up to retries times,
 * 1 s, 2 s, 4 s ... (at most 30 s) apart. */

/* Alerts waiting per notifier; more are dropped and counted. */
#define PW_NOTIFY_QUEUE_LEN 256
/* exec: SIGKILL this long after the SIGTERM sent at the timeout. */
#define PW_NOTIFY_KILL_GRACE_MS 1000
/* exec: how much of a command's stderr is logged. */
#define PW_NOTIFY_STDERR_KEEP 240

/* Per notifier. Every accepted alert ends as exactly one of sent, failed or
 * dropped; timeouts counts attempts cut off by the timeout (an exec killed,
 * an HTTP try timed out), which also end as failed unless a retry succeeds. */
struct pw_notify_stats {
	__u64 sent, failed, dropped, timeouts;
};

struct pw_notify;

/* Copies the notifiers (the caller may free them afterwards) and starts the
 * worker thread. Each notifier handles one alert at a time, in the order
 * sent, so a resolved alert never overtakes its firing one; different
 * notifiers run concurrently, so a hung command or peer delays only its own
 * queue, and that by at most its timeout (plus retries for HTTP).
 * timeout_ns 0 means 10 s. The first call initialises libcurl
 * (curl_global_init under pthread_once): other libcurl users in the process
 * must initialise it before starting threads of their own.
 * exec reaps only its own children by pid: the process must not reap
 * children it did not spawn (waitpid(-1, ...), SIGCHLD set to SIG_IGN).
 * Returns NULL and sets errno, printing nothing: EINVAL for a notifier
 * without its argv (absolute argv[0]) or url, ENOMEM (libcurl failing to
 * initialise included), or what starting the thread failed with. */
struct pw_notify *pw_notify__new(const struct pw_notifier *n, size_t count);

/* Queues *m for the notifiers at idx[0..n_idx) (indexes into the array given
 * to new; out of range ones are ignored). Copies everything and never blocks
 * (a short mutex, one malloc, one eventfd write): a full queue drops the
 * alert for that notifier and counts it; the worker logs the drops.
 * Callable from any thread, but not concurrently with pw_notify__free. */
void pw_notify__send(struct pw_notify *p, const size_t *idx, size_t n_idx,
		     const struct pw_alert_msg *m);

/* Copies the counters of one notifier; zeroes for an index out of range. */
void pw_notify__stats(struct pw_notify *p, size_t notifier, struct pw_notify_stats *out);

/* Stops the worker within about PW_NOTIFY_KILL_GRACE_MS: running commands
 * are stopped (SIGTERM to the group, SIGKILL after the grace) and reaped,
 * HTTP transfers in flight aborted; both count as failed. Queued alerts
 * are dropped and logged. No-op on NULL. */
void pw_notify__free(struct pw_notify *p);

/* What config parsing cannot see: an exec notifier's command exists, is a
 * regular file and executable by the user it runs as (its user: key, else
 * this process's); a webhook's URL parses as http(s) with a host. 0, or
 * -errno and one line in why. */
int pw_notify_verify(const struct pw_notifier *n, char *why, size_t len);

#endif
