/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Skeleton-level tests: the tracker's programs of one concern loaded and
 * attached by the test itself, in a network namespace of its own, and its
 * maps read directly. No portwatch binary, no userspace reader between the
 * test and the kernel. */
#ifndef PW_BPF_TEST_H
#define PW_BPF_TEST_H

#include <stdint.h>
#include "portwatch.h"
#include "pw_classify.h"
#include "pw_track.h"
#include "track.skel.h"

#define BT_MAX_LINKS 8

struct bt {
	struct track_bpf *skel;
	struct bpf_link *links[BT_MAX_LINKS];
	__u32 netns; /* the test's namespace, the only one the programs track */
	int ncpus;
};

/* Enters a new network namespace with loopback up: 0 or -errno. */
int bt_enter_new_netns(void);
/* cmocka setup: a new namespace, the tracker opened for it with only the
 * programs named in progs (NULL-terminated) loaded and attached. */
int bt_setup(void **state, const char *const *progs);
/* The same, with configure(skel) setting the tracker's settings (rodata)
 * between open and load. */
int bt_setup_with(void **state, const char *const *progs, void (*configure)(struct track_bpf *));
int bt_teardown(void **state);

/* Runs an iterator program (iter/tcp walks the caller's namespace) to its
 * end: 0 or -errno. */
int bt_run_iter(const struct bt *t, struct bpf_program *prog);
/* The listening ports the classifying passes read (userspace writes them
 * before each pass): ports, n of them. 0 or -errno. */
int bt_set_listening(const struct bt *t, const uint16_t *ports, int n);
/* Repairs counted by the sync pass and socket deaths (PW_FIX_*), summed. */
__u64 bt_fixes(const struct bt *t, int what);

/* Loopback sockets: a listener, a connection (-1 with errno on failure),
 * and a close that resets (SO_LINGER {1, 0}). */
int bt_listen(uint16_t port);
int bt_connect(uint16_t port);
void bt_abort(int fd);
/* A listener, a connection to it and the accepted end (asserted). */
struct bt_conn {
	int lfd, cfd, afd;
};
void bt_connect_pair(struct bt_conn *c, uint16_t port);

/* A socket's per-socket state, by descriptor: 0 or -errno (-ENOENT: none). */
int bt_sk(const struct bt *t, int fd, struct pw_sk *out);
/* A row of this namespace, summed over CPUs: 0 or -ENOENT. */
int bt_row(const struct bt *t, uint16_t port, __u8 dir, struct pw_stats *out);
/* A row's histogram in a per-CPU pw_lat map (latency, response,
 * connect_latency, accept_wait), summed over CPUs: 0 or -ENOENT. */
int bt_lat(const struct bt *t, struct bpf_map *map, uint16_t port, __u8 dir, struct pw_lat *out);
/* A row's CLOSE_WAIT histogram: 0 or -ENOENT. */
int bt_cw_hist(const struct bt *t, uint16_t port, __u8 dir, struct pw_cw_hist *out);
/* Entries of the close_wait map; the first in *first. */
int bt_close_wait(const struct bt *t, struct pw_cw_sock *first);
/* Waits up to 2 s for a socket's counted state, or a row's gauge, to be
 * what the test wants (the peer's segments arrive in softirq): 0 or
 * -ETIMEDOUT. */
int bt_wait_state(const struct bt *t, int fd, __u8 state);
int bt_wait_row_gauge(const struct bt *t, uint16_t port, __u8 dir, __u8 state, __s64 want);

#endif
