// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The tracker's maps into live rows: per-port stats and histograms in
 * batches, the counting pass's minisockets and listeners, CLOSE_WAIT
 * sockets and their owners; the sync pass when the hooks missed changes,
 * and the pruning of rows nothing uses any more. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "common/clock.h"
#include "common/log.h"
#include "core/snapshot.h"
#include "core/track_int.h"

typedef int (*map_entry_fn)(struct pw_tracker *t, const void *key, const void *val, void *ctx);

/* The biggest value map_each() reads: a per-CPU histogram. */
static size_t max_value(const struct pw_tracker *t)
{
	size_t v = (size_t)t->ncpus * sizeof(struct pw_lat);

	return v > sizeof(struct pw_cw_sock) ? v : sizeof(struct pw_cw_sock);
}

/* Every entry of a hash map: fn gets each key and value (per-CPU maps: every
 * CPU's, one after the other). In batches of many entries per system call
 * where the kernel can (5.6+; a daemon reads thousands of rows every
 * second), else one key at a time. Entries deleted meanwhile are skipped. */
static int map_each(struct pw_tracker *t, struct bpf_map *map, map_entry_fn fn, void *ctx)
{
	int fd = bpf_map__fd(map), err = 0;
	size_t ksz = bpf_map__key_size(map), vsz = bpf_map__value_size(map);
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 token[8], next[8], key[8], *prev = NULL;
	bool first = true, percpu;
	__u32 n, i;

	percpu = bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH;
	if (percpu)
		vsz = (size_t)t->ncpus * ((vsz + 7) & ~(size_t)7);
	if (ksz > sizeof(key) || vsz > max_value(t)) {
		pw_err("read map %s: entries larger than expected", bpf_map__name(map));
		return -EINVAL;
	}
	if (!t->batch_keys && !t->no_batch) {
		t->batch_n = 256;
		t->batch_keys = malloc(t->batch_n * sizeof(key));
		t->batch_vals = malloc(t->batch_n * max_value(t));
		if (!t->batch_keys || !t->batch_vals)
			t->no_batch = true;
	}
	while (!t->no_batch) {
		n = t->batch_n;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, t->batch_keys,
					   t->batch_vals, &n, &opts);
		if (err && errno == ENOSPC && t->batch_n < 65536) {
			/* One hash bucket holds more than a batch: bigger. */
			void *k = realloc(t->batch_keys, 2 * t->batch_n * sizeof(key));
			void *v = k ? realloc(t->batch_vals, 2 * t->batch_n * max_value(t)) : NULL;

			if (k)
				t->batch_keys = k;
			if (!v)
				return -ENOMEM;
			t->batch_vals = v;
			t->batch_n *= 2;
			continue;
		}
		if (err && errno != ENOENT) {
			if (first && (errno == EINVAL || errno == 524 /* ENOTSUPP */ ||
				      errno == EOPNOTSUPP || errno == EPERM)) {
				t->no_batch = true; /* before 5.6: one at a time */
				break;
			}
			err = -errno;
			pw_err("read map %s: %s", bpf_map__name(map), strerror(-err));
			return err;
		}
		first = false;
		for (i = 0; i < n; i++) {
			int e = fn(t, (char *)t->batch_keys + i * ksz,
				   (char *)t->batch_vals + i * vsz, ctx);

			if (e)
				return e;
		}
		if (err) /* ENOENT: that was the last batch */
			return 0;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, ksz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, t->batch_vals ? t->batch_vals : t->percpu))
			continue; /* deleted meanwhile */
		err = fn(t, key, t->batch_vals ? t->batch_vals : t->percpu, ctx);
		if (err)
			return err;
	}
	return 0;
}

static int add_stats(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	const struct pw_stats *s = val;
	int c, err;

	for (c = 0; c < t->ncpus; c++) {
		err = pw_live_add_stats(ctx, key, &s[c]);
		if (err)
			return err;
	}
	return 0;
}

int track_read_stats(struct pw_tracker *t, struct pw_live *l)
{
	return map_each(t, t->skel->maps.stats, add_stats, l);
}

/* Deletes these keys, in one call where the kernel can (5.6+). */
static void delete_keys(struct pw_tracker *t, struct bpf_map *map, const void *keys, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t ksz = bpf_map__key_size(map);
	__u32 i, count = n;

	if (!n || (!t->no_batch && !bpf_map_delete_batch(bpf_map__fd(map), keys, &count, &opts)))
		return;
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(bpf_map__fd(map), (const char *)keys + i * ksz);
}

