/* SPDX-License-Identifier: MIT */
/* SSRF rules for every address a name resolves to (DESIGN.md layer 6):
 * loopback, link-local, unspecified, multicast, broadcast, reserved and cloud
 * metadata addresses are always blocked; private ranges (RFC 1918, CGNAT,
 * ULA, 0.0.0.0/8, ...) only for exact declared hosts or addresses inside the
 * endpoint's allowed_ips. IPv4 embedded in IPv6 (mapped ::ffff:a.b.c.d,
 * compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged as the
 * IPv4 address it carries, so no spelling of 127.0.0.1 gets through. Pure. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "policy/model.h"

enum ward_ip_class {
	WARD_IP_PUBLIC = 0,
	WARD_IP_PRIVATE, /* allowed for exact hosts and allowed_ips */
	WARD_IP_BLOCKED, /* never */
};

/* Classify; *ret_what (may be NULL) names the range ("loopback", "cloud metadata", ...). */
enum ward_ip_class ward_ssrf_classify(const struct sockaddr *sa, const char **ret_what);

/* Whether the address is inside one of the endpoint's allowed_ips. */
bool ward_ssrf_in_allowed_ips(const struct ward_endpoint *ep, const struct sockaddr *sa);

/* 0 when ward may connect to sa for this endpoint; -EACCES otherwise with a
 * reason in why ("ssrf: 127.0.0.1 is loopback"). allow_private: the endpoint's
 * host is exact (ward_verdict.allow_private). ep may be NULL (no allowed_ips). */
int ward_ssrf_check(const struct sockaddr *sa, bool allow_private, const struct ward_endpoint *ep,
		    char *why, size_t whysz);

/* Names that are cloud metadata services whatever they resolve to. */
bool ward_ssrf_name_blocked(const char *host);
