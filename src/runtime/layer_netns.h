/* SPDX-License-Identifier: MIT */
/* The network layer of `ward run` as a sandbox hook (sandbox.h): once the
 * sandbox's netns exists, set up the veth pair (netns.h), the nftables table
 * (nft.h) and the NFLOG reader (nflog.h), whose records a thread of its own
 * turns into decision rows (layer "nft") until ward_netns_run_finish().
 *
 *   struct ward_netns_run net = WARD_NETNS_RUN_INIT;
 *   net.audit = audit; net.policy_rev = policy->rev;
 *   hooks[] = { { "netns", ward_netns_hook, &net }, ...egress after it... };
 *   ward_sandbox_run(&opts, ...);
 *   ward_netns_run_finish(&net);
 *
 * Hooks that need the addresses (egress: proxy and DNS stub addresses) run
 * after this one and read net.net. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "audit/audit.h"
#include "common/error.h"
#include "common/worker.h"
#include "enforcer/netns.h"
#include "enforcer/nflog.h"

struct ward_sandbox;

struct ward_netns_run {
	/* set by the caller */
	struct ward_audit *audit; /* borrowed; NULL: NFLOG records are read and dropped */
	const char *policy_rev;	  /* borrowed */
	/* filled by the hook */
	struct ward_netns *net;
	struct ward_nflog *nflog;
	char sandbox[32];
	struct ward_nflog_audit audit_ctx;
	struct ward_worker reader; /* turns events into decision rows */
};

#define WARD_NETNS_RUN_INIT                                                                        \
	{                                                                                          \
		.reader = WARD_WORKER_INIT                                                         \
	}

/* A ward_sandbox_hook fn; data is a struct ward_netns_run. On failure nothing
 * of it is left behind. */
int ward_netns_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);

/* Stop the reader (after draining what is queued), close NFLOG, delete the
 * veth pair. Safe to call when the hook never ran or failed. */
void ward_netns_run_finish(struct ward_netns_run *run);
