// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* yaml2json: a YAML stream as one JSON array of its documents, so check.sh
 * can parse the Kubernetes manifests with libyaml (a build dependency already)
 * and query them with jq. Plain scalars get the YAML 1.2 core types (null,
 * true/false, numbers); quoted ones stay strings. Duplicate keys are errors,
 * as kubectl makes them. Usage: yaml2json FILE (or - for stdin). */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

static const char *name;

static int fail(const yaml_mark_t *mark, const char *what)
{
	fprintf(stderr, "yaml2json: %s:%zu:%zu: %s\n", name, mark->line + 1, mark->column + 1,
		what);
	return -1;
}

static void put_string(const char *s, size_t len)
{
	size_t i;

	putchar('"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int matches(const char *pattern, const char *s)
{
	regex_t re;
	int r;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return 0;
	r = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	return r == 0;
}

/* YAML 1.2 core schema for plain scalars; JSON has no inf or nan. */
static void put_scalar(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || strlen(s) != len) {
		put_string(s, len);
		return;
	}
	if (matches("^(|~|null|Null|NULL)$", s))
		fputs("null", stdout);
	else if (matches("^(true|True|TRUE)$", s))
		fputs("true", stdout);
	else if (matches("^(false|False|FALSE)$", s))
		fputs("false", stdout);
	else if (matches("^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?$", s))
		fputs(s, stdout);
	else
		put_string(s, len);
}

static int put_node(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	yaml_node_item_t *item;
	yaml_node_pair_t *pair, *prev;
	yaml_node_t *key, *k2;

	if (depth > MAX_DEPTH)
		return fail(&n->start_mark, "nested too deep (a recursive alias?)");
	switch (n->type) {
	case YAML_SCALAR_NODE:
		put_scalar(n);
		return 0;
	case YAML_SEQUENCE_NODE:
		putchar('[');
		for (item = n->data.sequence.items.start; item < n->data.sequence.items.top;
		     item++) {
			if (item != n->data.sequence.items.start)
				putchar(',');
			if (put_node(doc, yaml_document_get_node(doc, *item), depth + 1))
				return -1;
		}
		putchar(']');
		return 0;
	case YAML_MAPPING_NODE:
		putchar('{');
		for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
			key = yaml_document_get_node(doc, pair->key);
			if (key->type != YAML_SCALAR_NODE)
				return fail(&key->start_mark, "a mapping key that is not a scalar");
			for (prev = n->data.mapping.pairs.start; prev < pair; prev++) {
				k2 = yaml_document_get_node(doc, prev->key);
				if (!strcmp((const char *)k2->data.scalar.value,
					    (const char *)key->data.scalar.value))
					return fail(&key->start_mark, "duplicate key");
			}
			if (pair != n->data.mapping.pairs.start)
				putchar(',');
			put_string((const char *)key->data.scalar.value, key->data.scalar.length);
			putchar(':');
			if (put_node(doc, yaml_document_get_node(doc, pair->value), depth + 1))
				return -1;
		}
		putchar('}');
		return 0;
	default:
		return fail(&n->start_mark, "an empty node");
	}
}

int main(int argc, char **argv)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int err = 0, ndocs = 0;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: yaml2json FILE\n");
		return 2;
	}
	name = argv[1];
	f = strcmp(name, "-") ? fopen(name, "r") : stdin;
	if (!f) {
		fprintf(stderr, "yaml2json: open %s: %s\n", name, strerror(errno));
		return 1;
	}
	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "yaml2json: out of memory\n");
		return 1;
	}
	yaml_parser_set_input_file(&parser, f);
	putchar('[');
	for (;;) {
		if (!yaml_parser_load(&parser, &doc)) {
			err = fail(&parser.problem_mark,
				   parser.problem ? parser.problem : "parse error");
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) { /* the end of the stream */
			yaml_document_delete(&doc);
			break;
		}
		/* An empty document (a stray ---) is nothing to kubectl either. */
		if (!(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0 &&
		      root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
			if (ndocs++)
				putchar(',');
			err = put_node(&doc, root, 0);
		}
		yaml_document_delete(&doc);
		if (err)
			break;
	}
	puts("]");
	yaml_parser_delete(&parser);
	if (f != stdin)
		fclose(f);
	return err ? 1 : 0;
}
