/* SPDX-License-Identifier: MIT */
/* Pattern subsumption: does pattern A match every string pattern B can
 * match? For the org ceiling (ceiling.h), which must prove a sandbox rule
 * narrower than a host rule. The languages are match.c's (docs/matching.md).
 * Sound, not complete: true only when A covers B for every input; false
 * may still be a pair that covers (patterns over the bounds in cover.c are
 * compared as equal strings only). */
#pragma once

#include <stdbool.h>

#include "policy/model.h"

/* Path globs (L7 paths, binaries): '*' within one segment, a "**" segment
 * for any number of segments. Both absolute. */
bool ward_cover_glob(const char *a, const char *b);

/* Host patterns, as compiled (lower case): exact names and addresses,
 * "*.D" (one label), "**.D" (one or more). A wildcard is covered only by an
 * equal pattern or a "**." of the same or a parent domain. */
bool ward_cover_host(const char *a, const char *b);

/* Binaries: path glob under path glob; sha256 under the same sha256 or the
 * glob of every path ("/" then "**"); ancestors only under ancestors. An
 * exact path is also covered by the same file (stat: device and inode;
 * realpath under a glob), as the kernel identifies binaries by their file:
 * this one looks at the filesystem. */
bool ward_cover_binary(const struct ward_binary *a, const struct ward_binary *b);

/* Methods: "*" covers every method, otherwise only the same. */
bool ward_cover_method(const char *a, const char *b);

/* Query matchers: each of a's is implied by one of b's (same key, value
 * glob covered: flat '*' globs). */
bool ward_cover_query(const struct ward_l7_rule *a, const struct ward_l7_rule *b);

/* Method, path and query. */
bool ward_cover_rule(const struct ward_l7_rule *a, const struct ward_l7_rule *b);

/* No request can match both (different methods, or literal path prefixes
 * that differ); false when they may overlap. */
bool ward_rules_disjoint(const struct ward_l7_rule *a, const struct ward_l7_rule *b);

/* CIDR a holds all of b. */
bool ward_cover_cidr(const struct ward_cidr *a, const struct ward_cidr *b);
