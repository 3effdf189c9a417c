/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Integration test helpers: a fresh network namespace per test, children
 * that hold sockets, running commands, and ss as ground truth. */
#ifndef PW_TEST_HELPERS_H
#define PW_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

/* How long a test waits for a condition before it fails: generous, as an
 * emulated machine (QEMU TCG) is many times slower than this one and a
 * wait that succeeds ends as soon as its condition holds. */
#define WAIT_MS 30000

/* Enters a new, anonymous network namespace with lo up. Leaving it (or the
 * test process dying) destroys it once its last socket and child are gone. */
int netns_enter(void);
void netns_leave(void);
/* cmocka setup/teardown for a test in a namespace of its own; teardown
 * also kills what the test left running. */
int netns_setup(void **state);
int netns_teardown(void **state);

struct cmd {
	int status; /* exit code, or 128 + signal */
	char *out;
	char *err;
};

/* Runs argv (NULL-terminated) with extra "NAME=value" environment entries,
 * capturing output; kills it after timeout_ms. 0 or -errno. */
int cmd_run(struct cmd *c, const char *const *argv, const char *const *env, int timeout_ms);
void cmd_free(struct cmd *c);
/* A command running in the background with its output in memory files. */
struct bg {
	pid_t pid;
	int out, err;
};

/* Starts $PORTWATCH with these arguments (NULL-terminated). */
int bg_portwatch(struct bg *b, ...) __attribute__((sentinel));
/* The same with extra "NAME=value" environment entries. */
int bg_portwatch_env(struct bg *b, const char *const *env, const char *const *args);
/* The same with its stderr going to err_fd (a pipe, say): bg_errors()
 * then reads nothing. */
int bg_portwatch_stderr(struct bg *b, int err_fd, const char *const *args);
/* Any program (argv[0] a path), the same way. */
int bg_exec(struct bg *b, const char *const *argv, const char *const *env);
/* Everything it has written to stdout so far (caller frees). */
char *bg_output(const struct bg *b);
char *bg_errors(const struct bg *b);
/* SIGTERM, then waits up to timeout_ms (SIGKILL after): its exit status.
 * Its output stays readable until bg_free(). */
int bg_stop(struct bg *b, int timeout_ms);
/* Kills every background command still running and releases all their
 * output: for teardown, so a failed test leaves nothing behind. */
void bg_reap_all(void);

/* Runs $PORTWATCH with the given arguments (NULL-terminated). */
int portwatch(struct cmd *c, ...) __attribute__((sentinel));
/* Number of lines in s. */
int count_lines(const char *s);

/* Sockets, all on loopback. */
int tcp_listen(int family, uint16_t port, int backlog);
int tcp_connect(int family, uint16_t port);

/* Polls listener lfd until n connections are queued for accept (what ss
 * shows as its Recv-Q, read through TCP_INFO: fast enough to time the
 * queueing); 0 or -ETIMEDOUT. */
int wait_accept_queue(int lfd, unsigned int n, int timeout_ms);

/* A child runs fn(arg, ready_fd): it writes one byte to ready_fd for every
 * step the parent waits for, then returns, after which it holds everything
 * it opened until killed. */
pid_t spawn(void (*fn)(void *arg, int ready_fd), void *arg);
/* Waits for the next byte from that child; 0 or -ETIMEDOUT. */
int wait_child(pid_t pid, int timeout_ms);
/* For spawn(): a network namespace of its own, with n sockets of port
 * left in CLOSE_WAIT (the peer closed, the server never does). */
struct netns_leak {
	int port, n;
};
void netns_leak(void *arg, int ready);
/* The network namespace inode of pid (0: this process), -1 if gone. */
long long netns_ino(pid_t pid);
/* Kills and reaps every child spawned. */
void reap_children(void);

/* One line of `ss -tanpH`, the ground truth. */
struct ss_sock {
	char state[16]; /* ss names: ESTAB, CLOSE-WAIT, ... */
	unsigned int recvq, sendq;
	char local[64], peer[64];
	uint16_t lport, rport;
	int nusers;
	struct {
		int pid, fd;
	} users[8];
};

