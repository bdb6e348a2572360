// SPDX-License-Identifier: MIT
/* NFLOG records to decision rows. Apart from nflog.c so that a reader without
 * a decision log (tests, tools) does not pull in the audit library. */
#include "audit/audit.h"
#include "enforcer/nflog.h"

void ward_nflog_audit_fn(const struct ward_nflog_record *rec, void *userdata)
{
	struct ward_nflog_audit *ctx = userdata;
	struct ward_decision d;

	if (!ctx->audit) {
		ctx->rejected++; /* no log: still read, so the socket never fills */
		return;
	}
	ward_nflog_decision(rec, ctx->sandbox, ctx->policy_rev, &d);
	/* The queue never blocks; a full one counts the drop and logs it itself. */
	if (ward_audit_submit(ctx->audit, &d) < 0)
		ctx->rejected++;
	else
		ctx->submitted++;
}
