// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus text for the per-port rows. Histogram bounds are in-kernel
 * bucket bounds, so every exported count is exact: bucket k holds values
 * <= its bound, and le is that bound written out in full. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/clock.h"
#include "render/format.h"
#include "render/metrics.h"

void pw_text_printf(struct pw_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			t->len += n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *s = realloc(t->s, cap);
		if (!s) {
			t->err = -ENOMEM;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

void pw_text_reset(struct pw_text *t)
{
	t->len = 0;
	t->err = 0;
	if (t->s)
		t->s[0] = '\0';
}

void pw_text_free(struct pw_text *t)
{
	free(t->s);
	memset(t, 0, sizeof(*t));
}

void pw_portcap_init(struct pw_portcap *c, const __u16 *ports, size_t n_ports, __u32 max_ports)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->max = max_ports;
	c->allowlist = n_ports > 0;
	for (i = 0; i < n_ports; i++) {
		c->own[ports[i] / 64] |= 1ULL << (ports[i] % 64);
		c->n++;
	}
}

void pw_portcap_free(struct pw_portcap *c)
{
	free(c->sig);
	free(c->idle_since);
	pw_live_free(&c->prev);
	pw_live_free(&c->other);
	memset(c, 0, sizeof(*c));
}

static bool member(const struct pw_portcap *c, __u16 port)
{
	return c->own[port / 64] & (1ULL << (port % 64));
}

static void set_member(struct pw_portcap *c, __u16 port, bool on)
{
	if (on == member(c, port))
		return;
	c->own[port / 64] ^= 1ULL << (port % 64);
	if (on)
		c->n++;
	else
		c->n--;
}

/* A port's activity at this write. */
struct port_use {
	__u16 port;
	__u64 sockets;
	__u64 moved; /* its totals' growth since the last write */
};

static int cmp_use(const void *a, const void *b)
{
	const struct port_use *x = a, *y = b;

	if (x->sockets != y->sockets)
		return x->sockets > y->sockets ? -1 : 1;
	if (x->moved != y->moved)
		return x->moved > y->moved ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Membership by activity (see struct pw_portcap). */
static int portcap_update(struct pw_portcap *c, const struct pw_live *l)
{
	struct port_use *use;
	__u64 *sig, sockets, ns = l->ts_ns ? l->ts_ns : 1;
	__u32 *at; /* per port: its entry in use, + 1 */
	size_t i, n = 0;
	unsigned int port;
	int s;

	if (c->allowlist)
		return 0;
	if (!c->sig) {
		c->sig = calloc(65536, sizeof(*c->sig));
		c->idle_since = calloc(65536, sizeof(*c->idle_since));
		if (!c->sig || !c->idle_since)
			return -ENOMEM;
	}
	sig = calloc(65536, sizeof(*sig));
	at = calloc(65536, sizeof(*at));
	use = calloc(l->n + 1, sizeof(*use));
	if (!sig || !at || !use) {
		free(sig);
		free(at);
		free(use);
		return -ENOMEM;
	}
	/* Totals and sockets per port, over its rows. */
	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *r = &l->rows[i];

		for (sockets = 0, s = 0; s < PW_STATE_SLOTS; s++)
			sockets += r->states[s] > 0 ? (__u64)r->states[s] : 0;
		sig[r->key.port] += pw_live_row_total(r) + 1; /* + 1: the port has a row */
		if (!at[r->key.port]) {
			use[n++] = (struct port_use){ .port = r->key.port };
			at[r->key.port] = (__u32)n;
		}
		use[at[r->key.port] - 1].sockets += sockets;
	}
	for (i = 0; i < n; i++) {
		port = use[i].port;
		use[i].moved = sig[port] > c->sig[port] ? sig[port] - c->sig[port] : 0;
		if (use[i].sockets || use[i].moved)
			c->idle_since[port] = 0;
		else if (!c->idle_since[port])
			c->idle_since[port] = ns;
	}
	/* Forgotten ports give their place up. */
	for (port = 1; port < 65536; port++) {
		if (member(c, port) && !sig[port]) {
			set_member(c, port, false);
			c->idle_since[port] = 0;
		}
		c->sig[port] = sig[port];
	}
	/* Newcomers, busiest first: a free place, else the member idle
	 * longest, if the newcomer is busy and that member is idle. */
	qsort(use, n, sizeof(*use), cmp_use);
	for (i = 0; i < n; i++) {
		__u16 idlest = 0;

		port = use[i].port;
		if (!port || member(c, port))
			continue;
		if (c->n < c->max) {
			set_member(c, port, true);
			continue;
		}
		if (!use[i].sockets && !use[i].moved)
			break; /* the rest are idle too */
		for (size_t k = 0; k < n; k++) {
			__u16 m = use[k].port;

			if (m && member(c, m) && c->idle_since[m] &&
			    (!idlest || c->idle_since[m] < c->idle_since[idlest]))
				idlest = m;
		}
		if (!idlest)
			break; /* every member is busy */
		set_member(c, idlest, false);
		set_member(c, port, true);
		c->idle_since[idlest] = 0;
	}
	free(sig);
	free(at);
	free(use);
	return 0;
}

/* The port's label: itself, 0 for "other", or -1 to leave it out. Port 0
 * (traffic with no socket of its own) is always itself. */
static int portcap_label(const struct pw_portcap *c, __u16 port)
{
	if (!port || member(c, port))
		return port;
	return c->allowlist ? -1 : 0;
}

int pw_bounds_init(struct pw_bounds *b, const double *seconds, size_t n)
{
	size_t i;

	b->n = 0;
	for (i = 0; i < n; i++) {
		double ns = seconds[i] * PW_NSEC_PER_SEC;
		__u32 k;

		if (!(ns > 0) || ns >= (double)(1ULL << PW_HIST_MAX_SHIFT) ||
		    (i && seconds[i] <= seconds[i - 1]) ||
		    b->n == sizeof(b->bucket) / sizeof(b->bucket[0]))
			return -EINVAL;
		/* The bucket holding the bound: its upper bound is >= it. */
		k = pw_hist_bucket((__u64)ns + ((double)(__u64)ns < ns));
		if (b->n && b->bucket[b->n - 1] == k)
			continue;
		b->bucket[b->n++] = k;
	}
	return 0;
}

void pw_bounds_le(char *buf, size_t len, __u32 bucket)
{
	__u64 ns = pw_hist_upper_ns(bucket);
	char frac[16];
	int i;

	snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(ns % PW_NSEC_PER_SEC));
	for (i = 8; i > 0 && frac[i] == '0'; i--)
		frac[i] = '\0';
	if (frac[0] == '0' && frac[1] == '\0')
		snprintf(buf, len, "%llu", (unsigned long long)(ns / PW_NSEC_PER_SEC));
	else
		snprintf(buf, len, "%llu.%s", (unsigned long long)(ns / PW_NSEC_PER_SEC), frac);
}

