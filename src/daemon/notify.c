// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Delivers alerts from one worker thread: an event loop over libcurl's multi
 * interface (HTTP), pidfds (exec children) and an eventfd (new work). Each
 * notifier has a bounded FIFO and at most one delivery in progress. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "common/clock.h"
#include "common/log.h"
#include "daemon/notify.h"

#ifndef PW_VERSION
#define PW_VERSION "dev"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DEFAULT_TIMEOUT_MS 10000
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
/* Longest sleep of the worker when nothing is due (a safety net only). */
#define IDLE_WAIT_MS 1000
/* Without a pidfd (kernel < 5.3) a running child is polled this often. */
#define CHILD_POLL_MS 20
/* How much of an HTTP error reply is logged. */
#define REPLY_LEN 160
#define NO_DEADLINE UINT64_MAX
#define EXEC_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

/* One alert, shared by the queues it is in; its strings point into text. */
struct msg {
	unsigned refs; /* set by send under the lock, then only the worker's */
	struct pw_alert_msg m;
	char text[];
};

struct nstate {
	struct pw_notifier cfg; /* deep copy */
	long timeout_ms;
	char *post_url; /* webhook: url; alertmanager: url + /api/v2/alerts */
	struct curl_slist *headers;
	CURL *easy;

	/* Under pw_notify.lock. */
	struct msg *queue[PW_NOTIFY_QUEUE_LEN];
	size_t q_head, q_len;
	__u64 drops_unlogged;
	struct pw_notify_stats stats;

	/* The worker's: the delivery in progress, if cur. */
	struct msg *cur;
	char *body; /* the JSON document sent */
	size_t body_len, body_off; /* exec: written to stdin so far */
	__u64 deadline_ms; /* exec: next signal; HTTP: next try */
	unsigned tries; /* HTTP tries started */
	bool in_multi; /* HTTP: a try is running */
	pid_t pid; /* exec: child, leader of its own process group */
	int pidfd, in_fd, err_fd; /* err_fd: the child's stderr, read end */
	char err_text[PW_NOTIFY_STDERR_KEEP + 1]; /* the first bytes of it */
	size_t err_len;
	__u64 err_total; /* bytes it wrote to stderr */
	int kills; /* exec: 0, 1 (SIGTERM sent) or 2 (SIGKILL sent) */
	bool stopped; /* exec: killed because the notifiers stop */
	char errbuf[CURL_ERROR_SIZE];
	char reply[REPLY_LEN + 1];
	size_t reply_len;
	char why[CURL_ERROR_SIZE + REPLY_LEN + 16]; /* HTTP: last failure */
};

struct pw_notify {
	pthread_mutex_t lock;
	bool stop; /* under lock */
	int wake_fd;
	pthread_t thread;
	CURLM *multi;
	struct curl_waitfd *fds; /* the worker's poll set */
	struct nstate *ns;
	size_t count;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const size_t msg_str_off[] = {
	offsetof(struct pw_alert_msg, rule),	  offsetof(struct pw_alert_msg, metric),
	offsetof(struct pw_alert_msg, direction), offsetof(struct pw_alert_msg, status),
	offsetof(struct pw_alert_msg, severity),  offsetof(struct pw_alert_msg, summary),
	offsetof(struct pw_alert_msg, hostname),
};

static const char **msg_str(struct pw_alert_msg *m, size_t i)
{
	return (const char **)((char *)m + msg_str_off[i]);
}

/* One allocation holding the message and its strings. */
static struct msg *msg_new(const struct pw_alert_msg *m)
{
	struct pw_alert_msg tmp = *m;
	size_t i, len = 0;
	struct msg *c;
	char *t;

