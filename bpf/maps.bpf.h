/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The tracker's settings (fixed at load, or flags userspace sets between
 * passes) and every map its programs share: one definition in state.bpf.c
 * (PW_DEFINE), externs in the other objects, which `bpftool gen object`
 * links into one. Included through track.bpf.h. */
#ifndef PW_MAPS_BPF_H
#define PW_MAPS_BPF_H

#ifdef PW_DEFINE
#define PW_EXTERN
#define PW_SET(v) = v
#else
#define PW_EXTERN extern
#define PW_SET(v)
#endif

/* Settings, fixed at load. */
PW_EXTERN const volatile __u32 pw_netns PW_SET(0); /* namespace inode to track; 0: all */
PW_EXTERN const volatile __u16 pw_eph_lo PW_SET(PW_EPH_LO_DEFAULT); /* ip_local_port_range */
PW_EXTERN const volatile __u16 pw_eph_hi PW_SET(PW_EPH_HI_DEFAULT);
PW_EXTERN const volatile __u64 pw_ns_per_jiffy PW_SET(4000000);
/* Tests only: ignore every Nth state change, as the kernel does when a run
 * would nest, to prove the sync pass repairs the gauges. 0: off. */
PW_EXTERN const volatile __u32 pw_test_skip_every PW_SET(0);
/* Measure request latency (the latency hooks are loaded only then). */
PW_EXTERN const volatile bool pw_latency PW_SET(false);
/* Requests at least this slow become events; 0: none. */
PW_EXTERN const volatile __u64 pw_slow_ns PW_SET(0);
/* Measure accept-queue waits (the syscall-exit hook is loaded only then). */
PW_EXTERN const volatile bool pw_accept_wait PW_SET(false);
/* Event types userspace reads (bit 1 << type); the rest are only counted. */
PW_EXTERN const volatile __u32 pw_emit PW_SET(0);
/* Userspace is woken when this much is waiting, else it collects on its own
 * clock: a storm of events costs one wakeup per batch, not one each. */
PW_EXTERN const volatile __u32 pw_wake_bytes PW_SET(0);
/* The tcp_destroy_sock hook is loaded. */
PW_EXTERN const volatile bool pw_destroy_hook PW_SET(true);
/* Per-socket state in sk_hash rather than socket storage (see compat). */
PW_EXTERN const volatile bool pw_sk_hash PW_SET(false);

/* Tests only: state changes seen, for pw_test_skip_every. */
PW_EXTERN __u64 pw_test_calls;
/* Set by userspace while the first sync pass runs: sockets it finds are
 * new to us then, not drift. */
PW_EXTERN volatile bool pw_seeding;
/* The counting pass in progress, set by userspace before it (see
 * struct pw_mini_val). */
PW_EXTERN volatile __u32 pw_pass;
/* Set for a sync pass over listeners only: they need no classification,
 * and the ports they give classify everything else in the next pass. */
PW_EXTERN volatile bool pw_sync_listeners;

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pw_sk);
} sk_info SEC(".maps");

/* Per-socket state when socket storage cannot be used (before 5.11, or the
 * raw fallback hook, which gets a bare address): keyed by that address,
 * removed when the socket closes or dies. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct pw_sk);
} sk_hash SEC(".maps");

/* Per-port maps (stats, cw_hist and the histograms): userspace sizes them
 * at load (row_capacity() in track.c); 4096 is the floor. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_stats);
} stats SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_cw_hist);
} cw_hist SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} latency SEC(".maps");

/* Response duration: request start to the last byte of its answer, per
 * row (see struct pw_sk). */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} response SEC(".maps");

/* Connect latency: SYN_SENT to ESTABLISHED, per outbound row. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} connect_latency SEC(".maps");

/* Accept-queue wait: from a connection being queued on its listener to the
 * accept() that returns it, per inbound row. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct pw_key);
	__type(value, struct pw_lat);
} accept_wait SEC(".maps");

/* Connections queued and not yet accepted, by socket address: the accept
 * hook finds the new socket through the task's file table with probe
 * reads, which give an address, not a pointer socket storage would take. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket address */
	__type(value, struct pw_accept_q);
} accept_q SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket address */
	__type(value, struct pw_cw_sock);
} close_wait SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_FIX_MAX);
	__type(key, __u32);
	__type(value, __u64);
} health SEC(".maps");

/* Listening ports of the seeded namespace, written by userspace before each
 * iterator pass that classifies. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_listening);
} listening SEC(".maps");

/* Minisocket counts per (row, state), and listeners by socket address, from
 * the counting pass, tagged with the pass that found them: kept from one
 * pass to the next (userspace deletes only what no pass finds any more),
 * and preallocated, as rows come and go with the traffic. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct pw_mini_key);
	__type(value, struct pw_mini_val);
} mini SEC(".maps");

PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pw_listener);
} listeners SEC(".maps");

/* Owners by socket inode, filled by userspace from /proc/PID/fd where the
 * kernel lacks bpf_sock_from_file (before 5.11), for iter.bpf.c. */
PW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32); /* socket inode */
	__type(value, struct pw_owner);
} owner_ino SEC(".maps");

#endif
