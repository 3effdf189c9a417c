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
#include "kernel.h"
#include "log.h"
#include "procfd.h"
#include "snapshot.h"
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

int pw_read_port_range(struct pw_port_range *r)
{
	unsigned int lo, hi;
	FILE *f;
	int n;

	/* procfs answers for the reader's netns. */
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%u %u", &lo, &hi);
	fclose(f);
	if (n != 2 || lo > hi || hi > 65535)
		return -EINVAL;
	r->lo = (__u16)lo;
	r->hi = (__u16)hi;
	return 0;
}

/* The coarse clock ticks once a jiffy, so its resolution is 1/HZ. */
__u32 pw_kernel_hz(void)
{
	struct timespec ts;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) || ts.tv_sec || !ts.tv_nsec)
		return 0;
	return (__u32)((1000000000L + ts.tv_nsec / 2) / ts.tv_nsec);
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

int pw_snapshot_take(struct pw_snap *snap)
{
	struct pw_port_range eph = { 32768, 60999 };
	struct pw_kernel k;
	struct snapshot_bpf *skel;
	void *socks = NULL, *files = NULL;
	int err;

	memset(snap, 0, sizeof(*snap));
	err = pw_kernel__probe(&k, false);
	if (err) {
		pw_err("read kernel BTF: %s", strerror(-err));
		return err;
	}
	skel = snapshot_bpf__open();
	if (skel)
		bpf_program__set_autoload(skel->progs.dump_files, k.sock_from_file);
	if (!skel || snapshot_bpf__load(skel)) {
		char msg[128];

		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		pw_err("load BPF iterators: %s%s", msg,
		       pw_verbose() ? "" : " (run with -v for the verifier log)");
		snapshot_bpf__destroy(skel);
		pw_kernel__free(&k);
		return err;
	}
	err = pw_run_iter(skel->progs.dump_tcp, sizeof(struct pw_sock_rec), &socks, &snap->nsocks);
	if (err)
		goto out;
	if (k.sock_from_file)
		err = pw_run_iter(skel->progs.dump_files, sizeof(struct pw_file_rec), &files,
				  &snap->nfiles);
	else
		err = files_from_proc(socks, snap->nsocks, &files, &snap->nfiles);
	if (err)
		goto out;
	snap->socks = socks;
	snap->files = files;
	socks = files = NULL;
	snap->hz = pw_kernel_hz();
	if (!snap->hz)
		pw_warn("cannot tell the kernel's HZ: CLOSE_WAIT ages read as 0");
	if (pw_read_port_range(&eph))
		pw_warn("read ip_local_port_range: using %u-%u", eph.lo, eph.hi);
	err = pw_snap_index(snap, eph);
	if (err)
		pw_err("index snapshot: %s", strerror(-err));
out:
	free(socks);
	free(files);
	snapshot_bpf__destroy(skel);
	pw_kernel__free(&k);
	if (err)
		pw_snap_free(snap);
	return err;
}
