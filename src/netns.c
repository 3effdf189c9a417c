// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Walking every network namespace with setns(): see netns.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "netns.h"

#define MAX_NETNS 1024

__u32 pw_netns_self(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) ? 0 : (__u32)st.st_ino;
}

int pw_netns_each(int (*fn)(__u32 netns, void *arg), void *arg)
{
	__u32 seen[MAX_NETNS];
	size_t nseen = 0, i;
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int self, fd, err = 0, pass;
	DIR *d;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	/* Processes' namespaces first, then names (ip netns) no process
	 * is in. */
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
			if (i < nseen || nseen == MAX_NETNS)
				continue;
			seen[nseen++] = (__u32)st.st_ino;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (!setns(fd, CLONE_NEWNET))
				err = fn((__u32)st.st_ino, arg);
			close(fd);
		}
		closedir(d);
	}
	if (setns(self, CLONE_NEWNET) && !err)
		err = -errno;
	close(self);
	return err;
}
