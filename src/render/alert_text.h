/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The words of an alert transition: its summary, the daemon's log line, and
 * the message the notifiers send. Pure logic. */
#ifndef PW_ALERT_TEXT_H
#define PW_ALERT_TEXT_H

#include <stddef.h>
#include "model/alert.h"
#include "model/live.h"
#include "render/alert_payload.h"

/* Where a gauge rule's value comes from, when rows span namespaces: for
 * close_wait the (up to) three namespaces holding most, "api-1 (4), web-2
 * (2)"; for close_wait_age the oldest socket's, for accept_queue the
 * fullest listener's. Names from pw_netns_named, else inodes. How many
 * are named (0: nothing to say, buf ""). */
size_t pw_rule_where(const struct pw_rule *r, const struct pw_live *l, char *buf, size_t len);
/* What a rule's value means, for alert texts: "12 sockets in CLOSE_WAIT on
 * port 3001 (threshold 10)"; a value with no data (NaN) says so. */
void pw_rule_describe(char *buf, size_t len, const struct pw_rule *r, double v, double threshold);

/* An alert value as /metrics and the log spell it (NaN: no data). */
void pw_alert_value_text(char *buf, size_t len, double v);

/* The one human line of a transition: the rule at its value and threshold
 * and, with the rows of every namespace in l (NULL: one namespace), whose
 * they are while it is active. */
void pw_alert_summary(char *buf, size_t len, const struct pw_rule *r, const struct pw_alert_note *n,
		      const struct pw_live *l);

/* The daemon's line for a transition, from its summary. */
void pw_alert_log_line(char *buf, size_t len, const struct pw_rule *r,
		       const struct pw_alert_note *n, const char *summary);

/* A transition as the notifiers send it, pointing into r, summary and
 * hostname; starts_at and ends_at are left 0 for the caller, who has the
 * clock. */
void pw_alert_msg_init(struct pw_alert_msg *m, const struct pw_rule *r,
		       const struct pw_alert_note *n, const char *summary, const char *hostname);

/* An alert resolved because a reload removed or changed its rule: the
 * daemon's line, and the summary its notifiers get. */
void pw_alert_reload_line(char *buf, size_t len, const struct pw_rule *r);
#define PW_ALERT_RELOAD_SUMMARY "rule removed or changed by a configuration reload"

#endif
