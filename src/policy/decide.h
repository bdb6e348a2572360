/* SPDX-License-Identifier: MIT */
/* THE network decision: one pure function over the compiled policy and a
 * request description. The proxy calls it per connection and per HTTP
 * request; `ward policy explain` and `ward replay` call the same function, so
 * a logged decision can be re-made under another policy. No I/O, no globals,
 * no allocation: the verdict points into the policy and carries its texts in
 * fixed buffers. docs/proxy.md, "Decisions", has the rules in prose. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

enum ward_action {
	WARD_ACTION_DENY = 0,
	WARD_ACTION_ALLOW,
	WARD_ACTION_AUDIT, /* would be denied, allowed because the endpoint says enforcement: audit */
};

/* Which part of the request made it fail (the JSON "failed" field). */
enum ward_failed {
	WARD_FAILED_NONE = 0,
	WARD_FAILED_BINARY, /* the binary is in no network policy (or unknown) */
	WARD_FAILED_HOST,   /* no endpoint of the binary's policies matches the host */
	WARD_FAILED_PORT,   /* the host matches, the port does not */
	WARD_FAILED_METHOD, /* L7: no rule allows the method (or a deny rule names it) */
	WARD_FAILED_PATH,   /* L7: no rule allows the path (or a deny rule matches it) */
};

struct ward_request {
	/* Executable path of the client, NULL when unknown (always denied). */
	const char *binary;
	/* Comma-separated network policy keys the kernel identity belongs to
	 * (ward_egress_peer.rule). When set, a policy applies to the binary when
	 * its key is listed: the kernel resolved the globs to inodes, and the
	 * path it reports is the resolved one (python3 -> python3.11). NULL:
	 * match `binary` against the binaries globs (explain, replay). */
	const char *binary_keys;
	const char *host; /* normalised name or IP literal (ward_host_normalize()) */
	uint16_t port;
	/* A literal IP when the only name is the address (raw TCP, transparent
	 * without SNI or Host): also matches endpoints whose allowed_ips hold it. */
	bool host_is_dest_ip;
	/* L7: NULL for a connection-level decision (CONNECT, tunnel, raw TCP). */
	const char *method;
	const char *path;  /* normalised (ward_path_normalize()) */
	const char *query; /* without '?', NULL when none; never logged */
};

#define WARD_DECIDE_TEXT 256

struct ward_net_verdict {
	enum ward_action action;
	enum ward_failed failed; /* WARD_FAILED_NONE unless denied or audited */
	/* The endpoint that decided (allow/audit, and L7 denials), else NULL. */
	const struct ward_net_policy *policy;
	size_t policy_index;
	const struct ward_endpoint *endpoint;
	size_t endpoint_index;
	/* L7: the allow rule that matched, or the deny rule that refused. */
	const struct ward_l7_rule *rule;
	bool rule_is_deny;
	/* The endpoint is `protocol: rest`: HTTP inspected, each request decided. */
	bool inspect;
	/* Private addresses (RFC 1918, CGNAT, ULA...) may be connected to: the
	 * endpoint's host is exact (no wildcard). allowed_ips are checked by the
	 * caller against `endpoint` (ward_ssrf_check). */
	bool allow_private;
	/* Denials: the policy entry that comes closest, and why it does not match. */
	const struct ward_net_policy *closest;
	char reason[WARD_DECIDE_TEXT];	  /* one line, for logs and the 403 body */
	char why[WARD_DECIDE_TEXT];	  /* why `closest` does not match ("" when none) */
	char hint[WARD_DECIDE_TEXT];	  /* "add ... to ..." */
	char rule_name[WARD_DECIDE_TEXT]; /* the decision row's rule column: KEY[/endpoint N] */
};

/* Decide req under p. Always fills *ret; never fails. */
void ward_decide(const struct ward_policy *p, const struct ward_request *req,
		 struct ward_net_verdict *ret);

/* Whether binary (path, keys as in ward_request) is covered by policy np. */
bool ward_decide_binary_in(const struct ward_net_policy *np, const char *binary, const char *keys);

/* May binary (path, keys as in ward_request) connect to the host unix socket
 * at path (absolute, normalised)? Returns the network policy that names it for
 * that binary, NULL when none does. The live path decides by the socket's
 * identity (docs/sandbox.md, "Unix sockets"); replay and explain by this. */
const struct ward_net_policy *ward_decide_unix(const struct ward_policy *p, const char *binary,
					       const char *keys, const char *path);

/* Lower-case names for logs and JSON. */
const char *ward_action_str(enum ward_action a);
const char *ward_failed_str(enum ward_failed f);

/* Whether method is allowed by an access preset (read-only: GET HEAD OPTIONS;
 * read-write: those plus POST PUT PATCH DELETE; full: every method). */
bool ward_access_allows(enum ward_access a, const char *method);
