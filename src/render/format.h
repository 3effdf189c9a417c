/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Names and value formatting shared by every output. */
#ifndef PW_FORMAT_H
#define PW_FORMAT_H

#include <stdio.h>
#include <jansson.h>
#include "model/sockets.h"

/* Room for "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535". */
#define PW_ENDPOINT_LEN 56
#define PW_AGE_LEN 16

/* Kernel names ("CLOSE_WAIT"), as in JSON; NULL for unknown states. */
const char *pw_state_name(unsigned int state);
/* ss names ("CLOSE-WAIT"), for column headers. */
const char *pw_state_label(unsigned int state);
const char *pw_dir_name(unsigned int dir);
/* "127.0.0.1:3001", "[::1]:3001", "0.0.0.0:*" for a zero port. */
void pw_format_endpoint(char *buf, size_t len, __u16 family, const __u8 *addr, __u16 port);
/* "850ms", "12.5s", "3m12s", "2h05m", "3d04h". */
void pw_format_age(char *buf, size_t len, double seconds);
/* A latency: "850ns", "12.5us", "5.1ms", "1.25s". */
void pw_format_duration(char *buf, size_t len, double ns);
/* Seconds rounded to the millisecond, for JSON. */
json_t *pw_json_seconds(double seconds);
/* Nanoseconds as seconds rounded to the microsecond: latencies. */
json_t *pw_json_ns_as_seconds(double ns);
/* A log-linear histogram's non-empty buckets (PW_HIST_BUCKETS counts):
 * [{"le_seconds": inclusive upper bound, or "+Inf", "count": n}, ...]. */
json_t *pw_json_buckets(const __u64 *bucket);
/* The one JSON writer: one document per line. 0 or -EIO. */
int pw_json_print(FILE *out, json_t *doc);

/* Namespaces by name: commands that show several set the lookup
 * (pw_netns_name); without one, or for a namespace it cannot name, the
 * inode. pw_netns_show writes what a text column shows into buf. */
#define PW_NETNS_SHOW_LEN 64
void pw_set_netns_namer(const char *(*namer)(__u32 netns));
const char *pw_netns_named(__u32 netns); /* "" when unknown */
const char *pw_netns_show(char *buf, size_t len, __u32 netns);
/* Adds "netns_name" to a JSON object when the namespace has one. */
void pw_json_netns_name(json_t *obj, __u32 netns);

#endif
