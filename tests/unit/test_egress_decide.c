// SPDX-License-Identifier: MIT
/* bpf/egress_decide.h compiled on the host: every verdict branch of the
 * kernel's egress decision. The map lookups are replaced by tables with the
 * kernel maps' semantics (hash set for ports, longest-prefix match for CIDRs). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../bpf/egress_decide.h"

/* ---- the maps ---- */

static struct ward_port_key port_set[16];
static size_t n_port_set;
static struct ward_cidr_key cidr_set[16];
static size_t n_cidr_set;

struct ward_kmaps {
	int unused;
};

static __always_inline int ward_port_allowed(const struct ward_kmaps *m, __u32 entry, __u16 port)
{
	(void)m;
	for (size_t i = 0; i < n_port_set; i++)
		if (port_set[i].entry == entry && port_set[i].port == port)
			return 1;
	return 0;
}

/* BPF_MAP_TYPE_LPM_TRIE: a stored key matches when its first prefixlen bits
 * of data (entry, then address) equal the lookup key's. */
static int lpm_match(const struct ward_cidr_key *stored, const struct ward_cidr_key *k)
{
	const uint8_t *a = (const uint8_t *)&stored->entry, *b = (const uint8_t *)&k->entry;

	for (uint32_t bit = 0; bit < stored->prefixlen; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		if ((a[bit / 8] & m) != (b[bit / 8] & m))
			return 0;
	}
	return 1;
}

static __always_inline int ward_ip_allowed(const struct ward_kmaps *m, __u32 entry,
					   const struct ward_addr *a)
{
	struct ward_cidr_key k;

	(void)m;
	ward_cidr_key_make(&k, entry, a, 128);
	for (size_t i = 0; i < n_cidr_set; i++)
		if (lpm_match(&cidr_set[i], &k))
			return 1;
	return 0;
}

/* ---- fixtures ---- */

#define EXPLICIT 3128
#define TRANSPARENT 3129

static struct ward_cfg cfg;

static void addr(struct ward_addr *a, const char *s)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		ward_addr_from4(a, v4.s_addr);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, s, a->w), 1);
}

static int setup(void **state)
{
	memset(&cfg, 0, sizeof(cfg));
	addr(&cfg.proxy4, "10.254.0.1");
	addr(&cfg.proxy6, "fd77::1");
	addr(&cfg.dns4, "10.254.0.1");
	addr(&cfg.dns6, "fd77::1");
	cfg.explicit_port = EXPLICIT;
	cfg.transparent_port = TRANSPARENT;
	cfg.dns_port = 53;
	cfg.flags = WARD_CFG_PROXY6 | WARD_CFG_DNS6;
	n_port_set = 0;
	port_set[n_port_set++] = (struct ward_port_key){ .entry = 0, .port = 443 };
	port_set[n_port_set++] = (struct ward_port_key){ .entry = 1, .port = 22 };
	n_cidr_set = 0;
	return 0;
}

static const struct ward_ident_val with_policy = { .entry = 0 };
static const struct ward_ident_val other_policy = { .entry = 1 };
static const struct ward_ident_val inference_only = { .entry = WARD_ENTRY_NONE,
						      .flags = WARD_IDENT_INFERENCE };

static struct ward_result decide(const struct ward_ident_val *id, int proto, const char *dst,
				 uint16_t port)
{
	struct ward_req req = { .port = port, .proto = (uint8_t)proto };
	struct ward_result r;
	int v;

	addr(&req.dst, dst);
	memset(&r, 0xaa, sizeof(r));
	v = ward_kdecide(&cfg, 0, NULL, &req, id, &r);
	assert_int_equal(v, r.verdict);
	return r;
}

#define assert_verdict(r, v, why)                                                                  \
	do {                                                                                       \
		assert_int_equal((r).verdict, (v));                                                \
		assert_int_equal((r).reason, (why));                                               \
	} while (0)

/* ---- tests ---- */

