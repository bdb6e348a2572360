/* SPDX-License-Identifier: MIT */
/* Per-binary protected paths (filesystem_policy.binaries; docs/filesystem.md):
 * a path listed there may be opened inside the sandbox only by the named
 * executables, identified by file (dev, inode) like the egress layer (a copy
 * of git is not git). Everything else in the sandbox is refused and logged
 * (layer "fs", action "deny"); processes outside the sandbox are never
 * refused.
 *
 * Mechanism, chosen at ward_fs_protect_new(): bpf/fs_lsm.bpf.c
 * (lsm/file_open, EACCES) where the kernel loads BPF LSM, else fanotify
 * permission events (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM, EPERM) answered by
 * a supervisor thread.
 *
 * Fail closed: ward_fs_protect_new() must run BEFORE the sandbox is cloned,
 * so that the sandbox's init inherits the fanotify group's fd (close-on-exec:
 * the command does not). If ward dies, the group outlives it in init until
 * PDEATHSIG kills the sandbox: opens block unanswered, none is let through. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"
#include "policy/peer.h"

#define WARD_FS_PROTECT_MAX_MARKS 20000 /* inodes marked, all protected trees together */
#define WARD_FS_PROTECT_MAX_DEPTH 16	/* directories below a protected root */

enum ward_fs_mechanism {
	WARD_FS_MECH_NONE = 0, /* the policy protects nothing */
	WARD_FS_MECH_FANOTIFY,
	WARD_FS_MECH_BPF_LSM,
};

struct ward_fs_protect_config {
	const char *sandbox;	  /* copied */
	const char *policy_rev;	  /* copied */
	const char *cgroup_path;  /* absolute path of the sandbox's leaf */
	uint64_t cgroup_id;	  /* its id (inode of the directory) */
	struct ward_audit *audit; /* borrowed, may be NULL */
	int denied_map_fd;	  /* ward_fs_denied_map_fd(), or -1 */
	/* Called for every decision logged (tests, front ends). */
	void (*on_decision)(void *userdata, const struct ward_decision *d);
	void *userdata;
	/* The session of a row's process (ward exec); unset: rows carry none. */
	struct ward_session_hook session_of;
};

struct ward_fs_protect;

/* Resolve the named binaries, pick the mechanism, create the fanotify group.
 * *ret is NULL-safe to free; with no protected path the mechanism is NONE. */
int ward_fs_protect_new(const struct ward_policy *p, struct ward_fs_protect **ret,
			struct ward_error *err);
/* Mark the protected paths and start deciding (fanotify: a thread; bpf-lsm:
 * fill the maps and attach). Once. */
int ward_fs_protect_start(struct ward_fs_protect *fp, const struct ward_fs_protect_config *cfg,
			  struct ward_error *err);
/* Stop deciding and release everything. Call after the sandbox is gone. */
void ward_fs_protect_free(struct ward_fs_protect *fp);

enum ward_fs_mechanism ward_fs_protect_mechanism(const struct ward_fs_protect *fp);
const char *ward_fs_mechanism_str(enum ward_fs_mechanism m);
size_t ward_fs_protect_n_roots(const struct ward_fs_protect *fp);
size_t ward_fs_protect_n_marks(const struct ward_fs_protect *fp);
/* Problems that did not stop loading (a named binary matching nothing). */
const char *const *ward_fs_protect_warnings(const struct ward_fs_protect *fp, size_t *ret_n);
/* bpf-lsm: the refusal map the tracepoints must share (ward_fs_config
 * .denied_map_fd); -1 with fanotify. */
int ward_fs_protect_denied_map_fd(const struct ward_fs_protect *fp);
/* Decisions taken (fanotify), for tests and benchmarks. */
uint64_t ward_fs_protect_n_denied(const struct ward_fs_protect *fp);
uint64_t ward_fs_protect_n_allowed(const struct ward_fs_protect *fp);

/* The mechanism `ward run` would use here, without a policy (ward doctor). */
enum ward_fs_mechanism ward_fs_protect_probe(char *detail, size_t len);
