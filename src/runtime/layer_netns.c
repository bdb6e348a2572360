// SPDX-License-Identifier: MIT
/* The network layer as a sandbox hook, with an NFLOG reader thread: the
 * sandbox's supervisor loop only reads its control socket, so the records
 * get a thread of their own rather than a slot in that loop. */
#include "runtime/layer_netns.h"
#include "common/cleanup.h"
#include "enforcer/nft.h"
#include "enforcer/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void drain(void *p)
{
	struct ward_netns_run *run = p;

	while (ward_nflog_dispatch(run->nflog, ward_nflog_audit_fn, &run->audit_ctx) > 0)
		;
	ward_nflog_audit_drops(&run->audit_ctx, run->nflog, false);
}

int ward_netns_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_netns_run *run = data;
	int r;

	snprintf(run->sandbox, sizeof(run->sandbox), "%s", sb->id);
	r = ward_netns_setup_pid(sb->init_pid, &run->net, err);
	if (r < 0)
		return r;
	r = ward_nft_apply(run->net, err);
	if (r < 0)
		goto fail;
	r = ward_nflog_open(run->net->netns_fd, run->net->nflog_group, &run->nflog, err);
	if (r < 0)
		goto fail;
	run->audit_ctx = (struct ward_nflog_audit){
		.audit = run->audit,
		.sandbox = run->sandbox,
		.policy_rev = run->policy_rev,
	};
	/* also once a second, so a drop-count row is not held back by silence */
	r = ward_worker_start_reader(&run->reader, ward_nflog_fd(run->nflog), 1000, drain, run,
				     "NFLOG reader", err);
	if (r < 0)
		goto fail;
	return 0;

fail:
	ward_netns_run_finish(run);
	return r;
}

void ward_netns_run_finish(struct ward_netns_run *run)
{
	ward_worker_stop(&run->reader);
	if (run->nflog)
		ward_nflog_audit_drops(&run->audit_ctx, run->nflog, true);
	ward_nflog_free(run->nflog);
	run->nflog = NULL;
	ward_netns_free(run->net);
	run->net = NULL;
}
