/* SPDX-License-Identifier: MIT */
/* cgroup v2: one leaf per sandbox, <cgroup2 mount>/ward/<id>. The egress
 * layer attaches its BPF programs to the leaf's fd.
 *
 * Resource limits (policy `resources`) go where the controller is: on the v2
 * leaf when the v2 hierarchy has it (ward enables it in ward/'s
 * cgroup.subtree_control), else, on hybrid hosts whose memory, pids or cpu
 * controller is bound to a v1 hierarchy, on a v1 leaf <v1 mount><ward's own
 * cgroup there>/ward/<id> that init joins before the command exists. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "policy/model.h"

/* Defaults when the policy's resources leave a limit unset (0); they keep a
 * runaway agent from taking the host (docs/sandbox.md, "Resource limits").
 * pids.max counts threads: node and npm use many. No CPU limit and the
 * kernel's default tmpfs size (half of RAM) unless the policy sets them. */
#define WARD_RESOURCES_DEFAULT_PIDS 4096
#define WARD_RESOURCES_DEFAULT_MEMORY_PERCENT 80 /* of MemTotal */
#define WARD_RESOURCES_DEFAULT_CPU_MILLI 0	 /* no limit */
#define WARD_RESOURCES_DEFAULT_TMP_SIZE 0	 /* the kernel's default */

enum ward_cgroup_ctl { WARD_CGROUP_MEMORY, WARD_CGROUP_PIDS, WARD_CGROUP_CPU, WARD_CGROUP_N_CTL };

enum ward_cgroup_where {
	WARD_CGROUP_NONE = 0, /* controller unavailable (or not set up) */
	WARD_CGROUP_V2,	      /* files in the v2 leaf */
	WARD_CGROUP_V1,	      /* files in a v1 leaf of its own */
};

struct ward_cgroup_ctl_dir {
	enum ward_cgroup_where where;
	int fd;	    /* WARD_CGROUP_V1: O_DIRECTORY fd of the v1 leaf (flocked) */
	char *path; /* WARD_CGROUP_V1: its path, removed by ward_cgroup_destroy */
};

struct ward_cgroup {
	char path[PATH_MAX]; /* absolute path of the leaf */
	int fd;		     /* O_DIRECTORY fd of the leaf, -1 when none */
	struct ward_cgroup_ctl_dir ctl[WARD_CGROUP_N_CTL]; /* zeroed: none */
};

/* The limits that apply: the policy's, defaults for what it leaves unset. */
struct ward_cgroup_limits {
	uint64_t memory; /* bytes; 0: unknown host size, no limit */
	uint64_t pids;
	uint32_t cpu_milli; /* 0: no limit */
};

/* What the limits did, read from memory.events / memory.oom_control,
 * memory.failcnt, pids.events and cpu.stat. */
struct ward_cgroup_events {
	uint64_t oom_kill;	/* processes the OOM killer killed */
	uint64_t memory_max;	/* times usage hit memory.max */
	uint64_t pids_max;	/* forks refused at pids.max */
	uint64_t cpu_throttled; /* periods throttled at cpu.max */
};

/* The cgroup2 mount point from /proc/self/mountinfo (hybrid layouts put it at
 * /sys/fs/cgroup/unified), or NULL when there is none. Cached. */
const char *ward_cgroup2_mount(void);

/* Remove leaves (v2, and v1 ones of the limits) left by a crashed ward that
 * have no live processes. Returns how many were removed. */
int ward_cgroup_reap_stale(struct ward_error *err);

/* Create <mount>/ward (once) and the leaf <mount>/ward/<id>. */
int ward_cgroup_create(const char *id, struct ward_cgroup *ret, struct ward_error *err);

/* The depth of a cgroup (an absolute path under the cgroup2 mount) in the
 * hierarchy, the root being 0: what bpf_get_current_ancestor_cgroup_id()
 * takes. Under a cgroup namespace the mount's root shows as "/", so the
 * depth is relative to the namespace's root there. -errno. */
int ward_cgroup_level(const char *path);

/* Kill everything in the leaf (cgroup.kill), wait for it to empty (bounded)
 * and remove it, and the v1 leaves. Safe on a zeroed/closed handle. */
int ward_cgroup_destroy(struct ward_cgroup *cg);

/* Resolve res against the defaults. */
void ward_cgroup_limits_resolve(const struct ward_resources *res, struct ward_cgroup_limits *ret);

/* Find each controller that lim needs (v2, else a v1 leaf named after the v2
 * one) and write the limits. A controller missing from both hierarchies is a
 * warning appended to *warnings (best effort); a limit that cannot be
 * written where the controller is, is an error. */
int ward_cgroup_set_limits(struct ward_cgroup *cg, const char *id,
			   const struct ward_cgroup_limits *lim, char ***warnings,
			   size_t *n_warnings, struct ward_error *err);

/* Move pid into the v1 leaves (the v2 leaf it joins by CLONE_INTO_CGROUP). */
int ward_cgroup_attach_v1(const struct ward_cgroup *cg, pid_t pid, struct ward_error *err);
/* The v1 leaves' `tasks` files, opened for writing (O_CLOEXEC) into fds[]
 * (WARD_CGROUP_N_CTL slots, -1 where none): a single-threaded process
 * writing "0" there moves itself without the global threadgroup lock (and
 * its RCU grace period) that writing a pid to cgroup.procs takes. */
int ward_cgroup_open_v1_tasks(const struct ward_cgroup *cg, int fds[WARD_CGROUP_N_CTL],
			      struct ward_error *err);

/* Read the counters; what cannot be read stays 0. */
void ward_cgroup_events_read(const struct ward_cgroup *cg, struct ward_cgroup_events *ret);

/* Watch the counters while the sandbox runs: fn(data, ctl, counters) runs
 * on the watcher's thread when ctl's counter went up (at once, then at most
 * every 10 s; CPU throttling only at the end), and a last time in
 * ward_cgroup_watch_stop() for whatever went up since (on the caller's
 * thread). cg must outlive the watch. */
struct ward_cgroup_watch;
typedef void (*ward_cgroup_watch_fn)(void *data, enum ward_cgroup_ctl ctl,
				     const struct ward_cgroup_events *ev);
int ward_cgroup_watch_start(const struct ward_cgroup *cg, ward_cgroup_watch_fn fn, void *data,
			    struct ward_cgroup_watch **ret);
void ward_cgroup_watch_stop(struct ward_cgroup_watch *w);

/* For cgroup.c: v1 leaves are removed and reaped with the v2 one. */
void ward_cgroup_v1_destroy(struct ward_cgroup *cg);
int ward_cgroup_v1_reap_stale(void);
