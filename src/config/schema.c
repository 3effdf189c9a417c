// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Which keys the configuration has, where: one table per mapping (the
 * document, a rule, a notifier) with each key's type, default, range and
 * place in the struct, and the walk that reads a mapping by its table. Keys
 * too special for a table entry have a small function of their own. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/args.h"
#include "common/clock.h"
#include "config/schema.h"
#include "config/value.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PW_MAX_BUCKETS 64
/* Bucket bounds are snapped to the in-kernel histogram, which ends at 2^47 ns. */
#define PW_MAX_BUCKET_SECONDS 140000.0
/* The most keys one mapping's table has. */
#define MAX_KEYS 16
#define PATH_LEN 160

const char *const pw_metric_words[PW_RM_MAX] = {
	[PW_RM_CLOSE_WAIT] = "close_wait",     [PW_RM_CLOSE_WAIT_AGE] = "close_wait_age",
	[PW_RM_LATENCY] = "latency",	       [PW_RM_REQUEST_RATE] = "request_rate",
	[PW_RM_RESET_RATE] = "reset_rate",     [PW_RM_CONNECT_FAILURES] = "connect_failures",
	[PW_RM_UNANSWERED] = "unanswered",     [PW_RM_RETRANSMITS] = "retransmits",
	[PW_RM_ACCEPT_QUEUE] = "accept_queue", [PW_RM_LISTEN_DROPS] = "listen_drops",
	[PW_RM_LISTENING] = "listening",
};

const char *const pw_notifier_words[PW_NK_ALERTMANAGER + 1] = {
	[PW_NK_LOG] = "log",
	[PW_NK_EXEC] = "exec",
	[PW_NK_WEBHOOK] = "webhook",
	[PW_NK_ALERTMANAGER] = "alertmanager",
};

const char *const pw_direction_words[PW_RD_OUTBOUND + 1] = {
	[PW_RD_ANY] = "any",
	[PW_RD_INBOUND] = "inbound",
	[PW_RD_OUTBOUND] = "outbound",
};

/* Two-word choices: the second one sets the flag. */
static const char *const when_words[] = { "above", "below" };
static const char *const namespace_words[] = { "host", "all" };

static const double default_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					  0.5,	 1,	 2.5,	5,    10,    30,   60 };

/* ---- the tables ---- */

/* One key of a mapping as the walk found it: key and val are NULL when the
 * file leaves it out. path names the key ("rules[0].port"), map_path the
 * mapping ("rules[0]"); they are the same for a check on the mapping. */
struct slot {
	const struct pw_yaml_node *map, *key, *val;
	const char *path, *map_path;
};

/* item: the struct the mapping fills (struct pw_config, a rule, a notifier). */
typedef int (*key_fn)(struct walk *w, const struct slot *s, void *item);

enum key_type {
	K_U32,
	K_BOOL,
	K_CHOICE, /* one of two words; the second sets a bool */
	K_ENUM, /* one of words, stored as unsigned int */
	K_PORT,
	K_DURATION,
	K_NUMBER, /* a finite double, min < v < max */
	K_ITEMS, /* a list of mappings, each read by its own table */
	K_FUNC, /* read by get */
	K_CHECK, /* no key: get checks the mapping at this point of the walk */
};

struct key;

/* A list of at most max mappings into a new array of size-byte items; its
 * length at count_off in the parent. */
struct items {
	const char *what;
	const struct key *keys;
	size_t n_keys, size, max, count_off;
};

/* A table is walked in its order: that order is the order of the checks,
 * so a file with two mistakes always hears about the same one. */
struct key {
	const char *name;
	enum key_type type;
	bool required;
	size_t off; /* where the value goes in the item */
	const char *what; /* K_CHOICE, K_ENUM: the value, for messages */
	union {
		struct {
			__u32 min, max;
		} u32;
		struct duration_range dur;
		struct words words;
		struct number_range num;
		const struct items *items;
	};
	/* The value when the key is left out (and applies): 0 unless set. */
	union {
		__u32 u32;
		__u64 ns;
		double num;
		bool b;
	} def;
	/* When applies says no, the key must not be there: "only applies to
	 * <only>". */
	bool (*applies)(const void *item);
	const char *only;
	key_fn get; /* K_FUNC, K_CHECK */
	key_fn absent; /* a default more than a value: worked out */
};

/* The member a value goes to: offsetof, and a build failure when the member
 * is not as wide as what the key's type stores there. */
