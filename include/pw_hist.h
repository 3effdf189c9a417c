/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Log-linear histogram buckets over nanoseconds, shared by BPF and userspace:
 * 8 sub-buckets per power of two, so a bucket's upper bound is at most 1.125x
 * its lower bound. Bucket 0 holds everything below 2^PW_HIST_MIN_SHIFT ns;
 * the last bucket everything from 2^PW_HIST_MAX_SHIFT ns on. A bucket holds
 * values <= its upper bound (pw_hist_upper_ns), never above it. */
#ifndef PW_HIST_H
#define PW_HIST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PW_HIST_SUB_BITS 3
#define PW_HIST_SUB (1 << PW_HIST_SUB_BITS)
#define PW_HIST_MIN_SHIFT 10 /* 1.024 us */
#define PW_HIST_MAX_SHIFT 47 /* 2^47 ns: 39 h */
#define PW_HIST_BUCKETS ((PW_HIST_MAX_SHIFT - PW_HIST_MIN_SHIFT) * PW_HIST_SUB + 2)

/* floor(log2(v)) for v > 0, without a count-leading-zeros instruction. */
static inline __attribute__((always_inline)) __u32 pw_log2(__u64 v)
{
	__u32 r, s;

	s = (v > 0xFFFFFFFFULL) << 5;
	v >>= s;
	r = s;
	s = (v > 0xFFFF) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xFF) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xF) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	return r | (__u32)(v >> 1);
}

static inline __attribute__((always_inline)) __u32 pw_hist_bucket(__u64 ns)
{
	__u32 msb, sub;

	if (ns < (1ULL << PW_HIST_MIN_SHIFT))
		return 0;
	if (ns >= (1ULL << PW_HIST_MAX_SHIFT))
		return PW_HIST_BUCKETS - 1;
	msb = pw_log2(ns);
	sub = (__u32)(ns >> (msb - PW_HIST_SUB_BITS)) & (PW_HIST_SUB - 1);
	return 1 + (msb - PW_HIST_MIN_SHIFT) * PW_HIST_SUB + sub;
}

/* Largest value bucket b holds; ~0 for the last (overflow) bucket. */
static inline __u64 pw_hist_upper_ns(__u32 b)
{
	__u32 octave, sub;

	if (b == 0)
		return (1ULL << PW_HIST_MIN_SHIFT) - 1;
	if (b >= PW_HIST_BUCKETS - 1)
		return ~0ULL;
	octave = (b - 1) / PW_HIST_SUB;
	sub = (b - 1) % PW_HIST_SUB;
	return ((__u64)(PW_HIST_SUB + sub + 1) << (PW_HIST_MIN_SHIFT + octave - PW_HIST_SUB_BITS)) -
	       1;
}

#endif
