// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon's YAML configuration: one pass over the tree yaml.c builds
 * fills struct pw_config. Every error names file:line:column and the key
 * path. Pure logic apart from reading the file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/args.h"
#include "common/clock.h"
#include "config/config.h"
#include "config/yaml.h"

#define PW_CONFIG_MAX_BYTES (1 << 20)
#define PW_MAX_BUCKETS 64
/* Bucket bounds are snapped to the in-kernel histogram, which ends at 2^47 ns. */
#define PW_MAX_BUCKET_SECONDS 140000.0
#define NONE PW_YAML_NONE

static const double default_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					  0.5,	 1,	 2.5,	5,    10,    30,   60 };

static const char *const metric_names[PW_RM_MAX] = {
	[PW_RM_CLOSE_WAIT] = "close_wait",     [PW_RM_CLOSE_WAIT_AGE] = "close_wait_age",
	[PW_RM_LATENCY] = "latency",	       [PW_RM_REQUEST_RATE] = "request_rate",
	[PW_RM_RESET_RATE] = "reset_rate",     [PW_RM_CONNECT_FAILURES] = "connect_failures",
	[PW_RM_UNANSWERED] = "unanswered",     [PW_RM_RETRANSMITS] = "retransmits",
	[PW_RM_ACCEPT_QUEUE] = "accept_queue", [PW_RM_LISTEN_DROPS] = "listen_drops",
	[PW_RM_LISTENING] = "listening",
};

static const char *const when_names[] = { "above", "below" };

static const char *const kind_names[] = {
	[PW_NK_LOG] = "log",
	[PW_NK_EXEC] = "exec",
	[PW_NK_WEBHOOK] = "webhook",
	[PW_NK_ALERTMANAGER] = "alertmanager",
};

