// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loads bpf/track.bpf.c, seeds it from the sockets that already exist, and
 * reads its maps into live rows. */
#define _GNU_SOURCE
#include <dirent.h>
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
#include "log.h"
#include "snapshot.h"
#include "track.h"
#include "track.skel.h"

struct pw_tracker {
	struct track_bpf *skel;
	struct ring_buffer *rb;
	pw_event_fn fn;
	void *fn_ctx;
	int ncpus;
	__u32 netns;
	bool all_netns;
	bool latency; /* request latency hooks loaded */
	void *percpu; /* lookup buffer: ncpus stats values */
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static int libbpf_err(const char *what)
{
	char msg[128];
	int err = -errno;

	libbpf_strerror(err, msg, sizeof(msg));
	pw_err("%s: %s", what, msg);
	return err;
}

static int write_listening(struct pw_tracker *t, const __u64 *bits)
{
	__u32 zero = 0;

	if (bpf_map__update_elem(t->skel->maps.listening, &zero, sizeof(zero), bits,
				 sizeof(struct pw_listening), BPF_ANY))
		return libbpf_err("write listening ports");
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
	err = write_listening(t, bits->bits);
	free(bits);
	return err;
}

static int read_stats(struct pw_tracker *t, struct pw_live *l);

/* Runs fn in every namespace tracked: the caller's, or with all_netns each
 * one a process or /run/netns holds. iter/tcp walks only the namespace of
 * the task that reads it, hence setns(). */
static int for_each_netns(struct pw_tracker *t, int (*fn)(struct pw_tracker *, __u32, void *),
			  void *arg)
{
	__u32 seen[1024];
	size_t nseen = 0, i;
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int self, fd, err = 0, pass;
	DIR *d;

	if (!t->all_netns)
		return fn(t, t->netns, arg);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	for (pass = 0; pass < 2 && !err; pass++) {
		d = opendir(pass ? "/run/netns" : "/proc");
		if (!d)
			continue;
		while (!err && (de = readdir(d))) {
			if (pass == 0 && (de->d_name[0] < '0' || de->d_name[0] > '9'))
				continue;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), pass ? "/run/netns/%s" : "/proc/%s/ns/net",
				 de->d_name);
			if (stat(path, &st))
				continue; /* gone meanwhile */
			for (i = 0; i < nseen && seen[i] != (__u32)st.st_ino; i++)
				;
			if (i < nseen || nseen == sizeof(seen) / sizeof(seen[0]))
				continue;
			seen[nseen++] = (__u32)st.st_ino;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (!setns(fd, CLONE_NEWNET))
				err = fn(t, (__u32)st.st_ino, arg);
			close(fd);
		}
		closedir(d);
	}
	if (setns(self, CLONE_NEWNET) && !err)
		err = -errno;
	close(self);
	return err;
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

/* Gives every existing socket its storage, place in the gauges and owner. */
static int seed(struct pw_tracker *t)
{
	size_t n;
	int err;

	t->skel->bss->pw_seeding = true;
	err = for_each_netns(t, sync_netns, NULL);
	t->skel->bss->pw_seeding = false;
	if (!err)
		err = pw_run_iter(t->skel->progs.seed_owners, 0, NULL, &n);
	return err;
}

/* Optional hooks: each tracepoint, and what is lost without it. The send
 * hooks and sk_data_ready are chosen apart (latency needs both). */
static const struct {
	const char *tp;
	const char *lost;
} hooks[] = {
	{ "tcp_send_reset", "counting resets sent" },
	{ "tcp_receive_reset", "counting resets received" },
	{ "tcp_destroy_sock", "repairing missed closes at once; the sync pass still does" },
};

/* Tests name hooks to treat as missing: "sock_send_length,tcp_send_reset". */
static bool hook_present(const struct btf *vmlinux, const char *tp)
{
	const char *fake = getenv("PORTWATCH_TEST_NO_HOOKS");
	char name[64];

	if (fake && strstr(fake, tp))
		return false;
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) > 0;
}

