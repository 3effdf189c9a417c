// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The alert engine: the state machine driven with value sequences
 * (hysteresis, for, cooldown, escalation, no data), rule values from
 * synthetic live reads, and config reload. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/alert.h"
#include "render/alert_text.h"
#include "render/format.h"

#define SEC 1000000000ULL

/* An alert stepped every 5 s; each step leaves one character in trace:
 * '.' no change, P pending, C cancelled, F firing, S suppressed,
 * E/e escalated notified/not, M reminder, R/r resolved notified/not. */
struct drive {
	struct pw_alert al;
	struct pw_rule r;
	__u64 t;
	struct pw_alert_note last;
	char trace[512];
	size_t len;
};

static void drive_init(struct drive *d, double warn, double clear)
{
	memset(d, 0, sizeof(*d));
	strcpy(d->r.name, "test");
	d->r.metric = PW_RM_CLOSE_WAIT;
	d->r.port = 8080;
	d->r.has_warn = true;
	d->r.warn = warn;
	d->r.clear = clear;
}

static char note_char(const struct pw_alert_note *n)
{
	switch (n->change) {
	case PW_ALERT_PENDING:
		assert_false(n->notify);
		return 'P';
	case PW_ALERT_CANCELLED:
		assert_false(n->notify);
		return 'C';
	case PW_ALERT_FIRING:
		assert_true(n->notify);
		return 'F';
	case PW_ALERT_SUPPRESSED:
		assert_false(n->notify);
		return 'S';
	case PW_ALERT_ESCALATED:
		assert_int_equal(n->severity, PW_SEV_CRITICAL);
		return n->notify ? 'E' : 'e';
	case PW_ALERT_REMINDER:
		assert_true(n->notify);
		return 'M';
	case PW_ALERT_RESOLVED:
		return n->notify ? 'R' : 'r';
	default:
		fail();
	}
	return '?';
}

static const char *feed(struct drive *d, const double *v, size_t n)
{
	size_t start = d->len, i;
	struct pw_alert_note note;

	for (i = 0; i < n; i++, d->t += 5 * SEC) {
		assert_true(d->len + 1 < sizeof(d->trace));
		if (pw_alert_step(&d->al, &d->r, v[i], d->t, &note)) {
			assert_int_equal(note.now_ns, d->t);
			d->trace[d->len++] = note_char(&note);
			d->last = note;
		} else {
			d->trace[d->len++] = '.';
		}
	}
	d->trace[d->len] = '\0';
	return d->trace + start;
}

#define FEED(d, ...)                                                                               \
	feed(d, (const double[]){ __VA_ARGS__ },                                                   \
	     sizeof((const double[]){ __VA_ARGS__ }) / sizeof(double))

/* The same value n times. */
static const char *hold(struct drive *d, double v, size_t n)
{
	double *vs = malloc(n * sizeof(*vs));
	const char *t;
	size_t i;

	for (i = 0; i < n; i++)
		vs[i] = v;
	t = feed(d, vs, n);
	free(vs);
	return t;
}

static void test_severity(void **state)
{
	struct pw_rule r = { .has_warn = true, .warn = 10, .has_crit = true, .crit = 20 };

	(void)state;
	assert_int_equal(pw_rule_severity(&r, 9.999), PW_SEV_NONE);
	assert_int_equal(pw_rule_severity(&r, 10), PW_SEV_WARNING);
	assert_int_equal(pw_rule_severity(&r, 19.999), PW_SEV_WARNING);
	assert_int_equal(pw_rule_severity(&r, 20), PW_SEV_CRITICAL);
	assert_int_equal(pw_rule_severity(&r, NAN), PW_SEV_NONE);
	r.has_warn = false;
	assert_int_equal(pw_rule_severity(&r, 15), PW_SEV_NONE);
	assert_int_equal(pw_rule_severity(&r, 20), PW_SEV_CRITICAL);
	r.has_warn = true;
	r.has_crit = false;
	assert_int_equal(pw_rule_severity(&r, 1e9), PW_SEV_WARNING);
	assert_string_equal(pw_severity_name(PW_SEV_CRITICAL), "critical");
	assert_string_equal(pw_alert_state_name(PW_AS_PENDING), "pending");
	assert_string_equal(pw_alert_change_name(PW_ALERT_SUPPRESSED), "suppressed");
}