static const char *const dir_names[] = {
	[PW_RD_ANY] = "any",
	[PW_RD_INBOUND] = "inbound",
	[PW_RD_OUTBOUND] = "outbound",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *pw_rule_metric_name(enum pw_rule_metric m)
{
	return (unsigned int)m < PW_RM_MAX ? metric_names[m] : "unknown";
}

const char *pw_notifier_kind_name(enum pw_notifier_kind k)
{
	return (unsigned int)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "unknown";
}

const char *pw_rule_dir_name(enum pw_rule_dir d)
{
	return (unsigned int)d < ARRAY_SIZE(dir_names) ? dir_names[d] : "unknown";
}

struct parser {
	struct pw_yaml_doc doc;
	struct pw_yaml_err err;
	struct pw_config *cfg;
};

static int fail(struct parser *p, const struct pw_yaml_node *n, const char *path, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, const struct pw_yaml_node *n, const char *path, const char *fmt,
		...)
{
	va_list ap;

	va_start(ap, fmt);
	pw_yaml_vfail(&p->err, n, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int fail_nomem(struct parser *p)
{
	return pw_yaml_nomem(&p->err);
}

/* User text inside a message: one line, bounded, printable. */
static const char *show(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = 0, max = size - 4;

	for (i = 0; i < len && n < max; i++)
		buf[n++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (i < len)
		n += (size_t)snprintf(buf + n, size - n, "...");
	buf[n] = '\0';
	return buf;
}

#define SHOW_LEN 48
#define SHOW(n) show((n)->text, (n)->len, (char[SHOW_LEN]){ 0 }, SHOW_LEN)

/* "parent.key", or "key" at the top. */
static const char *join(char *buf, size_t size, const char *parent, const char *key)
{
	/* Paths are short; a truncated one still points the right way. */
	if (snprintf(buf, size, "%s%s%s", parent, *parent ? "." : "", key) >= (int)size)
		buf[size - 1] = '\0';
	return buf;
}

static const char *join_idx(char *buf, size_t size, const char *parent, size_t i)
{
	if (snprintf(buf, size, "%s[%zu]", parent, i) >= (int)size)
		buf[size - 1] = '\0';
	return buf;
}

#define PATH_LEN 160

/* ---- typed access to nodes ---- */

static const struct pw_yaml_node *at(struct parser *p, size_t i)
{
	return pw_yaml_at(&p->doc, i);
}

/* What every access checks first: features this format does not use. */
static int plain_node(struct parser *p, const struct pw_yaml_node *n, const char *path)
{
	if (n->kind == PW_YAML_ALIAS)
		return fail(p, n, path, "aliases are not supported");
	if (n->tagged)
		return fail(p, n, path, "tags are not supported");
	return 0;
}

static int want_kind(struct parser *p, const struct pw_yaml_node *n, const char *path,
		     enum pw_yaml_kind kind, const char *what)
{
	int err = plain_node(p, n, path);

	if (err)
		return err;
	if (n->kind != kind)
		return fail(p, n, path, "expected %s, got %s", what, pw_yaml_kind_desc(n));
	return 0;
}

/* A non-null scalar without NUL bytes. */
static int scalar(struct parser *p, const struct pw_yaml_node *n, const char *path,
		  const char *what, const char **out)
{
	int err = want_kind(p, n, path, PW_YAML_SCALAR, what);

	if (err)
		return err;
	if (pw_yaml_is_null(n))
		return fail(p, n, path, "missing value (expected %s)", what);
	if (strlen(n->text) != n->len)
		return fail(p, n, path, "contains a NUL character");
	*out = n->text;
	return 0;
}

/* Looks up a mapping's keys in a table: vals[i] is the value node of
 * keys[i] (NONE if absent), keyn[i] its key node. Unknown and duplicate
 * keys are errors at the key. */
static int map_fields(struct parser *p, const struct pw_yaml_node *map, const char *path,
		      const char *const *keys, size_t n_keys, size_t *keyn, size_t *vals)
{
	char sub[PATH_LEN], shown[SHOW_LEN];
	const struct pw_yaml_node *k;
	size_t ki, i;
	int err;

	err = want_kind(p, map, path, PW_YAML_MAP, "a mapping");
	if (err)
		return err;
	for (i = 0; i < n_keys; i++)
		keyn[i] = vals[i] = NONE;
	for (ki = map->first; ki != NONE; ki = p->doc.nodes[ki].next) {
		k = &p->doc.nodes[ki];
		if (p->doc.nodes[ki].next == NONE)
			return fail(p, k, path, "key without a value");
		err = plain_node(p, k, *path ? path : "yaml");
		if (err)
			return err;
		if (k->kind != PW_YAML_SCALAR || pw_yaml_is_null(k))
			return fail(p, k, *path ? path : "yaml", "keys must be non-empty strings");
		for (i = 0; i < n_keys; i++)
			if (strlen(keys[i]) == k->len && memcmp(keys[i], k->text, k->len) == 0)
				break;
		join(sub, sizeof(sub), path, show(k->text, k->len, shown, sizeof(shown)));
		if (i == n_keys)
			return fail(p, k, sub, "unknown key");
		if (vals[i] != NONE)
			return fail(p, k, sub, "duplicate key");
		keyn[i] = ki;
		vals[i] = p->doc.nodes[ki].next;
		ki = vals[i];
	}
	return 0;
}

static int missing(struct parser *p, const struct pw_yaml_node *map, const char *path,
		   const char *key)
{
	return fail(p, map, path, "missing key '%s'", key);
}

static int get_port(struct parser *p, const struct pw_yaml_node *n, const char *path, __u16 *port)
{
	const char *s, *why;
	int err;

	err = scalar(p, n, path, "a port", &s);
	if (err)
		return err;
	if (pw_parse_port(s, port, &why))
		return fail(p, n, path, "%s is not a port (1..65535)", SHOW(n));
	return 0;
}

static int get_u32(struct parser *p, const struct pw_yaml_node *n, const char *path, __u32 min,
		   __u32 max, __u32 *out)
{
	const char *s, *why;
	__u32 v;
	int err;

	err = scalar(p, n, path, "an integer", &s);
	if (err)
		return err;
	if (pw_parse_count(s, &v, &why))
		return fail(p, n, path, "%s is not an integer (%u..%u)", SHOW(n), min, max);
	if (v < min || v > max)
		return fail(p, n, path, "%s is out of range (%u..%u)", SHOW(n), min, max);
	*out = v;
	return 0;
}

static int get_bool(struct parser *p, const struct pw_yaml_node *n, const char *path, bool *out)
{
	const char *s;
	int err;

	err = scalar(p, n, path, "true or false", &s);
	if (err)
		return err;
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return fail(p, n, path, "%s is not a boolean (true or false)", SHOW(n));
	return 0;
}

/* min_ns: smallest value accepted; 0 stays allowed when zero_ok. */
static int get_duration(struct parser *p, const struct pw_yaml_node *n, const char *path,
			__u64 min_ns, bool zero_ok, const char *min_text, __u64 *out)
{
	const char *s, *why;
	__u64 ns;
	int err;

	err = scalar(p, n, path, "a duration", &s);
	if (err)
		return err;
	if (pw_parse_duration(s, &ns, &why))
		return fail(p, n, path, "%s is not a duration: %s", SHOW(n), why);
	if (ns < min_ns && !(zero_ok && ns == 0)) {
		if (min_ns == 1)
			return fail(p, n, path, "must be greater than 0");
		return fail(p, n, path, "%s is too short (at least %s%s)", SHOW(n), min_text,
			    zero_ok ? ", or 0 to disable" : "");
	}
	*out = ns;
	return 0;
}

/* strtod, the whole string, finite. -ERANGE: a number, but not finite. */
static int parse_double(const char *s, double *out)
{
	static const char *const specials[] = { ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN" };
	const char *q;
	char *end;
	double v;
	size_t i;

	if (!*s || strchr(" \t\n\r\f\v", *s))
		return -EINVAL;
	v = strtod(s, &end);
	if (end != s && !*end) {
		if (!isfinite(v))
			return -ERANGE;
		/* strtod also reads hexadecimal floats: not a config number. */
		if (strpbrk(s, "xX"))
			return -EINVAL;
		*out = v + 0.0; /* no -0 */
		return 0;
	}
	/* YAML spells infinity and NaN its own way. */
	q = s + (*s == '+' || *s == '-');
	for (i = 0; i < ARRAY_SIZE(specials); i++)
		if (strcmp(q, specials[i]) == 0)
			return -ERANGE;
	return -EINVAL;
}

static int get_number(struct parser *p, const struct pw_yaml_node *n, const char *path, double *out)
{
	const char *s;
	int err;

	err = scalar(p, n, path, "a number", &s);
	if (err)
		return err;
	err = parse_double(s, out);
	if (err == -ERANGE)
		return fail(p, n, path, "%s is not a finite number", SHOW(n));
	if (err)
		return fail(p, n, path, "%s is not a number", SHOW(n));
	return 0;
}

static int get_list(struct parser *p, const struct pw_yaml_node *n, const char *path,
		    const char *what)
{
	return want_kind(p, n, path, PW_YAML_SEQ, what);
}

static int get_string(struct parser *p, const struct pw_yaml_node *n, const char *path, char **out)
{
	const char *s;
	int err;

	err = scalar(p, n, path, "a string", &s);
	if (err)
		return err;
	*out = strdup(s);
	return *out ? 0 : fail_nomem(p);
}

static bool is_name(const char *s, bool dash)
{
	size_t i;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (i = 1; s[i]; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || (dash && c == '-')))
			return false;
	}
	return true;
}

static int get_name(struct parser *p, const struct pw_yaml_node *n, const char *path, bool dash,
		    char name[PW_NAME_LEN])
{
	const char *s;
	int err;

	err = scalar(p, n, path, "a name", &s);
	if (err)
		return err;
	if (strlen(s) >= PW_NAME_LEN)
		return fail(p, n, path, "%s is too long (at most %d characters)", SHOW(n),
			    PW_NAME_LEN - 1);
	if (!is_name(s, dash))
		return fail(p, n, path, "%s is not a valid name (%s)", SHOW(n),
			    dash ? "[A-Za-z_][A-Za-z0-9_-]*" : "[A-Za-z_][A-Za-z0-9_]*");
	strcpy(name, s);
	return 0;
}

/* One of names[0..n); the index in *out. */
static int get_enum(struct parser *p, const struct pw_yaml_node *n, const char *path,
		    const char *const *names, size_t n_names, const char *what, unsigned int *out)
{
	char list[160] = "";
	const char *s;
	size_t i, len = 0;
	int err;

	err = scalar(p, n, path, what, &s);
	if (err)
		return err;
	for (i = 0; i < n_names; i++) {
		if (names[i] && strcmp(s, names[i]) == 0) {
			*out = (unsigned int)i;
			return 0;
		}
	}
	for (i = 0; i < n_names; i++)
		if (names[i] && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						len ? ", " : "", names[i]);
	return fail(p, n, path, "%s is not %s (%s)", SHOW(n), what, list);
}

/* ---- top-level values ---- */

static int get_listen(struct parser *p, const struct pw_yaml_node *n, const char *path,
		      struct pw_config *cfg)
{
	char addr[64], shown[SHOW_LEN], part[SHOW_LEN];
	unsigned char buf[sizeof(struct in6_addr)];
	const char *s, *colon, *a, *why;
	size_t alen;
	bool v6;
	int err;

	if (n->kind == PW_YAML_SEQ)
		return fail(p, n, path,
			    "expected ADDR:PORT, got a list (quote IPv6: \"[::1]:9977\")");
	err = scalar(p, n, path, "ADDR:PORT", &s);
	if (err)
		return err;
	show(s, n->len, shown, sizeof(shown));
	colon = strrchr(s, ':');
	v6 = s[0] == '[';
	if (v6) {
		a = s + 1;
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return fail(p, n, path, "%s: expected [ADDR6]:PORT", shown);
		alen = (size_t)(colon - a);
		colon++;
	} else {
		if (!colon)
			return fail(p, n, path, "%s: missing port (ADDR:PORT or [ADDR6]:PORT)",
				    shown);
		a = s;
		alen = (size_t)(colon - s);
		if (memchr(a, ':', alen))
			return fail(p, n, path, "%s: IPv6 addresses need brackets: [ADDR6]:PORT",
				    shown);
	}
	if (alen == 0 || alen >= sizeof(addr))
		return fail(p, n, path, "%s: expected a numeric IP address", shown);
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
		return fail(p, n, path, "%s: %s is not a numeric IP%s address", shown,
			    show(addr, alen, part, sizeof(part)), v6 ? "v6" : "v4");
	if (pw_parse_port(colon + 1, &cfg->listen_port, &why))
		return fail(p, n, path, "%s: %s is not a port (1..65535)", shown,
			    show(colon + 1, strlen(colon + 1), part, sizeof(part)));
	strcpy(cfg->listen_addr, addr);
	return 0;
}

static int get_ports(struct parser *p, const struct pw_yaml_node *n, const char *path,
		     struct pw_config *cfg)
{
	struct pw_portset *seen;
	char sub[PATH_LEN];
	size_t i, ci;
	__u16 port;
	int err;

	err = get_list(p, n, path, "a list of ports");
	if (err)
		return err;
	if (!n->n)
		return 0;
	seen = calloc(1, sizeof(*seen));
	cfg->ports = calloc(n->n, sizeof(*cfg->ports));
	if (!seen || !cfg->ports) {
		free(seen);
		return fail_nomem(p);
	}
	for (i = 0, ci = n->first; ci != NONE; i++, ci = p->doc.nodes[ci].next) {
		join_idx(sub, sizeof(sub), path, i);
		err = get_port(p, &p->doc.nodes[ci], sub, &port);
		if (!err && pw_portset_has(seen, port))
			err = fail(p, &p->doc.nodes[ci], sub, "%u is listed twice", port);
		if (err)
			break;
		seen->bits[port / 64] |= 1ULL << (port % 64);
		cfg->ports[cfg->n_ports++] = port;
	}
	free(seen);
	return err;
}

static int get_buckets(struct parser *p, const struct pw_yaml_node *n, const char *path,
		       struct pw_config *cfg)
{
	char sub[PATH_LEN];
	size_t i, ci;
	double v;
	int err;

	err = get_list(p, n, path, "a list of bucket bounds in seconds");
	if (err)
		return err;
	if (n->n == 0)
		return fail(p, n, path, "needs at least one bucket");
	if (n->n > PW_MAX_BUCKETS)
		return fail(p, n, path, "%zu buckets, at most %d", n->n, PW_MAX_BUCKETS);
	cfg->buckets = calloc(n->n, sizeof(*cfg->buckets));
	if (!cfg->buckets)
		return fail_nomem(p);
	for (i = 0, ci = n->first; ci != NONE; i++, ci = p->doc.nodes[ci].next) {
		const struct pw_yaml_node *c = &p->doc.nodes[ci];

		join_idx(sub, sizeof(sub), path, i);
		err = get_number(p, c, sub, &v);
		if (err)
			return err;
		if (!(v > 0))
			return fail(p, c, sub, "%s must be greater than 0", SHOW(c));
		if (v > PW_MAX_BUCKET_SECONDS)
			return fail(p, c, sub, "%s is too large (at most 140000 seconds)", SHOW(c));
		if (i && v <= cfg->buckets[i - 1])
			return fail(p, c, sub, "%s is not above the previous bound (%g)", SHOW(c),
				    cfg->buckets[i - 1]);
		cfg->buckets[cfg->n_buckets++] = v;
	}
	return 0;
}

/* ---- notifiers ---- */

enum {
	NF_NAME,
	NF_TYPE,
	NF_COMMAND,
	NF_TIMEOUT,
	NF_URL,
	NF_RETRIES,
	NF_USER,
	NF_GROUP,
	NF_MAX,
};

static const char *const notifier_keys[NF_MAX] = {
	[NF_NAME] = "name",	  [NF_TYPE] = "type",	[NF_COMMAND] = "command",
	[NF_TIMEOUT] = "timeout", [NF_URL] = "url",	[NF_RETRIES] = "retries",
	[NF_USER] = "user",	  [NF_GROUP] = "group",
};

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
static int get_user(struct parser *p, const struct pw_yaml_node *n, const char *path,
		    struct pw_notifier *nf, bool group_given)
{
	struct passwd pw, *found = NULL;
	unsigned long id;
	char buf[4096];
	const char *s;
	int err;

	err = scalar(p, n, path, "a user name or uid", &s);
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
		return fail(p, n, path, "uid %s has no passwd entry: name its group too", s);
	} else {
		return fail(p, n, path, "no user named %s", SHOW(n));
	}
	nf->set_ids = true;
	return 0;
}

static int get_group(struct parser *p, const struct pw_yaml_node *n, const char *path,
		     struct pw_notifier *nf)
{
	struct group gr, *found = NULL;
	unsigned long id;
	char buf[4096];
	const char *s;
	int err;

	err = scalar(p, n, path, "a group name or gid", &s);
	if (err)
		return err;
	if (parse_id(s, &id)) {
		nf->gid = (gid_t)id;
		return 0;
	}
	getgrnam_r(s, &gr, buf, sizeof(buf), &found);
	if (!found)
		return fail(p, n, path, "no group named %s", SHOW(n));
	nf->gid = gr.gr_gid;
	return 0;
}

static int get_command(struct parser *p, const struct pw_yaml_node *n, const char *path,
		       struct pw_notifier *nf)
{
	char sub[PATH_LEN];
	size_t i, ci;
	int err;

	err = get_list(p, n, path, "a list: the program and its arguments");
	if (err)
		return err;
	if (!n->n)
		return fail(p, n, path, "must not be empty");
	nf->argv = calloc(n->n + 1, sizeof(*nf->argv));
	if (!nf->argv)
		return fail_nomem(p);
	for (i = 0, ci = n->first; ci != NONE; i++, ci = p->doc.nodes[ci].next) {
		join_idx(sub, sizeof(sub), path, i);
		err = get_string(p, &p->doc.nodes[ci], sub, &nf->argv[i]);
		if (err)
			return err;
		nf->argc++;
		/* No PATH lookup: the daemon runs what the file names. */
		if (i == 0 && nf->argv[0][0] != '/')
			return fail(p, &p->doc.nodes[ci], sub, "%s is not an absolute path",
				    SHOW(&p->doc.nodes[ci]));
	}
	return 0;
}

static int get_url(struct parser *p, const struct pw_yaml_node *n, const char *path, char **out)
{
	const char *s, *host;
	size_t i;
	int err;

	err = scalar(p, n, path, "a URL", &s);
	if (err)
		return err;
	if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return fail(p, n, path, "%s is not an http:// or https:// URL", SHOW(n));
	if (!*host || *host == '/')
		return fail(p, n, path, "%s has no host", SHOW(n));
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return fail(p, n, path, "%s contains a space or control character",
				    SHOW(n));
	*out = strdup(s);
	return *out ? 0 : fail_nomem(p);
}

static int not_for_type(struct parser *p, size_t key, const char *path, const char *types)
{
	return fail(p, &p->doc.nodes[key], path, "only applies to type %s", types);
}

static int get_notifier(struct parser *p, const struct pw_yaml_node *map, const char *path,
			size_t idx)
{
	struct pw_notifier *nf = &p->cfg->notifiers[idx];
	size_t keyn[NF_MAX], v[NF_MAX], i;
	char sub[PATH_LEN];
	unsigned int kind;
	bool net;
	int err;

	err = map_fields(p, map, path, notifier_keys, NF_MAX, keyn, v);
	if (err)
		return err;
	if (v[NF_NAME] == NONE)
		return missing(p, map, path, "name");
	err = get_name(p, at(p, v[NF_NAME]), join(sub, sizeof(sub), path, "name"), true, nf->name);
	if (err)
		return err;
	for (i = 0; i < idx; i++)
		if (strcmp(p->cfg->notifiers[i].name, nf->name) == 0)
			return fail(p, at(p, v[NF_NAME]), sub,
				    "%s is already used by notifiers[%zu]", nf->name, i);
	if (v[NF_TYPE] == NONE)
		return missing(p, map, path, "type");
	err = get_enum(p, at(p, v[NF_TYPE]), join(sub, sizeof(sub), path, "type"), kind_names,
		       ARRAY_SIZE(kind_names), "a notifier type", &kind);
	if (err)
		return err;
	nf->kind = kind;
	net = kind == PW_NK_WEBHOOK || kind == PW_NK_ALERTMANAGER;

	if (kind == PW_NK_EXEC) {
		if (v[NF_COMMAND] == NONE)
			return missing(p, map, path, "command");
		err = get_command(p, at(p, v[NF_COMMAND]), join(sub, sizeof(sub), path, "command"),
				  nf);
		if (err)
			return err;
		if (v[NF_USER] != NONE) {
			err = get_user(p, at(p, v[NF_USER]), join(sub, sizeof(sub), path, "user"),
				       nf, v[NF_GROUP] != NONE);
			if (err)
				return err;
		}
		if (v[NF_GROUP] != NONE && v[NF_USER] == NONE)
			return fail(p, &p->doc.nodes[keyn[NF_GROUP]],
				    join(sub, sizeof(sub), path, "group"),
				    "needs user (the group alone would run the command as root)");
		if (v[NF_GROUP] != NONE) {
			err = get_group(p, at(p, v[NF_GROUP]),
					join(sub, sizeof(sub), path, "group"), nf);
			if (err)
				return err;
		}
	} else if (v[NF_COMMAND] != NONE) {
		return not_for_type(p, keyn[NF_COMMAND], join(sub, sizeof(sub), path, "command"),
				    "exec");
	} else if (v[NF_USER] != NONE || v[NF_GROUP] != NONE) {
		i = v[NF_USER] != NONE ? NF_USER : NF_GROUP;
		return not_for_type(p, keyn[i], join(sub, sizeof(sub), path, notifier_keys[i]),
				    "exec");
	}
	if (net) {
		if (v[NF_URL] == NONE)
			return missing(p, map, path, "url");
		err = get_url(p, at(p, v[NF_URL]), join(sub, sizeof(sub), path, "url"), &nf->url);
		if (err)
			return err;
		nf->retries = 3;
		if (v[NF_RETRIES] != NONE) {
			err = get_u32(p, at(p, v[NF_RETRIES]),
				      join(sub, sizeof(sub), path, "retries"), 0, 10, &nf->retries);
			if (err)
				return err;
		}
	} else {
		if (v[NF_URL] != NONE)
			return not_for_type(p, keyn[NF_URL], join(sub, sizeof(sub), path, "url"),
					    "webhook or alertmanager");
		if (v[NF_RETRIES] != NONE)
			return not_for_type(p, keyn[NF_RETRIES],
					    join(sub, sizeof(sub), path, "retries"),
					    "webhook or alertmanager");
	}
	if (kind != PW_NK_LOG) {
		nf->timeout_ns = 10 * PW_NSEC_PER_SEC;
		if (v[NF_TIMEOUT] != NONE) {
			err = get_duration(p, at(p, v[NF_TIMEOUT]),
					   join(sub, sizeof(sub), path, "timeout"), 1, false, NULL,
					   &nf->timeout_ns);
			if (err)
				return err;
			if (nf->timeout_ns > PW_NOTIFIER_TIMEOUT_MAX_NS)
				return fail(p, at(p, v[NF_TIMEOUT]), sub,
					    "%s is too long (at most 5m)",
					    SHOW(at(p, v[NF_TIMEOUT])));
		}
	} else if (v[NF_TIMEOUT] != NONE) {
		return not_for_type(p, keyn[NF_TIMEOUT], join(sub, sizeof(sub), path, "timeout"),
				    "exec, webhook or alertmanager");
	}
	return 0;
}

/* A list of mappings into a new array of size-byte items, each read by get
 * (path "name[i]"). *count grows before each item is read, so that
 * pw_config_free sees what a failing one allocated. */
/* A list of at most max items, each read by get. */
static int get_items(struct parser *p, const struct pw_yaml_node *n, const char *path,
		     const char *what, size_t max, void **items, size_t size, size_t *count,
		     int (*get)(struct parser *, const struct pw_yaml_node *, const char *, size_t))
{
	char sub[PATH_LEN];
	size_t i, ci;
	int err;

	err = get_list(p, n, path, what);
	if (err || !n->n)
		return err;
	if (n->n > max)
		return fail(p, n, path, "%zu items, at most %zu", n->n, max);
	*items = calloc(n->n, size);
	if (!*items)
		return fail_nomem(p);
	for (i = 0, ci = n->first; ci != NONE; i++, ci = p->doc.nodes[ci].next) {
		(*count)++;
		err = get(p, &p->doc.nodes[ci], join_idx(sub, sizeof(sub), path, i), i);
		if (err)
			return err;
	}
	return 0;
}

static int get_notifiers(struct parser *p, const struct pw_yaml_node *n, const char *path)
{
	return get_items(p, n, path, "a list of notifiers", PW_CONFIG_MAX_NOTIFIERS,
			 (void **)&p->cfg->notifiers, sizeof(*p->cfg->notifiers),
			 &p->cfg->n_notifiers, get_notifier);
}

/* ---- rules ---- */

enum {
	RF_NAME,
	RF_METRIC,
	RF_PORT,
	RF_DIRECTION,
	RF_QUANTILE,
	RF_WINDOW,
	RF_WARN,
	RF_CRIT,
	RF_CLEAR,
	RF_WHEN,
	RF_FOR,
	RF_COOLDOWN,
	RF_NOTIFY,
	RF_MAX,
};

static const char *const rule_keys[RF_MAX] = {
	[RF_NAME] = "name",	    [RF_METRIC] = "metric",
	[RF_PORT] = "port",	    [RF_DIRECTION] = "direction",
	[RF_QUANTILE] = "quantile", [RF_WINDOW] = "window",
	[RF_WARN] = "warn",	    [RF_CRIT] = "crit",
	[RF_CLEAR] = "clear",	    [RF_FOR] = "for",
	[RF_WHEN] = "when",	    [RF_COOLDOWN] = "cooldown",
	[RF_NOTIFY] = "notify",
};

bool pw_rule_windowed(enum pw_rule_metric m)
{
	return m == PW_RM_LATENCY || m == PW_RM_REQUEST_RATE || m == PW_RM_RESET_RATE ||
	       m == PW_RM_CONNECT_FAILURES || m == PW_RM_UNANSWERED || m == PW_RM_RETRANSMITS ||
	       m == PW_RM_LISTEN_DROPS;
}

/* Seconds-valued metrics take "2s" as well as 2. */
static bool metric_in_seconds(enum pw_rule_metric m)
{
	return m == PW_RM_LATENCY || m == PW_RM_CLOSE_WAIT_AGE;
}

static int get_threshold(struct parser *p, const struct pw_yaml_node *n, const char *path,
			 enum pw_rule_metric m, double *out)
{
	const char *s, *why;
	__u64 ns;
	int err;

	err = scalar(p, n, path, "a number", &s);
	if (err)
		return err;
	err = parse_double(s, out);
	if (err == -ERANGE)
		return fail(p, n, path, "%s is not a finite number", SHOW(n));
	if (err && metric_in_seconds(m)) {
		if (pw_parse_duration(s, &ns, &why))
			return fail(p, n, path, "%s is not a number of seconds or a duration",
				    SHOW(n));
		*out = pw_seconds(ns);
		err = 0;
	}
	if (err)
		return fail(p, n, path, "%s is not a number%s", SHOW(n),
			    strpbrk(s, "0123456789")
				    ? " (durations only for latency and close_wait_age)"
				    : "");
	if (*out < 0)
		return fail(p, n, path, "%s is negative", SHOW(n));
	return 0;
}

static int get_notify(struct parser *p, const struct pw_yaml_node *n, const char *path,
		      struct pw_rule *r)
{
	const struct pw_config *cfg = p->cfg;
	char sub[PATH_LEN];
	const char *s;
	size_t i, j, k, ci;
	int err;

	err = get_list(p, n, path, "a list of notifier names");
	if (err)
		return err;
	if (!n->n)
		return fail(p, n, path, "names no notifier (leave notify out for all)");
	r->notify = calloc(n->n, sizeof(*r->notify));
	if (!r->notify)
		return fail_nomem(p);
	for (i = 0, ci = n->first; ci != NONE; i++, ci = p->doc.nodes[ci].next) {
		const struct pw_yaml_node *c = &p->doc.nodes[ci];

		join_idx(sub, sizeof(sub), path, i);
		err = scalar(p, c, sub, "a notifier name", &s);
		if (err)
			return err;
		for (j = 0; j < cfg->n_notifiers; j++)
			if (strcmp(cfg->notifiers[j].name, s) == 0)
				break;
		if (j == cfg->n_notifiers)
			return fail(p, c, sub, "no notifier named %s", SHOW(c));
		for (k = 0; k < r->n_notify; k++)
			if (r->notify[k] == j)
				return fail(p, c, sub, "%s is listed twice", SHOW(c));
		r->notify[r->n_notify++] = j;
	}
	return 0;
}

static int get_rule(struct parser *p, const struct pw_yaml_node *map, const char *path, size_t idx)
{
	struct pw_rule *r = &p->cfg->rules[idx];
	size_t keyn[RF_MAX], v[RF_MAX], i;
	const char *low_name;
	char sub[PATH_LEN];
	unsigned int e;
	double low;
	int err;

	err = map_fields(p, map, path, rule_keys, RF_MAX, keyn, v);
	if (err)
		return err;
	if (v[RF_NAME] == NONE)
		return missing(p, map, path, "name");
	err = get_name(p, at(p, v[RF_NAME]), join(sub, sizeof(sub), path, "name"), false, r->name);
	if (err)
		return err;
	for (i = 0; i < idx; i++)
		if (strcmp(p->cfg->rules[i].name, r->name) == 0)
			return fail(p, at(p, v[RF_NAME]), sub, "%s is already used by rules[%zu]",
				    r->name, i);
	if (v[RF_METRIC] == NONE)
		return missing(p, map, path, "metric");
	err = get_enum(p, at(p, v[RF_METRIC]), join(sub, sizeof(sub), path, "metric"), metric_names,
		       PW_RM_MAX, "a metric", &e);
	if (err)
		return err;
	r->metric = e;
	if (v[RF_PORT] == NONE)
		return missing(p, map, path, "port");
	err = get_port(p, at(p, v[RF_PORT]), join(sub, sizeof(sub), path, "port"), &r->port);
	if (err)
		return err;
	if (v[RF_DIRECTION] != NONE) {
		/* Both directions summed is the default, not a value to spell. */
		err = get_enum(p, at(p, v[RF_DIRECTION]), join(sub, sizeof(sub), path, "direction"),
			       dir_names + 1, ARRAY_SIZE(dir_names) - 1, "a direction", &e);
		if (err)
			return err;
		r->dir = e + 1;
	}

	join(sub, sizeof(sub), path, "quantile");
	if (r->metric == PW_RM_LATENCY) {
		r->quantile = 0.95;
		if (v[RF_QUANTILE] != NONE) {
			const struct pw_yaml_node *q = at(p, v[RF_QUANTILE]);

			err = get_number(p, q, sub, &r->quantile);
			if (err)
				return err;
			if (!(r->quantile > 0 && r->quantile < 1))
				return fail(p, q, sub, "%s is not a quantile (0 < q < 1)", SHOW(q));
		}
	} else if (v[RF_QUANTILE] != NONE) {
		return fail(p, at(p, keyn[RF_QUANTILE]), sub, "only applies to metric latency");
	}

	join(sub, sizeof(sub), path, "window");
	if (pw_rule_windowed(r->metric)) {
		r->window_ns = 5 * 60 * PW_NSEC_PER_SEC;
		if (v[RF_WINDOW] != NONE) {
			err = get_duration(p, at(p, v[RF_WINDOW]), sub, PW_NSEC_PER_SEC, false,
					   "1s", &r->window_ns);
			if (err)
				return err;
		}
	} else if (v[RF_WINDOW] != NONE) {
		return fail(p, at(p, keyn[RF_WINDOW]), sub,
			    "only applies to metrics latency, request_rate, reset_rate, "
			    "connect_failures, unanswered, retransmits and listen_drops");
	}

	if (v[RF_WHEN] != NONE) {
		err = get_enum(p, at(p, v[RF_WHEN]), join(sub, sizeof(sub), path, "when"),
			       when_names, ARRAY_SIZE(when_names), "above or below", &e);
		if (err)
			return err;
		r->below = e == 1;
	}
	if (v[RF_WARN] == NONE && v[RF_CRIT] == NONE)
		return fail(p, map, path, "needs warn or crit (or both)");
	if (v[RF_WARN] != NONE) {
		err = get_threshold(p, at(p, v[RF_WARN]), join(sub, sizeof(sub), path, "warn"),
				    r->metric, &r->warn);
		if (err)
			return err;
		r->has_warn = true;
	}
	if (v[RF_CRIT] != NONE) {
		err = get_threshold(p, at(p, v[RF_CRIT]), join(sub, sizeof(sub), path, "crit"),
				    r->metric, &r->crit);
		if (err)
			return err;
		r->has_crit = true;
		/* Critical is further from normal than warning. */
		if (r->has_warn && !r->below && r->crit < r->warn)
			return fail(p, at(p, v[RF_CRIT]), sub, "%s is below warn (%g)",
				    SHOW(at(p, v[RF_CRIT])), r->warn);
		if (r->has_warn && r->below && r->crit > r->warn)
			return fail(p, at(p, v[RF_CRIT]), sub,
				    "%s is above warn (%g) (when: below)", SHOW(at(p, v[RF_CRIT])),
				    r->warn);
	}
	low = r->has_warn ? r->warn : r->crit;
	low_name = r->has_warn ? "warn" : "crit";
	r->clear = low;
	if (v[RF_CLEAR] != NONE) {
		err = get_threshold(p, at(p, v[RF_CLEAR]), join(sub, sizeof(sub), path, "clear"),
				    r->metric, &r->clear);
		if (err)
			return err;
		if (!r->below && r->clear > low)
			return fail(p, at(p, v[RF_CLEAR]), sub, "%s is above %s (%g)",
				    SHOW(at(p, v[RF_CLEAR])), low_name, low);
		if (r->below && r->clear < low)
			return fail(p, at(p, v[RF_CLEAR]), sub, "%s is below %s (%g) (when: below)",
				    SHOW(at(p, v[RF_CLEAR])), low_name, low);
	}

	if (v[RF_FOR] != NONE) {
		err = get_duration(p, at(p, v[RF_FOR]), join(sub, sizeof(sub), path, "for"), 0,
				   true, NULL, &r->for_ns);
		if (err)
			return err;
	}
	r->cooldown_ns = 15 * 60 * PW_NSEC_PER_SEC;
	if (v[RF_COOLDOWN] != NONE) {
		err = get_duration(p, at(p, v[RF_COOLDOWN]),
				   join(sub, sizeof(sub), path, "cooldown"), 0, true, NULL,
				   &r->cooldown_ns);
		if (err)
			return err;
	}
	if (v[RF_NOTIFY] != NONE)
		return get_notify(p, at(p, v[RF_NOTIFY]), join(sub, sizeof(sub), path, "notify"),
				  r);
	return 0;
}

static int get_rules(struct parser *p, const struct pw_yaml_node *n, const char *path)
{
	return get_items(p, n, path, "a list of rules", PW_CONFIG_MAX_RULES,
			 (void **)&p->cfg->rules, sizeof(*p->cfg->rules), &p->cfg->n_rules,
			 get_rule);
}

/* ---- the document ---- */

enum {
	TF_LISTEN,
	TF_MAX_CONNECTIONS,
	TF_PORTS,
	TF_MAX_PORTS,
	TF_NAMESPACES,
	TF_RECONCILE,
	TF_FORGET,
	TF_EVALUATION,
	TF_LATENCY,
	TF_ACCEPT_WAIT,
	TF_BUCKETS,
	TF_NOTIFIERS,
	TF_RULES,
	TF_MAX,
};

static const char *const top_keys[TF_MAX] = {
	[TF_LISTEN] = "listen",		[TF_MAX_CONNECTIONS] = "max_connections",
	[TF_PORTS] = "ports",		[TF_MAX_PORTS] = "max_ports",
	[TF_NAMESPACES] = "namespaces", [TF_RECONCILE] = "reconcile_interval",
	[TF_FORGET] = "forget_after",	[TF_EVALUATION] = "evaluation_interval",
	[TF_LATENCY] = "latency",	[TF_ACCEPT_WAIT] = "accept_wait",
	[TF_BUCKETS] = "buckets",	[TF_NOTIFIERS] = "notifiers",
	[TF_RULES] = "rules",
};

static int set_defaults(struct parser *p, struct pw_config *cfg)
{
	strcpy(cfg->listen_addr, "127.0.0.1");
	cfg->listen_port = 9977;
	cfg->max_connections = 16;
	cfg->max_ports = 64;
	cfg->reconcile_ns = 60 * PW_NSEC_PER_SEC;
	cfg->forget_ns = 600 * PW_NSEC_PER_SEC;
	cfg->interval_ns = 5 * PW_NSEC_PER_SEC;
	cfg->latency = true;
	cfg->path = strdup(p->err.name);
	if (!cfg->path)
		return fail_nomem(p);
	return 0;
}

static int default_buckets_copy(struct parser *p, struct pw_config *cfg)
{
	cfg->buckets = malloc(sizeof(default_buckets));
	if (!cfg->buckets)
		return fail_nomem(p);
	memcpy(cfg->buckets, default_buckets, sizeof(default_buckets));
	cfg->n_buckets = ARRAY_SIZE(default_buckets);
	return 0;
}

static int fill(struct parser *p, struct pw_config *cfg)
{
	static const char *const ns_names[] = { "host", "all" };
	size_t keyn[TF_MAX], v[TF_MAX];
	const struct pw_yaml_node *root = pw_yaml_root(&p->doc);
	unsigned int e;
	int err;

	err = set_defaults(p, cfg);
	if (err)
		return err;
	/* An empty file, or one with only comments, means every default. */
	if (!root || pw_yaml_is_null(root))
		return default_buckets_copy(p, cfg);
	err = plain_node(p, root, "yaml");
	if (err)
		return err;
	if (root->kind != PW_YAML_MAP)
		return fail(p, root, "yaml", "the top level must be a mapping of settings, not %s",
			    pw_yaml_kind_desc(root));
	err = map_fields(p, root, "", top_keys, TF_MAX, keyn, v);
	if (err)
		return err;

	if (v[TF_LISTEN] != NONE && (err = get_listen(p, at(p, v[TF_LISTEN]), "listen", cfg)))
		return err;
	if (v[TF_MAX_CONNECTIONS] != NONE &&
	    (err = get_u32(p, at(p, v[TF_MAX_CONNECTIONS]), "max_connections", 1, 1024,
			   &cfg->max_connections)))
		return err;
	if (v[TF_PORTS] != NONE && (err = get_ports(p, at(p, v[TF_PORTS]), "ports", cfg)))
		return err;
	if (v[TF_MAX_PORTS] != NONE &&
	    (err = get_u32(p, at(p, v[TF_MAX_PORTS]), "max_ports", 1, 4096, &cfg->max_ports)))
		return err;
	if (v[TF_NAMESPACES] != NONE) {
		err = get_enum(p, at(p, v[TF_NAMESPACES]), "namespaces", ns_names,
			       ARRAY_SIZE(ns_names), "a namespace choice", &e);
		if (err)
			return err;
		cfg->all_netns = e == 1;
	}
	/* A reconcile walks every socket: more often than each second is a
	 * typo, not a setting. */
	if (v[TF_RECONCILE] != NONE &&
	    (err = get_duration(p, at(p, v[TF_RECONCILE]), "reconcile_interval", PW_NSEC_PER_SEC,
				true, "1s", &cfg->reconcile_ns)))
		return err;
	if (v[TF_FORGET] != NONE &&
	    (err = get_duration(p, at(p, v[TF_FORGET]), "forget_after", PW_NSEC_PER_SEC, false,
				"1s", &cfg->forget_ns)))
		return err;
	if (v[TF_EVALUATION] != NONE &&
	    (err = get_duration(p, at(p, v[TF_EVALUATION]), "evaluation_interval",
				PW_NSEC_PER_SEC / 10, false, "100ms", &cfg->interval_ns)))
		return err;
	if (v[TF_LATENCY] != NONE &&
	    (err = get_bool(p, at(p, v[TF_LATENCY]), "latency", &cfg->latency)))
		return err;
	if (v[TF_ACCEPT_WAIT] != NONE &&
	    (err = get_bool(p, at(p, v[TF_ACCEPT_WAIT]), "accept_wait", &cfg->accept_wait)))
		return err;
	if (v[TF_BUCKETS] != NONE)
		err = get_buckets(p, at(p, v[TF_BUCKETS]), "buckets", cfg);
	else
		err = default_buckets_copy(p, cfg);
	if (err)
		return err;
	/* Notifiers first, whatever the order in the file: rules name them. */
	if (v[TF_NOTIFIERS] != NONE &&
	    (err = get_notifiers(p, at(p, v[TF_NOTIFIERS]), "notifiers")))
		return err;
	if (v[TF_RULES] != NONE && (err = get_rules(p, at(p, v[TF_RULES]), "rules")))
		return err;
	return 0;
}

int pw_config_parse(const char *name, const char *text, size_t len, struct pw_config *cfg,
		    char *err, size_t errlen)
{
	struct parser p = {
		.err = { .name = name ? name : "config", .buf = err, .size = errlen },
		.cfg = cfg,
	};
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';
	ret = pw_yaml_parse(&p.doc, text, len, PW_CONFIG_MAX_DEPTH, &p.err);
	if (!ret)
		ret = fill(&p, cfg);
	pw_yaml_free(&p.doc);
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
