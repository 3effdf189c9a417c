/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The clocks: CLOCK_MONOTONIC for intervals and deadlines (the one the BPF
 * programs' bpf_ktime_get_ns() reads), CLOCK_REALTIME only for what a person
 * or Prometheus reads as a date. */
#ifndef PW_CLOCK_H
#define PW_CLOCK_H

#include <time.h>
#include <linux/types.h>

#define PW_NSEC_PER_SEC 1000000000ULL
#define PW_NSEC_PER_MSEC 1000000ULL

static inline __u64 pw_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * PW_NSEC_PER_SEC + (__u64)ts.tv_nsec;
}

static inline __u64 pw_mono_ms(void)
{
	return pw_mono_ns() / PW_NSEC_PER_MSEC;
}

/* Nanoseconds as seconds. */
static inline double pw_seconds(double ns)
{
	return ns / 1e9;
}

/* Seconds since the epoch. */
static inline double pw_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / PW_NSEC_PER_SEC;
}

/* Add to a CLOCK_MONOTONIC time in seconds to get the wall clock. */
static inline double pw_mono_to_wall(void)
{
	struct timespec mono, wall;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	return (double)(wall.tv_sec - mono.tv_sec) +
	       (double)(wall.tv_nsec - mono.tv_nsec) / PW_NSEC_PER_SEC;
}

#endif
