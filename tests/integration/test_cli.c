// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The command line as an operator meets it: bad input, missing privileges,
 * kernels without what portwatch needs, help and version. */
#define _GNU_SOURCE
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/utsname.h>
#include "helpers.h"

struct bad_case {
	const char *args[8];
	int status;
	const char *err; /* expected in the one stderr line */
};

static const struct bad_case bad_cases[] = {
	{ { NULL }, 2, "missing command" },
	{ { "bogus" }, 2, "unknown command 'bogus'" },
	{ { "states", "--port", "0" }, 2, "invalid --port '0': out of range 1-65535" },
	{ { "states", "--port", "65536" }, 2, "invalid --port '65536': out of range 1-65535" },
	{ { "states", "--port", "abc" }, 2, "invalid --port 'abc': not a number" },
	{ { "states", "--port", "80,,443" }, 2, "invalid --port '80,,443'" },
	{ { "states", "--port=-1" }, 2, "invalid --port '-1'" },
	{ { "states", "--port" }, 2, "option '--port' needs a value" },
	{ { "states", "-p" }, 2, "option '-p' needs a value" },
	{ { "states", "--bogus" }, 2, "unknown option '--bogus'" },
	{ { "states", "-x" }, 2, "unknown option '-x'" },
	{ { "states", "extra" }, 2, "unexpected argument 'extra'" },
	{ { "closewait", "--port", "99999" }, 2, "invalid --port '99999'" },
	{ { "closewait", "--min-age", "5x" }, 2, "invalid --min-age '5x': unknown unit" },
	{ { "closewait", "--min-age", "-1s" }, 2, "invalid --min-age '-1s'" },
	{ { "closewait", "--min-age", "" }, 2, "invalid --min-age '': empty duration" },
	{ { "closewait", "--min-age", "1m30" }, 2, "invalid --min-age '1m30': missing unit" },
	{ { "closewait", "--min-age", "abc" }, 2, "invalid --min-age 'abc'" },
	{ { "closewait", "--nope" }, 2, "unknown option '--nope'" },
	{ { "watch", "--interval", "0" }, 2, "invalid --interval '0': below 10ms" },
	{ { "watch", "--interval", "fast" }, 2, "invalid --interval 'fast'" },
	{ { "watch", "--count", "0" }, 2, "invalid --count '0': must be at least 1" },
	{ { "watch", "--count", "-3" }, 2, "invalid --count '-3'" },
	{ { "watch", "--count", "4294967296" },
	  2,
	  "invalid --count '4294967296': too large (at most 4294967295)" },
	{ { "events", "--ringbuf-size", "2147483648" },
	  2,
	  "invalid --ringbuf-size '2147483648': too large (at most 256M" },
	{ { "daemon", "--config", "" }, 2, "the configuration file's path is empty" },
	{ { "watch", "--reconcile", "1x" }, 2, "invalid --reconcile '1x'" },
	{ { "events", "--ringbuf-size", "1000" },
	  2,
	  "invalid --ringbuf-size '1000': not a power of two of at least 4096" },
	{ { "watch", "--ringbuf-size", "4096" }, 2, "unknown option '--ringbuf-size'" },
	{ { "watch", "--port", "70000" }, 2, "invalid --port '70000'" },
	{ { "watch", "now" }, 2, "unexpected argument 'now'" },
	{ { "events", "--ringbuf-size", "big" }, 2, "invalid --ringbuf-size 'big'" },
	{ { "events", "--port", "" }, 2, "invalid --port ''" },
	{ { "events", "--json=yes" }, 2, "unknown option '--json=yes'" },
	{ { "events", "--slow", "0" }, 2, "invalid --slow '0': must be above 0" },
	{ { "events", "--slow", "abc" }, 2, "invalid --slow 'abc': expected a number" },
	{ { "latency", "--direction", "up" }, 2, "invalid --direction 'up': use in or out" },
	{ { "latency", "--duration", "0" }, 2, "invalid --duration '0': must be above 0" },
	{ { "latency", "--duration", "5 s" }, 2, "invalid --duration '5 s'" },
	{ { "latency", "--port", "0" }, 2, "invalid --port '0'" },
	{ { "features", "--port", "80" }, 2, "unknown option '--port'" },
	{ { "features", "now" }, 2, "unexpected argument 'now'" },
	/* A check reports even bad usage as UNKNOWN (3). */
	{ { "closewait", "--warn", "abc" }, 3, "invalid --warn 'abc'" },
	{ { "closewait", "--crit", "-5" }, 3, "invalid --crit '-5'" },
	{ { "closewait", "--crit", "0" }, 3, "invalid --crit '0': must be at least 1" },
	{ { "closewait", "--warn", "0" }, 3, "invalid --warn '0': must be at least 1" },
	{ { "closewait", "--warn", "10", "--crit", "5" }, 3, "--warn 10 is above --crit 5" },
	{ { "closewait", "--warn", "1", "--json" }, 3, "--json cannot be combined" },
	{ { "closewait", "--warn", "1", "--port", "0" }, 3, "invalid --port '0'" },
	{ { "closewait", "--warn", "1", "--bogus" }, 3, "unknown option '--bogus'" },
};