/* Picks the programs to load. raw: use the BTF-less fallback for the state
 * hook (and with it no other BTF hook). Leaves out the programs whose
 * tracepoint this kernel lacks, saying once what each loss costs. */
static int choose_hooks(struct pw_tracker *t, bool raw, bool want_latency, bool want_accept)
{
	bool send_locked, send_length, accept = false;
	struct bpf_program *prog;
	struct btf *vmlinux;
	size_t i;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return libbpf_err("read kernel BTF");
	t->skel->rodata->pw_sk_hash = raw;
	send_locked = !raw && hook_present(vmlinux, "tcp_sendmsg_locked");
	send_length = !raw && !send_locked && hook_present(vmlinux, "sock_send_length");
	t->latency = (send_locked || send_length) && !raw && hook_present(vmlinux, "sk_data_ready");
	bpf_program__set_autoload(t->skel->progs.on_send_locked, send_locked);
	bpf_program__set_autoload(t->skel->progs.on_send, send_length);
	bpf_program__set_autoload(t->skel->progs.on_data, t->latency && want_latency);
	t->skel->rodata->pw_latency = t->latency && want_latency;
	if (want_latency && raw)
		pw_warn("no request latency: it needs the BTF tracepoints");
	else if (want_latency && !t->latency)
		pw_warn("kernel lacks the tracepoints sk_data_ready and tcp_sendmsg_locked or "
			"sock_send_length: no request latency (needs Linux 6.3+)");
	if (want_accept && !t->skel->rodata->pw_accept_supported)
		pw_warn("accept-queue wait is measured on x86-64 only: no accept-queue wait");
	else if (want_accept && !hook_present(vmlinux, "sys_exit"))
		pw_warn("kernel lacks the tracepoint sys_exit: no accept-queue wait");
	else
		accept = want_accept;
	t->skel->rodata->pw_accept_wait = accept;
	bpf_program__set_autoload(t->skel->progs.on_sys_exit, accept && !raw);
	bpf_program__set_autoload(t->skel->progs.on_sys_exit_raw, accept && raw);
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);

		if (!strcmp(sec, "tp_btf/sys_exit") || !strcmp(sec, "raw_tracepoint/sys_exit"))
			continue; /* chosen above */
		if (!strncmp(sec, "raw_tracepoint/", 15)) {
			bpf_program__set_autoload(prog, raw);
			continue;
		}
		if (strncmp(sec, "tp_btf/", 7))
			continue;
		if (raw) {
			bpf_program__set_autoload(prog, false);
			continue;
		}
		for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
			if (strcmp(sec + 7, hooks[i].tp) || hook_present(vmlinux, hooks[i].tp))
				continue;
			bpf_program__set_autoload(prog, false);
			pw_warn("kernel lacks the tracepoint %s: no %s", hooks[i].tp,
				hooks[i].lost);
			if (!strcmp(hooks[i].tp, "tcp_destroy_sock"))
				t->skel->rodata->pw_destroy_hook = false;
		}
	}
	btf__free(vmlinux);
	return 0;
}

static bool btf_state_hook(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool ok = vmlinux && hook_present(vmlinux, "inet_sock_set_state");

	btf__free(vmlinux);
	return ok;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct pw_tracker *t = ctx;

	if (len < sizeof(struct pw_event) || !t->fn)
		return 0;
	return t->fn(t->fn_ctx, data);
}