#define AT(type, member, ctype)                                                                    \
	.off = offsetof(type, member) +                                                            \
	       sizeof(char[sizeof(((type *)0)->member) == sizeof(ctype) ? 1 : -1]) - 1

static void *field(void *item, const struct key *k)
{
	return (char *)item + k->off;
}

/* ---- the document ---- */

static int get_listen(struct walk *w, const struct slot *sl, void *item)
{
	char addr[64], shown[SHOW_LEN], part[SHOW_LEN];
	unsigned char buf[sizeof(struct in6_addr)];
	const struct pw_yaml_node *n = sl->val;
	const char *path = sl->path, *s, *colon, *a, *why;
	struct pw_config *cfg = item;
	size_t alen;
	bool v6;
	int err;

	if (n->kind == PW_YAML_SEQ)
		return cfg_fail(w, n, path,
				"expected ADDR:PORT, got a list (quote IPv6: \"[::1]:9977\")");
	err = cfg_scalar(w, n, path, "ADDR:PORT", &s);
	if (err)
		return err;
	cfg_show(s, n->len, shown, sizeof(shown));
	colon = strrchr(s, ':');
	v6 = s[0] == '[';
	if (v6) {
		a = s + 1;
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return cfg_fail(w, n, path, "%s: expected [ADDR6]:PORT", shown);
		alen = (size_t)(colon - a);
		colon++;
	} else {
		if (!colon)
			return cfg_fail(w, n, path, "%s: missing port (ADDR:PORT or [ADDR6]:PORT)",
					shown);
		a = s;
		alen = (size_t)(colon - s);
		if (memchr(a, ':', alen))
			return cfg_fail(w, n, path,
					"%s: IPv6 addresses need brackets: [ADDR6]:PORT", shown);
	}
	if (alen == 0 || alen >= sizeof(addr))
		return cfg_fail(w, n, path, "%s: expected a numeric IP address", shown);
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
		return cfg_fail(w, n, path, "%s: %s is not a numeric IP%s address", shown,
				cfg_show(addr, alen, part, sizeof(part)), v6 ? "v6" : "v4");
	if (pw_parse_port(colon + 1, &cfg->listen_port, &why))
		return cfg_fail(w, n, path, "%s: %s is not a port (1..65535)", shown,
				cfg_show(colon + 1, strlen(colon + 1), part, sizeof(part)));
	strcpy(cfg->listen_addr, addr);
	return 0;
}

static int default_listen(struct walk *w, const struct slot *s, void *item)
{
	struct pw_config *cfg = item;

	(void)w;
	(void)s;
	strcpy(cfg->listen_addr, "127.0.0.1");
	cfg->listen_port = 9977;
	return 0;
}

static int get_ports(struct walk *w, const struct slot *s, void *item)
{
	const struct pw_yaml_node *n = s->val, *c;
	struct pw_config *cfg = item;
	struct pw_portset *seen;
	char sub[PATH_LEN];
	__u16 port;
	size_t i;
	int err;

	err = cfg_get_list(w, n, s->path, "a list of ports");
	if (err)
		return err;
	if (!n->n)
		return 0;
	seen = calloc(1, sizeof(*seen));
	cfg->ports = calloc(n->n, sizeof(*cfg->ports));
	if (!seen || !cfg->ports) {
		free(seen);
		return cfg_fail_nomem(w);
	}
	for (i = 0, c = pw_yaml_first(w->doc, n); c; i++, c = pw_yaml_next(w->doc, c)) {
		cfg_join_idx(sub, sizeof(sub), s->path, i);
		err = cfg_get_port(w, c, sub, &port);
		if (!err && pw_portset_has(seen, port))
			err = cfg_fail(w, c, sub, "%u is listed twice", port);
		if (err)
			break;
		seen->bits[port / 64] |= 1ULL << (port % 64);
		cfg->ports[cfg->n_ports++] = port;
	}
	free(seen);
	return err;
}

/* The next bound of a list of buckets: in range, above the one before. */
static int bucket_bound(struct walk *w, const struct pw_yaml_node *c, const char *path,
			const struct pw_config *cfg, double *v)
{
	size_t i = cfg->n_buckets;
	int err;

	err = cfg_get_number(w, c, path, v);
	if (err)
		return err;
	if (!(*v > 0))
		return cfg_fail(w, c, path, "%s must be greater than 0", SHOW(c));
	if (*v > PW_MAX_BUCKET_SECONDS)
		return cfg_fail(w, c, path, "%s is too large (at most 140000 seconds)", SHOW(c));
	if (i && *v <= cfg->buckets[i - 1])
		return cfg_fail(w, c, path, "%s is not above the previous bound (%g)", SHOW(c),
				cfg->buckets[i - 1]);
	return 0;
}

