/* SPDX-License-Identifier: MIT */
/* The unix-socket layer of `ward run` as a sandbox hook (sandbox.h):
 * ward_unix_run_prepare() loads the backstop (unix.h) before the sandbox
 * exists (a kernel without it is known before anything runs); the hook
 * attaches it to the sandbox's cgroup leaf, takes the connect() listener the
 * sandbox's init created (opts->unix_broker) and starts the broker
 * (unix_broker.h); a reader thread turns backstop events into rows (layer
 * "unix") until ward_unix_run_finish().
 *
 *   struct ward_unix_run ux = WARD_UNIX_RUN_INIT;
 *   ux.audit = audit; ux.policy = policy;
 *   if (ward_unix_run_prepare(&ux, &err) == 0) {
 *           opts.unix_broker = true; hooks[] = { ..., { "unix", ward_unix_hook, &ux } };
 *   }
 *   ward_sandbox_run(&opts, ...);
 *   ward_unix_run_finish(&ux); */
#pragma once

#include <stdbool.h>

#include "audit/audit.h"
#include "common/error.h"
#include "common/worker.h"
#include "enforcer/unix.h"
#include "enforcer/unix_broker.h"
#include "policy/model.h"

struct ward_sandbox;

struct ward_unix_run {
	/* set by the caller */
	struct ward_audit *audit;	     /* borrowed; NULL: events are read and dropped */
	const struct ward_policy *policy;    /* borrowed */
	bool quiet;			     /* another layer reports binaries that match no file */
	struct ward_session_hook session_of; /* rows' session (ward exec); unset: none */
	bool learn; /* --learn: unnamed host sockets connected, "audit" rows (docs/learn.md) */
	/* filled by the hook */
	struct ward_unix *u;
	struct ward_unix_broker *broker;
	char sandbox[32];
	struct ward_worker reader;
};

#define WARD_UNIX_RUN_INIT                                                                         \
	{                                                                                          \
		.reader = WARD_WORKER_INIT                                                         \
	}

/* Check seccomp user notification and load the backstop for the policy. */
int ward_unix_run_prepare(struct ward_unix_run *run, struct ward_error *err);

/* A ward_sandbox_hook fn; data is a struct ward_unix_run, prepared. */
int ward_unix_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);

/* Stop the broker and the reader (after draining), detach. Safe when the
 * hook never ran or failed. */
void ward_unix_run_finish(struct ward_unix_run *run);
