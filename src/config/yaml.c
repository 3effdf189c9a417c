// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libyaml's events turned into a tree of maps, lists and scalars that keep
 * their line and column, lookups in it, and messages that point into the
 * file. The only file that includes <yaml.h>. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "config/yaml.h"

static void put_err(const struct pw_yaml_err *err, unsigned int line, unsigned int col,
		    const char *path, const char *msg)
{
	if (!err->buf || !err->size)
		return;
	if (path)
		snprintf(err->buf, err->size, "%s:%u:%u: %s: %s", err->name, line, col, path, msg);
	else
		snprintf(err->buf, err->size, "%s:%u:%u: %s", err->name, line, col, msg);
}

int pw_yaml_vfail(const struct pw_yaml_err *err, const struct pw_yaml_node *n, const char *path,
		  const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	put_err(err, n->line, n->col, path, msg);
	return -EINVAL;
}

int pw_yaml_fail(const struct pw_yaml_err *err, const struct pw_yaml_node *n, const char *path,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pw_yaml_vfail(err, n, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int pw_yaml_nomem(const struct pw_yaml_err *err)
{
	if (err->buf && err->size)
		snprintf(err->buf, err->size, "%s: out of memory", err->name);
	return -ENOMEM;
}

/* libyaml's marks are 0-based; messages count from 1. */
static int fail_at(const struct pw_yaml_err *err, const yaml_event_t *ev, const char *msg)
{
	put_err(err, (unsigned int)ev->start_mark.line + 1, (unsigned int)ev->start_mark.column + 1,
		"yaml", msg);
	return -EINVAL;
}

static int syntax_error(const struct pw_yaml_err *err, const yaml_parser_t *yp, const char *text,
			size_t len)
{
	unsigned int line = (unsigned int)yp->problem_mark.line + 1;
	unsigned int col = (unsigned int)yp->problem_mark.column + 1;
	char msg[256];
	size_t i;

	if (yp->error == YAML_MEMORY_ERROR)
		return pw_yaml_nomem(err);
	if (yp->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		line = col = 1;
		for (i = 0; i < yp->problem_offset && i < len; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		if (yp->problem_value != -1)
			snprintf(msg, sizeof(msg), "%s (#%X)", yp->problem, yp->problem_value);
		else
			snprintf(msg, sizeof(msg), "%s", yp->problem);
	} else if (yp->context) {
		snprintf(msg, sizeof(msg), "%s (%s at line %zu)",
			 yp->problem ? yp->problem : "syntax error", yp->context,
			 yp->context_mark.line + 1);
	} else {
		snprintf(msg, sizeof(msg), "%s", yp->problem ? yp->problem : "syntax error");
	}
	put_err(err, line, col, "yaml", msg);
	return -EINVAL;
}

static bool tagged(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.tag;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.tag;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.tag;
	default:
		return false;
	}
}

static void link_child(struct pw_yaml_doc *doc, size_t parent, size_t i)
{
	struct pw_yaml_node *p;

	if (parent == PW_YAML_NONE) {
		doc->root = i;
		return;
	}
	p = &doc->nodes[parent];
	if (p->last == PW_YAML_NONE)
		p->first = i;
	else
		doc->nodes[p->last].next = i;
	p->last = i;
	p->n++;
}

static int add_node(struct pw_yaml_doc *doc, const yaml_event_t *ev, enum pw_yaml_kind kind,
		    size_t parent, size_t *out, const struct pw_yaml_err *err)
{
	struct pw_yaml_node *n, *nodes;
	size_t cap;

	if (doc->n_nodes == doc->cap) {
		cap = doc->cap ? doc->cap * 2 : 64;
		nodes = realloc(doc->nodes, cap * sizeof(*nodes));
		if (!nodes)
			return pw_yaml_nomem(err);
		doc->nodes = nodes;
		doc->cap = cap;
	}
	n = &doc->nodes[doc->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = (unsigned int)ev->start_mark.line + 1;
	n->col = (unsigned int)ev->start_mark.column + 1;
	n->first = n->last = n->next = PW_YAML_NONE;
	n->parent = parent;
	n->tagged = tagged(ev);
	if (ev->type == YAML_SCALAR_EVENT) {
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !n->tagged;
		n->len = ev->data.scalar.length;
		n->text = malloc(n->len + 1);
		if (!n->text)
			return pw_yaml_nomem(err);
		memcpy(n->text, ev->data.scalar.value, n->len);
		n->text[n->len] = '\0';
	}
	link_child(doc, parent, doc->n_nodes);
	*out = doc->n_nodes++;
	return 0;
}

void pw_yaml_free(struct pw_yaml_doc *doc)
{
	size_t i;

	for (i = 0; i < doc->n_nodes; i++)
		free(doc->nodes[i].text);
	free(doc->nodes);
	memset(doc, 0, sizeof(*doc));
	doc->root = PW_YAML_NONE;
}

/* Where the parse stands between two events. */
struct builder {
	struct pw_yaml_doc *doc;
	const struct pw_yaml_err *err;
	size_t cur; /* the open collection */
	unsigned int docs, depth, max_depth;
};

static int add_event(struct builder *b, const yaml_event_t *ev)
{
	size_t idx;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->docs++)
			return fail_at(b->err, ev, "more than one document");
		return 0;
	case YAML_SCALAR_EVENT:
		return add_node(b->doc, ev, PW_YAML_SCALAR, b->cur, &idx, b->err);
	case YAML_ALIAS_EVENT:
		return add_node(b->doc, ev, PW_YAML_ALIAS, b->cur, &idx, b->err);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		/* Stop at the first level too deep: parsing on would cost
		 * time that grows with the square of the depth. */
		if (++b->depth > b->max_depth) {
			char msg[64];

			snprintf(msg, sizeof(msg), "nested deeper than %u levels", b->max_depth);
			return fail_at(b->err, ev, msg);
		}
		return add_node(b->doc, ev,
				ev->type == YAML_SEQUENCE_START_EVENT ? PW_YAML_SEQ : PW_YAML_MAP,
				b->cur, &b->cur, b->err);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		b->depth--;
		if (b->cur != PW_YAML_NONE)
			b->cur = b->doc->nodes[b->cur].parent;
		return 0;
	default:
		return 0;
	}
}

int pw_yaml_parse(struct pw_yaml_doc *doc, const char *text, size_t len, unsigned int max_depth,
		  const struct pw_yaml_err *err)
{
	struct builder b = {
		.doc = doc,
		.err = err,
		.cur = PW_YAML_NONE,
		.max_depth = max_depth,
	};
	yaml_parser_t yp;
	yaml_event_t ev;
	bool done = false;
	int ret = 0;

	memset(doc, 0, sizeof(*doc));
	doc->root = PW_YAML_NONE;
	if (!yaml_parser_initialize(&yp))
		return pw_yaml_nomem(err);
	/* libyaml asserts on a NULL input, even an empty one. */
	yaml_parser_set_input_string(&yp, (const unsigned char *)(text ? text : ""),
				     text ? len : 0);
	while (!done && !ret) {
		if (!yaml_parser_parse(&yp, &ev)) {
			ret = syntax_error(err, &yp, text, len);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		ret = add_event(&b, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	return ret;
}

const struct pw_yaml_node *pw_yaml_get(const struct pw_yaml_doc *doc,
				       const struct pw_yaml_node *map, const char *key)
{
	const struct pw_yaml_node *k, *v;
	size_t len = strlen(key);

	if (map->kind != PW_YAML_MAP)
		return NULL;
	for (k = pw_yaml_first(doc, map); k && (v = pw_yaml_next(doc, k)); k = pw_yaml_next(doc, v))
		if (k->kind == PW_YAML_SCALAR && k->len == len && memcmp(k->text, key, len) == 0)
			return v;
	return NULL;
}

bool pw_yaml_is_null(const struct pw_yaml_node *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->kind != PW_YAML_SCALAR || !n->plain)
		return false;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->text, nulls[i]) == 0)
			return true;
	return false;
}

const char *pw_yaml_kind_desc(const struct pw_yaml_node *n)
{
	switch (n->kind) {
	case PW_YAML_SEQ:
		return "a list";
	case PW_YAML_MAP:
		return "a mapping";
	default:
		return "a scalar";
	}
}
