/* SPDX-License-Identifier: MIT */
/* The DNS stub (docs/dns.md): a small server on the host side of the
 * sandbox's veth (UDP and TCP port 53) that answers A/AAAA only for names
 * some network policy entry allows for the asking binary (and inference.local
 * when the policy has inference routes), NXDOMAIN for every other name, and
 * writes one decision row (layer "dns") per query. Unlisted names are never
 * forwarded anywhere, so a query cannot carry data out of the sandbox.
 *
 * Which binary may resolve which name is ward_decide_dns() (policy/client.h).
 *
 * The sandbox's /etc/resolv.conf says "nameserver 127.0.0.53"
 * (WARD_DNS_STUB_ADDR); the egress BPF programs rewrite that destination to
 * the stub's address and record who asked, which the stub learns through
 * its lookup callback (the runtime connects it to the egress layer).
 *
 * Threading: ward_dns_start() starts one thread of its own (epoll over the
 * UDP and TCP sockets; name resolution for allowed names on a second,
 * bounded worker thread, so a slow upstream never stalls other queries).
 * ward_dns_stop() joins both. */
#pragma once

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/client.h"
#include "policy/generation.h"
#include "policy/model.h"

/* What the sandbox's resolv.conf names; the BPF programs redirect it. */
#define WARD_DNS_STUB_ADDR "127.0.0.53"
#define WARD_DNS_PORT 53
#define WARD_DNS_TTL 30		  /* seconds, for every answer */
#define WARD_DNS_RATE 200	  /* queries per second per sandbox (token bucket) */
#define WARD_DNS_MAX_ANSWERS 8	  /* addresses per answer */
#define WARD_DNS_UDP_MAX 512	  /* never answer more than this over UDP (no EDNS) */
#define WARD_DNS_TCP_MAX_CONNS 32 /* concurrent TCP clients */
#define WARD_DNS_NAME_MAX 255	  /* wire form, incl. length bytes and the root */

/* ---- wire format: pure functions, unit-tested and fuzzed ---- */

enum ward_dns_rcode {
	WARD_DNS_NOERROR = 0,
	WARD_DNS_FORMERR = 1,
	WARD_DNS_SERVFAIL = 2,
	WARD_DNS_NXDOMAIN = 3,
	WARD_DNS_NOTIMP = 4,
	WARD_DNS_REFUSED = 5,
};

#define WARD_DNS_TYPE_A 1
#define WARD_DNS_TYPE_AAAA 28
#define WARD_DNS_CLASS_IN 1

struct ward_dns_query {
	uint16_t id;
	uint16_t flags; /* the query's header flags (RD is echoed) */
	uint16_t qtype;
	uint16_t qclass;
	char name[WARD_DNS_NAME_MAX + 1]; /* dotted, lower case, no trailing dot; "" is the root */
	uint8_t qwire[WARD_DNS_NAME_MAX + 4]; /* the question as received (name, type, class) */
	size_t qwire_len;
};

/* Parse one query strictly: QR=0, OPCODE 0, QDCOUNT 1, ANCOUNT and NSCOUNT 0,
 * ARCOUNT <= 1 (an EDNS OPT record is tolerated and ignored), labels of 1-63
 * bytes, name <= 255 bytes, no compression pointers (a question has nothing to
 * point at), nothing after the records. Returns WARD_DNS_NOERROR, or the
 * rcode to answer with (FORMERR, NOTIMP for other opcodes). When the header
 * cannot even be read (fewer than 12 bytes, or QR set) returns -EINVAL: drop
 * the packet, never answer. q->id is valid whenever the return is >= 0. */
int ward_dns_parse_query(const uint8_t *pkt, size_t len, struct ward_dns_query *q);

/* Build the response to q in out (at most cap bytes): rcode, and for NOERROR
 * answers of q's type from addrs (AF_INET: 4 bytes each, AF_INET6: 16),
 * count at most WARD_DNS_MAX_ANSWERS, TTL WARD_DNS_TTL, the name as a pointer
 * to the question. A parse failure (q->qwire_len == 0) gets a header-only
 * answer. Sets TC and drops the answers when they do not fit. Returns the
 * length, or -ENOBUFS when not even the header and question fit. */
int ward_dns_build_response(const struct ward_dns_query *q, int rcode, const void *addrs,
			    size_t n_addrs, uint8_t *out, size_t cap);

/* ---- the server ---- */

/* Who sent a query, as the kernel recorded it when the query left the
 * sandbox (for `ward run`: the egress layer's records, docs/egress.md), in
 * the neutral form the proxy's lookup fills too (policy/peer.h): peer is the
 * datagram's source address (socktype SOCK_DGRAM) or the TCP connection's
 * peer (SOCK_STREAM). 0 and *ret filled, or -ENOENT when the source has no
 * record (the query is refused). Called on the stub's thread. */
typedef int (*ward_dns_lookup_fn)(void *userdata, int socktype, const struct sockaddr *peer,
				  struct ward_peer_ident *ret);

struct ward_dns_opts {
	/* What the stub decides from (generation.h): gen when set (the stub
	 * takes its own reference), else policy (borrowed) until the first
	 * ward_dns_apply(). */
	struct ward_gen *gen;
	const struct ward_policy *policy;
	struct ward_audit *audit;  /* borrowed; NULL: no rows */
	const char *sandbox;	   /* the rows' sandbox column */
	ward_dns_lookup_fn lookup; /* who asks (NULL: every query refused) */
	void *lookup_data;
	struct in_addr addr4; /* listen here (the host side of the veth) */
	struct in6_addr addr6;
	bool has_addr6;
	uint16_t port;		/* 0: WARD_DNS_PORT */
	const char *hosts_file; /* --hosts: consulted before the system resolver */
	unsigned rate;		/* 0: WARD_DNS_RATE */
	/* --learn (docs/learn.md): a name the policy refuses is resolved and
	 * answered all the same, its row action "audit" with the refusal's reason */
	bool learn;
};

struct ward_dns;

int ward_dns_start(const struct ward_dns_opts *o, struct ward_dns **ret, struct ward_error *err);
/* Stop the threads, close the sockets, free. NULL is fine. */
void ward_dns_stop(struct ward_dns *d);

/* Decide every query that arrives from now on under g (the stub takes its
 * own reference; the caller keeps its). One pointer swap: a query is
 * decided, and its row written, under the generation current when it
 * arrived, so queries in flight finish under theirs. Names already answered
 * stay cached by clients for at most WARD_DNS_TTL seconds. Safe from any
 * thread. 0, or -EINVAL (no generation). */
int ward_dns_apply(struct ward_dns *d, struct ward_gen *g, struct ward_error *err);

/* SO_COOKIE of the IPv4 UDP and TCP sockets (host mode registers them with
 * the kernel programs, docs/host.md); 0 when none. */
void ward_dns_listener_cookies(const struct ward_dns *d, uint64_t *ret_udp, uint64_t *ret_tcp);
/* The same of the IPv6 sockets (has_addr6); 0 when none. */
void ward_dns_listener_cookies6(const struct ward_dns *d, uint64_t *ret_udp, uint64_t *ret_tcp);

struct ward_dns_stats {
	uint64_t queries;
	uint64_t allowed;
	uint64_t denied;
	uint64_t rate_limited; /* dropped by the rate limit (one row per second says how many) */
	uint64_t malformed;
};
void ward_dns_stats(const struct ward_dns *d, struct ward_dns_stats *ret);
