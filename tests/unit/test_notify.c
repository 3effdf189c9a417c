// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Notifiers end to end: exec commands (sh -c scripts), webhook and
 * Alertmanager POSTs to a libmicrohttpd server on 127.0.0.1, timeouts,
 * retries, queue overflow and shutdown. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "daemon/notify.h"

#define STARTS 1700000000 /* 2023-11-14T22:13:20Z */
#define STARTS_STR "2023-11-14T22:13:20Z"
#define ENDS 1700000300
#define ENDS_STR "2023-11-14T22:18:20Z"
#define SUMMARY "57 sockets in CLOSE_WAIT on port 3001 (warn 10)"

static char tmpdir[] = "/tmp/pw-notify-XXXXXX";

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static struct pw_alert_msg alert(const char *status)
{
	bool resolved = !strcmp(status, "resolved");

	return (struct pw_alert_msg){
		.rule = "cw_api",
		.metric = "close_wait",
		.port = 3001,
		.direction = "inbound",
		.status = status,
		.severity = "warning",
		.value = resolved ? 3 : 57,
		.threshold = 10,
		.summary = SUMMARY,
		.starts_at = STARTS,
		.ends_at = resolved ? ENDS : 0,
		.hostname = "host-a",
	};
}

/* An exec notifier running script with sh -c; $1 is a file prefix in tmpdir. */
struct exec_cmd {
	char *argv[6];
	char out[128];
};

static struct pw_notifier exec_notifier(struct exec_cmd *c, const char *name, const char *script,
					__u64 timeout_ms)
{
	struct pw_notifier n = { .kind = PW_NK_EXEC, .timeout_ns = timeout_ms * 1000000 };

	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(c->out, sizeof(c->out), "%s/%s", tmpdir, name);
	c->argv[0] = "/bin/sh";
	c->argv[1] = "-c";
	c->argv[2] = (char *)script;
	c->argv[3] = "sh";
	c->argv[4] = c->out;
	c->argv[5] = NULL;
	n.argv = c->argv;
	n.argc = 5;
	return n;
}

static struct pw_notifier http_notifier(enum pw_notifier_kind kind, const char *name, char *url,
					__u64 timeout_ms, __u32 retries)
{
	struct pw_notifier n = {
		.kind = kind, .url = url, .timeout_ns = timeout_ms * 1000000, .retries = retries
	};

	snprintf(n.name, sizeof(n.name), "%s", name);
	return n;
}

/* Waits until notifier i has ended n alerts (sent + failed); returns its
 * counters, and the time it took in *took_ms if given. */
static struct pw_notify_stats wait_done(struct pw_notify *p, size_t i, __u64 n, long timeout_ms,
					__u64 *took_ms)
{
	__u64 start = now_ms();
	struct pw_notify_stats st;

	for (;;) {
		pw_notify__stats(p, i, &st);
		if (st.sent + st.failed >= n || now_ms() - start > (__u64)timeout_ms)
			break;
		sleep_ms(5);
	}
	if (took_ms)
		*took_ms = now_ms() - start;
	assert_true(st.sent + st.failed >= n);
	return st;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	int c;
	FILE *m;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

static char *slurp_suffix(const char *prefix, const char *suffix)
{
	char path[256];

	snprintf(path, sizeof(path), "%s%s", prefix, suffix);
	return slurp(path);
}

/* The value of KEY in `env` output, or NULL. */
static const char *env_get(const char *env, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *line;

	for (line = env; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, klen) && line[klen] == '=') {
			const char *v = line + klen + 1;
			size_t n = strcspn(v, "\n");

			snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), v);
			return buf;
		}
	}
	return NULL;
}

static void assert_env(const char *env, const char *key, const char *want)
{
	char buf[256];
	const char *got = env_get(env, key, buf, sizeof(buf));

	if (!got)
		fail_msg("%s not in the environment", key);
	assert_string_equal(got, want);
}

static void assert_json_str(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("%s: not a string", key);
	assert_string_equal(json_string_value(v), want);
}

