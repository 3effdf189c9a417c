// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Typed values of the configuration: see value.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/args.h"
#include "common/clock.h"
#include "config/value.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int cfg_fail(struct walk *w, const struct pw_yaml_node *n, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pw_yaml_vfail(w->err, n, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int cfg_fail_nomem(struct walk *w)
{
	return pw_yaml_nomem(w->err);
}

/* User text inside a message: one line, bounded, printable. */
const char *cfg_show(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = 0, max = size - 4;

	for (i = 0; i < len && n < max; i++)
		buf[n++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (i < len)
		n += (size_t)snprintf(buf + n, size - n, "...");
	buf[n] = '\0';
	return buf;
}

/* "parent.key", or "key" at the top. */
const char *cfg_join(char *buf, size_t size, const char *parent, const char *key)
{
	/* Paths are short; a truncated one still points the right way. */
	if (snprintf(buf, size, "%s%s%s", parent, *parent ? "." : "", key) >= (int)size)
		buf[size - 1] = '\0';
	return buf;
}

const char *cfg_join_idx(char *buf, size_t size, const char *parent, size_t i)
{
	if (snprintf(buf, size, "%s[%zu]", parent, i) >= (int)size)
		buf[size - 1] = '\0';
	return buf;
}

/* What every access checks first: features this format does not use. */
int cfg_plain_node(struct walk *w, const struct pw_yaml_node *n, const char *path)
{
	if (n->kind == PW_YAML_ALIAS)
		return cfg_fail(w, n, path, "aliases are not supported");
	if (n->tagged)
		return cfg_fail(w, n, path, "tags are not supported");
	return 0;
}

int cfg_want_kind(struct walk *w, const struct pw_yaml_node *n, const char *path,
		  enum pw_yaml_kind kind, const char *what)
{
	int err = cfg_plain_node(w, n, path);

	if (err)
		return err;
	if (n->kind != kind)
		return cfg_fail(w, n, path, "expected %s, got %s", what, pw_yaml_kind_desc(n));
	return 0;
}

/* A non-null scalar without NUL bytes. */
int cfg_scalar(struct walk *w, const struct pw_yaml_node *n, const char *path, const char *what,
	       const char **out)
{
	int err = cfg_want_kind(w, n, path, PW_YAML_SCALAR, what);

	if (err)
		return err;
	if (pw_yaml_is_null(n))
		return cfg_fail(w, n, path, "missing value (expected %s)", what);
	if (strlen(n->text) != n->len)
		return cfg_fail(w, n, path, "contains a NUL character");
	*out = n->text;
	return 0;
}

int cfg_get_port(struct walk *w, const struct pw_yaml_node *n, const char *path, __u16 *port)
{
	const char *s, *why;
	int err;

	err = cfg_scalar(w, n, path, "a port", &s);
	if (err)
		return err;
	if (pw_parse_port(s, port, &why))
		return cfg_fail(w, n, path, "%s is not a port (1..65535)", SHOW(n));
	return 0;
}

int cfg_get_u32(struct walk *w, const struct pw_yaml_node *n, const char *path, __u32 min,
		__u32 max, __u32 *out)
{
	const char *s, *why;
	__u32 v;
	int err;

	err = cfg_scalar(w, n, path, "an integer", &s);
	if (err)
		return err;
	if (pw_parse_count(s, &v, &why))
		return cfg_fail(w, n, path, "%s is not an integer (%u..%u)", SHOW(n), min, max);
	if (v < min || v > max)
		return cfg_fail(w, n, path, "%s is out of range (%u..%u)", SHOW(n), min, max);
	*out = v;
	return 0;
}

int cfg_get_bool(struct walk *w, const struct pw_yaml_node *n, const char *path, bool *out)
{
	const char *s;
	int err;

	err = cfg_scalar(w, n, path, "true or false", &s);
	if (err)
		return err;
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return cfg_fail(w, n, path, "%s is not a boolean (true or false)", SHOW(n));
	return 0;
}

int cfg_get_duration(struct walk *w, const struct pw_yaml_node *n, const char *path,
		     const struct duration_range *r, __u64 *out)
{
	const char *s, *why;
	__u64 ns;
	int err;

	err = cfg_scalar(w, n, path, "a duration", &s);
	if (err)
		return err;
	if (pw_parse_duration(s, &ns, &why))
		return cfg_fail(w, n, path, "%s is not a duration: %s", SHOW(n), why);
	if (ns < r->min_ns && !(r->zero_ok && ns == 0)) {
		if (r->min_ns == 1)
			return cfg_fail(w, n, path, "must be greater than 0");
		return cfg_fail(w, n, path, "%s is too short (at least %s%s)", SHOW(n), r->min_text,
				r->zero_ok ? ", or 0 to disable" : "");
	}
	if (r->max_ns && ns > r->max_ns)
		return cfg_fail(w, n, path, "%s is too long (at most %s)", SHOW(n), r->max_text);
	*out = ns;
	return 0;
}

/* strtod, the whole string, finite. -ERANGE: a number, but not finite. */
int cfg_parse_double(const char *s, double *out)
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

int cfg_get_number(struct walk *w, const struct pw_yaml_node *n, const char *path, double *out)
{
	const char *s;
	int err;

	err = cfg_scalar(w, n, path, "a number", &s);
	if (err)
		return err;
	err = cfg_parse_double(s, out);
	if (err == -ERANGE)
		return cfg_fail(w, n, path, "%s is not a finite number", SHOW(n));
	if (err)
		return cfg_fail(w, n, path, "%s is not a number", SHOW(n));
	return 0;
}

int cfg_get_between(struct walk *w, const struct pw_yaml_node *n, const char *path,
		    const struct number_range *r, double *out)
{
	int err;

	err = cfg_get_number(w, n, path, out);
	if (err)
		return err;
	if (!(*out > r->min && *out < r->max))
		return cfg_fail(w, n, path, "%s is not %s", SHOW(n), r->what);
	return 0;
}

int cfg_get_list(struct walk *w, const struct pw_yaml_node *n, const char *path, const char *what)
{
	return cfg_want_kind(w, n, path, PW_YAML_SEQ, what);
}

int cfg_get_string(struct walk *w, const struct pw_yaml_node *n, const char *path, char **out)
{
	const char *s;
	int err;

	err = cfg_scalar(w, n, path, "a string", &s);
	if (err)
		return err;
	*out = strdup(s);
	return *out ? 0 : cfg_fail_nomem(w);
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

int cfg_get_name(struct walk *w, const struct pw_yaml_node *n, const char *path, bool dash,
		 char name[PW_NAME_LEN])
{
	const char *s;
	int err;

	err = cfg_scalar(w, n, path, "a name", &s);
	if (err)
		return err;
	if (strlen(s) >= PW_NAME_LEN)
		return cfg_fail(w, n, path, "%s is too long (at most %d characters)", SHOW(n),
				PW_NAME_LEN - 1);
	if (!is_name(s, dash))
		return cfg_fail(w, n, path, "%s is not a valid name (%s)", SHOW(n),
				dash ? "[A-Za-z_][A-Za-z0-9_-]*" : "[A-Za-z_][A-Za-z0-9_]*");
	strcpy(name, s);
	return 0;
}

/* One of the words; its index in *out. */
int cfg_get_enum(struct walk *w, const struct pw_yaml_node *n, const char *path,
		 const struct words *words, const char *what, unsigned int *out)
{
	const char *const *names = words->names;
	char list[160] = "";
	const char *s;
	size_t len = 0;
	unsigned int i;
	int err;

	err = cfg_scalar(w, n, path, what, &s);
	if (err)
		return err;
	for (i = words->first; i < words->n; i++) {
		if (names[i] && strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	for (i = words->first; i < words->n; i++)
		if (names[i] && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						len ? ", " : "", names[i]);
	return cfg_fail(w, n, path, "%s is not %s (%s)", SHOW(n), what, list);
}
