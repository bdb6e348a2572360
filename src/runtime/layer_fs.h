/* SPDX-License-Identifier: MIT */
/* The filesystem layer of `ward run` as a sandbox hook (sandbox.h): denial
 * tracepoints (fs.h) attached for the sandbox's cgroup, and per-binary
 * protected paths (fs_protect.h) marked and decided, before the command
 * execs. A thread turns tracepoint events into rows until
 * ward_fs_run_finish().
 *
 *   struct ward_fs_run fs = WARD_FS_RUN_INIT;
 *   fs.audit = audit; fs.policy = policy;
 *   ward_fs_run_prepare(&fs, &err);      (BEFORE ward_sandbox_run: see below)
 *   hooks[] = { ..., { "fs", ward_fs_hook, &fs } };
 *   ward_sandbox_run(&opts, ...);
 *   ward_fs_run_finish(&fs);
 *
 * ward_fs_run_prepare() creates the fanotify group before the sandbox is
 * cloned, so the sandbox's init holds it too: if ward dies, the group (and
 * its unanswered permission events) outlives ward until the sandbox is
 * killed — no protected open is let through in between. ward_fs_run_finish()
 * runs after ward_sandbox_run() returned, when every process of the sandbox
 * is gone, and only then closes the group. */
#pragma once

#include <stdbool.h>

#include "audit/audit.h"
#include "common/error.h"
#include "common/worker.h"
#include "enforcer/fs.h"
#include "enforcer/fs_learn.h"
#include "enforcer/fs_protect.h"
#include "policy/model.h"

struct ward_sandbox;

struct ward_fs_run {
	/* set by the caller */
	struct ward_audit *audit;	     /* borrowed; NULL: events are read and dropped */
	const struct ward_policy *policy;    /* borrowed */
	uint32_t rate, burst;		     /* 0: defaults (WARD_FS_RATE_*) */
	struct ward_session_hook session_of; /* rows' session (ward exec); unset: none */
	/* --learn (docs/learn.md): instead of denial rows and protected paths,
	 * audit rows for what the policy would refuse (fs_learn.h) */
	bool learn;
	/* filled by prepare and the hook */
	struct ward_fs_protect *protect;
	struct ward_fs *fs;
	struct ward_fs_learn *learner; /* learn */
	/* the programs load on this thread while the sandbox is built (prepare
	 * starts it, the hook joins it): most of their cost is BTF and CO-RE */
	pthread_t loader;
	bool loading;
	int load_r;
	struct ward_error load_err;
	char sandbox[32];
	struct ward_worker reader; /* ring buffer → rows */
};

#define WARD_FS_RUN_INIT                                                                           \
	{                                                                                          \
		.reader = WARD_WORKER_INIT                                                         \
	}

/* Resolve the protected paths' binaries and pick the mechanism; warnings go
 * to diag. Before ward_sandbox_run(). */
int ward_fs_run_prepare(struct ward_fs_run *run, void (*diag)(void *, bool, const char *),
			void *diag_data, struct ward_error *err);

/* A ward_sandbox_hook fn; data is a struct ward_fs_run. */
int ward_fs_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);

/* After ward_sandbox_run(): drain, detach, close. Safe when nothing ran. */
void ward_fs_run_finish(struct ward_fs_run *run);
