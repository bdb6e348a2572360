/* SPDX-License-Identifier: MIT */
/* Filesystem denials observed in the kernel (docs/filesystem.md): loads
 * bpf/fs.bpf.c for one sandbox's cgroup, attaches its raw sys_exit
 * tracepoint (and sys_enter with the memory guard) and turns refused path
 * syscalls (EACCES, EPERM, EROFS) into decision rows (layer "fs", action
 * "deny") with binary, pid, path and the access asked; where the kernel
 * writes them, Landlock's own audit records too (landlock_audit.h).
 *
 * Lifecycle: ward_fs_new() (open, configure, load) → ward_fs_attach() before
 * the command execs → poll ward_fs_events_fd() and call ward_fs_consume()
 * at least every WARD_EVENTS_POLL_MS → ward_fs_free() (detaches). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "common/error.h"
#include "enforcer/mounts.h"
#include "policy/peer.h"
#include "ward/abi.h"

struct ward_fs_config {
	uint64_t cgroup_id;	  /* the sandbox leaf's cgroup id (inode of its directory) */
	const char *sandbox;	  /* copied; the rows' sandbox column */
	const char *policy_rev;	  /* copied */
	struct ward_audit *audit; /* borrowed, may be NULL */
	uint32_t rate;		  /* denial rows per second; 0: WARD_FS_RATE_PER_SEC */
	uint32_t burst;		  /* 0: WARD_FS_RATE_BURST */
	int denied_map_fd;	  /* > 0: share this refusal map (bpf-lsm's); else our own */
	bool hidden_paths;	  /* rows for ENOENT of host paths the plan hides (fs_hidden.h) */
	bool guard_procmem;	  /* kill for another process's /proc/PID/mem or environ */
	/* Also read Landlock's own denial records (landlock_audit.h) when the
	 * kernel writes them: rows for Landlock denials the tracepoint does not
	 * follow (ioctl on devices, ftruncate, ...). Where it writes none (audit
	 * disabled), ward_fs_landlock_audit() says why and nothing else changes. */
	bool landlock_audit;
	/* Called for every event after its row was submitted (tests, front ends). */
	void (*on_event)(void *userdata, const struct ward_fs_event *ev,
			 const struct ward_decision *d);
	void *userdata;
	/* The session of a row's cgroup (ward exec); unset: rows carry none. */
	struct ward_session_hook session_of;
};

struct ward_fs_stats {
	uint64_t events;	    /* denial events read */
	uint64_t suppressed;	    /* over the rate limit (reported as rows) */
	uint64_t ringbuf_drops;	    /* no room in the ring buffer */
	uint64_t inflight_full;	    /* syscalls not followed: no task storage for the thread */
	uint64_t missing_seen;	    /* ENOENT results looked at in the kernel */
	uint64_t missing_checked;   /* of those, sent and checked against plan and host */
	uint64_t missing_unchecked; /* new missing paths over the rate limit */
	uint64_t hidden;	    /* hidden-path rows */
	uint64_t procmem_kills;	    /* processes killed for another process's mem/environ */
};

struct ward_fs;

int ward_fs_new(const struct ward_fs_config *cfg, struct ward_fs **ret, struct ward_error *err);
/* The sandbox to observe, for programs loaded before it existed (cgroup_id 0
 * in the config): before ward_fs_attach(). */
int ward_fs_set_sandbox(struct ward_fs *fs, uint64_t cgroup_id, const char *sandbox);
/* The leaf's depth (ward_cgroup_level): tasks in cgroups below it (sessions)
 * are the sandbox's too. 0: only the leaf itself, until a task in it shows
 * its depth. */
void ward_fs_set_cgroup_level(struct ward_fs *fs, uint32_t level);
/* The sandbox's mount plan (copied), for hidden-path rows: before
 * ward_fs_attach(). Without it every missing path is looked up on the host. */
int ward_fs_set_plan(struct ward_fs *fs, const struct ward_mount_plan *plan);
int ward_fs_attach(struct ward_fs *fs, struct ward_error *err);
void ward_fs_detach(struct ward_fs *fs);
void ward_fs_free(struct ward_fs *fs);

/* Becomes readable when events or Landlock records are pending (lazily: poll
 * on a timer too). */
int ward_fs_events_fd(const struct ward_fs *fs);
/* Turn pending events into rows, and report newly suppressed or dropped
 * events as one row each; returns the number of events, or -errno. */
int ward_fs_consume(struct ward_fs *fs);
void ward_fs_get_stats(const struct ward_fs *fs, struct ward_fs_stats *ret);

/* The map where the protect layer records a thread it refused (tid →
 * CLOCK_MONOTONIC ns), so that the refused syscall makes one row, not two. */
int ward_fs_denied_map_fd(const struct ward_fs *fs);

/* Whether Landlock's audit records are read, and if not why ("" when not
 * asked for). */
bool ward_fs_landlock_audit(const struct ward_fs *fs, const char **ret_why);

/* Tracepoint programs attached (0 before ward_fs_attach). */
size_t ward_fs_n_attached(const struct ward_fs *fs);

/* Helpers shared with the protect layer. */
/* "read,write,create" for WARD_FS_ACC_* bits. */
void ward_fs_access_str(uint32_t access, char *buf, size_t len);
const char *ward_fs_op_str(unsigned op);
