// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Live row table: merging per-CPU stats, minisocket counts and CLOSE_WAIT
 * sockets into one row per (netns, port, direction). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "model/live.h"

static const struct pw_lat no_hist;

const struct pw_lat *pw_row_hist(const struct pw_live_row *r, enum pw_hist_kind k)
{
	return r->hist[k] ? r->hist[k] : &no_hist;
}

struct pw_lat *pw_live_hist(struct pw_live *l, struct pw_live_row *r, enum pw_hist_kind k)
{
	if (r->hist[k])
		return r->hist[k];
	if (l->n_spare) {
		r->hist[k] = l->spare[--l->n_spare];
		memset(r->hist[k], 0, sizeof(*r->hist[k]));
	} else {
		r->hist[k] = calloc(1, sizeof(*r->hist[k]));
	}
	return r->hist[k];
}

/* A reset row's histogram goes to the spares (freed if they cannot grow). */
static void keep_spare(struct pw_live *l, struct pw_lat *h)
{
	struct pw_lat **more;
	size_t cap;

	if (l->n_spare == l->cap_spare) {
		cap = l->cap_spare ? 2 * l->cap_spare : 16;
		more = realloc(l->spare, cap * sizeof(*more));
		if (!more) {
			free(h);
			return;
		}
		l->spare = more;
		l->cap_spare = cap;
	}
	l->spare[l->n_spare++] = h;
}

static bool key_eq(const struct pw_key *a, const struct pw_key *b)
{
	return a->netns == b->netns && a->port == b->port && a->dir == b->dir && a->pad == b->pad;
}

static size_t key_hash(const struct pw_key *k)
{
	__u64 v = (__u64)k->netns << 32 | (__u64)k->port << 16 | (__u64)k->dir << 8 | k->pad;

	v *= 0x9e3779b97f4a7c15ULL; /* Fibonacci hashing */
	return (size_t)(v >> 32);
}

/* The slot of key: its row's, or the free one where it would go. */
static size_t slot_of(const struct pw_live *l, const struct pw_key *key)
{
	size_t mask = l->index_cap - 1, i = key_hash(key) & mask;

	while (l->index[i] && !key_eq(&l->rows[l->index[i] - 1].key, key))
		i = (i + 1) & mask;
	return i;
}

/* (Re)builds the index for at least want rows. -ENOMEM leaves none. */
static int reindex(struct pw_live *l, size_t want)
{
	size_t cap = l->index_cap > 2 * want ? l->index_cap : 64, i;

	while (cap <= 2 * want)
		cap *= 2;
	if (cap != l->index_cap) {
		free(l->index);
		l->index = malloc(cap * sizeof(*l->index));
		l->index_cap = l->index ? cap : 0;
		if (!l->index)
			return -ENOMEM;
	}
	memset(l->index, 0, cap * sizeof(*l->index));
	l->index_stale = false;
	for (i = 0; i < l->n; i++)
		l->index[slot_of(l, &l->rows[i].key)] = (__u32)i + 1;
	l->indexed = l->n;
	return 0;
}

const struct pw_live_row *pw_live_find(const struct pw_live *l, const struct pw_key *key)
{
	/* The index is a cache: a const table may still build it. */
	struct pw_live *m = (struct pw_live *)l;
	size_t i;

	if ((!l->index_cap || l->index_stale || l->indexed != l->n || l->index_cap <= 2 * l->n) &&
	    reindex(m, l->n)) {
		for (i = 0; i < l->n; i++)
			if (key_eq(&l->rows[i].key, key))
				return &l->rows[i];
		return NULL;
	}
	i = slot_of(l, key);
	return l->index[i] ? &l->rows[l->index[i] - 1] : NULL;
}

struct pw_live_row *pw_live_row(struct pw_live *l, const struct pw_key *key)
{
	struct pw_live_row *r = (struct pw_live_row *)pw_live_find(l, key);

	if (r)
		return r;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct pw_live_row *tmp = realloc(l->rows, cap * sizeof(*tmp));

		if (!tmp)
			return NULL;
		l->rows = tmp;
		l->cap = cap;
	}
	r = &l->rows[l->n++];
	memset(r, 0, sizeof(*r));
	r->key = *key; /* pad: 1 marks the metrics' "other" row (see fold()) */
	if (l->index_cap > 2 * l->n && !l->index_stale && l->indexed == l->n - 1) {
		l->index[slot_of(l, key)] = (__u32)l->n;
		l->indexed = l->n;
	} else {
		l->index_stale = true;
	}
	return r;
}

