// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What the daemon says about an alert transition, in its log and to its
 * notifiers; one place, so the two never drift apart. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "render/alert_text.h"

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
