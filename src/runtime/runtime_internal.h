/* SPDX-License-Identifier: MIT */
/* Inside the runtime: the sandbox's cgroup as the runtime keeps it to change
 * its limits while the command runs (limits.c). */
#pragma once

#include <stdbool.h>

#include "common/error.h"
#include "enforcer/cgroup.h"

struct runtime_cgroup {
	int fd; /* the v2 leaf, the runtime's own descriptor; -1: none */
	enum ward_cgroup_where where[WARD_CGROUP_N_CTL];
	int v1[WARD_CGROUP_N_CTL]; /* where == V1: that leaf, our own descriptor */
};

/* From a hook: keep the leaf (a descriptor of our own). -errno. */
int runtime_cgroup_keep(struct runtime_cgroup *c, const struct ward_cgroup *cg);
void runtime_cgroup_drop(struct runtime_cgroup *c);
/* Can lim be written for the running processes (every limit it sets has
 * its controller set up for them, in the v2 leaf or a v1 leaf)? */
bool runtime_cgroup_live(const struct runtime_cgroup *c, const struct ward_cgroup_limits *lim);
/* Write lim: memory.max, pids.max, cpu.max ("max" where lim has 0). */
int runtime_cgroup_apply(const struct runtime_cgroup *c, const struct ward_cgroup_limits *lim,
			 struct ward_error *err);