/* Keys read from a map by a pass, to delete after it. */
struct key_list {
	void *keys;
	__u32 n, cap;
	size_t size;
};

static int key_list_add(struct key_list *k, const void *key)
{
	void *more;

	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 256;
		more = realloc(k->keys, k->cap * k->size);
		if (!more)
			return -ENOMEM;
		k->keys = more;
	}
	memcpy((char *)k->keys + k->n++ * k->size, key, k->size);
	return 0;
}

/* What the counting pass found: entries of this pass into rows, the
 * others (found by no pass since) to delete. */
struct mini_ctx {
	struct pw_live *l;
	__u32 pass;
	struct key_list stale;
};

static int add_mini(struct pw_tracker *t, const void *k, const void *val, void *ctx)
{
	const struct pw_mini_key *key = k;
	struct mini_ctx *x = ctx;
	struct pw_live_row *row;
	struct pw_mini_val v;

	(void)t;
	memcpy(&v, val, sizeof(v));
	if (v.pass != x->pass)
		return key_list_add(&x->stale, key);
	if (key->state < PW_STATE_SLOTS) {
		row = pw_live_row(x->l, &key->key);
		if (!row)
			return -ENOMEM;
		row->states[key->state] += (__s64)v.count;
	}
	return 0;
}

/* A listener: the fullest queue into its row now, its drops kept for
 * read_listeners(). */
static int add_listener(struct pw_tracker *t, const void *k, const void *val, void *ctx)
{
	struct mini_ctx *x = ctx;
	struct pw_live_row *row;
	struct pw_listener v;
	struct pw_lsn *more;
	__u64 id;

	memcpy(&v, val, sizeof(v));
	memcpy(&id, k, sizeof(id));
	if (v.pass != x->pass)
		return key_list_add(&x->stale, k);
	row = pw_live_row(x->l, &v.key);
	if (!row)
		return -ENOMEM;
	pw_live_add_listener(row, v.backlog, v.max_backlog);
	if (t->n_lsn_now == t->cap_lsn_now) {
		t->cap_lsn_now = t->cap_lsn_now ? 2 * t->cap_lsn_now : 64;
		more = realloc(t->lsn_now, t->cap_lsn_now * sizeof(*more));
		if (!more)
			return -ENOMEM;
		t->lsn_now = more;
	}
	t->lsn_now[t->n_lsn_now++] = (struct pw_lsn){ id, v.key, v.drops };
	return 0;
}

/* The counting pass in one namespace, classifying by its listening ports. */
static int mini_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	size_t n;
	int err;

	err = track_listening_from_rows(t, arg, netns);
	if (!err)
		err = pw_run_iter(t->skel->progs.count_mini, 0, NULL, &n);
	return err;
}

/* Minisockets and listeners: one counting pass (in every namespace
 * tracked), its entries added to the rows, and only the entries no pass
 * finds any more deleted. */
static int read_mini(struct pw_tracker *t, struct pw_live *l)
{
	struct mini_ctx x = { .l = l, .stale = { .size = sizeof(struct pw_mini_key) } };
	int err;

	x.pass = ++t->skel->bss->pw_pass;
	err = track_for_each_netns(t, mini_netns, l);
	if (!err)
		err = map_each(t, t->skel->maps.mini, add_mini, &x);
	delete_keys(t, t->skel->maps.mini, x.stale.keys, x.stale.n);
	free(x.stale.keys);
	x.stale = (struct key_list){ .size = sizeof(__u64) };
	if (!err)
		err = map_each(t, t->skel->maps.listeners, add_listener, &x);
	delete_keys(t, t->skel->maps.listeners, x.stale.keys, x.stale.n);
	free(x.stale.keys);
	return err;
}

static int cmp_lsn(const void *a, const void *b)
{
	__u64 x = ((const struct pw_lsn *)a)->id, y = ((const struct pw_lsn *)b)->id;

	return x < y ? -1 : x > y;
}