static int get_buckets(struct walk *w, const struct slot *s, void *item)
{
	const struct pw_yaml_node *n = s->val, *c;
	struct pw_config *cfg = item;
	char sub[PATH_LEN];
	size_t i;
	double v;
	int err;

	err = cfg_get_list(w, n, s->path, "a list of bucket bounds in seconds");
	if (err)
		return err;
	if (n->n == 0)
		return cfg_fail(w, n, s->path, "needs at least one bucket");
	if (n->n > PW_MAX_BUCKETS)
		return cfg_fail(w, n, s->path, "%zu buckets, at most %d", n->n, PW_MAX_BUCKETS);
	cfg->buckets = calloc(n->n, sizeof(*cfg->buckets));
	if (!cfg->buckets)
		return cfg_fail_nomem(w);
	for (i = 0, c = pw_yaml_first(w->doc, n); c; i++, c = pw_yaml_next(w->doc, c)) {
		err = bucket_bound(w, c, cfg_join_idx(sub, sizeof(sub), s->path, i), cfg, &v);
		if (err)
			return err;
		cfg->buckets[cfg->n_buckets++] = v;
	}
	return 0;
}

static int default_buckets_copy(struct walk *w, const struct slot *s, void *item)
{
	struct pw_config *cfg = item;

	(void)s;
	cfg->buckets = malloc(sizeof(default_buckets));
	if (!cfg->buckets)
		return cfg_fail_nomem(w);
	memcpy(cfg->buckets, default_buckets, sizeof(default_buckets));
	cfg->n_buckets = ARRAY_SIZE(default_buckets);
	return 0;
}

/* ---- notifiers ---- */

static int notifier_name(struct walk *w, const struct slot *s, void *item)
{
	struct pw_notifier *nf = item;
	size_t i, idx = (size_t)(nf - w->cfg->notifiers);
	int err;

	err = cfg_get_name(w, s->val, s->path, true, nf->name);
	if (err)
		return err;
	for (i = 0; i < idx; i++)
		if (strcmp(w->cfg->notifiers[i].name, nf->name) == 0)
			return cfg_fail(w, s->val, s->path, "%s is already used by notifiers[%zu]",
					nf->name, i);
	return 0;
}

static bool notifier_is_exec(const void *item)
{
	return ((const struct pw_notifier *)item)->kind == PW_NK_EXEC;
}

static bool notifier_is_net(const void *item)
{
	enum pw_notifier_kind kind = ((const struct pw_notifier *)item)->kind;

	return kind == PW_NK_WEBHOOK || kind == PW_NK_ALERTMANAGER;
}

/* Everything but log waits on something: a command or a peer. */
static bool notifier_waits(const void *item)
{
	return ((const struct pw_notifier *)item)->kind != PW_NK_LOG;
}

static int notifier_command(struct walk *w, const struct slot *s, void *item)
{
	const struct pw_yaml_node *n = s->val, *c;
	struct pw_notifier *nf = item;
	char sub[PATH_LEN];
	size_t i;
	int err;

	err = cfg_get_list(w, n, s->path, "a list: the program and its arguments");
	if (err)
		return err;
	if (!n->n)
		return cfg_fail(w, n, s->path, "must not be empty");
	nf->argv = calloc(n->n + 1, sizeof(*nf->argv));
	if (!nf->argv)
		return cfg_fail_nomem(w);
	for (i = 0, c = pw_yaml_first(w->doc, n); c; i++, c = pw_yaml_next(w->doc, c)) {
		cfg_join_idx(sub, sizeof(sub), s->path, i);
		err = cfg_get_string(w, c, sub, &nf->argv[i]);
		if (err)
			return err;
		nf->argc++;
		/* No PATH lookup: the daemon runs what the file names. */
		if (i == 0 && nf->argv[0][0] != '/')
			return cfg_fail(w, c, sub, "%s is not an absolute path", SHOW(c));
	}
	return 0;
}

/* A uid or gid written as a number. */
static bool parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !*end && !errno && *out < (unsigned long)(uid_t)-1;
}

