// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The alert engine: rule values from live reads, a bounded history of
 * cumulative totals per windowed rule, and the per-rule state machine
 * (alert.h says exactly when its states change). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/clock.h"
#include "model/alert.h"

/* A 1 h window read every second: enough for any sane configuration. */
#define RING_MAX 4096

/* Reads a windowed rule keeps, oldest first from head. Only what the rule
 * needs: a histogram for latency, one total for the others. */
struct ring {
	size_t cap, n, head;
	__u64 *ts_ns;
	__u64 *total;
	struct pw_lat *lat;
};

struct slot {
	struct pw_rule rule;
	struct pw_alert alert;
	struct ring ring;
};

struct pw_alerts {
	struct slot *slots;
	size_t n;
	/* Scratch histograms: 2.4 KB each, too big for the stack. */
	struct pw_lat *cur, *diff;
};

static __u64 elapsed(__u64 now_ns, __u64 since_ns)
{
	return now_ns > since_ns ? now_ns - since_ns : 0;
}

bool pw_rule_row_matches(const struct pw_rule *r, const struct pw_live_row *row)
{
	if (row->key.port != r->port)
		return false;
	/* Listener metrics: the port's listen row, whatever the direction. */
	if (r->metric == PW_RM_ACCEPT_QUEUE || r->metric == PW_RM_LISTEN_DROPS ||
	    r->metric == PW_RM_LISTENING)
		return row->key.dir == PW_DIR_LISTEN;
	switch (r->dir) {
	case PW_RD_ANY:
		return row->key.dir == PW_DIR_INBOUND || row->key.dir == PW_DIR_OUTBOUND;
	case PW_RD_INBOUND:
		return row->key.dir == PW_DIR_INBOUND;
	case PW_RD_OUTBOUND:
		return row->key.dir == PW_DIR_OUTBOUND;
	}
	return false;
}

double pw_rule_value_now(const struct pw_rule *r, const struct pw_live *l)
{
	__u64 oldest = 0;
	__u32 queue = 0;
	__s64 cw = 0, listening = 0;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *row = &l->rows[i];

		if (!pw_rule_row_matches(r, row))
			continue;
		cw += row->states[PW_TCP_CLOSE_WAIT];
		listening += row->states[PW_TCP_LISTEN];
		if (row->acceptq > queue)
			queue = row->acceptq;
		if (row->cw_oldest_since_ns && (!oldest || row->cw_oldest_since_ns < oldest))
			oldest = row->cw_oldest_since_ns;
	}
	switch (r->metric) {
	case PW_RM_CLOSE_WAIT:
		/* Per-CPU gauge deltas can sum below zero for a moment. */
		return cw > 0 ? (double)cw : 0;
	case PW_RM_CLOSE_WAIT_AGE:
		return oldest ? pw_seconds(elapsed(l->ts_ns, oldest)) : 0;
	case PW_RM_ACCEPT_QUEUE:
		return queue;
	case PW_RM_LISTENING:
		/* No row: nothing ever listened there, which is 0. */
		return listening > 0 ? (double)listening : 0;
	default:
		return NAN;
	}
}

static __u64 row_total(const struct pw_rule *r, const struct pw_live_row *row)
{
	switch (r->metric) {
	case PW_RM_REQUEST_RATE:
		return pw_row_hist(row, PW_H_LAT)->count;
	case PW_RM_RESET_RATE:
		return row->counter[PW_C_RESETS_SENT] + row->counter[PW_C_RESETS_RECEIVED];
	case PW_RM_CONNECT_FAILURES:
		return pw_live_connect_failures(row->counter);
	case PW_RM_UNANSWERED:
		return row->counter[PW_C_UNANSWERED];
	case PW_RM_RETRANSMITS:
		return row->counter[PW_C_RETRANSMITS];
	case PW_RM_LISTEN_DROPS:
		return row->listen_drops;
	default:
		return 0;
	}
}

static size_t ring_idx(const struct ring *g, size_t i)
{
	return (g->head + i) % g->cap;
}

static void ring_drop_oldest(struct ring *g)
{
	g->head = (g->head + 1) % g->cap;
	g->n--;
}

static void ring_push(struct ring *g, __u64 ts_ns, __u64 total, const struct pw_lat *lat)
{
	size_t i;

	if (g->n && g->ts_ns[ring_idx(g, g->n - 1)] == ts_ns) {
		i = ring_idx(g, g->n - 1); /* the same read again: replace it */
	} else {
		/* Full only when evaluations come faster than the interval:
		 * the window then shrinks to what is kept. */
		if (g->n == g->cap)
			ring_drop_oldest(g);
		i = ring_idx(g, g->n++);
	}
	g->ts_ns[i] = ts_ns;
	if (g->lat)
		memcpy(&g->lat[i], lat, sizeof(*lat));
	else
		g->total[i] = total;
}

