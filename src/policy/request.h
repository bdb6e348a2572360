/* SPDX-License-Identifier: MIT */
/* THE request decision (docs/proxy.md, "Decisions"): one pure function from
 * what the proxy knows about a connection or an HTTP request to a typed
 * verdict and the fields of its decision row: TOFU, inference routing, the
 * L4/L7 decision (ward_decide), protocol: rest without interception, domain
 * fronting; and, once the head was scanned for placeholders, credential
 * binding (ward_request_bind_credential). The live proxy, `ward replay` and
 * `ward policy explain` call it. No I/O, no globals, no allocation: the state
 * it depends on (the binary's integrity, what the proxy can do) comes in with
 * the request; the verdict points into the policy and into *in. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policy/decide.h"

#define WARD_CRED_REASON_MISMATCH "credential_endpoint_mismatch"
#define WARD_CRED_REASON_INJECTED "credential_injected"
#define WARD_CRED_REASON_PLAIN "credential not injected: plain HTTP"

/* How the request reached ward (the row's protocol). */
enum ward_req_kind {
	WARD_REQ_CONNECT = 0, /* CONNECT host:port on the explicit port */
	WARD_REQ_TLS,	      /* transparent TLS, named by its SNI */
	WARD_REQ_TCP,	      /* transparent raw TCP (or TLS without a name): by address */
	WARD_REQ_HTTP,	      /* one HTTP request: plain, or inside a TLS session ward terminated */
};

struct ward_request_in {
	/* binary, keys, host, port; method and path for WARD_REQ_HTTP */
	struct ward_request req;
	enum ward_req_kind kind;
	/* 0, or the binary failed its integrity check (TOFU, or rewritten since
	 * exec): everything it asks for is denied with tofu_reason */
	int tofu;
	const char *tofu_reason;
	/* WARD_REQ_HTTP inside an intercepted TLS session: the name the session
	 * was decided for (req.host is the Host header's); NULL: not intercepted */
	const char *tls_name;
	const char *tls_rule; /* the rule that allowed that session (its rows' rule) */
	uint16_t host_port;   /* the port the Host header names, 0: none */
	/* what the proxy can do */
	bool can_terminate; /* it has a CA: it can be the TLS server itself */
	bool can_intercept; /* a CA and upstream TLS: protocol: rest over TLS is inspected */
	bool inference;	    /* it serves inference.local (an inference handle) */
	bool route_host;    /* req.host is one of the inference routes' provider hosts */
	/* --learn (docs/learn.md): what the policy refuses is allowed, outcome
	 * WARD_REQ_ALLOW with action "audit" and the refusing rule; integrity
	 * (TOFU) and domain fronting are still refused */
	bool learn;
};

enum ward_req_outcome {
	WARD_REQ_DENY = 0,    /* answered with ward's 403 (net, reason), or closed */
	WARD_REQ_REFUSE,      /* answered with an error (status, error, reason), no decision row */
	WARD_REQ_ALLOW,	      /* connect to the upstream: tunnel or forward (action allow/audit) */
	WARD_REQ_INTERCEPT,   /* connect, terminate TLS, decide each request on its own */
	WARD_REQ_INFERENCE,   /* ward serves it: the inference layer routes (and rows) the calls */
	WARD_REQ_MISDIRECTED, /* HTTP: the Host is not the TLS session's name (421) */
};

struct ward_request_verdict {
	enum ward_req_outcome outcome;
	/* the network decision; for DENY, what the 403 body says */
	struct ward_net_verdict net;
	/* the decision row: written when row is true */
	bool row;
	const char *layer;  /* "proxy" (connection level) or "l7" */
	const char *action; /* "allow", "audit" or "deny" */
	const char *rule;   /* NULL: none */
	char reason[WARD_DECIDE_TEXT * 2];
	/* REFUSE / MISDIRECTED: ward's answer */
	int status;
	const char *error;
	/* bind_credential: a credential left as a placeholder on plain HTTP, a
	 * second row (deny, rule plain_rule, WARD_CRED_REASON_PLAIN); "": none */
	char plain_rule[128];
	char cred_rule[128]; /* storage for rule when a credential decided */
};

/* Decide in under p. Always fills *ret; never fails. */
void ward_request_decide(const struct ward_policy *p, const struct ward_request_in *in,
			 struct ward_request_verdict *ret);

/* What scanning an allowed request's head for credential placeholders found
 * (src/proxy/cred.h does the scan and the swap; this says what it means). */
enum ward_cred_binding {
	WARD_CRED_BIND_NONE = 0, /* no placeholder */
	WARD_CRED_BIND_INJECTED, /* swapped for the secret: this endpoint is the bound one */
	WARD_CRED_BIND_MISMATCH, /* a placeholder sent where its credential is not bound */
};

struct ward_request_cred {
	enum ward_cred_binding binding;
	const char *credential; /* the credential concerned */
	const char *detail;	/* MISMATCH: what is bound where (never the secret) */
	const char *plain;	/* a bound credential left as a placeholder (plain HTTP); NULL */
};

/* Fold the credential scan into an allowed WARD_REQ_HTTP verdict: a mismatch
 * becomes a denial (its row the credential's), an injection is said in the
 * row's reason, a plain-HTTP placeholder asks for a second row. */
void ward_request_bind_credential(struct ward_request_verdict *v,
				  const struct ward_request_cred *c);

/* Is host one of p's inference routes' provider hosts (routes' hosts:)? */
bool ward_request_route_host(const struct ward_policy *p, const char *host);
