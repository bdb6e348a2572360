/* SPDX-License-Identifier: MIT */
/* Host mode (DESIGN.md layer 9, docs/host.md): the egress programs at a
 * cgroup scope (default the whole host: the cgroup v2 root), pinned in bpffs
 * so the kernel keeps deciding while no daemon runs, and the daemon's
 * loopback proxy and DNS stub that the programs redirect ruled binaries to.
 *
 *   ward_host_start(policy, &cfg, &h, &err);  open (or take over) the pinned
 *                                             programs, start the listeners,
 *                                             register their socket cookies
 *   ward_host_free(h);                        listeners stop; the pins stay:
 *                                             redirected traffic fails closed
 *   ward_host_unpin(pin_dir, &err);           detach, remove every pin
 *
 * Every row carries sandbox "host". The daemon holds one ward_host at most. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"

#include "ward/abi.h" /* WARD_HOST_MAX_EXEMPT: exempt cgroups, the daemon's own included */

#define WARD_HOST_SANDBOX "host" /* the rows' sandbox column */

struct ward_host;

struct ward_host_config {
	const char *pin_dir;	 /* NULL: ward_host_pin_dir(NULL) */
	const char *scope;	 /* cgroup v2 directory, absolute ("/sys/fs/cgroup/x") or
				  * below the v2 mount ("/x"); NULL: the v2 root */
	bool audit;		 /* what would be denied is allowed and logged "audit" */
	const char *hosts_file;	 /* --hosts for the proxy and the stub; NULL: none */
	const char *upstream_ca; /* --upstream-ca for upstream TLS; NULL: none */
	struct ward_audit *log;	 /* rows (borrowed); NULL: none */
	const char *log_path;	 /* the decision log file (TOFU records); NULL: none */
};

/* The pin directory: opt, else $WARD_BPFFS_DIR, else WARD_EGRESS_HOST_PIN_DIR. */
const char *ward_host_pin_dir(const char *opt);

/* The scope's directory: opt resolved as ward_host_config.scope says, made
 * canonical (realpath) and checked to be a cgroup v2 directory. *ret malloc'd. */
int ward_host_scope_path(const char *opt, char **ret, struct ward_error *err);

/* p is taken (freed by ward_host_free, also on failure). Pins in pin_dir:
 * taken over without a gap (docs/egress.md "Host mode"); the fail-closed
 * count found there is returned by ward_host_failclosed_at_start() and the
 * counter reset. Binary exemptions are refused (the kernel programs know
 * cgroups only): err names their FILE:LINE:COL. A cgroup exemption whose
 * directory does not exist is skipped with a warning (ward_host_warnings). */
int ward_host_start(struct ward_policy *p, const struct ward_host_config *cfg,
		    struct ward_host **ret, struct ward_error *err);
/* Stop the listeners and the event reader; the pinned programs stay in
 * force (fail closed). NULL ok. */
void ward_host_free(struct ward_host *h);

/* Connections refused while no listener was registered, found at start. */
uint64_t ward_host_failclosed_at_start(const struct ward_host *h);
/* Pins were there at start (a takeover, not a first attach). */
bool ward_host_took_over(const struct ward_host *h);
const struct ward_policy *ward_host_policy(const struct ward_host *h);
/* The scope's directory, canonical. */
const char *ward_host_scope(const struct ward_host *h);
const char *const *ward_host_warnings(const struct ward_host *h, size_t *ret_n);

/* Detach and remove every pin in pin_dir (ward_egress_host_unpin).
 * -ENOENT: nothing pinned there. */
int ward_host_unpin(const char *pin_dir, struct ward_error *err);

/* Status as JSON: from the pins alone (h NULL: "pinned" or "not enforced"),
 * plus what the running daemon knows when h is set (ports, policy rev,
 * exemptions, audit). pin_dir NULL: ward_host_pin_dir(NULL). */
json_t *ward_host_status_json(const struct ward_host *h, const char *pin_dir);
