// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The exec transport: a command spawned without a shell, capabilities or
 * other fds, the document fed to its stdin, its stderr read and summarised,
 * signalled at its timeout, always reaped. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/log.h"
#include "daemon/notify_int.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Without a pidfd (kernel < 5.3) a running child is polled this often. */
#define CHILD_POLL_MS 20
#define EXEC_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child of an exec notifier is, set up before fork. */
struct spawn {
	char **argv, **env;
	int in_fd, err_fd, null_fd, status_fd; /* stdin, stderr, stdout, report */
	bool ids; /* become uid:gid */
	uid_t uid;
	gid_t gid;
};

/* Steps of the child's set-up, named in the daemon's log when one fails. */
enum { STEP_GROUP, STEP_FDS, STEP_CAPS, STEP_IDS, STEP_EXEC };
static const char *const step_names[] = {
	[STEP_GROUP] = "new process group",
	[STEP_FDS] = "set up stdin, stdout and stderr",
	[STEP_CAPS] = "drop capabilities",
	[STEP_IDS] = "switch user and group",
	[STEP_EXEC] = "exec",
};

_Noreturn static void child_fail(int status_fd, int step)
{
	int report[2] = { step, errno };

	if (write(status_fd, report, sizeof(report)) < 0) {
		/* nothing left to tell it with */
	}
	_exit(127);
}

/* Between fork and exec: system calls only (the daemon has threads; nothing
 * that may take a lock or allocate). The command keeps no capability (not
 * in its bounding, ambient, permitted or effective set), cannot gain any
 * (no_new_privs: setuid and file capabilities do nothing), and runs as the
 * configured user if any. */
_Noreturn static void child(const struct spawn *s)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int sig, cap, in, null, err, report;
	bool bset_kept = false;
	sigset_t empty;

	if (setpgid(0, 0))
		child_fail(s->status_fd, STEP_GROUP);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* SIGKILL, SIGSTOP and glibc's own refuse: fine */
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	/* Out of the way first (a daemon started with 0, 1 or 2 closed has
	 * pipes there), then into place: the report pipe on fd 3,
	 * close-on-exec; everything above goes. */
	in = fcntl(s->in_fd, F_DUPFD, 10);
	null = fcntl(s->null_fd, F_DUPFD, 10);
	err = fcntl(s->err_fd, F_DUPFD, 10);
	report = fcntl(s->status_fd, F_DUPFD_CLOEXEC, 10);
	if (report < 0)
		child_fail(s->status_fd, STEP_FDS);
	if (in < 0 || null < 0 || err < 0 || dup2(in, STDIN_FILENO) < 0 ||
	    dup2(null, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0 ||
	    dup3(report, 3, O_CLOEXEC) < 0)
		child_fail(report, STEP_FDS);
	syscall(SYS_close_range, 4U, ~0U, 0U);

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL) /* past the kernel's last capability */
			break;
		bset_kept = true; /* EPERM: no CAP_SETPCAP */
	}
	if (s->ids &&
	    (syscall(SYS_setgroups, 1, &s->gid) || syscall(SYS_setresgid, s->gid, s->gid, s->gid) ||
	     syscall(SYS_setresuid, s->uid, s->uid, s->uid)))
		child_fail(3, STEP_IDS);
	/* Root gets its bounding set back at exec: without CAP_SETPCAP to
	 * empty it, a root command would keep every capability we have. */
	if (bset_kept && geteuid() == 0) {
		errno = EPERM;
		child_fail(3, STEP_CAPS);
	}
	if (syscall(SYS_capset, &hdr, none) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		child_fail(3, STEP_CAPS);
	execve(s->argv[0], s->argv, s->env);
	child_fail(3, STEP_EXEC);
}

/* Forks the child and waits until it has exec'd (the report pipe closes)
 * or failed (it reports the step and errno). Returns 0 or the errno, with
 * the failed step's name in *what. */
