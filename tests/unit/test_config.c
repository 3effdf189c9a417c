// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The YAML configuration: a full file parsed value by value, defaults for
 * omitted keys, the shipped example, and a table of malformed files each
 * rejected at the right file:line:column with the offending key named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config/config.h"

#define SEC 1000000000ULL
#define EXAMPLE "deploy/portwatch.yaml"

static char tmpdir[] = "/tmp/pw-config-XXXXXX";
static char cfg_path[sizeof(tmpdir) + 32];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	/* Whatever the umask: as root, a file others may write is refused. */
	assert_int_equal(chmod(path, 0644), 0);
}

/* Writes text to portwatch.yaml in the temp dir and loads it. */
static int load_text(const char *text, struct pw_config *cfg, char *err, size_t errlen)
{
	write_file(cfg_path, text);
	return pw_config_load(cfg_path, cfg, err, errlen);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/portwatch.yaml", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(cfg_path);
	return rmdir(tmpdir) ? -1 : 0;
}

static const char full_yaml[] =
	"# every key\n"
	"listen: \"[::1]:9100\"\n"
	"max_connections: 32\n"
	"ports: [3001, 8080]\n"
	"max_ports: 128\n"
	"namespaces: all\n"
	"reconcile_interval: 2m\n"
	"evaluation_interval: 500ms\n"
	"latency: false\n"
	"accept_wait: true\n"
	"buckets: [0.01, 0.1, 1, 10]\n"
	"rules:\n"
	"  - name: backend_close_wait\n"
	"    metric: close_wait\n"
	"    port: 3001\n"
	"    direction: inbound\n"
	"    warn: 10\n"
	"    crit: 50\n"
	"    clear: 5\n"
	"    for: 1m\n"
	"    cooldown: 30m\n"
	"    notify: [restart, am]\n"
	"  - name: backend_p99\n"
	"    metric: latency\n"
	"    port: 3001\n"
	"    direction: outbound\n"
	"    quantile: 0.99\n"
	"    window: 10m\n"
	"    crit: 2s\n"
	"    for: 5m\n"
	"    cooldown: 0\n"
	"notifiers:\n"
	"  - name: stderr\n"
	"    type: log\n"
	"  - name: restart\n"
	"    type: exec\n"
	"    command: [/usr/local/bin/restart-backend, --reason, close_wait]\n"
	"    timeout: 30s\n"
	"  - name: hook\n"
	"    type: webhook\n"
	"    url: https://hooks.example.com/portwatch\n"
	"    retries: 0\n"
	"  - name: am\n"
	"    type: alertmanager\n"
	"    url: http://127.0.0.1:9093\n"
	"    timeout: 5s\n"
	"    retries: 5\n";