/* user: a name or a uid; its primary group unless group says otherwise. */
static int notifier_user(struct walk *w, const struct slot *sl, void *item)
{
	bool group_given = pw_yaml_get(w->doc, sl->map, "group");
	struct passwd pw, *found = NULL;
	const struct pw_yaml_node *n = sl->val;
	struct pw_notifier *nf = item;
	unsigned long id;
	char buf[4096];
	const char *s;
	int err;

	err = cfg_scalar(w, n, sl->path, "a user name or uid", &s);
	if (err)
		return err;
	if (parse_id(s, &id))
		getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &found);
	else
		getpwnam_r(s, &pw, buf, sizeof(buf), &found);
	if (found) {
		nf->uid = pw.pw_uid;
		nf->gid = pw.pw_gid;
	} else if (parse_id(s, &id) && group_given) {
		nf->uid = (uid_t)id;
	} else if (parse_id(s, &id)) {
		return cfg_fail(w, n, sl->path, "uid %s has no passwd entry: name its group too",
				s);
	} else {
		return cfg_fail(w, n, sl->path, "no user named %s", SHOW(n));
	}
	nf->set_ids = true;
	return 0;
}

static int notifier_group(struct walk *w, const struct slot *sl, void *item)
{
	const struct pw_yaml_node *n = sl->val;
	struct group gr, *found = NULL;
	struct pw_notifier *nf = item;
	unsigned long id;
	char buf[4096];
	const char *s;
	int err;

	if (!pw_yaml_get(w->doc, sl->map, "user"))
		return cfg_fail(w, sl->key, sl->path,
				"needs user (the group alone would run the command as root)");
	err = cfg_scalar(w, n, sl->path, "a group name or gid", &s);
	if (err)
		return err;
	if (parse_id(s, &id)) {
		nf->gid = (gid_t)id;
		return 0;
	}
	getgrnam_r(s, &gr, buf, sizeof(buf), &found);
	if (!found)
		return cfg_fail(w, n, sl->path, "no group named %s", SHOW(n));
	nf->gid = gr.gr_gid;
	return 0;
}

static int notifier_url(struct walk *w, const struct slot *sl, void *item)
{
	const struct pw_yaml_node *n = sl->val;
	struct pw_notifier *nf = item;
	const char *s, *host;
	size_t i;
	int err;

	err = cfg_scalar(w, n, sl->path, "a URL", &s);
	if (err)
		return err;
	if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return cfg_fail(w, n, sl->path, "%s is not an http:// or https:// URL", SHOW(n));
	if (!*host || *host == '/')
		return cfg_fail(w, n, sl->path, "%s has no host", SHOW(n));
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return cfg_fail(w, n, sl->path, "%s contains a space or control character",
					SHOW(n));
	nf->url = strdup(s);
	return nf->url ? 0 : cfg_fail_nomem(w);
}

#define NOTIFIER(member, ctype) AT(struct pw_notifier, member, ctype)

static const struct key notifier_keys[] = {
	{ "name", K_FUNC, .required = true, .get = notifier_name },
	{ "type", K_ENUM, .required = true, NOTIFIER(kind, unsigned int), .what = "a notifier type",
	  .words = { pw_notifier_words, 0, ARRAY_SIZE(pw_notifier_words) } },
	{ "command", K_FUNC, .required = true, .get = notifier_command, .applies = notifier_is_exec,
	  .only = "type exec" },
	{ "user", K_FUNC, .get = notifier_user, .applies = notifier_is_exec, .only = "type exec" },
	{ "group", K_FUNC, .get = notifier_group, .applies = notifier_is_exec,
	  .only = "type exec" },
	{ "url", K_FUNC, .required = true, .get = notifier_url, .applies = notifier_is_net,
	  .only = "type webhook or alertmanager" },
	{ "retries", K_U32, NOTIFIER(retries, __u32), .u32 = { 0, 10 }, .def.u32 = 3,
	  .applies = notifier_is_net, .only = "type webhook or alertmanager" },
	{ "timeout", K_DURATION, NOTIFIER(timeout_ns, __u64),
	  .dur = { .min_ns = 1, .max_ns = PW_NOTIFIER_TIMEOUT_MAX_NS, .max_text = "5m" },
	  .def.ns = 10 * PW_NSEC_PER_SEC, .applies = notifier_waits,
	  .only = "type exec, webhook or alertmanager" },
};

static const struct items notifier_items = {
	.what = "a list of notifiers",
	.keys = notifier_keys,
	.n_keys = ARRAY_SIZE(notifier_keys),
	.size = sizeof(struct pw_notifier),
	.max = PW_CONFIG_MAX_NOTIFIERS,
	.count_off = offsetof(struct pw_config, n_notifiers),
};

/* ---- rules ---- */

