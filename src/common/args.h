/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Strict parsing of command-line values. Each parser returns 0 or -EINVAL
 * and, on error, points *why at a short reason for the user. */
#ifndef PW_ARGS_H
#define PW_ARGS_H

#include <stdbool.h>
#include <linux/types.h>
#include "common/clock.h"

/* A set of ports, as given by repeated or comma-separated --port. */
struct pw_portset {
	__u64 bits[65536 / 64];
	unsigned int count;
};

int pw_parse_port(const char *s, __u16 *port, const char **why);
int pw_portset_add(struct pw_portset *set, const char *list, const char **why);
bool pw_portset_has(const struct pw_portset *set, __u16 port);
/* An empty set matches every port. */
bool pw_portset_match(const struct pw_portset *set, __u16 port);

/* "1.5s", "500ms", "2m30s", "1h", "90" (seconds). */
int pw_parse_duration(const char *s, __u64 *ns, const char **why);
/* A ring buffer size: a power of two from 4096 bytes to PW_RINGBUF_MAX. */
#define PW_RINGBUF_MAX (256U << 20)
int pw_parse_ringbuf_size(const char *s, __u32 *bytes, const char **why);
/* A non-negative decimal integer that fits in 32 bits. */
int pw_parse_count(const char *s, __u32 *n, const char **why);
/* Comma-separated TCP states as ss names them (established, syn-sent,
 * syn-recv, fin-wait-1, fin-wait-2, time-wait, close-wait, last-ack,
 * listening or listen, closing; '_' for '-' and any case too), or
 * connected (all but listening and closed), added to *mask: a bit per
 * PW_TCP_* state. */
int pw_parse_states(const char *list, __u32 *mask, const char **why);
/* "in"/"inbound" or "out"/"outbound": *dir is PW_DIR_INBOUND or _OUTBOUND. */
int pw_parse_direction(const char *s, int *dir, const char **why);

/* What `events --type` selects: each event `events` prints has one. */
enum pw_event_kind {
	PW_EK_CLOSE_WAIT_ENTER,
	PW_EK_CLOSE_WAIT_LEAVE,
	PW_EK_RESET_SENT,
	PW_EK_RESET_RECEIVED,
	PW_EK_CONNECT_REFUSED,
	PW_EK_CONNECT_TIMEOUT,
	PW_EK_CONNECT_FAILED, /* any other error */
	PW_EK_SLOW_REQUEST,
	PW_EK_MAX,
};
const char *pw_event_kind_name(enum pw_event_kind k);
/* Comma-separated kinds (their names, or close_wait, reset, connect for
 * each family) added to *mask, a bit per kind. */
int pw_parse_event_kinds(const char *list, __u32 *mask, const char **why);

#endif