static void assert_json_num(json_t *o, const char *key, double want)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		fail_msg("%s: not a number", key);
	assert_true(json_number_value(v) == want);
}

/* The document exec gets on stdin and webhook POSTs. */
static void assert_alert_doc(const char *text, const char *status)
{
	bool resolved = !strcmp(status, "resolved");
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);

	if (!o)
		fail_msg("bad JSON: %s: %s", jerr.text, text);
	assert_true(json_is_object(o));
	assert_true(json_is_integer(json_object_get(o, "version")));
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	assert_json_str(o, "status", status);
	assert_json_str(o, "rule", "cw_api");
	assert_json_str(o, "metric", "close_wait");
	assert_true(json_is_integer(json_object_get(o, "port")));
	assert_int_equal(json_integer_value(json_object_get(o, "port")), 3001);
	assert_json_str(o, "direction", "inbound");
	assert_json_str(o, "severity", "warning");
	assert_json_num(o, "value", resolved ? 3 : 57);
	assert_json_num(o, "threshold", 10);
	assert_json_str(o, "summary", SUMMARY);
	assert_json_str(o, "hostname", "host-a");
	assert_json_str(o, "starts_at", STARTS_STR);
	if (resolved)
		assert_json_str(o, "ends_at", ENDS_STR);
	else
		assert_null(json_object_get(o, "ends_at"));
	assert_int_equal(json_object_size(o), resolved ? 13 : 12);
	json_decref(o);
}

/* Every child of this process has been reaped. */
static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* The process is gone, or a zombie of some other parent: not running. */
static void assert_not_running(pid_t pid)
{
	char path[64], *stat;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	stat = slurp(path);
	if (stat) {
		char *st = strrchr(stat, ')');

		assert_non_null(st);
		if (st[2] != 'Z')
			fail_msg("pid %d still running: %s", pid, stat);
	}
	free(stat);
}

static void test_new_invalid(void **state)
{
	char *rel[] = { "notify.sh", NULL };
	struct pw_notifier bad[] = {
		{ .name = "noargv", .kind = PW_NK_EXEC },
		{ .name = "relative", .kind = PW_NK_EXEC, .argv = rel, .argc = 1 },
		{ .name = "nourl", .kind = PW_NK_WEBHOOK },
		{ .name = "nourl", .kind = PW_NK_ALERTMANAGER, .url = "" },
		{ .name = "kind", .kind = 42 },
	};
	struct pw_notifier log = { .name = "log", .kind = PW_NK_LOG };
	struct pw_alert_msg m = alert("firing");
	struct pw_notify_stats st;
	size_t i, idx[] = { 7 };
	struct pw_notify *p;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(pw_notify__new(&bad[i], 1));
		assert_int_equal(errno, EINVAL);
	}
	pw_notify__free(NULL);
	/* Out of range indexes are ignored, and so are their stats. */
	p = pw_notify__new(&log, 1);
	assert_non_null(p);
	pw_notify__send(p, idx, 1, &m);
	pw_notify__stats(p, 7, &st);
	assert_true(st.sent == 0 && st.failed == 0 && st.dropped == 0);
	pw_notify__free(p);
}

static void test_log(void **state)
{
	char path[128], *out;
	struct pw_notifier n = { .name = "log", .kind = PW_NK_LOG };
	struct pw_alert_msg m = alert("firing");
	struct pw_notify_stats st;
	struct pw_notify *p;
	size_t idx = 0;
	int fd, saved;

	(void)state;
	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);

	p = pw_notify__new(&n, 1);
	assert_non_null(p);
	pw_notify__send(p, &idx, 1, &m);
	st = wait_done(p, 0, 1, 2000, NULL);
	pw_notify__free(p);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	assert_int_equal(st.sent, 1);
	out = slurp(path);
	assert_non_null(out);
	/* The daemon's own line for the transition is the delivery: the
	 * notifier adds none (it repeated it before). */
	assert_null(strstr(out, "alert"));
	free(out);
}

/* Writes its environment, stdin, whether fd 77 leaked and its pid and
 * process group. */
