/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What `states` and `closewait` print, built from a snapshot. Pure logic. */
#ifndef PW_REPORT_H
#define PW_REPORT_H

#include <stdio.h>
#include <jansson.h>
#include "model/sockets.h"

/* header: the column names first (ss -H leaves them out). */
void pw_states_print(FILE *out, const struct pw_live *l, bool header);
json_t *pw_states_json(const struct pw_live *l);
/* {"ESTABLISHED": n, ...}: every state ss can show, zero or not. */
json_t *pw_state_counts_json(const __s64 *counts);

/* One CLOSE_WAIT socket. */
struct pw_cw {
	size_t sock; /* index into snap->socks */
	double age_seconds;
};

/* One (namespace, port, direction, process) group; pid 0 collects
 * orphans; netns 0 in a one-namespace snapshot. */
struct pw_cw_group {
	__u32 netns;
	__u16 port;
	__u8 dir;
	__u32 pid;
	char comm[PW_COMM_LEN];
	__u32 count;
	double oldest_seconds;
};

/* CLOSE_WAIT sockets on filtered ports at least min_age old, oldest first. */
int pw_cw_collect(const struct pw_snap *snap, const struct pw_portset *filter, double min_age,
		  struct pw_cw **list, size_t *n);
/* Groups sorted by count, then oldest; a shared socket counts for each owner. */
int pw_cw_group(const struct pw_snap *snap, const struct pw_cw *list, size_t n,
		struct pw_cw_group **groups, size_t *ngroups);
/* Without header: the socket lines alone (no column names, no summary). */
void pw_cw_print(FILE *out, const struct pw_snap *snap, const struct pw_cw *list, size_t n,
		 const struct pw_cw_group *groups, size_t ngroups, bool header);
json_t *pw_cw_json(const struct pw_snap *snap, const struct pw_cw *list, size_t n);

/* Nagios-style plugin states and exit codes. */
enum pw_check {
	PW_CHECK_OK = 0,
	PW_CHECK_WARNING = 1,
	PW_CHECK_CRITICAL = 2,
	PW_CHECK_UNKNOWN = 3,
};

struct pw_threshold {
	bool has_warn, has_crit;
	__u32 warn, crit; /* alert when value >= threshold */
};

enum pw_check pw_check_eval(const struct pw_threshold *t, __u64 value);
const char *pw_check_name(enum pw_check c);
/* "CLOSEWAIT CRITICAL - ... | close_wait=57;10;50;0 ..." */
void pw_cw_check_print(FILE *out, enum pw_check c, const struct pw_threshold *t,
		       const struct pw_cw *list, size_t n, const struct pw_cw_group *groups,
		       size_t ngroups);

#endif
