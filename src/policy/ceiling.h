/* SPDX-License-Identifier: MIT */
/* The org ceiling (issue 14 item 4, docs/policy.md "The org ceiling"): while
 * a host policy is in force, a sandbox policy may narrow it, never widen it.
 * Every network access the sandbox policy grants (a binary to a host and
 * port, each L7 rule there, uninspected bytes, private ranges, an inference
 * route's upstream) must be granted by the host policy to the same binary;
 * what is not is one violation naming both positions. Filesystem, unix
 * sockets, process, environment, resources and credentials are outside host
 * mode's scope and are not compared. */
#pragma once

#include <stdio.h>

#include "common/error.h"
#include "policy/model.h"

struct ward_ceiling_violation {
	char *msg;		  /* "<what> is not allowed by the host policy" */
	struct ward_pos pos;	  /* in the sandbox policy (line 0: no position, a preset) */
	char *note;		  /* "the host policy's closest rule for B is here", ... */
	struct ward_pos note_pos; /* in the host policy (line 0: the file as a whole) */
};

struct ward_ceiling_report {
	char *sandbox_file; /* the policies' source_path, for printing */
	char *host_file;
	struct ward_ceiling_violation *v; /* in sandbox position order */
	size_t n;
};

/* Each violation as two lines, as `ward policy check` prints problems:
 *   SANDBOX_FILE:LINE:COL: error: <what> is not allowed by the host policy
 *   HOST_FILE:LINE:COL: note: the host policy's closest rule for <binary> is here */
void ward_ceiling_print(const struct ward_ceiling_report *rep, FILE *f);
void ward_ceiling_report_free(struct ward_ceiling_report *rep);

/* Check sandbox against host. 0: within the ceiling (rep->n == 0);
 * -EPERM: rep holds every violation and err says how many; other -errno
 * (-ENOMEM): err says why. rep is reset first and owned by the caller in
 * every case (ward_ceiling_report_free). */
int ward_policy_ceiling(const struct ward_policy *sandbox, const struct ward_policy *host,
			struct ward_ceiling_report *rep, struct ward_error *err);

/* The upstream base URL ward's proxy uses for a provider's routes without a
 * base_url (as proxy/providers.c has it; tests/unit/test_ceiling.c checks
 * the two agree). NULL for an unknown provider. */
const char *ward_ceiling_default_base_url(const char *provider);

/* Where `ward host enforce` keeps the policy in force, under the state
 * directory ($WARD_STATE, else /var/lib/ward): <state>/host/policy.yaml. */
#define WARD_HOST_POLICY_SUBPATH "host/policy.yaml"

/* The host policy in force, compiled. state_dir NULL: $WARD_STATE, else
 * /var/lib/ward. 0 with *ret NULL when none is in force (no file); a file
 * that cannot be read or compiled is an error (-EINVAL: err holds its
 * FILE:LINE:COL lines): the ceiling fails closed. */
int ward_host_ceiling_load(const char *state_dir, struct ward_policy **ret, struct ward_error *err);

/* ward_host_ceiling_load, then ward_policy_ceiling of p against it: what
 * `ward run`, and the daemon's sandbox.create/start and policy.apply, call
 * before anything starts. 0: no host policy, or p is within it. -EINVAL: p
 * widens it; the violations are printed to diag when it is not NULL (err
 * then says how many), else err holds their lines (as many as fit). Other
 * -errno: the host policy could not be loaded, or out of memory. */
int ward_host_ceiling_check(const char *state_dir, const struct ward_policy *p, FILE *diag,
			    struct ward_error *err);
