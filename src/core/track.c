// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loads bpf/track.bpf.c, seeds it from the sockets that already exist, and
 * reads its maps into live rows. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "common/args.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/kernel.h"
#include "core/netns.h"
#include "core/procfd.h"
#include "core/snapshot.h"
#include "core/track.h"
#include "track.skel.h"

struct pw_tracker {
	struct track_bpf *skel;
	struct ring_buffer *rb;
	pw_event_fn fn;
	void *fn_ctx;
	int ncpus;
	__u32 netns;
	bool all_netns;
	bool latency; /* the kernel has request latency hooks */
	bool want_latency, want_accept;
	bool raw; /* the state hook loaded raw */
	struct pw_kernel kernel;
	struct pw_feature_state feat[PW_FEAT_MAX];
	__u64 state_misses; /* skipped state-hook runs and sockets left
			     * uncounted, as of the last repair */
	struct bpf_link *links[2]; /* attached by hand: attach_optional() */
	void *percpu; /* lookup buffer: ncpus stats values */
	struct pw_portset pins; /* outbound rows made at start, never forgotten */
	__u64 forget_ns;
	/* Each row's activity as of the last read (sorted by key): a
	 * signature of its totals, and since when it has not changed. */
	struct pw_seen *seen;
	size_t n_seen;
	__u64 prune_lost; /* a socket counted in a row as it was forgotten */
	struct pw_lsn *lsn; /* listeners of the last read, sorted by id */
	size_t n_lsn;
	struct pw_lsn *lsn_now; /* those of the read in progress */
	size_t n_lsn_now, cap_lsn_now;
	/* Batch buffers for map_each(): keys and values of up to batch_n
	 * entries; no_batch once the kernel refused batch lookups. */
	void *batch_keys, *batch_vals;
	__u32 batch_n;
	bool no_batch;
	struct pw_gone_drops *gone;
	size_t n_gone;
	/* The listening ports last written to the kernel, for which
	 * namespace: rewritten only when they change. */
	struct pw_listening *lsn_written;
	__u32 lsn_written_netns;
	/* CLOSE_WAIT sockets no file table held at the last walk of them
	 * (sorted), and when that was: the walk is repeated for a new one,
	 * or after OWNER_WALK_NS for the same ones (a queued connection
	 * accepted since). */
	__u64 *ownerless;
	size_t n_ownerless;
	__u64 owner_walk_ns;
};

#define OWNER_WALK_NS (10 * PW_NSEC_PER_SEC)

/* A listener as of the last read, for its drops (see read_listeners()). */
struct pw_lsn {
	__u64 id; /* socket address */
	struct pw_key key;
	__u64 drops;
};

/* Drops of listeners gone, per listen row: their counter stays monotonic. */
struct pw_gone_drops {
	struct pw_key key;
	__u64 drops;
};

struct pw_seen {
	__u64 key; /* struct pw_key's bytes */
	__u64 sig;
	__u64 since_ns;
};

static int libbpf_err(const char *what)
{
	char msg[128];
	int err = -errno;

	libbpf_strerror(err, msg, sizeof(msg));
	pw_err("%s: %s", what, msg);
	return err;
}

/* The passes that classify read the listening ports of the namespace they
 * walk from the kernel: written when they differ from what is there. */
static int write_listening(struct pw_tracker *t, const struct pw_listening *bits, __u32 netns)
{
	__u32 zero = 0;

	if (t->lsn_written_netns == netns && !memcmp(t->lsn_written, bits, sizeof(*bits)))
		return 0;
	if (bpf_map__update_elem(t->skel->maps.listening, &zero, sizeof(zero), bits, sizeof(*bits),
				 BPF_ANY))
		return libbpf_err("write listening ports");
	memcpy(t->lsn_written, bits, sizeof(*bits));
	t->lsn_written_netns = netns;
	return 0;
}

/* The passes that classify need the listening ports of the namespace they
 * walk: the gauges know them. */
static int listening_from_rows(struct pw_tracker *t, const struct pw_live *l, __u32 netns)
{
	struct pw_listening *bits;
	size_t i;
	int err;

	bits = calloc(1, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *r = &l->rows[i];

		if (r->key.dir == PW_DIR_LISTEN && r->key.netns == netns &&
		    r->states[PW_TCP_LISTEN] > 0)
			bits->bits[r->key.port / 64] |= 1ULL << (r->key.port % 64);
	}
	err = write_listening(t, bits, netns);
	free(bits);
	return err;
}

static int read_stats(struct pw_tracker *t, struct pw_live *l);
static int pin_rows(struct pw_tracker *t);

struct netns_call {
	struct pw_tracker *t;
	int (*fn)(struct pw_tracker *, __u32, void *);
	void *arg;
};

static int netns_call(__u32 netns, void *arg)
{
	struct netns_call *c = arg;

	return c->fn(c->t, netns, c->arg);
}

/* Runs fn in every namespace tracked: the caller's, or with all_netns each
 * one on the host (netns.h). */
static int for_each_netns(struct pw_tracker *t, int (*fn)(struct pw_tracker *, __u32, void *),
			  void *arg)
{
	struct netns_call c = { t, fn, arg };

	if (!t->all_netns)
		return fn(t, t->netns, arg);
	return pw_netns_each(netns_call, &c);
}

/* Sync one namespace: listeners first, then the rest classified by them. */
static int sync_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	struct pw_live l = {};
	size_t n;
	int err;

	(void)arg;
	t->skel->bss->pw_sync_listeners = true;
	err = pw_run_iter(t->skel->progs.sync, 0, NULL, &n);
	t->skel->bss->pw_sync_listeners = false;
	if (!err)
		err = read_stats(t, &l);
	if (!err)
		err = listening_from_rows(t, &l, netns);
	if (!err)
		err = pw_run_iter(t->skel->progs.sync, 0, NULL, &n);
	pw_live_free(&l);
	return err;
}

static int owners_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	size_t n;

	(void)netns;
	(void)arg;
	return pw_run_iter(t->skel->progs.seed_owners_ino, 0, NULL, &n);
}

struct owner_batch {
	__u32 *keys;
	struct pw_owner *vals;
	size_t n, cap;
};

static int add_owner(void *ctx, __u32 ino, __u32 pid, __u32 fd, const char *comm)
{
	struct owner_batch *b = ctx;
	void *k, *v;

	(void)fd;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		k = realloc(b->keys, b->cap * sizeof(*b->keys));
		if (k)
			b->keys = k;
		v = realloc(b->vals, b->cap * sizeof(*b->vals));
		if (v)
			b->vals = v;
		if (!k || !v)
			return -ENOMEM;
	}
	b->keys[b->n] = ino;
	memset(&b->vals[b->n], 0, sizeof(b->vals[b->n]));
	b->vals[b->n].pid = pid;
	snprintf(b->vals[b->n].comm, sizeof(b->vals[b->n].comm), "%s", comm);
	b->n++;
	return 0;
}

/* Gives sockets without an owner the first process found holding them: from
 * the file tables (iter/task_file), or where the kernel lacks
 * bpf_sock_from_file, from /proc/PID/fd by socket inode, as ss -p does. */