static void no_policy_is_denied_everywhere(void **state)
{
	struct ward_result r;

	r = decide(NULL, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	/* even towards the proxy */
	r = decide(NULL, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	assert_int_equal(r.record, 0);
	r = decide(NULL, WARD_IPPROTO_TCP, "10.254.0.1", TRANSPARENT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	r = decide(NULL, WARD_IPPROTO_UDP, "10.254.0.1", 53);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	r = decide(NULL, WARD_IPPROTO_TCP, "fd77::1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	/* an identity that is only allowed inference, without routes... */
	r = decide(&inference_only, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
}

static void policy_reaches_explicit_proxy(void **state)
{
	struct ward_result r = decide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);

	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);
	assert_int_equal(r.record, 1);
	assert_int_equal(r.conn_flags, 0);
	assert_int_equal(r.port, EXPLICIT);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "fd77::1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);
	/* a port of the policy does not matter for the explicit proxy */
	r = decide(&other_policy, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);
}

static void direct_connection_is_redirected(void **state)
{
	struct ward_addr proxy;
	struct ward_result r = decide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 443);

	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	addr(&proxy, "10.254.0.1");
	assert_memory_equal(&r.dst, &proxy, 16);
	assert_int_equal(r.port, TRANSPARENT);
	assert_int_equal(r.record, 1);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);

	r = decide(&with_policy, WARD_IPPROTO_TCP, "2606:2800:220:1::1", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	addr(&proxy, "fd77::1");
	assert_memory_equal(&r.dst, &proxy, 16);
	assert_int_equal(r.port, TRANSPARENT);
}

static void ports_outside_the_entry_are_denied(void **state)
{
	struct ward_result r = decide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 22);

	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PORT);
	assert_int_equal(r.record, 0);
	r = decide(&other_policy, WARD_IPPROTO_TCP, "93.184.216.34", 22);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	r = decide(&other_policy, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PORT);
	/* other ports of the proxy are no way around the redirect */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", TRANSPARENT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
}

/* --learn (docs/learn.md): what would be refused reaches the proxy or the
 * stub, which write the audit rows; the record says it was learning */
static void learn_lets_refusals_through(void **state)
{
	struct ward_result r;

	cfg.flags |= WARD_CFG_AUDIT;
	r = decide(NULL, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	assert_int_equal(r.port, TRANSPARENT);
	assert_int_equal(r.record, 1);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_LEARN);
	r = decide(NULL, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);
	assert_int_equal(r.conn_flags, WARD_CONN_LEARN);
	r = decide(NULL, WARD_IPPROTO_UDP, "10.254.0.1", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
	assert_int_equal(r.conn_flags, WARD_CONN_LEARN);
	r = decide(NULL, WARD_IPPROTO_UDP, "127.0.0.53", 53);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
	assert_int_equal(r.conn_flags, WARD_CONN_LEARN);
	/* a port outside the binary's endpoints: to the proxy too */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 22);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_LEARN);
	/* what the policy allows is not marked */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
	r = decide(&with_policy, WARD_IPPROTO_UDP, "10.254.0.1", 53);
	assert_int_equal(r.conn_flags, 0);
	/* no way to the proxy: allowed as it is, verdict audit (no record) */
	r = decide(&with_policy, WARD_IPPROTO_UDP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_UDP);
	assert_int_equal(r.record, 0);
	r = decide(NULL, WARD_IPPROTO_UDP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_NO_POLICY);
	r = decide(NULL, 1 /* icmp */, "93.184.216.34", 0);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_PROTOCOL);
	/* ward's other ports stay closed: they are no policy */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", TRANSPARENT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
	/* without an IPv6 proxy address: as it is, audit */
	cfg.flags &= ~WARD_CFG_PROXY6;
	r = decide(NULL, WARD_IPPROTO_TCP, "2606:2800:220:1::1", 443);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_NO_PROXY6);
}

