/* SPDX-License-Identifier: MIT */
/* Which environment variables reach the sandbox (DESIGN.md layer 8): a core
 * set, ward's own, and what the policy's `environment.pass` names. Names that
 * look like secrets pass only by exact name, never through a glob. One place
 * for the rule: the compiler warns with it, the sandbox enforces it. */
#pragma once

#include <stdbool.h>

#include "policy/model.h"

/* Does NAME look like it holds a secret (KEY, TOKEN, SECRET, PASSWORD, AUTH,
 * COOKIE, SESSION, CREDENTIAL..., AWS_*, ...)? Case-insensitive. */
bool ward_env_secret_like(const char *name);

/* Does NAME match pattern ('*' matches any run of characters)? */
bool ward_env_glob_match(const char *pattern, const char *name);

/* Does the policy let ward's variable NAME through: core set, exact
 * `environment.pass` entry, or a glob entry unless NAME looks like a secret? */
bool ward_env_passes(const struct ward_policy *p, const char *name);
