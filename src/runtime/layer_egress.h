/* SPDX-License-Identifier: MIT */
/* The eBPF egress layer of `ward run` as a sandbox hook (sandbox.h). It runs
 * after the network hook (layer_netns.h), whose host-side veth addresses are
 * the proxy's and the DNS stub's: it loads bpf/egress.bpf.c for the policy,
 * attaches it to the sandbox's cgroup leaf before the command execs, and a
 * thread of its own turns verdict events into decision rows (layer "kernel")
 * until ward_egress_run_finish().
 *
 *   struct ward_egress_run eg = WARD_EGRESS_RUN_INIT;
 *   eg.audit = audit; eg.policy = policy; eg.net = &net;
 *   hooks[] = { { "netns", ward_netns_hook, &net }, { "egress", ward_egress_hook, &eg } };
 *   ward_sandbox_run(&opts, ...);
 *   ward_egress_run_finish(&eg);   (before ward_netns_run_finish)
 *
 * The proxy asks eg.egress "who is this connection?" (ward_egress_peer_lookup). */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "audit/audit.h"
#include "common/error.h"
#include "common/worker.h"
#include "enforcer/egress.h"
#include "runtime/layer_netns.h"
#include "policy/model.h"

struct ward_sandbox;

struct ward_egress_run {
	/* set by the caller */
	struct ward_audit *audit;	     /* borrowed; NULL: events are read and dropped */
	const struct ward_policy *policy;    /* borrowed */
	const struct ward_netns_run *net;    /* borrowed; its hook must run first */
	struct ward_session_hook session_of; /* rows' session (ward exec); unset: none */
	bool learn; /* --learn: refusals become verdict audit (docs/learn.md) */
	/* filled by the hook */
	struct ward_egress *egress;
	char sandbox[32];
	struct ward_worker reader; /* turns events into decision rows */
};

#define WARD_EGRESS_RUN_INIT                                                                       \
	{                                                                                          \
		.reader = WARD_WORKER_INIT                                                         \
	}

/* A ward_sandbox_hook fn; data is a struct ward_egress_run. On failure
 * nothing of it is left attached. */
int ward_egress_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);

/* Stop the reader (after draining the ring buffer), detach and free the
 * programs. Safe to call when the hook never ran or failed. */
void ward_egress_run_finish(struct ward_egress_run *run);
