// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Socket holders from /proc/PID/fd (kernels without bpf_sock_from_file), on
 * a /proc-shaped tree the test makes: sockets found with pid, fd and
 * command; other links, other entries and vanished processes skipped. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/procfd.h"

struct seen {
	__u32 ino[8], pid[8], fd[8];
	char comm[8][16];
	int n;
};

static int record(void *ctx, __u32 ino, __u32 pid, __u32 fd, const char *comm)
{
	struct seen *s = ctx;

	if (s->n == 8)
		return -1;
	s->ino[s->n] = ino;
	s->pid[s->n] = pid;
	s->fd[s->n] = fd;
	snprintf(s->comm[s->n], sizeof(s->comm[0]), "%s", comm);
	s->n++;
	return 0;
}

static void mk(const char *root, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void ln(const char *root, const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void put(const char *root, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int find(const struct seen *s, __u32 ino)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->ino[i] == ino)
			return i;
	return -1;
}

static void test_walk(void **state)
{
	char root[] = "/tmp/pw-procfd-XXXXXX", cmd[600];
	struct seen s = {};
	int i;

	(void)state;
	assert_non_null(mkdtemp(root));
	mk(root, "42");
	mk(root, "42/fd");
	put(root, "42/comm", "backend\n");
	ln(root, "socket:[1001]", "42/fd/3");
	ln(root, "socket:[1002]", "42/fd/7");
	ln(root, "/dev/null", "42/fd/0");
	ln(root, "pipe:[555]", "42/fd/1");
	ln(root, "socket:[99999999999]", "42/fd/8"); /* not a 32-bit inode */
	ln(root, "socket:[12", "42/fd/9");
	mk(root, "7");
	mk(root, "7/fd");
	put(root, "7/comm", "a-very-long-command-name\n");
	ln(root, "socket:[1001]", "7/fd/12"); /* shared after fork */
	mk(root, "99"); /* gone: no fd directory */
	mk(root, "self");
	put(root, "uptime", "1 1\n");

	assert_int_equal(pw_procfd_walk(root, record, &s), 0);
	assert_int_equal(s.n, 3);
	i = find(&s, 1002);
	assert_true(i >= 0);
	assert_int_equal(s.pid[i], 42);
	assert_int_equal(s.fd[i], 7);
	assert_string_equal(s.comm[i], "backend");
	for (i = 0; i < s.n; i++)
		if (s.ino[i] == 1001 && s.pid[i] == 7) {
			assert_int_equal(s.fd[i], 12);
			assert_string_equal(s.comm[i], "a-very-long-com"); /* as the kernel cuts */
		}
	assert_int_equal(pw_procfd_walk("/nonexistent", record, &s), -2);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
	};

	return cmocka_run_group_tests_name("procfd", tests, NULL, NULL);
}