static int rule_name(struct walk *w, const struct slot *s, void *item)
{
	struct pw_rule *r = item;
	size_t i, idx = (size_t)(r - w->cfg->rules);
	int err;

	err = cfg_get_name(w, s->val, s->path, false, r->name);
	if (err)
		return err;
	for (i = 0; i < idx; i++)
		if (strcmp(w->cfg->rules[i].name, r->name) == 0)
			return cfg_fail(w, s->val, s->path, "%s is already used by rules[%zu]",
					r->name, i);
	return 0;
}

static bool rule_is_latency(const void *item)
{
	return ((const struct pw_rule *)item)->metric == PW_RM_LATENCY;
}

static bool rule_is_windowed(const void *item)
{
	return pw_rule_windowed(((const struct pw_rule *)item)->metric);
}

/* Seconds-valued metrics take "2s" as well as 2. */
static bool metric_in_seconds(enum pw_rule_metric m)
{
	return m == PW_RM_LATENCY || m == PW_RM_CLOSE_WAIT_AGE;
}

static int get_threshold(struct walk *w, const struct pw_yaml_node *n, const char *path,
			 enum pw_rule_metric m, double *out)
{
	const char *s, *why;
	__u64 ns;
	int err;

	err = cfg_scalar(w, n, path, "a number", &s);
	if (err)
		return err;
	err = cfg_parse_double(s, out);
	if (err == -ERANGE)
		return cfg_fail(w, n, path, "%s is not a finite number", SHOW(n));
	if (err && metric_in_seconds(m)) {
		if (pw_parse_duration(s, &ns, &why))
			return cfg_fail(w, n, path, "%s is not a number of seconds or a duration",
					SHOW(n));
		*out = pw_seconds(ns);
		err = 0;
	}
	if (err)
		return cfg_fail(w, n, path, "%s is not a number%s", SHOW(n),
				strpbrk(s, "0123456789")
					? " (durations only for latency and close_wait_age)"
					: "");
	if (*out < 0)
		return cfg_fail(w, n, path, "%s is negative", SHOW(n));
	return 0;
}

static int rule_has_threshold(struct walk *w, const struct slot *s, void *item)
{
	(void)item;
	if (!pw_yaml_get(w->doc, s->map, "warn") && !pw_yaml_get(w->doc, s->map, "crit"))
		return cfg_fail(w, s->map, s->map_path, "needs warn or crit (or both)");
	return 0;
}

static int rule_warn(struct walk *w, const struct slot *s, void *item)
{
	struct pw_rule *r = item;
	int err;

	err = get_threshold(w, s->val, s->path, r->metric, &r->warn);
	if (err)
		return err;
	r->has_warn = true;
	return 0;
}

/* Critical is further from normal than warning. */
static int rule_crit(struct walk *w, const struct slot *s, void *item)
{
	struct pw_rule *r = item;
	int err;

	err = get_threshold(w, s->val, s->path, r->metric, &r->crit);
	if (err)
		return err;
	r->has_crit = true;
	if (r->has_warn && !r->below && r->crit < r->warn)
		return cfg_fail(w, s->val, s->path, "%s is below warn (%g)", SHOW(s->val), r->warn);
	if (r->has_warn && r->below && r->crit > r->warn)
		return cfg_fail(w, s->val, s->path, "%s is above warn (%g) (when: below)",
				SHOW(s->val), r->warn);
	return 0;
}

/* clear is on the no-alert side of the threshold nearest to no alert. */
static int rule_clear(struct walk *w, const struct slot *s, void *item)
{
	struct pw_rule *r = item;
	const char *low_name = r->has_warn ? "warn" : "crit";
	double low = r->has_warn ? r->warn : r->crit;
	int err;

	err = get_threshold(w, s->val, s->path, r->metric, &r->clear);
	if (err)
		return err;
	if (!r->below && r->clear > low)
		return cfg_fail(w, s->val, s->path, "%s is above %s (%g)", SHOW(s->val), low_name,
				low);
	if (r->below && r->clear < low)
		return cfg_fail(w, s->val, s->path, "%s is below %s (%g) (when: below)",
				SHOW(s->val), low_name, low);
	return 0;
}

static int default_clear(struct walk *w, const struct slot *s, void *item)
{
	struct pw_rule *r = item;

	(void)w;
	(void)s;
	r->clear = r->has_warn ? r->warn : r->crit;
	return 0;
}