/* Adds drops of a listener gone to its row's total. */
static int drops_gone(struct pw_tracker *t, const struct pw_key *key, __u64 drops)
{
	struct pw_gone_drops *g;
	size_t i;

	if (!drops)
		return 0;
	for (i = 0; i < t->n_gone; i++)
		if (!memcmp(&t->gone[i].key, key, sizeof(*key))) {
			t->gone[i].drops += drops;
			return 0;
		}
	g = realloc(t->gone, (t->n_gone + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	t->gone = g;
	t->gone[t->n_gone++] = (struct pw_gone_drops){ *key, drops };
	return 0;
}

/* The listeners the counting pass found (every namespace's, collected by
 * read_mini()) into their rows: the fullest queue, and drops summed with
 * those of listeners gone since the last read, so the total never goes
 * back when a listener closes (a new socket at the same address starts
 * below where the old one ended). */
static int read_listeners(struct pw_tracker *t, struct pw_live *l, struct pw_lsn *now, size_t n)
{
	struct pw_live_row *row;
	struct pw_lsn *old;
	size_t i;
	int err = 0;

	if (n) /* now is NULL without listeners: no qsort or bsearch on it */
		qsort(now, n, sizeof(*now), cmp_lsn);
	for (i = 0; !err && i < t->n_lsn; i++) {
		old = n ? bsearch(&t->lsn[i], now, n, sizeof(*now), cmp_lsn) : NULL;
		if (!old || old->drops < t->lsn[i].drops ||
		    memcmp(&old->key, &t->lsn[i].key, sizeof(old->key)))
			err = drops_gone(t, &t->lsn[i].key, t->lsn[i].drops);
	}
	for (i = 0; !err && i < n; i++) {
		row = pw_live_row(l, &now[i].key);
		if (row)
			row->listen_drops += now[i].drops;
		else
			err = -ENOMEM;
	}
	for (i = 0; !err && i < t->n_gone; i++) {
		row = pw_live_row(l, &t->gone[i].key);
		if (row)
			row->listen_drops += t->gone[i].drops;
		else
			err = -ENOMEM;
	}
	free(t->lsn);
	t->lsn = now;
	t->n_lsn = n;
	return err;
}

struct lat_ctx {
	struct pw_live *l;
	enum pw_hist_kind kind;
};

static int add_lat(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	const struct lat_ctx *x = ctx;
	const struct pw_lat *v = val;
	struct pw_live_row *row = pw_live_row(x->l, key);
	struct pw_lat *h = row ? pw_live_hist(x->l, row, x->kind) : NULL;
	int c;

	if (!h)
		return -ENOMEM;
	for (c = 0; c < t->ncpus; c++)
		pw_lat_add(h, &v[c]);
	return 0;
}

/* A per-CPU histogram map into each row's histogram of that kind. */
static int read_lat_map(struct pw_tracker *t, struct bpf_map *map, enum pw_hist_kind kind,
			struct pw_live *l)
{
	struct lat_ctx x = { l, kind };

	return map_each(t, map, add_lat, &x);
}

static int add_cw_hist(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	struct pw_live_row *row = pw_live_row(ctx, key);
	struct pw_lat *h = row ? pw_live_hist(ctx, row, PW_H_CW) : NULL;
	struct pw_cw_hist v;

	(void)t;
	if (!h)
		return -ENOMEM;
	memcpy(&v, val, sizeof(v));
	h->count = v.count;
	h->sum_ns = v.sum_ns;
	memcpy(h->bucket, v.bucket, sizeof(h->bucket));
	return 0;
}

static int read_cw_hist(struct pw_tracker *t, struct pw_live *l)
{
	return map_each(t, t->skel->maps.cw_hist, add_cw_hist, l);
}

/* CLOSE_WAIT sockets into their rows; those without an owner into
 * ownerless (their cookies, sorted). */
struct cw_ctx {
	struct pw_live *l;
	struct key_list ownerless;
};

static int add_close_wait(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	struct cw_ctx *x = ctx;
	struct pw_cw_sock c;
	int err;

	(void)t;
	memcpy(&c, val, sizeof(c));
	if (!c.pid && (err = key_list_add(&x->ownerless, key)))
		return err;
	return pw_live_add_cw(x->l, &c);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static int read_close_wait(struct pw_tracker *t, struct pw_live *l, struct cw_ctx *x)
{
	int err;

	free(x->ownerless.keys);
	*x = (struct cw_ctx){ .l = l, .ownerless = { .size = sizeof(__u64) } };
	err = map_each(t, t->skel->maps.close_wait, add_close_wait, x);
	if (x->ownerless.n)
		qsort(x->ownerless.keys, x->ownerless.n, sizeof(__u64), cmp_u64);
	return err;
}

/* Walking every file table for owners is the dearest part of a read: done
 * when a CLOSE_WAIT socket without one is new since the last walk, or the
 * last is OWNER_WALK_NS old. */
static bool owner_walk_due(const struct pw_tracker *t, const struct key_list *ownerless, __u64 now)
{
	const __u64 *k = ownerless->keys;
	__u32 i;

	if (!ownerless->n)
		return false;
	if (now - t->owner_walk_ns >= OWNER_WALK_NS)
		return true;
	for (i = 0; i < ownerless->n; i++)
		if (!t->n_ownerless ||
		    !bsearch(&k[i], t->ownerless, t->n_ownerless, sizeof(__u64), cmp_u64))
			return true;
	return false;
}

/* Owners of CLOSE_WAIT sockets stuck before any task touched them (accepted,
 * never read): whoever has them in a file table. */
static int walk_owners(struct pw_tracker *t, struct pw_live *l, struct cw_ctx *x)
{
	size_t i;
	int err;

	if (!owner_walk_due(t, &x->ownerless, l->ts_ns))
		return 0;
	err = track_seed_owners(t);
	for (i = 0; !err && i < l->n; i++) {
		l->rows[i].cw_oldest_since_ns = 0;
		l->rows[i].cw_oldest_pid = 0;
	}
	if (!err)
		err = read_close_wait(t, l, x);
	if (err)
		return err;
	/* What is left has no holder: remember it, not to walk again for it. */
	free(t->ownerless);
	t->ownerless = x->ownerless.keys;
	t->n_ownerless = x->ownerless.n;
	x->ownerless = (struct key_list){ 0 };
	t->owner_walk_ns = l->ts_ns;
	return 0;
}

/* Runs of the state hook the kernel skipped (it does not nest a tracing
 * program on one CPU): each is a state change the gauges missed. */
static __u64 state_misses(struct pw_tracker *t)
{
	struct bpf_program *progs[] = { t->skel->progs.on_state, t->skel->progs.on_state_raw };
	struct bpf_prog_info info;
	__u64 n = 0;
	__u32 len;
	size_t i;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (bpf_program__fd(progs[i]) < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len))
			n += info.recursion_misses;
	}
	return n;
}

/* Sockets a hook left uncounted: no row could be made (the map full, or
 * its allocator empty for a moment in a burst of new rows) or no
 * per-socket state. The sync pass, in process context, counts them. */
static __u64 uncounted(struct pw_tracker *t)
{
	__u32 reasons[] = { PW_DROP_STATS, PW_DROP_SK_STORAGE };
	int fd = bpf_map__fd(t->skel->maps.drops), c;
	__u64 *v = t->percpu, n = 0;
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (bpf_map_lookup_elem(fd, &reasons[i], v))
			continue;
		for (c = 0; c < t->ncpus; c++)
			n += v[c];
	}
	return n;
}