int ss_read(struct ss_sock **socks, size_t *n);
/* The same inside the network namespace of process pid. */
int ss_read_in(pid_t pid, struct ss_sock **socks, size_t *n);
/* Brings lo up in the current namespace. */
int lo_up(void);
/* Fails unless the rows of namespace netns (every row when 0) count, per
 * state, what ss counted. */
void assert_rows_match_ss(json_t *rows, long long netns, const struct ss_sock *ss, size_t n);
/* Sockets in state (NULL: any) with these ports (-1: any). */
size_t ss_count(const struct ss_sock *s, size_t n, const char *state, int lport, int rport);
/* Polls ss until that count equals want; 0 or -ETIMEDOUT. */
int ss_wait_count(const char *state, int lport, int rport, size_t want, int timeout_ms);
/* Polls ss until want ESTAB sockets on local port lport have Recv-Q recvq. */
int ss_wait_recvq(int lport, size_t want, unsigned int recvq, int timeout_ms);
/* ss's state name for a kernel name: "CLOSE_WAIT" -> "CLOSE-WAIT". */
const char *ss_state_of(const char *kernel_name);

/* A CLOSE_WAIT socket's time since data last arrived (`ss -ti`'s lastrcv,
 * 0 when ss leaves it out). */
struct ss_rcv {
	char local[64], peer[64];
	unsigned int lastrcv_ms, lastack_ms;
	/* Since the peer last sent anything: the smaller of the two (what
	 * portwatch calls a CLOSE_WAIT socket's age). */
	unsigned int heard_ms;
};

int ss_read_lastrcv(struct ss_rcv **rcv, size_t *n);
/* The entry for (local, peer), or NULL. */
const struct ss_rcv *ss_rcv_find(const struct ss_rcv *r, size_t n, const char *local,
				 const char *peer);

/* Runs `portwatch states --json` and checks that its per-state totals equal
 * ss's for the whole namespace. Returns the document (caller decrefs). */
json_t *states_checked(void);
/* Runs `portwatch closewait --json` and checks each entry against ss: same
 * sockets, same owners (pid and fd). Returns the document. */
json_t *closewait_checked(void);
/* Wall-clock seconds. */
double wall_now(void);
/* CLOCK_MONOTONIC seconds, the clock of the kernel's timestamps. */
double mono_now(void);
/* The rows of the first complete `watch --json` interval stamped after
 * `after` (wall seconds), waiting up to timeout_ms; *status gets that
 * interval's status object. NULL on timeout. */
json_t *watch_rows_after(const struct bg *b, double after, json_t **status, int timeout_ms);
/* Waits for the namespace to hold still, then checks that the next watch
 * interval's per-state totals equal ss's. Returns that interval's rows. */
json_t *watch_checked(const struct bg *b, json_t **status);
/* BPF programs of one process (hermetic: another portwatch on the machine
 * changes nothing): how many of those it holds, by program or link fd,
 * have a name starting with prefix; -1 on failure. */
int bpf_prog_count_of(pid_t pid, const char *prefix);
/* The same, waiting up to timeout_ms for want: the last count. */
int bpf_prog_count_of_wait(pid_t pid, const char *prefix, int want, int timeout_ms);
/* The ids of the programs process pid holds (at most max), -1 on failure. */
int bpf_prog_ids(pid_t pid, int *ids, int max);
/* Waits up to timeout_ms for the kernel to have freed every one of these
 * programs: how many are still loaded, -1 on failure. */
int bpf_progs_alive_wait(const int *ids, int n, int timeout_ms);

/* Polls b's stdout until it holds needle; 0 or -ETIMEDOUT. */
int bg_wait_output(const struct bg *b, const char *needle, int timeout_ms);
/* `events` prints nothing (not even its header, which stdio holds back)
 * until it is attached, seeded and reading events. Until it prints one,
 * makes refused connects to port (nothing may listen there): the
 * connect_refused and reset events then on that port are the canary's, for
 * tests to skip. JSON or text. 0 or -ETIMEDOUT. */
#define EVENTS_CANARY_PORT 3998
int events_wait_ready(const struct bg *b, int port, int timeout_ms);
/* Whether a line of `events` (JSON or text) is the canary's on port. */
bool events_is_canary(const char *line, int port);

/* The states row for (port, direction), or NULL. */
json_t *find_row(json_t *rows, int port, const char *dir);
long row_state(json_t *rows, int port, const char *dir, const char *state);

#endif