/* notify: names of notifiers, read before any rule, as indexes. */
static int rule_notify(struct walk *w, const struct slot *s, void *item)
{
	const struct pw_config *cfg = w->cfg;
	const struct pw_yaml_node *n = s->val, *c;
	struct pw_rule *r = item;
	char sub[PATH_LEN];
	const char *name;
	size_t i, j, k;
	int err;

	err = cfg_get_list(w, n, s->path, "a list of notifier names");
	if (err)
		return err;
	if (!n->n)
		return cfg_fail(w, n, s->path, "names no notifier (leave notify out for all)");
	r->notify = calloc(n->n, sizeof(*r->notify));
	if (!r->notify)
		return cfg_fail_nomem(w);
	for (i = 0, c = pw_yaml_first(w->doc, n); c; i++, c = pw_yaml_next(w->doc, c)) {
		cfg_join_idx(sub, sizeof(sub), s->path, i);
		err = cfg_scalar(w, c, sub, "a notifier name", &name);
		if (err)
			return err;
		for (j = 0; j < cfg->n_notifiers; j++)
			if (strcmp(cfg->notifiers[j].name, name) == 0)
				break;
		if (j == cfg->n_notifiers)
			return cfg_fail(w, c, sub, "no notifier named %s", SHOW(c));
		for (k = 0; k < r->n_notify; k++)
			if (r->notify[k] == j)
				return cfg_fail(w, c, sub, "%s is listed twice", SHOW(c));
		r->notify[r->n_notify++] = j;
	}
	return 0;
}

#define RULE(member, ctype) AT(struct pw_rule, member, ctype)

static const struct key rule_keys[] = {
	{ "name", K_FUNC, .required = true, .get = rule_name },
	{ "metric", K_ENUM, .required = true, RULE(metric, unsigned int), .what = "a metric",
	  .words = { pw_metric_words, 0, PW_RM_MAX } },
	{ "port", K_PORT, .required = true, RULE(port, __u16) },
	/* Both directions summed is the default, not a value to spell. */
	{ "direction", K_ENUM, RULE(dir, unsigned int), .what = "a direction",
	  .words = { pw_direction_words, PW_RD_INBOUND, ARRAY_SIZE(pw_direction_words) } },
	{ "quantile", K_NUMBER, RULE(quantile, double), .num = { 0, 1, "a quantile (0 < q < 1)" },
	  .def.num = 0.95, .applies = rule_is_latency, .only = "metric latency" },
	{ "window", K_DURATION, RULE(window_ns, __u64),
	  .dur = { .min_ns = PW_NSEC_PER_SEC, .min_text = "1s" },
	  .def.ns = 5 * 60 * PW_NSEC_PER_SEC, .applies = rule_is_windowed,
	  .only = "metrics latency, request_rate, reset_rate, connect_failures, unanswered, "
		  "retransmits and listen_drops" },
	{ "when", K_CHOICE, RULE(below, bool), .what = "above or below",
	  .words = { when_words, 0, ARRAY_SIZE(when_words) } },
	{ NULL, K_CHECK, .get = rule_has_threshold },
	{ "warn", K_FUNC, .get = rule_warn },
	{ "crit", K_FUNC, .get = rule_crit },
	{ "clear", K_FUNC, .get = rule_clear, .absent = default_clear },
	{ "for", K_DURATION, RULE(for_ns, __u64), .dur = { .zero_ok = true } },
	{ "cooldown", K_DURATION, RULE(cooldown_ns, __u64), .dur = { .zero_ok = true },
	  .def.ns = 15 * 60 * PW_NSEC_PER_SEC },
	{ "notify", K_FUNC, .get = rule_notify },
};

static const struct items rule_items = {
	.what = "a list of rules",
	.keys = rule_keys,
	.n_keys = ARRAY_SIZE(rule_keys),
	.size = sizeof(struct pw_rule),
	.max = PW_CONFIG_MAX_RULES,
	.count_off = offsetof(struct pw_config, n_rules),
};

#define CFG(member, ctype) AT(struct pw_config, member, ctype)

