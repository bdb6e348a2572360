// SPDX-License-Identifier: MIT
/* Client decisions (client.h): inference.local and DNS. The same matchers as
 * the network decision (ward_match_binary, ward_match_host, and the key list
 * of ward_decide_binary_in), so a name resolves if and only if the proxy
 * would let the binary reach it by name. */
#include "policy/client.h"

#include <string.h>

#include "policy/decide.h"
#include "policy/match.h"

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

struct ward_client ward_client_from_peer(const struct ward_peer_ident *id)
{
	return (struct ward_client){
		.binary = or_null(id->binary),
		.via = or_null(id->via),
		.sha256 = or_null(id->exe_sha),
		.keys = or_null(id->keys),
	};
}

enum ward_inference_scope ward_inference_scope(const struct ward_policy *p)
{
	if (!p->n_routes)
		return WARD_INFERENCE_NOBODY;
	return p->n_inference_binaries ? WARD_INFERENCE_LISTED : WARD_INFERENCE_EVERY_BINARY;
}

static bool admits(const struct ward_binary *b, const struct ward_client *who)
{
	if (b->sha256)
		return who->sha256 && !strcmp(b->sha256, who->sha256);
	return ward_match_binary(b->path, who->binary) ||
	       (b->ancestors && ward_match_binary(b->path, who->via));
}

enum ward_inference_verdict ward_decide_inference(const struct ward_policy *p,
						  const struct ward_client *who)
{
	switch (ward_inference_scope(p)) {
	case WARD_INFERENCE_NOBODY:
		return WARD_INFERENCE_NO_ROUTES;
	case WARD_INFERENCE_EVERY_BINARY:
		return WARD_INFERENCE_ALLOW;
	case WARD_INFERENCE_LISTED:
		break;
	}
	for (size_t i = 0; i < p->n_inference_binaries; i++)
		if (admits(&p->inference_binaries[i], who))
			return WARD_INFERENCE_ALLOW;
	return WARD_INFERENCE_NOT_LISTED;
}

const char *ward_inference_verdict_str(enum ward_inference_verdict v)
{
	switch (v) {
	case WARD_INFERENCE_NO_ROUTES:
		return "no inference routes";
	case WARD_INFERENCE_NOT_LISTED:
		return "binary may not use inference.local";
	case WARD_INFERENCE_ALLOW:
		break;
	}
	return "";
}

void ward_decide_dns(const struct ward_policy *p, const struct ward_client *who, const char *name,
		     struct ward_dns_verdict *ret)
{
	enum ward_inference_verdict iv;

	*ret = (struct ward_dns_verdict){
		.reason = "no policy entry of this binary allows the name"
	};
	if (!name || !name[0] || ward_host_is_ip(name)) {
		ret->reason = "not a host name";
		return;
	}
	if (!strcmp(name, WARD_INFERENCE_NAME)) {
		iv = ward_decide_inference(p, who);
		if (iv == WARD_INFERENCE_ALLOW) {
			ret->allow = true;
			ret->inference = true;
			ret->rule = "inference";
			ret->reason = "inference route";
		} else {
			ret->reason = ward_inference_verdict_str(iv);
		}
		return;
	}
	if (!who->keys) {
		ret->reason = "binary has no network policy";
		return;
	}
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];

		if (!ward_decide_binary_in(np, NULL, who->keys))
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
