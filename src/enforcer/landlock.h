/* SPDX-License-Identifier: MIT */
/* Landlock: ABI negotiation (in the parent, before clone) and the rules the
 * sandboxed command is restricted by (in the child; no allocation there). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "policy/model.h"

/* What a path is used for; mapped to rights the negotiated ABI supports. */
enum ward_landlock_kind {
	WARD_LL_READ,  /* read files, list dirs, execute */
	WARD_LL_WRITE, /* everything, incl. REFER, TRUNCATE (and IOCTL_DEV for device files) */
	WARD_LL_DEV,   /* a device node: read, write, truncate, ioctl */
	WARD_LL_PROC,  /* the private /proc: read, list, write files (no exec) */
};

struct ward_landlock_rule {
	const char *path; /* path inside the sandbox root */
	enum ward_landlock_kind kind;
};

struct ward_landlock_plan {
	int abi;		 /* 0: Landlock not available (best_effort only) */
	uint64_t handled_fs;	 /* rights the ruleset handles (= denied unless granted) */
	uint64_t handled_net;	 /* 0 below ABI 4 */
	uint64_t scoped;	 /* 0 below ABI 6 */
	uint32_t restrict_flags; /* landlock_restrict_self() flags (ABI 7) */
};

/* The kernel's Landlock ABI version, or -errno (-ENOSYS: not built in,
 * -EOPNOTSUPP: disabled at boot). For `ward doctor`. */
int ward_landlock_abi(void);

/* Negotiate: the highest ABI, one feature per version. Under
 * hard_requirement, fails when the kernel lacks Landlock or ABI 4 (filesystem
 * rules with TRUNCATE and TCP connect restriction, which the policy's meaning
 * relies on). */
int ward_landlock_prepare(enum ward_landlock_compat compat, struct ward_landlock_plan *ret_plan,
			  struct ward_error *err);

/* Learn mode (docs/learn.md): the ruleset handles no file access (TCP and
 * scopes stay as negotiated); with nothing left to handle, ward_landlock_build
 * returns no ruleset (-1) and ward_landlock_restrict does nothing. */
void ward_landlock_learn(struct ward_landlock_plan *plan);

/* Rights for one kind of rule under the plan. */
uint64_t ward_landlock_access(const struct ward_landlock_plan *plan, enum ward_landlock_kind kind);

/* Child side, while still privileged: create the ruleset, add one rule per
 * path (a path that cannot be opened is an error: fail closed) and one per
 * allowed TCP connect port. Returns the ruleset fd (or -1 when plan->abi is 0). */
int ward_landlock_build(const struct ward_landlock_plan *plan,
			const struct ward_landlock_rule *rules, size_t n_rules,
			const uint16_t *ports, size_t n_ports, int *ret_fd, struct ward_error *err);

/* Child side, after PR_SET_NO_NEW_PRIVS: restrict the calling thread. */
int ward_landlock_restrict(const struct ward_landlock_plan *plan, int ruleset_fd,
			   struct ward_error *err);

/* "landlock(abi=7)" or "landlock(unavailable)" into buf. */
void ward_landlock_describe(int abi, char *buf, size_t len);