static const char dump_script[] = "env > \"$1.env\"; cat > \"$1.json\"; "
				  "if [ -e /proc/$$/fd/77 ]; then echo leaked; else echo closed; "
				  "fi > \"$1.fd\"; "
				  "echo $$ $(awk '{print $5}' /proc/$$/stat) > \"$1.pgrp\"";

static void check_dump(const char *prefix, const char *status)
{
	char *env = slurp_suffix(prefix, ".env");
	char *json = slurp_suffix(prefix, ".json");
	char *fd = slurp_suffix(prefix, ".fd");
	char *pgrp = slurp_suffix(prefix, ".pgrp");
	bool resolved = !strcmp(status, "resolved");
	char buf[64];
	int pid, pgid;

	assert_non_null(env);
	assert_non_null(json);
	assert_non_null(fd);
	assert_non_null(pgrp);
	assert_env(env, "PORTWATCH_RULE", "cw_api");
	assert_env(env, "PORTWATCH_METRIC", "close_wait");
	assert_env(env, "PORTWATCH_PORT", "3001");
	assert_env(env, "PORTWATCH_DIRECTION", "inbound");
	assert_env(env, "PORTWATCH_STATUS", status);
	assert_env(env, "PORTWATCH_SEVERITY", "warning");
	assert_env(env, "PORTWATCH_VALUE", resolved ? "3" : "57");
	assert_env(env, "PORTWATCH_THRESHOLD", "10");
	assert_env(env, "PORTWATCH_SUMMARY", SUMMARY);
	assert_env(env, "PORTWATCH_HOSTNAME", "host-a");
	assert_env(env, "PORTWATCH_STARTS_AT", STARTS_STR);
	if (resolved)
		assert_env(env, "PORTWATCH_ENDS_AT", ENDS_STR);
	else
		assert_null(env_get(env, "PORTWATCH_ENDS_AT", buf, sizeof(buf)));
	assert_env(env, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
	/* Nothing of the daemon's own environment. */
	assert_null(env_get(env, "PW_TEST_SECRET", buf, sizeof(buf)));
	assert_null(env_get(env, "HOME", buf, sizeof(buf)));
	assert_alert_doc(json, status);
	assert_string_equal(fd, "closed\n");
	assert_int_equal(sscanf(pgrp, "%d %d", &pid, &pgid), 2);
	assert_int_equal(pid, pgid);
	free(env);
	free(json);
	free(fd);
	free(pgrp);
}

static void test_exec_env(void **state)
{
	struct exec_cmd cmd;
	struct pw_notifier n = exec_notifier(&cmd, "dump", dump_script, 5000);
	struct pw_alert_msg firing = alert("firing"), resolved = alert("resolved");
	struct pw_notify_stats st;
	struct pw_notify *p;
	size_t idx = 0;
	int leak;

	(void)state;
	setenv("PW_TEST_SECRET", "1", 1);
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 77), 77);
	close(leak);

	p = pw_notify__new(&n, 1);
	assert_non_null(p);
	pw_notify__send(p, &idx, 1, &firing);
	st = wait_done(p, 0, 1, 3000, NULL);
	assert_int_equal(st.sent, 1);
	check_dump(cmd.out, "firing");
	pw_notify__send(p, &idx, 1, &resolved);
	st = wait_done(p, 0, 2, 3000, NULL);
	assert_int_equal(st.sent, 2);
	check_dump(cmd.out, "resolved");
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.timeouts, 0);
	pw_notify__free(p);
	close(77);
	unsetenv("PW_TEST_SECRET");
	assert_no_children();
}

/* Record their pid and a child's, then wait; the second ignores SIGTERM
 * (and so does its sleep), so only SIGKILL ends it. */
static const char hang_script[] = "echo $$ > \"$1.pid\"; sleep 60 & echo $! > \"$1.child\"; wait";
static const char stubborn_script[] = "trap '' TERM; echo $$ > \"$1.pid\"; "
				      "sleep 60 & echo $! > \"$1.child\"; wait";

static void assert_group_killed(const char *prefix)
{
	char *pid = slurp_suffix(prefix, ".pid");
	char *child = slurp_suffix(prefix, ".child");

	assert_non_null(pid);
	assert_non_null(child);
	assert_not_running(atoi(pid));
	assert_not_running(atoi(child));
	free(pid);
	free(child);
}