static __u64 key_bits(const struct pw_key *k)
{
	__u64 v;

	memcpy(&v, k, sizeof(v));
	return v;
}

static int cmp_seen(const void *a, const void *b)
{
	__u64 x = ((const struct pw_seen *)a)->key, y = ((const struct pw_seen *)b)->key;

	return x < y ? -1 : x > y;
}

static bool row_busy(const struct pw_live_row *r)
{
	int i;

	for (i = 0; i < PW_STATE_SLOTS; i++)
		if (r->states[i])
			return true;
	return false;
}

/* Forgets one row in the kernel. Its stats are taken and deleted in one
 * step where the kernel can (5.14), and put back if a socket came to it in
 * between (that socket would otherwise be lost from the gauges). */
static void forget_row(struct pw_tracker *t, const struct pw_key *key, __u64 sig)
{
	struct bpf_map *maps[] = { t->skel->maps.latency, t->skel->maps.connect_latency,
				   t->skel->maps.accept_wait, t->skel->maps.cw_hist,
				   t->skel->maps.response };
	int fd = bpf_map__fd(t->skel->maps.stats), c, i;
	const struct pw_stats *s = t->percpu;
	__u64 now_sig = 0;
	bool busy = false;

	/* sig: the row's counters when it was found idle. */

	if (bpf_map_lookup_and_delete_elem(fd, key, t->percpu)) {
		if (errno == ENOENT || bpf_map_lookup_elem(fd, key, t->percpu) ||
		    bpf_map_delete_elem(fd, key))
			return;
	}
	/* Per-CPU gauges are deltas: only their sum says a socket is there. */
	for (i = 0; i < PW_STATE_SLOTS; i++) {
		__s64 sum = 0;

		for (c = 0; c < t->ncpus; c++)
			sum += s[c].gauge[i];
		busy |= sum != 0;
	}
	for (c = 0; c < t->ncpus; c++)
		now_sig += pw_live_counters_sum(s[c].counter);
	if (busy || now_sig > sig) {
		if (bpf_map_update_elem(fd, key, t->percpu, BPF_NOEXIST))
			t->prune_lost++;
		return;
	}
	for (i = 0; i < (int)(sizeof(maps) / sizeof(maps[0])); i++)
		bpf_map_delete_elem(bpf_map__fd(maps[i]), key);
}

