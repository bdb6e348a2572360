/* SPDX-License-Identifier: MIT */
/* The DNS stub as a sandbox hook of `ward run` (docs/dns.md). Before the
 * sandbox starts, ward_dns_resolv_conf() writes the resolv.conf every sandbox
 * sees at /etc/resolv.conf ("nameserver 127.0.0.53"; add it to
 * ward_sandbox_opts.files). The hook runs after the network and egress hooks,
 * whose veth address and BPF maps it needs, and starts the stub there.
 *
 *   struct ward_dns_run dns = { .audit = audit, .policy = policy,
 *                               .net = &net, .egress = &egress };
 *   hooks[] = { netns, egress, { "dns", ward_dns_hook, &dns } };
 *   ward_sandbox_run(&opts, ...);
 *   ward_dns_run_finish(&dns);   (before ward_egress_run_finish)
 */
#pragma once

#include <stddef.h>

#include "audit/audit.h"
#include "common/error.h"
#include "runtime/layer_egress.h"
#include "runtime/layer_netns.h"
#include "policy/model.h"
#include "proxy/dns.h"

struct ward_sandbox;

#define WARD_DNS_RESOLV_CONF_DIR "/run/ward"
#define WARD_DNS_RESOLV_CONF WARD_DNS_RESOLV_CONF_DIR "/resolv.conf"
#define WARD_DNS_RESOLV_CONF_TARGET "/etc/resolv.conf"

struct ward_dns_run {
	/* set by the caller */
	struct ward_audit *audit;	      /* borrowed; NULL: no rows */
	const struct ward_policy *policy;     /* borrowed */
	const struct ward_netns_run *net;     /* borrowed; its hook must run first */
	const struct ward_egress_run *egress; /* borrowed; its hook must run first */
	bool learn; /* --learn: refused names answered, "audit" rows (docs/learn.md) */
	/* filled by the hook */
	struct ward_dns *dns;
};

/* Write (atomically, shared by every ward) WARD_DNS_RESOLV_CONF and return
 * its path. */
int ward_dns_resolv_conf(const char **ret_path, struct ward_error *err);

/* A ward_sandbox_hook fn; data is a struct ward_dns_run. */
int ward_dns_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);

/* Stop the stub. Safe when the hook never ran or failed. */
void ward_dns_run_finish(struct ward_dns_run *run);

/* The stub's lookup callback over an egress handle (userdata). Host mode uses it too. */
int ward_dns_egress_lookup(void *userdata, int socktype, const struct sockaddr *peer,
			   struct ward_peer_ident *ret);