static int spawn(struct nstate *ns, struct spawn *s, const char **what)
{
	int report[2] = { 0, 0 }, status[2], status_code, err;
	ssize_t n;
	pid_t pid;

	*what = "fork";
	if (pipe2(status, O_CLOEXEC))
		return errno;
	s->status_fd = status[1];
	pid = fork();
	if (pid == 0)
		child(s);
	err = pid < 0 ? errno : 0;
	close(status[1]);
	if (pid < 0) {
		close(status[0]);
		return err;
	}
	do {
		n = read(status[0], report, sizeof(report));
	} while (n < 0 && errno == EINTR);
	close(status[0]);
	if (n == (ssize_t)sizeof(report)) {
		while (waitpid(pid, &status_code, 0) < 0 && errno == EINTR)
			;
		*what = report[0] >= 0 && report[0] <= STEP_EXEC ? step_names[report[0]] : "set up";
		return report[1] ? report[1] : EIO;
	}
	ns->pid = pid;
	return 0;
}

void notify_exec_start(struct pw_notify *p, struct nstate *ns, __u64 now)
{
	const struct pw_alert_msg *m = &ns->cur->m;
	char port[16], value[32], threshold[32], starts[32], ends[32];
	const char *vars[][2] = {
		{ "PORTWATCH_RULE", m->rule },
		{ "PORTWATCH_METRIC", m->metric },
		{ "PORTWATCH_PORT", port },
		{ "PORTWATCH_DIRECTION", m->direction },
		{ "PORTWATCH_STATUS", m->status },
		{ "PORTWATCH_SEVERITY", m->severity },
		{ "PORTWATCH_VALUE", value },
		{ "PORTWATCH_THRESHOLD", threshold },
		{ "PORTWATCH_SUMMARY", m->summary },
		{ "PORTWATCH_HOSTNAME", m->hostname },
		{ "PORTWATCH_STARTS_AT", m->starts_at ? starts : NULL },
		{ "PORTWATCH_ENDS_AT", pw_alert_msg_resolved(m) ? ends : NULL },
	};
	char *env[ARRAY_SIZE(vars) + 2] = { EXEC_PATH };
	struct spawn s = {
		.argv = ns->cfg.argv,
		.env = env,
		.ids = ns->cfg.set_ids,
		.uid = ns->cfg.uid,
		.gid = ns->cfg.gid,
	};
	int in[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, null_fd = -1;
	const char *what = "set up";
	size_t i, n = 1;
	int err = 0;

	snprintf(port, sizeof(port), "%u", m->port);
	pw_alert_msg_num(value, sizeof(value), m->value);
	pw_alert_msg_num(threshold, sizeof(threshold), m->threshold);
	pw_alert_msg_time(starts, sizeof(starts), m->starts_at);
	pw_alert_msg_time(ends, sizeof(ends),
			  pw_alert_msg_resolved(m) ? pw_alert_msg_ends_at(m) : 0);

	if (!notify_build_body(p, ns))
		return;
	for (i = 0; i < ARRAY_SIZE(vars); i++) {
		if (!vars[i][1])
			continue;
		if (asprintf(&env[n], "%s=%s", vars[i][0], vars[i][1]) < 0) {
			env[n] = NULL;
			err = ENOMEM;
			goto out;
		}
		n++;
	}
	/* stdin: the document; stdout: /dev/null; stderr: a pipe we read up to
	 * a bound and summarise (a command that writes gigabytes costs the log
	 * one line). */
	if (pipe2(in, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC) ||
	    (null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		err = errno;
		goto out;
	}
	s.in_fd = in[0];
	s.err_fd = err_pipe[1];
	s.null_fd = null_fd;
	err = spawn(ns, &s, &what);
out:
	for (i = 1; i < n; i++)
		free(env[i]);
	if (in[0] >= 0)
		close(in[0]);
	if (err_pipe[1] >= 0)
		close(err_pipe[1]);
	if (null_fd >= 0)
		close(null_fd);
	if (err) {
		if (in[1] >= 0)
			close(in[1]);
		if (err_pipe[0] >= 0)
			close(err_pipe[0]);
		pw_warn("notifier %s: run %s: %s: %s", ns->cfg.name, ns->cfg.argv[0], what,
			strerror(err));
		notify_finish(p, ns, false);
		return;
	}
	ns->in_fd = in[1];
	fcntl(ns->in_fd, F_SETFL, O_NONBLOCK);
	ns->err_fd = err_pipe[0];
	fcntl(ns->err_fd, F_SETFL, O_NONBLOCK);
	ns->err_len = 0;
	ns->err_total = 0;
	ns->body_off = 0;
	ns->pidfd = pidfd_open(ns->pid, 0);
	ns->kills = 0;
	ns->stopped = false;
	ns->deadline_ms = now + ns->timeout_ms;
}

/* Reads what the child wrote to stderr: the first PW_NOTIFY_STDERR_KEEP
 * bytes are kept, the rest counted. */
static void exec_drain(struct nstate *ns)
{
	char buf[4096];
	ssize_t n;

	while (ns->err_fd >= 0) {
		n = read(ns->err_fd, buf, sizeof(buf));
		if (n > 0) {
			size_t keep = PW_NOTIFY_STDERR_KEEP - ns->err_len;

			if (keep > (size_t)n)
				keep = n;
			memcpy(ns->err_text + ns->err_len, buf, keep);
			ns->err_len += keep;
			ns->err_total += n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n == 0) { /* every writer gone */
				close(ns->err_fd);
				ns->err_fd = -1;
			}
			return;
		}
	}
}

/* One line for what the child wrote to stderr, if anything: its first
 * bytes, control characters as spaces. */
static void exec_log_stderr(const struct nstate *ns)
{
	char text[PW_NOTIFY_STDERR_KEEP + 1];
	size_t i, len = 0;

	if (!ns->err_total)
		return;
	for (i = 0; i < ns->err_len; i++) {
		unsigned char c = ns->err_text[i];

		if (len && text[len - 1] == ' ' && (c < 0x20 || c == 0x7f || c == ' '))
			continue;
		text[len++] = c < 0x20 || c == 0x7f ? ' ' : c;
	}
	while (len && text[len - 1] == ' ')
		len--;
	text[len] = '\0';
	if (ns->err_total > ns->err_len)
		pw_warn("notifier %s: %s wrote %llu bytes to stderr, the first %zu: %s",
			ns->cfg.name, ns->cfg.argv[0], (unsigned long long)ns->err_total,
			ns->err_len, text);
	else
		pw_warn("notifier %s: %s: %s", ns->cfg.name, ns->cfg.argv[0], text);
}

/* Writes what the pipe takes; a command that does not read its stdin is fine. */
static void exec_feed(struct nstate *ns)
{
	while (ns->in_fd >= 0 && ns->body_off < ns->body_len) {
		ssize_t n = write(ns->in_fd, ns->body + ns->body_off, ns->body_len - ns->body_off);

		if (n > 0)
			ns->body_off += n;
		else if (n < 0 && errno == EAGAIN)
			return;
		else if (!(n < 0 && errno == EINTR))
			break;
	}
	if (ns->in_fd >= 0) {
		close(ns->in_fd);
		ns->in_fd = -1;
	}
}

/* err: why waitpid failed, or 0 with its status. */
static void exec_done(struct pw_notify *p, struct nstate *ns, int err, int status)
{
	const char *cmd = ns->cfg.argv[0];
	bool ok = false;

	if (ns->in_fd >= 0)
		close(ns->in_fd);
	if (ns->pidfd >= 0)
		close(ns->pidfd);
	exec_drain(ns);
	if (ns->err_fd >= 0) /* a process it left behind holds the pipe */
		close(ns->err_fd);
	ns->in_fd = ns->pidfd = ns->err_fd = -1;
	exec_log_stderr(ns);
	if (err) {
		pw_warn("notifier %s: wait for %s: %s", ns->cfg.name, cmd, strerror(err));
	} else if (ns->kills && ns->stopped) {
		pw_warn("notifier %s: run %s: stopped, the notifiers are stopping", ns->cfg.name,
			cmd);
	} else if (ns->kills) {
		notify_count_timeout(p, ns);
		pw_warn("notifier %s: run %s: timed out after %ld ms, killed", ns->cfg.name, cmd,
			ns->timeout_ms);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ok = true;
	} else if (WIFEXITED(status)) {
		pw_warn("notifier %s: run %s: exited with status %d", ns->cfg.name, cmd,
			WEXITSTATUS(status));
	} else {
		pw_warn("notifier %s: run %s: killed by signal %d", ns->cfg.name, cmd,
			WTERMSIG(status));
	}
	notify_finish(p, ns, ok);
}

/* Shutting down or reloading: the command is stopped now, not at its
 * timeout (SIGTERM to its group, SIGKILL after the grace). */
static void exec_stop(struct nstate *ns, __u64 now)
{
	if (ns->kills)
		return;
	ns->stopped = true;
	kill(-ns->pid, SIGTERM);
	ns->deadline_ms = now + PW_NOTIFY_KILL_GRACE_MS;
	ns->kills++;
}

void notify_exec_step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now)
{
	siginfo_t si;
	pid_t reaped;
	int status = 0;

	exec_feed(ns);
	exec_drain(ns);
	if (stop)
		exec_stop(ns, now);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, ns->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0) {
		if (now < ns->deadline_ms)
			return;
		if (ns->kills == 0) {
			kill(-ns->pid, SIGTERM);
			ns->deadline_ms = now + PW_NOTIFY_KILL_GRACE_MS;
		} else {
			kill(-ns->pid, SIGKILL);
			ns->deadline_ms = NO_DEADLINE;
		}
		ns->kills++;
		return;
	}
	/* Exited but not reaped, so its group id cannot be reused yet: kill
	 * what a timed-out command left behind, then reap. */
	if (ns->kills)
		kill(-ns->pid, SIGKILL);
	do {
		reaped = waitpid(ns->pid, &status, 0);
	} while (reaped < 0 && errno == EINTR);
	exec_done(p, ns, reaped < 0 ? errno : 0, status);
}

