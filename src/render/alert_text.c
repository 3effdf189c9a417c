// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What the daemon says about an alert transition, in its log and to its
 * notifiers; one place, so the two never drift apart. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "render/alert_text.h"
#include "render/format.h"

/* Prometheus spells not-a-number NaN. */
void pw_alert_value_text(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else
		snprintf(buf, len, "%.9g", v);
}

void pw_alert_summary(char *buf, size_t len, const struct pw_rule *r, const struct pw_alert_note *n,
		      const struct pw_live *l)
{
	char where[200];
	size_t used;

	pw_rule_describe(buf, len, r, n->value, n->threshold);
	/* A resolved or cancelled alert has no rows left to name. */
	if (!l || n->change == PW_ALERT_RESOLVED || n->change == PW_ALERT_CANCELLED ||
	    !pw_rule_where(r, l, where, sizeof(where)))
		return;
	used = strlen(buf);
	snprintf(buf + used, len - used, " in %s", where);
}

void pw_alert_log_line(char *buf, size_t len, const struct pw_rule *r,
		       const struct pw_alert_note *n, const char *summary)
{
	char v[32];

	pw_alert_value_text(v, sizeof(v), n->value);
	snprintf(buf, len, "alert %s port=%u %s severity=%s value=%s threshold=%g%s: %s", r->name,
		 r->port, pw_alert_change_name(n->change), pw_severity_name(n->severity), v,
		 n->threshold, n->notify ? "" : " (not notified)", summary);
}

void pw_alert_msg_init(struct pw_alert_msg *m, const struct pw_rule *r,
		       const struct pw_alert_note *n, const char *summary, const char *hostname)
{
	*m = (struct pw_alert_msg){
		.rule = r->name,
		.metric = pw_rule_metric_name(r->metric),
		.port = r->port,
		.direction = pw_rule_dir_name(r->dir),
		.status = n->change == PW_ALERT_RESOLVED ? "resolved" : "firing",
		.severity = pw_severity_name(n->severity),
		.value = n->value,
		.threshold = n->threshold,
		.summary = summary,
		.hostname = hostname,
	};
}

void pw_alert_reload_line(char *buf, size_t len, const struct pw_rule *r)
{
	snprintf(buf, len, "alert %s port=%u resolved: the reload removed or changed the rule",
		 r->name, r->port);
}

/* A namespace's share of a rule's value. */
struct share {
	__u32 netns;
	__s64 n;
};

static int cmp_share(const void *a, const void *b)
{
	const struct share *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return x->netns < y->netns ? -1 : x->netns > y->netns;
}

size_t pw_rule_where(const struct pw_rule *r, const struct pw_live *l, char *buf, size_t len)
{
	struct share sh[64];
	size_t i, k, n = 0, off = 0;
	__u64 oldest = 0;
	__u32 queue = 0;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *row = &l->rows[i];
		__s64 v;

		if (!pw_rule_row_matches(r, row))
			continue;
		switch (r->metric) {
		case PW_RM_CLOSE_WAIT:
			v = row->states[PW_TCP_CLOSE_WAIT];
			if (v <= 0)
				continue;
			break;
		case PW_RM_CLOSE_WAIT_AGE:
			if (!row->cw_oldest_since_ns ||
			    (oldest && row->cw_oldest_since_ns >= oldest))
				continue;
			oldest = row->cw_oldest_since_ns;
			n = 0; /* one: the oldest's */
			v = 1;
			break;
		case PW_RM_ACCEPT_QUEUE:
			if (row->acceptq <= queue)
				continue;
			queue = row->acceptq;
			n = 0; /* one: the fullest's */
			v = 1;
			break;
		default:
			return 0;
		}
		for (k = 0; k < n && sh[k].netns != row->key.netns; k++)
			;
		if (k == n && n < sizeof(sh) / sizeof(sh[0]))
			sh[n++] = (struct share){ row->key.netns, 0 };
		if (k < n)
			sh[k].n += v;
	}
	qsort(sh, n, sizeof(sh[0]), cmp_share);
	for (k = 0; k < n && k < 3; k++) {
		const char *name = pw_netns_named(sh[k].netns);
		char ino[16];

		if (!name[0]) {
			snprintf(ino, sizeof(ino), "%u", sh[k].netns);
			name = ino;
		}
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", k ? ", " : "",
					name);
		if (r->metric == PW_RM_CLOSE_WAIT)
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, " (%lld)",
						(long long)sh[k].n);
	}
	return k;
}

/* "1 socket", "12 sockets": counts are whole numbers. */
static const char *plural(double v, const char *one, const char *many)
{
	return v == 1 ? one : many;
}

void pw_rule_describe(char *buf, size_t len, const struct pw_rule *r, double v, double threshold)
{
	const char *dir = r->dir == PW_RD_INBOUND    ? " inbound"
			  : r->dir == PW_RD_OUTBOUND ? " outbound"
						     : "";

	if (isnan(v)) {
		/* Latency without a request in the window, a rate before its
		 * first window: nothing to compare. */
		snprintf(buf, len, "no %s data on port %u%s in the window (threshold %g)",
			 pw_rule_metric_name(r->metric), r->port, dir, threshold);
		return;
	}
	switch (r->metric) {
	case PW_RM_CLOSE_WAIT:
		snprintf(buf, len, "%g %s in CLOSE_WAIT on port %u%s (threshold %g)", v,
			 plural(v, "socket", "sockets"), r->port, dir, threshold);
		break;
	case PW_RM_CLOSE_WAIT_AGE:
		snprintf(buf, len,
			 "oldest CLOSE_WAIT socket on port %u%s is %.0fs old (threshold %gs)",
			 r->port, dir, v, threshold);
		break;
	case PW_RM_LATENCY:
		snprintf(buf, len, "p%g request latency on port %u%s is %.3fs (threshold %gs)",
			 r->quantile * 100, r->port, dir, v, threshold);
		break;
	case PW_RM_REQUEST_RATE:
		snprintf(buf, len, "%.2f requests/s on port %u%s (threshold %g)", v, r->port, dir,
			 threshold);
		break;
	case PW_RM_RESET_RATE:
		snprintf(buf, len, "%.2f resets/s on port %u%s (threshold %g)", v, r->port, dir,
			 threshold);
		break;
	case PW_RM_UNANSWERED:
		snprintf(buf, len, "%g %s unanswered on port %u%s (threshold %g)", v,
			 plural(v, "request", "requests"), r->port, dir, threshold);
		break;
	case PW_RM_RETRANSMITS:
		snprintf(buf, len, "%g %s retransmitted on port %u%s (threshold %g)", v,
			 plural(v, "segment", "segments"), r->port, dir, threshold);
		break;
	case PW_RM_ACCEPT_QUEUE:
		snprintf(buf, len, "%g %s waiting for accept() on port %u (threshold %g)", v,
			 plural(v, "connection", "connections"), r->port, threshold);
		break;
	case PW_RM_LISTEN_DROPS:
		snprintf(buf, len, "%g %s dropped by the listener on port %u (threshold %g)", v,
			 plural(v, "segment", "segments"), r->port, threshold);
		break;
	case PW_RM_LISTENING:
		if (v == 0)
			snprintf(buf, len, "nothing listening on port %u (threshold %g)", r->port,
				 threshold);
		else
			snprintf(buf, len, "%g %s on port %u (threshold %g)", v,
				 plural(v, "listener", "listeners"), r->port, threshold);
		break;
	default:
		snprintf(buf, len, "%g failed %s to port %u%s (threshold %g)", v,
			 plural(v, "connect", "connects"), r->port, dir, threshold);
		break;
	}
}
