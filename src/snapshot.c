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
#include "log.h"
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

int pw_snapshot_take(struct pw_snap *snap)
{
	struct pw_port_range eph = { 32768, 60999 };
	struct snapshot_bpf *skel;
	void *socks = NULL, *files = NULL;
	int err;

	memset(snap, 0, sizeof(*snap));
	skel = snapshot_bpf__open_and_load();
	if (!skel) {
		char msg[128];

		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		pw_err("load BPF iterators: %s%s", msg,
		       pw_verbose() ? "" : " (run with -v for the verifier log)");
		return err;
	}
	err = pw_run_iter(skel->progs.dump_tcp, sizeof(struct pw_sock_rec), &socks, &snap->nsocks);
	if (err)
		goto out;
	err = pw_run_iter(skel->progs.dump_files, sizeof(struct pw_file_rec), &files,
			  &snap->nfiles);
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
	if (err)
		pw_snap_free(snap);
	return err;
}