static void test_exec_timeout(void **state)
{
	struct exec_cmd c[3];
	struct pw_notifier n[] = {
		exec_notifier(&c[0], "hang", hang_script, 300),
		exec_notifier(&c[1], "stubborn", stubborn_script, 300),
		exec_notifier(&c[2], "after", dump_script, 5000),
	};
	struct pw_alert_msg m = alert("firing");
	__u64 t0, took, took_after;
	struct pw_notify_stats st;
	size_t hang[] = { 0, 1 }, after = 2;
	struct pw_notify *p;

	(void)state;
	p = pw_notify__new(n, 3);
	assert_non_null(p);
	t0 = now_ms();
	pw_notify__send(p, hang, 2, &m);
	took = now_ms() - t0;
	assert_true(took < 50);
	/* The hung commands hold up neither the caller nor other notifiers. */
	sleep_ms(50);
	pw_notify__send(p, &after, 1, &m);
	st = wait_done(p, 2, 1, 3000, &took_after);
	assert_int_equal(st.sent, 1);
	print_message("# other notifier done after %llu ms\n", (unsigned long long)took_after);
	/* Concurrent, so well before the hung ones' timeout unless the machine
	 * is loaded; serial delivery would take at least the timeout. */
	assert_true(took_after < 1000);

	st = wait_done(p, 0, 1, 3000, NULL);
	took = now_ms() - t0;
	print_message("# hang killed after %llu ms\n", (unsigned long long)took);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.sent, 0);
	assert_true(took >= 290 && took < 1000);

	st = wait_done(p, 1, 1, 5000, NULL);
	took = now_ms() - t0;
	print_message("# stubborn killed after %llu ms\n", (unsigned long long)took);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.timeouts, 1);
	assert_true(took >= 300 + PW_NOTIFY_KILL_GRACE_MS - 10 && took < 3000);

	assert_no_children();
	/* The sleeps were in the commands' groups: killed too (given a moment
	 * for whichever process reaps orphans here). */
	sleep_ms(50);
	assert_group_killed(c[0].out);
	assert_group_killed(c[1].out);
	pw_notify__free(p);
}

static void test_exec_fail(void **state)
{
	struct exec_cmd c;
	char *missing[] = { "/nonexistent/portwatch-notify", NULL };
	struct pw_notifier n[] = {
		exec_notifier(&c, "fail", "cat > /dev/null; exit 3", 5000),
		{ .name = "missing", .kind = PW_NK_EXEC, .argv = missing, .argc = 1 },
	};
	struct pw_alert_msg m = alert("firing");
	struct pw_notify_stats st;
	size_t idx[] = { 0, 1 };
	struct pw_notify *p;

	(void)state;
	p = pw_notify__new(n, 2);
	assert_non_null(p);
	pw_notify__send(p, idx, 2, &m);
	st = wait_done(p, 0, 1, 3000, NULL);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.timeouts, 0);
	st = wait_done(p, 1, 1, 3000, NULL);
	assert_int_equal(st.failed, 1);
	pw_notify__free(p);
	assert_no_children();
}

