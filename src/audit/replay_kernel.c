// SPDX-License-Identifier: MIT
/* Kernel rows replayed through the BPF programs' own decision function
 * (bpf/egress_decide.h, compiled here on the host as the unit tests do).
 * What the kernel looked up in maps is rebuilt from the policy: the
 * identity (the network policies whose binaries match the row's binary and
 * whether it may use inference) and the ports of those policies' endpoints.
 * The proxy and DNS addresses are not in the row; the row's own reason says
 * whether its destination was one of them, and the configuration is built so
 * that it was. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/replay_internal.h"
#include "policy/client.h"
#include "policy/decide.h"
#include "policy/match.h"
#include "../../bpf/egress_decide.h"

const char *replay_kernel_reason_str(unsigned reason)
{
	return ward_reason_str(reason);
}

static unsigned reason_of(const char *s)
{
	for (unsigned i = 1; s && i < WARD_REASON_MAX; i++)
		if (strcmp(ward_reason_str(i), "unknown") && !strcmp(ward_reason_str(i), s))
			return i;
	return 0;
}

/* The "maps" of one decision, as values built before the call and handed
 * through ward_kdecide() to the lookups: the only identity is the row's
 * binary (entry 0), and its port table holds the row's port when the
 * identity's policies have an endpoint on it. Any other port is not in the
 * table (denied). */
struct ward_kmaps {
	__u16 port;
	bool port_ok;
};

static __always_inline int ward_port_allowed(const struct ward_kmaps *m, __u32 entry, __u16 port)
{
	(void)entry;
	return m->port_ok && port == m->port;
}

/* Only sets a connection flag for the proxy (allowed_ips); never the verdict. */
static __always_inline int ward_ip_allowed(const struct ward_kmaps *m, __u32 entry,
					   const struct ward_addr *a)
{
	(void)m;
	(void)entry;
	(void)a;
	return 0;
}

/* Whether an endpoint of a network policy that names binary has port. */
static bool port_in_policies(const struct ward_policy *p, const char *binary, uint16_t port)
{
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];

		if (!ward_decide_binary_in(np, binary, NULL))
			continue;
		for (size_t j = 0; j < np->n_endpoints; j++)
			for (size_t m = 0; m < np->endpoints[j].n_ports; m++)
				if (np->endpoints[j].ports[m] == port)
					return true;
	}
	return false;
}

static int parse_addr(const char *s, struct ward_addr *a)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		ward_addr_from4(a, v4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->w) == 1)
		return 0;
	return -1;
}

static int parse_proto(const char *s)
{
	char *end;
	long v;

	if (!s)
		return -1;
	if (!strcmp(s, "tcp"))
		return WARD_IPPROTO_TCP;
	if (!strcmp(s, "udp"))
		return WARD_IPPROTO_UDP;
	v = strtol(s, &end, 10);
	return *end || end == s || v < 0 || v > 255 ? -1 : (int)v;
}

static void set_addr(volatile struct ward_addr *dst, const struct ward_addr *src)
{
	for (int i = 0; i < 4; i++)
		dst->w[i] = src->w[i];
}

int replay_kernel_decide(const struct ward_policy *p, const struct ward_audit_row *r,
			 struct ward_replay_decision *ret)
{
	struct ward_cfg cfg = { 0 };
	struct ward_req req = { 0 };
	struct ward_result res = { 0 };
	struct ward_ident_val id = { .entry = WARD_ENTRY_NONE };
	struct ward_addr none4, none6 = { { ward_htonl(0xfc000000), 0, 0, ward_htonl(0xfffe) } };
	const char *bin = ward_replay_decider(p, r);
	struct ward_client who = ward_replay_client(p, r);
	struct ward_kmaps maps = { 0 };
	unsigned old = reason_of(r->reason);
	bool known = bin && bin[0] == '/', has_keys = false;
	int proto;

	if (!r->ip || !r->has_port || r->port <= 0 || r->port > 65535 ||
	    parse_addr(r->ip, &req.dst) < 0)
		goto missing;
	proto = parse_proto(r->protocol);
	if (proto < 0)
		goto missing;
	if (old == WARD_REASON_CONN_FULL) {
		ret->skip = "kernel: connection table full (not a policy decision)";
		return 1;
	}
	req.port = (__u16)r->port;
	req.proto = (__u8)proto;

	/* Addresses nothing is ever sent to stand for "not the proxy / stub". */
	ward_addr_from4(&none4, ward_htonl(0xffffffff));
	set_addr(&cfg.proxy4, &none4);
	set_addr(&cfg.dns4, &none4);
	set_addr(&cfg.proxy6, &none6);
	cfg.explicit_port = 1;
	cfg.transparent_port = 2;
	cfg.dns_port = 53;
	if (old != WARD_REASON_NO_PROXY6)
		cfg.flags |= WARD_CFG_PROXY6;
	switch (old) {
	case WARD_REASON_PROXY_EXPLICIT:
	case WARD_REASON_INFERENCE:
	case WARD_REASON_PROXY_PORT:
		if (ward_addr_is_mapped(&req.dst)) {
			set_addr(&cfg.proxy4, &req.dst);
		} else {
			set_addr(&cfg.proxy6, &req.dst);
			cfg.flags |= WARD_CFG_PROXY6;
		}
		cfg.explicit_port = old == WARD_REASON_PROXY_PORT
					    ? (req.port == 65535 ? 1 : req.port + 1)
					    : req.port;
		break;
	case WARD_REASON_DNS_STUB:
		if (!ward_is_stub(&req)) {
			set_addr(&cfg.dns4, &req.dst);
			cfg.dns_port = req.port;
		}
		break;
	default:
		break;
	}
	if (ward_inference_scope(p) == WARD_INFERENCE_EVERY_BINARY)
		cfg.flags |= WARD_CFG_INFERENCE_ALL;

	ret->rule[0] = '\0';
	if (known) {
		has_keys = ward_replay_binary_keys(p, bin, ret->rule, sizeof(ret->rule)) > 0;
		if (has_keys) {
			id.entry = 0;
			maps = (struct ward_kmaps){ .port = req.port,
						    .port_ok = port_in_policies(p, bin, req.port) };
		}
		if (ward_inference_scope(p) == WARD_INFERENCE_LISTED &&
		    ward_decide_inference(p, &who) == WARD_INFERENCE_ALLOW)
			id.flags |= WARD_IDENT_INFERENCE;
	}
	ward_kdecide(&cfg, 0, &maps, &req, known && (has_keys || id.flags) ? &id : NULL, &res);

	ret->action = res.verdict == WARD_VERDICT_DENY ? "deny" : "allow";
	if (!has_keys && res.reason == WARD_REASON_INFERENCE)
		snprintf(ret->rule, sizeof(ret->rule), "inference");
	snprintf(ret->reason, sizeof(ret->reason), "%s", replay_kernel_reason_str(res.reason));
	return 0;

missing:
	ret->skip = "kernel: missing or invalid ip, port or protocol";
	return 1;
}