static const struct key top_keys[] = {
	{ "listen", K_FUNC, .get = get_listen, .absent = default_listen },
	{ "max_connections", K_U32, CFG(max_connections, __u32), .u32 = { 1, 1024 },
	  .def.u32 = 16 },
	{ "ports", K_FUNC, .get = get_ports },
	{ "max_ports", K_U32, CFG(max_ports, __u32), .u32 = { 1, 4096 }, .def.u32 = 64 },
	{ "namespaces", K_CHOICE, CFG(all_netns, bool), .what = "a namespace choice",
	  .words = { namespace_words, 0, ARRAY_SIZE(namespace_words) } },
	/* A reconcile walks every socket: more often than each second is a
	 * typo, not a setting. */
	{ "reconcile_interval", K_DURATION, CFG(reconcile_ns, __u64),
	  .dur = { .min_ns = PW_NSEC_PER_SEC, .min_text = "1s", .zero_ok = true },
	  .def.ns = 60 * PW_NSEC_PER_SEC },
	{ "forget_after", K_DURATION, CFG(forget_ns, __u64),
	  .dur = { .min_ns = PW_NSEC_PER_SEC, .min_text = "1s" }, .def.ns = 600 * PW_NSEC_PER_SEC },
	{ "evaluation_interval", K_DURATION, CFG(interval_ns, __u64),
	  .dur = { .min_ns = PW_NSEC_PER_SEC / 10, .min_text = "100ms" },
	  .def.ns = 5 * PW_NSEC_PER_SEC },
	{ "latency", K_BOOL, CFG(latency, bool), .def.b = true },
	{ "accept_wait", K_BOOL, CFG(accept_wait, bool) },
	{ "buckets", K_FUNC, .get = get_buckets, .absent = default_buckets_copy },
	/* Notifiers first, whatever the order in the file: rules name them. */
	{ "notifiers", K_ITEMS, CFG(notifiers, struct pw_notifier *), .items = &notifier_items },
	{ "rules", K_ITEMS, CFG(rules, struct pw_rule *), .items = &rule_items },
};

_Static_assert(ARRAY_SIZE(top_keys) <= MAX_KEYS && ARRAY_SIZE(rule_keys) <= MAX_KEYS &&
		       ARRAY_SIZE(notifier_keys) <= MAX_KEYS,
	       "a table longer than MAX_KEYS");

/* ---- the walk ---- */

static int walk_map(struct walk *w, const struct pw_yaml_node *map, const char *path,
		    const struct key *keys, size_t n_keys, void *item);

static int get_items(struct walk *w, const struct key *k, const struct slot *s, void *item)
{
	const struct items *it = k->items;
	const struct pw_yaml_node *n = s->val, *c;
	size_t *count = (size_t *)((char *)item + it->count_off);
	char sub[PATH_LEN];
	void *array;
	size_t i;
	int err;

	err = cfg_get_list(w, n, s->path, it->what);
	if (err || !n->n)
		return err;
	if (n->n > it->max)
		return cfg_fail(w, n, s->path, "%zu items, at most %zu", n->n, it->max);
	array = calloc(n->n, it->size);
	if (!array)
		return cfg_fail_nomem(w);
	memcpy(field(item, k), &array, sizeof(array));
	for (i = 0, c = pw_yaml_first(w->doc, n); c; i++, c = pw_yaml_next(w->doc, c)) {
		/* Counted before it is read, so that pw_config_free sees
		 * what a failing one allocated. */
		(*count)++;
		err = walk_map(w, c, cfg_join_idx(sub, sizeof(sub), s->path, i), it->keys,
			       it->n_keys, (char *)array + i * it->size);
		if (err)
			return err;
	}
	return 0;
}

static int get_value(struct walk *w, const struct key *k, const struct slot *s, void *item)
{
	unsigned int e;
	int err;

	switch (k->type) {
	case K_U32:
		return cfg_get_u32(w, s->val, s->path, k->u32.min, k->u32.max, field(item, k));
	case K_BOOL:
		return cfg_get_bool(w, s->val, s->path, field(item, k));
	case K_CHOICE:
		err = cfg_get_enum(w, s->val, s->path, &k->words, k->what, &e);
		if (!err)
			*(bool *)field(item, k) = e == 1;
		return err;
	case K_ENUM:
		err = cfg_get_enum(w, s->val, s->path, &k->words, k->what, &e);
		if (!err)
			memcpy(field(item, k), &e, sizeof(e));
		return err;
	case K_PORT:
		return cfg_get_port(w, s->val, s->path, field(item, k));
	case K_DURATION:
		return cfg_get_duration(w, s->val, s->path, &k->dur, field(item, k));
	case K_NUMBER:
		return cfg_get_between(w, s->val, s->path, &k->num, field(item, k));
	case K_ITEMS:
		return get_items(w, k, s, item);
	default:
		return k->get(w, s, item);
	}
}

static int set_default(struct walk *w, const struct key *k, const struct slot *s, void *item)
{
	switch (k->type) {
	case K_U32:
		*(__u32 *)field(item, k) = k->def.u32;
		break;
	case K_BOOL:
		*(bool *)field(item, k) = k->def.b;
		break;
	case K_DURATION:
		*(__u64 *)field(item, k) = k->def.ns;
		break;
	case K_NUMBER:
		*(double *)field(item, k) = k->def.num;
		break;
	default:
		break;
	}
	return k->absent ? k->absent(w, s, item) : 0;
}

