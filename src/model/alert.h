/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The alert engine: each rule's value from the live rows (with a short
 * history for windowed metrics) and its state machine. Pure logic: no
 * libbpf, no syscalls, no clock of its own (time is the live read's ts_ns).
 * Not thread-safe: the caller serialises eval against status readers. */
#ifndef PW_ALERT_H
#define PW_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "config/config.h"
#include "model/live.h"

enum pw_severity {
	PW_SEV_NONE,
	PW_SEV_WARNING, /* value >= warn */
	PW_SEV_CRITICAL, /* value >= crit */
};

/*
 * States of one rule's alert, and exactly when they change. "lo" is the
 * lowest threshold given (warn, or crit without warn); "clear" is the rule's
 * clear (if above lo, lo is used). A value is "active" when it is a number
 * and >= clear. No data (NaN) is never active.
 *
 *   inactive -> pending   value >= lo (if for_ns is 0: straight to firing)
 *   pending  -> firing    still active and now - active_since >= for_ns
 *   pending  -> inactive  value not active (cancelled: logged, not notified)
 *   firing   -> inactive  value not active (resolved)
 *
 * So a value in [clear, lo) neither starts an alert nor ends one: with
 * clear < warn, a value hovering between them does not flap. With
 * clear == warn (the default) there is no hysteresis band.
 *
 * Severity: the highest reached since the alert became pending; it never
 * drops until resolved. Rising to critical while firing is an escalation.
 *
 * Notifications (cooldown_ns is the rule's cooldown; "last" is the last
 * firing, escalation or reminder notification of this rule, any episode):
 *   - Going firing, or escalating, notifies unless cooldown_ns > 0, now -
 *     last < cooldown_ns and last was of the same or higher severity. Then
 *     it is suppressed: a going-firing is reported as PW_ALERT_SUPPRESSED,
 *     an escalation as PW_ALERT_ESCALATED with notify false. A critical is
 *     never held back by an earlier warning.
 *   - A firing episode not notified yet (suppressed) notifies PW_ALERT_FIRING
 *     as soon as the same test passes (cooldown elapsed while still firing).
 *   - A notified episode sends PW_ALERT_REMINDER each time cooldown_ns has
 *     elapsed since last (cooldown_ns 0: never).
 *   - Resolved notifies only if the episode was notified.
 */
enum pw_alert_state {
	PW_AS_INACTIVE,
	PW_AS_PENDING,
	PW_AS_FIRING,
};

enum pw_alert_change {
	PW_ALERT_PENDING, /* inactive -> pending; never notifies */
	PW_ALERT_CANCELLED, /* pending -> inactive; never notifies */
	PW_ALERT_FIRING, /* went firing, or a suppressed episode's delayed notice; notifies */
	PW_ALERT_ESCALATED, /* firing, warning -> critical; notify per cooldown */
	PW_ALERT_REMINDER, /* still firing after cooldown_ns; notifies */
	PW_ALERT_RESOLVED, /* firing -> inactive; notifies if the episode did */
	PW_ALERT_SUPPRESSED, /* went firing within the cooldown; never notifies */
	PW_ALERT_CHANGE_MAX,
};

/* One rule's alert: the state machine's whole memory, and its status for
 * metrics. Zero-initialised is a valid inactive alert. */
struct pw_alert {
	enum pw_alert_state state;
	enum pw_severity severity; /* PW_SEV_NONE while inactive */
	double value; /* last evaluated; NaN: no data */
	__u64 active_since_ns; /* pending or firing: when it went pending */
	__u64 firing_since_ns; /* firing: when it went firing */
	bool notified; /* firing: this episode has notified */
	enum pw_severity last_notify_severity; /* PW_SEV_NONE: never notified */
	__u64 last_notify_ns; /* last firing/escalation/reminder notification */
	__u64 changes[PW_ALERT_CHANGE_MAX]; /* notes emitted, by change */
};

struct pw_alert_note {
	size_t rule; /* index into the config's rules */
	enum pw_alert_change change;
	bool notify; /* send to the rule's notifiers; otherwise log only */
	enum pw_severity severity; /* the alert's (cancelled, resolved: the one it had) */
	double value; /* NaN: no data */
	/* The threshold crossed: crit if critical, else warn; for cancelled
	 * and resolved, the effective clear. */
	double threshold;
	__u64 active_since_ns;
	__u64 now_ns;
};

/* Steps one alert with the rule's value at now_ns (NaN: no data). At most
 * one change per step: returns true and fills *note (rule left 0) if so. */
bool pw_alert_step(struct pw_alert *al, const struct pw_rule *r, double value, __u64 now_ns,
		   struct pw_alert_note *note);

/* Every rule's alert and value history. Rule i is cfg->rules[i]; the rules
 * are copied (cfg may be freed after), except their notify lists. */
struct pw_alerts;
/* NULL and errno (EINVAL, ENOMEM) on failure. */
struct pw_alerts *pw_alerts__new(const struct pw_config *cfg);
void pw_alerts__free(struct pw_alerts *a);
/* On config reload, before a's first eval: for each rule of a, the rule of
 * old with the same name keeps its history if it samples the same thing
 * (metric, port, direction) and its alert (state, timers, counters) if its
 * definition is unchanged too (thresholds, clear, quantile, window, for,
 * cooldown; the notify list does not count). Others start inactive. */
void pw_alerts__adopt(struct pw_alerts *a, const struct pw_alerts *old);
typedef void (*pw_alert_fn)(void *ctx, const struct pw_alert_note *n);
/* One evaluation at l->ts_ns: samples every rule from l, steps its alert
 * and calls fn (if not NULL) for each change, in rule order. 0 or -EINVAL. */
int pw_alerts__eval(struct pw_alerts *a, const struct pw_live *l, pw_alert_fn fn, void *ctx);
size_t pw_alerts__count(const struct pw_alerts *a);
/* Rule i's copy and alert; NULL if i is out of range. */
const struct pw_rule *pw_alerts__rule(const struct pw_alerts *a, size_t i);
const struct pw_alert *pw_alerts__status(const struct pw_alerts *a, size_t i);

/*
 * Rule values, in the rule's unit. Rows count when their port is the
 * rule's and their direction matches (PW_RD_ANY: inbound and outbound
 * summed; listen rows never), in every netns of the read.
 *   close_wait        sockets in CLOSE_WAIT now
 *   close_wait_age    seconds since the oldest of them entered it; 0 if none
 *   latency           quantile of requests completed within the window, s
 *   request_rate      requests per second over the window
 *   reset_rate        resets sent + received per second over the window
 *   connect_failures  refused + timed out + other, over the window
 * Windowed values compare the newest read with the newest kept read at or
 * before now - window (or the oldest kept, while history is shorter), over
 * the real time between them. They are NaN (no data) with only one read
 * kept, and latency is NaN when no request completed in the window: so an
 * alert resolves when the traffic stops. A counter going down (a row
 * vanished) or time going back restarts the history. A rule keeps at
 * most window / cfg->interval_ns reads plus 1/8 plus 4, never over 4096:
 * evaluated faster than that, its window shrinks to what is kept.
 */
/* Gauges only (close_wait, close_wait_age); NaN for windowed metrics. */
double pw_rule_value_now(const struct pw_rule *r, const struct pw_live *l);
/* For `portwatch check`: the value's severity, no state. NaN: none. */
enum pw_severity pw_rule_severity(const struct pw_rule *r, double value);

const char *pw_alert_state_name(enum pw_alert_state s);
const char *pw_severity_name(enum pw_severity s);
/* Whether a row is one a rule reads: its port, and its direction or the
 * port's listen row for listener metrics. */
bool pw_rule_row_matches(const struct pw_rule *r, const struct pw_live_row *row);
const char *pw_alert_change_name(enum pw_alert_change c);

#endif
