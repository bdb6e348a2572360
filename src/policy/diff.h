/* SPDX-License-Identifier: MIT */
/* The access one policy grants that another does not (`ward policy diff`,
 * `ward policy apply`, the daemon's policy.apply reply). Each policy is
 * flattened into a set of access items (binary x host x port x protocol x L7
 * rule, binary x path x read/write, settings, ...), so the order of entries,
 * comments, formatting, positions and network policy keys never show; what
 * one side has and the other lacks does, line by line. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"
#include "policy/model.h"

struct ward_policy_diff_item {
	const char *section; /* "network_policies", "dns", "filesystem_policy", ... (static) */
	char *id;	     /* identity and sort key (section, then the item's fields) */
	char *text;	     /* e.g. "claude (/usr/bin/node) -> api.example.com:443 GET /v1/x" */
	char *json;	     /* one JSON object: section, kind, the fields, "text" */
};

struct ward_policy_diff {
	struct ward_policy_diff_item *added; /* what new grants and old does not */
	size_t n_added;
	struct ward_policy_diff_item *removed; /* what old grants and new does not */
	size_t n_removed;
};

/* More access items than this in one policy: -E2BIG (binaries x endpoints x
 * rules multiply; a 1 MiB policy could otherwise ask for billions). */
#define WARD_POLICY_DIFF_MAX_ITEMS 200000

/* The access new adds to and removes from old, sorted by section (in the
 * compiled form's order) and within one by binary, host, port, ... NULL
 * stands for the empty policy (grants nothing). *ret is untouched on
 * failure. -E2BIG: too many items; -ENOMEM. */
int ward_policy_diff(const struct ward_policy *old, const struct ward_policy *new,
		     struct ward_policy_diff *ret, struct ward_error *err);
void ward_policy_diff_free(struct ward_policy_diff *d);

static inline bool ward_policy_diff_empty(const struct ward_policy_diff *d)
{
	return !d->n_added && !d->n_removed;
}

/* Text: per section a "# SECTION" line, then "- TEXT" / "+ TEXT" lines in
 * item order; nothing when the diff is empty. json: one line,
 * {"added":[ITEM...],"removed":[ITEM...],"sections":[NAME...]}. */
void ward_policy_diff_print(FILE *f, const struct ward_policy_diff *d, bool json);