/* A loopback TCP socket bound to an ephemeral port; listening or not. */
static int loopback_socket(bool listening, unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (listening)
		assert_int_equal(listen(fd, 16), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void test_webhook_unreachable(void **state)
{
	char closed_url[64], silent_url[64];
	unsigned closed_port, silent_port;
	int closed = loopback_socket(false, &closed_port);
	int silent = loopback_socket(true, &silent_port);
	struct pw_notifier n[2];
	struct pw_alert_msg m = alert("firing");
	struct pw_notify_stats st;
	size_t idx[] = { 0, 1 };
	struct pw_notify *p;
	__u64 t0, took;

	(void)state;
	/* Bound but not listening: connections are refused. */
	snprintf(closed_url, sizeof(closed_url), "http://127.0.0.1:%u/hook", closed_port);
	snprintf(silent_url, sizeof(silent_url), "http://127.0.0.1:%u/hook", silent_port);
	n[0] = http_notifier(PW_NK_WEBHOOK, "closed", closed_url, 300, 1);
	n[1] = http_notifier(PW_NK_WEBHOOK, "silent", silent_url, 300, 1);
	p = pw_notify__new(n, 2);
	assert_non_null(p);
	t0 = now_ms();
	pw_notify__send(p, idx, 2, &m);
	assert_true(now_ms() - t0 < 50);

	/* Two tries, 1 s apart. */
	st = wait_done(p, 0, 1, 5000, NULL);
	took = now_ms() - t0;
	print_message("# refused: failed after %llu ms\n", (unsigned long long)took);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.timeouts, 0);
	assert_true(took >= 990 && took < 2500);

	/* Two tries that time out, 1 s apart. */
	st = wait_done(p, 1, 1, 5000, NULL);
	took = now_ms() - t0;
	print_message("# silent: failed after %llu ms\n", (unsigned long long)took);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.timeouts, 2);
	assert_true(took >= 1590 && took < 3500);
	pw_notify__free(p);
	close(closed);
	close(silent);
}

/* What the test server received. */
struct request {
	char url[64], method[16], content_type[64];
	char *body;
};

#define MAX_REQUESTS 16

