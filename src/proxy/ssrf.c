// SPDX-License-Identifier: MIT
/* SSRF address classes (ssrf.h). Tables rather than code: each range is one
 * line, and the order only matters between BLOCKED and PRIVATE entries that
 * overlap (169.254.169.254 and 100.100.100.200 sit inside wider ranges). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "proxy/ssrf.h"

struct range4 {
	uint32_t net;
	uint8_t prefix;
	enum ward_ip_class cls;
	const char *what;
};

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static const struct range4 ranges4[] = {
	/* blocked first: the exact metadata addresses inside wider ranges */
	{ V4(169, 254, 169, 254), 32, WARD_IP_BLOCKED, "cloud metadata" },
	{ V4(100, 100, 100, 200), 32, WARD_IP_BLOCKED, "cloud metadata" },
	{ V4(0, 0, 0, 0), 32, WARD_IP_BLOCKED, "unspecified" },
	{ V4(127, 0, 0, 0), 8, WARD_IP_BLOCKED, "loopback" },
	{ V4(169, 254, 0, 0), 16, WARD_IP_BLOCKED, "link-local" },
	{ V4(224, 0, 0, 0), 4, WARD_IP_BLOCKED, "multicast" },
	{ V4(255, 255, 255, 255), 32, WARD_IP_BLOCKED, "broadcast" },
	{ V4(240, 0, 0, 0), 4, WARD_IP_BLOCKED, "reserved" },
	{ V4(0, 0, 0, 0), 8, WARD_IP_PRIVATE, "this network (0.0.0.0/8)" },
	{ V4(10, 0, 0, 0), 8, WARD_IP_PRIVATE, "private (RFC 1918)" },
	{ V4(172, 16, 0, 0), 12, WARD_IP_PRIVATE, "private (RFC 1918)" },
	{ V4(192, 168, 0, 0), 16, WARD_IP_PRIVATE, "private (RFC 1918)" },
	{ V4(100, 64, 0, 0), 10, WARD_IP_PRIVATE, "shared address space (CGNAT)" },
	{ V4(192, 0, 0, 0), 24, WARD_IP_PRIVATE, "IETF protocol assignments" },
	{ V4(198, 18, 0, 0), 15, WARD_IP_PRIVATE, "benchmarking" },
	{ V4(192, 0, 2, 0), 24, WARD_IP_PRIVATE, "documentation" },
	{ V4(198, 51, 100, 0), 24, WARD_IP_PRIVATE, "documentation" },
	{ V4(203, 0, 113, 0), 24, WARD_IP_PRIVATE, "documentation" },
};

struct range6 {
	uint8_t net[16];
	uint8_t prefix;
	enum ward_ip_class cls;
	const char *what;
};

static const struct range6 ranges6[] = {
	{ { 0xfd, 0x00, 0x0e, 0xc2, [15] = 0x54, [14] = 0x02 },
	  128,
	  WARD_IP_BLOCKED,
	  "cloud metadata" },
	{ { [15] = 1 }, 128, WARD_IP_BLOCKED, "loopback" },
	{ { 0 }, 128, WARD_IP_BLOCKED, "unspecified" },
	{ { 0xfe, 0x80 }, 10, WARD_IP_BLOCKED, "link-local" },
	{ { 0xff }, 8, WARD_IP_BLOCKED, "multicast" },
	{ { 0x01, 0x00 }, 64, WARD_IP_BLOCKED, "discard-only" },
	{ { 0xfc }, 7, WARD_IP_PRIVATE, "unique local (ULA)" },
	{ { 0xfe, 0xc0 }, 10, WARD_IP_PRIVATE, "site-local" },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, WARD_IP_PRIVATE, "documentation" },
};

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned i;

	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != b[i])
			return false;
	return !bits || !((a[i] ^ b[i]) & (uint8_t)(0xff << (8 - bits)));
}

