/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A YAML document as a small tree of nodes that remember where they were
 * written, and the one message format that points at them. Only yaml.c sees
 * libyaml. */
#ifndef PW_CONFIG_YAML_H
#define PW_CONFIG_YAML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define PW_YAML_NONE ((size_t)-1)

enum pw_yaml_kind {
	PW_YAML_SCALAR,
	PW_YAML_SEQ,
	PW_YAML_MAP,
	PW_YAML_ALIAS,
};

/* Nodes live in one array and point at each other by index, so nothing
 * recurses however deep the input nests. A mapping's children are its keys
 * and values, alternating. */
struct pw_yaml_node {
	enum pw_yaml_kind kind;
	bool plain; /* an unquoted scalar: may be null */
	bool tagged;
	unsigned int line, col; /* 1-based */
	char *text; /* scalar, NUL-terminated; may also hold NULs ("\0") */
	size_t len;
	size_t n; /* children */
	size_t first, last, next, parent;
};

struct pw_yaml_doc {
	struct pw_yaml_node *nodes;
	size_t n_nodes, cap;
	size_t root; /* PW_YAML_NONE: no document, or an empty one */
};

/* Where messages go: "NAME:LINE:COLUMN: PATH: what is wrong", one line. */
struct pw_yaml_err {
	const char *name;
	char *buf;
	size_t size;
};

/* Builds doc from len bytes of text. -EINVAL and a message at the problem
 * for a syntax error, more than one document or nesting deeper than
 * max_depth; -ENOMEM. doc is to be freed in every case. */
int pw_yaml_parse(struct pw_yaml_doc *doc, const char *text, size_t len, unsigned int max_depth,
		  const struct pw_yaml_err *err);
void pw_yaml_free(struct pw_yaml_doc *doc);

static inline const struct pw_yaml_node *pw_yaml_at(const struct pw_yaml_doc *doc, size_t i)
{
	return i == PW_YAML_NONE ? NULL : &doc->nodes[i];
}

static inline const struct pw_yaml_node *pw_yaml_root(const struct pw_yaml_doc *doc)
{
	return pw_yaml_at(doc, doc->root);
}

/* The first child of a collection, the one after a child; NULL at the end.
 * In a mapping the value follows its key. */
static inline const struct pw_yaml_node *pw_yaml_first(const struct pw_yaml_doc *doc,
						       const struct pw_yaml_node *n)
{
	return pw_yaml_at(doc, n->first);
}

static inline const struct pw_yaml_node *pw_yaml_next(const struct pw_yaml_doc *doc,
						      const struct pw_yaml_node *n)
{
	return pw_yaml_at(doc, n->next);
}

/* The value of key in a mapping (the first, if written twice); NULL if it
 * has none. */
const struct pw_yaml_node *pw_yaml_get(const struct pw_yaml_doc *doc,
				       const struct pw_yaml_node *map, const char *key);
/* A plain scalar YAML reads as null: empty, ~ or null. */
bool pw_yaml_is_null(const struct pw_yaml_node *n);
/* "a list", "a mapping" or "a scalar", for messages. */
const char *pw_yaml_kind_desc(const struct pw_yaml_node *n);

/* Writes the message at n (path may be NULL) and returns -EINVAL. */
int pw_yaml_fail(const struct pw_yaml_err *err, const struct pw_yaml_node *n, const char *path,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int pw_yaml_vfail(const struct pw_yaml_err *err, const struct pw_yaml_node *n, const char *path,
		  const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
/* "NAME: out of memory"; returns -ENOMEM. */
int pw_yaml_nomem(const struct pw_yaml_err *err);

#endif
