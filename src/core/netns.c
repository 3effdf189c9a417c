// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Walking every network namespace with setns(): see netns.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <limits.h>
#include <sched.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/log.h"
#include "core/netns.h"

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
	if (self < 0) {
		err = -errno;
		pw_err("open own network namespace: %s", strerror(-err));
		return err;
	}
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
	if (setns(self, CLONE_NEWNET)) {
		pw_err("return to own network namespace: %s", strerror(errno));
		if (!err)
			err = -errno;
	}
	close(self);
	return err;
}

/* A container id in a cgroup path: 64 hex digits after docker-, /docker/,
 * cri-containerd-, crio-, libpod- and the like. */
static bool container_id(const char *cgroup, char *id, size_t len)
{
	const char *p;
	size_t n;

	for (p = cgroup; *p; p++) {
		for (n = 0; isxdigit((unsigned char)p[n]); n++)
			;
		if (n == 64 && (p == cgroup || !isxdigit((unsigned char)p[-1]))) {
			snprintf(id, len, "%.12s", p);
			return true;
		}
		if (n)
			p += n - 1;
	}
	return false;
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void name_from_process(pid_t pid, char *name, size_t len)
{
	char path[64], buf[512], id[16], host[PW_NETNS_NAME_LEN], comm[32];
	bool in_container = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	while (f && fgets(buf, sizeof(buf), f) && !in_container)
		in_container = container_id(buf, id, sizeof(id));
	if (f)
		fclose(f);
	if (in_container) {
		/* The container's own hostname: a pod's name, a container's
		 * short id or the --hostname it was given. */
		snprintf(path, sizeof(path), "/proc/%d/root/etc/hostname", pid);
		read_line(path, host, sizeof(host));
		if (host[0])
			snprintf(name, len, "%s", host);
		else
			snprintf(name, len, "container:%s", id);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	read_line(path, comm, sizeof(comm));
	snprintf(name, len, "%s[%d]", comm[0] ? comm : "?", pid);
}

static void resolve(__u32 netns, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	name[0] = '\0';
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		if (!stat(path, &st) && (__u32)st.st_ino == netns) {
			snprintf(name, len, "%.*s", (int)len - 1, de->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
	if (name[0])
		return;
	/* The lowest pid in it: a container's init, a service's main. */
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		pid_t pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st) || (__u32)st.st_ino != netns)
			continue;
		pid = (pid_t)atoi(de->d_name);
		name_from_process(pid, name, len);
		break;
	}
	if (d)
		closedir(d);
}

static struct {
	__u32 netns;
	char name[PW_NETNS_NAME_LEN];
} cache[MAX_NETNS];
static size_t cached, next_slot;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

const char *pw_netns_name(__u32 netns)
{
	const char *out;
	size_t i;

	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < cached && cache[i].netns != netns; i++)
		;
	if (i == cached) {
		/* Full: the oldest entry goes (namespaces come and go). */
		i = cached < MAX_NETNS ? cached++ : next_slot++ % MAX_NETNS;
		cache[i].netns = netns;
		resolve(netns, cache[i].name, sizeof(cache[i].name));
	}
	out = cache[i].name;
	pthread_mutex_unlock(&cache_lock);
	return out;
}