static int seed_owners(struct pw_tracker *t)
{
	int fd = bpf_map__fd(t->skel->maps.owner_ino), err;
	struct owner_batch b = {};
	size_t n, i;

	if (t->kernel.sock_from_file)
		return pw_run_iter(t->skel->progs.seed_owners, 0, NULL, &n);
	err = pw_procfd_walk("/proc", add_owner, &b);
	/* The first holder wins, as in the file-table pass: keep it. */
	for (i = 0; !err && i < b.n; i++)
		if (bpf_map_update_elem(fd, &b.keys[i], &b.vals[i], BPF_NOEXIST) && errno != EEXIST)
			err = -errno;
	if (!err)
		err = for_each_netns(t, owners_netns, NULL);
	for (i = 0; i < b.n; i++)
		bpf_map_delete_elem(fd, &b.keys[i]);
	free(b.keys);
	free(b.vals);
	return err;
}

/* Gives every existing socket its storage, place in the gauges and owner. */
static int seed(struct pw_tracker *t)
{
	int err;

	t->skel->bss->pw_seeding = true;
	err = for_each_netns(t, sync_netns, NULL);
	t->skel->bss->pw_seeding = false;
	if (!err)
		err = seed_owners(t);
	return err;
}

static const char *const feature_names[PW_FEAT_MAX] = {
	[PW_FEAT_STATES] = "state changes",
	[PW_FEAT_SK_STATE] = "per-socket state",
	[PW_FEAT_OWNERS] = "owners from file tables",
	[PW_FEAT_CLAIM] = "owners at first send",
	[PW_FEAT_DESTROY] = "socket deaths",
	[PW_FEAT_RESETS_RECEIVED] = "resets received",
	[PW_FEAT_RESETS_SENT] = "resets sent",
	[PW_FEAT_RESETS_CLOSED] = "resets to closed ports",
	[PW_FEAT_RETRANSMITS] = "retransmits",
	[PW_FEAT_LATENCY] = "request latency",
	[PW_FEAT_ACCEPT_WAIT] = "accept-queue wait",
};

/* The same as metric label values. */
static const char *const feature_ids[PW_FEAT_MAX] = {
	[PW_FEAT_STATES] = "state_changes",	 [PW_FEAT_SK_STATE] = "socket_state",
	[PW_FEAT_OWNERS] = "owners_file_tables", [PW_FEAT_CLAIM] = "owners_first_send",
	[PW_FEAT_DESTROY] = "socket_deaths",	 [PW_FEAT_RESETS_RECEIVED] = "resets_received",
	[PW_FEAT_RESETS_SENT] = "resets_sent",	 [PW_FEAT_RESETS_CLOSED] = "resets_closed_ports",
	[PW_FEAT_LATENCY] = "request_latency",	 [PW_FEAT_ACCEPT_WAIT] = "accept_wait",
	[PW_FEAT_RETRANSMITS] = "retransmits",
};

static void feature_on(struct pw_tracker *t, enum pw_feature f, const char *hook)
{
	snprintf(t->feat[f].hook, sizeof(t->feat[f].hook), "%s", hook);
	t->feat[f].why[0] = '\0';
}

