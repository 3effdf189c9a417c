/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The normalised snapshot: sockets with their service port, direction and
 * owners, and the per-(port, direction) rows built from them. Pure logic. */
#ifndef PW_SOCKETS_H
#define PW_SOCKETS_H

#include <stddef.h>
#include "common/args.h"
#include "model/live.h"
#include "portwatch.h"
#include "pw_classify.h"

/* The netns's ip_local_port_range: ports a client gets by default. */
struct pw_port_range {
	__u16 lo, hi;
};

struct pw_snap {
	struct pw_sock_rec *socks;
	size_t nsocks;
	struct pw_file_rec *files; /* sorted by sk after pw_snap_index() */
	size_t nfiles;
	__u16 *port; /* per socket: service port */
	__u8 *dir; /* per socket: enum pw_dir */
	__u32 *netns; /* per socket: namespace inode; NULL for one namespace */
	__u32 hz; /* jiffies per second, for lastrcv_jiffies */
};

/* Which port and direction a socket is counted under. listening[] is a
 * 65536-bit map of local ports that have a listener. */
enum pw_dir pw_classify(const struct pw_sock_rec *r, const __u64 *listening,
			struct pw_port_range eph, __u16 *port);

/* Classify every socket and sort owners for lookup: 0 or -ENOMEM. */
int pw_snap_index(struct pw_snap *snap, struct pw_port_range eph);
/* Sort owners for lookup (pw_snap_index does it too). */
void pw_snap_sort_files(struct pw_snap *snap);
/* Owners of one socket: returns their count, *first indexes snap->files. */
size_t pw_snap_owners(const struct pw_snap *snap, __u64 sk, size_t *first);
/* Since the peer last sent anything: for CLOSE_WAIT, since its FIN, the
 * age watch and the daemon show too. */
double pw_snap_age_seconds(const struct pw_snap *snap, const struct pw_sock_rec *r);
/* Since data last arrived (ss -ti's lastrcv): how long the connection sat
 * idle before and since. */
double pw_snap_idle_seconds(const struct pw_snap *snap, const struct pw_sock_rec *r);
void pw_snap_free(struct pw_snap *snap);

/* What ss and lsof filter on, beyond ports: states (a bit per PW_TCP_*
 * state), the address family, the holding process. Zero: any. */
struct pw_sock_filter {
	__u32 states;
	__u16 family; /* AF_INET or AF_INET6 */
	__u32 pid;
	char comm[PW_COMM_LEN]; /* a prefix of the holder's name, as lsof -c */
};

/* Keeps only the sockets f matches: with pid or comm, those some holder
 * matches (sockets no process holds go). Owners stay as they are. */
void pw_snap_filter(struct pw_snap *snap, const struct pw_sock_filter *f);

/* The rows live tracking reads, from a snapshot taken at ts_ns
 * (CLOCK_MONOTONIC): every socket of a port in filter counted in its state,
 * listen rows with their fullest listener's queue, and when each row's
 * oldest CLOSE_WAIT socket entered it. Sorted by namespace, port,
 * direction; filter NULL: every port. 0 or -ENOMEM. */
int pw_live_from_snap(struct pw_live *l, const struct pw_snap *snap,
		      const struct pw_portset *filter, __u64 ts_ns);

#endif
