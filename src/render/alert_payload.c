// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What a notification carries, as its transports send it: the JSON document
 * of exec and webhook, Alertmanager's postableAlert, and the number and time
 * spellings the exec environment shares with them. Pure logic. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "render/alert_payload.h"

void pw_alert_msg_num(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.15g", v);
}

void pw_alert_msg_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

bool pw_alert_msg_resolved(const struct pw_alert_msg *m)
{
	return !strcmp(m->status, "resolved");
}

time_t pw_alert_msg_ends_at(const struct pw_alert_msg *m)
{
	return m->ends_at ? m->ends_at : time(NULL);
}

static json_t *json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static char *json_take(json_t *j, size_t *len)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

	json_decref(j);
	if (s)
		*len = strlen(s);
	return s;
}

char *pw_alert_msg_json(const struct pw_alert_msg *m, size_t *len)
{
	char t[32];
	json_t *o;

	o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:s, s:s}", "version", 1,
		      "status", m->status, "rule", m->rule, "metric", m->metric, "port",
		      (json_int_t)m->port, "direction", m->direction, "severity", m->severity,
		      "value", json_num(m->value), "threshold", json_num(m->threshold), "summary",
		      m->summary, "hostname", m->hostname);
	if (o && m->starts_at) {
		pw_alert_msg_time(t, sizeof(t), m->starts_at);
		json_object_set_new(o, "starts_at", json_string(t));
	}
	if (o && pw_alert_msg_resolved(m)) {
		pw_alert_msg_time(t, sizeof(t), pw_alert_msg_ends_at(m));
		json_object_set_new(o, "ends_at", json_string(t));
	}
	return json_take(o, len);
}

/* Alertmanager API v2: an array of postableAlert. Firing alerts carry no
 * endsAt, so Alertmanager keeps them for its resolve_timeout; resolved ones
 * carry the resolution time and end at once. */
char *pw_alert_msg_am_json(const struct pw_alert_msg *m, size_t *len)
{
	char port[16], value[32], threshold[32], t[32];
	json_t *a;

	snprintf(port, sizeof(port), "%u", m->port);
	pw_alert_msg_num(value, sizeof(value), m->value);
	pw_alert_msg_num(threshold, sizeof(threshold), m->threshold);
	a = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "labels",
		      "alertname", m->rule, "port", port, "direction", m->direction, "severity",
		      m->severity, "metric", m->metric, "instance", m->hostname, "job", "portwatch",
		      "annotations", "summary", m->summary, "value", value, "threshold", threshold);
	if (a && m->starts_at) {
		pw_alert_msg_time(t, sizeof(t), m->starts_at);
		json_object_set_new(a, "startsAt", json_string(t));
	}
	if (a && pw_alert_msg_resolved(m)) {
		pw_alert_msg_time(t, sizeof(t), pw_alert_msg_ends_at(m));
		json_object_set_new(a, "endsAt", json_string(t));
	}
	return json_take(a ? json_pack("[o]", a) : NULL, len);
}