static void feature_off(struct pw_tracker *t, enum pw_feature f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void feature_off(struct pw_tracker *t, enum pw_feature f, const char *fmt, ...)
{
	va_list ap;

	t->feat[f].hook[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(t->feat[f].why, sizeof(t->feat[f].why), fmt, ap);
	va_end(ap);
}

/* Why fentry cannot stand in for a missing tracepoint. */
static const char *no_fentry(const struct pw_kernel *k)
{
	return k->fentry ? "its function is not in the kernel's BTF" : k->fentry_why;
}

/* The best hook for one feature: the tracepoint if the kernel has it, else
 * fentry/fexit on the function it sits in. Loads the program chosen and
 * leaves the other out. Returns which, or NULL. */
static const char *pick(struct pw_tracker *t, bool raw, const char *tp, struct bpf_program *tp_prog,
			const char *fn, struct bpf_program *fn_prog)
{
	struct bpf_program *use = NULL;

	if (!raw && tp && pw_kernel__tp(&t->kernel, tp))
		use = tp_prog;
	else if (!raw && fn && pw_kernel__fentry(&t->kernel, fn))
		use = fn_prog;
	if (tp_prog)
		bpf_program__set_autoload(tp_prog, use == tp_prog);
	if (fn_prog)
		bpf_program__set_autoload(fn_prog, use == fn_prog);
	return use ? bpf_program__section_name(use) : NULL;
}

/* A feature only a tracepoint gives: on with it, else off saying why. */
static const char *tp_only(struct pw_tracker *t, bool raw, enum pw_feature f, const char *tp,
			   struct bpf_program *prog)
{
	const char *hook = pick(t, raw, tp, prog, NULL, NULL);

	if (hook)
		feature_on(t, f, hook);
	else if (raw)
		feature_off(t, f, "needs the BTF tracepoints");
	else
		feature_off(t, f, "kernel lacks the tracepoint %s", tp);
	return hook;
}

/* Picks the programs to load, per feature. raw: the BTF state hook is
 * missing or refused, so the state hooks load raw and no other BTF hook
 * does. Records for each feature the hook in use or why it is off. */
static int choose_hooks(struct pw_tracker *t, bool raw)
{
	struct track_bpf *skel = t->skel;
	const struct pw_kernel *k = &t->kernel;
	const char *send, *data, *hook;
	bool hash = raw || !k->sk_storage, accept = true;
	struct bpf_program *prog;

	/* Raw tracepoints and the state and destroy hooks. */
	bpf_object__for_each_program(prog, skel->obj)
	{
		if (!strncmp(bpf_program__section_name(prog), "raw_tracepoint/", 15))
			bpf_program__set_autoload(prog, raw);
	}
	bpf_program__set_autoload(skel->progs.on_state, !raw);
	feature_on(t, PW_FEAT_STATES,
		   raw ? "raw_tracepoint/inet_sock_set_state" : "tp_btf/inet_sock_set_state");
	skel->rodata->pw_sk_hash = hash;
	if (hash)
		feature_on(t, PW_FEAT_SK_STATE, "hash map by socket address");
	else
		feature_on(t, PW_FEAT_SK_STATE, "socket storage");
	if (hash && !raw)
		snprintf(t->feat[PW_FEAT_SK_STATE].why, sizeof(t->feat[0].why),
			 "socket storage from tracing needs Linux 5.11");

	hook = pick(t, raw, "tcp_destroy_sock", skel->progs.on_destroy, NULL, NULL);
	if (raw && pw_kernel__tp(k, "tcp_destroy_sock"))
		hook = "raw_tracepoint/tcp_destroy_sock";
	bpf_program__set_autoload(skel->progs.on_destroy_raw, raw && hook);
	skel->rodata->pw_destroy_hook = hook != NULL;
	if (hook)
		feature_on(t, PW_FEAT_DESTROY, hook);
	else
		feature_off(t, PW_FEAT_DESTROY,
			    "kernel lacks the tracepoint tcp_destroy_sock: missed closes are "
			    "repaired by the sync pass only");

	/* Owners: the file-table pass, by file or by socket inode. */
	bpf_program__set_autoload(skel->progs.seed_owners, k->sock_from_file);
	bpf_program__set_autoload(skel->progs.seed_owners_ino, !k->sock_from_file);
	feature_on(t, PW_FEAT_OWNERS,
		   k->sock_from_file
			   ? "iter/task_file with bpf_sock_from_file"
			   : "/proc/PID/fd socket inodes (bpf_sock_from_file needs 5.11)");

	/* Sends: owners at first send, and half of request latency. */
	send = pick(t, raw, "tcp_sendmsg_locked", skel->progs.on_send_locked, NULL, NULL);
	bpf_program__set_autoload(skel->progs.on_send, false);
	bpf_program__set_autoload(skel->progs.on_send_fexit, false);
	if (!send)
		send = pick(t, raw, "sock_send_length", skel->progs.on_send, "tcp_sendmsg",
			    skel->progs.on_send_fexit);
	if (send)
		feature_on(t, PW_FEAT_CLAIM, send);
	else if (raw)
		feature_off(t, PW_FEAT_CLAIM, "needs the BTF tracepoints");
	else
		feature_off(t, PW_FEAT_CLAIM,
			    "kernel lacks the tracepoints tcp_sendmsg_locked and sock_send_length "
			    "(Linux 6.3+), and fentry: %s",
			    no_fentry(k));

	data = pick(t, raw, "sk_data_ready", skel->progs.on_data, "tcp_data_ready",
		    skel->progs.on_data_fentry);
	if (send && data) {
		char both[sizeof(t->feat[0].hook)];

		snprintf(both, sizeof(both), "%s + %s", data, send);
		feature_on(t, PW_FEAT_LATENCY, both);
	} else if (raw) {
		feature_off(t, PW_FEAT_LATENCY, "needs the BTF tracepoints");
	} else {
		feature_off(t, PW_FEAT_LATENCY,
			    "kernel lacks the tracepoints sk_data_ready and tcp_sendmsg_locked or "
			    "sock_send_length (Linux 6.3+), and fentry: %s",
			    no_fentry(k));
	}
	t->latency = send && data;
	bpf_program__set_autoload(skel->progs.on_data,
				  t->latency && t->want_latency &&
					  bpf_program__autoload(skel->progs.on_data));
	bpf_program__set_autoload(skel->progs.on_data_fentry,
				  t->latency && t->want_latency &&
					  bpf_program__autoload(skel->progs.on_data_fentry));
	skel->rodata->pw_latency = t->latency && t->want_latency;

	/* Resets. Before 6.10 tcp_send_reset fires only for a socket's own
	 * resets; the kernel's answers for closed ports need fentry or a
	 * kprobe. */
	tp_only(t, raw, PW_FEAT_RESETS_RECEIVED, "tcp_receive_reset",
		skel->progs.on_reset_received);
	hook = tp_only(t, raw, PW_FEAT_RESETS_SENT, "tcp_send_reset", skel->progs.on_reset_sent);
	bpf_program__set_autoload(skel->progs.on_reset_v4, false);
	bpf_program__set_autoload(skel->progs.on_reset_v6, false);
	bpf_program__set_autoload(skel->progs.on_reset_v4_kprobe, false);
	bpf_program__set_autoload(skel->progs.on_reset_v6_kprobe, false);
	if (hook && pw_kernel__tp_args(k, "tcp_send_reset") >= 4) {
		/* (ctx, sk, skb, reason): the 6.10 tracepoint, in
		 * tcp_v4_send_reset() itself. */
		feature_on(t, PW_FEAT_RESETS_CLOSED, hook);
	} else if (!raw && pw_kernel__fentry(k, "tcp_v4_send_reset")) {
		bpf_program__set_autoload(skel->progs.on_reset_v4, true);
		bpf_program__set_autoload(skel->progs.on_reset_v6,
					  pw_kernel__fentry(k, "tcp_v6_send_reset"));
		feature_on(t, PW_FEAT_RESETS_CLOSED,
			   pw_kernel__fentry(k, "tcp_v6_send_reset")
				   ? "fentry/tcp_v4_send_reset + fentry/tcp_v6_send_reset"
				   : "fentry/tcp_v4_send_reset (IPv4 only)");
	} else if (!raw && pw_kernel__kprobe(k, "tcp_v4_send_reset")) {
		/* Attached by hand (attach_optional()): a kprobe the kernel
		 * refuses costs this feature only. */
		bpf_program__set_autoload(skel->progs.on_reset_v4_kprobe, true);
		bpf_program__set_autoload(skel->progs.on_reset_v6_kprobe,
					  pw_kernel__kprobe(k, "tcp_v6_send_reset"));
		feature_on(t, PW_FEAT_RESETS_CLOSED,
			   pw_kernel__kprobe(k, "tcp_v6_send_reset")
				   ? "kprobe/tcp_v4_send_reset + kprobe/tcp_v6_send_reset"
				   : "kprobe/tcp_v4_send_reset (IPv4 only)");
	} else if (raw) {
		feature_off(t, PW_FEAT_RESETS_CLOSED, "needs the BTF tracepoints");
	} else {
		feature_off(t, PW_FEAT_RESETS_CLOSED,
			    "tcp_send_reset covers them from Linux 6.10; before, fentry or a "
			    "kprobe on tcp_v4_send_reset is needed (fentry: %s; kprobes: %s)",
			    no_fentry(k), k->kprobe ? "no such function" : "none in this kernel");
	}

	tp_only(t, raw, PW_FEAT_RETRANSMITS, "tcp_retransmit_skb", skel->progs.on_retransmit);

	/* Accept-queue waits: syscall exits, x86-64 only. */
	if (!skel->rodata->pw_accept_supported) {
		feature_off(t, PW_FEAT_ACCEPT_WAIT, "measured on x86-64 only");
		accept = false;
	} else if (!pw_kernel__tp(k, "sys_exit")) {
		feature_off(t, PW_FEAT_ACCEPT_WAIT, "kernel lacks the tracepoint sys_exit");
		accept = false;
	} else {
		feature_on(t, PW_FEAT_ACCEPT_WAIT,
			   raw ? "raw_tracepoint/sys_exit" : "tp_btf/sys_exit");
	}
	accept = accept && t->want_accept;
	skel->rodata->pw_accept_wait = accept;
	bpf_program__set_autoload(skel->progs.on_sys_exit, accept && !raw);
	bpf_program__set_autoload(skel->progs.on_sys_exit_raw, accept && raw);
	return 0;
}

/* One line for each feature asked for that this kernel cannot give. */
static void warn_lost(const struct pw_tracker *t)
{
	static const enum pw_feature always[] = { PW_FEAT_DESTROY, PW_FEAT_RESETS_RECEIVED,
						  PW_FEAT_RESETS_SENT, PW_FEAT_RESETS_CLOSED,
						  PW_FEAT_RETRANSMITS };
	size_t i;

	for (i = 0; i < sizeof(always) / sizeof(always[0]) && !t->raw; i++)
		if (!t->feat[always[i]].hook[0] &&
		    (always[i] != PW_FEAT_RESETS_CLOSED || t->feat[PW_FEAT_RESETS_SENT].hook[0]))
			pw_warn("no %s: %s", feature_names[always[i]], t->feat[always[i]].why);
	if (t->want_latency && !t->feat[PW_FEAT_LATENCY].hook[0])
		pw_warn("no request latency: %s", t->feat[PW_FEAT_LATENCY].why);
	if (t->want_accept && !t->feat[PW_FEAT_ACCEPT_WAIT].hook[0])
		pw_warn("no accept-queue wait: %s", t->feat[PW_FEAT_ACCEPT_WAIT].why);
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct pw_tracker *t = ctx;

	if (len < sizeof(struct pw_event) || !t->fn)
		return 0;
	return t->fn(t->fn_ctx, data);
}

/* The kprobes, attached one by one: a kernel may refuse one (a function it
 * does not allow probing) and that costs only its feature. */
static void attach_optional(struct pw_tracker *t)
{
	struct bpf_program *progs[] = { t->skel->progs.on_reset_v4_kprobe,
					t->skel->progs.on_reset_v6_kprobe };
	size_t i;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (bpf_program__fd(progs[i]) < 0)
			continue;
		t->links[i] = bpf_program__attach(progs[i]);
		if (t->links[i])
			continue;
		feature_off(t, PW_FEAT_RESETS_CLOSED, "kernel refused %s: %s",
			    bpf_program__section_name(progs[i]), strerror(errno));
		bpf_link__destroy(t->links[0]);
		t->links[0] = NULL;
		return;
	}
}

/* Rows the per-port maps may hold: enough for thousands of ports in each
 * direction, within PW_ROW_BUDGET of memory for a per-CPU map whose every
 * row is in use (entries are allocated as rows appear, and idle rows are
 * pruned). A power of two from 4,096 to 65,536. */
#define PW_ROW_BUDGET (128u << 20)

static __u32 row_capacity(const struct pw_tracker *t, struct bpf_map *map)
{
	size_t per_row = bpf_map__value_size(map);
	__u32 rows = 65536;

	if (bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH)
		per_row *= (size_t)t->ncpus;
	while (rows > 4096 && (size_t)rows * per_row > PW_ROW_BUDGET)
		rows /= 2;
	return rows;
}

static int size_row_maps(struct pw_tracker *t)
{
	struct bpf_map *maps[] = { t->skel->maps.stats,		  t->skel->maps.cw_hist,
				   t->skel->maps.latency,	  t->skel->maps.response,
				   t->skel->maps.connect_latency, t->skel->maps.accept_wait };
	size_t i;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (bpf_map__set_max_entries(maps[i], row_capacity(t, maps[i])))
			return libbpf_err("size per-port maps");
	return 0;
}

/* Opens, configures, loads and (unless probing) attaches the programs. */
static int open_and_load(struct pw_tracker *t, const struct pw_tracker_opts *opts, bool raw)
{
	struct pw_port_range eph = pw_local_port_range(false);
	__u32 hz, rb_bytes;
	int err;

	t->raw = raw;
	t->skel = track_bpf__open();
	if (!t->skel)
		return libbpf_err("open BPF tracker");
	hz = pw_kernel_hz();
	t->skel->rodata->pw_netns = t->all_netns ? 0 : t->netns;
	t->skel->rodata->pw_eph_lo = eph.lo;
	t->skel->rodata->pw_eph_hi = eph.hi;
	t->skel->rodata->pw_ns_per_jiffy = hz ? PW_NSEC_PER_SEC / hz : 4000000;
	t->skel->rodata->pw_slow_ns = opts ? opts->slow_ns : 0;
#ifdef PW_TEST_SWITCHES
	/* The test build only: state changes the kernel side ignores, to
	 * prove the sync pass repairs them. */
	if (getenv("PORTWATCH_TEST_SKIP_EVERY"))
		t->skel->rodata->pw_test_skip_every =
			(__u32)strtoul(getenv("PORTWATCH_TEST_SKIP_EVERY"), NULL, 10);
#endif
	/* No events read: the smallest ring, never written. */
	rb_bytes = opts && opts->events ? opts->ringbuf_bytes : (__u32)sysconf(_SC_PAGESIZE);
	if (rb_bytes && bpf_map__set_max_entries(t->skel->maps.events, rb_bytes))
		return libbpf_err("size ring buffer");
	err = size_row_maps(t);
	if (err)
		return err;
	t->skel->rodata->pw_emit = opts ? opts->events : 0;
	t->skel->rodata->pw_wake_bytes = bpf_map__max_entries(t->skel->maps.events) / 4;
	err = choose_hooks(t, raw);
	if (err)
		return err;
	bpf_program__set_autoattach(t->skel->progs.sync, false);
	bpf_program__set_autoattach(t->skel->progs.seed_owners, false);
	bpf_program__set_autoattach(t->skel->progs.seed_owners_ino, false);
	bpf_program__set_autoattach(t->skel->progs.count_mini, false);
	bpf_program__set_autoattach(t->skel->progs.on_reset_v4_kprobe, false);
	bpf_program__set_autoattach(t->skel->progs.on_reset_v6_kprobe, false);
	if (track_bpf__load(t->skel))
		return raw ? libbpf_err(pw_verbose() ? "load BPF tracker"
						     : "load BPF tracker (run with -v for the "
						       "verifier log)")
			   : -errno;
	if (opts && opts->probe_only)
		return 0;
	/* Attach before seeding: a socket that changes state in between is
	 * seen by the tracepoint, and the seeding pass then leaves it alone. */
	if (track_bpf__attach(t->skel))
		return raw ? libbpf_err("attach tracepoints") : -errno;
	attach_optional(t);
	return 0;
}

struct pw_tracker *pw_tracker__new(const struct pw_tracker_opts *opts)
{
	struct pw_tracker *t;
	struct stat st;
	char why[128];
	bool raw;
	int err;

	t = calloc(1, sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0 || stat("/proc/self/ns/net", &st)) {
		err = -EINVAL;
		pw_err("read CPU count or network namespace");
		goto fail;
	}
	t->netns = (__u32)st.st_ino;
	t->all_netns = opts && opts->all_netns;
	t->want_latency = opts && opts->latency;
	t->want_accept = opts && opts->accept_wait;
	t->forget_ns = opts && opts->forget_ns ? opts->forget_ns : 600 * PW_NSEC_PER_SEC;
	if (opts && opts->pins)
		t->pins = *opts->pins;
	/* Lookup buffer for per-CPU values: the biggest is pw_lat. */
	t->percpu = calloc((size_t)t->ncpus, sizeof(struct pw_lat));
	t->lsn_written = calloc(1, sizeof(*t->lsn_written));
	if (!t->percpu || !t->lsn_written) {
		err = -ENOMEM;
		goto fail;
	}
	err = pw_kernel__probe(&t->kernel, true);
	if (err) {
		pw_err("read kernel BTF: %s", strerror(-err));
		goto fail;
	}
	/* The BTF state hook first; if this kernel lacks or refuses it, the
	 * same tracepoint raw. */
	raw = !pw_kernel__tp(&t->kernel, "inet_sock_set_state");
	if (raw)
		pw_warn("kernel has no BTF tracepoint inet_sock_set_state: using it raw; no owners "
			"on first send or receive, no reset counts");
	for (;;) {
		err = open_and_load(t, opts, raw);
		if (!err)
			break;
		if (raw)
			goto fail;
		libbpf_strerror(err, why, sizeof(why));
		pw_warn("BTF tracepoints refused (%s): using inet_sock_set_state raw; no owners "
			"on first send or receive, no reset counts",
			why);
		track_bpf__destroy(t->skel);
		t->skel = NULL;
		raw = true;
	}
	if (opts && opts->probe_only)
		return t; /* the caller reports the features */
	warn_lost(t);
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_event, t, NULL);
	if (!t->rb) {
		err = libbpf_err("open ring buffer");
		goto fail;
	}
	err = pin_rows(t);
	if (!err)
		err = seed(t);
	if (err)
		goto fail;
	return t;
fail:
	pw_tracker__free(t);
	errno = -err;
	return NULL;
}