static enum ward_ip_class classify4(uint32_t a, const char **what)
{
	for (size_t i = 0; i < ARRAY_SIZE(ranges4); i++) {
		uint32_t mask = ranges4[i].prefix ? ~0u << (32 - ranges4[i].prefix) : 0;

		if ((a & mask) == ranges4[i].net) {
			*what = ranges4[i].what;
			return ranges4[i].cls;
		}
	}
	*what = "public";
	return WARD_IP_PUBLIC;
}

/* IPv4 carried inside an IPv6 address: mapped, compatible, NAT64, 6to4. */
static bool embedded4(const uint8_t *a, uint32_t *ret)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[12] = { 0 };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) ||
	    /* compatible ::a.b.c.d, but not :: and ::1 themselves */
	    (!memcmp(a, zero, 12) && (a[12] | a[13] | a[14]))) {
		*ret = V4(a[12], a[13], a[14], a[15]);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4 2002:AABB:CCDD::/48 */
		*ret = V4(a[2], a[3], a[4], a[5]);
		return true;
	}
	return false;
}

enum ward_ip_class ward_ssrf_classify(const struct sockaddr *sa, const char **ret_what)
{
	const char *what = "unknown address family";
	enum ward_ip_class cls = WARD_IP_BLOCKED;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		cls = classify4(ntohl(in->sin_addr.s_addr), &what);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		uint32_t v4;
		size_t i;

		if (embedded4(a, &v4)) {
			cls = classify4(v4, &what);
		} else {
			what = "public";
			cls = WARD_IP_PUBLIC;
			for (i = 0; i < ARRAY_SIZE(ranges6); i++)
				if (prefix_eq(a, ranges6[i].net, ranges6[i].prefix)) {
					what = ranges6[i].what;
					cls = ranges6[i].cls;
					break;
				}
		}
	}
	if (ret_what)
		*ret_what = what;
	return cls;
}

bool ward_ssrf_in_allowed_ips(const struct ward_endpoint *ep, const struct sockaddr *sa)
{
	uint8_t buf[16];
	const uint8_t *a;
	int family = sa->sa_family;
	uint32_t v4;

	if (!ep)
		return false;
	if (family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		/* a mapped address is its IPv4 address for allowed_ips too */
		if (embedded4(a, &v4) && a[10] == 0xff) {
			v4 = htonl(v4);
			memcpy(buf, &v4, 4);
			a = buf;
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < ep->n_allowed_ips; i++) {
		const struct ward_cidr *c = &ep->allowed_ips[i];

		if (c->family == family && prefix_eq(a, c->addr, c->prefix))
			return true;
	}
	return false;
}

static void addr_str(const struct sockaddr *sa, char *buf, size_t sz)
{
	const void *a = sa->sa_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

int ward_ssrf_check(const struct sockaddr *sa, bool allow_private, const struct ward_endpoint *ep,
		    char *why, size_t whysz)
{
	char ip[INET6_ADDRSTRLEN];
	const char *what;
	enum ward_ip_class cls = ward_ssrf_classify(sa, &what);

	switch (cls) {
	case WARD_IP_PUBLIC:
		return 0;
	case WARD_IP_PRIVATE:
		if (allow_private || ward_ssrf_in_allowed_ips(ep, sa))
			return 0;
		addr_str(sa, ip, sizeof(ip));
		snprintf(why, whysz,
			 "ssrf: %s is %s; private addresses need an exact host or allowed_ips", ip,
			 what);
		return -EACCES;
	case WARD_IP_BLOCKED:
		break;
	}
	addr_str(sa, ip, sizeof(ip));
	snprintf(why, whysz, "ssrf: %s is %s (always blocked)", ip, what);
	return -EACCES;
}

bool ward_ssrf_name_blocked(const char *host)
{
	static const char *const names[] = { "metadata.google.internal",
					     "metadata.goog",
					     "metadata",
					     "instance-data",
					     "instance-data.ec2.internal",
					     NULL };

	for (size_t i = 0; names[i]; i++)
		if (!strcasecmp(host, names[i]))
			return true;
	return false;
}