/* Opens, configures, loads and attaches the tracepoint programs. */
static int open_and_load(struct pw_tracker *t, const struct pw_tracker_opts *opts, bool raw)
{
	struct pw_port_range eph = { 32768, 60999 };
	__u32 hz;
	int err;

	t->skel = track_bpf__open();
	if (!t->skel)
		return libbpf_err("open BPF tracker");
	if (pw_read_port_range(&eph))
		pw_warn("read ip_local_port_range: using %u-%u", eph.lo, eph.hi);
	hz = pw_kernel_hz();
	t->skel->rodata->pw_netns = t->all_netns ? 0 : t->netns;
	t->skel->rodata->pw_eph_lo = eph.lo;
	t->skel->rodata->pw_eph_hi = eph.hi;
	t->skel->rodata->pw_ns_per_jiffy = hz ? 1000000000ULL / hz : 4000000;
	t->skel->rodata->pw_slow_ns = opts ? opts->slow_ns : 0;
	if (getenv("PORTWATCH_TEST_SKIP_EVERY"))
		t->skel->rodata->pw_test_skip_every =
			(__u32)strtoul(getenv("PORTWATCH_TEST_SKIP_EVERY"), NULL, 10);
	if (opts && opts->ringbuf_bytes &&
	    bpf_map__set_max_entries(t->skel->maps.events, opts->ringbuf_bytes))
		return libbpf_err("size ring buffer");
	err = choose_hooks(t, raw, opts && opts->latency, opts && opts->accept_wait);
	if (err)
		return err;
	bpf_program__set_autoattach(t->skel->progs.sync, false);
	bpf_program__set_autoattach(t->skel->progs.seed_owners, false);
	bpf_program__set_autoattach(t->skel->progs.count_mini, false);
	if (track_bpf__load(t->skel))
		return raw ? libbpf_err(pw_verbose() ? "load BPF tracker"
						     : "load BPF tracker (run with -v for the "
						       "verifier log)")
			   : -errno;
	/* Attach before seeding: a socket that changes state in between is
	 * seen by the tracepoint, and the seeding pass then leaves it alone. */
	if (track_bpf__attach(t->skel))
		return raw ? libbpf_err("attach tracepoints") : -errno;
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
	/* Lookup buffer for per-CPU values: the biggest is pw_lat. */
	t->percpu = calloc((size_t)t->ncpus, sizeof(struct pw_lat));
	if (!t->percpu) {
		err = -ENOMEM;
		goto fail;
	}
	/* The BTF state hook first; if this kernel lacks or refuses it, the
	 * same tracepoint raw. */
	raw = !btf_state_hook();
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
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_event, t, NULL);
	if (!t->rb) {
		err = libbpf_err("open ring buffer");
		goto fail;
	}
	err = seed(t);
	if (err)
		goto fail;
	return t;
fail:
	pw_tracker__free(t);
	errno = -err;
	return NULL;
}

void pw_tracker__free(struct pw_tracker *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	track_bpf__destroy(t->skel);
	free(t->percpu);
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

static int read_stats(struct pw_tracker *t, struct pw_live *l)
{
	/* Every CPU's copy, summed. */
	struct pw_key key, next, *prev = NULL;
	const struct pw_stats *s = t->percpu;
	int fd = bpf_map__fd(t->skel->maps.stats), c, err;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, t->percpu))
			continue; /* raced with nothing: entries are never deleted */
		for (c = 0; c < t->ncpus; c++) {
			err = pw_live_add_stats(l, &key, &s[c]);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Minisockets of one namespace: empty the count map, run the counting pass,
 * add the counts. */
static int mini_netns(struct pw_tracker *t, __u32 netns, void *arg)
{
	int fd = bpf_map__fd(t->skel->maps.mini), err;
	struct pw_mini_key key, next;
	struct pw_live *l = arg;
	struct pw_live_row *row;
	size_t n;
	__u64 cnt;

	err = listening_from_rows(t, l, netns);
	if (err)
		return err;
	while (!bpf_map_get_next_key(fd, NULL, &next))
		bpf_map_delete_elem(fd, &next);
	err = pw_run_iter(t->skel->progs.count_mini, 0, NULL, &n);
	if (err)
		return err;
	while (!bpf_map_get_next_key(fd, NULL, &next)) {
		key = next;
		if (!bpf_map_lookup_elem(fd, &key, &cnt) && key.state < PW_STATE_SLOTS) {
			row = pw_live_row(l, &key.key);
			if (!row)
				return -ENOMEM;
			row->states[key.state] += (__s64)cnt;
		}
		bpf_map_delete_elem(fd, &key);
	}
	return 0;
}

/* A per-CPU histogram map into one pw_lat per row, at offset field. */
static int read_lat_map(struct pw_tracker *t, struct bpf_map *map, size_t field, struct pw_live *l)
{
	int fd = bpf_map__fd(map), c;
	struct pw_key key, next, *prev = NULL;
	const struct pw_lat *v = t->percpu;
	struct pw_live_row *row;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, t->percpu))
			continue;
		row = pw_live_row(l, &key);
		if (!row)
			return -ENOMEM;
		for (c = 0; c < t->ncpus; c++)
			pw_lat_add((struct pw_lat *)((char *)row + field), &v[c]);
	}
	return 0;
}