static void test_hysteresis(void **state)
{
	struct drive d;

	(void)state;
	drive_init(&d, 10, 5);
	/* Oscillating around warn and hovering between clear and warn: one
	 * firing, no flapping. */
	assert_string_equal(FEED(&d, 9, 10, 11, 9, 10, 8, 6, 9, 10, 5), ".F........");
	assert_int_equal(d.al.state, PW_AS_FIRING);
	assert_int_equal(d.al.severity, PW_SEV_WARNING);
	assert_int_equal(d.al.active_since_ns, 5 * SEC);
	assert_float_equal(d.last.threshold, 10, 0);
	/* Below clear resolves; between clear and warn does not start. */
	assert_string_equal(FEED(&d, 4.99, 9, 6, 9.99, 10), "R...F");
	assert_float_equal(d.last.value, 10, 0);
	assert_int_equal(d.al.changes[PW_ALERT_FIRING], 2);
	assert_int_equal(d.al.changes[PW_ALERT_RESOLVED], 1);
	assert_int_equal(d.al.changes[PW_ALERT_PENDING], 0);

	/* clear == warn: no band, every crossing is a change. */
	drive_init(&d, 10, 10);
	assert_string_equal(FEED(&d, 9, 10, 9, 10, 10), ".FRF.");
	/* A clear above warn is taken as warn: still no flapping. */
	drive_init(&d, 10, 20);
	assert_string_equal(FEED(&d, 10, 10, 15, 9), "F..R");
	assert_float_equal(d.last.threshold, 10, 0);
}

static void test_for(void **state)
{
	struct drive d;

	(void)state;
	drive_init(&d, 10, 5);
	d.r.for_ns = 15 * SEC;
	/* Pending at 0, 5, 10; firing at 15. */
	assert_string_equal(FEED(&d, 10, 10, 10, 10, 10), "P..F.");
	assert_int_equal(d.al.active_since_ns, 0);
	assert_int_equal(d.al.firing_since_ns, 15 * SEC);
	assert_int_equal(d.last.active_since_ns, 0);

	/* Between clear and warn keeps it pending. */
	drive_init(&d, 10, 5);
	d.r.for_ns = 15 * SEC;
	assert_string_equal(FEED(&d, 12, 7, 6, 9), "P..F");

	/* Below clear before for_ns: cancelled, and the clock restarts. */
	drive_init(&d, 10, 5);
	d.r.for_ns = 15 * SEC;
	assert_string_equal(FEED(&d, 12, 12, 4, 12, 12, 12, 12), "P.CP..F");
	assert_int_equal(d.al.active_since_ns, 15 * SEC);
	assert_int_equal(d.al.changes[PW_ALERT_PENDING], 2);
	assert_int_equal(d.al.changes[PW_ALERT_CANCELLED], 1);
	assert_float_equal(d.al.value, 12, 0);

	/* No data cancels too. */
	drive_init(&d, 10, 5);
	d.r.for_ns = 15 * SEC;
	assert_string_equal(FEED(&d, 12, NAN), "PC");
	assert_int_equal(d.al.state, PW_AS_INACTIVE);

	/* for not a multiple of the interval: the first evaluation after. */
	drive_init(&d, 10, 5);
	d.r.for_ns = 12 * SEC;
	assert_string_equal(FEED(&d, 10, 10, 10, 10), "P..F");

	/* for 0: at once, no pending. */
	drive_init(&d, 10, 5);
	assert_string_equal(FEED(&d, 10), "F");

	/* Reaching critical while pending fires critical. */
	drive_init(&d, 10, 5);
	d.r.has_crit = true;
	d.r.crit = 20;
	d.r.for_ns = 10 * SEC;
	assert_string_equal(FEED(&d, 12, 25, 12), "P.F");
	assert_int_equal(d.last.severity, PW_SEV_CRITICAL);
	assert_float_equal(d.last.threshold, 20, 0);
}

static void test_cooldown(void **state)
{
	char want[64];
	struct drive d;

	(void)state;
	drive_init(&d, 10, 5);
	d.r.cooldown_ns = 60 * SEC;
	/* t = 0..200 s: reminders at 60, 120, 180 exactly. */
	memset(want, '.', 41);
	want[41] = '\0';
	want[0] = 'F';
	want[12] = want[24] = want[36] = 'M';
	assert_string_equal(hold(&d, 20, 41), want);
	assert_int_equal(d.al.last_notify_ns, 180 * SEC);
	assert_int_equal(d.al.changes[PW_ALERT_REMINDER], 3);

	/* t = 205: resolved. 210: firing again within 60 s of the reminder at
	 * 180: suppressed, and so is its resolution at 215. 220: again; still
	 * firing at 240, the cooldown is over: announced then. */
	assert_string_equal(FEED(&d, 4, 20, 4, 20, 20, 20, 20, 20), "RSrS...F");
	assert_int_equal(d.last.now_ns, 240 * SEC);
	assert_int_equal(d.last.active_since_ns, 220 * SEC);
	/* That episode was notified: its resolution is too. A new firing a
	 * full cooldown after the last notification (240) is notified. */
	assert_string_equal(FEED(&d, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 20), "R..........F");
	assert_int_equal(d.last.now_ns, 300 * SEC);
	assert_int_equal(d.al.changes[PW_ALERT_FIRING], 3);
	assert_int_equal(d.al.changes[PW_ALERT_SUPPRESSED], 2);
	assert_int_equal(d.al.changes[PW_ALERT_RESOLVED], 3);

	/* One evaluation short of the cooldown: still suppressed. */
	drive_init(&d, 10, 5);
	d.r.cooldown_ns = 60 * SEC;
	assert_string_equal(hold(&d, 20, 1), "F");
	assert_string_equal(hold(&d, 4, 10), "R.........");
	assert_string_equal(FEED(&d, 20, 20), "SF"); /* 55 s, then 60 s */

	/* cooldown 0: no reminders, nothing suppressed. */
	drive_init(&d, 10, 5);
	want[0] = 'F';
	memset(want + 1, '.', 49);
	want[50] = '\0';
	assert_string_equal(hold(&d, 20, 50), want);
	assert_string_equal(FEED(&d, 4, 20, 4), "RFR");
}