/* Reads in the window plus the one before it, with room for evaluations
 * running a little early. */
static size_t ring_cap(const struct pw_rule *r, __u64 interval_ns)
{
	__u64 n;

	if (!interval_ns || r->window_ns / interval_ns >= RING_MAX)
		return RING_MAX;
	n = r->window_ns / interval_ns;
	n += n / 8 + 4;
	return n > RING_MAX ? RING_MAX : n;
}

static int ring_alloc(struct ring *g, size_t cap, bool lat)
{
	g->cap = cap;
	g->ts_ns = calloc(cap, sizeof(*g->ts_ns));
	if (lat)
		g->lat = calloc(cap, sizeof(*g->lat));
	else
		g->total = calloc(cap, sizeof(*g->total));
	return g->ts_ns && (g->lat || g->total) ? 0 : -ENOMEM;
}

static void ring_free(struct ring *g)
{
	free(g->ts_ns);
	free(g->total);
	free(g->lat);
}

/* The newest reads of src that fit into dst (same kind of rule). */
static void ring_copy(struct ring *dst, const struct ring *src)
{
	size_t k = src->n < dst->cap ? src->n : dst->cap, j, si;

	for (j = 0; j < k; j++) {
		si = ring_idx(src, src->n - k + j);
		dst->ts_ns[j] = src->ts_ns[si];
		if (dst->lat)
			memcpy(&dst->lat[j], &src->lat[si], sizeof(*dst->lat));
		else
			dst->total[j] = src->total[si];
	}
	dst->head = 0;
	dst->n = k;
}

static bool lat_ge(const struct pw_lat *later, const struct pw_lat *earlier)
{
	__u32 b;

	if (later->count < earlier->count)
		return false;
	for (b = 0; b < PW_HIST_BUCKETS; b++)
		if (later->bucket[b] < earlier->bucket[b])
			return false;
	return true;
}

static double sample_windowed(struct pw_alerts *a, struct slot *s, const struct pw_live *l)
{
	const struct pw_rule *r = &s->rule;
	struct ring *g = &s->ring;
	bool lat = r->metric == PW_RM_LATENCY;
	__u64 now = l->ts_ns, total = 0;
	size_t i, base, newest;

	if (lat)
		memset(a->cur, 0, sizeof(*a->cur));
	for (i = 0; i < l->n; i++) {
		if (!pw_rule_row_matches(r, &l->rows[i]))
			continue;
		if (lat)
			pw_lat_add(a->cur, pw_row_hist(&l->rows[i], PW_H_LAT));
		else
			total += row_total(r, &l->rows[i]);
	}
	/* A total going down means a row went away: differences across that
	 * would be garbage, so start the history again. */
	if (g->n) {
		newest = ring_idx(g, g->n - 1);
		if (now < g->ts_ns[newest] ||
		    (lat ? !lat_ge(a->cur, &g->lat[newest]) : total < g->total[newest]))
			g->n = 0;
	}
	ring_push(g, now, total, a->cur);
	/* Keep the newest read at or before now - window as the base. */
	while (g->n >= 2 && elapsed(now, g->ts_ns[ring_idx(g, 1)]) >= r->window_ns)
		ring_drop_oldest(g);
	if (g->n < 2)
		return NAN;
	base = ring_idx(g, 0);
	newest = ring_idx(g, g->n - 1);
	switch (r->metric) {
	case PW_RM_LATENCY:
		pw_lat_sub(a->diff, &g->lat[newest], &g->lat[base]);
		if (!a->diff->count)
			return NAN;
		return pw_seconds(pw_lat_quantile_ns(a->diff, r->quantile));
	case PW_RM_CONNECT_FAILURES:
	case PW_RM_UNANSWERED:
	case PW_RM_RETRANSMITS:
	case PW_RM_LISTEN_DROPS:
		return (double)(g->total[newest] - g->total[base]);
	default:
		return (double)(g->total[newest] - g->total[base]) /
		       pw_seconds(now - g->ts_ns[base]);
	}
}

/* The state machine works on "higher is worse": a `when: below` rule's
 * values and thresholds are negated into it. */
static double worse_up(const struct pw_rule *r, double v)
{
	return r->below ? -v : v;
}

enum pw_severity pw_rule_severity(const struct pw_rule *r, double value)
{
	double v = worse_up(r, value);

	if (r->has_crit && v >= worse_up(r, r->crit))
		return PW_SEV_CRITICAL;
	if (r->has_warn && v >= worse_up(r, r->warn))
		return PW_SEV_WARNING;
	return PW_SEV_NONE;
}