	for (i = 0; i < ARRAY_SIZE(msg_str_off); i++) {
		if (!*msg_str(&tmp, i))
			*msg_str(&tmp, i) = "";
		len += strlen(*msg_str(&tmp, i)) + 1;
	}
	c = malloc(sizeof(*c) + len);
	if (!c)
		return NULL;
	c->refs = 0;
	c->m = tmp;
	t = c->text;
	for (i = 0; i < ARRAY_SIZE(msg_str_off); i++) {
		size_t n = strlen(*msg_str(&tmp, i)) + 1;

		memcpy(t, *msg_str(&tmp, i), n);
		*msg_str(&c->m, i) = t;
		t += n;
	}
	return c;
}

static void msg_put(struct msg *c)
{
	if (c && --c->refs == 0)
		free(c);
}

static void fmt_num(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.15g", v);
}

/* RFC 3339, UTC. */
static void fmt_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

static bool msg_resolved(const struct pw_alert_msg *m)
{
	return !strcmp(m->status, "resolved");
}

static time_t msg_ends_at(const struct pw_alert_msg *m)
{
	return m->ends_at ? m->ends_at : time(NULL);
}

static json_t *json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static char *json_take(json_t *j, size_t *len)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

	json_decref(j);
	if (s)
		*len = strlen(s);
	return s;
}

/* The document exec gets on stdin and webhook POSTs. */
static char *alert_doc(const struct pw_alert_msg *m, size_t *len)
{
	char t[32];
	json_t *o;

	o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:s, s:s}", "version", 1,
		      "status", m->status, "rule", m->rule, "metric", m->metric, "port",
		      (json_int_t)m->port, "direction", m->direction, "severity", m->severity,
		      "value", json_num(m->value), "threshold", json_num(m->threshold), "summary",
		      m->summary, "hostname", m->hostname);
	if (o && m->starts_at) {
		fmt_time(t, sizeof(t), m->starts_at);
		json_object_set_new(o, "starts_at", json_string(t));
	}
	if (o && msg_resolved(m)) {
		fmt_time(t, sizeof(t), msg_ends_at(m));
		json_object_set_new(o, "ends_at", json_string(t));
	}
	return json_take(o, len);
}

/* Alertmanager API v2: an array of postableAlert. Firing alerts carry no
 * endsAt, so Alertmanager keeps them for its resolve_timeout; resolved ones
 * carry the resolution time and end at once. */
static char *am_doc(const struct pw_alert_msg *m, size_t *len)
{
	char port[16], value[32], threshold[32], t[32];
	json_t *a;

	snprintf(port, sizeof(port), "%u", m->port);
	fmt_num(value, sizeof(value), m->value);
	fmt_num(threshold, sizeof(threshold), m->threshold);
	a = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "labels",
		      "alertname", m->rule, "port", port, "direction", m->direction, "severity",
		      m->severity, "metric", m->metric, "instance", m->hostname, "job", "portwatch",
		      "annotations", "summary", m->summary, "value", value, "threshold", threshold);
	if (a && m->starts_at) {
		fmt_time(t, sizeof(t), m->starts_at);
		json_object_set_new(a, "startsAt", json_string(t));
	}
	if (a && msg_resolved(m)) {
		fmt_time(t, sizeof(t), msg_ends_at(m));
		json_object_set_new(a, "endsAt", json_string(t));
	}
	return json_take(a ? json_pack("[o]", a) : NULL, len);
}

static void count_timeout(struct pw_notify *p, struct nstate *ns)
{
	pthread_mutex_lock(&p->lock);
	ns->stats.timeouts++;
	pthread_mutex_unlock(&p->lock);
}

/* Ends the delivery in progress. */
static void finish(struct pw_notify *p, struct nstate *ns, bool ok)
{
	pthread_mutex_lock(&p->lock);
	if (ok)
		ns->stats.sent++;
	else
		ns->stats.failed++;
	pthread_mutex_unlock(&p->lock);
	msg_put(ns->cur);
	ns->cur = NULL;
	free(ns->body);
	ns->body = NULL;
	ns->tries = 0;
	ns->deadline_ms = NO_DEADLINE;
}

/* The JSON document of the delivery in progress; false: failed, logged. */
static bool build_body(struct pw_notify *p, struct nstate *ns)
{
	if (ns->cfg.kind == PW_NK_ALERTMANAGER)
		ns->body = am_doc(&ns->cur->m, &ns->body_len);
	else
		ns->body = alert_doc(&ns->cur->m, &ns->body_len);
	if (ns->body)
		return true;
	pw_warn("notifier %s: encode alert %s: invalid UTF-8 or out of memory", ns->cfg.name,
		ns->cur->m.rule);
	finish(p, ns, false);
	return false;
}