int pw_live_add_stats(struct pw_live *l, const struct pw_key *key, const struct pw_stats *s)
{
	struct pw_live_row *r = pw_live_row(l, key);
	int i;

	if (!r)
		return -ENOMEM;
	for (i = 0; i < PW_STATE_SLOTS; i++)
		r->states[i] += s->gauge[i];
	for (i = 0; i < PW_C_MAX; i++)
		r->counter[i] += s->counter[i];
	return 0;
}

/* Fullest: the higher depth/max; between equals the deeper, then the one
 * with the smaller backlog (nearer to dropping), so the choice does not
 * depend on the order listeners are seen in. */
void pw_live_add_listener(struct pw_live_row *r, __u32 depth, __u32 max)
{
	__u64 mine = (__u64)depth * r->acceptq_max, theirs = (__u64)r->acceptq * max;

	if (!r->acceptq_max || mine > theirs ||
	    (mine == theirs &&
	     (depth > r->acceptq || (depth == r->acceptq && max < r->acceptq_max)))) {
		r->acceptq = depth;
		r->acceptq_max = max;
	}
}

int pw_live_add_cw(struct pw_live *l, const struct pw_cw_sock *c)
{
	struct pw_live_row *r = pw_live_row(l, &c->key);

	if (!r)
		return -ENOMEM;
	/* Oldest wins; between equals, one with a known owner. */
	if (!r->cw_oldest_since_ns || c->since_ns < r->cw_oldest_since_ns ||
	    (c->since_ns == r->cw_oldest_since_ns && !r->cw_oldest_pid)) {
		r->cw_oldest_since_ns = c->since_ns ? c->since_ns : 1;
		r->cw_oldest_pid = c->pid;
		memcpy(r->cw_oldest_comm, c->comm, sizeof(r->cw_oldest_comm));
		r->cw_oldest_comm[PW_COMM_LEN - 1] = '\0';
	}
	return 0;
}

/* A row's place in the order: netns, port, direction. */
static __u64 rank(const struct pw_key *k)
{
	return (__u64)k->netns << 32 | (__u64)k->port << 16 | (__u64)k->dir << 8 | k->pad;
}

static int cmp_row(const void *a, const void *b)
{
	__u64 x = rank(&((const struct pw_live_row *)a)->key);
	__u64 y = rank(&((const struct pw_live_row *)b)->key);

	return x < y ? -1 : x > y;
}

struct order {
	__u64 rank;
	size_t at;
};

static int cmp_order(const void *a, const void *b)
{
	__u64 x = ((const struct order *)a)->rank, y = ((const struct order *)b)->rank;

	return x < y ? -1 : x > y;
}

/* Rows are kilobytes each (their histograms): sorted by a small index, then
 * each moved once into place, following the permutation's cycles (qsort
 * moved each row log n times). */
void pw_live_sort(struct pw_live *l)
{
	struct pw_live_row tmp;
	struct order *o;
	size_t i, j, k;

	l->index_stale = true;
	if (l->n < 2)
		return;
	o = malloc(l->n * sizeof(*o));
	if (!o) {
		qsort(l->rows, l->n, sizeof(*l->rows), cmp_row);
		return;
	}
	for (i = 0; i < l->n; i++)
		o[i] = (struct order){ rank(&l->rows[i].key), i };
	qsort(o, l->n, sizeof(*o), cmp_order);
	/* Position i takes row o[i].at; a cycle is walked once, marked done
	 * by at == its own position. */
	for (i = 0; i < l->n; i++) {
		if (o[i].at == i)
			continue;
		tmp = l->rows[i];
		for (j = i; o[j].at != i; j = k) {
			k = o[j].at;
			l->rows[j] = l->rows[k];
			o[j].at = j;
		}
		l->rows[j] = tmp;
		o[j].at = j;
	}
	free(o);
}

