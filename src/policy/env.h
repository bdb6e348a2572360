/* SPDX-License-Identifier: MIT */
/* The command's environment is deny-by-default: which of ward's variables
 * pass into the sandbox (the core set and the policy's environment.pass),
 * and which names look like secrets. Pure functions, no allocation: the
 * enforcer decides at run time and the compiler warns through the same code. */
#pragma once

#include <stdbool.h>

#include "policy/model.h"

/* True when NAME looks like it holds a secret: it contains KEY, TOKEN,
 * SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL, AUTH, COOKIE, SESSION or
 * PRIVATE (any case), or starts with AWS_, AZURE_, GH_, GITHUB_, GITLAB_,
 * VAULT_ (tokens of those tools), or is GOOGLE_APPLICATION_CREDENTIALS,
 * DATABASE_URL. Such a name passes only when listed by exact name. */
bool ward_env_secret_like(const char *name);

/* '*' matches any run of characters (possibly empty); everything else is
 * literal and case-sensitive; the whole name must match. */
bool ward_env_glob_match(const char *glob, const char *name);

/* True when ward's variable NAME passes to the command: a core name (PATH,
 * HOME, USER, LOGNAME, SHELL, TERM, COLORTERM, LANG, LANGUAGE, LC_*, TZ,
 * WARD_* but WARD_LOG), or one the policy's environment.pass lists. A secret-like name
 * passes only through an exact (non-glob) entry, never through a glob. */
bool ward_env_passes(const struct ward_policy *p, const char *name);