/* The daemon logs every transition once, at warning level when a `log`
 * notifier is among its targets: the delivery is that line. */
static void log_deliver(struct pw_notify *p, struct nstate *ns)
{
	finish(p, ns, true);
}

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

static void exec_start(struct pw_notify *p, struct nstate *ns, __u64 now)
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
		{ "PORTWATCH_ENDS_AT", msg_resolved(m) ? ends : NULL },
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
	fmt_num(value, sizeof(value), m->value);
	fmt_num(threshold, sizeof(threshold), m->threshold);
	fmt_time(starts, sizeof(starts), m->starts_at);
	fmt_time(ends, sizeof(ends), msg_resolved(m) ? msg_ends_at(m) : 0);

	if (!build_body(p, ns))
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
		finish(p, ns, false);
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
		count_timeout(p, ns);
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
	finish(p, ns, ok);
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

static void exec_step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now)
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

static size_t http_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct nstate *ns = arg;
	size_t i, n = size * nmemb;

	for (i = 0; i < n && ns->reply_len < REPLY_LEN; i++) {
		char c = data[i];

		ns->reply[ns->reply_len++] = c >= 0x20 && c < 0x7f ? c : ' ';
	}
	while (ns->reply_len && ns->reply[ns->reply_len - 1] == ' ')
		ns->reply_len--;
	ns->reply[ns->reply_len] = '\0';
	return n;
}

static void http_fail(struct pw_notify *p, struct nstate *ns, const char *extra)
{
	pw_warn("notifier %s: POST %s: %s (%u %s%s)", ns->cfg.name, ns->post_url, ns->why,
		ns->tries, ns->tries == 1 ? "try" : "tries", extra);
	finish(p, ns, false);
}

static void http_try(struct pw_notify *p, struct nstate *ns)
{
	CURLMcode rc;

	ns->tries++;
	ns->errbuf[0] = '\0';
	ns->reply_len = 0;
	ns->reply[0] = '\0';
	ns->deadline_ms = NO_DEADLINE;
	rc = curl_multi_add_handle(p->multi, ns->easy);
	if (rc != CURLM_OK) {
		snprintf(ns->why, sizeof(ns->why), "%s", curl_multi_strerror(rc));
		http_fail(p, ns, "");
		return;
	}
	ns->in_multi = true;
}

static void http_start(struct pw_notify *p, struct nstate *ns)
{
	if (!build_body(p, ns))
		return;
	curl_easy_setopt(ns->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ns->body_len);
	curl_easy_setopt(ns->easy, CURLOPT_POSTFIELDS, ns->body);
	http_try(p, ns);
}

/* Transport errors, 5xx, 408 and 429 are retried; other replies would not
 * change. Retries back off 1 s, 2 s, 4 s ... up to 30 s. */
static void http_done(struct pw_notify *p, struct nstate *ns, CURLcode rc, bool stop)
{
	__u64 backoff;
	long code = 0;
	bool retry;

	curl_multi_remove_handle(p->multi, ns->easy);
	ns->in_multi = false;
	curl_easy_getinfo(ns->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code >= 200 && code < 300) {
		finish(p, ns, true);
		return;
	}
	if (rc != CURLE_OK) {
		snprintf(ns->why, sizeof(ns->why), "%s",
			 ns->errbuf[0] ? ns->errbuf : curl_easy_strerror(rc));
		retry = true;
		if (rc == CURLE_OPERATION_TIMEDOUT)
			count_timeout(p, ns);
	} else {
		snprintf(ns->why, sizeof(ns->why), "HTTP %ld%s%s", code, ns->reply_len ? ": " : "",
			 ns->reply);
		retry = code >= 500 || code == 408 || code == 429;
	}
	if (!retry || ns->tries > ns->cfg.retries || stop) {
		http_fail(p, ns, "");
		return;
	}
	backoff = ns->tries > 5 ? BACKOFF_MAX_MS : (__u64)BACKOFF_FIRST_MS << (ns->tries - 1);
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	ns->deadline_ms = pw_mono_ms() + backoff;
}

static bool pop(struct pw_notify *p, struct nstate *ns)
{
	pthread_mutex_lock(&p->lock);
	if (ns->q_len) {
		ns->cur = ns->queue[ns->q_head];
		ns->q_head = (ns->q_head + 1) % PW_NOTIFY_QUEUE_LEN;
		ns->q_len--;
	}
	pthread_mutex_unlock(&p->lock);
	return ns->cur;
}