static void run_args(struct cmd *c, const char *const *args, const char *const *env,
		     const char *wrapper[])
{
	const char *argv[24];
	int n = 0, k;

	for (k = 0; wrapper && wrapper[k]; k++)
		argv[n++] = wrapper[k];
	argv[n++] = getenv("PORTWATCH");
	for (k = 0; args[k]; k++)
		argv[n++] = args[k];
	argv[n] = NULL;
	assert_int_equal(cmd_run(c, argv, env, 30000), 0);
}

/* One line on stderr naming the problem, the documented exit code, no crash,
 * and nothing on stdout unless it is a check's UNKNOWN status line. */
static void expect_one_line(struct cmd *c, int status, const char *err, const char *what)
{
	if (c->status != status || count_lines(c->err) != 1 || strncmp(c->err, "portwatch: ", 11) ||
	    !strstr(c->err, err))
		fail_msg("%s: exit %d, stderr '%s'; want exit %d and one line with '%s'", what,
			 c->status, c->err, status, err);
	if (status == 3) {
		assert_int_equal(count_lines(c->out), 1);
		assert_memory_equal(c->out, "CLOSEWAIT UNKNOWN - ", 20);
		assert_non_null(strstr(c->out, err));
	} else {
		assert_string_equal(c->out, "");
	}
}

static void test_bad_input(void **state)
{
	struct cmd c;
	size_t i;
	char what[128];

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		run_args(&c, bad_cases[i].args, NULL, NULL);
		snprintf(what, sizeof(what), "case %zu (%s %s)", i,
			 bad_cases[i].args[0] ? bad_cases[i].args[0] : "",
			 bad_cases[i].args[1] ? bad_cases[i].args[1] : "");
		expect_one_line(&c, bad_cases[i].status, bad_cases[i].err, what);
		cmd_free(&c);
	}
}

static void test_privileges(void **state)
{
	static const char *const states[] = { "states", NULL };
	static const char *const check[] = { "closewait", "--warn", "1", NULL };
	/* Root without the capability keeps no way to get it back on exec. */
	const char *no_bpf[] = { "setpriv", "--inh-caps=-bpf,-sys_admin",
				 "--bounding-set=-bpf,-sys_admin", NULL };
	const char *no_perfmon[] = { "setpriv", "--inh-caps=-perfmon,-sys_admin",
				     "--bounding-set=-perfmon,-sys_admin", NULL };
	const char *none[] = { "setpriv", "--inh-caps=-all", "--bounding-set=-all", NULL };
	const char *nobody[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
				 NULL };
	struct cmd c;

	(void)state;
	run_args(&c, states, NULL, no_bpf);
	expect_one_line(&c, 1, "missing CAP_BPF: run as root", "no CAP_BPF");
	cmd_free(&c);
	run_args(&c, states, NULL, no_perfmon);
	expect_one_line(&c, 1, "missing CAP_PERFMON: run as root", "no CAP_PERFMON");
	cmd_free(&c);
	run_args(&c, states, NULL, none);
	expect_one_line(&c, 1, "missing CAP_BPF and CAP_PERFMON", "no capabilities");
	cmd_free(&c);
	run_args(&c, check, NULL, none);
	expect_one_line(&c, 3, "missing CAP_BPF and CAP_PERFMON", "check without capabilities");
	cmd_free(&c);
	/* The daemon too: one line, not libbpf's refusals. */
	char cfg[] = "/tmp/portwatch-test-cfg-XXXXXX";
	int fd = mkstemp(cfg);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(cfg, 0644), 0);
	const char *const daemon[] = { "daemon", "--config", cfg, NULL };
	run_args(&c, daemon, NULL, none);
	expect_one_line(&c, 1, "missing CAP_BPF and CAP_PERFMON", "daemon without capabilities");
	cmd_free(&c);
	unlink(cfg);

	/* Not root at all; the binary may sit where nobody cannot reach it. */
	char dir[] = "/tmp/portwatch-test-XXXXXX", bin[64], cp[PATH_MAX + 256];
	assert_non_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/portwatch", dir);
	snprintf(cp, sizeof(cp), "cp %s %s && chmod 755 %s %s", getenv("PORTWATCH"), bin, dir, bin);
	assert_int_equal(system(cp), 0);
	const char *argv[] = { nobody[0], nobody[1], nobody[2], nobody[3], bin, "states", NULL };
	assert_int_equal(cmd_run(&c, argv, NULL, 30000), 0);
	expect_one_line(&c, 1, "missing CAP_BPF and CAP_PERFMON: run as root", "nobody");
	cmd_free(&c);
	unlink(bin);
	rmdir(dir);
}

