// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loads the snapshot iterators, reads their records, and normalises them
 * into a pw_snap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "common/clock.h"
#include "common/log.h"
#include "core/kernel.h"
#include "core/netns.h"
#include "core/procfd.h"
#include "core/snapshot.h"
#include "snapshot.skel.h"

/* Reads everything an iterator writes. *buf holds whole records only. */
int pw_run_iter(struct bpf_program *prog, size_t rec_size, void **buf, size_t *nrec)
{
	size_t len = 0, cap = 64 * 1024;
	struct bpf_link *link;
	char *out, *tmp;
	ssize_t n;
	int fd, err = 0;

	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	link = bpf_program__attach_iter(prog, NULL);
	if (!link) {
		err = -errno;
		pw_err("attach iterator %s: %s", bpf_program__name(prog), strerror(-err));
		goto free_buf;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		pw_err("create iterator %s: %s", bpf_program__name(prog), strerror(-err));
		goto destroy_link;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			tmp = realloc(out, cap);
			if (!tmp) {
				err = -ENOMEM;
				goto close_fd;
			}
			out = tmp;
		}
		n = read(fd, out + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			pw_err("read iterator %s: %s", bpf_program__name(prog), strerror(-err));
			goto close_fd;
		}
		if (n == 0)
			break;
		if (rec_size)
			len += (size_t)n;
	}
	if (!rec_size) {
		*nrec = 0;
		goto close_fd;
	}
	if (len % rec_size) {
		err = -EPROTO;
		pw_err("read iterator %s: %zu bytes is not a whole number of records",
		       bpf_program__name(prog), len);
		goto close_fd;
	}
	*buf = out;
	*nrec = len / rec_size;
	out = NULL;
close_fd:
	close(fd);
destroy_link:
	bpf_link__destroy(link);
free_buf:
	free(out);
	return err;
}

struct pw_port_range pw_local_port_range(bool quiet)
{
	struct pw_port_range r = { PW_EPH_LO_DEFAULT, PW_EPH_HI_DEFAULT };
	unsigned int lo, hi;
	FILE *f;
	int n = 0;

	/* procfs answers for the reader's netns. */
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		n = fscanf(f, "%u %u", &lo, &hi);
		fclose(f);
	}
	if (n != 2 || lo > hi || hi > 65535) {
		if (!quiet)
			pw_warn("read ip_local_port_range: using %u-%u", r.lo, r.hi);
		return r;
	}
	r.lo = (__u16)lo;
	r.hi = (__u16)hi;
	return r;
}

/* The coarse clock ticks once a jiffy, so its resolution is 1/HZ. */
__u32 pw_kernel_hz(void)
{
	struct timespec ts;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) || ts.tv_sec || !ts.tv_nsec)
		return 0;
	return (__u32)((PW_NSEC_PER_SEC + ts.tv_nsec / 2) / ts.tv_nsec);
}

/* Socket inodes of the snapshot, sorted, to find a socket by inode. */
struct ino_index {
	struct ino_sk {
		__u32 ino;
		__u64 sk;
	} * v;
	size_t n;
	struct pw_file_rec *files;
	size_t nfiles, cap;
};