static void report_drops(struct pw_notify *p, struct nstate *ns)
{
	__u64 n;

	pthread_mutex_lock(&p->lock);
	n = ns->drops_unlogged;
	ns->drops_unlogged = 0;
	pthread_mutex_unlock(&p->lock);
	if (n)
		pw_warn("notifier %s: queue full, dropped %llu alerts", ns->cfg.name,
			(unsigned long long)n);
}

/* Advances one notifier: the running delivery, then the next ones. */
static void step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now)
{
	report_drops(p, ns);
	if (ns->cur && ns->cfg.kind == PW_NK_EXEC) {
		exec_step(p, ns, stop, now);
	} else if (ns->cur && ns->in_multi && stop) {
		/* A transfer in flight is not waited for. */
		curl_multi_remove_handle(p->multi, ns->easy);
		ns->in_multi = false;
		snprintf(ns->why, sizeof(ns->why), "aborted");
		http_fail(p, ns, ", shutting down");
	} else if (ns->cur && !ns->in_multi) {
		/* HTTP, waiting to retry */
		if (stop)
			http_fail(p, ns, ", not retried: shutting down");
		else if (now >= ns->deadline_ms)
			http_try(p, ns);
	}
	while (!ns->cur && !stop && pop(p, ns)) {
		switch (ns->cfg.kind) {
		case PW_NK_LOG:
			log_deliver(p, ns);
			break;
		case PW_NK_EXEC:
			exec_start(p, ns, now);
			break;
		case PW_NK_WEBHOOK:
		case PW_NK_ALERTMANAGER:
			http_start(p, ns);
			break;
		}
	}
}

static void *worker(void *arg)
{
	struct pw_notify *p = arg;

	for (;;) {
		__u64 now = pw_mono_ms(), wait = IDLE_WAIT_MS, v;
		bool stop, busy = false, again = false;
		size_t i, nfds = 0;
		int left, running;
		CURLMsg *cm;

		if (read(p->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: woken by something else */
		}
		pthread_mutex_lock(&p->lock);
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		for (i = 0; i < p->count; i++)
			step(p, &p->ns[i], stop, now);

		curl_multi_perform(p->multi, &running);
		while ((cm = curl_multi_info_read(p->multi, &left))) {
			CURLcode rc = cm->data.result;
			char *ns;

			if (cm->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, &ns);
			http_done(p, (struct nstate *)ns, rc, stop);
			again = true;
		}

		p->fds[nfds++] =
			(struct curl_waitfd){ .fd = p->wake_fd, .events = CURL_WAIT_POLLIN };
		now = pw_mono_ms();
		for (i = 0; i < p->count; i++) {
			struct nstate *ns = &p->ns[i];

			if (!ns->cur)
				continue;
			busy = true;
			if (ns->deadline_ms <= now)
				wait = 0;
			else if (ns->deadline_ms - now < wait)
				wait = ns->deadline_ms - now;
			if (ns->cfg.kind != PW_NK_EXEC)
				continue;
			if (ns->pidfd >= 0)
				p->fds[nfds++] = (struct curl_waitfd){ .fd = ns->pidfd,
								       .events = CURL_WAIT_POLLIN };
			else if (wait > CHILD_POLL_MS)
				wait = CHILD_POLL_MS;
			if (ns->in_fd >= 0)
				p->fds[nfds++] =
					(struct curl_waitfd){ .fd = ns->in_fd,
							      .events = CURL_WAIT_POLLOUT };
			if (ns->err_fd >= 0)
				p->fds[nfds++] = (struct curl_waitfd){ .fd = ns->err_fd,
								       .events = CURL_WAIT_POLLIN };
		}
		if (stop && !busy)
			break;
		if (!again)
			curl_multi_poll(p->multi, p->fds, nfds, (int)wait, NULL);
	}
	return NULL;
}

static void ns_fini(struct nstate *ns)
{
	size_t i;

	if (ns->easy)
		curl_easy_cleanup(ns->easy);
	curl_slist_free_all(ns->headers);
	free(ns->post_url);
	free(ns->cfg.url);
	for (i = 0; ns->cfg.argv && ns->cfg.argv[i]; i++)
		free(ns->cfg.argv[i]);
	free(ns->cfg.argv);
}

static int http_init(struct nstate *ns)
{
	size_t len = strlen(ns->cfg.url);
	struct curl_slist *h;
	CURL *e;

	if (ns->cfg.kind == PW_NK_ALERTMANAGER) {
		while (len && ns->cfg.url[len - 1] == '/')
			len--;
		if (asprintf(&ns->post_url, "%.*s/api/v2/alerts", (int)len, ns->cfg.url) < 0) {
			ns->post_url = NULL;
			return -ENOMEM;
		}
	} else {
		ns->post_url = strdup(ns->cfg.url);
		if (!ns->post_url)
			return -ENOMEM;
	}
	ns->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip. */
	h = ns->headers ? curl_slist_append(ns->headers, "Expect:") : NULL;
	ns->easy = e = h ? curl_easy_init() : NULL;
	if (!e)
		return -ENOMEM;
	if (curl_easy_setopt(e, CURLOPT_URL, ns->post_url) != CURLE_OK)
		return -EINVAL;
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, ns->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "portwatch/" PW_VERSION);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ns->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ns->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_reply);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, ns);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ns->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, ns);
	return 0;
}

