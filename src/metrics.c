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
#include "format.h"
#include "metrics.h"

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

/* The port's label: itself, 0 for "other", or -1 to leave it out. Port 0
 * (traffic with no socket of its own) is always itself. */
static int portcap_label(struct pw_portcap *c, __u16 port)
{
	__u64 bit = 1ULL << (port % 64);

	if (!port || (c->own[port / 64] & bit))
		return port;
	if (c->allowlist)
		return -1;
	if (c->n >= c->max)
		return 0;
	c->own[port / 64] |= bit;
	c->n++;
	return port;
}

int pw_bounds_init(struct pw_bounds *b, const double *seconds, size_t n)
{
	size_t i;

	b->n = 0;
	for (i = 0; i < n; i++) {
		double ns = seconds[i] * 1e9;
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

	snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(ns % 1000000000ULL));
	for (i = 8; i > 0 && frac[i] == '0'; i--)
		frac[i] = '\0';
	if (frac[0] == '0' && frac[1] == '\0')
		snprintf(buf, len, "%llu", (unsigned long long)(ns / 1000000000ULL));
	else
		snprintf(buf, len, "%llu.%s", (unsigned long long)(ns / 1000000000ULL), frac);
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

static void merge_row(struct pw_live_row *to, const struct pw_live_row *from)
{
	int i;

	for (i = 0; i < PW_STATE_SLOTS; i++)
		to->states[i] += from->states[i];
	for (i = 0; i < PW_C_MAX; i++)
		to->counter[i] += from->counter[i];
	to->cw_hist.count += from->cw_hist.count;
	to->cw_hist.sum_ns += from->cw_hist.sum_ns;
	for (i = 0; i < PW_HIST_BUCKETS; i++)
		to->cw_hist.bucket[i] += from->cw_hist.bucket[i];
	pw_lat_add(&to->lat, &from->lat);
	pw_lat_add(&to->connect, &from->connect);
	pw_lat_add(&to->accept, &from->accept);
	/* Folded rows of one port: the fullest listener stays the figure. */
	if ((__u64)from->acceptq * (to->acceptq_max ? to->acceptq_max : 1) >=
	    (__u64)to->acceptq * (from->acceptq_max ? from->acceptq_max : 1)) {
		to->acceptq = from->acceptq;
		to->acceptq_max = from->acceptq_max;
	}
	to->listen_drops += from->listen_drops;
	if (from->cw_oldest_since_ns &&
	    (!to->cw_oldest_since_ns || from->cw_oldest_since_ns < to->cw_oldest_since_ns))
		to->cw_oldest_since_ns = from->cw_oldest_since_ns;
}

/* Rows relabelled by the port cap and merged: one per exported series. */
static int fold(const struct pw_live *l, struct pw_portcap *cap, bool netns, struct pw_live *out)
{
	size_t i;

	out->ts_ns = l->ts_ns;
	for (i = 0; i < l->n; i++) {
		struct pw_key k = l->rows[i].key;
		struct pw_live_row *r;
		int port = portcap_label(cap, k.port);

		if (port < 0)
			continue;
		k.port = port;
		k.pad = k.port != l->rows[i].key.port; /* under "other" */
		if (!netns)
			k.netns = 0;
		r = pw_live_row(out, &k);
		if (!r)
			return -ENOMEM;
		merge_row(r, &l->rows[i]);
	}
	pw_live_sort(out);
	return 0;
}

static void labels(struct pw_text *t, const struct pw_live_row *r, const struct pw_metrics_opts *o)
{
	if (o->netns_label)
		pw_text_printf(t, "netns=\"%u\",", r->key.netns);
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
			age = (f->ts_ns - r->cw_oldest_since_ns) / 1e9;
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
	pw_text_printf(t, "} %.9f\n%s_count{", sum_ns / 1e9, name);
	labels(t, r, o);
	pw_text_printf(t, "} %llu\n", (unsigned long long)count);
}

#define DIR(d) (1u << (d))

/* A histogram family of one struct pw_lat member of the rows (at offset
 * field), for rows whose direction is in dirs (DIR() bits). */
static void write_lat_family(struct pw_text *t, const struct pw_live *f,
			     const struct pw_metrics_opts *o, const char *name, const char *help,
			     size_t field, unsigned int dirs)
{
	const struct pw_lat *l;
	size_t i;

	pw_metrics_family(t, name, "histogram", help);
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];

		if (!(dirs & DIR(r->key.dir)))
			continue;
		l = (const struct pw_lat *)((const char *)r + field);
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

		if (r->key.dir != PW_DIR_LISTEN)
			write_hist(t, cw, r, r->cw_hist.bucket, r->cw_hist.count, r->cw_hist.sum_ns,
				   o);
	}
	if (o->latency)
		write_lat_family(t, f, o, "portwatch_request_duration_seconds",
				 "Request duration: inbound, request arrival to response start; "
				 "outbound, request sent to first response byte.",
				 offsetof(struct pw_live_row, lat),
				 DIR(PW_DIR_INBOUND) | DIR(PW_DIR_OUTBOUND));
	write_lat_family(t, f, o, "portwatch_connect_duration_seconds",
			 "Outbound connect duration, SYN sent to established.",
			 offsetof(struct pw_live_row, connect), DIR(PW_DIR_OUTBOUND));
	if (o->accept_wait)
		write_lat_family(t, f, o, "portwatch_accept_wait_seconds",
				 "Inbound accept-queue wait, handshake complete to accept().",
				 offsetof(struct pw_live_row, accept), DIR(PW_DIR_INBOUND));
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

/* One family over the listen rows, labelled by port only. */
static void write_listen(struct pw_text *t, const struct pw_live *f,
			 const struct pw_metrics_opts *o, const char *name, const char *type,
			 const char *help, size_t field, bool u64)
{
	size_t i;

	pw_metrics_family(t, name, type, help);
	for (i = 0; i < f->n; i++) {
		const struct pw_live_row *r = &f->rows[i];
		const char *v = (const char *)r + field;

		if (r->key.dir != PW_DIR_LISTEN)
			continue;
		pw_text_printf(t, "%s{", name);
		if (o->netns_label)
			pw_text_printf(t, "netns=\"%u\",", r->key.netns);
		if (r->key.pad)
			pw_text_printf(t, "port=\"other\"");
		else
			pw_text_printf(t, "port=\"%u\"", r->key.port);
		pw_text_printf(t, "} %llu\n",
			       u64 ? (unsigned long long)*(const __u64 *)v
				   : (unsigned long long)*(const __u32 *)v);
	}
}

void pw_metrics_write_ports(struct pw_text *t, const struct pw_live *l, struct pw_portcap *cap,
			    const struct pw_metrics_opts *o)
{
	struct pw_live f = {};

	if (fold(l, cap, o->netns_label, &f)) {
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
	write_listen(t, &f, o, "portwatch_accept_queue", "gauge",
		     "Connections waiting for accept() on the port's fullest listener.",
		     offsetof(struct pw_live_row, acceptq), false);
	write_listen(t, &f, o, "portwatch_accept_queue_max", "gauge",
		     "The accept-queue limit (listen backlog) of that listener.",
		     offsetof(struct pw_live_row, acceptq_max), false);
	write_listen(t, &f, o, "portwatch_listen_drops_total", "counter",
		     "Segments the port's listeners dropped (full accept queue: SYNs and "
		     "handshake ends).",
		     offsetof(struct pw_live_row, listen_drops), true);
	pw_live_free(&f);
}
