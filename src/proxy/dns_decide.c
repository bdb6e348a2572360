// SPDX-License-Identifier: MIT
/* Which names a binary may resolve: exactly the host patterns of the network
 * policies the kernel matched it to, plus inference.local. The same matcher
 * as the proxy's (ward_match_host), so a name resolves if and only if the
 * proxy would let the binary reach it by name. */
#include "proxy/dns.h"

#include <string.h>

#include "policy/match.h"

#define INFERENCE_HOST "inference.local"

/* key is one element of the comma-separated list rules */
static bool has_key(const char *rules, const char *key)
{
	size_t n = strlen(key);

	for (const char *r = rules; r && *r;) {
		size_t len = strcspn(r, ",");

		if (len == n && !strncmp(r, key, n))
			return true;
		r += len;
		if (*r == ',')
			r++;
	}
	return false;
}

void ward_dns_decide(const struct ward_policy *p, const char *rules, bool inference,
		     const char *name, struct ward_dns_verdict *ret)
{
	*ret = (struct ward_dns_verdict){ .reason = "no policy entry of this binary allows the name" };

	if (!name[0] || ward_host_is_ip(name)) {
		ret->reason = "not a host name";
		return;
	}
	if (!strcmp(name, INFERENCE_HOST)) {
		if (inference && p->n_routes) {
			ret->allow = true;
			ret->inference = true;
			ret->rule = "inference";
			ret->reason = "inference route";
		} else {
			ret->reason = p->n_routes ? "binary may not use inference.local"
						  : "no inference routes";
		}
		return;
	}
	if (!rules) {
		ret->reason = "binary has no network policy";
		return;
	}
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];

		if (!has_key(rules, np->key))
			continue;
		for (size_t j = 0; j < np->n_endpoints; j++)
			if (np->endpoints[j].host && ward_match_host(np->endpoints[j].host, name)) {
				ret->allow = true;
				ret->rule = np->key;
				ret->reason = "host allowed";
				return;
			}
	}
}
