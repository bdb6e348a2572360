/* SPDX-License-Identifier: MIT */
/* cgroup v2: one leaf per sandbox, <cgroup2 mount>/ward/<id>. The egress
 * layer attaches its BPF programs to the leaf's fd. */
#pragma once

#include <limits.h>

#include "common/error.h"

struct ward_cgroup {
	char path[PATH_MAX]; /* absolute path of the leaf */
	int fd;              /* O_DIRECTORY fd of the leaf, -1 when none */
};

/* The cgroup2 mount point from /proc/self/mountinfo (hybrid layouts put it at
 * /sys/fs/cgroup/unified), or NULL when there is none. Cached. */
const char *ward_cgroup2_mount(void);

/* Remove leaves left by a crashed ward that have no live processes. Returns
 * how many were removed. */
int ward_cgroup_reap_stale(struct ward_error *err);

/* Create <mount>/ward (once) and the leaf <mount>/ward/<id>. */
int ward_cgroup_create(const char *id, struct ward_cgroup *ret, struct ward_error *err);

/* Kill everything in the leaf (cgroup.kill), wait for it to empty (bounded)
 * and remove it. Safe on a zeroed/closed handle. */
int ward_cgroup_destroy(struct ward_cgroup *cg);
