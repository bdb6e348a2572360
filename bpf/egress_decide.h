/* SPDX-License-Identifier: MIT */
/* The egress verdict, as pure functions over ABI types. Compiled into
 * bpf/egress.bpf.c and, unchanged, into the host unit tests
 * (tests/unit/test_egress_decide.c), so every branch is tested even where the
 * kernel would not load the program.
 *
 * The includer defines struct ward_kmaps (what its lookups need: the policy
 * generation's maps in BPF, plain tables in the tests, the policy in replay)
 * and, after including this file:
 *   static __always_inline int ward_port_allowed(const struct ward_kmaps *m, __u32 entry,
 *						  __u16 port);
 *   static __always_inline int ward_ip_allowed(const struct ward_kmaps *m, __u32 entry,
 *						const struct ward_addr *a);
 * ward_kdecide() hands them the m it was given. User space that only needs
 * the address helpers defines WARD_DECIDE_HELPERS_ONLY. */
#pragma once

#include "ward/abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ward_htonl(x) __builtin_bswap32(x)
#else
#define ward_htonl(x) (x)
#endif

struct ward_addr;
struct ward_kmaps;
#ifndef WARD_DECIDE_HELPERS_ONLY
/* Defined by the includer, after this header (see the top of the file). */
static __always_inline int ward_port_allowed(const struct ward_kmaps *m, __u32 entry, __u16 port);
static __always_inline int ward_ip_allowed(const struct ward_kmaps *m, __u32 entry,
					   const struct ward_addr *a);
#endif

#define WARD_IPPROTO_TCP 6
#define WARD_IPPROTO_UDP 17

/* An address as four network-order words; IPv4 is ::ffff:a.b.c.d. */
struct ward_addr {
	__u32 w[4];
};

/* Configuration (rodata in BPF, except flags & WARD_CFG_INFERENCE_ALL, which
 * the policy generation in force sets). Addresses in mapped/native form. */
struct ward_cfg {
	struct ward_addr proxy4; /* ::ffff:proxy IPv4 */
	struct ward_addr proxy6; /* valid with WARD_CFG_PROXY6 */
	struct ward_addr dns4;
	struct ward_addr dns6; /* valid with WARD_CFG_DNS6 */
	__u16 explicit_port;
	__u16 transparent_port;
	__u16 dns_port;
	__u16 pad;
	__u32 flags; /* WARD_CFG_* */
};

struct ward_req {
	struct ward_addr dst;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct ward_result {
	__u8 verdict; /* enum ward_verdict */
	__u8 reason;  /* enum ward_reason */
	__u8 conn_flags;
	__u8 record; /* 1: store a ward_conn under the socket cookie (proxied TCP) */
	__u16 port;  /* destination after the verdict */
	__u16 pad;
	struct ward_addr dst;
};

static __always_inline void ward_addr_from4(struct ward_addr *a, __u32 ip4_be)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = ward_htonl(0x0000ffff);
	a->w[3] = ip4_be;
}