static struct server {
	struct MHD_Daemon *d;
	unsigned port;
	pthread_mutex_t lock;
	struct request req[MAX_REQUESTS];
	size_t n_req, n_flaky;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct upload {
	char *buf;
	size_t len;
	FILE *f;
};

/* /bad answers 400, /flaky 503 the first time, the rest 200. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **con_cls)
{
	struct upload *up = *con_cls;
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;
	const char *ct;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!up) {
		up = calloc(1, sizeof(*up));
		up->f = open_memstream(&up->buf, &up->len);
		*con_cls = up;
		return MHD_YES;
	}
	if (*data_size) {
		fwrite(data, 1, *data_size, up->f);
		*data_size = 0;
		return MHD_YES;
	}
	fclose(up->f);
	ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	pthread_mutex_lock(&srv.lock);
	if (srv.n_req < MAX_REQUESTS) {
		struct request *r = &srv.req[srv.n_req++];

		snprintf(r->url, sizeof(r->url), "%s", url);
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->content_type, sizeof(r->content_type), "%s", ct ? ct : "");
		r->body = up->buf;
		up->buf = NULL;
	}
	if (!strcmp(url, "/bad"))
		status = MHD_HTTP_BAD_REQUEST;
	else if (!strcmp(url, "/flaky") && srv.n_flaky++ == 0)
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
	pthread_mutex_unlock(&srv.lock);
	free(up->buf);
	free(up);
	*con_cls = NULL;
	resp = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int server_setup(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const union MHD_DaemonInfo *info;

	(void)state;
	srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				 handle, NULL, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
	if (!srv.d)
		return -1;
	info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
	srv.port = info ? info->port : 0;
	return srv.port ? 0 : -1;
}

static int server_teardown(void **state)
{
	size_t i;

	(void)state;
	MHD_stop_daemon(srv.d);
	for (i = 0; i < srv.n_req; i++)
		free(srv.req[i].body);
	srv.n_req = srv.n_flaky = 0;
	return 0;
}

/* The requests received for path, in order; waits for want of them. */
static size_t requests_for(const char *path, struct request **out, size_t want)
{
	__u64 start = now_ms();
	size_t i, n;

	for (;;) {
		n = 0;
		pthread_mutex_lock(&srv.lock);
		for (i = 0; i < srv.n_req; i++)
			if (!strcmp(srv.req[i].url, path))
				out[n++] = &srv.req[i];
		pthread_mutex_unlock(&srv.lock);
		if (n >= want || now_ms() - start > 3000)
			return n;
		sleep_ms(5);
	}
}

static void test_webhook_post(void **state)
{
	char url[64];
	struct pw_notifier n;
	struct pw_alert_msg m = alert("firing");
	struct pw_notify_stats st;
	struct request *r[2];
	struct pw_notify *p;
	size_t idx = 0;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", srv.port);
	n = http_notifier(PW_NK_WEBHOOK, "hook", url, 2000, 1);
	p = pw_notify__new(&n, 1);
	assert_non_null(p);
	pw_notify__send(p, &idx, 1, &m);
	st = wait_done(p, 0, 1, 3000, NULL);
	assert_int_equal(st.sent, 1);
	pw_notify__free(p);

	assert_int_equal(requests_for("/hook", r, 1), 1);
	assert_string_equal(r[0]->method, "POST");
	assert_string_equal(r[0]->content_type, "application/json");
	assert_non_null(r[0]->body);
	assert_alert_doc(r[0]->body, "firing");
}

static void assert_am_alert(const char *body, const char *status)
{
	bool resolved = !strcmp(status, "resolved");
	json_error_t jerr;
	json_t *doc = json_loads(body, 0, &jerr), *a, *labels, *ann;

	if (!doc)
		fail_msg("bad JSON: %s: %s", jerr.text, body);
	assert_true(json_is_array(doc));
	assert_int_equal(json_array_size(doc), 1);
	a = json_array_get(doc, 0);
	labels = json_object_get(a, "labels");
	assert_true(json_is_object(labels));
	assert_int_equal(json_object_size(labels), 7);
	assert_json_str(labels, "alertname", "cw_api");
	assert_json_str(labels, "port", "3001");
	assert_json_str(labels, "direction", "inbound");
	assert_json_str(labels, "severity", "warning");
	assert_json_str(labels, "metric", "close_wait");
	assert_json_str(labels, "instance", "host-a");
	assert_json_str(labels, "job", "portwatch");
	ann = json_object_get(a, "annotations");
	assert_true(json_is_object(ann));
	assert_json_str(ann, "summary", SUMMARY);
	assert_json_str(ann, "value", resolved ? "3" : "57");
	assert_json_str(ann, "threshold", "10");
	assert_json_str(a, "startsAt", STARTS_STR);
	if (resolved)
		assert_json_str(a, "endsAt", ENDS_STR);
	else
		assert_null(json_object_get(a, "endsAt"));
	json_decref(doc);
}

static void test_alertmanager(void **state)
{
	char url[64];
	struct pw_notifier n;
	struct pw_alert_msg firing = alert("firing"), resolved = alert("resolved");
	struct pw_notify_stats st;
	struct request *r[2];
	struct pw_notify *p;
	size_t idx = 0;

	(void)state;
	/* The trailing slash is not doubled. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", srv.port);
	n = http_notifier(PW_NK_ALERTMANAGER, "am", url, 2000, 1);
	p = pw_notify__new(&n, 1);
	assert_non_null(p);
	pw_notify__send(p, &idx, 1, &firing);
	pw_notify__send(p, &idx, 1, &resolved);
	st = wait_done(p, 0, 2, 3000, NULL);
	assert_int_equal(st.sent, 2);
	pw_notify__free(p);

	assert_int_equal(requests_for("/api/v2/alerts", r, 2), 2);
	assert_string_equal(r[0]->method, "POST");
	assert_string_equal(r[0]->content_type, "application/json");
	/* In order: firing, then resolved. */
	assert_am_alert(r[0]->body, "firing");
	assert_am_alert(r[1]->body, "resolved");
}

static void test_http_retry(void **state)
{
	char flaky[64], bad[64];
	struct pw_notifier n[2];
	struct pw_alert_msg m = alert("firing");
	struct pw_notify_stats st;
	struct request *r[4];
	size_t idx[] = { 0, 1 };
	struct pw_notify *p;

	(void)state;
	snprintf(flaky, sizeof(flaky), "http://127.0.0.1:%u/flaky", srv.port);
	snprintf(bad, sizeof(bad), "http://127.0.0.1:%u/bad", srv.port);
	n[0] = http_notifier(PW_NK_WEBHOOK, "flaky", flaky, 2000, 1);
	n[1] = http_notifier(PW_NK_WEBHOOK, "bad", bad, 2000, 3);
	p = pw_notify__new(n, 2);
	assert_non_null(p);
	pw_notify__send(p, idx, 2, &m);
	/* 503 is retried and the second try succeeds. */
	st = wait_done(p, 0, 1, 4000, NULL);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(requests_for("/flaky", r, 2), 2);
	/* 400 would not change: not retried. */
	st = wait_done(p, 1, 1, 4000, NULL);
	assert_int_equal(st.failed, 1);
	assert_int_equal(requests_for("/bad", r, 1), 1);
	pw_notify__free(p);
}

static void test_overflow(void **state)
{
	struct exec_cmd c;
	struct pw_notifier n = exec_notifier(&c, "slow", hang_script, 300);
	struct pw_alert_msg m = alert("firing");
	char pidfile[160];
	struct pw_notify_stats st;
	struct pw_notify *p;
	size_t i, idx = 0;
	__u64 t0, took;

	(void)state;
	p = pw_notify__new(&n, 1);
	assert_non_null(p);
	t0 = now_ms();
	for (i = 0; i < 300; i++)
		pw_notify__send(p, &idx, 1, &m);
	took = now_ms() - t0;
	print_message("# 300 sends took %llu ms\n", (unsigned long long)took);
	assert_true(took < 50);
	pw_notify__stats(p, 0, &st);
	/* The queue holds 256, and the worker may have taken one already. */
	assert_true(st.dropped >= 300 - PW_NOTIFY_QUEUE_LEN - 1);
	assert_true(st.dropped <= 300 - PW_NOTIFY_QUEUE_LEN);

	/* Stopping waits neither for the queue nor for the command in
	 * progress: it is stopped at once (SIGTERM, SIGKILL after the grace)
	 * and reaped. */
	snprintf(pidfile, sizeof(pidfile), "%s.pid", c.out);
	for (i = 0; i < 300 && access(pidfile, F_OK); i++)
		sleep_ms(10);
	assert_int_equal(access(pidfile, F_OK), 0);
	t0 = now_ms();
	pw_notify__free(p);
	took = now_ms() - t0;
	print_message("# free took %llu ms\n", (unsigned long long)took);
	assert_true(took < PW_NOTIFY_KILL_GRACE_MS + 500);
	assert_no_children();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	/* Loopback only, never through a proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What --check verifies beyond the file: commands on disk, URLs. */
static void test_verify(void **state)
{
	char script[sizeof(tmpdir) + 16], why[512];
	char *argv[2] = { script, NULL };
	struct pw_notifier n = { .name = "restart", .kind = PW_NK_EXEC, .argv = argv, .argc = 1 };
	int fd;

	(void)state;
	snprintf(script, sizeof(script), "%s/run", tmpdir);
	unlink(script);
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "notifier restart: "));
	assert_non_null(strstr(why, "/run: No such file or directory"));
	fd = open(script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	/* Root may run a file with one x bit; with none, nobody may. */
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "not executable by this user (mode 0644)"));
	assert_int_equal(chmod(script, 0700), 0);
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), 0);
	/* Run as another user: the owner's bit is not theirs. */
	n.set_ids = true;
	n.uid = 65534;
	n.gid = 65534;
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "not executable by its user (mode 0700)"));
	assert_int_equal(chmod(script, 0755), 0);
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), 0);
	argv[0] = tmpdir;
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "not a regular file"));
	unlink(script);

	n = (struct pw_notifier){ .name = "chat", .kind = PW_NK_WEBHOOK };
	n.url = "https://chat.example.com/hooks/portwatch";
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), 0);
	n.url = "http://";
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "notifier chat: url http://: "));
	n.url = "http://exa mple.com/";
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), -EINVAL);
	n.kind = PW_NK_LOG;
	assert_int_equal(pw_notify_verify(&n, why, sizeof(why)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_invalid),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_exec_env),
		cmocka_unit_test(test_exec_timeout),
		cmocka_unit_test(test_exec_fail),
		cmocka_unit_test(test_webhook_unreachable),
		cmocka_unit_test_setup_teardown(test_webhook_post, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_alertmanager, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_http_retry, server_setup, server_teardown),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_verify),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
