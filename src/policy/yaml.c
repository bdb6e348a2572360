// SPDX-License-Identifier: MIT
/* The YAML front end. We keep libyaml's event API (not its document API) so
 * that we decide what is accepted: no anchors or aliases (billion laughs), no
 * tags, one document, bounded depth. Positions are libyaml marks plus one. */
#include "policy/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH_LIMIT 256

void ward_ynode_free(struct ward_ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		ward_ynode_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

static int yfail(struct ward_yerror *yerr, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int yfail(struct ward_yerror *yerr, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;

	yerr->line = (uint32_t)mark.line + 1;
	yerr->col = (uint32_t)mark.column + 1;
	va_start(ap, fmt);
	vsnprintf(yerr->msg, sizeof(yerr->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int add_kid(struct ward_ynode *parent, struct ward_ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct ward_ynode **k = reallocarray(parent->kids, cap, sizeof(*k));
		if (!k)
			return -ENOMEM;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

static struct ward_ynode *node_new(enum ward_ynode_kind kind, yaml_mark_t mark)
{
	struct ward_ynode *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (uint32_t)mark.line + 1;
	n->col = (uint32_t)mark.column + 1;
	return n;
}

static enum ward_ystyle style_of(yaml_scalar_style_t s)
{
	switch (s) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		return WARD_YS_SINGLE;
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		return WARD_YS_DOUBLE;
	case YAML_LITERAL_SCALAR_STYLE:
		return WARD_YS_LITERAL;
	case YAML_FOLDED_SCALAR_STYLE:
		return WARD_YS_FOLDED;
	case YAML_ANY_SCALAR_STYLE:
	case YAML_PLAIN_SCALAR_STYLE:
	default:
		return WARD_YS_PLAIN;
	}
}

/* Handle one event; *done set at the end of the stream. */
static int on_event(yaml_event_t *ev, struct ward_ynode **stack, size_t *depth, unsigned max_depth,
		    struct ward_ynode **root, int *docs, bool *done, struct ward_yerror *yerr)
{
	struct ward_ynode *n = NULL;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	bool implicit_tag = true;

	switch (ev->type) {
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		*done = true;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return yfail(
				yerr, ev->start_mark,
				"multiple YAML documents are not supported (one policy per file)");
		return 0;
	case YAML_ALIAS_EVENT:
		return yfail(yerr, ev->start_mark, "YAML aliases are not supported");
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		implicit_tag = ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		implicit_tag = ev->data.sequence_start.implicit;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		implicit_tag = ev->data.mapping_start.implicit;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (*depth > 0)
			(*depth)--;
		return 0;
	}
	if (anchor)
		return yfail(yerr, ev->start_mark, "YAML anchors ('&%s') are not supported",
			     (const char *)anchor);
	if (tag && !implicit_tag)
		return yfail(yerr, ev->start_mark, "YAML tags ('%s') are not supported",
			     (const char *)tag);

	if (ev->type == YAML_SCALAR_EVENT) {
		n = node_new(WARD_Y_SCALAR, ev->start_mark);
		if (!n)
			return -ENOMEM;
		n->style = style_of(ev->data.scalar.style);
		n->len = ev->data.scalar.length;
		n->value = malloc(n->len + 1);
		if (!n->value) {
			free(n);
			return -ENOMEM;
		}
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
	} else {
		if (*depth >= max_depth)
			return yfail(yerr, ev->start_mark, "nesting deeper than %u levels",
				     max_depth);
		n = node_new(ev->type == YAML_MAPPING_START_EVENT ? WARD_Y_MAP : WARD_Y_SEQ,
			     ev->start_mark);
		if (!n)
			return -ENOMEM;
	}

	if (*depth == 0) {
		*root = n;
	} else {
		int r = add_kid(stack[*depth - 1], n);
		if (r < 0) {
			ward_ynode_free(n);
			return r;
		}
	}
	if (n->kind != WARD_Y_SCALAR)
		stack[(*depth)++] = n;
	return 0;
}

int ward_yaml_parse(const char *buf, size_t len, unsigned max_depth, struct ward_ynode **ret_root,
		    struct ward_yerror *yerr)
{
	struct ward_ynode *stack[MAX_DEPTH_LIMIT];
	struct ward_ynode *root = NULL;
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t depth = 0;
	bool done = false;
	int docs = 0, r = 0;

	if (max_depth == 0 || max_depth > MAX_DEPTH_LIMIT)
		max_depth = MAX_DEPTH_LIMIT;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && r == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				r = -ENOMEM;
			} else if (parser.context) {
				r = yfail(yerr, parser.problem_mark,
					  "YAML syntax error: %s (%s at %zu:%zu)",
					  parser.problem ? parser.problem : "invalid YAML",
					  parser.context, parser.context_mark.line + 1,
					  parser.context_mark.column + 1);
			} else {
				r = yfail(yerr, parser.problem_mark, "YAML syntax error: %s",
					  parser.problem ? parser.problem : "invalid YAML");
			}
			break;
		}
		r = on_event(&ev, stack, &depth, max_depth, &root, &docs, &done, yerr);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (r < 0) {
		ward_ynode_free(root);
		return r;
	}
	*ret_root = root;
	return 0;
}