static void test_escalation(void **state)
{
	struct drive d;

	(void)state;
	drive_init(&d, 10, 5);
	d.r.has_crit = true;
	d.r.crit = 20;
	d.r.cooldown_ns = 60 * SEC;
	assert_string_equal(FEED(&d, 12), "F");
	assert_int_equal(d.last.severity, PW_SEV_WARNING);
	/* Escalates once; stays critical while the value is only warning. */
	assert_string_equal(FEED(&d, 25, 15, 25, 12), "E...");
	assert_int_equal(d.al.severity, PW_SEV_CRITICAL);
	assert_int_equal(d.al.changes[PW_ALERT_ESCALATED], 1);
	assert_string_equal(FEED(&d, 4), "R");
	assert_int_equal(d.last.severity, PW_SEV_CRITICAL);
	assert_float_equal(d.last.threshold, 5, 0);
	assert_int_equal(d.al.severity, PW_SEV_NONE);
	/* t = 30: within the cooldown of the critical at 5: a warning and its
	 * escalation are held back until 65. */
	assert_string_equal(FEED(&d, 12, 25, 25, 25, 25, 25, 25, 25), "Se.....F");
	assert_int_equal(d.last.now_ns, 65 * SEC);
	assert_int_equal(d.last.severity, PW_SEV_CRITICAL);

	/* A critical is never held back by an earlier warning. */
	drive_init(&d, 10, 5);
	d.r.has_crit = true;
	d.r.crit = 20;
	d.r.cooldown_ns = 60 * SEC;
	assert_string_equal(FEED(&d, 12, 4, 25, 4), "FRFR");
	/* A suppressed warning that escalates is announced, then resolved. */
	drive_init(&d, 10, 5);
	d.r.has_crit = true;
	d.r.crit = 20;
	d.r.cooldown_ns = 60 * SEC;
	assert_string_equal(FEED(&d, 12, 4, 12, 25, 4), "FRSER");

	/* crit only: the lowest threshold is crit. */
	drive_init(&d, 0, 15);
	d.r.has_warn = false;
	d.r.has_crit = true;
	d.r.crit = 20;
	assert_string_equal(FEED(&d, 19, 20, 16, 14), ".F.R");
}

static void test_no_data(void **state)
{
	struct drive d;

	(void)state;
	drive_init(&d, 10, 5);
	assert_string_equal(FEED(&d, NAN, 12, NAN, NAN), ".FR.");
	assert_true(isnan(d.al.value));
	assert_true(isnan(d.last.value));
	assert_int_equal(d.al.state, PW_AS_INACTIVE);
	assert_string_equal(FEED(&d, 12), "F");
}

/* Live reads. */

static struct pw_live_row *row(struct pw_live *l, __u32 netns, __u16 port, __u8 dir)
{
	struct pw_key k = { .netns = netns, .port = port, .dir = dir };
	struct pw_live_row *r = pw_live_row(l, &k);

	assert_non_null(r);
	return r;
}

/* A row's request latency histogram, made if it has none. */
static struct pw_lat *H(struct pw_live *l, struct pw_live_row *r)
{
	struct pw_lat *h = pw_live_hist(l, r, PW_H_LAT);

	assert_non_null(h);
	return h;
}

/* Keeps the first n rows, as a read that found fewer would. */
static void keep_rows(struct pw_live *l, size_t n)
{
	size_t i;

	for (i = n; i < l->n; i++) {
		for (int k = 0; k < PW_H_MAX; k++)
			free(l->rows[i].hist[k]);
		memset(l->rows[i].hist, 0, sizeof(l->rows[i].hist));
	}
	l->n = n;
	l->index_stale = true;
}

static struct pw_rule mkrule(const char *name, enum pw_rule_metric m, __u16 port,
			     enum pw_rule_dir dir, double warn)
{
	struct pw_rule r = { .metric = m, .port = port, .dir = dir, .quantile = 0.95 };

	strcpy(r.name, name);
	r.window_ns = 10 * SEC;
	r.has_warn = true;
	r.warn = warn;
	r.clear = warn;
	return r;
}

static double value_of(const struct pw_alerts *a, size_t i)
{
	return pw_alerts__status(a, i)->value;
}