const struct pw_feature_state *pw_tracker__features(const struct pw_tracker *t)
{
	return t->feat;
}

const char *pw_feature_name(enum pw_feature f)
{
	return f < PW_FEAT_MAX ? feature_names[f] : "?";
}

const struct pw_kernel *pw_tracker__kernel(const struct pw_tracker *t)
{
	return &t->kernel;
}

const char *pw_feature_id(enum pw_feature f)
{
	return f < PW_FEAT_MAX ? feature_ids[f] : "?";
}

void pw_tracker__free(struct pw_tracker *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	bpf_link__destroy(t->links[0]);
	bpf_link__destroy(t->links[1]);
	track_bpf__destroy(t->skel);
	pw_kernel__free(&t->kernel);
	free(t->percpu);
	free(t->lsn_written);
	free(t->ownerless);
	free(t->seen);
	free(t->lsn);
	free(t->gone);
	free(t->batch_keys);
	free(t->batch_vals);
	free(t);
}

bool pw_tracker__latency(const struct pw_tracker *t)
{
	return t->skel->rodata->pw_latency;
}

bool pw_tracker__accept_wait(const struct pw_tracker *t)
{
	return t->skel->rodata->pw_accept_wait;
}

int pw_tracker__prog_stats(struct pw_tracker *t, pw_prog_stat_fn fn, void *ctx)
{
	struct bpf_prog_info info;
	struct bpf_program *prog;
	char on = '0';
	__u32 len;
	int fd;

	fd = open("/proc/sys/kernel/bpf_stats_enabled", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &on, 1) != 1)
			on = '0';
		close(fd);
	}
	if (on == '0')
		return -ENODATA;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		fd = bpf_program__fd(prog);
		if (fd < 0)
			continue; /* not loaded on this kernel */
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		fn(ctx, bpf_program__name(prog), info.run_time_ns, info.run_cnt);
	}
	return 0;
}

