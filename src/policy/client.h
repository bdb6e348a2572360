/* SPDX-License-Identifier: MIT */
/* Decisions about one client the kernel identified, beside the network
 * decision of decide.h: may it use inference.local (ward_decide_inference),
 * may it resolve a name (ward_decide_dns). Pure functions of the compiled
 * policy, each made in this one place: the egress layer configures the
 * kernel with ward_inference_scope(), the DNS stub and the inference handler
 * decide live with these functions, and `ward replay` re-decides logged rows
 * with the same ones. No I/O, no globals, no allocation. */
#pragma once

#include <stdbool.h>

#include "policy/model.h"
#include "policy/peer.h"

/* Who asks, as the kernel identified the process (docs/egress.md). */
struct ward_client {
	/* The executable that acted (absolute path); NULL when unknown. */
	const char *binary;
	/* The ancestor whose identity the kernel matched instead (a binaries
	 * entry with ancestors: true); NULL when binary's own identity decided. */
	const char *via;
	/* binary's content, 64 lowercase hex (TOFU, or the content admitted at
	 * exec); NULL when not known: sha256 entries then match nothing. */
	const char *sha256;
	/* Network policy keys of the identity, comma-separated, as the kernel
	 * resolved them (ward_egress_peer.rule) or replay rebuilt them;
	 * NULL: the client has no network policy. */
	const char *keys;
};

/* The client a kernel identity describes ("" fields become NULL); the
 * strings point into id. */
struct ward_client ward_client_from_peer(const struct ward_peer_ident *id);

/* ---- inference.local ---- */

/* Who may use inference.local under a policy, as a whole. */
enum ward_inference_scope {
	WARD_INFERENCE_NOBODY = 0,   /* no inference routes */
	WARD_INFERENCE_EVERY_BINARY, /* routes, and no inference.binaries list */
	WARD_INFERENCE_LISTED,	     /* routes: only what inference.binaries names */
};

enum ward_inference_scope ward_inference_scope(const struct ward_policy *p);

enum ward_inference_verdict {
	WARD_INFERENCE_ALLOW = 0,
	WARD_INFERENCE_NO_ROUTES,  /* the policy has no inference routes */
	WARD_INFERENCE_NOT_LISTED, /* inference.binaries names neither the binary, nor its
				    * content, nor (ancestors: true) the ancestor via */
};

/* May who use inference.local? An inference.binaries entry admits the
 * executable that acted by its path glob, or by its content (sha256:), or
 * the ancestor via when the entry says ancestors: true, as the kernel
 * matches identities. TOFU failures are the caller's to refuse first. */
enum ward_inference_verdict ward_decide_inference(const struct ward_policy *p,
						  const struct ward_client *who);
/* A static one-line reason ("" for ALLOW). */
const char *ward_inference_verdict_str(enum ward_inference_verdict v);

/* ---- DNS ---- */

#define WARD_INFERENCE_NAME "inference.local"

struct ward_dns_verdict {
	bool allow;
	bool inference;	    /* inference.local: answer with the stub's own address */
	const char *rule;   /* the network policy key that allowed it ("inference"); NULL */
	const char *reason; /* static text for the decision row */
};

/* May who resolve name (dotted, lower case, no trailing dot)? A name
 * resolves if and only if the proxy would let who reach it by name: some
 * endpoint of a network policy in who->keys matches it (ward_match_host),
 * or it is inference.local and ward_decide_inference() allows who. IP
 * literals and the root are never "resolved". Always fills *ret; the
 * pointers in it are static or into p. */
void ward_decide_dns(const struct ward_policy *p, const struct ward_client *who, const char *name,
		     struct ward_dns_verdict *ret);