static void test_gauges(void **state)
{
	struct pw_rule r = mkrule("cw", PW_RM_CLOSE_WAIT, 8080, PW_RD_ANY, 10);
	struct pw_live l = {};

	(void)state;
	l.ts_ns = 100 * SEC;
	row(&l, 1, 8080, PW_DIR_INBOUND)->states[PW_TCP_CLOSE_WAIT] = 3;
	row(&l, 2, 8080, PW_DIR_OUTBOUND)->states[PW_TCP_CLOSE_WAIT] = 4;
	row(&l, 1, 8080, PW_DIR_LISTEN)->states[PW_TCP_CLOSE_WAIT] = 100;
	row(&l, 1, 9090, PW_DIR_INBOUND)->states[PW_TCP_CLOSE_WAIT] = 50;
	assert_float_equal(pw_rule_value_now(&r, &l), 7, 0);
	r.dir = PW_RD_INBOUND;
	assert_float_equal(pw_rule_value_now(&r, &l), 3, 0);
	r.dir = PW_RD_OUTBOUND;
	assert_float_equal(pw_rule_value_now(&r, &l), 4, 0);

	r.metric = PW_RM_CLOSE_WAIT_AGE;
	r.dir = PW_RD_ANY;
	assert_float_equal(pw_rule_value_now(&r, &l), 0, 0);
	row(&l, 1, 8080, PW_DIR_INBOUND)->cw_oldest_since_ns = 70 * SEC;
	row(&l, 2, 8080, PW_DIR_OUTBOUND)->cw_oldest_since_ns = 40 * SEC;
	row(&l, 1, 8080, PW_DIR_LISTEN)->cw_oldest_since_ns = 10 * SEC;
	row(&l, 1, 9090, PW_DIR_INBOUND)->cw_oldest_since_ns = 5 * SEC;
	assert_float_equal(pw_rule_value_now(&r, &l), 60, 1e-9);
	r.dir = PW_RD_INBOUND;
	assert_float_equal(pw_rule_value_now(&r, &l), 30, 1e-9);

	/* Per-CPU gauge skew never makes a negative count. */
	r.metric = PW_RM_CLOSE_WAIT;
	row(&l, 1, 8080, PW_DIR_INBOUND)->states[PW_TCP_CLOSE_WAIT] = -2;
	assert_float_equal(pw_rule_value_now(&r, &l), 0, 0);

	r.metric = PW_RM_LATENCY;
	assert_true(isnan(pw_rule_value_now(&r, &l)));
	r.metric = PW_RM_REQUEST_RATE;
	assert_true(isnan(pw_rule_value_now(&r, &l)));

	/* accept_queue: the port's fullest listen row, whatever direction
	 * the rule names; other rows' fields never count. */
	r.metric = PW_RM_ACCEPT_QUEUE;
	r.dir = PW_RD_INBOUND;
	row(&l, 1, 8080, PW_DIR_LISTEN)->acceptq = 5;
	row(&l, 2, 8080, PW_DIR_LISTEN)->acceptq = 9;
	row(&l, 1, 8080, PW_DIR_INBOUND)->acceptq = 50;
	row(&l, 1, 9090, PW_DIR_LISTEN)->acceptq = 70;
	assert_float_equal(pw_rule_value_now(&r, &l), 9, 0);
	pw_live_free(&l);
}

