/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The daemon's configuration: a YAML file parsed with libyaml into one
 * struct. Pure logic: no libbpf. Every error names file:line:column and
 * the key. */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include "common/clock.h"

#define PW_NAME_LEN 64

/* What a rule watches, per port. */
enum pw_rule_metric {
	PW_RM_CLOSE_WAIT, /* close_wait: sockets in CLOSE_WAIT now */
	PW_RM_CLOSE_WAIT_AGE, /* close_wait_age: oldest CLOSE_WAIT socket, seconds */
	PW_RM_LATENCY, /* latency: request duration quantile over window, seconds */
	PW_RM_REQUEST_RATE, /* request_rate: requests per second over window */
	PW_RM_RESET_RATE, /* reset_rate: resets sent + received per second over window */
	PW_RM_CONNECT_FAILURES, /* connect_failures: failed connects over window (count) */
	PW_RM_UNANSWERED, /* unanswered: requests never answered over window (count) */
	PW_RM_RETRANSMITS, /* retransmits: segments retransmitted over window (count) */
	PW_RM_ACCEPT_QUEUE, /* accept_queue: the fullest listener's queue now */
	PW_RM_LISTEN_DROPS, /* listen_drops: segments listeners dropped over window */
	PW_RM_LISTENING, /* listening: listening sockets on the port now */
	PW_RM_MAX,
};

/* Whether a metric is counted over a window (rates, counts, quantiles),
 * as opposed to a gauge read as it is now. */
bool pw_rule_windowed(enum pw_rule_metric m);

/* Rule direction: both summed, or one. */
enum pw_rule_dir {
	PW_RD_ANY,
	PW_RD_INBOUND,
	PW_RD_OUTBOUND,
};

enum pw_notifier_kind {
	PW_NK_LOG, /* one line on stderr */
	PW_NK_EXEC, /* argv, no shell; env + JSON on stdin; killed at timeout */
	PW_NK_WEBHOOK, /* generic JSON POST */
	PW_NK_ALERTMANAGER, /* Alertmanager v2: POST {url}/api/v2/alerts */
};

struct pw_rule {
	char name[PW_NAME_LEN]; /* unique; [A-Za-z_][A-Za-z0-9_]* */
	enum pw_rule_metric metric;
	__u16 port; /* required, 1..65535 */
	enum pw_rule_dir dir;
	double quantile; /* latency only: 0 < q < 1, default 0.95 */
	__u64 window_ns; /* latency and rates: default 5m */
	bool has_warn, has_crit; /* at least one */
	/* when: below: alert at or below the thresholds (a backend that
	 * stopped listening) instead of at or above them. */
	bool below;
	double warn, crit; /* crit >= warn when both; crit <= warn when below */
	/* A pending or firing alert ends only when the value drops below clear
	 * (hysteresis; rises above it when below). Default: the threshold
	 * nearest to no alert. clear <= it (>= it when below). */
	double clear;
	__u64 for_ns; /* above threshold this long before firing; default 0 */
	/* Firing notifications at least this far apart; while firing, one
	 * reminder each time it elapses. 0: never repeat. Default 15m. */
	__u64 cooldown_ns;
	/* Indexes into pw_config.notifiers; n_notify == 0: all notifiers. */
	size_t *notify;
	size_t n_notify;
};

struct pw_notifier {
	char name[PW_NAME_LEN]; /* unique */
	enum pw_notifier_kind kind;
	char **argv; /* exec: NULL-terminated, argv[0] an absolute path */
	size_t argc;
	char *url; /* webhook, alertmanager: http:// or https:// */
	__u64 timeout_ns; /* default 10s, at most PW_NOTIFIER_TIMEOUT_MAX_NS */
	__u32 retries; /* webhook, alertmanager: extra tries; default 3 */
	/* exec: run as uid:gid (keys user and group) instead of the daemon's */
	bool set_ids;
	uid_t uid;
	gid_t gid;
};

/* A notifier's timeout is at most this: a shutdown or reload never waits on
 * a command or a peer, but an alert should not wait in its queue for ages
 * behind a hung one either. */
#define PW_NOTIFIER_TIMEOUT_MAX_NS (300 * PW_NSEC_PER_SEC)

struct pw_config {
	char *path;
	/* listen: "ADDR:PORT" or "[ADDR6]:PORT"; default 127.0.0.1:9977 */
	char listen_addr[64]; /* numeric address, brackets stripped */
	__u16 listen_port;
	__u32 max_connections; /* concurrent HTTP clients, default 16 */
	/* ports: allowlist; empty = every listening port plus outbound
	 * service ports, at most max_ports rows, the rest under port="other". */
	__u16 *ports;
	size_t n_ports;
	__u32 max_ports; /* default 64 */
	bool all_netns; /* namespaces: "all" (true) or "host" (false, default) */
	__u64 reconcile_ns; /* default 60s; 0 disables */
	/* a row with no sockets and no activity this long is forgotten,
	 * default 10m */
	__u64 forget_ns;
	__u64 interval_ns; /* rule evaluation interval, default 5s */
	bool latency; /* request latency tracking, default true */
	/* accept-queue waits: a hook on every system call's exit, default false */
	bool accept_wait;
	/* Histogram bounds exported as le, in seconds, ascending; each is
	 * snapped to the in-kernel bucket bound at or above it. */
	double *buckets;
	size_t n_buckets;
	struct pw_rule *rules;
	size_t n_rules;
	struct pw_notifier *notifiers;
	size_t n_notifiers;
};

/* Parses text (len bytes; name is used in messages) into *cfg, filling
 * defaults. On error returns -EINVAL and writes one line to err:
 * "FILE:LINE:COLUMN: KEY: what is wrong" (1-based line and column). */
int pw_config_parse(const char *name, const char *text, size_t len, struct pw_config *cfg,
		    char *err, size_t errlen);
/* Collections nest at most this deep (the format needs 4): deeper is an
 * error at the first level too many, before parsing goes on. */
#define PW_CONFIG_MAX_DEPTH 32
/* Each rule is evaluated every interval and exported as its own series:
 * more is a mistake, and the caps keep a reload's checks (unique names,
 * notifier references) within milliseconds. */
#define PW_CONFIG_MAX_RULES 4096
#define PW_CONFIG_MAX_NOTIFIERS 256

/* Reads and parses a file; -errno and a message on failure. Only a regular
 * file is read (a FIFO or a device is refused, never waited on). When the
 * caller is root the file must be owned by root (or the caller) and not
 * writable by group or others (-EPERM), as sshd requires of its files: a
 * root daemon runs the commands it names. */
int pw_config_load(const char *path, struct pw_config *cfg, char *err, size_t errlen);
/* Frees what parse allocated; leaves *cfg zeroed. Safe on a zeroed cfg. */
void pw_config_free(struct pw_config *cfg);
/* The names the file uses: "close_wait", "exec", "inbound" ("any" for
 * PW_RD_ANY); "unknown" out of range. */
const char *pw_rule_metric_name(enum pw_rule_metric m);
const char *pw_notifier_kind_name(enum pw_notifier_kind k);
const char *pw_rule_dir_name(enum pw_rule_dir d);

#endif