static int read_cw_hist(struct pw_tracker *t, struct pw_live *l)
{
	int fd = bpf_map__fd(t->skel->maps.cw_hist);
	struct pw_key key, next, *prev = NULL;
	struct pw_live_row *row;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		row = pw_live_row(l, &key);
		if (!row)
			return -ENOMEM;
		if (bpf_map_lookup_elem(fd, &key, &row->cw_hist))
			memset(&row->cw_hist, 0, sizeof(row->cw_hist));
	}
	return 0;
}

static int read_close_wait(struct pw_tracker *t, struct pw_live *l, bool *ownerless)
{
	int fd = bpf_map__fd(t->skel->maps.close_wait), err;
	__u64 key, next, *prev = NULL;
	struct pw_cw_sock c;

	*ownerless = false;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &c))
			continue; /* left CLOSE_WAIT meanwhile */
		*ownerless |= !c.pid;
		err = pw_live_add_cw(l, &c);
		if (err)
			return err;
	}
	return 0;
}

int pw_tracker__read(struct pw_tracker *t, struct pw_live *l)
{
	bool ownerless;
	size_t i, n;
	int err;

	pw_live_reset(l);
	l->ts_ns = now_ns();
	err = read_stats(t, l);
	if (!err)
		err = for_each_netns(t, mini_netns, l);
	if (!err)
		err = read_cw_hist(t, l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.latency, offsetof(struct pw_live_row, lat), l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.connect_latency,
				   offsetof(struct pw_live_row, connect), l);
	if (!err)
		err = read_lat_map(t, t->skel->maps.accept_wait,
				   offsetof(struct pw_live_row, accept), l);
	if (!err)
		err = read_close_wait(t, l, &ownerless);
	if (!err && ownerless) {
		/* A socket stuck before any task touched it (accepted, never
		 * read): its holder is whoever has it in a file table. */
		err = pw_run_iter(t->skel->progs.seed_owners, 0, NULL, &n);
		for (i = 0; !err && i < l->n; i++) {
			l->rows[i].cw_oldest_since_ns = 0;
			l->rows[i].cw_oldest_pid = 0;
		}
		if (!err)
			err = read_close_wait(t, l, &ownerless);
	}
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
	return sum_percpu_array(t, t->skel->maps.drops, drops, PW_DROP_MAX);
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
	size_t n;

	if (pw_run_iter(t->skel->progs.seed_owners, 0, NULL, &n) ||
	    bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.close_wait), &cookie, &c) || !c.pid)
		return -ENOENT;
	*pid = c.pid;
	memcpy(comm, c.comm, PW_COMM_LEN);
	comm[PW_COMM_LEN - 1] = '\0';
	return 0;
}

int pw_tracker__poll(struct pw_tracker *t, int timeout_ms, pw_event_fn fn, void *ctx)
{
	t->fn = fn;
	t->fn_ctx = ctx;
	return ring_buffer__poll(t->rb, timeout_ms);
}
