// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Integration test helpers; see helpers.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "helpers.h"

static int orig_netns = -1;

int netns_enter(void)
{
	orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig_netns < 0)
		return -errno;
	if (unshare(CLONE_NEWNET))
		return -errno;
	return lo_up();
}

int lo_up(void)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	return err;
}

void netns_leave(void)
{
	if (orig_netns < 0)
		return;
	if (setns(orig_netns, CLONE_NEWNET))
		fprintf(stderr, "# setns back: %s\n", strerror(errno));
	close(orig_netns);
	orig_netns = -1;
}

static char *slurp_fd(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *tmp;
	ssize_t n;

	if (!buf)
		return NULL;
	lseek(fd, 0, SEEK_SET);
	for (;;) {
		if (cap - len < 1024) {
			cap *= 2;
			tmp = realloc(buf, cap);
			if (!tmp) {
				free(buf);
				return NULL;
			}
			buf = tmp;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int cmd_run(struct cmd *c, const char *const *argv, const char *const *env, int timeout_ms)
{
	int out, err, status, i;
	long deadline;
	pid_t pid, w;

	memset(c, 0, sizeof(*c));
	out = memfd_create("out", MFD_CLOEXEC);
	err = memfd_create("err", MFD_CLOEXEC);
	if (out < 0 || err < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(out, 1);
		dup2(err, 2);
		/* The command must not hold the test's sockets. */
		close_range(3, ~0U, 0);
		for (i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	deadline = now_ms() + timeout_ms;
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(2000);
	}
	c->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	c->out = slurp_fd(out);
	c->err = slurp_fd(err);
	close(out);
	close(err);
	return c->out && c->err ? 0 : -ENOMEM;
}

void cmd_free(struct cmd *c)
{
	free(c->out);
	free(c->err);
	memset(c, 0, sizeof(*c));
}

static int bg_start(struct bg *b, const char *const *argv, const char *const *env, int err_fd);

int bg_portwatch(struct bg *b, ...)
{
	const char *args[32];
	va_list ap;
	int n = 0;

	va_start(ap, b);
	while (n < 31 && (args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	args[n] = NULL;
	return bg_portwatch_env(b, NULL, args);
}

/* Every background command started, by value: teardown must not depend on
 * a test's own variables, which are gone when it runs. */
#define MAX_BG 16
static struct bg started[MAX_BG];
static bool reaped[MAX_BG];
static int nstarted;

void bg_reap_all(void)
{
	int i;

	for (i = 0; i < nstarted; i++) {
		if (!reaped[i]) {
			kill(started[i].pid, SIGKILL);
			waitpid(started[i].pid, NULL, 0);
		}
		close(started[i].out);
		close(started[i].err);
	}
	nstarted = 0;
}

/* $PORTWATCH and args as one argv (at most 31 entries). */
static void portwatch_argv(const char *argv[32], const char *const *args)
{
	const char *bin = getenv("PORTWATCH");
	int n = 0, i;

	argv[n++] = bin ? bin : "build/portwatch";
	for (i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
}

int bg_portwatch_env(struct bg *b, const char *const *env, const char *const *args)
{
	const char *argv[32];

	portwatch_argv(argv, args);
	return bg_exec(b, argv, env);
}

int bg_portwatch_stderr(struct bg *b, int err_fd, const char *const *args)
{
	const char *argv[32];

	portwatch_argv(argv, args);
	return bg_start(b, argv, NULL, err_fd);
}

int bg_exec(struct bg *b, const char *const *argv, const char *const *env)
{
	return bg_start(b, argv, env, -1);
}

static int bg_start(struct bg *b, const char *const *argv, const char *const *env, int err_fd)
{
	int i;

	b->out = memfd_create("bg-out", MFD_CLOEXEC);
	b->err = err_fd >= 0 ? fcntl(err_fd, F_DUPFD_CLOEXEC, 3)
			     : memfd_create("bg-err", MFD_CLOEXEC);
	if (b->out < 0 || b->err < 0)
		return -errno;
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (b->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(b->out, 1);
		dup2(b->err, 2);
		close_range(3, ~0U, 0);
		for (i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (nstarted < MAX_BG) {
		reaped[nstarted] = false;
		started[nstarted++] = *b;
	}
	return 0;
}

static char *read_all_at(int fd)
{
	struct stat st;
	char *buf;
	ssize_t n;

	if (fstat(fd, &st))
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	n = pread(fd, buf, (size_t)st.st_size, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

char *bg_output(const struct bg *b)
{
	return read_all_at(b->out);
}

char *bg_errors(const struct bg *b)
{
	return read_all_at(b->err);
}

int bg_stop(struct bg *b, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status = 0, i;

	for (i = 0; i < nstarted; i++)
		if (started[i].pid == b->pid)
			reaped[i] = true;
	kill(b->pid, SIGTERM);
	while (waitpid(b->pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &status, 0);
			break;
		}
		usleep(5000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int portwatch(struct cmd *c, ...)
{
	const char *argv[32];
	const char *bin = getenv("PORTWATCH");
	va_list ap;
	int n = 0;

	if (!bin)
		bin = "build/portwatch";
	argv[n++] = bin;
	va_start(ap, c);
	while (n < 31 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return cmd_run(c, argv, NULL, 30000);
}

int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static socklen_t loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a);
}

int tcp_listen(int family, uint16_t port, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog)) {
		close(fd);
		return -errno;
	}
	return fd;
}

int tcp_connect(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd;

	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -errno;
	}
	return fd;
}

int wait_accept_queue(int lfd, unsigned int n, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	struct tcp_info ti;
	socklen_t len;

	for (;;) {
		len = sizeof(ti);
		/* For a listener, tcpi_unacked is its accept queue's length. */
		if (getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len))
			return -errno;
		if (ti.tcpi_unacked == n)
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(100);
	}
}

#define MAX_CHILDREN 16
static struct {
	pid_t pid;
	int ready;
} children[MAX_CHILDREN];

pid_t spawn(void (*fn)(void *arg, int ready_fd), void *arg)
{
	int p[2], i;
	pid_t pid;

	for (i = 0; i < MAX_CHILDREN && children[i].pid; i++)
		;
	if (i == MAX_CHILDREN || pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Never outlive a crashed test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		fn(arg, p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	children[i].pid = pid;
	children[i].ready = p[0];
	return pid;
}

long long netns_ino(pid_t pid)
{
	char path[64];
	struct stat st;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/net");
	return stat(path, &st) ? -1 : (long long)st.st_ino;
}

void netns_leak(void *arg, int ready)
{
	const struct netns_leak *l = arg;
	int lfd, i, c, a;

	if (unshare(CLONE_NEWNET) || lo_up())
		_exit(1);
	lfd = tcp_listen(AF_INET, l->port, 64);
	for (i = 0; i < l->n; i++) {
		c = tcp_connect(AF_INET, l->port);
		a = accept(lfd, NULL, NULL);
		if (c < 0 || a < 0)
			_exit(1);
		close(c);
	}
	if (write(ready, "n", 1) != 1)
		_exit(1);
}

int wait_child(pid_t pid, int timeout_ms)
{
	struct pollfd pfd = { .events = POLLIN };
	char b;
	int i;

	for (i = 0; i < MAX_CHILDREN && children[i].pid != pid; i++)
		;
	if (i == MAX_CHILDREN)
		return -ENOENT;
	pfd.fd = children[i].ready;
	if (poll(&pfd, 1, timeout_ms) != 1 || read(pfd.fd, &b, 1) != 1)
		return -ETIMEDOUT;
	return 0;
}

void reap_children(void)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (!children[i].pid)
			continue;
		kill(children[i].pid, SIGKILL);
		waitpid(children[i].pid, NULL, 0);
		close(children[i].ready);
		children[i].pid = 0;
	}
}

static uint16_t port_of(const char *endpoint)
{
	const char *colon = strrchr(endpoint, ':');

	return colon && colon[1] != '*' ? (uint16_t)atoi(colon + 1) : 0;
}

static void parse_users(struct ss_sock *s, const char *p)
{
	const char *q;

	while (s->nusers < 8 && (q = strstr(p, "pid="))) {
		s->users[s->nusers].pid = atoi(q + 4);
		q = strstr(q, "fd=");
		if (!q)
			break;
		s->users[s->nusers].fd = atoi(q + 3);
		s->nusers++;
		p = q;
	}
}

int ss_read(struct ss_sock **socks, size_t *n)
{
	return ss_read_in(0, socks, n);
}

int ss_read_in(pid_t pid, struct ss_sock **socks, size_t *n)
{
	char target[16];
	const char *in_ns[] = { "nsenter", "-t", target, "-n", "ss", "-tanpH", NULL };
	const char *here[] = { "ss", "-tanpH", NULL };
	const char *const *argv = pid ? in_ns : here;
	struct ss_sock *out = NULL, *tmp, *s;
	size_t cnt = 0, cap = 0;
	char *line, *save = NULL;
	struct cmd c;
	int err;

	snprintf(target, sizeof(target), "%d", (int)pid);
	err = cmd_run(&c, argv, NULL, 30000);
	if (err || c.status) {
		fprintf(stderr, "# ss failed: %s\n", c.err ? c.err : "");
		cmd_free(&c);
		return err ? err : -EIO;
	}
	for (line = strtok_r(c.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(out, cap * sizeof(*out));
			if (!tmp) {
				free(out);
				cmd_free(&c);
				return -ENOMEM;
			}
			out = tmp;
		}
		s = &out[cnt];
		memset(s, 0, sizeof(*s));
		if (sscanf(line, "%15s %u %u %63s %63s", s->state, &s->recvq, &s->sendq, s->local,
			   s->peer) != 5)
			continue;
		s->lport = port_of(s->local);
		s->rport = port_of(s->peer);
		parse_users(s, line);
		cnt++;
	}
	cmd_free(&c);
	*socks = out;
	*n = cnt;
	return 0;
}

size_t ss_count(const struct ss_sock *s, size_t n, const char *state, int lport, int rport)
{
	size_t i, cnt = 0;

	for (i = 0; i < n; i++)
		if ((!state || !strcmp(s[i].state, state)) && (lport < 0 || s[i].lport == lport) &&
		    (rport < 0 || s[i].rport == rport))
			cnt++;
	return cnt;
}

int ss_wait_count(const char *state, int lport, int rport, size_t want, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	struct ss_sock *s;
	size_t n, got;

	for (;;) {
		if (ss_read(&s, &n))
			return -EIO;
		got = ss_count(s, n, state, lport, rport);
		free(s);
		if (got == want)
			return 0;
		if (now_ms() > deadline) {
			fprintf(stderr, "# waited for %zu %s sockets (%d -> %d), have %zu\n", want,
				state ? state : "", lport, rport, got);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
}

int ss_wait_recvq(int lport, size_t want, unsigned int recvq, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	struct ss_sock *s;
	size_t n, i, got;

	for (;;) {
		if (ss_read(&s, &n))
			return -EIO;
		for (i = 0, got = 0; i < n; i++)
			got += !strcmp(s[i].state, "ESTAB") && s[i].lport == lport &&
			       s[i].recvq == recvq;
		free(s);
		if (got == want)
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

static const char *const state_map[][2] = {
	{ "ESTABLISHED", "ESTAB" },    { "SYN_SENT", "SYN-SENT" },     { "SYN_RECV", "SYN-RECV" },
	{ "FIN_WAIT1", "FIN-WAIT-1" }, { "FIN_WAIT2", "FIN-WAIT-2" },  { "TIME_WAIT", "TIME-WAIT" },
	{ "CLOSE", "UNCONN" },	       { "CLOSE_WAIT", "CLOSE-WAIT" }, { "LAST_ACK", "LAST-ACK" },
	{ "LISTEN", "LISTEN" },	       { "CLOSING", "CLOSING" },
};

const char *ss_state_of(const char *kernel_name)
{
	size_t i;

	for (i = 0; i < sizeof(state_map) / sizeof(state_map[0]); i++)
		if (!strcmp(state_map[i][0], kernel_name))
			return state_map[i][1];
	return NULL;
}

static json_t *portwatch_json(const char *cmd)
{
	json_error_t jerr;
	struct cmd c;
	json_t *doc;

	assert_int_equal(portwatch(&c, cmd, "--json", NULL), 0);
	if (c.status != 0)
		fail_msg("portwatch %s --json exited %d: %s", cmd, c.status, c.err);
	doc = json_loads(c.out, 0, &jerr);
	if (!doc)
		fail_msg("portwatch %s --json: bad JSON at %d: %s", cmd, jerr.position, jerr.text);
	assert_true(json_is_array(doc));
	cmd_free(&c);
	return doc;
}

/* Same multiset of (state, local, peer) in two ss reads: the namespace held
 * still while portwatch looked. */
static bool ss_same(const struct ss_sock *a, size_t na, const struct ss_sock *b, size_t nb)
{
	size_t i, j;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb; j++)
			if (!strcmp(a[i].state, b[j].state) && !strcmp(a[i].local, b[j].local) &&
			    !strcmp(a[i].peer, b[j].peer))
				break;
		if (j == nb)
			return false;
	}
	return true;
}

/* Takes a portwatch document between two identical ss reads. */
static json_t *stable_json(const char *cmd, struct ss_sock **ss, size_t *nss)
{
	struct ss_sock *before, *after;
	size_t nb, na;
	json_t *doc;
	int tries;

	for (tries = 0; tries < 10; tries++) {
		assert_int_equal(ss_read(&before, &nb), 0);
		doc = portwatch_json(cmd);
		assert_int_equal(ss_read(&after, &na), 0);
		if (ss_same(before, nb, after, na)) {
			free(before);
			*ss = after;
			*nss = na;
			return doc;
		}
		free(before);
		free(after);
		json_decref(doc);
		usleep(50000);
	}
	fail_msg("the namespace never held still for portwatch %s", cmd);
	return NULL;
}

json_t *states_checked(void)
{
	struct ss_sock *ss;
	size_t nss, i, k;
	json_t *doc, *row, *st;
	long total, want;

	doc = stable_json("states", &ss, &nss);
	for (k = 0; k < sizeof(state_map) / sizeof(state_map[0]); k++) {
		total = 0;
		json_array_foreach (doc, i, row) {
			st = json_object_get(row, "states");
			assert_non_null(json_object_get(st, state_map[k][0]));
			total += json_integer_value(json_object_get(st, state_map[k][0]));
		}
		want = (long)ss_count(ss, nss, state_map[k][1], -1, -1);
		if (total != want)
			fail_msg("portwatch states counts %ld %s sockets, ss %ld", total,
				 state_map[k][0], want);
	}
	/* Listener rows: queue depth and limit are ss's Recv-Q and Send-Q of
	 * the port's fullest listener (the highest ratio; between equals the
	 * deeper queue, then the smaller backlog). */
	json_array_foreach (doc, i, row) {
		long q = 0, qmax = 0, d, m;
		size_t j;

		if (strcmp(json_string_value(json_object_get(row, "direction")), "listen"))
			continue;
		for (j = 0; j < nss; j++) {
			if (strcmp(ss[j].state, "LISTEN") ||
			    ss[j].lport != json_integer_value(json_object_get(row, "port")))
				continue;
			d = ss[j].recvq;
			m = ss[j].sendq;
			if (!qmax || d * qmax > q * m ||
			    (d * qmax == q * m && (d > q || (d == q && m < qmax)))) {
				q = d;
				qmax = m;
			}
		}
		assert_int_equal(json_integer_value(json_object_get(row, "accept_queue")), q);
		assert_int_equal(json_integer_value(json_object_get(row, "accept_queue_max")),
				 qmax);
	}
	free(ss);
	return doc;
}

static bool has_user(const struct ss_sock *s, long pid, long fd)
{
	int u;

	for (u = 0; u < s->nusers; u++)
		if (s->users[u].pid == pid && s->users[u].fd == fd)
			return true;
	return false;
}

json_t *closewait_checked(void)
{
	json_t *doc, *e, *owners, *o;
	struct ss_sock *ss;
	size_t nss, i, j, k;

	doc = stable_json("closewait", &ss, &nss);
	assert_int_equal(json_array_size(doc), ss_count(ss, nss, "CLOSE-WAIT", -1, -1));
	json_array_foreach (doc, i, e) {
		const char *local = json_string_value(json_object_get(e, "local"));
		const char *remote = json_string_value(json_object_get(e, "remote"));

		for (j = 0; j < nss; j++)
			if (!strcmp(ss[j].state, "CLOSE-WAIT") && !strcmp(ss[j].local, local) &&
			    !strcmp(ss[j].peer, remote))
				break;
		if (j == nss)
			fail_msg("portwatch lists %s -> %s in CLOSE_WAIT, ss does not", local,
				 remote);
		owners = json_object_get(e, "owners");
		assert_int_equal(json_array_size(owners), ss[j].nusers);
		json_array_foreach (owners, k, o) {
			if (!has_user(&ss[j], json_integer_value(json_object_get(o, "pid")),
				      json_integer_value(json_object_get(o, "fd"))))
				fail_msg("owner pid %lld fd %lld of %s is not in ss",
					 json_integer_value(json_object_get(o, "pid")),
					 json_integer_value(json_object_get(o, "fd")), local);
		}
		/* Oldest first. */
		if (i > 0)
			assert_true(json_real_value(json_object_get(json_array_get(doc, i - 1),
								    "age_seconds")) >=
				    json_real_value(json_object_get(e, "age_seconds")));
	}
	free(ss);
	return doc;
}

json_t *find_row(json_t *rows, int port, const char *dir)
{
	json_t *row;
	size_t i;

	json_array_foreach (rows, i, row)
		if (json_integer_value(json_object_get(row, "port")) == port &&
		    !strcmp(json_string_value(json_object_get(row, "direction")), dir))
			return row;
	return NULL;
}

long row_state(json_t *rows, int port, const char *dir, const char *state)
{
	json_t *row = find_row(rows, port, dir);

	if (!row)
		return 0;
	return (long)json_integer_value(json_object_get(json_object_get(row, "states"), state));
}

double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int ss_read_lastrcv(struct ss_rcv **rcv, size_t *n)
{
	static const char *const argv[] = { "ss", "-tinH", "state", "close-wait", NULL };
	struct ss_rcv *out = NULL, *tmp, *r = NULL;
	size_t cnt = 0, cap = 0;
	char *line, *save = NULL;
	const char *p;
	unsigned int q;
	struct cmd c;
	int err;

	err = cmd_run(&c, argv, NULL, 30000);
	if (err || c.status) {
		cmd_free(&c);
		return err ? err : -EIO;
	}
	/* A line per socket (no state column: the filter names it), then its
	 * details on an indented line. */
	for (line = strtok_r(c.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '\t' || line[0] == ' ') {
			p = strstr(line, " lastrcv:");
			if (r && p)
				r->lastrcv_ms = (unsigned int)atoi(p + 9);
			p = strstr(line, " lastack:");
			if (r && p)
				r->lastack_ms = (unsigned int)atoi(p + 9);
			if (r)
				r->heard_ms = p && r->lastack_ms < r->lastrcv_ms ? r->lastack_ms
										 : r->lastrcv_ms;
			continue;
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(out, cap * sizeof(*out));
			if (!tmp) {
				free(out);
				cmd_free(&c);
				return -ENOMEM;
			}
			out = tmp;
		}
		r = &out[cnt];
		memset(r, 0, sizeof(*r));
		if (sscanf(line, "%u %u %63s %63s", &q, &q, r->local, r->peer) != 4) {
			r = NULL;
			continue;
		}
		cnt++;
	}
	cmd_free(&c);
	*rcv = out;
	*n = cnt;
	return 0;
}

const struct ss_rcv *ss_rcv_find(const struct ss_rcv *r, size_t n, const char *local,
				 const char *peer)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(r[i].local, local) && !strcmp(r[i].peer, peer))
			return &r[i];
	return NULL;
}

int bg_wait_output(const struct bg *b, const char *needle, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	char *out;
	bool found;

	for (;;) {
		out = bg_output(b);
		found = out && strstr(out, needle);
		free(out);
		if (found)
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
}

bool events_is_canary(const char *line, int port)
{
	static const char *const types[] = { "connect_refused", "reset_sent", "reset_received" };
	char type[32] = "";
	json_t *o;
	size_t i;
	int p = 0;

	if (line[0] == '{') {
		o = json_loads(line, 0, NULL);
		p = (int)json_integer_value(json_object_get(o, "port"));
		snprintf(type, sizeof(type), "%s",
			 json_string_value(json_object_get(o, "type")) ?: "");
		json_decref(o);
	} else if (sscanf(line, "%*s %d %*s %31s", &p, type) != 2) {
		return false;
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (p == port && !strcmp(type, types[i]))
			return true;
	return false;
}

int events_wait_ready(const struct bg *b, int port, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	char *out, *line, *save;
	bool found = false;
	int fd;

	while (!found) {
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		fd = tcp_connect(AF_INET, (uint16_t)port);
		if (fd >= 0) {
			close(fd);
			return -EADDRINUSE;
		}
		usleep(100000);
		out = bg_output(b);
		for (line = strtok_r(out, "\n", &save); line && !found;
		     line = strtok_r(NULL, "\n", &save))
			found = events_is_canary(line, port) && strstr(line, "connect_refused");
		free(out);
	}
	return 0;
}

/* The timestamp of a status line (a row has no "drops"), or -1. */
static double status_time(const char *line, json_t **status)
{
	json_t *obj;
	double t;

	if (!strstr(line, "\"drops\""))
		return -1;
	obj = json_loads(line, 0, NULL);
	if (!obj || !json_object_get(obj, "drops")) {
		json_decref(obj);
		return -1;
	}
	t = json_real_value(json_object_get(obj, "timestamp"));
	if (status)
		*status = obj;
	else
		json_decref(obj);
	return t;
}

/* The interval's rows come before its status line. Parses backwards from
 * the end, so that a long run's output costs no more than its tail. */
static json_t *rows_after(char *out, double after, json_t **status)
{
	size_t n = 0, cap = 1024, i, first = 0, end;
	char **lines = malloc(cap * sizeof(*lines)), **tmp, *line, *save;
	json_t *batch = NULL, *obj;
	double t;

	if (!lines)
		return NULL;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (n == cap) {
			cap *= 2;
			tmp = realloc(lines, cap * sizeof(*lines));
			if (!tmp)
				goto out;
			lines = tmp;
		}
		lines[n++] = line;
	}
	/* After the last status line stamped up to after, if any. */
	for (i = n; i > 0; i--) {
		t = status_time(lines[i - 1], NULL);
		if (t >= 0 && t <= after) {
			first = i;
			break;
		}
	}
	for (end = first; end < n && status_time(lines[end], NULL) < 0; end++)
		;
	if (end == n)
		goto out; /* that interval is not complete yet */
	batch = json_array();
	for (i = first; i < end; i++) {
		obj = json_loads(lines[i], 0, NULL);
		if (obj)
			json_array_append_new(batch, obj);
	}
	status_time(lines[end], status);
out:
	free(lines);
	return batch;
}

json_t *watch_rows_after(const struct bg *b, double after, json_t **status, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	json_t *batch;
	char *out;

	for (;;) {
		out = bg_output(b);
		batch = out ? rows_after(out, after, status) : NULL;
		free(out);
		if (batch)
			return batch;
		if (now_ms() > deadline)
			return NULL;
		usleep(20000);
	}
}

void assert_rows_match_ss(json_t *rows, long long netns, const struct ss_sock *ss, size_t n)
{
	long total, want;
	json_t *row;
	size_t i, k;

	for (k = 0; k < sizeof(state_map) / sizeof(state_map[0]); k++) {
		total = 0;
		json_array_foreach (rows, i, row) {
			if (netns && json_integer_value(json_object_get(row, "netns")) != netns)
				continue;
			total += json_integer_value(
				json_object_get(json_object_get(row, "states"), state_map[k][0]));
		}
		want = (long)ss_count(ss, n, state_map[k][1], -1, -1);
		if (total != want)
			fail_msg("watch counts %ld %s sockets in netns %lld, ss %ld", total,
				 state_map[k][0], netns, want);
	}
}

json_t *watch_checked(const struct bg *b, json_t **status)
{
	struct ss_sock *before, *after;
	size_t nb, na;
	json_t *rows;
	double t;
	int tries;

	for (tries = 0; tries < 10; tries++) {
		assert_int_equal(ss_read(&before, &nb), 0);
		t = wall_now();
		rows = watch_rows_after(b, t, status, WAIT_MS);
		assert_non_null(rows);
		assert_int_equal(ss_read(&after, &na), 0);
		if (ss_same(before, nb, after, na))
			break;
		free(before);
		free(after);
		json_decref(rows);
		if (status)
			json_decref(*status);
		rows = NULL;
	}
	if (!rows)
		fail_msg("the namespace never held still for watch");
	assert_rows_match_ss(rows, 0, after, na);
	free(before);
	free(after);
	return rows;
}

/* The ids of the BPF programs behind process pid's program and link fds
 * (fdinfo's prog_id). At most max; -1 if its fds cannot be read. */
static int prog_ids_of(pid_t pid, int *ids, int max)
{
	char path[320], line[128];
	struct dirent *de;
	int n = 0, id, i;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir)) && n < max) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %d", &id) == 1) {
				for (i = 0; i < n && ids[i] != id; i++)
					;
				if (i == n && n < max)
					ids[n++] = id;
			}
		fclose(f);
	}
	closedir(dir);
	return n;
}

/* Every loaded program as bpftool lists it; NULL on failure. */
static json_t *progs_loaded(void)
{
	static const char *const argv[] = { "bpftool", "-j", "prog", "show", NULL };
	json_t *doc;
	struct cmd c;

	if (cmd_run(&c, argv, NULL, 30000) || c.status)
		return NULL;
	doc = json_loads(c.out, 0, NULL);
	cmd_free(&c);
	return doc;
}

static const char *prog_name(json_t *progs, int id)
{
	json_t *p;
	size_t i;

	json_array_foreach (progs, i, p)
		if (json_integer_value(json_object_get(p, "id")) == id)
			return json_string_value(json_object_get(p, "name")) ?: "";
	return NULL;
}

int bpf_prog_count_of(pid_t pid, const char *prefix)
{
	int ids[256], n = prog_ids_of(pid, ids, 256), i, count = 0;
	json_t *progs;

	if (n < 0 || !(progs = progs_loaded()))
		return -1;
	for (i = 0; i < n; i++) {
		const char *name = prog_name(progs, ids[i]);

		count += name && !strncmp(name, prefix, strlen(prefix));
	}
	json_decref(progs);
	return count;
}

int bpf_prog_count_of_wait(pid_t pid, const char *prefix, int want, int timeout_ms)
{
	int n, waited;

	for (waited = 0;; waited += 100) {
		n = bpf_prog_count_of(pid, prefix);
		if (n == want || waited >= timeout_ms)
			return n;
		usleep(100 * 1000);
	}
}

int bpf_prog_ids(pid_t pid, int *ids, int max)
{
	return prog_ids_of(pid, ids, max);
}

int bpf_progs_alive_wait(const int *ids, int n, int timeout_ms)
{
	int alive, waited, i;
	json_t *progs;

	for (waited = 0;; waited += 100) {
		progs = progs_loaded();
		if (!progs)
			return -1;
		for (alive = 0, i = 0; i < n; i++)
			alive += prog_name(progs, ids[i]) != NULL;
		json_decref(progs);
		if (!alive || waited >= timeout_ms)
			return alive;
		usleep(100 * 1000);
	}
}

int netns_setup(void **state)
{
	(void)state;
	return netns_enter();
}

int netns_teardown(void **state)
{
	(void)state;
	bg_reap_all();
	reap_children();
	netns_leave();
	return 0;
}