static void test_rates(void **state)
{
	struct pw_rule rules[] = {
		mkrule("req", PW_RM_REQUEST_RATE, 8080, PW_RD_ANY, 1000),
		mkrule("req_in", PW_RM_REQUEST_RATE, 8080, PW_RD_INBOUND, 1000),
		mkrule("rst", PW_RM_RESET_RATE, 8080, PW_RD_ANY, 1000),
		mkrule("fail", PW_RM_CONNECT_FAILURES, 8080, PW_RD_ANY, 1000),
	};
	struct pw_config cfg = { .interval_ns = 5 * SEC, .rules = rules, .n_rules = 4 };
	struct pw_live_row *in, *out, *lis, *other;
	struct pw_alerts *a = pw_alerts__new(&cfg);
	struct pw_live l = {};
	__u64 k;

	(void)state;
	assert_non_null(a);
	in = row(&l, 1, 8080, PW_DIR_INBOUND);
	out = row(&l, 2, 8080, PW_DIR_OUTBOUND);
	lis = row(&l, 1, 8080, PW_DIR_LISTEN);
	other = row(&l, 1, 9090, PW_DIR_INBOUND);
	/* Totals since start are not zero at the first read. */
	H(&l, in)->count = 1000;
	in->counter[PW_C_RESETS_SENT] = 77;
	assert_int_equal(pw_alerts__eval(a, &l, NULL, NULL), 0);
	for (k = 0; k < 4; k++)
		assert_true(isnan(value_of(a, k)));
	for (k = 1; k <= 4; k++) {
		/* Rows come and go in the table's order: re-find them. */
		in = row(&l, 1, 8080, PW_DIR_INBOUND);
		out = row(&l, 2, 8080, PW_DIR_OUTBOUND);
		lis = row(&l, 1, 8080, PW_DIR_LISTEN);
		other = row(&l, 1, 9090, PW_DIR_INBOUND);
		H(&l, in)->count += 10 * k;
		H(&l, out)->count += k;
		in->counter[PW_C_RESETS_SENT] += k;
		out->counter[PW_C_RESETS_RECEIVED] += 2 * k;
		out->counter[PW_C_CONNECT_REFUSED] += k;
		out->counter[PW_C_CONNECT_TIMEOUT] += 1;
		in->counter[PW_C_CONNECT_ERROR] += 2;
		H(&l, lis)->count += 1000;
		lis->counter[PW_C_RESETS_SENT] += 1000;
		H(&l, other)->count += 1000;
		other->counter[PW_C_RESETS_SENT] += 1000;
		other->counter[PW_C_CONNECT_REFUSED] += 1000;
		l.ts_ns = k * 5 * SEC;
		assert_int_equal(pw_alerts__eval(a, &l, NULL, NULL), 0);
		switch (k) {
		case 1: /* history shorter than the window: since the first read */
			assert_float_equal(value_of(a, 0), 11.0 / 5, 1e-9);
			assert_float_equal(value_of(a, 1), 10.0 / 5, 1e-9);
			assert_float_equal(value_of(a, 2), 3.0 / 5, 1e-9);
			assert_float_equal(value_of(a, 3), 4, 0);
			break;
		case 2:
			assert_float_equal(value_of(a, 0), 33.0 / 10, 1e-9);
			assert_float_equal(value_of(a, 1), 30.0 / 10, 1e-9);
			assert_float_equal(value_of(a, 2), 9.0 / 10, 1e-9);
			assert_float_equal(value_of(a, 3), 4 + 5, 0);
			break;
		case 4: /* window 10 s: reads at 10 and 20 */
			assert_float_equal(value_of(a, 0), 77.0 / 10, 1e-9);
			assert_float_equal(value_of(a, 1), 70.0 / 10, 1e-9);
			assert_float_equal(value_of(a, 2), 21.0 / 10, 1e-9);
			assert_float_equal(value_of(a, 3), 6 + 7, 0);
			break;
		}
	}
	/* A row vanishing (counters down) restarts the history. */
	keep_rows(&l, 0);
	l.ts_ns = 25 * SEC;
	pw_alerts__eval(a, &l, NULL, NULL);
	assert_true(isnan(value_of(a, 0)));
	in = row(&l, 1, 8080, PW_DIR_INBOUND);
	H(&l, in)->count = 40;
	l.ts_ns = 30 * SEC;
	pw_alerts__eval(a, &l, NULL, NULL);
	assert_float_equal(value_of(a, 0), 8, 1e-9);
	pw_live_free(&l);
	pw_alerts__free(a);
}

/* v (seconds) lies in the histogram bucket that holds ns. */
static void assert_in_bucket(double v, __u64 ns)
{
	__u32 b = pw_hist_bucket(ns);

	assert_true(v * 1e9 >= (double)pw_hist_upper_ns(b - 1) + 1 - 1e-3);
	assert_true(v * 1e9 <= (double)pw_hist_upper_ns(b) + 1e-3);
}

