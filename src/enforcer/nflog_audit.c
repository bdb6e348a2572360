// SPDX-License-Identifier: MIT
/* NFLOG records to decision rows. Apart from nflog.c so that a reader without
 * a decision log (tests, tools) does not pull in the audit library. */
#include <stdio.h>

#include "audit/audit.h"
#include "common/util.h"
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

void ward_nflog_audit_drops(struct ward_nflog_audit *ctx, const struct ward_nflog *l, bool force)
{
	uint64_t now = ward_mono_ns();
	bool more = false;
	uint64_t lost = ward_nflog_dropped(l, &more);
	struct ward_decision d;
	char reason[128];

	if (!force && now - ctx->last_report_ns < 1000000000ull)
		return;
	ctx->last_report_ns = now;
	/* while running an unmeasured overrun waits for the next record to count it */
	if (lost <= ctx->reported_drops && !(force && more))
		return;
	if (force && more)
		snprintf(reason, sizeof(reason),
			 "at least %llu events dropped (NFLOG socket buffer full)",
			 (unsigned long long)(lost - ctx->reported_drops + 1));
	else
		snprintf(reason, sizeof(reason), "%llu events dropped (NFLOG socket buffer full)",
			 (unsigned long long)(lost - ctx->reported_drops));
	ctx->reported_drops = lost;
	if (!ctx->audit)
		return;
	d = (struct ward_decision){
		.sandbox = ctx->sandbox,
		.layer = "nft",
		.action = "deny",
		.rule = "events_dropped",
		.reason = reason,
		.policy_rev = ctx->policy_rev,
	};
	(void)ward_audit_submit(ctx->audit, &d);
}