__u32 pw_tracker__netns(const struct pw_tracker *t)
{
	return t->all_netns ? 0 : t->netns;
}

typedef int (*map_entry_fn)(struct pw_tracker *t, const void *key, const void *val, void *ctx);

/* The biggest value map_each() reads: a per-CPU histogram. */
static size_t max_value(const struct pw_tracker *t)
{
	size_t v = (size_t)t->ncpus * sizeof(struct pw_lat);

	return v > sizeof(struct pw_cw_sock) ? v : sizeof(struct pw_cw_sock);
}

/* Every entry of a hash map: fn gets each key and value (per-CPU maps: every
 * CPU's, one after the other). In batches of many entries per system call
 * where the kernel can (5.6+; a daemon reads thousands of rows every
 * second), else one key at a time. Entries deleted meanwhile are skipped. */
static int map_each(struct pw_tracker *t, struct bpf_map *map, map_entry_fn fn, void *ctx)
{
	int fd = bpf_map__fd(map), err = 0;
	size_t ksz = bpf_map__key_size(map), vsz = bpf_map__value_size(map);
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 token[8], next[8], key[8], *prev = NULL;
	bool first = true, percpu;
	__u32 n, i;

	percpu = bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH;
	if (percpu)
		vsz = (size_t)t->ncpus * ((vsz + 7) & ~(size_t)7);
	if (ksz > sizeof(key) || vsz > max_value(t))
		return -EINVAL;
	if (!t->batch_keys && !t->no_batch) {
		t->batch_n = 256;
		t->batch_keys = malloc(t->batch_n * sizeof(key));
		t->batch_vals = malloc(t->batch_n * max_value(t));
		if (!t->batch_keys || !t->batch_vals)
			t->no_batch = true;
	}
	while (!t->no_batch) {
		n = t->batch_n;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, t->batch_keys,
					   t->batch_vals, &n, &opts);
		if (err && errno == ENOSPC && t->batch_n < 65536) {
			/* One hash bucket holds more than a batch: bigger. */
			void *k = realloc(t->batch_keys, 2 * t->batch_n * sizeof(key));
			void *v = k ? realloc(t->batch_vals, 2 * t->batch_n * max_value(t)) : NULL;

			if (k)
				t->batch_keys = k;
			if (!v)
				return -ENOMEM;
			t->batch_vals = v;
			t->batch_n *= 2;
			continue;
		}
		if (err && errno != ENOENT) {
			if (first && (errno == EINVAL || errno == 524 /* ENOTSUPP */ ||
				      errno == EOPNOTSUPP || errno == EPERM)) {
				t->no_batch = true; /* before 5.6: one at a time */
				break;
			}
			return -errno;
		}
		first = false;
		for (i = 0; i < n; i++) {
			int e = fn(t, (char *)t->batch_keys + i * ksz,
				   (char *)t->batch_vals + i * vsz, ctx);

			if (e)
				return e;
		}
		if (err) /* ENOENT: that was the last batch */
			return 0;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, ksz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, t->batch_vals ? t->batch_vals : t->percpu))
			continue; /* deleted meanwhile */
		err = fn(t, key, t->batch_vals ? t->batch_vals : t->percpu, ctx);
		if (err)
			return err;
	}
	return 0;
}

static int add_stats(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	const struct pw_stats *s = val;
	int c, err;

	for (c = 0; c < t->ncpus; c++) {
		err = pw_live_add_stats(ctx, key, &s[c]);
		if (err)
			return err;
	}
	return 0;
}

static int read_stats(struct pw_tracker *t, struct pw_live *l)
{
	return map_each(t, t->skel->maps.stats, add_stats, l);
}