static int ns_init(struct nstate *ns, const struct pw_notifier *n)
{
	size_t i, argc = 0;

	ns->cfg = *n;
	ns->cfg.name[PW_NAME_LEN - 1] = '\0';
	ns->cfg.argv = NULL;
	ns->cfg.argc = 0;
	ns->cfg.url = NULL;
	ns->pidfd = ns->in_fd = ns->err_fd = -1;
	ns->deadline_ms = NO_DEADLINE;
	ns->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (n->timeout_ns)
		ns->timeout_ms = n->timeout_ns < 1000000 ? 1 : (long)(n->timeout_ns / 1000000);
	switch (n->kind) {
	case PW_NK_LOG:
		return 0;
	case PW_NK_EXEC:
		if (!n->argv || !n->argv[0] || n->argv[0][0] != '/')
			return -EINVAL;
		while (n->argv[argc])
			argc++;
		ns->cfg.argv = calloc(argc + 1, sizeof(*ns->cfg.argv));
		if (!ns->cfg.argv)
			return -ENOMEM;
		for (i = 0; i < argc; i++) {
			ns->cfg.argv[i] = strdup(n->argv[i]);
			if (!ns->cfg.argv[i])
				return -ENOMEM;
		}
		ns->cfg.argc = argc;
		return 0;
	case PW_NK_WEBHOOK:
	case PW_NK_ALERTMANAGER:
		if (!n->url || !n->url[0])
			return -EINVAL;
		ns->cfg.url = strdup(n->url);
		if (!ns->cfg.url)
			return -ENOMEM;
		return http_init(ns);
	}
	return -EINVAL;
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

int pw_notify_verify(const struct pw_notifier *n, char *why, size_t len)
{
	struct stat st;
	CURLUcode rc;
	char *scheme = NULL, *host = NULL;
	CURLU *u;
	int err = 0;

	if (n->kind == PW_NK_EXEC) {
		const char *cmd = n->argv[0];

		if (stat(cmd, &st)) {
			err = -errno;
			snprintf(why, len, "notifier %s: %s: %s", n->name, cmd, strerror(errno));
		} else if (!S_ISREG(st.st_mode)) {
			err = -EACCES;
			snprintf(why, len, "notifier %s: %s: not a regular file", n->name, cmd);
		} else if (n->set_ids ? !may_exec(&st, n->uid, n->gid)
				      : faccessat(AT_FDCWD, cmd, X_OK, AT_EACCESS)) {
			err = -EACCES;
			snprintf(why, len, "notifier %s: %s: not executable by %s (mode %04o)",
				 n->name, cmd, n->set_ids ? "its user" : "this user",
				 (unsigned int)(st.st_mode & 07777));
		}
		return err;
	}
	if (n->kind != PW_NK_WEBHOOK && n->kind != PW_NK_ALERTMANAGER)
		return 0;
	u = curl_url();
	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, n->url, 0);
	if (!rc)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (!rc)
		rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (rc) {
		err = -EINVAL;
		snprintf(why, len, "notifier %s: url %s: %s", n->name, n->url,
			 curl_url_strerror(rc));
	} else if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
		err = -EINVAL;
		snprintf(why, len, "notifier %s: url %s: not http or https", n->name, n->url);
	} else if (!*host) {
		err = -EINVAL;
		snprintf(why, len, "notifier %s: url %s: no host", n->name, n->url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return err;
}

struct pw_notify *pw_notify__new(const struct pw_notifier *n, size_t count)
{
	struct pw_notify *p;
	sigset_t all, old;
	size_t i, inited = 0;
	int err;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		pw_err("init libcurl: %s", curl_easy_strerror(curl_init_rc));
		errno = ENOMEM;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->wake_fd = -1;
	p->count = count;
	p->ns = calloc(count ? count : 1, sizeof(*p->ns));
	/* The wake eventfd plus, per exec notifier, a pidfd, its stdin and its
	 * stderr. */
	p->fds = calloc(1 + 3 * count, sizeof(*p->fds));
	p->multi = curl_multi_init();
	if (!p->ns || !p->fds || !p->multi) {
		err = -ENOMEM;
		goto err_free;
	}
	for (; inited < count; inited++) {
		err = ns_init(&p->ns[inited], &n[inited]);
		if (err) {
			inited++;
			goto err_free;
		}
	}
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		err = -errno;
		goto err_free;
	}
	err = -pthread_mutex_init(&p->lock, NULL);
	if (err)
		goto err_free;
	/* Signals stay with the daemon's threads; SIGPIPE from a closed pipe or
	 * socket becomes EPIPE here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&p->thread, NULL, worker, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto err_mutex;
	return p;

err_mutex:
	pthread_mutex_destroy(&p->lock);
err_free:
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	for (i = 0; i < inited; i++)
		ns_fini(&p->ns[i]);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	free(p->fds);
	free(p->ns);
	free(p);
	errno = -err;
	return NULL;
}

static void wake(struct pw_notify *p)
{
	__u64 one = 1;

	if (write(p->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the worker is woken anyway */
	}
}