static void udp_only_dns_to_the_stub(void **state)
{
	struct ward_result r = decide(&with_policy, WARD_IPPROTO_UDP, "10.254.0.1", 53);

	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
	assert_int_equal(r.record, 1); /* the stub asks who sent it */
	r = decide(&with_policy, WARD_IPPROTO_UDP, "fd77::1", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
	/* TCP DNS to the stub (truncated answers) */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
	r = decide(&with_policy, WARD_IPPROTO_UDP, "8.8.8.8", 53);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_UDP);
	r = decide(&with_policy, WARD_IPPROTO_UDP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_UDP);
	r = decide(&with_policy, WARD_IPPROTO_UDP, "10.254.0.1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
	r = decide(&with_policy, WARD_IPPROTO_UDP, "2001:4860:4860::8888", 53);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_UDP);

	/* a stub on its own address */
	addr(&cfg.dns4, "10.254.0.9");
	r = decide(&with_policy, WARD_IPPROTO_UDP, "10.254.0.9", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
	r = decide(&with_policy, WARD_IPPROTO_UDP, "10.254.0.1", 53);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
	/* no IPv6 stub configured: its address is nothing special */
	cfg.flags &= ~WARD_CFG_DNS6;
	r = decide(&with_policy, WARD_IPPROTO_UDP, "fd77::1", 53);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROXY_PORT);
}

/* The same request written as IPv4 and as IPv4-mapped IPv6 decides the same. */
static void mapped_ipv6_is_ipv4(void **state)
{
	static const struct {
		const struct ward_ident_val *id;
		int proto;
		const char *v4;
		uint16_t port;
	} cases[] = {
		{ NULL, WARD_IPPROTO_TCP, "93.184.216.34", 443 },
		{ NULL, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT },
		{ NULL, WARD_IPPROTO_TCP, "127.0.0.1", 8080 },
		{ &with_policy, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT },
		{ &with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 443 },
		{ &with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 80 },
		{ &with_policy, WARD_IPPROTO_UDP, "10.254.0.1", 53 },
		{ &with_policy, WARD_IPPROTO_UDP, "8.8.8.8", 53 },
		{ &with_policy, WARD_IPPROTO_TCP, "10.254.0.1", TRANSPARENT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char mapped[64];
		struct ward_result a, b;

		snprintf(mapped, sizeof(mapped), "::ffff:%s", cases[i].v4);
		a = decide(cases[i].id, cases[i].proto, cases[i].v4, cases[i].port);
		b = decide(cases[i].id, cases[i].proto, mapped, cases[i].port);
		assert_int_equal(a.verdict, b.verdict);
		assert_int_equal(a.reason, b.reason);
		assert_int_equal(a.port, b.port);
		assert_memory_equal(&a.dst, &b.dst, 16);
	}
	/* a mapped destination goes to the IPv4 proxy even without an IPv6 proxy */
	cfg.flags &= ~WARD_CFG_PROXY6;
	struct ward_result r = decide(&with_policy, WARD_IPPROTO_TCP, "::ffff:93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "2606:2800:220:1::1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_PROXY6);
	/* and the IPv6 proxy address is then nobody's proxy: an ordinary destination */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "fd77::1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PORT);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "fd77::1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_PROXY6);
}

static void loopback_is_allowed_for_everyone(void **state)
{
	const char *lo[] = { "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::" };
	const char *not_lo[] = { "128.0.0.1", "126.255.255.255", "::2", "fe80::1",
				 "::ffff:1.2.3.4" };
	struct ward_result r;

	for (size_t i = 0; i < sizeof(lo) / sizeof(lo[0]); i++) {
		r = decide(NULL, WARD_IPPROTO_TCP, lo[i], 22);
		assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
		assert_int_equal(r.record, 0);
		r = decide(NULL, WARD_IPPROTO_UDP, lo[i], 5353);
		assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
		r = decide(&with_policy, WARD_IPPROTO_TCP, lo[i], 22);
		assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
		/* any protocol on loopback */
		r = decide(NULL, 1, lo[i], 0);
		assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	}
	for (size_t i = 0; i < sizeof(not_lo) / sizeof(not_lo[0]); i++) {
		r = decide(NULL, WARD_IPPROTO_TCP, not_lo[i], 22);
		assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	}
	/* a proxy on a loopback address still refuses binaries without policy */
	addr(&cfg.proxy4, "127.0.0.1");
	r = decide(NULL, WARD_IPPROTO_TCP, "127.0.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
}

static void other_protocols_are_denied(void **state)
{
	struct ward_result r = decide(&with_policy, 1 /* ICMP */, "93.184.216.34", 0);

	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROTOCOL);
	r = decide(&with_policy, 132 /* SCTP */, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROTOCOL);
}