/* Deletes these keys, in one call where the kernel can (5.6+). */
static void delete_keys(struct pw_tracker *t, struct bpf_map *map, const void *keys, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t ksz = bpf_map__key_size(map);
	__u32 i, count = n;

	if (!n || (!t->no_batch && !bpf_map_delete_batch(bpf_map__fd(map), keys, &count, &opts)))
		return;
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(bpf_map__fd(map), (const char *)keys + i * ksz);
}

/* Keys read from a map by a pass, to delete after it. */
struct key_list {
	void *keys;
	__u32 n, cap;
	size_t size;
};

static int key_list_add(struct key_list *k, const void *key)
{
	void *more;

	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 256;
		more = realloc(k->keys, k->cap * k->size);
		if (!more)
			return -ENOMEM;
		k->keys = more;
	}
	memcpy((char *)k->keys + k->n++ * k->size, key, k->size);
	return 0;
}

/* What the counting pass found: entries of this pass into rows, the
 * others (found by no pass since) to delete. */
struct mini_ctx {
	struct pw_live *l;
	__u32 pass;
	struct key_list stale;
};

static int add_mini(struct pw_tracker *t, const void *k, const void *val, void *ctx)
{
	const struct pw_mini_key *key = k;
	struct mini_ctx *x = ctx;
	struct pw_live_row *row;
	struct pw_mini_val v;

	(void)t;
	memcpy(&v, val, sizeof(v));
	if (v.pass != x->pass)
		return key_list_add(&x->stale, key);
	if (key->state < PW_STATE_SLOTS) {
		row = pw_live_row(x->l, &key->key);
		if (!row)
			return -ENOMEM;
		row->states[key->state] += (__s64)v.count;
	}
	return 0;
}

/* A listener: the fullest queue into its row now, its drops kept for
 * read_listeners(). */
static int add_listener(struct pw_tracker *t, const void *k, const void *val, void *ctx)
{
	struct mini_ctx *x = ctx;
	struct pw_live_row *row;
	struct pw_listener v;
	struct pw_lsn *more;
	__u64 id;

	memcpy(&v, val, sizeof(v));
	memcpy(&id, k, sizeof(id));
	if (v.pass != x->pass)
		return key_list_add(&x->stale, k);
	row = pw_live_row(x->l, &v.key);
	if (!row)
		return -ENOMEM;
	pw_live_add_listener(row, v.backlog, v.max_backlog);
	if (t->n_lsn_now == t->cap_lsn_now) {
		t->cap_lsn_now = t->cap_lsn_now ? 2 * t->cap_lsn_now : 64;
		more = realloc(t->lsn_now, t->cap_lsn_now * sizeof(*more));
		if (!more)
			return -ENOMEM;
		t->lsn_now = more;
	}
	t->lsn_now[t->n_lsn_now++] = (struct pw_lsn){ id, v.key, v.drops };
	return 0;
}

/* The counting pass in one namespace, classifying by its listening ports. */
static int mini_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	size_t n;
	int err;

	err = listening_from_rows(t, arg, netns);
	if (!err)
		err = pw_run_iter(t->skel->progs.count_mini, 0, NULL, &n);
	return err;
}

/* Minisockets and listeners: one counting pass (in every namespace
 * tracked), its entries added to the rows, and only the entries no pass
 * finds any more deleted. */
static int read_mini(struct pw_tracker *t, struct pw_live *l)
{
	struct mini_ctx x = { .l = l, .stale = { .size = sizeof(struct pw_mini_key) } };
	int err;

	x.pass = ++t->skel->bss->pw_pass;
	err = for_each_netns(t, mini_netns, l);
	if (!err)
		err = map_each(t, t->skel->maps.mini, add_mini, &x);
	delete_keys(t, t->skel->maps.mini, x.stale.keys, x.stale.n);
	free(x.stale.keys);
	x.stale = (struct key_list){ .size = sizeof(__u64) };
	if (!err)
		err = map_each(t, t->skel->maps.listeners, add_listener, &x);
	delete_keys(t, t->skel->maps.listeners, x.stale.keys, x.stale.n);
	free(x.stale.keys);
	return err;
}

static int cmp_lsn(const void *a, const void *b)
{
	__u64 x = ((const struct pw_lsn *)a)->id, y = ((const struct pw_lsn *)b)->id;

	return x < y ? -1 : x > y;
}