/* The threshold nearest to no alert, negated for a below rule. */
static double lowest_threshold(const struct pw_rule *r)
{
	double lo = INFINITY;

	if (r->has_warn)
		lo = worse_up(r, r->warn);
	if (r->has_crit && worse_up(r, r->crit) < lo)
		lo = worse_up(r, r->crit);
	return lo;
}

static double threshold_of(const struct pw_rule *r, enum pw_severity sev)
{
	if (r->has_crit && (sev == PW_SEV_CRITICAL || !r->has_warn))
		return r->crit;
	return r->warn;
}

static bool may_notify(const struct pw_alert *al, const struct pw_rule *r, enum pw_severity sev,
		       __u64 now_ns)
{
	if (al->last_notify_severity == PW_SEV_NONE || !r->cooldown_ns ||
	    sev > al->last_notify_severity)
		return true;
	return elapsed(now_ns, al->last_notify_ns) >= r->cooldown_ns;
}

static void notified(struct pw_alert *al, __u64 now_ns)
{
	al->notified = true;
	al->last_notify_ns = now_ns;
	al->last_notify_severity = al->severity;
}

static enum pw_alert_change go_firing(struct pw_alert *al, const struct pw_rule *r, __u64 now_ns,
				      bool *notify)
{
	al->state = PW_AS_FIRING;
	al->firing_since_ns = now_ns;
	al->notified = false;
	*notify = may_notify(al, r, al->severity, now_ns);
	if (!*notify)
		return PW_ALERT_SUPPRESSED;
	notified(al, now_ns);
	return PW_ALERT_FIRING;
}

bool pw_alert_step(struct pw_alert *al, const struct pw_rule *r, double value, __u64 now_ns,
		   struct pw_alert_note *note)
{
	double lo = lowest_threshold(r), clear = worse_up(r, r->clear);
	enum pw_severity sev = pw_rule_severity(r, value), note_sev;
	bool active;

	if (clear > lo)
		clear = lo;
	active = worse_up(r, value) >= clear; /* false for NaN */
	enum pw_alert_change change;
	bool notify = false;

	al->value = value;
	switch (al->state) {
	case PW_AS_INACTIVE:
		if (!(worse_up(r, value) >= lo))
			return false;
		al->active_since_ns = now_ns;
		al->severity = sev;
		if (r->for_ns) {
			al->state = PW_AS_PENDING;
			change = PW_ALERT_PENDING;
		} else {
			change = go_firing(al, r, now_ns, &notify);
		}
		break;
	case PW_AS_PENDING:
		if (!active) {
			change = PW_ALERT_CANCELLED;
			break;
		}
		if (sev > al->severity)
			al->severity = sev;
		if (elapsed(now_ns, al->active_since_ns) < r->for_ns)
			return false;
		change = go_firing(al, r, now_ns, &notify);
		break;
	case PW_AS_FIRING:
		if (!active) {
			change = PW_ALERT_RESOLVED;
			notify = al->notified;
			break;
		}
		if (sev > al->severity) {
			al->severity = sev;
			change = PW_ALERT_ESCALATED;
			notify = may_notify(al, r, sev, now_ns);
		} else if (!al->notified) {
			/* Suppressed, and still firing once the cooldown is
			 * over: the episode was never announced, so now. */
			if (!may_notify(al, r, al->severity, now_ns))
				return false;
			change = PW_ALERT_FIRING;
			notify = true;
		} else if (r->cooldown_ns &&
			   elapsed(now_ns, al->last_notify_ns) >= r->cooldown_ns) {
			change = PW_ALERT_REMINDER;
			notify = true;
		} else {
			return false;
		}
		if (notify)
			notified(al, now_ns);
		break;
	default:
		return false;
	}

	note_sev = al->severity;
	if (change == PW_ALERT_CANCELLED || change == PW_ALERT_RESOLVED) {
		al->state = PW_AS_INACTIVE;
		al->severity = PW_SEV_NONE;
		al->notified = false;
	}
	al->changes[change]++;
	memset(note, 0, sizeof(*note));
	note->change = change;
	note->notify = notify;
	note->severity = note_sev;
	note->value = value;
	note->threshold = change == PW_ALERT_CANCELLED || change == PW_ALERT_RESOLVED
				  ? worse_up(r, clear)
				  : threshold_of(r, note_sev);
	note->active_since_ns = al->active_since_ns;
	note->now_ns = now_ns;
	return true;
}

void pw_alerts__free(struct pw_alerts *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; a->slots && i < a->n; i++)
		ring_free(&a->slots[i].ring);
	free(a->slots);
	free(a->cur);
	free(a);
}

struct pw_alerts *pw_alerts__new(const struct pw_config *cfg)
{
	struct pw_alerts *a;
	struct slot *s;
	size_t i;

