/* SPDX-License-Identifier: MIT */
/* The filesystem section of `ward policy suggest` (docs/learn.md,
 * "Filesystem"): the logged policy's filesystem_policy widened by what the
 * fs rows of the log show the policy would refuse (learn-mode audit rows and
 * denial rows), collapsed to directories. */
#pragma once

#include <stdio.h>

#include "audit/suggest.h"
#include "common/error.h"
#include "policy/model.h"

/* Write filesystem_policy (and the logged policy's landlock and process
 * sections) for the log at path to f. logged: the policy the rows ran with,
 * NULL when the log has none (then only the learnt paths). Returns the
 * number of fs rows used, or -errno. */
int ward_suggest_fs_print(FILE *f, const char *path, const struct ward_suggest_opts *o,
			  const struct ward_policy *logged, struct ward_error *err);

/* The directory a learnt access is granted through: the file's parent (a
 * directory read: itself; a device node: itself), at most
 * WARD_SUGGEST_FS_DEPTH components deep, never "/" (then the path itself).
 * write: the access creates, deletes or writes. Returns 0, -ENOBUFS, or
 * -EINVAL for a path that is not absolute. */
#define WARD_SUGGEST_FS_DEPTH 4
int ward_suggest_fs_dir(const char *path, bool is_dir, char *out, size_t outsz);