/* Adds drops of a listener gone to its row's total. */
static int drops_gone(struct pw_tracker *t, const struct pw_key *key, __u64 drops)
{
	struct pw_gone_drops *g;
	size_t i;

	if (!drops)
		return 0;
	for (i = 0; i < t->n_gone; i++)
		if (!memcmp(&t->gone[i].key, key, sizeof(*key))) {
			t->gone[i].drops += drops;
			return 0;
		}
	g = realloc(t->gone, (t->n_gone + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	t->gone = g;
	t->gone[t->n_gone++] = (struct pw_gone_drops){ *key, drops };
	return 0;
}

/* The listeners the counting pass found (every namespace's, collected by
 * read_mini()) into their rows: the fullest queue, and drops summed with
 * those of listeners gone since the last read, so the total never goes
 * back when a listener closes (a new socket at the same address starts
 * below where the old one ended). */
static int read_listeners(struct pw_tracker *t, struct pw_live *l, struct pw_lsn *now, size_t n)
{
	struct pw_live_row *row;
	struct pw_lsn *old;
	size_t i;
	int err = 0;

	if (n) /* now is NULL without listeners: no qsort or bsearch on it */
		qsort(now, n, sizeof(*now), cmp_lsn);
	for (i = 0; !err && i < t->n_lsn; i++) {
		old = n ? bsearch(&t->lsn[i], now, n, sizeof(*now), cmp_lsn) : NULL;
		if (!old || old->drops < t->lsn[i].drops ||
		    memcmp(&old->key, &t->lsn[i].key, sizeof(old->key)))
			err = drops_gone(t, &t->lsn[i].key, t->lsn[i].drops);
	}
	for (i = 0; !err && i < n; i++) {
		row = pw_live_row(l, &now[i].key);
		if (row)
			row->listen_drops += now[i].drops;
		else
			err = -ENOMEM;
	}
	for (i = 0; !err && i < t->n_gone; i++) {
		row = pw_live_row(l, &t->gone[i].key);
		if (row)
			row->listen_drops += t->gone[i].drops;
		else
			err = -ENOMEM;
	}
	free(t->lsn);
	t->lsn = now;
	t->n_lsn = n;
	return err;
}

struct lat_ctx {
	struct pw_live *l;
	enum pw_hist_kind kind;
};

static int add_lat(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	const struct lat_ctx *x = ctx;
	const struct pw_lat *v = val;
	struct pw_live_row *row = pw_live_row(x->l, key);
	struct pw_lat *h = row ? pw_live_hist(x->l, row, x->kind) : NULL;
	int c;

	if (!h)
		return -ENOMEM;
	for (c = 0; c < t->ncpus; c++)
		pw_lat_add(h, &v[c]);
	return 0;
}

/* A per-CPU histogram map into each row's histogram of that kind. */
static int read_lat_map(struct pw_tracker *t, struct bpf_map *map, enum pw_hist_kind kind,
			struct pw_live *l)
{
	struct lat_ctx x = { l, kind };

	return map_each(t, map, add_lat, &x);
}

static int add_cw_hist(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	struct pw_live_row *row = pw_live_row(ctx, key);
	struct pw_lat *h = row ? pw_live_hist(ctx, row, PW_H_CW) : NULL;
	struct pw_cw_hist v;

	(void)t;
	if (!h)
		return -ENOMEM;
	memcpy(&v, val, sizeof(v));
	h->count = v.count;
	h->sum_ns = v.sum_ns;
	memcpy(h->bucket, v.bucket, sizeof(h->bucket));
	return 0;
}

static int read_cw_hist(struct pw_tracker *t, struct pw_live *l)
{
	return map_each(t, t->skel->maps.cw_hist, add_cw_hist, l);
}

/* CLOSE_WAIT sockets into their rows; those without an owner into
 * ownerless (their cookies, sorted). */
struct cw_ctx {
	struct pw_live *l;
	struct key_list ownerless;
};

static int add_close_wait(struct pw_tracker *t, const void *key, const void *val, void *ctx)
{
	struct cw_ctx *x = ctx;
	struct pw_cw_sock c;
	int err;

	(void)t;
	memcpy(&c, val, sizeof(c));
	if (!c.pid && (err = key_list_add(&x->ownerless, key)))
		return err;
	return pw_live_add_cw(x->l, &c);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static int read_close_wait(struct pw_tracker *t, struct pw_live *l, struct cw_ctx *x)
{
	int err;

	free(x->ownerless.keys);
	*x = (struct cw_ctx){ .l = l, .ownerless = { .size = sizeof(__u64) } };
	err = map_each(t, t->skel->maps.close_wait, add_close_wait, x);
	if (x->ownerless.n)
		qsort(x->ownerless.keys, x->ownerless.n, sizeof(__u64), cmp_u64);
	return err;
}

/* Walking every file table for owners is the dearest part of a read: done
 * when a CLOSE_WAIT socket without one is new since the last walk, or the
 * last is OWNER_WALK_NS old. */
static bool owner_walk_due(const struct pw_tracker *t, const struct key_list *ownerless, __u64 now)
{
	const __u64 *k = ownerless->keys;
	__u32 i;

	if (!ownerless->n)
		return false;
	if (now - t->owner_walk_ns >= OWNER_WALK_NS)
		return true;
	for (i = 0; i < ownerless->n; i++)
		if (!t->n_ownerless ||
		    !bsearch(&k[i], t->ownerless, t->n_ownerless, sizeof(__u64), cmp_u64))
			return true;
	return false;
}

/* Owners of CLOSE_WAIT sockets stuck before any task touched them (accepted,
 * never read): whoever has them in a file table. */
static int walk_owners(struct pw_tracker *t, struct pw_live *l, struct cw_ctx *x)
{
	size_t i;
	int err;

	if (!owner_walk_due(t, &x->ownerless, l->ts_ns))
		return 0;
	err = seed_owners(t);
	for (i = 0; !err && i < l->n; i++) {
		l->rows[i].cw_oldest_since_ns = 0;
		l->rows[i].cw_oldest_pid = 0;
	}
	if (!err)
		err = read_close_wait(t, l, x);
	if (err)
		return err;
	/* What is left has no holder: remember it, not to walk again for it. */
	free(t->ownerless);
	t->ownerless = x->ownerless.keys;
	t->n_ownerless = x->ownerless.n;
	x->ownerless = (struct key_list){ 0 };
	t->owner_walk_ns = l->ts_ns;
	return 0;
}

/* Runs of the state hook the kernel skipped (it does not nest a tracing
 * program on one CPU): each is a state change the gauges missed. */
static __u64 state_misses(struct pw_tracker *t)
{
	struct bpf_program *progs[] = { t->skel->progs.on_state, t->skel->progs.on_state_raw };
	struct bpf_prog_info info;
	__u64 n = 0;
	__u32 len;
	size_t i;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (bpf_program__fd(progs[i]) < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len))
			n += info.recursion_misses;
	}
	return n;
}

/* Sockets a hook left uncounted: no row could be made (the map full, or
 * its allocator empty for a moment in a burst of new rows) or no
 * per-socket state. The sync pass, in process context, counts them. */
static __u64 uncounted(struct pw_tracker *t)
{
	__u32 reasons[] = { PW_DROP_STATS, PW_DROP_SK_STORAGE };
	int fd = bpf_map__fd(t->skel->maps.drops), c;
	__u64 *v = t->percpu, n = 0;
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (bpf_map_lookup_elem(fd, &reasons[i], v))
			continue;
		for (c = 0; c < t->ncpus; c++)
			n += v[c];
	}
	return n;
}

static int reconcile_netns(struct pw_tracker *t, __u32 netns, void *arg);

int pw_tracker__update(struct pw_tracker *t, const struct pw_portset *pins, __u64 forget_ns)
{
	size_t i;

	t->forget_ns = forget_ns ? forget_ns : 600 * PW_NSEC_PER_SEC;
	for (i = 0; i < sizeof(t->pins.bits) / sizeof(t->pins.bits[0]); i++)
		t->pins.bits[i] |= pins->bits[i];
	return pin_rows(t);
}

/* Rows made at start for the pinned ports (see pw_tracker_opts.pins). */
static int pin_rows(struct pw_tracker *t)
{
	struct pw_key k = { .netns = t->netns, .dir = PW_DIR_OUTBOUND };
	int fd = bpf_map__fd(t->skel->maps.stats);
	unsigned int port;

	memset(t->percpu, 0, (size_t)t->ncpus * sizeof(struct pw_stats));
	for (port = 1; port < 65536; port++) {
		if (!pw_portset_has(&t->pins, port))
			continue;
		k.port = port;
		if (bpf_map_update_elem(fd, &k, t->percpu, BPF_NOEXIST) && errno != EEXIST)
			return libbpf_err("make a pinned row");
	}
	return 0;
}

static __u64 key_bits(const struct pw_key *k)
{
	__u64 v;

	memcpy(&v, k, sizeof(v));
	return v;
}

static int cmp_seen(const void *a, const void *b)
{
	__u64 x = ((const struct pw_seen *)a)->key, y = ((const struct pw_seen *)b)->key;

	return x < y ? -1 : x > y;
}

static bool row_busy(const struct pw_live_row *r)
{
	int i;

	for (i = 0; i < PW_STATE_SLOTS; i++)
		if (r->states[i])
			return true;
	return false;
}

/* Forgets one row in the kernel. Its stats are taken and deleted in one
 * step where the kernel can (5.14), and put back if a socket came to it in
 * between (that socket would otherwise be lost from the gauges). */