/* Forgets rows with no sockets whose totals have not moved for forget_ns:
 * the kernel's maps hold what is live, whatever came and went before. */
static int prune(struct pw_tracker *t, const struct pw_live *l)
{
	struct pw_seen *seen = calloc(l->n ? l->n : 1, sizeof(*seen)), *old;
	size_t i, n = 0;

	if (!seen)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *r = &l->rows[i];
		struct pw_seen me = { key_bits(&r->key), pw_live_row_total(r), l->ts_ns };

		old = t->seen ? bsearch(&me, t->seen, t->n_seen, sizeof(me), cmp_seen) : NULL;
		if (old && old->sig == me.sig && !row_busy(r))
			me.since_ns = old->since_ns;
		if (!r->key.port || (r->key.dir == PW_DIR_OUTBOUND && r->key.netns == t->netns &&
				     pw_portset_has(&t->pins, r->key.port)))
			me.since_ns = l->ts_ns; /* never forgotten */
		if (l->ts_ns - me.since_ns >= t->forget_ns) {
			forget_row(t, &r->key, pw_live_counters_sum(r->counter));
			continue;
		}
		seen[n++] = me;
	}
	qsort(seen, n, sizeof(*seen), cmp_seen);
	free(t->seen);
	t->seen = seen;
	t->n_seen = n;
	return 0;
}

int pw_tracker__read(struct pw_tracker *t, struct pw_live *l)
{
	struct cw_ctx cw = {};
	int err;

	__u64 misses;

	pw_live_reset(l);
	l->ts_ns = pw_mono_ns();
	err = track_read_stats(t, l);
	misses = err ? 0 : state_misses(t) + uncounted(t);
	if (misses > t->state_misses) {
		/* State changes were missed, or sockets left uncounted, since
		 * the last repair: the sync pass recounts every socket now
		 * (each repair is counted), so no read shows gauges off until
		 * the next --reconcile. */
		t->state_misses = misses;
		err = track_for_each_netns(t, track_reconcile_netns, l);
		pw_live_reset(l);
		l->ts_ns = pw_mono_ns();
		if (!err)
			err = track_read_stats(t, l);
	}
	t->lsn_now = NULL;
	t->n_lsn_now = 0;
	t->cap_lsn_now = 0;
	if (!err)
		err = read_mini(t, l);
	if (!err) {
		err = read_listeners(t, l, t->lsn_now, t->n_lsn_now);
		t->lsn_now = NULL;
	}
	free(t->lsn_now);
	if (!err)
		err = read_cw_hist(t, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.latency, PW_H_LAT, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.connect_latency, PW_H_CONNECT, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.accept_wait, PW_H_ACCEPT, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.response, PW_H_RESP, l);
	if (!err)
		err = read_close_wait(t, l, &cw);
	if (!err)
		err = walk_owners(t, l, &cw);
	free(cw.ownerless.keys);
	if (!err)
		err = prune(t, l);
	/* Every other failure was said where it happened. */
	if (err == -ENOMEM)
		pw_err("read tracker maps: out of memory");
	pw_live_sort(l);
	return err;
}

static int sum_percpu_array(struct pw_tracker *t, struct bpf_map *map, __u64 *out, __u32 n)
{
	int fd = bpf_map__fd(map), c;
	__u64 *v = t->percpu; /* big enough: ncpus x sizeof(pw_stats) */
	__u32 r;

	for (r = 0; r < n; r++) {
		out[r] = 0;
		if (bpf_map_lookup_elem(fd, &r, v))
			return -errno;
		for (c = 0; c < t->ncpus; c++)
			out[r] += v[c];
	}
	return 0;
}

int pw_tracker__drops(struct pw_tracker *t, __u64 drops[PW_DROP_MAX])
{
	int err = sum_percpu_array(t, t->skel->maps.drops, drops, PW_DROP_MAX);

	drops[PW_DROP_STATS] += t->prune_lost;
	return err;
}

int pw_tracker__health(struct pw_tracker *t, __u64 fixes[PW_FIX_MAX], __u64 *missed)
{
	struct bpf_prog_info info;
	struct bpf_program *prog;
	__u32 len;
	int err;

	*missed = 0;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		if (!bpf_program__autoattach(prog) || bpf_program__fd(prog) < 0)
			continue; /* iterators never nest; a missing hook never ran */
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			return -errno;
		*missed += info.recursion_misses;
	}
	err = sum_percpu_array(t, t->skel->maps.health, fixes, PW_FIX_MAX);
	return err;
}