void pw_metrics_family(struct pw_text *t, const char *name, const char *type, const char *help)
{
	pw_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void pw_metrics_label_value(struct pw_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			pw_text_printf(t, "\\\\");
		else if (*v == '"')
			pw_text_printf(t, "\\\"");
		else if (*v == '\n')
			pw_text_printf(t, "\\n");
		else
			pw_text_printf(t, "%c", *v);
	}
}

/* What a row has that only grows (counters, histograms): later - earlier,
 * into out (zeroed by the caller), whose histograms of the kinds later has
 * are oh[kind]. A row that went back (forgotten and made again) counts from
 * zero. */
static void row_growth(struct pw_live_row *out, struct pw_lat *oh, const struct pw_live_row *later,
		       const struct pw_live_row *earlier)
{
	bool grew = earlier && pw_live_row_total(later) >= pw_live_row_total(earlier);
	int i, k;

	for (i = 0; i < PW_C_MAX; i++)
		out->counter[i] = later->counter[i] - (grew ? earlier->counter[i] : 0);
	out->listen_drops = later->listen_drops - (grew ? earlier->listen_drops : 0);
	for (k = 0; k < PW_H_MAX; k++) {
		out->hist[k] = later->hist[k] ? &oh[k] : NULL;
		if (!later->hist[k])
			continue;
		if (grew)
			pw_lat_sub(&oh[k], later->hist[k], pw_row_hist(earlier, k));
		else
			oh[k] = *later->hist[k];
	}
}

