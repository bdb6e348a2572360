/* SPDX-License-Identifier: MIT */
/* Internal to src/audit/replay*.c. */
#pragma once

#include "audit/replay.h"

/* A kernel row re-decided by bpf/egress_decide.h (its own translation unit:
 * the includer defines that header's map lookups). 0 or 1 as
 * ward_replay_decide_row. */
int replay_kernel_decide(const struct ward_policy *p, const struct ward_audit_row *r,
			 struct ward_replay_decision *ret);

/* The reason texts kernel rows carry, by enum ward_reason: ward_reason_str()
 * of bpf/egress_decide.h, the one table the enforcer writes rows with. */
const char *replay_kernel_reason_str(unsigned reason);