/* resolv.conf's 127.0.0.53:53 goes to the stub for binaries that may ask it */
static void resolv_conf_address_goes_to_the_stub(void **state)
{
	const char *stub[] = { "127.0.0.53", "::ffff:127.0.0.53" };
	struct ward_result r;

	for (size_t i = 0; i < 2; i++) {
		r = decide(&with_policy, WARD_IPPROTO_UDP, stub[i], 53);
		assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
		assert_int_equal(r.record, 1);
		assert_int_equal(r.port, 53);
		assert_memory_equal(&r.dst, &cfg.dns4, sizeof(r.dst));
		r = decide(&with_policy, WARD_IPPROTO_TCP, stub[i], 53);
		assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
		assert_memory_equal(&r.dst, &cfg.dns4, sizeof(r.dst));
		/* no network policy: cannot even ask */
		r = decide(NULL, WARD_IPPROTO_UDP, stub[i], 53);
		assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
		/* inference.binaries lists it: it may ask (for inference.local) */
		r = decide(&inference_only, WARD_IPPROTO_UDP, stub[i], 53);
		assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
	}
	/* a custom stub port */
	cfg.dns_port = 5300;
	r = decide(&with_policy, WARD_IPPROTO_UDP, "127.0.0.53", 53);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
	assert_int_equal(r.port, 5300);
	cfg.dns_port = 53;
	/* inference routes: everyone may ask (the stub answers inference.local) */
	cfg.flags |= WARD_CFG_INFERENCE_ALL;
	r = decide(NULL, WARD_IPPROTO_UDP, "127.0.0.53", 53);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
	cfg.flags &= ~WARD_CFG_INFERENCE_ALL;
	/* every other loopback destination stays the sandbox's own */
	r = decide(NULL, WARD_IPPROTO_UDP, "127.0.0.53", 5353);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	r = decide(NULL, WARD_IPPROTO_UDP, "127.0.0.1", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	r = decide(NULL, WARD_IPPROTO_UDP, "::1", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	/* other protocols to it are loopback too (nothing listens there) */
	r = decide(NULL, 1, "127.0.0.53", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
}

static void inference_routes_open_the_proxy(void **state)
{
	struct ward_result r;

	/* routes, no inference.binaries: every binary may reach the explicit port */
	cfg.flags |= WARD_CFG_INFERENCE_ALL;
	r = decide(NULL, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_INFERENCE);
	assert_int_equal(r.record, 1);
	assert_int_equal(r.conn_flags, WARD_CONN_INFERENCE);
	/* ...and its name lookups, but nothing else */
	r = decide(NULL, WARD_IPPROTO_UDP, "10.254.0.1", 53);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB);
	r = decide(NULL, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	r = decide(NULL, WARD_IPPROTO_TCP, "10.254.0.1", TRANSPARENT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	/* a binary with network policy stays PROXY_EXPLICIT */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT);

	/* inference.binaries narrows it to the marked identities */
	cfg.flags &= ~WARD_CFG_INFERENCE_ALL;
	r = decide(NULL, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	r = decide(&inference_only, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_INFERENCE);
	r = decide(&inference_only, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
}

static void add_cidr(uint32_t entry, const char *a, uint32_t prefix)
{
	struct ward_addr wa;

	addr(&wa, a);
	if (strchr(a, ':') == NULL)
		prefix += 96;
	ward_cidr_key_make(&cidr_set[n_cidr_set++], entry, &wa, prefix);
}

static void allowed_ips_mark_the_connection(void **state)
{
	struct ward_cidr_key k;
	struct ward_addr a;
	struct ward_result r;

	addr(&a, "10.0.0.0");
	ward_cidr_key_make(&k, 7, &a, 96 + 8);
	assert_int_equal(k.prefixlen, 32 + 96 + 8);
	assert_int_equal(k.entry, htonl(7));
	assert_memory_equal(k.addr, a.w, 16);

	add_cidr(0, "10.0.0.0", 8);
	add_cidr(0, "fd00::", 8);
	add_cidr(1, "192.168.0.0", 16);

	r = decide(&with_policy, WARD_IPPROTO_TCP, "10.1.2.3", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_ALLOWED_IP);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "::ffff:10.1.2.3", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_ALLOWED_IP);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "fd12::5", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_ALLOWED_IP);
	r = decide(&with_policy, WARD_IPPROTO_TCP, "11.1.2.3", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
	/* another entry's CIDR is not ours */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "192.168.1.1", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
	r = decide(&other_policy, WARD_IPPROTO_TCP, "192.168.1.1", 22);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_ALLOWED_IP);
	r = decide(&other_policy, WARD_IPPROTO_TCP, "10.1.2.3", 22);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
	/* an IPv4 /8 does not cover IPv6 addresses that share its leading bits */
	r = decide(&with_policy, WARD_IPPROTO_TCP, "a00::1", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
}

/* ---- host mode (ward_kdecide_host) ---- */

#define HPROXY 3229
#define HDNS 3253

static int hv6 = 1; /* the daemon listens on ::1 too */

static struct ward_result hdecide(const struct ward_ident_val *id, int proto, const char *dst,
				  uint16_t port)
{
	struct ward_req req = { .port = port, .proto = (uint8_t)proto };
	struct ward_result r;
	int v;

	addr(&req.dst, dst);
	memset(&r, 0xaa, sizeof(r));
	v = ward_kdecide_host(&cfg, NULL, &req, id, HPROXY, HDNS, hv6, &r);
	assert_int_equal(v, r.verdict);
	return r;
}

static void assert_dst(const struct ward_result *r, const char *a, uint16_t port)
{
	struct ward_addr want;

	addr(&want, a);
	assert_memory_equal(r->dst.w, want.w, 16);
	assert_int_equal(r->port, port);
}

static void host_no_rule_is_refused(void **state)
{
	struct ward_result r;

	cfg.flags = WARD_CFG_HOST;
	r = hdecide(NULL, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	assert_dst(&r, "93.184.216.34", 443);
	assert_int_equal(r.record, 0);
	r = hdecide(&inference_only, WARD_IPPROTO_UDP, "8.8.8.8", 53);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	r = hdecide(NULL, WARD_IPPROTO_TCP, "2001:db8::1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
	/* the host's own services stay reachable */
	r = hdecide(NULL, WARD_IPPROTO_TCP, "127.0.0.1", 5432);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	r = hdecide(NULL, WARD_IPPROTO_TCP, "::1", 5432);
	assert_verdict(r, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK);
	/* audit: what would be refused passes, said so */
	cfg.flags = WARD_CFG_HOST | WARD_CFG_AUDIT;
	r = hdecide(NULL, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_NO_POLICY);
	assert_dst(&r, "93.184.216.34", 443);
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 80);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_PORT);
}

static void host_rule_goes_to_the_proxy(void **state)
{
	struct ward_result r;

	cfg.flags = WARD_CFG_HOST;
	add_cidr(0, "10.0.0.0", 8);
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	assert_dst(&r, "127.0.0.1", HPROXY);
	assert_int_equal(r.record, 1);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "10.1.2.3", 443);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED | WARD_CONN_ALLOWED_IP);
	/* ports narrowed per binary */
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "93.184.216.34", 22);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PORT);
	/* not the sandbox's proxy port rule: the host has no explicit proxy */
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "10.254.0.1", EXPLICIT);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PORT);
	r = hdecide(&with_policy, WARD_IPPROTO_UDP, "93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_UDP);
	r = hdecide(&with_policy, 1, "93.184.216.34", 0);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PROTOCOL);
	/* native IPv6 to the proxy's ::1 listener, mapped IPv4 to 127.0.0.1 */
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "2001:db8::1", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	assert_dst(&r, "::1", HPROXY);
	assert_int_equal(r.record, 1);
	assert_int_equal(r.conn_flags, WARD_CONN_REDIRECTED);
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "::ffff:93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	assert_dst(&r, "127.0.0.1", HPROXY);
	/* ports narrowed per binary for IPv6 as well */
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "2001:db8::1", 22);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_PORT);
	r = hdecide(&with_policy, WARD_IPPROTO_UDP, "2001:db8::1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_UDP);
	/* no listeners on ::1 (a namespace without IPv6): refused, IPv4 unchanged */
	hv6 = 0;
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "2001:db8::1", 443);
	assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_PROXY6);
	assert_dst(&r, "2001:db8::1", 443);
	assert_int_equal(r.record, 0);
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "::ffff:93.184.216.34", 443);
	assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	cfg.flags = WARD_CFG_HOST | WARD_CFG_AUDIT;
	r = hdecide(&with_policy, WARD_IPPROTO_TCP, "2001:db8::1", 443);
	assert_verdict(r, WARD_VERDICT_AUDIT, WARD_REASON_NO_PROXY6);
	hv6 = 1;
}