/* from's totals added to to's, a row of tl (which makes to's histograms of
 * the kinds from has). */
static int merge_totals(struct pw_live *tl, struct pw_live_row *to, const struct pw_live_row *from)
{
	struct pw_lat *h;
	int i, k;

	for (i = 0; i < PW_C_MAX; i++)
		to->counter[i] += from->counter[i];
	to->listen_drops += from->listen_drops;
	for (k = 0; k < PW_H_MAX; k++) {
		if (!from->hist[k])
			continue;
		h = pw_live_hist(tl, to, k);
		if (!h)
			return -ENOMEM;
		pw_lat_add(h, from->hist[k]);
	}
	return 0;
}

/* Gauges: sockets now, the fullest listener, the oldest CLOSE_WAIT. */
static void merge_gauges(struct pw_live_row *to, const struct pw_live_row *from)
{
	int i;

	for (i = 0; i < PW_STATE_SLOTS; i++)
		to->states[i] += from->states[i];
	/* Folded rows of one port: the fullest listener stays the figure (a row
	 * with no backlog has no listener to offer). */
	if (from->acceptq_max)
		pw_live_add_listener(to, from->acceptq, from->acceptq_max);
	if (from->cw_oldest_since_ns &&
	    (!to->cw_oldest_since_ns || from->cw_oldest_since_ns < to->cw_oldest_since_ns))
		to->cw_oldest_since_ns = from->cw_oldest_since_ns;
}

/* Rows relabelled by the port cap and merged: one per exported series.
 * Under "other", gauges are summed as they are, and totals grow by what
 * each row under it added since the last write (see struct pw_portcap). */
static int fold(const struct pw_live *l, struct pw_portcap *cap, bool netns, struct pw_live *out)
{
	struct pw_live_row *r, *acc, *grown = calloc(1, sizeof(*grown));
	struct pw_lat *gh = calloc(PW_H_MAX, sizeof(*gh));
	size_t i;
	int err = 0;

	if (!grown || !gh) {
		free(grown);
		free(gh);
		return -ENOMEM;
	}
	out->ts_ns = l->ts_ns;
	for (i = 0; !err && i < l->n; i++) {
		const struct pw_live_row *row = &l->rows[i];
		struct pw_key k = row->key;
		int port = portcap_label(cap, k.port);

		if (port < 0)
			continue;
		k.port = port;
		k.pad = k.port != row->key.port; /* under "other" */
		if (!netns)
			k.netns = 0;
		r = pw_live_row(out, &k);
		if (!r) {
			err = -ENOMEM;
			break;
		}
		r->key.pad = k.pad;
		merge_gauges(r, row);
		if (!k.pad) {
			err = merge_totals(out, r, row);
			continue;
		}
		acc = pw_live_row(&cap->other, &k);
		if (!acc) {
			err = -ENOMEM;
			break;
		}
		acc->key.pad = 1;
		memset(grown, 0, sizeof(*grown));
		row_growth(grown, gh, row, pw_live_find(&cap->prev, &row->key));
		err = merge_totals(&cap->other, acc, grown);
	}
	/* Everything "other" has gathered, whether or not a port is under it
	 * now. */
	for (i = 0; !err && i < cap->other.n; i++) {
		r = pw_live_row(out, &cap->other.rows[i].key);
		if (!r) {
			err = -ENOMEM;
			break;
		}
		r->key.pad = 1;
		err = merge_totals(out, r, &cap->other.rows[i]);
	}
	free(grown);
	free(gh);
	/* This write's rows, for the next one's growth. */
	if (!err)
		err = pw_live_copy(&cap->prev, l);
	pw_live_sort(out);
	return err;
}

