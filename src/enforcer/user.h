/* SPDX-License-Identifier: MIT */
/* Who the command runs as. Resolved on the host, before the sandbox's root
 * (which may have no /etc/passwd) replaces it. */
#pragma once

#include <sys/types.h>

#include "common/error.h"
#include "policy/model.h"

#define WARD_SANDBOX_USER "sandbox"
/* The sandbox account's home: a real directory (0700, its own), so that a
 * policy mapping it gives agents a persistent HOME inside. */
#define WARD_SANDBOX_HOME "/home/sandbox"

/* The uid/gid the command runs as:
 *  - process.run_as_user / run_as_group: a numeric id or a name; the name
 *    "sandbox" is ward's own unprivileged account, created when missing;
 *    a user without a group gets the user's primary group (or gid = uid);
 *  - no process section: $SUDO_UID/$SUDO_GID when set and non-zero, else the
 *    owner of the workdir when not root, else the "sandbox" account.
 * uid or gid 0 is refused. */
int ward_user_resolve(const struct ward_policy *p, const char *workdir, uid_t *ret_uid,
		      gid_t *ret_gid, struct ward_error *err);