static void host_dns_to_any_resolver_goes_to_the_stub(void **state)
{
	static const char *const resolvers[] = {
		"8.8.8.8", "127.0.0.53",     "::ffff:1.1.1.1", "2001:4860:4860::8888",
		"::1",	   "fd00:213:34::53"
	};
	struct ward_result r;

	cfg.flags = WARD_CFG_HOST;
	for (size_t i = 0; i < sizeof(resolvers) / sizeof(resolvers[0]); i++) {
		/* IPv6 resolvers to the stub's ::1 sockets (a UDP sendmsg6
		 * cannot be rewritten to a mapped address) */
		const char *stub = strchr(resolvers[i], '.') ? "127.0.0.1" : "::1";

		r = hdecide(&with_policy, WARD_IPPROTO_UDP, resolvers[i], 53);
		assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
		assert_dst(&r, stub, HDNS);
		assert_int_equal(r.record, 1);
		r = hdecide(&with_policy, WARD_IPPROTO_TCP, resolvers[i], 53);
		assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
		assert_dst(&r, stub, HDNS);
		/* no rule: no DNS, even to the local resolver */
		r = hdecide(NULL, WARD_IPPROTO_UDP, resolvers[i], 53);
		assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_POLICY);
		/* no ::1 listeners: IPv6 resolvers refused, IPv4 ones as before */
		hv6 = 0;
		r = hdecide(&with_policy, WARD_IPPROTO_UDP, resolvers[i], 53);
		if (strchr(resolvers[i], '.'))
			assert_verdict(r, WARD_VERDICT_REDIRECT, WARD_REASON_DNS_STUB);
		else
			assert_verdict(r, WARD_VERDICT_DENY, WARD_REASON_NO_PROXY6);
		hv6 = 1;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(no_policy_is_denied_everywhere, setup),
		cmocka_unit_test_setup(policy_reaches_explicit_proxy, setup),
		cmocka_unit_test_setup(direct_connection_is_redirected, setup),
		cmocka_unit_test_setup(ports_outside_the_entry_are_denied, setup),
		cmocka_unit_test_setup(learn_lets_refusals_through, setup),
		cmocka_unit_test_setup(udp_only_dns_to_the_stub, setup),
		cmocka_unit_test_setup(mapped_ipv6_is_ipv4, setup),
		cmocka_unit_test_setup(loopback_is_allowed_for_everyone, setup),
		cmocka_unit_test_setup(other_protocols_are_denied, setup),
		cmocka_unit_test_setup(inference_routes_open_the_proxy, setup),
		cmocka_unit_test_setup(resolv_conf_address_goes_to_the_stub, setup),
		cmocka_unit_test_setup(allowed_ips_mark_the_connection, setup),
		cmocka_unit_test_setup(host_no_rule_is_refused, setup),
		cmocka_unit_test_setup(host_rule_goes_to_the_proxy, setup),
		cmocka_unit_test_setup(host_dns_to_any_resolver_goes_to_the_stub, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
