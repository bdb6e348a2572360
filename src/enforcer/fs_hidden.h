/* SPDX-License-Identifier: MIT */
/* Hidden paths (docs/filesystem.md): a path syscall inside the sandbox that
 * failed with ENOENT for a path the mount plan does not show but the host
 * has (/root/.aws/credentials when only the workdir is mapped) is an attempt
 * the policy stopped, and becomes a row; a path missing on the host too, or
 * missing under a directory the plan binds from the host (the host has it
 * neither), is not.
 *
 * The plan is copied (the reader thread outlives ward_sandbox_run's plan);
 * the host is looked at with fstatat (no automount) in ward's own mount
 * namespace. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "enforcer/mounts.h"
#include "ward/abi.h"

struct ward_fs_hidden;

/* plan may be NULL: nothing is inside, every missing path is looked up on
 * the host (benchmarks, tests). */
int ward_fs_hidden_new(const struct ward_mount_plan *plan, struct ward_fs_hidden **ret);
void ward_fs_hidden_free(struct ward_fs_hidden *h);

/* An absolute path without "//", "." or ".." (lexically: ".." of "/" is
 * "/"), into out. -EINVAL for a relative path, -ENAMETOOLONG. */
int ward_fs_path_normalize(const char *path, char *out, size_t len);

/* Whether the plan shows, at the normalised path norm, what the host has
 * there: under a bind of a host path or a file ward provides, or in the
 * sandbox's own procfs (another pid namespace: never the host's). Symlinks
 * of the plan (/lib -> usr/lib) are followed, at most 8. Under the root
 * tmpfs, the private /tmp or /dev: no. */
bool ward_fs_hidden_in_plan(const struct ward_fs_hidden *h, const char *norm);

/* The verdict for a path that failed with ENOENT inside (absolute, as the
 * sandbox saw it): WARD_FS_MISSING_HIDDEN when the plan does not show it
 * and the host has it (or, for a call that creates it, has its parent
 * directory), or when the plan shows it but it is a host symlink to a place
 * the plan hides (ret_target, if not NULL, gets that place; "" otherwise);
 * WARD_FS_MISSING_QUIET otherwise, and always for the dynamic loader's own
 * files (/etc/ld.so.cache, /etc/ld.so.preload), opened at every exec. */
enum ward_fs_missing ward_fs_hidden_check(const struct ward_fs_hidden *h, const char *path,
					  bool create, char *ret_target, size_t len);