int pw_live_copy(struct pw_live *to, const struct pw_live *from)
{
	struct pw_live_row *rows;
	size_t i;
	int k;

	pw_live_reset(to);
	if (to->cap < from->n) {
		rows = realloc(to->rows, from->n * sizeof(*rows));
		if (!rows)
			return -ENOMEM;
		to->rows = rows;
		to->cap = from->n;
	}
	if (from->n)
		memcpy(to->rows, from->rows, from->n * sizeof(*to->rows));
	/* The rows, then each its own copy of the histograms it has. */
	for (i = 0; i < from->n; i++)
		memset(to->rows[i].hist, 0, sizeof(to->rows[i].hist));
	to->n = from->n;
	to->ts_ns = from->ts_ns;
	for (i = 0; i < from->n; i++) {
		for (k = 0; k < PW_H_MAX; k++) {
			if (!from->rows[i].hist[k])
				continue;
			if (!pw_live_hist(to, &to->rows[i], k))
				return -ENOMEM;
			*to->rows[i].hist[k] = *from->rows[i].hist[k];
		}
	}
	return 0;
}

void pw_live_reset(struct pw_live *l)
{
	size_t i;
	int k;

	for (i = 0; i < l->n; i++)
		for (k = 0; k < PW_H_MAX; k++)
			if (l->rows[i].hist[k])
				keep_spare(l, l->rows[i].hist[k]);
	l->n = 0;
	l->ts_ns = 0;
	l->index_stale = true;
}

void pw_live_free(struct pw_live *l)
{
	size_t i;
	int k;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		for (k = 0; k < PW_H_MAX; k++)
			free(l->rows[i].hist[k]);
	for (i = 0; i < l->n_spare; i++)
		free(l->spare[i]);
	free(l->spare);
	free(l->rows);
	free(l->index);
	memset(l, 0, sizeof(*l));
}

__u64 pw_live_delta(const struct pw_live *prev, const struct pw_live_row *row, enum pw_counter c)
{
	const struct pw_live_row *p = prev ? pw_live_find(prev, &row->key) : NULL;
	__u64 before = p ? p->counter[c] : 0;

	return row->counter[c] >= before ? row->counter[c] - before : 0;
}

__u64 pw_live_connect_failures(const __u64 *counter)
{
	return counter[PW_C_CONNECT_REFUSED] + counter[PW_C_CONNECT_TIMEOUT] +
	       counter[PW_C_CONNECT_ERROR];
}

void pw_lat_add(struct pw_lat *total, const struct pw_lat *one)
{
	__u32 b;

	total->count += one->count;
	total->sum_ns += one->sum_ns;
	if (one->max_ns > total->max_ns)
		total->max_ns = one->max_ns;
	for (b = 0; b < PW_HIST_BUCKETS; b++)
		total->bucket[b] += one->bucket[b];
}

void pw_lat_sub(struct pw_lat *out, const struct pw_lat *later, const struct pw_lat *earlier)
{
	__u32 b;

	out->count = later->count - earlier->count;
	out->sum_ns = later->sum_ns - earlier->sum_ns;
	out->max_ns = later->max_ns;
	for (b = 0; b < PW_HIST_BUCKETS; b++)
		out->bucket[b] = later->bucket[b] - earlier->bucket[b];
}

double pw_lat_quantile_ns(const struct pw_lat *l, double q)
{
	double rank, lower, upper, v;
	__u64 seen = 0;
	__u32 b;

	if (!l->count)
		return 0;
	rank = q * (double)l->count;
	for (b = 0; b < PW_HIST_BUCKETS; b++) {
		if (!l->bucket[b] || (double)(seen + l->bucket[b]) < rank) {
			seen += l->bucket[b];
			continue;
		}
		if (b == PW_HIST_BUCKETS - 1)
			return (double)l->max_ns;
		lower = b ? (double)(pw_hist_upper_ns(b - 1) + 1) : 0;
		upper = (double)pw_hist_upper_ns(b);
		v = lower + (upper - lower) * (rank - (double)seen) / (double)l->bucket[b];
		return l->max_ns && v > (double)l->max_ns ? (double)l->max_ns : v;
	}
	return (double)l->max_ns;
}

__u64 pw_live_counters_sum(const __u64 *counter)
{
	__u64 sum = 0;
	int i;

	for (i = 0; i < PW_C_MAX; i++)
		sum += counter[i];
	return sum;
}

__u64 pw_live_row_total(const struct pw_live_row *r)
{
	__u64 sum = pw_live_counters_sum(r->counter) + r->listen_drops;
	int k;

	for (k = 0; k < PW_H_MAX; k++)
		sum += pw_row_hist(r, k)->count;
	return sum;
}