/* netns="INODE", and netns_name="..." when the namespace has a name
 * (pw_netns_named): one per namespace, so no more series. */
static void netns_labels(struct pw_text *t, __u32 netns)
{
	const char *name = pw_netns_named(netns);

	pw_text_printf(t, "netns=\"%u\",", netns);
	if (name[0]) {
		pw_text_printf(t, "netns_name=\"");
		pw_metrics_label_value(t, name);
		pw_text_printf(t, "\",");
	}
}

static void labels(struct pw_text *t, const struct pw_live_row *r, const struct pw_metrics_opts *o)
{
	if (o->netns_label)
		netns_labels(t, r->key.netns);
	if (r->key.pad)
		pw_text_printf(t, "port=\"other\",");
	else if (r->key.port)
		pw_text_printf(t, "port=\"%u\",", r->key.port);
	else
		pw_text_printf(t, "port=\"none\","); /* no socket of its own */
	pw_text_printf(t, "direction=\"%s\"", pw_dir_name(r->key.dir));
}

static void lower(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i];
	dst[i] = '\0';
}

static void write_connections(struct pw_text *t, const struct pw_live *f,
			      const struct pw_metrics_opts *o)
{
	const char *name = "portwatch_tcp_connections";
	unsigned int s;
	size_t i;

	pw_metrics_family(t, name, "gauge",
			  "TCP sockets per service port, direction and state, as ss counts them.");
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];

		for (s = PW_TCP_ESTABLISHED; s <= PW_TCP_CLOSING; s++) {
			char state[16];

			/* Listeners are rows of their own; CLOSE is a socket's
			 * last instant, never held: ss does not list it. */
			if ((r->key.dir == PW_DIR_LISTEN) != (s == PW_TCP_LISTEN) ||
			    s == PW_TCP_CLOSE)
				continue;
			lower(state, pw_state_name(s), sizeof(state));
			pw_text_printf(t, "%s{", name);
			labels(t, r, o);
			pw_text_printf(t, ",state=\"%s\"} %lld\n", state, (long long)r->states[s]);
		}
	}
}

static void write_oldest(struct pw_text *t, const struct pw_live *f,
			 const struct pw_metrics_opts *o)
{
	const char *name = "portwatch_close_wait_oldest_age_seconds";
	size_t i;

	pw_metrics_family(t, name, "gauge",
			  "Time the oldest socket now in CLOSE_WAIT has been there; 0 if none.");
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];
		double age = 0;

		if (r->key.dir == PW_DIR_LISTEN)
			continue;
		if (r->cw_oldest_since_ns && f->ts_ns > r->cw_oldest_since_ns)
			age = pw_seconds(f->ts_ns - r->cw_oldest_since_ns);
		pw_text_printf(t, "%s{", name);
		labels(t, r, o);
		pw_text_printf(t, "} %.9f\n", age);
	}
}

static void write_hist(struct pw_text *t, const char *name, const struct pw_live_row *r,
		       const __u64 *bucket, __u64 count, __u64 sum_ns,
		       const struct pw_metrics_opts *o)
{
	__u64 below = 0;
	__u32 k = 0;
	size_t i;

	for (i = 0; i < o->bounds->n; i++) {
		char le[32];

		for (; k <= o->bounds->bucket[i]; k++)
			below += bucket[k];
		pw_bounds_le(le, sizeof(le), o->bounds->bucket[i]);
		pw_text_printf(t, "%s_bucket{", name);
		labels(t, r, o);
		pw_text_printf(t, ",le=\"%s\"} %llu\n", le, (unsigned long long)below);
	}
	pw_text_printf(t, "%s_bucket{", name);
	labels(t, r, o);
	pw_text_printf(t, ",le=\"+Inf\"} %llu\n%s_sum{", (unsigned long long)count, name);
	labels(t, r, o);
	pw_text_printf(t, "} %.9f\n%s_count{", pw_seconds(sum_ns), name);
	labels(t, r, o);
	pw_text_printf(t, "} %llu\n", (unsigned long long)count);
}

