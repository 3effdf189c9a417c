// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The tracker: chooses a hook per feature for this kernel, loads and
 * attaches the programs, seeds them from the sockets that already exist,
 * and repairs the gauges on request. reader.c reads its maps into rows. */
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
#include "core/track_int.h"

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
int track_listening_from_rows(struct pw_tracker *t, const struct pw_live *l, __u32 netns)
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
int track_for_each_netns(struct pw_tracker *t, int (*fn)(struct pw_tracker *, __u32, void *),
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
		err = track_read_stats(t, &l);
	if (!err)
		err = track_listening_from_rows(t, &l, netns);
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
int track_seed_owners(struct pw_tracker *t)
{
	int fd = bpf_map__fd(t->skel->maps.owner_ino), err;
	struct owner_batch b = {};
	size_t n, i;

	if (t->kernel.sock_from_file)
		return pw_run_iter(t->skel->progs.seed_owners, 0, NULL, &n);
	err = pw_procfd_walk("/proc", add_owner, &b);
	if (err && err != -ENOMEM)
		pw_err("read socket holders from /proc: %s", strerror(-err));
	/* The first holder wins, as in the file-table pass: keep it. */
	for (i = 0; !err && i < b.n; i++) {
		if (bpf_map_update_elem(fd, &b.keys[i], &b.vals[i], BPF_NOEXIST) &&
		    errno != EEXIST) {
			err = -errno;
			pw_err("record socket holders: %s", strerror(-err));
		}
	}
	if (!err)
		err = track_for_each_netns(t, owners_netns, NULL);
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
	err = track_for_each_netns(t, sync_netns, NULL);
	t->skel->bss->pw_seeding = false;
	if (!err)
		err = track_seed_owners(t);
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

int track_reconcile_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	size_t n;
	int err;

	err = track_listening_from_rows(t, arg, netns);
	if (!err)
		err = pw_run_iter(t->skel->progs.sync, 0, NULL, &n);
	return err;
}

int pw_tracker__reconcile(struct pw_tracker *t, const struct pw_live *l)
{
	int err = track_for_each_netns(t, track_reconcile_netns, (void *)l);

	/* Every other failure was said where it happened. */
	if (err == -ENOMEM)
		pw_err("reconcile gauges: out of memory");
	return err;
}

int pw_tracker__resolve_owner(struct pw_tracker *t, __u64 cookie, __u32 *pid, char *comm)
{
	struct pw_cw_sock c;

	if (track_seed_owners(t) ||
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