	if (!cfg || (cfg->n_rules && !cfg->rules)) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->n = cfg->n_rules;
	a->slots = calloc(a->n ? a->n : 1, sizeof(*a->slots));
	a->cur = calloc(2, sizeof(*a->cur));
	if (!a->slots || !a->cur)
		goto err;
	a->diff = a->cur + 1;
	for (i = 0; i < a->n; i++) {
		s = &a->slots[i];
		s->rule = cfg->rules[i];
		/* The caller's config owns these and may be freed first. */
		s->rule.notify = NULL;
		s->rule.n_notify = 0;
		s->alert.value = NAN;
		if (pw_rule_windowed(s->rule.metric) &&
		    ring_alloc(&s->ring, ring_cap(&s->rule, cfg->interval_ns),
			       s->rule.metric == PW_RM_LATENCY))
			goto err;
	}
	return a;
err:
	pw_alerts__free(a);
	errno = ENOMEM;
	return NULL;
}

static bool same_samples(const struct pw_rule *x, const struct pw_rule *y)
{
	return x->metric == y->metric && x->port == y->port && x->dir == y->dir;
}

static bool same_definition(const struct pw_rule *x, const struct pw_rule *y)
{
	return same_samples(x, y) && x->quantile == y->quantile && x->window_ns == y->window_ns &&
	       x->has_warn == y->has_warn && x->has_crit == y->has_crit &&
	       (!x->has_warn || x->warn == y->warn) && (!x->has_crit || x->crit == y->crit) &&
	       x->clear == y->clear && x->below == y->below && x->for_ns == y->for_ns &&
	       x->cooldown_ns == y->cooldown_ns;
}

void pw_alerts__adopt(struct pw_alerts *a, const struct pw_alerts *old)
{
	struct slot *s;
	const struct slot *o;
	size_t i, j;

	if (!a || !old)
		return;
	for (i = 0; i < a->n; i++) {
		s = &a->slots[i];
		for (j = 0; j < old->n; j++)
			if (!strncmp(s->rule.name, old->slots[j].rule.name, PW_NAME_LEN))
				break;
		if (j == old->n)
			continue;
		o = &old->slots[j];
		if (!same_samples(&s->rule, &o->rule))
			continue;
		if (s->ring.cap)
			ring_copy(&s->ring, &o->ring);
		if (same_definition(&s->rule, &o->rule))
			s->alert = o->alert;
	}
}

int pw_alerts__eval(struct pw_alerts *a, const struct pw_live *l, pw_alert_fn fn, void *ctx)
{
	struct pw_alert_note note;
	struct slot *s;
	double value;
	size_t i;

	if (!a || !l)
		return -EINVAL;
	for (i = 0; i < a->n; i++) {
		s = &a->slots[i];
		if (pw_rule_windowed(s->rule.metric))
			value = sample_windowed(a, s, l);
		else
			value = pw_rule_value_now(&s->rule, l);
		if (pw_alert_step(&s->alert, &s->rule, value, l->ts_ns, &note) && fn) {
			note.rule = i;
			fn(ctx, &note);
		}
	}
	return 0;
}

size_t pw_alerts__count(const struct pw_alerts *a)
{
	return a ? a->n : 0;
}

const struct pw_rule *pw_alerts__rule(const struct pw_alerts *a, size_t i)
{
	return a && i < a->n ? &a->slots[i].rule : NULL;
}

const struct pw_alert *pw_alerts__status(const struct pw_alerts *a, size_t i)
{
	return a && i < a->n ? &a->slots[i].alert : NULL;
}

const char *pw_alert_state_name(enum pw_alert_state s)
{
	switch (s) {
	case PW_AS_INACTIVE:
		return "inactive";
	case PW_AS_PENDING:
		return "pending";
	case PW_AS_FIRING:
		return "firing";
	}
	return "unknown";
}

const char *pw_severity_name(enum pw_severity s)
{
	switch (s) {
	case PW_SEV_NONE:
		return "none";
	case PW_SEV_WARNING:
		return "warning";
	case PW_SEV_CRITICAL:
		return "critical";
	}
	return "unknown";
}

const char *pw_alert_change_name(enum pw_alert_change c)
{
	switch (c) {
	case PW_ALERT_PENDING:
		return "pending";
	case PW_ALERT_CANCELLED:
		return "cancelled";
	case PW_ALERT_FIRING:
		return "firing";
	case PW_ALERT_ESCALATED:
		return "escalated";
	case PW_ALERT_REMINDER:
		return "reminder";
	case PW_ALERT_RESOLVED:
		return "resolved";
	case PW_ALERT_SUPPRESSED:
		return "suppressed";
	case PW_ALERT_CHANGE_MAX:
		break;
	}
	return "unknown";
}
