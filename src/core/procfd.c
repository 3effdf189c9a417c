// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Walks /proc/PID/fd for sockets: see procfd.h. Processes and descriptors
 * that go away during the walk are skipped, as ss does. */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/procfd.h"

#define PW_COMM_LEN 16

static void read_comm(const char *proc, const char *pid, char *comm)
{
	char path[288];
	FILE *f;
	size_t n;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s/comm", proc, pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, PW_COMM_LEN, f)) {
		n = strcspn(comm, "\n");
		comm[n] = '\0';
	}
	fclose(f);
}

/* "socket:[12345]" -> 12345; 0 for anything else. */
static __u32 socket_ino(const char *link)
{
	unsigned long ino;
	char end;

	if (sscanf(link, "socket:[%lu%c", &ino, &end) != 2 || end != ']' || ino > 0xffffffffUL)
		return 0;
	return (__u32)ino;
}

static int walk_fds(const char *proc, const char *pid, pw_procfd_fn fn, void *ctx)
{
	char path[288], link[64], comm[PW_COMM_LEN] = "";
	struct dirent *de;
	bool named = false;
	ssize_t n;
	__u32 ino;
	int err = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s/fd", proc, pid);
	d = opendir(path);
	if (!d)
		return 0; /* gone, or a kernel thread */
	while (!err && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/fd/%s", proc, pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		ino = socket_ino(link);
		if (!ino)
			continue;
		if (!named) {
			read_comm(proc, pid, comm);
			named = true;
		}
		err = fn(ctx, ino, (__u32)strtoul(pid, NULL, 10),
			 (__u32)strtoul(de->d_name, NULL, 10), comm);
	}
	closedir(d);
	return err;
}

int pw_procfd_walk(const char *proc, pw_procfd_fn fn, void *ctx)
{
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(proc);
	if (!d)
		return -errno;
	while (!err && (de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			err = walk_fds(proc, de->d_name, fn, ctx);
	closedir(d);
	return err;
}