/* One key: left out where it does not apply, there where it is required. */
static int walk_key(struct walk *w, const struct key *k, const struct slot *s, void *item)
{
	if (k->applies && !k->applies(item)) {
		if (s->key)
			return cfg_fail(w, s->key, s->path, "only applies to %s", k->only);
		return 0;
	}
	if (!s->val && k->required)
		return cfg_fail(w, s->map, s->map_path, "missing key '%s'", k->name);
	if (!s->val)
		return set_default(w, k, s, item);
	return get_value(w, k, s, item);
}

/* Finds each key of the mapping in the table: vals[i] is the value of
 * keys[i] (NULL if absent), keyn[i] its key. Unknown and duplicate keys are
 * errors at the key, in the file's order. */
static int match_keys(struct walk *w, const struct pw_yaml_node *map, const char *path,
		      const struct key *keys, size_t n_keys, const struct pw_yaml_node **keyn,
		      const struct pw_yaml_node **vals)
{
	const struct pw_yaml_node *k, *v;
	char sub[PATH_LEN], shown[SHOW_LEN];
	size_t i;
	int err;

	err = cfg_want_kind(w, map, path, PW_YAML_MAP, "a mapping");
	if (err)
		return err;
	for (k = pw_yaml_first(w->doc, map); k; k = pw_yaml_next(w->doc, v)) {
		v = pw_yaml_next(w->doc, k);
		if (!v)
			return cfg_fail(w, k, path, "key without a value");
		err = cfg_plain_node(w, k, *path ? path : "yaml");
		if (err)
			return err;
		if (k->kind != PW_YAML_SCALAR || pw_yaml_is_null(k))
			return cfg_fail(w, k, *path ? path : "yaml",
					"keys must be non-empty strings");
		for (i = 0; i < n_keys; i++)
			if (keys[i].name && strlen(keys[i].name) == k->len &&
			    memcmp(keys[i].name, k->text, k->len) == 0)
				break;
		cfg_join(sub, sizeof(sub), path, cfg_show(k->text, k->len, shown, sizeof(shown)));
		if (i == n_keys)
			return cfg_fail(w, k, sub, "unknown key");
		if (vals[i])
			return cfg_fail(w, k, sub, "duplicate key");
		keyn[i] = k;
		vals[i] = v;
	}
	return 0;
}

/* Reads a mapping (NULL: an empty one) into item by its table, in the
 * table's order. */
static int walk_map(struct walk *w, const struct pw_yaml_node *map, const char *path,
		    const struct key *keys, size_t n_keys, void *item)
{
	const struct pw_yaml_node *keyn[MAX_KEYS] = { NULL }, *vals[MAX_KEYS] = { NULL };
	char sub[PATH_LEN];
	struct slot s;
	size_t i;
	int err;

	if (map) {
		err = match_keys(w, map, path, keys, n_keys, keyn, vals);
		if (err)
			return err;
	}
	for (i = 0; i < n_keys; i++) {
		s = (struct slot){
			.map = map,
			.key = keyn[i],
			.val = vals[i],
			.path = path,
			.map_path = path,
		};
		if (keys[i].type == K_CHECK) {
			err = keys[i].get(w, &s, item);
		} else {
			s.path = cfg_join(sub, sizeof(sub), path, keys[i].name);
			err = walk_key(w, &keys[i], &s, item);
		}
		if (err)
			return err;
	}
	return 0;
}

int pw_schema_fill(const struct pw_yaml_doc *doc, const struct pw_yaml_err *err,
		   struct pw_config *cfg)
{
	const struct pw_yaml_node *root = pw_yaml_root(doc);
	struct walk w = { .doc = doc, .err = err, .cfg = cfg };
	int ret;

	/* An empty file, or one with only comments, means every default. */
	if (root && pw_yaml_is_null(root))
		root = NULL;
	if (root) {
		ret = cfg_plain_node(&w, root, "yaml");
		if (ret)
			return ret;
		if (root->kind != PW_YAML_MAP)
			return cfg_fail(&w, root, "yaml",
					"the top level must be a mapping of settings, not %s",
					pw_yaml_kind_desc(root));
	}
	return walk_map(&w, root, "", top_keys, ARRAY_SIZE(top_keys), cfg);
}