static void lat_add(struct pw_lat *l, __u64 ns, __u64 times)
{
	l->bucket[pw_hist_bucket(ns)] += times;
	l->count += times;
	l->sum_ns += ns * times;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

struct notes {
	struct pw_alert_note n[16];
	size_t len;
};

static void collect(void *ctx, const struct pw_alert_note *n)
{
	struct notes *ns = ctx;

	assert_true(ns->len < 16);
	ns->n[ns->len++] = *n;
}

static void test_latency_window(void **state)
{
	struct pw_rule rules[] = {
		mkrule("other", PW_RM_CLOSE_WAIT, 1, PW_RD_ANY, 1),
		mkrule("p95", PW_RM_LATENCY, 8080, PW_RD_ANY, 0.02),
	};
	struct pw_config cfg = { .interval_ns = 5 * SEC, .rules = rules, .n_rules = 2 };
	struct pw_lat *want = calloc(1, sizeof(*want));
	struct pw_alerts *a;
	struct pw_live l = {};
	struct notes ns = {};
	double v, expect;
	__u64 t;

	(void)state;
	rules[1].window_ns = 60 * SEC;
	rules[1].clear = 0.01;
	a = pw_alerts__new(&cfg);
	assert_non_null(a);
	row(&l, 1, 8080, PW_DIR_INBOUND);
	row(&l, 2, 8080, PW_DIR_OUTBOUND);
	row(&l, 1, 8080, PW_DIR_LISTEN);
	row(&l, 1, 9090, PW_DIR_INBOUND);
	l.ts_ns = 0;
	pw_alerts__eval(a, &l, collect, &ns);
	assert_true(isnan(value_of(a, 1)));

	/* 90 fast requests inbound, 10 slow outbound in another netns: p95
	 * is among the slow ones. Listen rows and other ports are ignored. */
	lat_add(H(&l, row(&l, 1, 8080, PW_DIR_INBOUND)), 2000000, 90);
	lat_add(H(&l, row(&l, 2, 8080, PW_DIR_OUTBOUND)), 40000000, 10);
	lat_add(H(&l, row(&l, 1, 8080, PW_DIR_LISTEN)), 1000000000, 1000);
	lat_add(H(&l, row(&l, 1, 9090, PW_DIR_INBOUND)), 1000000000, 1000);
	lat_add(want, 2000000, 90);
	lat_add(want, 40000000, 10);
	expect = pw_lat_quantile_ns(want, 0.95) / 1e9;
	l.ts_ns = 5 * SEC;
	pw_alerts__eval(a, &l, collect, &ns);
	v = value_of(a, 1);
	assert_float_equal(v, expect, 1e-12);
	assert_in_bucket(v, 40000000);
	assert_true(v <= 0.040); /* never above the largest seen */
	assert_int_equal(ns.len, 1);
	assert_int_equal(ns.n[0].rule, 1);
	assert_int_equal(ns.n[0].change, PW_ALERT_FIRING);
	assert_float_equal(ns.n[0].value, v, 0);

	/* Until 60 s the window still reaches back to the read at 0. */
	for (t = 10; t <= 60; t += 5) {
		l.ts_ns = t * SEC;
		pw_alerts__eval(a, &l, collect, &ns);
		assert_float_equal(value_of(a, 1), expect, 1e-12);
	}
	/* At 65 it starts at 5: no request in the window, no data, resolved. */
	l.ts_ns = 65 * SEC;
	pw_alerts__eval(a, &l, collect, &ns);
	assert_true(isnan(value_of(a, 1)));
	assert_int_equal(ns.len, 2);
	assert_int_equal(ns.n[1].change, PW_ALERT_RESOLVED);
	assert_true(ns.n[1].notify);
	assert_true(isnan(ns.n[1].value));

	/* New fast requests only: the slow ones are forgotten. */
	lat_add(H(&l, row(&l, 1, 8080, PW_DIR_INBOUND)), 1000000, 50);
	l.ts_ns = 70 * SEC;
	pw_alerts__eval(a, &l, collect, &ns);
	v = value_of(a, 1);
	assert_in_bucket(v, 1000000);
	assert_int_equal(ns.len, 2);

	/* A histogram going down (a row gone) restarts the history. */
	keep_rows(&l, 1);
	l.ts_ns = 75 * SEC;
	pw_alerts__eval(a, &l, collect, &ns);
	assert_true(isnan(value_of(a, 1)));
	free(want);
	pw_live_free(&l);
	pw_alerts__free(a);
}

static void test_history_bounded(void **state)
{
	struct pw_rule r = mkrule("fail", PW_RM_CONNECT_FAILURES, 8080, PW_RD_ANY, 1e9);
	struct pw_config cfg = { .interval_ns = SEC, .rules = &r, .n_rules = 1 };
	struct pw_alerts *a;
	struct pw_live l = {};
	__u64 t;

	(void)state;
	/* 3 h at 1 s would be 10800 reads: capped at 4096. */
	r.window_ns = 3 * 3600 * SEC;
	a = pw_alerts__new(&cfg);
	assert_non_null(a);
	for (t = 0; t < 5000; t++) {
		row(&l, 1, 8080, PW_DIR_OUTBOUND)->counter[PW_C_CONNECT_REFUSED] = t;
		l.ts_ns = t * SEC;
		pw_alerts__eval(a, &l, NULL, NULL);
	}
	assert_float_equal(value_of(a, 0), 4095, 0);
	pw_live_free(&l);
	pw_alerts__free(a);
}

static void test_adopt(void **state)
{
	struct pw_rule old_rules[] = {
		mkrule("cw", PW_RM_CLOSE_WAIT, 8080, PW_RD_ANY, 5),
		mkrule("cw2", PW_RM_CLOSE_WAIT, 8080, PW_RD_ANY, 5),
		mkrule("rate", PW_RM_REQUEST_RATE, 8080, PW_RD_ANY, 100),
		mkrule("moved", PW_RM_REQUEST_RATE, 8080, PW_RD_ANY, 100),
	};
	struct pw_rule new_rules[] = {
		mkrule("new", PW_RM_CLOSE_WAIT, 8080, PW_RD_ANY, 5),
		mkrule("rate", PW_RM_REQUEST_RATE, 8080, PW_RD_ANY, 50),
		mkrule("cw2", PW_RM_CLOSE_WAIT, 8080, PW_RD_ANY, 6),
		mkrule("cw", PW_RM_CLOSE_WAIT, 8080, PW_RD_ANY, 5),
		mkrule("moved", PW_RM_REQUEST_RATE, 9090, PW_RD_ANY, 100),
	};
	struct pw_config old_cfg = { .interval_ns = 5 * SEC, .rules = old_rules, .n_rules = 4 };
	struct pw_config new_cfg = { .interval_ns = 5 * SEC, .rules = new_rules, .n_rules = 5 };
	struct pw_alerts *old, *a;
	struct pw_live l = {};
	struct notes ns = {};
	const struct pw_alert *st;
	size_t notify_list[] = { 0 };

	(void)state;
	old_rules[0].notify = notify_list;
	old_rules[0].n_notify = 1;
	old = pw_alerts__new(&old_cfg);
	assert_non_null(old);
	assert_null(pw_alerts__rule(old, 0)->notify);
	row(&l, 1, 8080, PW_DIR_INBOUND)->states[PW_TCP_CLOSE_WAIT] = 10;
	l.ts_ns = 0;
	pw_alerts__eval(old, &l, NULL, NULL);
	H(&l, row(&l, 1, 8080, PW_DIR_INBOUND))->count = 100;
	H(&l, row(&l, 1, 9090, PW_DIR_INBOUND))->count = 100;
	l.ts_ns = 5 * SEC;
	pw_alerts__eval(old, &l, NULL, NULL);
	assert_int_equal(pw_alerts__status(old, 0)->state, PW_AS_FIRING);
	assert_int_equal(pw_alerts__status(old, 1)->state, PW_AS_FIRING);
	assert_float_equal(value_of(old, 2), 20, 1e-9);

	a = pw_alerts__new(&new_cfg);
	assert_non_null(a);
	pw_alerts__adopt(a, old);
	pw_alerts__free(old);
	/* Unchanged: state, timers and counters carried. */
	st = pw_alerts__status(a, 3);
	assert_int_equal(st->state, PW_AS_FIRING);
	assert_int_equal(st->active_since_ns, 0);
	assert_int_equal(st->changes[PW_ALERT_FIRING], 1);
	assert_true(st->notified);
	/* Changed threshold: starts over. */
	assert_int_equal(pw_alerts__status(a, 2)->state, PW_AS_INACTIVE);
	assert_int_equal(pw_alerts__status(a, 2)->changes[PW_ALERT_FIRING], 0);

	H(&l, row(&l, 1, 8080, PW_DIR_INBOUND))->count = 600;
	H(&l, row(&l, 1, 9090, PW_DIR_INBOUND))->count = 600;
	l.ts_ns = 10 * SEC;
	pw_alerts__eval(a, &l, collect, &ns);
	/* cw2 and new fire afresh; cw is still the same firing alert. */
	assert_int_equal(ns.len, 3);
	assert_int_equal(ns.n[0].rule, 0);
	assert_int_equal(ns.n[0].change, PW_ALERT_FIRING);
	/* rate: new threshold, same samples: history kept, 600 since 0. */
	assert_float_equal(value_of(a, 1), 60, 1e-9);
	assert_int_equal(ns.n[1].rule, 1);
	assert_int_equal(ns.n[1].change, PW_ALERT_FIRING);
	assert_int_equal(ns.n[2].rule, 2);
	assert_int_equal(ns.n[2].change, PW_ALERT_FIRING);
	/* moved: another port, so no history yet. */
	assert_true(isnan(value_of(a, 4)));
	pw_live_free(&l);
	pw_alerts__free(a);
}

static void test_api_edges(void **state)
{
	struct pw_config cfg = {};
	struct pw_alerts *a;
	struct pw_live l = {};

	(void)state;
	errno = 0;
	assert_null(pw_alerts__new(NULL));
	assert_int_equal(errno, EINVAL);
	a = pw_alerts__new(&cfg);
	assert_non_null(a);
	assert_int_equal(pw_alerts__count(a), 0);
	assert_null(pw_alerts__status(a, 0));
	assert_null(pw_alerts__rule(a, 0));
	assert_int_equal(pw_alerts__eval(a, &l, NULL, NULL), 0);
	assert_int_equal(pw_alerts__eval(a, NULL, NULL, NULL), -EINVAL);
	pw_alerts__free(a);
	pw_alerts__free(NULL);
}

/* when: below, for "the backend stopped listening": at or below the
 * thresholds is bad, critical lowest, resolved above clear. */
static void test_below(void **state)
{
	struct pw_live l = {};
	struct pw_key k = { .port = 3005, .dir = PW_DIR_LISTEN };
	struct drive d;

	(void)state;
	drive_init(&d, 2, 2);
	d.r.metric = PW_RM_LISTENING;
	d.r.below = true;
	d.r.has_crit = true;
	d.r.crit = 0;
	assert_int_equal(pw_rule_severity(&d.r, 3), PW_SEV_NONE);
	assert_int_equal(pw_rule_severity(&d.r, 2), PW_SEV_WARNING);
	assert_int_equal(pw_rule_severity(&d.r, 1), PW_SEV_WARNING);
	assert_int_equal(pw_rule_severity(&d.r, 0), PW_SEV_CRITICAL);
	assert_int_equal(pw_rule_severity(&d.r, NAN), PW_SEV_NONE);
	/* 3 listeners fine, 2 warns, 0 escalates, 2 stays, 3 resolves. */
	assert_string_equal(FEED(&d, 3, 2, 0, 2, 3, 3), ".FE.R.");
	assert_float_equal(d.last.threshold, 2, 0);
	/* Hysteresis the other way: clear 3 resolves only above 3. */
	drive_init(&d, 2, 3);
	d.r.metric = PW_RM_LISTENING;
	d.r.below = true;
	assert_string_equal(FEED(&d, 4, 1, 3, 2, 4), ".F..R");
	assert_float_equal(d.last.threshold, 3, 0);
	/* A clear below the threshold is taken as the threshold. */
	drive_init(&d, 2, 0);
	d.r.below = true;
	assert_string_equal(FEED(&d, 2, 3), "FR");

	/* The value: listening sockets on the port's listen row; none (no
	 * row: nothing ever listened) is 0. */
	drive_init(&d, 0, 0);
	d.r.metric = PW_RM_LISTENING;
	d.r.port = 3005;
	l.ts_ns = SEC;
	assert_float_equal(pw_rule_value_now(&d.r, &l), 0, 0);
	assert_non_null(pw_live_row(&l, &k));
	pw_live_row(&l, &k)->states[PW_TCP_LISTEN] = 2;
	assert_float_equal(pw_rule_value_now(&d.r, &l), 2, 0);
	pw_live_free(&l);
}

static const char *names_for_where(__u32 netns)
{
	return netns == 20 ? "api-1" : netns == 10 ? "web-2" : "";
}

/* Which namespaces a gauge rule's value comes from. */
static void test_where(void **state)
{
	static const struct {
		__u32 netns;
		__s64 cw;
		__u64 oldest;
	} rows[] = { { 10, 1, 500 }, { 20, 5, 900 }, { 30, 3, 300 }, { 40, 2, 0 } };
	struct pw_rule r = { .port = 3001, .metric = PW_RM_CLOSE_WAIT };
	struct pw_live l = {};
	char buf[200];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		struct pw_key k = { .netns = rows[i].netns, .port = 3001, .dir = PW_DIR_INBOUND };
		struct pw_live_row *row = pw_live_row(&l, &k);

		assert_non_null(row);
		row->states[PW_TCP_CLOSE_WAIT] = rows[i].cw;
		row->cw_oldest_since_ns = rows[i].oldest;
	}
	pw_set_netns_namer(names_for_where);
	assert_int_equal(pw_rule_where(&r, &l, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "api-1 (5), 30 (3), 40 (2)");
	r.metric = PW_RM_CLOSE_WAIT_AGE;
	assert_int_equal(pw_rule_where(&r, &l, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "30");
	/* Windowed metrics have no single place. */
	r.metric = PW_RM_LATENCY;
	assert_int_equal(pw_rule_where(&r, &l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	pw_set_netns_namer(NULL);
	pw_live_free(&l);
}

/* Alert texts: singular and plural counts, no "nan". */
static void test_describe(void **state)
{
	struct pw_rule r = { .port = 3001, .metric = PW_RM_CLOSE_WAIT };
	char buf[256];

	(void)state;
	pw_rule_describe(buf, sizeof(buf), &r, 1, 10);
	assert_string_equal(buf, "1 socket in CLOSE_WAIT on port 3001 (threshold 10)");
	pw_rule_describe(buf, sizeof(buf), &r, 12, 10);
	assert_string_equal(buf, "12 sockets in CLOSE_WAIT on port 3001 (threshold 10)");
	r.metric = PW_RM_UNANSWERED;
	r.dir = PW_RD_INBOUND;
	pw_rule_describe(buf, sizeof(buf), &r, 1, 5);
	assert_string_equal(buf, "1 request unanswered on port 3001 inbound (threshold 5)");
	r.metric = PW_RM_ACCEPT_QUEUE;
	pw_rule_describe(buf, sizeof(buf), &r, 1, 5);
	assert_string_equal(buf, "1 connection waiting for accept() on port 3001 (threshold 5)");
	r.metric = PW_RM_CONNECT_FAILURES;
	r.dir = PW_RD_OUTBOUND;
	pw_rule_describe(buf, sizeof(buf), &r, 2, 1);
	assert_string_equal(buf, "2 failed connects to port 3001 outbound (threshold 1)");
	r.metric = PW_RM_LATENCY;
	r.quantile = 0.95;
	pw_rule_describe(buf, sizeof(buf), &r, NAN, 2);
	assert_string_equal(buf,
			    "no latency data on port 3001 outbound in the window (threshold 2)");
	assert_null(strstr(buf, "nan"));
	r.metric = PW_RM_LISTENING;
	pw_rule_describe(buf, sizeof(buf), &r, 0, 0);
	assert_string_equal(buf, "nothing listening on port 3001 (threshold 0)");
	pw_rule_describe(buf, sizeof(buf), &r, 1, 2);
	assert_string_equal(buf, "1 listener on port 3001 (threshold 2)");
	r.metric = PW_RM_LATENCY;
	pw_rule_describe(buf, sizeof(buf), &r, 2.5, 2);
	assert_string_equal(buf,
			    "p95 request latency on port 3001 outbound is 2.500s (threshold 2s)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_severity),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_for),
		cmocka_unit_test(test_cooldown),
		cmocka_unit_test(test_escalation),
		cmocka_unit_test(test_no_data),
		cmocka_unit_test(test_gauges),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_latency_window),
		cmocka_unit_test(test_history_bounded),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_api_edges),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_below),
		cmocka_unit_test(test_where),
	};

	return cmocka_run_group_tests_name("alert", tests, NULL, NULL);
}