size_t notify_exec_fds(const struct nstate *ns, struct curl_waitfd *fds, __u64 *wait_ms)
{
	size_t n = 0;

	if (ns->pidfd >= 0)
		fds[n++] = (struct curl_waitfd){ .fd = ns->pidfd, .events = CURL_WAIT_POLLIN };
	else if (*wait_ms > CHILD_POLL_MS)
		*wait_ms = CHILD_POLL_MS;
	if (ns->in_fd >= 0)
		fds[n++] = (struct curl_waitfd){ .fd = ns->in_fd, .events = CURL_WAIT_POLLOUT };
	if (ns->err_fd >= 0)
		fds[n++] = (struct curl_waitfd){ .fd = ns->err_fd, .events = CURL_WAIT_POLLIN };
	return n;
}

/* Whether uid:gid may run st's file (what execve() checks of the mode;
 * root needs one x bit). */
static bool may_exec(const struct stat *st, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH);
	if (st->st_uid == uid)
		return st->st_mode & S_IXUSR;
	if (st->st_gid == gid)
		return st->st_mode & S_IXGRP;
	return st->st_mode & S_IXOTH;
}

int notify_exec_verify(const struct pw_notifier *n, char *why, size_t len)
{
	const char *cmd = n->argv[0];
	struct stat st;
	int err;

	if (stat(cmd, &st)) {
		err = -errno;
		snprintf(why, len, "notifier %s: %s: %s", n->name, cmd, strerror(-err));
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "notifier %s: %s: not a regular file", n->name, cmd);
		return -EACCES;
	}
	if (n->set_ids ? !may_exec(&st, n->uid, n->gid)
		       : faccessat(AT_FDCWD, cmd, X_OK, AT_EACCESS)) {
		snprintf(why, len, "notifier %s: %s: not executable by %s (mode %04o)", n->name,
			 cmd, n->set_ids ? "its user" : "this user",
			 (unsigned int)(st.st_mode & 07777));
		return -EACCES;
	}
	return 0;
}
