/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One alert transition as the notifiers send it, and its documents: the
 * JSON that exec gets on stdin and webhook POSTs, and Alertmanager's. Pure
 * logic. */
#ifndef PW_ALERT_PAYLOAD_H
#define PW_ALERT_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* One alert transition, built by the daemon. NULL strings are sent as "". */
struct pw_alert_msg {
	const char *rule; /* rule name */
	const char *metric; /* "close_wait", "latency", ... */
	unsigned port; /* service port */
	const char *direction; /* "inbound", "outbound" or "any" */
	const char *status; /* "firing" or "resolved" */
	const char *severity; /* "warning" or "critical" */
	double value, threshold;
	const char *summary; /* one human line */
	time_t starts_at; /* wall clock when it began firing; 0: unknown */
	time_t ends_at; /* resolved: when (0: now); firing: 0 */
	const char *hostname;
};

/* A value or threshold as the documents spell it: 15 significant digits. */
void pw_alert_msg_num(char *buf, size_t len, double v);
/* RFC 3339, UTC; the epoch if t cannot be converted. */
void pw_alert_msg_time(char *buf, size_t len, time_t t);
bool pw_alert_msg_resolved(const struct pw_alert_msg *m);
/* When a resolved alert ended: ends_at, or now when that is 0. */
time_t pw_alert_msg_ends_at(const struct pw_alert_msg *m);

/* The document exec gets on stdin and webhook POSTs; NULL on invalid UTF-8
 * or no memory. The caller frees it. */
char *pw_alert_msg_json(const struct pw_alert_msg *m, size_t *len);
/* Alertmanager API v2: an array of one postableAlert; NULL as above. */
char *pw_alert_msg_am_json(const struct pw_alert_msg *m, size_t *len);

#endif
