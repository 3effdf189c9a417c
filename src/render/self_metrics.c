// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The /metrics families about portwatch itself, after the per-port ones:
 * loss and repairs first (what an operator alerts on), then the rest. */
#include "common/clock.h"
#include "render/alert_text.h"
#include "render/self_metrics.h"

#ifndef PW_VERSION
#define PW_VERSION "dev"
#endif

static const char *const drop_names[PW_DROP_MAX] = {
	[PW_DROP_RINGBUF] = "ringbuf",	     [PW_DROP_STATS] = "stats_map",
	[PW_DROP_SK_STORAGE] = "sk_storage", [PW_DROP_CLOSE_WAIT] = "close_wait_map",
	[PW_DROP_MINI] = "mini_map",
};

static const char *const fix_names[PW_FIX_MAX] = {
	[PW_FIX_DRIFT] = "drift",
	[PW_FIX_DESTROYED] = "destroyed",
};

void pw_self_write_stats(struct pw_text *t, const struct pw_self_stats *s)
{
	size_t i;

	pw_metrics_family(t, "portwatch_drops_total", "counter",
			  "Things the BPF programs could not record, by reason.");
	for (i = 0; i < PW_DROP_MAX; i++)
		pw_text_printf(t, "portwatch_drops_total{reason=\"%s\"} %llu\n", drop_names[i],
			       (unsigned long long)s->drops[i]);
	pw_metrics_family(t, "portwatch_reconcile_fixes_total", "counter",
			  "Repairs: sockets the sync pass found counted in the wrong state "
			  "(drift), sockets that died still counted (destroyed).");
	for (i = 0; i < PW_FIX_MAX; i++)
		pw_text_printf(t, "portwatch_reconcile_fixes_total{kind=\"%s\"} %llu\n",
			       fix_names[i], (unsigned long long)s->fixes[i]);
	pw_metrics_family(t, "portwatch_missed_events_total", "counter",
			  "Tracing program runs the kernel skipped (no nesting on one CPU); "
			  "repaired by reconciliation.");
	pw_text_printf(t, "portwatch_missed_events_total %llu\n", (unsigned long long)s->missed);
	pw_metrics_family(t, "portwatch_tracked_sockets", "gauge",
			  "TCP sockets counted, every state and port.");
	pw_text_printf(t, "portwatch_tracked_sockets %lld\n", s->tracked);
	pw_metrics_family(t, "portwatch_config_reloads_total", "counter",
			  "Configuration reloads (SIGHUP), by result.");
	pw_text_printf(t,
		       "portwatch_config_reloads_total{result=\"success\"} %llu\n"
		       "portwatch_config_reloads_total{result=\"failure\"} %llu\n",
		       (unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
	pw_metrics_family(t, "portwatch_config_last_reload_success_timestamp_seconds", "gauge",
			  "When the running configuration was loaded.");
	pw_text_printf(t, "portwatch_config_last_reload_success_timestamp_seconds %.3f\n",
		       s->last_reload_ok);
}

void pw_self_prog_stat(void *ctx, const char *prog, __u64 run_ns, __u64 runs)
{
	struct pw_prog_text *p = ctx;

	pw_text_printf(&p->secs, "portwatch_bpf_run_seconds_total{program=\"%s\"} %.9f\n", prog,
		       pw_seconds(run_ns));
	pw_text_printf(&p->runs, "portwatch_bpf_runs_total{program=\"%s\"} %llu\n", prog,
		       (unsigned long long)runs);
}

void pw_self_write_prog_stats(struct pw_text *t, const struct pw_prog_text *p)
{
	if (p->secs.err || p->runs.err)
		return;
	pw_metrics_family(t, "portwatch_bpf_run_seconds_total", "counter",
			  "Time the kernel spent in each portwatch BPF program "
			  "(kernel.bpf_stats_enabled=1).");
	pw_text_printf(t, "%.*s", (int)p->secs.len, p->secs.s ? p->secs.s : "");
	pw_metrics_family(t, "portwatch_bpf_runs_total", "counter",
			  "Runs of each portwatch BPF program (kernel.bpf_stats_enabled=1).");
	pw_text_printf(t, "%.*s", (int)p->runs.len, p->runs.s ? p->runs.s : "");
}

void pw_prog_text_free(struct pw_prog_text *p)
{
	pw_text_free(&p->secs);
	pw_text_free(&p->runs);
}

/* 1 with the hook in use, 0 when off, so a fleet can see where a feature
 * is missing. */
void pw_self_write_features(struct pw_text *t, const char *const *ids, const char *const *hooks,
			    size_t n)
{
	size_t i;

	pw_metrics_family(t, "portwatch_kernel_feature", "gauge",
			  "Features this kernel gives: 1 with the hook in use, 0 when off "
			  "(see portwatch features).");
	for (i = 0; i < n; i++) {
		pw_text_printf(t, "portwatch_kernel_feature{feature=\"%s\",hook=\"", ids[i]);
		pw_metrics_label_value(t, hooks[i]);
		pw_text_printf(t, "\"} %d\n", hooks[i][0] != '\0');
	}
}

void pw_self_write_build_info(struct pw_text *t)
{
	pw_metrics_family(t, "portwatch_build_info", "gauge", "portwatch's version.");
	pw_text_printf(t, "portwatch_build_info{version=\"%s\"} 1\n", PW_VERSION);
}

void pw_self_write_notifiers(struct pw_text *t, const struct pw_notifier_counts *c, size_t n)
{
	size_t i;

	pw_metrics_family(
		t, "portwatch_notifications_total", "counter",
		"Alert notifications by notifier and result (timeout: attempts cut off).");
	for (i = 0; i < n; i++)
		pw_text_printf(
			t,
			"portwatch_notifications_total{notifier=\"%s\",result=\"sent\"} %llu\n"
			"portwatch_notifications_total{notifier=\"%s\",result=\"failed\"} %llu\n"
			"portwatch_notifications_total{notifier=\"%s\",result=\"dropped\"} %llu\n"
			"portwatch_notifications_total{notifier=\"%s\",result=\"timeout\"} %llu\n",
			c[i].name, (unsigned long long)c[i].sent, c[i].name,
			(unsigned long long)c[i].failed, c[i].name,
			(unsigned long long)c[i].dropped, c[i].name,
			(unsigned long long)c[i].timeouts);
}

void pw_self_write_alerts(struct pw_text *t, const struct pw_alerts *a)
{
	size_t i, n = pw_alerts__count(a);
	const struct pw_alert *al;
	const struct pw_rule *r;
	char v[32];
	int s, c;

	pw_metrics_family(t, "portwatch_alert_state", "gauge",
			  "1 for each rule's current alert state, 0 for the others.");
	for (i = 0; i < n; i++) {
		r = pw_alerts__rule(a, i);
		al = pw_alerts__status(a, i);
		for (s = PW_AS_INACTIVE; s <= PW_AS_FIRING; s++)
			pw_text_printf(
				t,
				"portwatch_alert_state{rule=\"%s\",port=\"%u\",state=\"%s\"} %d\n",
				r->name, r->port, pw_alert_state_name(s),
				al->state == (enum pw_alert_state)s);
	}
	pw_metrics_family(t, "portwatch_alert_severity", "gauge",
			  "Each rule's alert severity: 0 none, 1 warning, 2 critical.");
	for (i = 0; i < n; i++) {
		r = pw_alerts__rule(a, i);
		pw_text_printf(t, "portwatch_alert_severity{rule=\"%s\",port=\"%u\"} %d\n", r->name,
			       r->port, (int)pw_alerts__status(a, i)->severity);
	}
	pw_metrics_family(t, "portwatch_alert_value", "gauge",
			  "Each rule's last evaluated value, in the rule's unit; NaN: no data.");
	for (i = 0; i < n; i++) {
		r = pw_alerts__rule(a, i);
		pw_alert_value_text(v, sizeof(v), pw_alerts__status(a, i)->value);
		pw_text_printf(t, "portwatch_alert_value{rule=\"%s\",port=\"%u\"} %s\n", r->name,
			       r->port, v);
	}
	pw_metrics_family(t, "portwatch_alert_transitions_total", "counter",
			  "Alert state changes by rule and change.");
	for (i = 0; i < n; i++) {
		r = pw_alerts__rule(a, i);
		al = pw_alerts__status(a, i);
		for (c = 0; c < PW_ALERT_CHANGE_MAX; c++)
			pw_text_printf(t,
				       "portwatch_alert_transitions_total{rule=\"%s\",port=\"%u\","
				       "to=\"%s\"} %llu\n",
				       r->name, r->port, pw_alert_change_name(c),
				       (unsigned long long)al->changes[c]);
	}
}