#define DIR(d) (1u << (d))

/* A histogram family of one kind of the rows' histograms, for rows whose
 * direction is in dirs (DIR() bits). */
static void write_lat_family(struct pw_text *t, const struct pw_live *f,
			     const struct pw_metrics_opts *o, const char *name, const char *help,
			     enum pw_hist_kind kind, unsigned int dirs)
{
	const struct pw_lat *l;
	size_t i;

	pw_metrics_family(t, name, "histogram", help);
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];

		if (!(dirs & DIR(r->key.dir)))
			continue;
		l = pw_row_hist(r, kind);
		write_hist(t, name, r, l->bucket, l->count, l->sum_ns, o);
	}
}

static void write_hists(struct pw_text *t, const struct pw_live *f, const struct pw_metrics_opts *o)
{
	const char *cw = "portwatch_close_wait_duration_seconds";
	size_t i;

	pw_metrics_family(t, cw, "histogram",
			  "Time sockets spent in CLOSE_WAIT, observed when they left it.");
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];

		const struct pw_lat *h = pw_row_hist(r, PW_H_CW);

		if (r->key.dir != PW_DIR_LISTEN)
			write_hist(t, cw, r, h->bucket, h->count, h->sum_ns, o);
	}
	if (o->latency)
		write_lat_family(t, f, o, "portwatch_request_duration_seconds",
				 "Request duration: inbound, request arrival to response start; "
				 "outbound, request sent to first response byte.",
				 PW_H_LAT, DIR(PW_DIR_INBOUND) | DIR(PW_DIR_OUTBOUND));
	if (o->latency)
		write_lat_family(t, f, o, "portwatch_response_duration_seconds",
				 "Response duration: request start to the answer's last byte "
				 "(before the next request or the close).",
				 PW_H_RESP, DIR(PW_DIR_INBOUND) | DIR(PW_DIR_OUTBOUND));
	write_lat_family(t, f, o, "portwatch_connect_duration_seconds",
			 "Outbound connect duration, SYN sent to established.", PW_H_CONNECT,
			 DIR(PW_DIR_OUTBOUND));
	if (o->accept_wait)
		write_lat_family(t, f, o, "portwatch_accept_wait_seconds",
				 "Inbound accept-queue wait, handshake complete to accept().",
				 PW_H_ACCEPT, DIR(PW_DIR_INBOUND));
}

static void write_counter(struct pw_text *t, const struct pw_live *f,
			  const struct pw_metrics_opts *o, const char *name, const char *help,
			  enum pw_counter c)
{
	size_t i;

	pw_metrics_family(t, name, "counter", help);
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];

		if (r->key.dir == PW_DIR_LISTEN)
			continue;
		pw_text_printf(t, "%s{", name);
		labels(t, r, o);
		pw_text_printf(t, "} %llu\n", (unsigned long long)r->counter[c]);
	}
}

static void write_failures(struct pw_text *t, const struct pw_live *f,
			   const struct pw_metrics_opts *o)
{
	static const struct {
		const char *reason;
		enum pw_counter c;
	} reasons[] = {
		{ "refused", PW_C_CONNECT_REFUSED },
		{ "timeout", PW_C_CONNECT_TIMEOUT },
		{ "other", PW_C_CONNECT_ERROR },
	};
	const char *name = "portwatch_connect_failures_total";
	size_t i, j;

	pw_metrics_family(t, name, "counter", "Outbound connects that failed, by reason.");
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];

		if (r->key.dir != PW_DIR_OUTBOUND)
			continue;
		for (j = 0; j < sizeof(reasons) / sizeof(reasons[0]); j++) {
			pw_text_printf(t, "%s{", name);
			labels(t, r, o);
			pw_text_printf(t, ",reason=\"%s\"} %llu\n", reasons[j].reason,
				       (unsigned long long)r->counter[reasons[j].c]);
		}
	}
}