static void test_full(void **state)
{
	static const double buckets[] = { 0.01, 0.1, 1, 10 };
	struct pw_config cfg;
	const struct pw_rule *r;
	const struct pw_notifier *n;
	char err[512];
	size_t i;

	(void)state;
	assert_int_equal(load_text(full_yaml, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.path, cfg_path);
	assert_string_equal(cfg.listen_addr, "::1");
	assert_int_equal(cfg.listen_port, 9100);
	assert_int_equal(cfg.max_connections, 32);
	assert_int_equal(cfg.n_ports, 2);
	assert_int_equal(cfg.ports[0], 3001);
	assert_int_equal(cfg.ports[1], 8080);
	assert_int_equal(cfg.max_ports, 128);
	assert_true(cfg.all_netns);
	assert_int_equal(cfg.reconcile_ns, 120 * SEC);
	assert_int_equal(cfg.interval_ns, SEC / 2);
	assert_false(cfg.latency);
	assert_true(cfg.accept_wait);
	assert_int_equal(cfg.n_buckets, 4);
	for (i = 0; i < 4; i++)
		assert_float_equal(cfg.buckets[i], buckets[i], 0);

	assert_int_equal(cfg.n_rules, 2);
	r = &cfg.rules[0];
	assert_string_equal(r->name, "backend_close_wait");
	assert_int_equal(r->metric, PW_RM_CLOSE_WAIT);
	assert_int_equal(r->port, 3001);
	assert_int_equal(r->dir, PW_RD_INBOUND);
	assert_true(r->has_warn);
	assert_true(r->has_crit);
	assert_float_equal(r->warn, 10, 0);
	assert_float_equal(r->crit, 50, 0);
	assert_float_equal(r->clear, 5, 0);
	assert_int_equal(r->for_ns, 60 * SEC);
	assert_int_equal(r->cooldown_ns, 30 * 60 * SEC);
	assert_int_equal(r->n_notify, 2);
	assert_int_equal(r->notify[0], 1); /* restart */
	assert_int_equal(r->notify[1], 3); /* am */

	r = &cfg.rules[1];
	assert_string_equal(r->name, "backend_p99");
	assert_int_equal(r->metric, PW_RM_LATENCY);
	assert_int_equal(r->dir, PW_RD_OUTBOUND);
	assert_float_equal(r->quantile, 0.99, 0);
	assert_int_equal(r->window_ns, 10 * 60 * SEC);
	assert_false(r->has_warn);
	assert_true(r->has_crit);
	assert_float_equal(r->crit, 2.0, 0); /* "2s" is 2 seconds */
	assert_float_equal(r->clear, 2.0, 0); /* default: the lowest threshold */
	assert_int_equal(r->for_ns, 5 * 60 * SEC);
	assert_int_equal(r->cooldown_ns, 0);
	assert_int_equal(r->n_notify, 0);
	assert_null(r->notify);

	assert_int_equal(cfg.n_notifiers, 4);
	n = &cfg.notifiers[0];
	assert_string_equal(n->name, "stderr");
	assert_int_equal(n->kind, PW_NK_LOG);
	assert_null(n->argv);
	assert_null(n->url);
	n = &cfg.notifiers[1];
	assert_string_equal(n->name, "restart");
	assert_int_equal(n->kind, PW_NK_EXEC);
	assert_int_equal(n->argc, 3);
	assert_string_equal(n->argv[0], "/usr/local/bin/restart-backend");
	assert_string_equal(n->argv[1], "--reason");
	assert_string_equal(n->argv[2], "close_wait");
	assert_null(n->argv[3]);
	assert_null(n->url);
	assert_int_equal(n->timeout_ns, 30 * SEC);
	n = &cfg.notifiers[2];
	assert_string_equal(n->name, "hook");
	assert_int_equal(n->kind, PW_NK_WEBHOOK);
	assert_string_equal(n->url, "https://hooks.example.com/portwatch");
	assert_int_equal(n->retries, 0);
	assert_int_equal(n->timeout_ns, 10 * SEC);
	n = &cfg.notifiers[3];
	assert_string_equal(n->name, "am");
	assert_int_equal(n->kind, PW_NK_ALERTMANAGER);
	assert_string_equal(n->url, "http://127.0.0.1:9093");
	assert_int_equal(n->timeout_ns, 5 * SEC);
	assert_int_equal(n->retries, 5);

	pw_config_free(&cfg);
	assert_null(cfg.rules);
	assert_int_equal(cfg.n_rules, 0);
	assert_null(cfg.path);
}

static void assert_top_defaults(const struct pw_config *cfg)
{
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 9977);
	assert_int_equal(cfg->max_connections, 16);
	assert_int_equal(cfg->n_ports, 0);
	assert_null(cfg->ports);
	assert_int_equal(cfg->max_ports, 64);
	assert_false(cfg->all_netns);
	assert_int_equal(cfg->reconcile_ns, 60 * SEC);
	assert_int_equal(cfg->interval_ns, 5 * SEC);
	assert_true(cfg->latency);
	assert_false(cfg->accept_wait);
	assert_int_equal(cfg->n_buckets, 15);
	assert_float_equal(cfg->buckets[0], 0.001, 0);
	assert_float_equal(cfg->buckets[14], 60, 0);
}

