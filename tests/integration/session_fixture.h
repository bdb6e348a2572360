/* SPDX-License-Identifier: MIT */
/* A sandbox with ward run's layers that hosts sessions (runtime.h), for the
 * integration tests of sessions: test_session.c, test_session_log.c. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "audit/audit.h"
#include "enforcer/sandbox.h"
#include "policy/generation.h"
#include "policy/policy.h"
#include "runtime/layers.h"
#include "runtime/runtime.h"

struct sandbox {
	struct ward_runtime *rt;
	struct ward_audit *audit;
	char id[WARD_SANDBOX_ID_LEN + 1];
};

/* Generation seq of the policy at path; a policy that does not load ends the
 * case (exit 1) with its diagnostics. */
static inline struct ward_gen *load_gen(const char *path, uint64_t seq)
{
	struct ward_policy *p = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	struct ward_gen *g = NULL;

	if (ward_policy_load(path, &p, &diags, &err) < 0) {
		ward_diags_print(&diags, stderr);
		fprintf(stderr, "policy %s: %s\n", path, err.msg);
		exit(1);
	}
	ward_diags_free(&diags);
	if (ward_gen_new(p, seq, &g) < 0)
		exit(1);
	return g;
}

/* Start a sandbox on workdir under policy, its rows in the log at db; home:
 * the sandbox's own home or NULL. */
static inline int sandbox_start(struct sandbox *sb, const char *policy, const char *db,
				const char *workdir, const char *home)
{
	struct ward_error err = { 0 };
	struct ward_gen *g = load_gen(policy, 1);
	struct ward_runtime_config cfg = { .gen = g };
	struct ward_runtime_start st = { .workdir = workdir, .home = home, .id_out = sb->id };
	int r = ward_audit_open(db, &sb->audit, &err);

	if (r >= 0)
		r = ward_audit_store_policy(sb->audit, g->policy, &err);
	cfg.audit = sb->audit;
	if (r >= 0)
		r = ward_runtime_new(&cfg, &sb->rt, &err);
	if (r >= 0)
		r = ward_run_layers_add(sb->rt, &err);
	if (r >= 0)
		r = ward_runtime_prepare(sb->rt, &err);
	if (r >= 0)
		r = ward_runtime_start(sb->rt, &st, &err);
	ward_gen_unref(g);
	if (r < 0)
		fprintf(stderr, "start: %s\n", err.msg);
	return r;
}

static inline void sandbox_finish(struct sandbox *sb)
{
	struct ward_error err = { 0 };

	ward_runtime_stop(sb->rt, &err);
	ward_runtime_free(sb->rt);
	ward_audit_close(sb->audit);
}
