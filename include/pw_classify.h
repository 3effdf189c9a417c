/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which service port and direction a socket counts under. One definition for
 * the BPF seeding pass and the userspace snapshot, so both agree. */
#ifndef PW_CLASSIFY_H
#define PW_CLASSIFY_H

#include "portwatch.h"

enum pw_dir {
	PW_DIR_LISTEN,
	PW_DIR_INBOUND,
	PW_DIR_OUTBOUND,
	PW_DIR_MAX,
};

/* The kernel's default ip_local_port_range, for a namespace whose own cannot
 * be read. */
#define PW_EPH_LO_DEFAULT 32768
#define PW_EPH_HI_DEFAULT 60999

/* 65536-bit map of local ports that have a listener. */
#define PW_LISTEN_WORDS (65536 / 64)

static inline __attribute__((always_inline)) int pw_port_listening(const __u64 *listening,
								   __u16 port)
{
	return (listening[(port / 64) & (PW_LISTEN_WORDS - 1)] >> (port % 64)) & 1;
}

/* eph_lo..eph_hi is the netns's ip_local_port_range. */
static inline __attribute__((always_inline)) enum pw_dir
pw_classify_ports(__u8 state, __u16 sport, __u16 dport, const __u64 *listening, __u16 eph_lo,
		  __u16 eph_hi, __u16 *port)
{
	if (state == PW_TCP_LISTEN) {
		*port = sport;
		return PW_DIR_LISTEN;
	}
	if (pw_port_listening(listening, sport)) {
		*port = sport;
		return PW_DIR_INBOUND;
	}
	/* No listener on the local port: normally a client, counted under the
	 * server's port. But a server whose listener has gone still has a fixed
	 * local port facing an ephemeral remote one; never make the client's
	 * ephemeral port a row. */
	if (dport >= eph_lo && dport <= eph_hi && !(sport >= eph_lo && sport <= eph_hi)) {
		*port = sport;
		return PW_DIR_INBOUND;
	}
	*port = dport;
	return PW_DIR_OUTBOUND;
}

#endif