static void forget_row(struct pw_tracker *t, const struct pw_key *key, __u64 sig)
{
	struct bpf_map *maps[] = { t->skel->maps.latency, t->skel->maps.connect_latency,
				   t->skel->maps.accept_wait, t->skel->maps.cw_hist,
				   t->skel->maps.response };
	int fd = bpf_map__fd(t->skel->maps.stats), c, i;
	const struct pw_stats *s = t->percpu;
	__u64 now_sig = 0;
	bool busy = false;

	/* sig: the row's counters when it was found idle. */

	if (bpf_map_lookup_and_delete_elem(fd, key, t->percpu)) {
		if (errno == ENOENT || bpf_map_lookup_elem(fd, key, t->percpu) ||
		    bpf_map_delete_elem(fd, key))
			return;
	}
	/* Per-CPU gauges are deltas: only their sum says a socket is there. */
	for (i = 0; i < PW_STATE_SLOTS; i++) {
		__s64 sum = 0;

		for (c = 0; c < t->ncpus; c++)
			sum += s[c].gauge[i];
		busy |= sum != 0;
	}
	for (c = 0; c < t->ncpus; c++)
		now_sig += pw_live_counters_sum(s[c].counter);
	if (busy || now_sig > sig) {
		if (bpf_map_update_elem(fd, key, t->percpu, BPF_NOEXIST))
			t->prune_lost++;
		return;
	}
	for (i = 0; i < (int)(sizeof(maps) / sizeof(maps[0])); i++)
		bpf_map_delete_elem(bpf_map__fd(maps[i]), key);
}

/* Forgets rows with no sockets whose totals have not moved for forget_ns:
 * the kernel's maps hold what is live, whatever came and went before. */
static int prune(struct pw_tracker *t, const struct pw_live *l)
{
	struct pw_seen *seen = calloc(l->n ? l->n : 1, sizeof(*seen)), *old;
	size_t i, n = 0;

	if (!seen)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *r = &l->rows[i];
		struct pw_seen me = { key_bits(&r->key), pw_live_row_total(r), l->ts_ns };

		old = t->seen ? bsearch(&me, t->seen, t->n_seen, sizeof(me), cmp_seen) : NULL;
		if (old && old->sig == me.sig && !row_busy(r))
			me.since_ns = old->since_ns;
		if (!r->key.port || (r->key.dir == PW_DIR_OUTBOUND && r->key.netns == t->netns &&
				     pw_portset_has(&t->pins, r->key.port)))
			me.since_ns = l->ts_ns; /* never forgotten */
		if (l->ts_ns - me.since_ns >= t->forget_ns) {
			forget_row(t, &r->key, pw_live_counters_sum(r->counter));
			continue;
		}
		seen[n++] = me;
	}
	qsort(seen, n, sizeof(*seen), cmp_seen);
	free(t->seen);
	t->seen = seen;
	t->n_seen = n;
	return 0;
}

int pw_tracker__read(struct pw_tracker *t, struct pw_live *l)
{
	struct cw_ctx cw = {};
	int err;

	__u64 misses;

	pw_live_reset(l);
	l->ts_ns = pw_mono_ns();
	err = read_stats(t, l);
	misses = err ? 0 : state_misses(t) + uncounted(t);
	if (misses > t->state_misses) {
		/* State changes were missed, or sockets left uncounted, since
		 * the last repair: the sync pass recounts every socket now
		 * (each repair is counted), so no read shows gauges off until
		 * the next --reconcile. */
		t->state_misses = misses;
		err = for_each_netns(t, reconcile_netns, l);
		pw_live_reset(l);
		l->ts_ns = pw_mono_ns();
		if (!err)
			err = read_stats(t, l);
	}
	t->lsn_now = NULL;
	t->n_lsn_now = 0;
	t->cap_lsn_now = 0;
	if (!err)
		err = read_mini(t, l);
	if (!err) {
		err = read_listeners(t, l, t->lsn_now, t->n_lsn_now);
		t->lsn_now = NULL;
	}
	free(t->lsn_now);
	if (!err)
		err = read_cw_hist(t, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.latency, PW_H_LAT, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.connect_latency, PW_H_CONNECT, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.accept_wait, PW_H_ACCEPT, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.response, PW_H_RESP, l);
	if (!err)
		err = read_close_wait(t, l, &cw);
	if (!err)
		err = walk_owners(t, l, &cw);
	free(cw.ownerless.keys);
	if (!err)
		err = prune(t, l);
	if (err)
		pw_err("read tracker maps: %s", strerror(-err));
	pw_live_sort(l);
	return err;
}

static int sum_percpu_array(struct pw_tracker *t, struct bpf_map *map, __u64 *out, __u32 n)
{
	int fd = bpf_map__fd(map), c;
	__u64 *v = t->percpu; /* big enough: ncpus x sizeof(pw_stats) */
	__u32 r;

	for (r = 0; r < n; r++) {
		out[r] = 0;
		if (bpf_map_lookup_elem(fd, &r, v))
			return -errno;
		for (c = 0; c < t->ncpus; c++)
			out[r] += v[c];
	}
	return 0;
}

int pw_tracker__drops(struct pw_tracker *t, __u64 drops[PW_DROP_MAX])
{
	int err = sum_percpu_array(t, t->skel->maps.drops, drops, PW_DROP_MAX);

	drops[PW_DROP_STATS] += t->prune_lost;
	return err;
}

int pw_tracker__health(struct pw_tracker *t, __u64 fixes[PW_FIX_MAX], __u64 *missed)
{
	struct bpf_prog_info info;
	struct bpf_program *prog;
	__u32 len;
	int err;

	*missed = 0;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		if (!bpf_program__autoattach(prog) || bpf_program__fd(prog) < 0)
			continue; /* iterators never nest; a missing hook never ran */
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			return -errno;
		*missed += info.recursion_misses;
	}
	err = sum_percpu_array(t, t->skel->maps.health, fixes, PW_FIX_MAX);
	return err;
}

static int reconcile_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	size_t n;
	int err;

	err = listening_from_rows(t, arg, netns);
	if (!err)
		err = pw_run_iter(t->skel->progs.sync, 0, NULL, &n);
	return err;
}

int pw_tracker__reconcile(struct pw_tracker *t, const struct pw_live *l)
{
	int err = for_each_netns(t, reconcile_netns, (void *)l);

	if (err)
		pw_err("reconcile gauges: %s", strerror(-err));
	return err;
}

int pw_tracker__resolve_owner(struct pw_tracker *t, __u64 cookie, __u32 *pid, char *comm)
{
	struct pw_cw_sock c;

	if (seed_owners(t) ||
	    bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.close_wait), &cookie, &c) || !c.pid)
		return -ENOENT;
	*pid = c.pid;
	memcpy(comm, c.comm, PW_COMM_LEN);
	comm[PW_COMM_LEN - 1] = '\0';
	return 0;
}

int pw_tracker__poll(struct pw_tracker *t, int timeout_ms, pw_event_fn fn, void *ctx)
{
	int n, more;

	t->fn = fn;
	t->fn_ctx = ctx;
	n = ring_buffer__poll(t->rb, timeout_ms);
	if (n < 0)
		return n;
	/* Woken or not: what the kernel queued without waking us. */
	more = ring_buffer__consume(t->rb);
	return more < 0 ? more : n + more;
}