static int cmp_ino(const void *a, const void *b)
{
	const struct ino_sk *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int add_holder(void *ctx, __u32 ino, __u32 pid, __u32 fd, const char *comm)
{
	struct ino_index *ix = ctx;
	struct ino_sk key = { .ino = ino }, *hit;
	struct pw_file_rec *r;
	void *tmp;

	hit = bsearch(&key, ix->v, ix->n, sizeof(key), cmp_ino);
	if (!hit)
		return 0; /* not TCP, or another namespace */
	if (ix->nfiles == ix->cap) {
		ix->cap = ix->cap ? ix->cap * 2 : 256;
		tmp = realloc(ix->files, ix->cap * sizeof(*ix->files));
		if (!tmp)
			return -ENOMEM;
		ix->files = tmp;
	}
	r = &ix->files[ix->nfiles++];
	memset(r, 0, sizeof(*r));
	r->sk = hit->sk;
	r->pid = pid;
	r->fd = fd;
	snprintf(r->comm, sizeof(r->comm), "%s", comm);
	return 0;
}

/* The file records dump_files would give, from /proc/PID/fd matched on
 * socket inodes (kernels without bpf_sock_from_file, before 5.11). */
static int files_from_proc(const struct pw_sock_rec *socks, size_t nsocks, void **files,
			   size_t *nfiles)
{
	struct ino_index ix = {};
	size_t i;
	int err;

	ix.v = calloc(nsocks ? nsocks : 1, sizeof(*ix.v));
	if (!ix.v)
		return -ENOMEM;
	for (i = 0; i < nsocks; i++)
		if (socks[i].ino) {
			ix.v[ix.n].ino = socks[i].ino;
			ix.v[ix.n++].sk = socks[i].sk;
		}
	qsort(ix.v, ix.n, sizeof(*ix.v), cmp_ino);
	err = pw_procfd_walk("/proc", add_holder, &ix);
	free(ix.v);
	if (err) {
		free(ix.files);
		pw_err("read socket holders from /proc: %s", strerror(-err));
		return err;
	}
	*files = ix.files;
	*nfiles = ix.nfiles;
	return 0;
}

/* One namespace's sockets, classified by its own listeners and port
 * range, appended to the snapshot (under netns when all_netns). */
struct take {
	struct snapshot_bpf *skel;
	struct pw_snap *snap;
	bool all_netns;
};

static int append(struct pw_snap *dst, struct pw_snap *src, __u32 netns, bool all_netns)
{
	size_t n = dst->nsocks + src->nsocks;
	void *socks, *port, *dir, *ns;

	socks = realloc(dst->socks, (n + 1) * sizeof(*dst->socks));
	if (socks)
		dst->socks = socks;
	port = realloc(dst->port, (n + 1) * sizeof(*dst->port));
	if (port)
		dst->port = port;
	dir = realloc(dst->dir, (n + 1) * sizeof(*dst->dir));
	if (dir)
		dst->dir = dir;
	ns = all_netns ? realloc(dst->netns, (n + 1) * sizeof(*dst->netns)) : NULL;
	if (ns)
		dst->netns = ns;
	if (!socks || !port || !dir || (all_netns && !ns))
		return -ENOMEM;
	memcpy(dst->socks + dst->nsocks, src->socks, src->nsocks * sizeof(*src->socks));
	memcpy(dst->port + dst->nsocks, src->port, src->nsocks * sizeof(*src->port));
	memcpy(dst->dir + dst->nsocks, src->dir, src->nsocks * sizeof(*src->dir));
	for (size_t i = 0; all_netns && i < src->nsocks; i++)
		dst->netns[dst->nsocks + i] = netns;
	dst->nsocks = n;
	return 0;
}

static int take_netns(__u32 netns, void *arg)
{
	struct pw_port_range eph;
	struct take *t = arg;
	struct pw_snap one = {};
	void *socks = NULL;
	int err;

	err = pw_run_iter(t->skel->progs.dump_tcp, sizeof(struct pw_sock_rec), &socks, &one.nsocks);
	if (err)
		return err;
	one.socks = socks;
	eph = pw_local_port_range(t->all_netns);
	err = pw_snap_index(&one, eph);
	if (err)
		pw_err("index snapshot: %s", strerror(-err));
	else if ((err = append(t->snap, &one, netns, t->all_netns)))
		pw_err("read sockets: %s", strerror(-err));
	pw_snap_free(&one);
	return err;
}

int pw_snapshot_take(struct pw_snap *snap, bool all_netns)
{
	struct take t = { .snap = snap, .all_netns = all_netns };
	struct pw_kernel k;
	void *files = NULL;
	int err;

	memset(snap, 0, sizeof(*snap));
	err = pw_kernel__probe(&k, false);
	if (err) {
		pw_err("read kernel BTF: %s", strerror(-err));
		return err;
	}
	t.skel = snapshot_bpf__open();
	if (t.skel)
		bpf_program__set_autoload(t.skel->progs.dump_files, k.sock_from_file);
	if (!t.skel || snapshot_bpf__load(t.skel)) {
		char msg[128];

		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		pw_err("load BPF iterators: %s%s", msg,
		       pw_verbose() ? "" : " (run with -v for the verifier log)");
		snapshot_bpf__destroy(t.skel);
		pw_kernel__free(&k);
		return err;
	}
	/* The iterator walks the namespace of the task that creates it. */
	err = all_netns ? pw_netns_each(take_netns, &t) : take_netns(pw_netns_self(), &t);
	if (err)
		goto out;
	/* Owners: the file iterator and /proc see every process, whatever
	 * its namespace; socket addresses and inodes are unique host-wide. */
	if (k.sock_from_file)
		err = pw_run_iter(t.skel->progs.dump_files, sizeof(struct pw_file_rec), &files,
				  &snap->nfiles);
	else
		err = files_from_proc(snap->socks, snap->nsocks, &files, &snap->nfiles);
	if (err)
		goto out;
	snap->files = files;
	files = NULL;
	pw_snap_sort_files(snap);
	snap->hz = pw_kernel_hz();
	if (!snap->hz)
		pw_warn("cannot tell the kernel's HZ: CLOSE_WAIT ages read as 0");
out:
	free(files);
	snapshot_bpf__destroy(t.skel);
	pw_kernel__free(&k);
	if (err)
		pw_snap_free(snap);
	return err;
}