static void test_defaults(void **state)
{
	/* Empty, comments only, an explicit null document, an empty mapping. */
	static const char *const empties[] = { "", "# nothing here\n\n", "~\n", "{}\n" };
	struct pw_config cfg;
	const struct pw_rule *r;
	const struct pw_notifier *n;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		assert_int_equal(load_text(empties[i], &cfg, err, sizeof(err)), 0);
		assert_top_defaults(&cfg);
		assert_int_equal(cfg.n_rules, 0);
		assert_int_equal(cfg.n_notifiers, 0);
		pw_config_free(&cfg);
	}

	/* Only the required keys of a rule and of each notifier. */
	assert_int_equal(load_text("rules:\n"
				   "  - name: cw\n"
				   "    metric: close_wait\n"
				   "    port: 3001\n"
				   "    warn: 10\n"
				   "  - name: lat\n"
				   "    metric: latency\n"
				   "    port: 8080\n"
				   "    warn: 0.5\n"
				   "    crit: 2\n"
				   "    for: 10\n"
				   "notifiers:\n"
				   "  - name: run\n"
				   "    type: exec\n"
				   "    command: [/bin/true]\n"
				   "  - name: am\n"
				   "    type: alertmanager\n"
				   "    url: http://127.0.0.1:9093\n",
				   &cfg, err, sizeof(err)),
			 0);
	assert_top_defaults(&cfg);
	assert_int_equal(cfg.n_rules, 2);
	r = &cfg.rules[0];
	assert_int_equal(r->dir, PW_RD_ANY);
	assert_true(r->has_warn);
	assert_false(r->has_crit);
	assert_float_equal(r->clear, 10, 0);
	assert_int_equal(r->for_ns, 0);
	assert_int_equal(r->cooldown_ns, 15 * 60 * SEC);
	assert_int_equal(r->window_ns, 0); /* close_wait has no window */
	assert_int_equal(r->n_notify, 0); /* every notifier */
	r = &cfg.rules[1];
	assert_float_equal(r->quantile, 0.95, 0);
	assert_int_equal(r->window_ns, 5 * 60 * SEC);
	assert_float_equal(r->clear, 0.5, 0); /* the lower threshold, warn */
	assert_int_equal(r->for_ns, 10 * SEC); /* a bare number is seconds */
	n = &cfg.notifiers[0];
	assert_int_equal(n->timeout_ns, 10 * SEC);
	assert_int_equal(n->argc, 1);
	n = &cfg.notifiers[1];
	assert_int_equal(n->timeout_ns, 10 * SEC);
	assert_int_equal(n->retries, 3);
	pw_config_free(&cfg);
	pw_config_free(&cfg); /* zeroed: a no-op */
	pw_config_free(NULL);
}

static void test_example(void **state)
{
	struct pw_config cfg;
	char err[512];
	size_t i;
	int ret;

	(void)state;
	ret = pw_config_load(EXAMPLE, &cfg, err, sizeof(err));
	if (ret)
		fail_msg("%s: %s", EXAMPLE, err);
	assert_string_equal(err, "");
	assert_string_equal(cfg.listen_addr, "127.0.0.1");
	assert_int_equal(cfg.listen_port, 9977);
	/* The example shows every notifier type and a rule of each kind it
	 * documents; all of them must have made it through. */
	assert_true(cfg.n_rules >= 2);
	assert_int_equal(cfg.n_notifiers, 4);
	for (i = 0; i < cfg.n_rules; i++) {
		if (cfg.rules[i].metric == PW_RM_CLOSE_WAIT && cfg.rules[i].port == 3001) {
			assert_float_equal(cfg.rules[i].warn, 10, 0);
			assert_float_equal(cfg.rules[i].crit, 50, 0);
		}
	}
	pw_config_free(&cfg);
}

