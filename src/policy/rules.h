/* SPDX-License-Identifier: MIT */
/* Rule packs: an organisation's own constraints on policies, written in Lua
 * (docs/rules.md). Each pack runs in the compiler's sandbox (no io, os,
 * require or load; memory and instruction caps), once per policy, over the
 * lowered policy with its positions, and reports with ward.error(node, msg)
 * and ward.warn(node, msg). A pack that fails itself (a Lua error, a limit)
 * is an error at the pack's own position: the check fails closed. */
#pragma once

#include <stdio.h>

#include "common/error.h"
#include "policy/model.h"
#include "policy/policy.h"

/* Where the packs every policy is held to live: $WARD_RULES_DIR, else this. */
#define WARD_RULES_DIR_DEFAULT "/etc/ward/rules.d"

struct ward_rules;

struct ward_rules *ward_rules_new(void);
void ward_rules_free(struct ward_rules *r);
static inline void ward_rules_freep(struct ward_rules **r)
{
	ward_rules_free(*r);
}

/* The caps each pack runs under (defaults: the compiler's, 64 MiB and 50
 * million instructions). 0 keeps the current value. */
void ward_rules_set_limits(struct ward_rules *r, size_t lua_memory, uint64_t lua_instructions);

/* Add one pack from a file (name: its basename) or a buffer. Only reading
 * happens here: a syntax error is reported when the pack runs. -errno. */
int ward_rules_add_file(struct ward_rules *r, const char *path, struct ward_error *err);
int ward_rules_add_buffer(struct ward_rules *r, const char *name, const char *buf, size_t len,
			  struct ward_error *err);

/* Add every *.lua in dir (in name order). dir NULL: $WARD_RULES_DIR, else
 * WARD_RULES_DIR_DEFAULT. A directory that does not exist adds nothing;
 * one that cannot be read is an error. Returns the number of packs added. */
int ward_rules_add_dir(struct ward_rules *r, const char *dir, struct ward_error *err);

size_t ward_rules_count(const struct ward_rules *r);

/* Run every pack over p; append what they report to diags:
 *   POLICY:LINE:COL: error: MSG [pack NAME.lua:LINE]
 *   POLICY:LINE:COL: warning: MSG [pack NAME.lua:LINE]
 *   PACK.lua:LINE: error: MSG          (the pack itself failed)
 * Returns 0 (look at ward_diags_errors(diags)) or -ENOMEM. */
int ward_rules_run(const struct ward_rules *r, const struct ward_policy *p,
		   struct ward_diags *diags, struct ward_error *err);

/* The packs of dir (NULL: as ward_rules_add_dir) over p: what `ward run`,
 * the daemon's sandbox start and policy.apply, and ward run --watch call
 * beside the org ceiling. 0: no packs, or no errors (warnings are printed
 * to diag when it is not NULL). -EINVAL: an error; the lines are printed to
 * diag when it is not NULL (err then says how many), else err holds them
 * (as many as fit). Other -errno: the packs could not be read.
 * ret_warnings (may be NULL; set only when diag is NULL and the check
 * passed): the warnings as printed, one per line, to free(); NULL: none. */
int ward_rules_check(const char *dir, const struct ward_policy *p, FILE *diag,
		     char **ret_warnings, struct ward_error *err);
