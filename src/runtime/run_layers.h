/* SPDX-License-Identifier: MIT */
/* The layers `ward run` puts around the sandbox, set up in one place and torn
 * down in one place: the filesystem layer always; the network layers (veth +
 * nftables, eBPF egress, DNS stub, TLS and credentials, inference.local, the
 * proxy) only when the policy lets something leave (a network policy or an
 * inference route). */
#pragma once

#include <limits.h>

#include "audit/audit.h"
#include "common/error.h"
#include "runtime/layer_egress.h"
#include "runtime/layer_fs.h"
#include "runtime/layer_netns.h"
#include "enforcer/sandbox.h"
#include "runtime/layer_unix.h"
#include "runtime/layer_dns.h"
#include "runtime/layer_proxy.h"

struct ward_run_layers {
	/* the caller's */
	const struct ward_policy *policy;
	struct ward_audit *audit;
	const char *log_path;
	const char *hosts_file;
	const char *upstream_ca;
	ward_diag_fn diag;

	/* in hook order */
	struct ward_netns_run net;
	struct ward_egress_run egress;
	struct ward_dns_run dns;
	struct ward_inference *inference;
	struct ward_proxy_run proxy;
	struct ward_unix_run unix_sockets;
	struct ward_fs_run fs;
	bool unix_on;	    /* the unix hook is in the list */
	bool unix_degraded; /* the unix layer is unavailable here (why: unix_why) */
	char unix_why[256];

	/* TLS interception and credentials (docs/tls.md) */
	struct ward_tls_ca *tls_ca;
	struct ward_tls_upstream *tls_up;
	struct ward_cred_store *creds;
	char bundle[PATH_MAX]; /* host path of the merged CA bundle, "" when none */

	uint16_t *connect_ports; /* Landlock TCP ports with landlock.restrict_tcp */
	size_t n_connect_ports;
	struct ward_mount_file files[2]; /* resolv.conf, CA bundle */
	size_t n_files;
	/* netns, egress, dns, inference, proxy, unix, fs */
	struct ward_sandbox_hook hooks[8];
	size_t n_hooks;
};

/* Everything that must exist before the sandbox does (secrets read, CA made,
 * fanotify group created, ...). Fills l->hooks, l->files; on failure what was
 * prepared stays for ward_run_layers_finish(). */
int ward_run_layers_prepare(struct ward_run_layers *l, struct ward_error *err);

/* Let the sandbox options use the layers (hooks, files, Landlock ports). */
void ward_run_layers_apply(const struct ward_run_layers *l, struct ward_sandbox_opts *opts);

/* After the sandbox is gone (or was never started): stop, drain, detach, remove,
 * in the order the layers depend on each other. Safe on a partly prepared l. */
void ward_run_layers_finish(struct ward_run_layers *l);