void pw_notify__send(struct pw_notify *p, const size_t *idx, size_t n_idx,
		     const struct pw_alert_msg *m)
{
	struct msg *c;
	size_t i;

	if (!p || !n_idx)
		return;
	c = msg_new(m);
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n_idx; i++) {
		struct nstate *ns;

		if (idx[i] >= p->count)
			continue;
		ns = &p->ns[idx[i]];
		if (!c || ns->q_len == PW_NOTIFY_QUEUE_LEN || p->stop) {
			ns->stats.dropped++;
			ns->drops_unlogged++;
			continue;
		}
		ns->queue[(ns->q_head + ns->q_len++) % PW_NOTIFY_QUEUE_LEN] = c;
		c->refs++;
	}
	pthread_mutex_unlock(&p->lock);
	if (c && !c->refs)
		free(c);
	wake(p);
}

void pw_notify__stats(struct pw_notify *p, size_t notifier, struct pw_notify_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!p || notifier >= p->count)
		return;
	pthread_mutex_lock(&p->lock);
	*out = p->ns[notifier].stats;
	pthread_mutex_unlock(&p->lock);
}

void pw_notify__free(struct pw_notify *p)
{
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	wake(p);
	pthread_join(p->thread, NULL);
	for (i = 0; i < p->count; i++) {
		struct nstate *ns = &p->ns[i];

		report_drops(p, ns);
		if (ns->q_len)
			pw_warn("notifier %s: stopping, dropped %zu queued alerts", ns->cfg.name,
				ns->q_len);
		ns->stats.dropped += ns->q_len;
		for (; ns->q_len; ns->q_len--) {
			msg_put(ns->queue[ns->q_head]);
			ns->q_head = (ns->q_head + 1) % PW_NOTIFY_QUEUE_LEN;
		}
		ns_fini(ns);
	}
	curl_multi_cleanup(p->multi);
	pthread_mutex_destroy(&p->lock);
	close(p->wake_fd);
	free(p->fds);
	free(p->ns);
	free(p);
}
