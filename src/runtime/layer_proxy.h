/* SPDX-License-Identifier: MIT */
/* The proxy as a sandbox hook of `ward run` (sandbox.h). It runs after the
 * network and egress hooks: it listens on the veth's host-side addresses,
 * identifies clients through the egress maps, and sets the command's proxy
 * environment. The listeners are bound before the command execs (no race).
 *
 *   struct ward_proxy_run px = { .audit = audit, .log_path = log, .policy = policy,
 *                                .net = &net, .egress = &egress, .hosts_file = hosts };
 *   hooks[] = { netns, egress, { "proxy", ward_proxy_hook, &px } };
 *   ward_sandbox_run(...);
 *   ward_proxy_run_finish(&px);   (before ward_egress_run_finish) */
#pragma once

#include "audit/audit.h"
#include "common/error.h"
#include "runtime/layer_egress.h"
#include "runtime/layer_netns.h"
#include "policy/model.h"
#include "proxy/proxy.h"

struct ward_sandbox;

struct ward_proxy_run {
	/* set by the caller */
	struct ward_audit *audit;
	const char *log_path;
	const struct ward_policy *policy;
	const struct ward_netns_run *net;     /* its hook must run first */
	const struct ward_egress_run *egress; /* its hook must run first */
	const char *hosts_file;
	struct ward_tls_ca *tls_ca; /* optional (TLS interception) */
	struct ward_tls_upstream *tls_upstream;
	struct ward_cred_store *creds;
	struct ward_inference *inference; /* inference.local (i1); NULL: none */
	/* where the CA bundle is inside (the sandbox's files): exported as
	 * SSL_CERT_FILE & co. (ward_tls_ca_env_vars); NULL: none */
	const char *bundle_path;
	bool learn; /* --learn: refusals become "audit" rows (docs/learn.md) */
	/* filled by the hook */
	struct ward_proxy *proxy;
	char sandbox[32];
};

int ward_proxy_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);
/* Stop the loop and close everything. Safe when the hook never ran. */
void ward_proxy_run_finish(struct ward_proxy_run *run);

/* The proxy's identity callback over an egress handle (userdata): the
 * egress maps' record in the proxy's neutral form. Host mode uses it too. */
int ward_proxy_egress_lookup(void *userdata, const struct sockaddr *peer,
			     struct ward_peer_ident *ret);
