/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Typed values of the configuration, internal to src/config/: each reader
 * takes a node of the tree, checks it is what the key wants and says what
 * is wrong (file:line:column, the key's path) when it is not. The schema
 * (schema.c) calls them from its tables. */
#ifndef PW_CONFIG_VALUE_H
#define PW_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "config/config.h"
#include "config/yaml.h"

struct walk {
	const struct pw_yaml_doc *doc;
	const struct pw_yaml_err *err;
	struct pw_config *cfg;
};
/* A duration's bounds: 0 stays allowed below min_ns when zero_ok; no
 * upper bound when max_ns is 0. The texts are the bounds as messages give
 * them. */
struct duration_range {
	__u64 min_ns, max_ns;
	const char *min_text, *max_text;
	bool zero_ok;
};
/* An open range, and what a number in it is, for messages. */
struct number_range {
	double min, max;
	const char *what;
};
/* The words an enum is written with: names[first..n), NULLs skipped. */
struct words {
	const char *const *names;
	unsigned int first, n;
};

int cfg_fail(struct walk *w, const struct pw_yaml_node *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int cfg_fail_nomem(struct walk *w);
const char *cfg_show(const char *s, size_t len, char *buf, size_t size);
const char *cfg_join(char *buf, size_t size, const char *parent, const char *key);
const char *cfg_join_idx(char *buf, size_t size, const char *parent, size_t i);
int cfg_plain_node(struct walk *w, const struct pw_yaml_node *n, const char *path);
int cfg_want_kind(struct walk *w, const struct pw_yaml_node *n, const char *path,
		  enum pw_yaml_kind kind, const char *what);
int cfg_scalar(struct walk *w, const struct pw_yaml_node *n, const char *path, const char *what,
	       const char **out);
int cfg_get_port(struct walk *w, const struct pw_yaml_node *n, const char *path, __u16 *port);
int cfg_get_u32(struct walk *w, const struct pw_yaml_node *n, const char *path, __u32 min,
		__u32 max, __u32 *out);
int cfg_get_bool(struct walk *w, const struct pw_yaml_node *n, const char *path, bool *out);
int cfg_get_duration(struct walk *w, const struct pw_yaml_node *n, const char *path,
		     const struct duration_range *r, __u64 *out);
int cfg_parse_double(const char *s, double *out);
int cfg_get_number(struct walk *w, const struct pw_yaml_node *n, const char *path, double *out);
int cfg_get_between(struct walk *w, const struct pw_yaml_node *n, const char *path,
		    const struct number_range *r, double *out);
int cfg_get_list(struct walk *w, const struct pw_yaml_node *n, const char *path, const char *what);
int cfg_get_string(struct walk *w, const struct pw_yaml_node *n, const char *path, char **out);
int cfg_get_name(struct walk *w, const struct pw_yaml_node *n, const char *path, bool dash,
		 char name[PW_NAME_LEN]);
int cfg_get_enum(struct walk *w, const struct pw_yaml_node *n, const char *path,
		 const struct words *words, const char *what, unsigned int *out);

/* User text inside a message: one line, bounded, printable. */
#define SHOW_LEN 48
#define SHOW(n) cfg_show((n)->text, (n)->len, (char[SHOW_LEN]){ 0 }, SHOW_LEN)

#endif
