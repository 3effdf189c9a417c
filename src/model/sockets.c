// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Classification, owner join and per-port aggregation of a snapshot. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "common/clock.h"
#include "model/sockets.h"

enum pw_dir pw_classify(const struct pw_sock_rec *r, const __u64 *listening,
			struct pw_port_range eph, __u16 *port)
{
	return pw_classify_ports(r->state, r->sport, r->dport, listening, eph.lo, eph.hi, port);
}

static int cmp_file(const void *a, const void *b)
{
	const struct pw_file_rec *x = a, *y = b;

	if (x->sk != y->sk)
		return x->sk < y->sk ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

int pw_snap_index(struct pw_snap *snap, struct pw_port_range eph)
{
	__u64 listening[PW_LISTEN_WORDS] = {};
	size_t i;

	free(snap->port);
	free(snap->dir);
	snap->port = calloc(snap->nsocks + 1, sizeof(*snap->port));
	snap->dir = calloc(snap->nsocks + 1, sizeof(*snap->dir));
	if (!snap->port || !snap->dir)
		return -ENOMEM;

	for (i = 0; i < snap->nsocks; i++)
		if (snap->socks[i].state == PW_TCP_LISTEN)
			listening[snap->socks[i].sport / 64] |= 1ULL << (snap->socks[i].sport % 64);
	for (i = 0; i < snap->nsocks; i++)
		snap->dir[i] = pw_classify(&snap->socks[i], listening, eph, &snap->port[i]);
	pw_snap_sort_files(snap);
	return 0;
}

void pw_snap_sort_files(struct pw_snap *snap)
{
	if (snap->nfiles)
		qsort(snap->files, snap->nfiles, sizeof(*snap->files), cmp_file);
}

size_t pw_snap_owners(const struct pw_snap *snap, __u64 sk, size_t *first)
{
	size_t lo = 0, hi = snap->nfiles, end;

	/* Lower bound of sk in the sorted files. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (snap->files[mid].sk < sk)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < snap->nfiles && snap->files[end].sk == sk; end++)
		;
	*first = lo;
	return end - lo;
}

double pw_snap_age_seconds(const struct pw_snap *snap, const struct pw_sock_rec *r)
{
	return snap->hz ? (double)r->heard_jiffies / snap->hz : 0.0;
}

double pw_snap_idle_seconds(const struct pw_snap *snap, const struct pw_sock_rec *r)
{
	return snap->hz ? (double)r->lastrcv_jiffies / snap->hz : 0.0;
}

static bool held_by(const struct pw_snap *snap, __u64 sk, const struct pw_sock_filter *f)
{
	size_t first, n = pw_snap_owners(snap, sk, &first), j;

	for (j = first; j < first + n; j++) {
		const struct pw_file_rec *h = &snap->files[j];

		if ((!f->pid || h->pid == f->pid) &&
		    (!f->comm[0] || !strncmp(h->comm, f->comm, strlen(f->comm))))
			return true;
	}
	return false;
}

void pw_snap_filter(struct pw_snap *snap, const struct pw_sock_filter *f)
{
	size_t i, k = 0;

	for (i = 0; i < snap->nsocks; i++) {
		const struct pw_sock_rec *r = &snap->socks[i];

		if ((f->states && !(f->states & (1U << r->state))) ||
		    (f->family && r->family != f->family) ||
		    ((f->pid || f->comm[0]) && !held_by(snap, r->sk, f)))
			continue;
		snap->socks[k] = *r;
		snap->port[k] = snap->port[i];
		snap->dir[k] = snap->dir[i];
		if (snap->netns)
			snap->netns[k] = snap->netns[i];
		k++;
	}
	snap->nsocks = k;
}

void pw_snap_free(struct pw_snap *snap)
{
	if (!snap)
		return;
	free(snap->socks);
	free(snap->files);
	free(snap->port);
	free(snap->dir);
	free(snap->netns);
	memset(snap, 0, sizeof(*snap));
}

int pw_live_from_snap(struct pw_live *l, const struct pw_snap *snap,
		      const struct pw_portset *filter, __u64 ts_ns)
{
	struct pw_live_row *row;
	struct pw_key k = {};
	__u64 age, since;
	size_t i;

	pw_live_reset(l);
	l->ts_ns = ts_ns;
	for (i = 0; i < snap->nsocks; i++) {
		const struct pw_sock_rec *r = &snap->socks[i];

		if (filter && !pw_portset_match(filter, snap->port[i]))
			continue;
		k.netns = snap->netns ? snap->netns[i] : 0;
		k.port = snap->port[i];
		k.dir = snap->dir[i];
		row = pw_live_row(l, &k);
		if (!row)
			return -ENOMEM;
		row->states[r->state & (PW_STATE_SLOTS - 1)]++;
		if (r->state == PW_TCP_LISTEN)
			pw_live_add_listener(row, r->rx_queue, r->tx_queue);
		if (r->state != PW_TCP_CLOSE_WAIT)
			continue;
		age = (__u64)(pw_snap_age_seconds(snap, r) * PW_NSEC_PER_SEC);
		since = ts_ns > age ? ts_ns - age : 1;
		if (!row->cw_oldest_since_ns || since < row->cw_oldest_since_ns)
			row->cw_oldest_since_ns = since;
	}
	pw_live_sort(l);
	return 0;
}
