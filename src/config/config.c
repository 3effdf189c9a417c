// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon's YAML configuration: the public API. The file is read here
 * (a regular file, safe for a root daemon to trust), yaml.c turns it into a
 * tree and schema.c fills struct pw_config from it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config/config.h"
#include "config/schema.h"
#include "config/yaml.h"

#define PW_CONFIG_MAX_BYTES (1 << 20)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *pw_rule_metric_name(enum pw_rule_metric m)
{
	return (unsigned int)m < PW_RM_MAX ? pw_metric_words[m] : "unknown";
}

const char *pw_notifier_kind_name(enum pw_notifier_kind k)
{
	return (unsigned int)k < ARRAY_SIZE(pw_notifier_words) ? pw_notifier_words[k] : "unknown";
}

const char *pw_rule_dir_name(enum pw_rule_dir d)
{
	return (unsigned int)d < ARRAY_SIZE(pw_direction_words) ? pw_direction_words[d] : "unknown";
}

bool pw_rule_windowed(enum pw_rule_metric m)
{
	return m == PW_RM_LATENCY || m == PW_RM_REQUEST_RATE || m == PW_RM_RESET_RATE ||
	       m == PW_RM_CONNECT_FAILURES || m == PW_RM_UNANSWERED || m == PW_RM_RETRANSMITS ||
	       m == PW_RM_LISTEN_DROPS;
}

int pw_config_parse(const char *name, const char *text, size_t len, struct pw_config *cfg,
		    char *err, size_t errlen)
{
	struct pw_yaml_err e = { .name = name ? name : "config", .buf = err, .size = errlen };
	struct pw_yaml_doc doc;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';
	ret = pw_yaml_parse(&doc, text, len, PW_CONFIG_MAX_DEPTH, &e);
	if (!ret) {
		cfg->path = strdup(e.name);
		ret = cfg->path ? pw_schema_fill(&doc, &e, cfg) : pw_yaml_nomem(&e);
	}
	pw_yaml_free(&doc);
	if (ret)
		pw_config_free(cfg);
	return ret;
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a regular file";
}

/* Whether the file may be read; -errno and why in why[] if not. */
static int check_file(int fd, const char *path, char *why, size_t whylen)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: is %s, not a regular file", path, file_kind(st.st_mode));
		return -EINVAL;
	}
	if (me != 0)
		return 0;
	if (st.st_uid != 0) {
		snprintf(why, whylen,
			 "%s: owned by uid %u, not root: a root daemon runs the commands this "
			 "file names (fix: chown root %s)",
			 path, (unsigned)st.st_uid, path);
		return -EPERM;
	}
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0)) {
		snprintf(why, whylen,
			 "%s: writable by %s (mode %04o): a root daemon runs the commands this "
			 "file names (fix: chmod go-w %s)",
			 path, st.st_mode & S_IWOTH ? "everyone" : "its group",
			 (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int pw_config_load(const char *path, struct pw_config *cfg, char *err, size_t errlen)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nbuf, why[PATH_MAX + 200] = "";
	ssize_t n;
	int fd, ret;

	memset(cfg, 0, sizeof(*cfg));
	if (!*path) {
		snprintf(why, sizeof(why), "the configuration file's path is empty");
		ret = -EINVAL;
		goto fail;
	}
	/* Non-blocking: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = check_file(fd, path, why, sizeof(why));
	if (ret)
		goto fail_close;
	for (;;) {
		if (len == cap) {
			/* One byte past the cap tells a full file from a too large one. */
			if (len > PW_CONFIG_MAX_BYTES) {
				ret = -EFBIG;
				goto fail_close;
			}
			cap = cap ? cap * 2 : 64 * 1024;
			if (cap > PW_CONFIG_MAX_BYTES + 1)
				cap = PW_CONFIG_MAX_BYTES + 1;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				ret = -ENOMEM;
				goto fail_close;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto fail_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ret = pw_config_parse(path, buf, len, cfg, err, errlen);
	free(buf);
	return ret;

fail_close:
	close(fd);
fail:
	free(buf);
	if (err && errlen) {
		if (why[0])
			snprintf(err, errlen, "%s", why);
		else if (ret == -EFBIG)
			snprintf(err, errlen, "%s: larger than 1 MiB", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	}
	return ret;
}

void pw_config_free(struct pw_config *cfg)
{
	size_t i, j;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_rules; i++)
		free(cfg->rules[i].notify);
	for (i = 0; i < cfg->n_notifiers; i++) {
		if (cfg->notifiers[i].argv)
			for (j = 0; cfg->notifiers[i].argv[j]; j++)
				free(cfg->notifiers[i].argv[j]);
		free(cfg->notifiers[i].argv);
		free(cfg->notifiers[i].url);
	}
	free(cfg->rules);
	free(cfg->notifiers);
	free(cfg->ports);
	free(cfg->buckets);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}