/* How a listen-row field is stored: gauges per CPU can sum below zero for
 * a moment, so signed ones are shown from 0. */
enum field_kind { F_U32, F_U64, F_S64 };

/* One family over the listen rows, labelled by port only. */
static void write_listen(struct pw_text *t, const struct pw_live *f,
			 const struct pw_metrics_opts *o, const char *name, const char *type,
			 const char *help, size_t field, enum field_kind kind)
{
	unsigned long long val;
	size_t i;

	pw_metrics_family(t, name, type, help);
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];
		const char *v = (const char *)r + field;

		if (r->key.dir != PW_DIR_LISTEN)
			continue;
		pw_text_printf(t, "%s{", name);
		if (o->netns_label)
			netns_labels(t, r->key.netns);
		if (r->key.pad)
			pw_text_printf(t, "port=\"other\"");
		else
			pw_text_printf(t, "port=\"%u\"", r->key.port);
		if (kind == F_U32)
			val = *(const __u32 *)v;
		else if (kind == F_U64)
			val = *(const __u64 *)v;
		else
			val = *(const __s64 *)v > 0 ? (unsigned long long)*(const __s64 *)v : 0;
		pw_text_printf(t, "} %llu\n", val);
	}
}

void pw_metrics_write_ports(struct pw_text *t, const struct pw_live *l, struct pw_portcap *cap,
			    const struct pw_metrics_opts *o)
{
	struct pw_live f = {};

	if (portcap_update(cap, l) || fold(l, cap, o->netns_label, &f)) {
		t->err = -ENOMEM;
		pw_live_free(&f);
		return;
	}
	write_connections(t, &f, o);
	write_oldest(t, &f, o);
	write_hists(t, &f, o);
	write_counter(t, &f, o, "portwatch_connections_opened_total",
		      "Connections that reached ESTABLISHED.", PW_C_OPENED);
	write_counter(t, &f, o, "portwatch_connections_closed_total",
		      "Established connections that reached CLOSE.", PW_C_CLOSED);
	write_counter(t, &f, o, "portwatch_resets_sent_total", "RST segments sent.",
		      PW_C_RESETS_SENT);
	write_counter(t, &f, o, "portwatch_resets_received_total", "RST segments received.",
		      PW_C_RESETS_RECEIVED);
	write_failures(t, &f, o);
	if (o->latency)
		write_counter(t, &f, o, "portwatch_requests_unanswered_total",
			      "Requests whose connection closed or reset before any answer.",
			      PW_C_UNANSWERED);
	write_counter(t, &f, o, "portwatch_retransmits_total", "TCP segments retransmitted.",
		      PW_C_RETRANSMITS);
	/* 0 when a backend stops listening: its row stays while the port is
	 * named in the file, or until forget_after. */
	write_listen(t, &f, o, "portwatch_listening", "gauge",
		     "Listening sockets on the port (0: nothing accepts connections).",
		     offsetof(struct pw_live_row, states[PW_TCP_LISTEN]), F_S64);
	write_listen(t, &f, o, "portwatch_accept_queue", "gauge",
		     "Connections waiting for accept() on the port's fullest listener.",
		     offsetof(struct pw_live_row, acceptq), F_U32);
	write_listen(t, &f, o, "portwatch_accept_queue_max", "gauge",
		     "The accept-queue limit (listen backlog) of that listener.",
		     offsetof(struct pw_live_row, acceptq_max), F_U32);
	write_listen(t, &f, o, "portwatch_listen_drops_total", "counter",
		     "Segments the port's listeners dropped (full accept queue: SYNs and "
		     "handshake ends).",
		     offsetof(struct pw_live_row, listen_drops), F_U64);
	pw_live_free(&f);
}