static void test_kernel_support(void **state)
{
	static const char *const states[] = { "states", NULL };
	char path[PATH_MAX], obj[PATH_MAX + 64];
	const char *env[2] = {};
	struct cmd c;

	(void)state;
	env[0] = "PORTWATCH_BTF=/nonexistent/vmlinux";
	run_args(&c, states, env, NULL);
	expect_one_line(&c, 1, "kernel has no BTF (/nonexistent/vmlinux", "no BTF");
	assert_non_null(strstr(c.err, "CONFIG_DEBUG_INFO_BTF"));
	cmd_free(&c);

	/* A BTF without the iterators: the one in portwatch's own BPF object,
	 * next to the binary or (the test build) one directory up. */
	snprintf(path, sizeof(path), "%s", getenv("PORTWATCH"));
	snprintf(obj, sizeof(obj), "PORTWATCH_BTF=%s/snapshot.bpf.o", dirname(path));
	if (access(obj + strlen("PORTWATCH_BTF="), R_OK))
		snprintf(obj, sizeof(obj), "PORTWATCH_BTF=%s/snapshot.bpf.o", dirname(path));
	env[0] = obj;
	run_args(&c, states, env, NULL);
	expect_one_line(&c, 1, "kernel lacks the BPF iterator tcp (needs Linux 5.9", "no iter");
	cmd_free(&c);

	/* Neither the tracepoint nor the function fentry would stand in with:
	 * latency unavailable, said in one line, whatever else the kernel has. */
	static const char *const latency[] = { "latency", "--duration", "1s", NULL };
	env[0] = "PORTWATCH_TEST_NO_HOOKS=sk_data_ready,tcp_data_ready";
	run_args(&c, latency, env, NULL);
	expect_one_line(&c, 1, "no request latency: kernel lacks the tracepoints sk_data_ready",
			"no latency hooks");
	assert_non_null(strstr(c.err, "(Linux 6.3+), and fentry: "));
	cmd_free(&c);

	env[0] = "PORTWATCH_BTF=/etc/hostname";
	run_args(&c, states, env, NULL);
	expect_one_line(&c, 1, "read kernel BTF /etc/hostname", "garbage BTF");
	cmd_free(&c);
}

/* The feature of a `features --json` document by name. */
static json_t *feature(json_t *doc, const char *name)
{
	json_t *f;
	size_t i;

	json_array_foreach (json_object_get(doc, "features"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "name")), name))
			return f;
	fail_msg("feature '%s' missing", name);
	return NULL;
}

/* What this kernel gives, whatever the kernel: every feature with a hook or
 * a reason; the state hook always; a hidden hook off with the reason named,
 * and fentry standing in for a hidden tracepoint where the kernel has it. */
static void test_features(void **state)
{
	static const char *const text[] = { "features", NULL };
	static const char *const json[] = { "features", "--json", NULL };
	const char *env[2] = {};
	json_t *doc, *f, *hook;
	struct utsname u;
	struct cmd c;
	bool fentry;
	size_t i;

	(void)state;
	assert_int_equal(uname(&u), 0);
	run_args(&c, text, NULL, NULL);
	assert_int_equal(c.status, 0);
	assert_string_equal(c.err, "");
	assert_non_null(strstr(c.out, u.release));
	assert_non_null(strstr(c.out, "state changes"));
	assert_non_null(strstr(c.out, "lockdown"));
	cmd_free(&c);

	run_args(&c, json, NULL, NULL);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "kernel")), u.release);
	fentry = json_is_true(json_object_get(doc, "fentry"));
	assert_int_equal(json_array_size(json_object_get(doc, "features")), 11);
	json_array_foreach (json_object_get(doc, "features"), i, f) {
		hook = json_object_get(f, "hook");
		assert_true(json_is_string(hook) ||
			    strlen(json_string_value(json_object_get(f, "why"))) > 0);
	}
	assert_non_null(
		strstr(json_string_value(json_object_get(feature(doc, "state changes"), "hook")),
		       "inet_sock_set_state"));
	json_decref(doc);
	cmd_free(&c);

	/* The latency tracepoint hidden: fentry on tcp_data_ready if the kernel
	 * allows it, else off, saying why. */
	env[0] = "PORTWATCH_TEST_NO_HOOKS=sk_data_ready";
	run_args(&c, json, env, NULL);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, NULL);
	assert_non_null(doc);
	f = feature(doc, "request latency");
	if (fentry) {
		assert_non_null(strstr(json_string_value(json_object_get(f, "hook")),
				       "fentry/tcp_data_ready"));
	} else {
		assert_true(json_is_null(json_object_get(f, "hook")));
		assert_non_null(
			strstr(json_string_value(json_object_get(f, "why")), "sk_data_ready"));
	}
	json_decref(doc);
	cmd_free(&c);

	/* 5.10's ways, on any kernel: state by socket address, owners by
	 * socket inode. */
	env[0] = "PORTWATCH_TEST_NO_HOOKS=sk_storage,sock_from_file";
	run_args(&c, json, env, NULL);
	assert_int_equal(c.status, 0);
	doc = json_loads(c.out, 0, NULL);
	assert_non_null(doc);
	assert_non_null(
		strstr(json_string_value(json_object_get(feature(doc, "per-socket state"), "hook")),
		       "hash map"));
	assert_non_null(strstr(
		json_string_value(json_object_get(feature(doc, "owners from file tables"), "hook")),
		"/proc/PID/fd"));
	json_decref(doc);
	cmd_free(&c);
}