static __always_inline int ward_addr_eq(const struct ward_addr *a,
					const volatile struct ward_addr *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

static __always_inline int ward_addr_is_mapped(const struct ward_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == ward_htonl(0x0000ffff);
}

/* 127.0.0.0/8 and ::1, and the unspecified addresses, which connect() sends
 * to the local host: all stay inside the sandbox's own network namespace. */
static __always_inline int ward_addr_is_loopback(const struct ward_addr *a)
{
	if (ward_addr_is_mapped(a))
		return (a->w[3] & ward_htonl(0xff000000)) == ward_htonl(0x7f000000) || a->w[3] == 0;
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == 0 &&
	       (a->w[3] == ward_htonl(1) || a->w[3] == 0);
}

static __always_inline int ward_is_proxy(const volatile struct ward_cfg *cfg,
					 const struct ward_addr *a)
{
	if (ward_addr_eq(a, &cfg->proxy4))
		return 1;
	return (cfg->flags & WARD_CFG_PROXY6) && ward_addr_eq(a, &cfg->proxy6);
}

static __always_inline int ward_is_dns(const volatile struct ward_cfg *cfg,
				       const struct ward_addr *a)
{
	if (ward_addr_eq(a, &cfg->dns4))
		return 1;
	return (cfg->flags & WARD_CFG_DNS6) && ward_addr_eq(a, &cfg->dns6);
}

/* 127.0.0.53:53, as an IPv4 or IPv4-mapped destination */
static __always_inline int ward_is_stub(const struct ward_req *req)
{
	return ward_addr_is_mapped(&req->dst) && req->dst.w[3] == ward_htonl(WARD_DNS_STUB_IP4) &&
	       req->port == 53;
}

static __always_inline int ward_set(struct ward_result *r, __u8 verdict, __u8 reason)
{
	r->verdict = verdict;
	r->reason = reason;
	return verdict;
}

#ifndef WARD_DECIDE_HELPERS_ONLY
/* Host mode, and a sandbox under --learn (WARD_CFG_AUDIT): a refusal, or in
 * audit mode what would have been one (allowed, row action "audit"). */
static __always_inline int ward_host_refuse(const volatile struct ward_cfg *cfg,
					    struct ward_result *r, __u8 reason)
{
	return ward_set(r, (cfg->flags & WARD_CFG_AUDIT) ? WARD_VERDICT_AUDIT : WARD_VERDICT_DENY,
			reason);
}

/* Returns the verdict (also in r). id: the identity map value of the process (or of the ancestor
 * that matched), NULL when the executable is unknown. gen_flags: WARD_CFG_INFERENCE_ALL of the
 * policy generation in force. m: passed to the includer's lookups.
 * Learn mode (cfg WARD_CFG_AUDIT, docs/learn.md): a binary without policy may
 * use the stub and the proxy as one with policy does, and TCP to any port is
 * redirected to the proxy, which writes the "audit" row with the host it
 * sees; what cannot go through the proxy (UDP, other protocols, native IPv6
 * without an IPv6 proxy address) is allowed as it is, verdict audit. */
static __always_inline int ward_kdecide(const volatile struct ward_cfg *cfg, __u32 gen_flags,
					const struct ward_kmaps *m, const struct ward_req *req,
					const struct ward_ident_val *id, struct ward_result *r)
{
	int has_policy = id && id->entry != WARD_ENTRY_NONE;
	int learn = cfg->flags & WARD_CFG_AUDIT;
	int may_infer = ((cfg->flags | gen_flags) & WARD_CFG_INFERENCE_ALL) ||
			(id && (id->flags & WARD_IDENT_INFERENCE));

	r->dst = req->dst;
	r->port = req->port;
	r->conn_flags = 0;
	r->record = 0;
	r->pad = 0;

	/* The resolver of the sandbox's resolv.conf: to the stub for whoever may
	 * ask it, refused for everyone else; every other loopback address stays
	 * the sandbox's own. */
	if (ward_is_stub(req) &&
	    (req->proto == WARD_IPPROTO_UDP || req->proto == WARD_IPPROTO_TCP)) {
		if (!has_policy && !may_infer && !learn)
			return ward_set(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
		if (!has_policy && !may_infer)
			r->conn_flags = WARD_CONN_LEARN;
		r->dst.w[0] = cfg->dns4.w[0];
		r->dst.w[1] = cfg->dns4.w[1];
		r->dst.w[2] = cfg->dns4.w[2];
		r->dst.w[3] = cfg->dns4.w[3];
		r->port = cfg->dns_port;
		r->record = 1;
		return ward_set(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
	}
	if (ward_addr_is_loopback(&req->dst))
		return ward_set(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	if (req->proto != WARD_IPPROTO_TCP && req->proto != WARD_IPPROTO_UDP)
		return ward_host_refuse(cfg, r, WARD_REASON_PROTOCOL);

	if (ward_is_proxy(cfg, &req->dst) && req->proto == WARD_IPPROTO_TCP &&
	    req->port == cfg->explicit_port) {
		if (has_policy) {
			r->record = 1;
			return ward_set(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);
		}
		if (may_infer) {
			r->record = 1;
			r->conn_flags = WARD_CONN_INFERENCE;
			return ward_set(r, WARD_VERDICT_ALLOW, WARD_REASON_INFERENCE);
		}
		if (learn) {
			r->record = 1;
			r->conn_flags = WARD_CONN_LEARN;
			return ward_set(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);
		}
		return ward_set(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	}
	/* DNS (UDP, or TCP for truncated answers) to the stub: the stub answers
	 * only names the policy allows, so anyone who may use the proxy may ask. */
	if (ward_is_dns(cfg, &req->dst) && req->port == cfg->dns_port) {
		if (has_policy || may_infer || learn) {
			r->record = 1; /* the stub asks who this is */
			if (!has_policy && !may_infer)
				r->conn_flags = WARD_CONN_LEARN;
			return ward_set(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
		}
		return ward_set(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	}
	if (!has_policy && (!learn || req->proto == WARD_IPPROTO_UDP))
		return ward_host_refuse(cfg, r, WARD_REASON_NO_POLICY);
	if (ward_is_proxy(cfg, &req->dst))
		return ward_set(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
	if (req->proto == WARD_IPPROTO_UDP)
		return ward_host_refuse(cfg, r, WARD_REASON_UDP);
	/* The kernel narrows to the ports of the binary's endpoints; the host
	 * check (and the port again, per host) is the proxy's. Learning, the
	 * proxy says what the policy would have refused. */
	__u8 refused = !(has_policy && ward_port_allowed(m, id->entry, req->port));

	if (refused && !learn)
		return ward_set(r, WARD_VERDICT_DENY, WARD_REASON_PORT);

	if (ward_addr_is_mapped(&req->dst)) {
		r->dst.w[0] = cfg->proxy4.w[0];
		r->dst.w[1] = cfg->proxy4.w[1];
		r->dst.w[2] = cfg->proxy4.w[2];
		r->dst.w[3] = cfg->proxy4.w[3];
	} else if (cfg->flags & WARD_CFG_PROXY6) {
		r->dst.w[0] = cfg->proxy6.w[0];
		r->dst.w[1] = cfg->proxy6.w[1];
		r->dst.w[2] = cfg->proxy6.w[2];
		r->dst.w[3] = cfg->proxy6.w[3];
	} else {
		return ward_host_refuse(cfg, r, WARD_REASON_NO_PROXY6);
	}
	r->port = cfg->transparent_port;
	r->record = 1;
	r->conn_flags = WARD_CONN_REDIRECTED | (refused ? WARD_CONN_LEARN : 0);
	if (has_policy && ward_ip_allowed(m, id->entry, &req->dst))
		r->conn_flags |= WARD_CONN_ALLOWED_IP;
	return ward_set(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
}

/* The daemon's listener for dst: 127.0.0.1 (as a mapped address) for IPv4
 * and IPv4-mapped destinations, ::1 for native IPv6 ones. */
static __always_inline void ward_host_to_loopback(struct ward_result *r, __u16 port)
{
	if (ward_addr_is_mapped(&r->dst)) {
		ward_addr_from4(&r->dst, ward_htonl(WARD_HOST_LOOPBACK4));
	} else {
		r->dst.w[0] = 0;
		r->dst.w[1] = 0;
		r->dst.w[2] = 0;
		r->dst.w[3] = ward_htonl(1);
	}
	r->port = port;
	r->record = 1;
}

/* Host mode (cfg->flags & WARD_CFG_HOST): every process of the scope except
 * the exempt cgroups (the caller leaves before). proxy_port, dns_port: the
 * daemon's listeners on 127.0.0.1, from the pinned state; v6: it listens on
 * ::1 at the same ports too (native IPv6 destinations go there; without it
 * they are refused). Whether the socket listening there is the daemon's is
 * the caller's check (a redirect it cannot deliver fails closed). Returns
 * the verdict (also in r). */
static __always_inline int ward_kdecide_host(const volatile struct ward_cfg *cfg,
					     const struct ward_kmaps *m, const struct ward_req *req,
					     const struct ward_ident_val *id, __u16 proxy_port,
					     __u16 dns_port, int v6, struct ward_result *r)
{
	int has_policy = id && id->entry != WARD_ENTRY_NONE;
	int tcp = req->proto == WARD_IPPROTO_TCP, udp = req->proto == WARD_IPPROTO_UDP;
	int native6 = !ward_addr_is_mapped(&req->dst);

	r->dst = req->dst;
	r->port = req->port;
	r->conn_flags = 0;
	r->record = 0;
	r->pad = 0;

	/* DNS to any resolver (the host's, or one a program names) goes to
	 * the stub, which answers per binary */
	if (req->port == 53 && (tcp || udp)) {
		if (!has_policy)
			return ward_host_refuse(cfg, r, WARD_REASON_NO_POLICY);
		if (native6 && !v6)
			return ward_host_refuse(cfg, r, WARD_REASON_NO_PROXY6);
		ward_host_to_loopback(r, dns_port);
		return ward_set(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
	}
	/* the host's own services; sandboxes below decide with their programs */
	if (ward_addr_is_loopback(&req->dst))
		return ward_set(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	if (!has_policy)
		return ward_host_refuse(cfg, r, WARD_REASON_NO_POLICY);
	if (!tcp && !udp)
		return ward_host_refuse(cfg, r, WARD_REASON_PROTOCOL);
	if (udp)
		return ward_host_refuse(cfg, r, WARD_REASON_UDP);
	if (!ward_port_allowed(m, id->entry, req->port))
		return ward_host_refuse(cfg, r, WARD_REASON_PORT);
	/* native IPv6: to the proxy's ::1 listener, when the daemon has one */
	if (native6 && !v6)
		return ward_host_refuse(cfg, r, WARD_REASON_NO_PROXY6);
	r->conn_flags = WARD_CONN_REDIRECTED;
	if (ward_ip_allowed(m, id->entry, &req->dst))
		r->conn_flags |= WARD_CONN_ALLOWED_IP;
	ward_host_to_loopback(r, proxy_port);
	return ward_set(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
}
#endif /* WARD_DECIDE_HELPERS_ONLY */

/* LPM key for (generation, entry, address, prefix); prefix counts address
 * bits of the 16-byte form, so an IPv4 /8 is 96 + 8. entry < 65536. */
static __always_inline void ward_cidr_key_make_gen(struct ward_cidr_key *k, __u32 gen, __u32 entry,
						   const struct ward_addr *a, __u32 prefix)
{
	__u32 *w = (__u32 *)k->addr;

	k->prefixlen = 32 + prefix;
	k->entry = ward_htonl((gen & 0xffff) << 16 | (entry & 0xffff));
	w[0] = a->w[0];
	w[1] = a->w[1];
	w[2] = a->w[2];
	w[3] = a->w[3];
}

static __always_inline void ward_cidr_key_make(struct ward_cidr_key *k, __u32 entry,
					       const struct ward_addr *a, __u32 prefix)
{
	ward_cidr_key_make_gen(k, 0, entry, a, prefix);
}

#ifndef __bpf__
/* The text of each reason, as decision rows carry it (user space only): the
 * kernel-layer rows are written with it and `ward replay` reads it back. */
static inline const char *ward_reason_str(unsigned reason)
{
	static const char *const text[WARD_REASON_MAX] = {
		[WARD_REASON_LOOPBACK] = "loopback",
		[WARD_REASON_PROXY_EXPLICIT] = "to the proxy",
		[WARD_REASON_INFERENCE] = "to the proxy for inference.local",
		[WARD_REASON_DNS_STUB] = "dns to the stub",
		[WARD_REASON_REDIRECT] = "redirect to proxy",
		[WARD_REASON_NO_POLICY] = "binary has no network policy",
		[WARD_REASON_UDP] = "udp other than dns to the stub",
		[WARD_REASON_PORT] = "port in none of the binary's endpoints",
		[WARD_REASON_PROXY_PORT] = "proxy port other than the explicit proxy port",
		[WARD_REASON_NO_PROXY6] = "ipv6 destination and no ipv6 proxy address",
		[WARD_REASON_CONN_FULL] = "connection table full",
		[WARD_REASON_PROTOCOL] = "protocol other than tcp and udp",
		[WARD_REASON_DAEMON_DOWN] = "daemon down (fail closed)",
	};

	return reason < WARD_REASON_MAX && text[reason] ? text[reason] : "unknown";
}
#endif
