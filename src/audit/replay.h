/* SPDX-License-Identifier: MIT */
/* `ward replay`: re-decide logged rows under another policy with the code the
 * live path uses (docs/audit.md, "Replay"):
 *   kernel rows   bpf/egress_decide.h's ward_kdecide(), compiled on the host,
 *                 with the identity and port tables built from the policy;
 *   proxy, l7     src/policy/decide.c's ward_decide();
 *   dns           src/policy/client.c's ward_decide_dns(), the DNS stub's.
 * A row is compared only when re-deciding it under the policy it was logged
 * with (policies table) gives the logged action: otherwise it was not a
 * policy decision (upstream failure, SSRF, malformed request) and is counted
 * as not replayable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/client.h"
#include "policy/model.h"

#define WARD_REPLAY_TEXT 256

/* One row re-decided under one policy. */
struct ward_replay_decision {
	const char *action;	     /* "allow", "deny", "audit" (static) */
	char rule[WARD_REPLAY_TEXT]; /* the rule column the live path would log ("" for none) */
	char reason[WARD_REPLAY_TEXT];
	const char *skip; /* static text when the row cannot be replayed */
};

/* Decide row r under p. Returns 0 with ret->action set, or 1 with ret->skip
 * saying why the row cannot be replayed (lifecycle, fs, nft, inference,
 * missing fields, rows that record no policy decision). */
int ward_replay_decide_row(const struct ward_policy *p, const struct ward_audit_row *r,
			   struct ward_replay_decision *ret);

struct ward_replay_opts {
	const char *sandbox; /* only this sandbox (NULL: all) */
	const char *session; /* only this session (NULL: all) */
	uint64_t since_ns;   /* only rows at or after (0: all) */
	size_t max_examples; /* per group; 0: 3 */
};

struct ward_replay_example {
	int64_t id;
	char *origin; /* the fleet host of the row (central store); NULL for a local log */
	char *sandbox, *session, *binary, *host, *ip, *method, *path; /* session: NULL none */
	bool has_port;
	int64_t port;
	char *old_reason, *new_reason;
};

/* Changed decisions with the same (layer, old action, new action, old rule, new rule). */
struct ward_replay_group {
	char *layer;
	const char *from, *to;	   /* actions */
	char *old_rule, *new_rule; /* NULL for none */
	uint64_t count;
	struct ward_replay_example *examples;
	size_t n_examples;
};

struct ward_replay_skip {
	const char *reason; /* static */
	uint64_t count;
};

struct ward_replay_report {
	char policy_rev[65];
	uint64_t rows;	   /* rows read (after the filters) */
	uint64_t replayed; /* rows re-decided and compared */
	uint64_t unchanged;
	uint64_t changed;
	uint64_t allow_to_deny, deny_to_allow, other_changes; /* audit in or out */
	uint64_t skipped;
	struct ward_replay_group *groups; /* sorted: most rows first */
	size_t n_groups;
	struct ward_replay_skip *skips;
	size_t n_skips;
	uint64_t cache_hits;
};

/* Replay the log at path under p. 0 on success (report filled, free it with
 * ward_replay_report_free), -errno on errors reading the log. */
int ward_replay(const char *path, const struct ward_policy *p, const struct ward_replay_opts *o,
		struct ward_replay_report *ret, struct ward_error *err);
void ward_replay_report_free(struct ward_replay_report *r);

/* Where replay reads rows from: the local log (ward_replay) or the central
 * store (src/fleet/central.c). */
struct ward_replay_source {
	/* Call cb for each row matching f (sandbox, session, since_ns) in order. */
	int (*each)(void *ctx, const struct ward_audit_filter *f,
		    int (*cb)(const struct ward_audit_row *row, void *userdata), void *userdata,
		    struct ward_error *err);
	/* The stored YAML source of policy rev, malloc'd into *ret_src (NULL when
	 * not stored); -errno on errors. */
	int (*policy_source)(void *ctx, const char *rev, char **ret_src, size_t *ret_len);
	/* The origin of the row being delivered (its fleet host), NULL: none. */
	const char *(*origin)(void *ctx);
	void *ctx;
};

/* ward_replay() over any row source. */
int ward_replay_rows(const struct ward_replay_source *src, const struct ward_policy *p,
		     const struct ward_replay_opts *o, struct ward_replay_report *ret,
		     struct ward_error *err);

/* Network policy keys (comma-separated, in policy order) whose binaries
 * globs match binary; "" when none. Returns the number of keys. */
size_t ward_replay_binary_keys(const struct ward_policy *p, const char *binary, char *out,
			       size_t outsz);
/* The binary that decides a row under p, as the kernel resolves identities:
 * the row's binary (the executable that acted) when p names it anywhere;
 * else its via (the ancestor of the live decision) when a binaries entry
 * with ancestors: true names that; else the row's binary. */
const char *ward_replay_decider(const struct ward_policy *p, const struct ward_audit_row *r);
/* The client of row r as the kernel would identify it under p: the acting
 * binary, its logged content, and via when via decides (ward_replay_decider);
 * no keys (the caller adds them). For ward_decide_inference/ward_decide_dns. */
struct ward_client ward_replay_client(const struct ward_policy *p, const struct ward_audit_row *r);
