// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Helpers of the skeleton-level tests: see bpf_test.h. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpf_test.h"
#include "helpers.h"

#define WAIT_NS 2000000000LL

int bt_enter_new_netns(void)
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	return lo_up();
}

static bool listed(const char *name, const char *const *progs)
{
	for (; *progs; progs++)
		if (!strcmp(name, *progs))
			return true;
	return false;
}

int bt_setup(void **state, const char *const *progs)
{
	return bt_setup_with(state, progs, NULL);
}

int bt_setup_with(void **state, const char *const *progs, void (*configure)(struct track_bpf *))
{
	struct bpf_program *p;
	struct bt *t;
	struct stat st;
	int n = 0;

	t = calloc(1, sizeof(*t));
	if (!t || bt_enter_new_netns() || stat("/proc/self/ns/net", &st))
		goto fail;
	t->netns = (__u32)st.st_ino;
	t->ncpus = libbpf_num_possible_cpus();
	t->skel = track_bpf__open();
	if (!t->skel || t->ncpus <= 0)
		goto fail;
	t->skel->rodata->pw_netns = t->netns;
	if (configure)
		configure(t->skel);
	bpf_object__for_each_program(p, t->skel->obj)
		bpf_program__set_autoload(p, listed(bpf_program__name(p), progs));
	if (track_bpf__load(t->skel))
		goto fail;
	bpf_object__for_each_program(p, t->skel->obj)
	{
		/* Iterators run when a test says (bt_run_iter). */
		if (!bpf_program__autoload(p) ||
		    bpf_program__expected_attach_type(p) == BPF_TRACE_ITER)
			continue;
		if (n == BT_MAX_LINKS || !(t->links[n++] = bpf_program__attach(p)))
			goto fail;
	}
	*state = t;
	return 0;
fail:
	fprintf(stderr, "# BPF test setup failed: %s\n", strerror(errno));
	*state = t;
	bt_teardown(state);
	return -1;
}

int bt_teardown(void **state)
{
	struct bt *t = *state;
	int i;

	if (!t)
		return 0;
	for (i = 0; i < BT_MAX_LINKS; i++)
		bpf_link__destroy(t->links[i]);
	track_bpf__destroy(t->skel);
	free(t);
	*state = NULL;
	return 0;
}

int bt_run_iter(const struct bt *t, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	char buf[4096];
	int fd, err = 0;
	ssize_t n;

	(void)t;
	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		err = -errno;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return err;
}

int bt_set_listening(const struct bt *t, const uint16_t *ports, int n)
{
	struct pw_listening bits = {};
	__u32 zero = 0;
	int i;

	for (i = 0; i < n; i++)
		bits.bits[ports[i] / 64] |= 1ULL << (ports[i] % 64);
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.listening), &zero, &bits, BPF_ANY))
		return -errno;
	return 0;
}

__u64 bt_fixes(const struct bt *t, int what)
{
	__u64 *v = calloc((size_t)t->ncpus, sizeof(*v)), sum = 0;
	__u32 key = (__u32)what;
	int cpu;

	if (v && !bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.health), &key, v))
		for (cpu = 0; cpu < t->ncpus; cpu++)
			sum += v[cpu];
	free(v);
	return sum;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

int bt_listen(uint16_t port)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		close(fd);
		return -1;
	}
	return fd;
}

int bt_connect(uint16_t port)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

void bt_connect_pair(struct bt_conn *c, uint16_t port)
{
	c->lfd = bt_listen(port);
	c->cfd = bt_connect(port);
	assert_true(c->lfd >= 0 && c->cfd >= 0);
	c->afd = accept(c->lfd, NULL, NULL);
	assert_true(c->afd >= 0);
}

void bt_abort(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int bt_sk(const struct bt *t, int fd, struct pw_sk *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.sk_info), &fd, out))
		return -errno;
	return 0;
}

int bt_row(const struct bt *t, uint16_t port, __u8 dir, struct pw_stats *out)
{
	struct pw_key key = { .netns = t->netns, .port = port, .dir = dir };
	struct pw_stats *v = calloc((size_t)t->ncpus, sizeof(*v));
	int cpu, i, err = 0;

	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stats), &key, v))
		err = -errno;
	for (cpu = 0; !err && cpu < t->ncpus; cpu++) {
		for (i = 0; i < PW_STATE_SLOTS; i++)
			out->gauge[i] += v[cpu].gauge[i];
		for (i = 0; i < PW_C_MAX; i++)
			out->counter[i] += v[cpu].counter[i];
	}
	free(v);
	return err;
}

int bt_lat(const struct bt *t, struct bpf_map *map, uint16_t port, __u8 dir, struct pw_lat *out)
{
	struct pw_key key = { .netns = t->netns, .port = port, .dir = dir };
	struct pw_lat *v = calloc((size_t)t->ncpus, sizeof(*v));
	int cpu, b, err = 0;

	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(bpf_map__fd(map), &key, v))
		err = -errno;
	for (cpu = 0; !err && cpu < t->ncpus; cpu++) {
		out->count += v[cpu].count;
		out->sum_ns += v[cpu].sum_ns;
		if (v[cpu].max_ns > out->max_ns)
			out->max_ns = v[cpu].max_ns;
		for (b = 0; b < PW_HIST_BUCKETS; b++)
			out->bucket[b] += v[cpu].bucket[b];
	}
	free(v);
	return err;
}

int bt_cw_hist(const struct bt *t, uint16_t port, __u8 dir, struct pw_cw_hist *out)
{
	struct pw_key key = { .netns = t->netns, .port = port, .dir = dir };

	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.cw_hist), &key, out))
		return -errno;
	return 0;
}

int bt_close_wait(const struct bt *t, struct pw_cw_sock *first)
{
	int fd = bpf_map__fd(t->skel->maps.close_wait), n = 0;
	__u64 key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!n && bpf_map_lookup_elem(fd, &next, first))
			return -errno;
		n++;
		key = next;
		prev = &key;
	}
	return n;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int bt_wait_state(const struct bt *t, int fd, __u8 state)
{
	long long end = now_ns() + WAIT_NS;
	struct pw_sk sk;

	do {
		if (!bt_sk(t, fd, &sk) && sk.state == state)
			return 0;
		usleep(1000);
	} while (now_ns() < end);
	return -ETIMEDOUT;
}

int bt_wait_row_gauge(const struct bt *t, uint16_t port, __u8 dir, __u8 state, __s64 want)
{
	long long end = now_ns() + WAIT_NS;
	struct pw_stats s;

	do {
		if (!bt_row(t, port, dir, &s) && s.gauge[state] == want)
			return 0;
		usleep(1000);
	} while (now_ns() < end);
	return -ETIMEDOUT;
}
