/* SPDX-License-Identifier: MIT */
/* The proxy (DESIGN.md layer 6, docs/proxy.md): one epoll loop on a thread
 * of its own, listening on the sandbox's host-side veth addresses:
 *   explicit port (3128): CONNECT host:port, and absolute-URI http:// forwarding;
 *   transparent port (3129): connections the BPF programs redirected; the
 *   original destination and the client's identity come from the kernel.
 * Every connection is identified through the lookup callback (the runtime
 * passes the egress maps' lookup; never guessed), decided by ward_decide()
 * and logged as decision rows.
 *
 *   ward_proxy_new(&cfg, &px, &err);   binds the listeners (before the command runs)
 *   ward_proxy_start(px, &err);        starts the loop thread
 *   ward_proxy_apply(px, gen, &err);   a new policy generation, live
 *   ...
 *   ward_proxy_free(px);               stops the loop, closes every connection */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/generation.h"
#include "policy/model.h"
#include "policy/peer.h"

struct ward_tls_ca;
struct ward_tls_upstream;
struct ward_cred_store;
struct ward_inference;

/* What the proxy allows (docs/proxy.md "Limits"); 0 fields: the default.
 * ward run fills it from the policy's `limits:` (ward_proxy_limits_from_policy,
 * admission.h); the daemon in host mode sets its own. A connection past
 * max_conns is refused with a 503 and a row, never dropped. */
struct ward_proxy_limits {
	uint32_t max_conns;	     /* 0: the fd budget, RLIMIT_NOFILE/6, at most 16384 */
	uint32_t idle_tunnel_ms;     /* 0: 300 s */
	uint32_t idle_http_ms;	     /* 0: 60 s */
	uint32_t connect_timeout_ms; /* resolve + connect; 0: 10 s */
	uint32_t request_timeout_ms; /* a request head must arrive within; 0: 30 s */
	uint64_t max_body;	     /* inspected request bodies; 0: 64 MiB */
	uint32_t sniff_ms;	     /* transparent: wait for the client's first bytes; 0: 500 ms */
	uint32_t flush_ms;	     /* ward's own answer must be read within; 0: 5 s */
};

/* Identity source: who is at the other end of the client socket whose peer
 * address is peer. 0 and *ret filled, or -errno (the client is unknown). */
typedef int (*ward_proxy_lookup_fn)(void *userdata, const struct sockaddr *peer,
				    struct ward_peer_ident *ret);

struct ward_proxy_config {
	const struct ward_policy *policy; /* required, borrowed */
	ward_proxy_lookup_fn lookup;	  /* NULL: every client is unknown */
	void *lookup_data;
	struct ward_audit *audit; /* borrowed; NULL: no rows */
	const char *log_path;	  /* decision log file, for TOFU records; NULL: no TOFU */
	const char *sandbox;	  /* rows' sandbox column */
	const char *hosts_file;	  /* --hosts; NULL: none */
	/* listen addresses: the host side of the veth */
	struct in_addr listen4;
	bool has_listen6;
	struct in6_addr listen6;
	uint16_t explicit_port;	   /* 0: 3128 */
	uint16_t transparent_port; /* 0: 3129 */
	struct ward_proxy_limits limits;
	/* TLS interception for protocol: rest over TLS (src/proxy/tls.h). NULL:
	 * such connections are refused (L7 rules cannot be enforced blind). */
	struct ward_tls_ca *tls_ca;
	struct ward_tls_upstream *tls_upstream;
	struct ward_cred_store *creds;
	/* inference.local routes (src/proxy/inference.h, i1); NULL: answered 503 */
	struct ward_inference *inference;
	/* --learn (docs/learn.md): what the policy refuses is allowed and logged
	 * "audit" with the rule that would have refused it (ward_request_in.learn) */
	bool learn;
};

struct ward_proxy;

int ward_proxy_new(const struct ward_proxy_config *cfg, struct ward_proxy **ret,
		   struct ward_error *err);
int ward_proxy_start(struct ward_proxy *px, struct ward_error *err);
/* Stop the loop thread (if started), close everything. NULL is fine. */
void ward_proxy_free(struct ward_proxy *px);

/* Bound listen ports (useful with port 0 in tests): explicit, transparent. */
uint16_t ward_proxy_explicit_port(const struct ward_proxy *px);
uint16_t ward_proxy_transparent_port(const struct ward_proxy *px);

/* SO_COOKIE of the IPv4 listener, explicit or transparent (host mode
 * registers it with the kernel programs, docs/host.md); 0 when none. */
uint64_t ward_proxy_listener_cookie(const struct ward_proxy *px, bool transparent);
/* The same of the IPv6 listener (has_listen6); 0 when none. */
uint64_t ward_proxy_listener_cookie6(const struct ward_proxy *px, bool transparent);

/* Live apply (DESIGN.md "One process or a service"): every request and
 * connection decided from now on is decided under g (the proxy takes its own
 * reference; the caller keeps its). A request already decided finishes under
 * the generation that decided it; L7 re-decides every request anyway. Open
 * CONNECT tunnels, transparent connections and intercepted TLS sessions
 * whose destination g denies are closed by the loop thread, each with a
 * proxy deny row "revoked by policy rev R" (R: g's rev). Any thread; returns
 * once g is installed (new decisions see it), the sweep follows on the loop.
 * -EINVAL when g is NULL. */
int ward_proxy_apply(struct ward_proxy *px, struct ward_gen *g, struct ward_error *err);

struct ward_proxy_stats {
	uint64_t accepted;
	uint64_t refused_full; /* refused (503 and a row): max_conns reached */
	uint64_t refused;      /* every refusal: max_conns, out of fds, out of memory */
	uint64_t active;
};
void ward_proxy_stats(const struct ward_proxy *px, struct ward_proxy_stats *ret);
