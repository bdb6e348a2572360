/* SPDX-License-Identifier: MIT */
/* Who owns the process a decision row names: its uid and its cgroup v2 path
 * (docs/audit.md, columns uid and cgroup). Every layer that makes rows
 * calls these; they only read /proc and the cgroup2 mount. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>

/* The real uid of pid (initial user namespace) from /proc/PID/status.
 * -ESRCH when the process is gone, -errno otherwise. */
int ward_proc_uid(pid_t pid, uint32_t *ret_uid);

/* The path of the cgroup v2 whose id is cgid, relative to the cgroup2 mount
 * ("/" for the root, "/user.slice/user-1000.slice/session-3.scope"): the
 * cgroup's directory opened by its handle (open_by_handle_at on the mount;
 * needs CAP_DAC_READ_SEARCH), the answers cached; when cgid is 0 or its
 * handle cannot be opened for another reason than the cgroup being gone
 * (no cgroup2 mount, no capability) and pid > 0, the "0::" line of
 * /proc/PID/cgroup. Returns buf, or NULL when none names it (a removed
 * cgroup: /proc would tell where pid is now, not where it was). Thread-safe. */
const char *ward_cgroup_path(uint64_t cgid, pid_t pid, char *buf, size_t len);

/* The /proc/PID/cgroup fallback alone (the v2 line), into buf; NULL when none. */
const char *ward_proc_cgroup_path(pid_t pid, char *buf, size_t len);

/* A row's owner, for its uid and cgroup columns. */
#define WARD_OWNER_UID_NONE UINT32_MAX /* (uid_t)-1: never a process's uid */

struct ward_owner {
	bool has_uid;
	uint32_t uid;
	const char *cgroup; /* buf, or NULL */
	char buf[PATH_MAX];
};

/* The owner of the process pid whose cgroup id is cgid (0: unknown): uid as
 * the kernel read it, or WARD_OWNER_UID_NONE to read /proc/PID/status (a
 * process that is gone by then has none); the cgroup by ward_cgroup_path(). */
void ward_owner_of(struct ward_owner *o, pid_t pid, uint32_t uid, uint64_t cgid);