static void test_help_and_version(void **state)
{
	static const char *const version[] = { "--version", NULL };
	static const char *const help[] = { "--help", NULL };
	static const char *const states_help[] = { "states", "--help", NULL };
	static const char *const cw_help[] = { "closewait", "-h", NULL };
	struct cmd c;

	(void)state;
	run_args(&c, version, NULL, NULL);
	assert_int_equal(c.status, 0);
	assert_memory_equal(c.out, "portwatch ", 10);
	cmd_free(&c);
	run_args(&c, help, NULL, NULL);
	assert_int_equal(c.status, 0);
	assert_non_null(strstr(c.out, "closewait"));
	cmd_free(&c);
	run_args(&c, states_help, NULL, NULL);
	assert_int_equal(c.status, 0);
	assert_non_null(strstr(c.out, "Examples:"));
	assert_non_null(strstr(c.out, "--port"));
	cmd_free(&c);
	run_args(&c, cw_help, NULL, NULL);
	assert_int_equal(c.status, 0);
	assert_non_null(strstr(c.out, "Examples:"));
	assert_non_null(strstr(c.out, "--min-age"));
	cmd_free(&c);
	/* Every option a command takes is in its help. */
	static const char *const ev_help[] = { "events", "--help", NULL };
	run_args(&c, ev_help, NULL, NULL);
	assert_non_null(strstr(c.out, "--slow DURATION"));
	assert_non_null(strstr(c.out, "--all-netns"));
	cmd_free(&c);
	static const char *const w_help[] = { "watch", "--help", NULL };
	run_args(&c, w_help, NULL, NULL);
	assert_non_null(strstr(c.out, "--latency"));
	assert_non_null(strstr(c.out, "--reconcile DURATION"));
	cmd_free(&c);
}

/* The tests run a build with switches (PORTWATCH_TEST_*) that hide hooks or
 * skip state changes; the shipped binary (make check names it in
 * PORTWATCH_SHIPPED) reads none of them: its features are the same with
 * and without one, where the test build's change. */
static void test_no_test_switches(void **state)
{
	const char *const hide[] = { "PORTWATCH_TEST_NO_HOOKS=inet_sock_set_state,fentry", NULL };
	const char *shipped = getenv("PORTWATCH_SHIPPED");
	const char *argv[] = { NULL, "features", NULL };
	struct cmd plain, hidden, test_build;

	(void)state;
	/* make check names it; the kernel matrix runs the test build only. */
	if (!shipped) {
		print_message("# PORTWATCH_SHIPPED not set: nothing to compare\n");
		return;
	}
	argv[0] = shipped;
	assert_int_equal(cmd_run(&plain, argv, NULL, WAIT_MS), 0);
	assert_int_equal(cmd_run(&hidden, argv, hide, WAIT_MS), 0);
	assert_int_equal(plain.status, 0);
	assert_string_equal(plain.out, hidden.out);
	argv[0] = getenv("PORTWATCH");
	assert_int_equal(cmd_run(&test_build, argv, hide, WAIT_MS), 0);
	assert_non_null(strstr(test_build.out, "raw_tracepoint/inet_sock_set_state"));
	assert_null(strstr(hidden.out, "raw_tracepoint/inet_sock_set_state"));
	cmd_free(&plain);
	cmd_free(&hidden);
	cmd_free(&test_build);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),	 cmocka_unit_test(test_privileges),
		cmocka_unit_test(test_kernel_support),	 cmocka_unit_test(test_features),
		cmocka_unit_test(test_help_and_version), cmocka_unit_test(test_no_test_switches),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "integration tests need root\n");
		return 1;
	}
	if (getenv("TEST_FILTER")) /* one test by name (a glob), for development */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
