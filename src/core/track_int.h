/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Inside the tracker: what track.c (load, hooks, attach, seed, reconcile)
 * and reader.c (the maps into rows) share. Not for other files. */
#ifndef PW_TRACK_INT_H
#define PW_TRACK_INT_H

#include "common/args.h"
#include "core/kernel.h"
#include "core/track.h"
#include "track.skel.h"

struct pw_tracker {
	struct track_bpf *skel;
	struct ring_buffer *rb;
	pw_event_fn fn;
	void *fn_ctx;
	int ncpus;
	__u32 netns;
	bool all_netns;
	bool latency; /* the kernel has request latency hooks */
	bool want_latency, want_accept;
	bool raw; /* the state hook loaded raw */
	struct pw_kernel kernel;
	struct pw_feature_state feat[PW_FEAT_MAX];
	__u64 state_misses; /* skipped state-hook runs and sockets left
			     * uncounted, as of the last repair */
	struct bpf_link *links[2]; /* attached by hand: attach_optional() */
	void *percpu; /* lookup buffer: ncpus stats values */
	struct pw_portset pins; /* outbound rows made at start, never forgotten */
	__u64 forget_ns;
	/* Each row's activity as of the last read (sorted by key): a
	 * signature of its totals, and since when it has not changed. */
	struct pw_seen *seen;
	size_t n_seen;
	__u64 prune_lost; /* a socket counted in a row as it was forgotten */
	struct pw_lsn *lsn; /* listeners of the last read, sorted by id */
	size_t n_lsn;
	struct pw_lsn *lsn_now; /* those of the read in progress */
	size_t n_lsn_now, cap_lsn_now;
	/* Batch buffers for map_each(): keys and values of up to batch_n
	 * entries; no_batch once the kernel refused batch lookups. */
	void *batch_keys, *batch_vals;
	__u32 batch_n;
	bool no_batch;
	struct pw_gone_drops *gone;
	size_t n_gone;
	/* The listening ports last written to the kernel, for which
	 * namespace: rewritten only when they change. */
	struct pw_listening *lsn_written;
	__u32 lsn_written_netns;
	/* CLOSE_WAIT sockets no file table held at the last walk of them
	 * (sorted), and when that was: the walk is repeated for a new one,
	 * or after OWNER_WALK_NS for the same ones (a queued connection
	 * accepted since). */
	__u64 *ownerless;
	size_t n_ownerless;
	__u64 owner_walk_ns;
};

#define OWNER_WALK_NS (10 * PW_NSEC_PER_SEC)

/* A listener as of the last read, for its drops (see read_listeners()). */
struct pw_lsn {
	__u64 id; /* socket address */
	struct pw_key key;
	__u64 drops;
};

/* Drops of listeners gone, per listen row: their counter stays monotonic. */
struct pw_gone_drops {
	struct pw_key key;
	__u64 drops;
};

struct pw_seen {
	__u64 key; /* struct pw_key's bytes */
	__u64 sig;
	__u64 since_ns;
};

/* Runs fn in every namespace tracked: the caller's, or with all_netns each
 * one on the host (netns.h). */
int track_for_each_netns(struct pw_tracker *t, int (*fn)(struct pw_tracker *, __u32, void *),
			 void *arg);
/* Writes the listening ports of netns, from its listen rows in l, for the
 * passes that classify (only when they changed). */
int track_listening_from_rows(struct pw_tracker *t, const struct pw_live *l, __u32 netns);
/* Gives sockets without an owner the first process found holding them. */
int track_seed_owners(struct pw_tracker *t);
/* The sync pass in one namespace, classifying by the listen rows in arg
 * (a const struct pw_live): each socket counted where it is. */
int track_reconcile_netns(struct pw_tracker *t, __u32 netns, void *arg);
/* The per-CPU stats map into rows. */
int track_read_stats(struct pw_tracker *t, struct pw_live *l);

#endif