static void test_missing_file(void **state)
{
	char path[sizeof(tmpdir) + 32], err[512], want[600];
	struct pw_config cfg;

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.yaml", tmpdir);
	assert_int_equal(pw_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	/* Failure leaves nothing to free. */
	assert_null(cfg.path);
	assert_null(cfg.buckets);

	/* A directory is not a config file either. */
	assert_int_equal(pw_config_load(tmpdir, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, tmpdir));
	assert_non_null(strstr(err, ": is a directory, not a regular file"));
}

static void test_name_helpers(void **state)
{
	(void)state;
	assert_string_equal(pw_rule_metric_name(PW_RM_CLOSE_WAIT_AGE), "close_wait_age");
	assert_string_equal(pw_rule_metric_name(PW_RM_CONNECT_FAILURES), "connect_failures");
	assert_string_equal(pw_rule_metric_name(PW_RM_MAX), "unknown");
	assert_string_equal(pw_notifier_kind_name(PW_NK_ALERTMANAGER), "alertmanager");
	assert_string_equal(pw_notifier_kind_name((enum pw_notifier_kind)99), "unknown");
	assert_string_equal(pw_rule_dir_name(PW_RD_ANY), "any");
	assert_string_equal(pw_rule_dir_name(PW_RD_OUTBOUND), "outbound");
	assert_string_equal(pw_rule_dir_name((enum pw_rule_dir)7), "unknown");
}

/* ---- malformed files ---- */

/* A rule's required keys on lines 1-5; extra keys start on line 6, col 5. */
#define RULE                                                                                       \
	"rules:\n"                                                                                 \
	"  - name: cw\n"                                                                           \
	"    metric: close_wait\n"                                                                 \
	"    port: 3001\n"                                                                         \
	"    warn: 10\n"
/* A notifier's name on lines 1-2; its type and the rest from line 3, col 5. */
#define NOTIFIER                                                                                   \
	"notifiers:\n"                                                                             \
	"  - name: n1\n"

struct bad {
	const char *name;
	const char *yaml;
	const char *where; /* "LINE:COLUMN" */
	const char *what; /* in the message: the key path and the complaint */
};

static const struct bad bad_cases[] = {
	{ "yaml_syntax", "listen: 127.0.0.1:9977\nports: [3001\nmax_ports: 5\n", "3:10",
	  "yaml: did not find expected ',' or ']'" },
	{ "yaml_tab_indent", "rules:\n\t- name: cw\n", "2:1", "yaml: found character that cannot" },
	{ "yaml_two_documents", "max_ports: 5\n---\nmax_ports: 6\n", "2:1",
	  "yaml: more than one document" },
	{ "yaml_alias", "max_ports: &n 5\nmax_connections: *n\n", "2:18",
	  "max_connections: aliases are not supported" },
	{ "top_is_list", "- listen\n- ports\n", "1:1",
	  "yaml: the top level must be a mapping of settings, not a list" },
	{ "top_is_scalar", "portwatch\n", "1:1",
	  "yaml: the top level must be a mapping of settings, not a scalar" },
	{ "unknown_top_key", "listen: 127.0.0.1:9977\nlisten_port: 9977\n", "2:1",
	  "listen_port: unknown key" },
	{ "duplicate_top_key", "max_ports: 5\nlatency: true\nmax_ports: 6\n", "3:1",
	  "max_ports: duplicate key" },
	{ "unknown_rule_key", RULE "    severity: page\n", "6:5",
	  "rules[0].severity: unknown key" },
	{ "duplicate_rule_key", RULE "    warn: 20\n", "6:5", "rules[0].warn: duplicate key" },
	{ "list_for_scalar", "max_connections: [16, 32]\n", "1:18",
	  "max_connections: expected an integer, got a list" },
	{ "mapping_for_list", "ports: {web: 80}\n", "1:8",
	  "ports: expected a list of ports, got a mapping" },
	{ "null_value", "listen:\nmax_ports: 5\n", "1:8",
	  "listen: missing value (expected ADDR:PORT)" },
	{ "duration_words", "evaluation_interval: 5 minutes\n", "1:22",
	  "evaluation_interval: 5 minutes is not a duration: unknown unit" },
	{ "duration_negative", "reconcile_interval: -1s\n", "1:21",
	  "reconcile_interval: -1s is not a duration: expected a number" },
	{ "duration_mixed_bare", RULE "    for: 1m30\n", "6:10",
	  "rules[0].for: 1m30 is not a duration: missing unit" },
	{ "evaluation_zero", "evaluation_interval: 0\n", "1:22",
	  "evaluation_interval: 0 is too short (at least 100ms)" },
	{ "evaluation_too_short", "evaluation_interval: 50ms\n", "1:22",
	  "evaluation_interval: 50ms is too short (at least 100ms)" },
	{ "reconcile_too_short", "reconcile_interval: 500ms\n", "1:21",
	  "reconcile_interval: 500ms is too short (at least 1s, or 0 to disable)" },
	{ "duplicate_rule_metric", RULE "    metric: latency\n", "6:5",
	  "rules[0].metric: duplicate key" },
	{ "window_short",
	  "rules:\n  - name: lat\n    metric: latency\n    port: 80\n    crit: 1\n"
	  "    window: 500ms\n",
	  "6:13", "rules[0].window: 500ms is too short (at least 1s)" },
	{ "window_not_for_metric", RULE "    window: 5m\n", "6:5",
	  "rules[0].window: only applies to metrics latency, request_rate" },
	{ "window_not_for_accept_queue",
	  "rules:\n  - name: q\n    metric: accept_queue\n    port: 3001\n    warn: 10\n"
	  "    window: 5m\n",
	  "6:5",
	  "rules[0].window: only applies to metrics latency, request_rate, reset_rate, "
	  "connect_failures, unanswered, retransmits and listen_drops" },
	{ "notifier_timeout_zero",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    timeout: 0s\n", "5:14",
	  "notifiers[0].timeout: must be greater than 0" },
	{ "when_unknown", RULE "    when: sideways\n", "6:11",
	  "rules[0].when: sideways is not above or below (above, below)" },
	{ "below_crit_above_warn",
	  "rules:\n  - name: up\n    metric: listening\n    port: 3001\n    when: below\n"
	  "    warn: 1\n    crit: 2\n",
	  "7:11", "rules[0].crit: 2 is above warn (1) (when: below)" },
	{ "below_clear_below_warn",
	  "rules:\n  - name: up\n    metric: listening\n    port: 3001\n    when: below\n"
	  "    warn: 1\n    clear: 0\n",
	  "7:12", "rules[0].clear: 0 is below warn (1) (when: below)" },
	{ "nested_too_deep", "ports: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", "1:39",
	  "yaml: nested deeper than 32 levels" },
	{ "notifier_timeout_too_long",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    timeout: 6m\n", "5:14",
	  "notifiers[0].timeout: 6m is too long (at most 5m)" },
	{ "exec_unknown_user",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    user: no-such-user-pw\n", "5:11",
	  "notifiers[0].user: no user named no-such-user-pw" },
	{ "exec_uid_without_entry",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    user: \"4000000\"\n", "5:11",
	  "notifiers[0].user: uid 4000000 has no passwd entry: name its group too" },
	{ "exec_group_without_user",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    group: nogroup\n", "5:5",
	  "notifiers[0].group: needs user" },
	{ "exec_unknown_group",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    user: nobody\n"
		   "    group: no-such-group-pw\n",
	  "6:12", "notifiers[0].group: no group named no-such-group-pw" },
	{ "webhook_user", NOTIFIER "    type: webhook\n    url: http://x/\n    user: nobody\n",
	  "5:5", "notifiers[0].user: only applies to type exec" },
	{ "port_zero", "rules:\n  - name: cw\n    metric: close_wait\n    port: 0\n    warn: 1\n",
	  "4:11", "rules[0].port: 0 is not a port (1..65535)" },
	{ "port_too_large", "ports: [3001, 65536]\n", "1:15",
	  "ports[1]: 65536 is not a port (1..65535)" },
	{ "port_name", "ports: [http]\n", "1:9", "ports[0]: http is not a port (1..65535)" },
	{ "port_twice", "ports: [80, 443, 80]\n", "1:18", "ports[2]: 80 is listed twice" },
	{ "listen_hostname", "listen: localhost:9977\n", "1:9",
	  "listen: localhost:9977: localhost is not a numeric IPv4 address" },
	{ "listen_no_port", "listen: 127.0.0.1\n", "1:9", "listen: 127.0.0.1: missing port" },
	{ "listen_bad_port", "listen: 127.0.0.1:99999\n", "1:9",
	  "listen: 127.0.0.1:99999: 99999 is not a port (1..65535)" },
	{ "listen_v6_brackets", "listen: \"::1:9977\"\n", "1:9",
	  "listen: ::1:9977: IPv6 addresses need brackets" },
	{ "listen_bad_v6", "listen: \"[::g]:9977\"\n", "1:9",
	  "listen: [::g]:9977: ::g is not a numeric IPv6 address" },
	{ "max_connections_zero", "max_connections: 0\n", "1:18",
	  "max_connections: 0 is out of range (1..1024)" },
	{ "max_ports_word", "max_ports: many\n", "1:12",
	  "max_ports: many is not an integer (1..4096)" },
	{ "namespaces_bad", "namespaces: every\n", "1:13",
	  "namespaces: every is not a namespace choice (host, all)" },
	{ "latency_not_bool", "latency: yes\n", "1:10",
	  "latency: yes is not a boolean (true or false)" },
	{ "accept_wait_not_bool", "accept_wait: on\n", "1:14",
	  "accept_wait: on is not a boolean (true or false)" },
	{ "buckets_empty", "buckets: []\n", "1:10", "buckets: needs at least one bucket" },
	{ "buckets_descending", "buckets: [0.1, 0.5, 0.25]\n", "1:21",
	  "buckets[2]: 0.25 is not above the previous bound (0.5)" },
	{ "buckets_zero", "buckets: [0, 1]\n", "1:11", "buckets[0]: 0 must be greater than 0" },
	{ "buckets_inf", "buckets: [1, .inf]\n", "1:14",
	  "buckets[1]: .inf is not a finite number" },
	{ "rules_not_list", "rules:\n  name: cw\n", "2:3",
	  "rules: expected a list of rules, got a mapping" },
	{ "rule_missing_port", "rules:\n  - name: cw\n    metric: close_wait\n    warn: 10\n",
	  "2:5", "rules[0]: missing key 'port'" },
	{ "rule_missing_name", "rules:\n  - metric: close_wait\n    port: 3001\n    warn: 10\n",
	  "2:5", "rules[0]: missing key 'name'" },
	{ "rule_no_threshold", "rules:\n  - name: cw\n    metric: close_wait\n    port: 3001\n",
	  "2:5", "rules[0]: needs warn or crit (or both)" },
	{ "rule_bad_name",
	  "rules:\n  - name: backend-cw\n    metric: close_wait\n    port: 1\n"
	  "    warn: 1\n",
	  "2:11", "rules[0].name: backend-cw is not a valid name" },
	{ "rule_duplicate_name",
	  RULE "  - name: cw\n    metric: latency\n    port: 3001\n"
	       "    warn: 2\n",
	  "6:11", "rules[1].name: cw is already used by rules[0]" },
	{ "rule_bad_metric",
	  "rules:\n  - name: cw\n    metric: closewait\n    port: 3001\n    warn: 10\n", "3:13",
	  "rules[0].metric: closewait is not a metric (close_wait, close_wait_age, latency" },
	{ "rule_bad_direction", RULE "    direction: any\n", "6:16",
	  "rules[0].direction: any is not a direction (inbound, outbound)" },
	{ "rule_crit_below_warn", RULE "    crit: 5\n", "6:11",
	  "rules[0].crit: 5 is below warn (10)" },
	{ "rule_clear_above_warn", RULE "    crit: 50\n    clear: 20\n", "7:12",
	  "rules[0].clear: 20 is above warn (10)" },
	{ "rule_clear_above_crit",
	  "rules:\n  - name: cw\n    metric: close_wait\n    port: 3001\n    crit: 50\n"
	  "    clear: 60\n",
	  "6:12", "rules[0].clear: 60 is above crit (50)" },
	{ "rule_warn_negative",
	  "rules:\n  - name: cw\n    metric: close_wait\n    port: 3001\n    warn: -1\n", "5:11",
	  "rules[0].warn: -1 is negative" },
	{ "rule_warn_duration_on_count",
	  "rules:\n  - name: cw\n    metric: close_wait\n    port: 3001\n    warn: 5s\n", "5:11",
	  "rules[0].warn: 5s is not a number (durations only for latency and close_wait_age)" },
	{ "rule_latency_bad_duration",
	  "rules:\n  - name: lat\n    metric: latency\n    port: 3001\n    warn: 2 seconds\n",
	  "5:11", "rules[0].warn: 2 seconds is not a number of seconds or a duration" },
	{ "rule_quantile_not_latency", RULE "    quantile: 0.9\n", "6:5",
	  "rules[0].quantile: only applies to metric latency" },
	{ "rule_quantile_range",
	  "rules:\n  - name: lat\n    metric: latency\n    port: 3001\n    warn: 2\n"
	  "    quantile: 95\n",
	  "6:15", "rules[0].quantile: 95 is not a quantile (0 < q < 1)" },
	{ "rule_cooldown_negative", RULE "    cooldown: -15m\n", "6:15",
	  "rules[0].cooldown: -15m is not a duration" },
	{ "rule_unknown_notifier", NOTIFIER "    type: log\n" RULE "    notify: [n1, pager]\n",
	  "9:18", "rules[0].notify[1]: no notifier named pager" },
	{ "rule_notifier_twice", NOTIFIER "    type: log\n" RULE "    notify: [n1, n1]\n", "9:18",
	  "rules[0].notify[1]: n1 is listed twice" },
	{ "rule_notify_empty", NOTIFIER "    type: log\n" RULE "    notify: []\n", "9:13",
	  "rules[0].notify: names no notifier (leave notify out for all)" },
	{ "rule_notify_scalar", NOTIFIER "    type: log\n" RULE "    notify: n1\n", "9:13",
	  "rules[0].notify: expected a list of notifier names, got a scalar" },
	{ "notifier_missing_type", NOTIFIER "    command: [/bin/true]\n", "2:5",
	  "notifiers[0]: missing key 'type'" },
	{ "notifier_bad_type", NOTIFIER "    type: slack\n", "3:11",
	  "notifiers[0].type: slack is not a notifier type (log, exec, webhook, alertmanager)" },
	{ "notifier_duplicate_name", NOTIFIER "    type: log\n  - name: n1\n    type: log\n",
	  "4:11", "notifiers[1].name: n1 is already used by notifiers[0]" },
	{ "notifier_unknown_key", NOTIFIER "    type: log\n    level: info\n", "4:5",
	  "notifiers[0].level: unknown key" },
	{ "exec_no_command", NOTIFIER "    type: exec\n", "2:5",
	  "notifiers[0]: missing key 'command'" },
	{ "exec_empty_argv", NOTIFIER "    type: exec\n    command: []\n", "4:14",
	  "notifiers[0].command: must not be empty" },
	{ "exec_string_command", NOTIFIER "    type: exec\n    command: /bin/restart --now\n",
	  "4:14",
	  "notifiers[0].command: expected a list: the program and its arguments, got a scalar" },
	{ "exec_relative_argv0", NOTIFIER "    type: exec\n    command: [restart-backend, now]\n",
	  "4:15", "notifiers[0].command[0]: restart-backend is not an absolute path" },
	{ "exec_with_url",
	  NOTIFIER "    type: exec\n    command: [/bin/true]\n    url: http://127.0.0.1/\n", "5:5",
	  "notifiers[0].url: only applies to type webhook or alertmanager" },
	{ "log_with_timeout", NOTIFIER "    type: log\n    timeout: 5s\n", "4:5",
	  "notifiers[0].timeout: only applies to type exec, webhook or alertmanager" },
	{ "webhook_no_url", NOTIFIER "    type: webhook\n", "2:5",
	  "notifiers[0]: missing key 'url'" },
	{ "webhook_bad_scheme", NOTIFIER "    type: webhook\n    url: ftp://example.com/hook\n",
	  "4:10", "notifiers[0].url: ftp://example.com/hook is not an http:// or https:// URL" },
	{ "webhook_no_host", NOTIFIER "    type: webhook\n    url: http:///alerts\n", "4:10",
	  "notifiers[0].url: http:///alerts has no host" },
	{ "webhook_space", NOTIFIER "    type: alertmanager\n    url: \"http://am host:9093\"\n",
	  "4:10", "notifiers[0].url: http://am host:9093 contains a space" },
	{ "webhook_command",
	  NOTIFIER "    type: webhook\n    url: http://x/\n    command: [/bin/true]\n", "5:5",
	  "notifiers[0].command: only applies to type exec" },
	{ "webhook_retries", NOTIFIER "    type: webhook\n    url: http://x/\n    retries: 11\n",
	  "5:14", "notifiers[0].retries: 11 is out of range (0..10)" },
};

/* An exec notifier's user and group: names or numbers, the user's primary
 * group unless one is named. */
static void test_notifier_user(void **state)
{
	struct pw_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load_text(NOTIFIER "    type: exec\n    command: [/bin/true]\n"
					    "    user: nobody\n",
				   &cfg, err, sizeof(err)),
			 0);
	assert_true(cfg.notifiers[0].set_ids);
	assert_int_equal(cfg.notifiers[0].uid, getpwnam("nobody")->pw_uid);
	assert_int_equal(cfg.notifiers[0].gid, getpwnam("nobody")->pw_gid);
	pw_config_free(&cfg);
	assert_int_equal(load_text(NOTIFIER "    type: exec\n    command: [/bin/true]\n"
					    "    user: \"4000000\"\n    group: \"4000001\"\n",
				   &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.notifiers[0].uid, 4000000);
	assert_int_equal(cfg.notifiers[0].gid, 4000001);
	pw_config_free(&cfg);
	assert_int_equal(load_text(NOTIFIER "    type: exec\n    command: [/bin/true]\n", &cfg, err,
				   sizeof(err)),
			 0);
	assert_false(cfg.notifiers[0].set_ids);
	pw_config_free(&cfg);
}

/* Only regular files are read, a FIFO never waited on; as root, a file
 * others could write is refused, with what to do about it. */
static void test_file_checks(void **state)
{
	char err[512], path[sizeof(cfg_path) + 16];
	struct pw_config cfg;

	(void)state;
	assert_int_equal(pw_config_load("", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the configuration file's path is empty");
	snprintf(path, sizeof(path), "%s.fifo", cfg_path);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(pw_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is a FIFO, not a regular file"));
	unlink(path);

	write_file(cfg_path, "max_ports: 5\n");
	if (geteuid() != 0) {
		print_message("# not root: ownership and mode are not checked\n");
		return;
	}
	assert_int_equal(chmod(cfg_path, 0666), 0);
	assert_int_equal(pw_config_load(cfg_path, &cfg, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, ": writable by everyone (mode 0666): "));
	assert_non_null(strstr(err, "(fix: chmod go-w "));
	assert_int_equal(chmod(cfg_path, 0620), 0);
	assert_int_equal(chown(cfg_path, 0, 65534), 0);
	assert_int_equal(pw_config_load(cfg_path, &cfg, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, ": writable by its group (mode 0620): "));
	assert_int_equal(chmod(cfg_path, 0644), 0);
	assert_int_equal(chown(cfg_path, 65534, 0), 0);
	assert_int_equal(pw_config_load(cfg_path, &cfg, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, ": owned by uid 65534, not root: "));
	assert_int_equal(chown(cfg_path, 0, 0), 0);
	assert_int_equal(pw_config_load(cfg_path, &cfg, err, sizeof(err)), 0);
	pw_config_free(&cfg);
}

/* "Backend not online" as a rule: listening sockets at or below 0. */
static void test_below_rule(void **state)
{
	struct pw_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load_text("rules:\n  - name: backend_up\n    metric: listening\n"
				   "    port: 3001\n    when: below\n    crit: 0\n",
				   &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.n_rules, 1);
	assert_int_equal(cfg.rules[0].metric, PW_RM_LISTENING);
	assert_true(cfg.rules[0].below);
	assert_float_equal(cfg.rules[0].crit, 0, 0);
	assert_float_equal(cfg.rules[0].clear, 0, 0);
	assert_false(pw_rule_windowed(PW_RM_LISTENING));
	pw_config_free(&cfg);
	assert_int_equal(load_text(RULE "    when: above\n", &cfg, err, sizeof(err)), 0);
	assert_false(cfg.rules[0].below);
	pw_config_free(&cfg);
}

/* As many rules as allowed parse; one more is refused where the list
 * starts, before any of them is read. */
static void test_rule_cap(void **state)
{
	size_t cap = 64 + (PW_CONFIG_MAX_RULES + 1) * 64, len, i;
	char *text = malloc(cap), err[512], want[512];
	struct pw_config cfg;

	(void)state;
	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "rules:\n");
	for (i = 0; i < PW_CONFIG_MAX_RULES; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"  - {name: r%zu, metric: close_wait, port: 80, warn: 1}\n",
					i);
	assert_int_equal(load_text(text, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_rules, PW_CONFIG_MAX_RULES);
	pw_config_free(&cfg);
	snprintf(text + len, cap - len,
		 "  - {name: one_more, metric: close_wait, port: 80, warn: 1}\n");
	assert_int_equal(load_text(text, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2:3: rules: %d items, at most %d", cfg_path,
		 PW_CONFIG_MAX_RULES + 1, PW_CONFIG_MAX_RULES);
	assert_string_equal(err, want);
	free(text);
}

static void test_bad(void **state)
{
	const struct bad *b = *state;
	char err[512], prefix[sizeof(cfg_path) + 32];
	struct pw_config cfg;
	int ret;

	snprintf(prefix, sizeof(prefix), "%s:%s: ", cfg_path, b->where);
	ret = load_text(b->yaml, &cfg, err, sizeof(err));
	if (ret != -EINVAL)
		fail_msg("%s: returned %d (%s), want -EINVAL", b->name, ret, err);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, b->what))
		fail_msg("%s:\n  got  '%s'\n  want '%s...%s...'", b->name, err, prefix, b->what);
	/* One line, nothing left allocated. */
	assert_null(strchr(err, '\n'));
	assert_null(cfg.path);
	assert_null(cfg.rules);
	assert_null(cfg.notifiers);
	assert_null(cfg.buckets);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_full),	     cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example),	     cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_name_helpers), cmocka_unit_test(test_notifier_user),
		cmocka_unit_test(test_file_checks),  cmocka_unit_test(test_rule_cap),
		cmocka_unit_test(test_below_rule),
	};
	size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t n_bad = sizeof(bad_cases) / sizeof(bad_cases[0]), i;
	struct CMUnitTest *tests;
	int ret;

	tests = calloc(n_fixed + n_bad, sizeof(*tests));
	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < n_bad; i++) {
		tests[n_fixed + i].name = bad_cases[i].name;
		tests[n_fixed + i].test_func = test_bad;
		tests[n_fixed + i].initial_state = (void *)&bad_cases[i];
	}
	ret = _cmocka_run_group_tests("config", tests, n_fixed + n_bad, group_setup,
				      group_teardown);
	free(tests);
	return ret;
}
