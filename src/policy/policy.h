/* SPDX-License-Identifier: MIT */
/* The policy compiler: YAML -> Lua tables with positions -> Lua passes
 * (validate, expand presets, lower) -> struct ward_policy + revision. */
#pragma once

#include <stdio.h>

#include "common/error.h"
#include "policy/model.h"

struct ward_diag {
	char *file;
	uint32_t line;
	uint32_t col;
	bool warning;
	char *msg;
};

struct ward_diags {
	struct ward_diag *v;
	size_t n;
};

void ward_diags_free(struct ward_diags *d);
/* One "FILE:LINE:COL: message" (or "FILE:LINE:COL: warning: message") per line. */
void ward_diags_print(const struct ward_diags *d, FILE *f);
size_t ward_diags_errors(const struct ward_diags *d);

/* Load, validate and compile a policy file.
 * 0: *ret_policy set (diags may hold warnings).
 * -EINVAL: the policy is invalid; every problem is in diags.
 * other -errno: err says why (unreadable file, out of memory, Lua limits). */
int ward_policy_load(const char *path, struct ward_policy **ret_policy, struct ward_diags *diags,
		     struct ward_error *err);
/* Same, from memory; name is used in diagnostics. */
int ward_policy_load_buffer(const char *name, const char *buf, size_t len,
			    struct ward_policy **ret_policy, struct ward_diags *diags,
			    struct ward_error *err);

/* Resource limits of one compile; a hostile policy hits one of these and
 * fails with -E2BIG instead of hanging or exhausting ward. */
struct ward_policy_limits {
	size_t max_source;	   /* bytes of YAML (default 1 MiB) */
	unsigned max_depth;	   /* YAML nesting (default 64) */
	size_t lua_memory;	   /* bytes the compiler's Lua state may hold (default 64 MiB) */
	uint64_t lua_instructions; /* Lua VM instructions (default 50 million) */
};
#define WARD_POLICY_MAX_SOURCE (1u << 20)
extern const struct ward_policy_limits ward_policy_default_limits;

/* ward_policy_load_buffer with explicit limits (NULL: the defaults). */
int ward_policy_load_buffer_limits(const char *name, const char *buf, size_t len,
				   const struct ward_policy_limits *limits,
				   struct ward_policy **ret_policy, struct ward_diags *diags,
				   struct ward_error *err);

/* The canonical lowered form (stable key order), as stored in p->compiled_json. */
void ward_policy_print_json(const struct ward_policy *p, FILE *f);
