/* SPDX-License-Identifier: MIT */
/* YAML (libyaml event API) -> a plain tree of nodes with 1-based positions.
 * Internal to src/policy: the compiler pushes this tree into Lua. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum ward_ynode_kind {
	WARD_Y_SCALAR,
	WARD_Y_MAP, /* kids: key, value, key, value, ... */
	WARD_Y_SEQ,
};

enum ward_ystyle {
	WARD_YS_PLAIN,
	WARD_YS_SINGLE,
	WARD_YS_DOUBLE,
	WARD_YS_LITERAL,
	WARD_YS_FOLDED,
};

struct ward_ynode {
	enum ward_ynode_kind kind;
	enum ward_ystyle style;
	uint32_t line, col;
	char *value; /* scalar text, may contain NUL bytes (len says) */
	size_t len;
	struct ward_ynode **kids;
	size_t n, cap;
};

struct ward_yerror {
	uint32_t line, col;
	char msg[256];
};

/* 0 and *ret_root (NULL for an empty document); -EINVAL with yerr filled;
 * -ENOMEM. Anchors, aliases, explicit tags and multiple documents are
 * rejected with their position; nesting deeper than max_depth too. */
int ward_yaml_parse(const char *buf, size_t len, unsigned max_depth, struct ward_ynode **ret_root,
		    struct ward_yerror *yerr);
void ward_ynode_free(struct ward_ynode *n);
