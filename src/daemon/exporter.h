/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The HTTP side of the daemon, on libmicrohttpd: /metrics serves the last
 * published text, /healthz the tracer's health. Threads of its own; a slow
 * or broken client never reaches the tracing loop, which only swaps a
 * buffer, and never holds a slot long: a request's head must be in 5 s
 * after connecting, its answer sent (or the next request in) 10 s after. */
#ifndef PW_EXPORTER_H
#define PW_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct pw_exporter;

/* Binds addr:port (numeric, IPv4 or IPv6) and starts serving at most
 * max_conns requests at once; connections still sending their request
 * wait apart, up to 1,024. Raises the soft RLIMIT_NOFILE to the hard
 * one. NULL with errno set, after printing why. */
struct pw_exporter *pw_exporter__new(const char *addr, __u16 port, __u32 max_conns,
				     __u64 max_age_ns);
void pw_exporter__free(struct pw_exporter *e);
/* Replaces the /metrics body (copied), and serves the scrapes waiting. */
int pw_exporter__publish(struct pw_exporter *e, const char *text, size_t len);
/* A scrape finding text older than max_age_ns is suspended (the server
 * goes on with others) and this eventfd becomes readable: the tracing loop
 * then reads afresh and publishes, which serves it. */
int pw_exporter__fd(const struct pw_exporter *e);
/* Whether a scrape is waiting for fresh text (clears the eventfd). */
bool pw_exporter__wanted(struct pw_exporter *e);
/* The tracing loop's pass: without one for 10 s, /healthz answers 503
 * "stalled" and suspended scrapes get the text there is. */
void pw_exporter__beat(struct pw_exporter *e);
/* /healthz: 200 "ok", or 503 with why. */
void pw_exporter__health(struct pw_exporter *e, bool ok, const char *why);

#endif
