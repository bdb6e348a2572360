/* SPDX-License-Identifier: MIT */
/* The command's environment, deny-by-default (docs/sandbox.md, "Environment"):
 * from ward's own variables only those ward_env_passes() admits, then what
 * hooks set (ward_sandbox_setenv: WARD_SANDBOX, HOME, proxy and CA variables,
 * credential placeholders), then the policy's environment.set, each layer
 * replacing the names of the one before. ward prepares the lists before the
 * clone; the sandbox's side only picks pointers (no allocation). */
#pragma once

#include <stddef.h>

#include "common/error.h"
#include "policy/model.h"

/* Bounds what the command's environment may hold (init has fixed storage). */
#define WARD_ENV_MAX 4096

struct ward_sandbox_env {
	char **pass; /* "NAME=VALUE": copies of ward's variables that pass */
	size_t n_pass;
	char **set; /* "NAME=VALUE": the policy's environment.set */
	size_t n_set;
};

/* Sort envp (usually environ) through the policy. */
int ward_sandbox_env_prepare(const struct ward_policy *p, char *const *envp,
			     struct ward_sandbox_env *ret, struct ward_error *err);
void ward_sandbox_env_free(struct ward_sandbox_env *e);

/* The final environment into out (at most max - 1 entries, NULL-terminated):
 * pass entries whose name neither extra nor set has, extra entries whose name
 * set has not, then set. Pointers into e and extra; allocates nothing.
 * Returns the number of entries. */
size_t ward_sandbox_env_build(const struct ward_sandbox_env *e, char *const *extra, size_t n_extra,
			      char **out, size_t max);

/* The names of that environment, comma-separated, for the start row (never
 * values); ",..." ends a list that did not fit. */
void ward_sandbox_env_names(char *const *env, char *buf, size_t len);
