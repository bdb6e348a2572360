// SPDX-License-Identifier: MIT
/* The network decision (decide.h). Policies are walked in key order and
 * endpoints in file order; the first endpoint that lets the request through
 * decides, so the verdict is deterministic for explain and replay. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/decide.h"
#include "policy/match.h"

const char *ward_action_str(enum ward_action a)
{
	switch (a) {
	case WARD_ACTION_ALLOW:
		return "allow";
	case WARD_ACTION_AUDIT:
		return "audit";
	case WARD_ACTION_DENY:
		break;
	}
	return "deny";
}

const char *ward_failed_str(enum ward_failed f)
{
	switch (f) {
	case WARD_FAILED_BINARY:
		return "binary";
	case WARD_FAILED_HOST:
		return "host";
	case WARD_FAILED_PORT:
		return "port";
	case WARD_FAILED_METHOD:
		return "method";
	case WARD_FAILED_PATH:
		return "path";
	case WARD_FAILED_NONE:
		break;
	}
	return "";
}

bool ward_access_allows(enum ward_access a, const char *method)
{
	static const char *const ro[] = { "GET", "HEAD", "OPTIONS", NULL };
	static const char *const rw[] = { "POST", "PUT", "PATCH", "DELETE", NULL };

	if (!method)
		return false;
	switch (a) {
	case WARD_ACCESS_FULL:
		return true;
	case WARD_ACCESS_READ_WRITE:
		for (size_t i = 0; rw[i]; i++)
			if (!strcmp(method, rw[i]))
				return true;
		/* fallthrough */
	case WARD_ACCESS_READ_ONLY:
		for (size_t i = 0; ro[i]; i++)
			if (!strcmp(method, ro[i]))
				return true;
		return false;
	case WARD_ACCESS_NONE:
		break;
	}
	return false;
}

static const char *access_str(enum ward_access a)
{
	switch (a) {
	case WARD_ACCESS_READ_ONLY:
		return "read-only (GET, HEAD, OPTIONS)";
	case WARD_ACCESS_READ_WRITE:
		return "read-write (GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE)";
	case WARD_ACCESS_FULL:
		return "full";
	case WARD_ACCESS_NONE:
		break;
	}
	return "none";
}

bool ward_decide_binary_in(const struct ward_net_policy *np, const char *binary, const char *keys)
{
	if (keys) {
		size_t klen = strlen(np->key);

		for (const char *s = keys; *s;) {
			const char *e = strchr(s, ',');
			size_t n = e ? (size_t)(e - s) : strlen(s);

			if (n == klen && !memcmp(s, np->key, n))
				return true;
			if (!e)
				break;
			s = e + 1;
		}
		return false;
	}
	if (!binary)
		return false;
	for (size_t k = 0; k < np->n_binaries; k++)
		if (ward_match_binary(np->binaries[k].path, binary))
			return true;
	return false;
}

const struct ward_net_policy *ward_decide_unix(const struct ward_policy *p, const char *binary,
					       const char *keys, const char *path)
{
	for (size_t i = 0; path && i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];

		for (size_t u = 0; u < np->n_unix_sockets; u++)
			if (!strcmp(np->unix_sockets[u].path, path) &&
			    ward_decide_binary_in(np, binary, keys))
				return np;
	}
	return NULL;
}

static bool cidr_has(const struct ward_cidr *c, const uint8_t *addr, int family)
{
	unsigned bits = c->prefix, i;

	if (c->family != family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (c->addr[i] != addr[i])
			return false;
	if (bits && ((c->addr[i] ^ addr[i]) & (uint8_t)(0xff << (8 - bits))))
		return false;
	return true;
}

static bool ip_in_allowed(const struct ward_endpoint *ep, const char *host)
{
	uint8_t a[16];
	int family;

	if (inet_pton(AF_INET, host, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, host, a) == 1)
		family = AF_INET6;
	else
		return false;
	for (size_t i = 0; i < ep->n_allowed_ips; i++)
		if (cidr_has(&ep->allowed_ips[i], a, family))
			return true;
	return false;
}

static bool host_matches(const struct ward_endpoint *ep, const struct ward_request *req)
{
	if (!req->host)
		return false;
	if (ward_match_host(ep->host, req->host))
		return true;
	return req->host_is_dest_ip && ip_in_allowed(ep, req->host);
}

static bool port_in(const struct ward_endpoint *ep, uint16_t port)
{
	for (size_t i = 0; i < ep->n_ports; i++)
		if (ep->ports[i] == port)
			return true;
	return false;
}

static void ports_str(const struct ward_endpoint *ep, char *buf, size_t sz)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ep->n_ports && off < sz; i++) {
		int n = snprintf(buf + off, sz - off, "%s%u", i ? ", " : "", ep->ports[i]);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

__attribute__((format(printf, 3, 4))) static void text(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}

#define TEXT(field, ...) text(field, sizeof(field), __VA_ARGS__)

static bool rule_matches(const struct ward_l7_rule *r, const struct ward_request *req,
			 bool *ret_path_ok)
{
	bool path_ok = req->path && ward_match_path(r->path, req->path) &&
		       ward_match_query(r->query, r->n_query, req->query ? req->query : "",
					req->query ? strlen(req->query) : 0);

	if (ret_path_ok)
		*ret_path_ok = path_ok;
	return path_ok && ward_match_method(r->method, req->method);
}

/* L7 rules of one endpoint: true when allowed; else *v's failed/rule/why are set. */
static bool l7_allows(const struct ward_endpoint *ep, const struct ward_request *req,
		      struct ward_net_verdict *v)
{
	const struct ward_l7_rule *method_only = NULL;

	for (size_t i = 0; i < ep->n_deny_rules; i++) {
		const struct ward_l7_rule *d = &ep->deny_rules[i];

		if (!rule_matches(d, req, NULL))
			continue;
		v->rule = d;
		v->rule_is_deny = true;
		/* a deny rule over every path is about the method */
		v->failed = !strcmp(d->path, "/**") ? WARD_FAILED_METHOD : WARD_FAILED_PATH;
		TEXT(v->why, "deny rule { method: %s, path: %s } (line %u) matches %s %s",
		     d->method, d->path, d->pos.line, req->method, req->path ? req->path : "?");
		return false;
	}
	if (ward_access_allows(ep->access, req->method))
		return true;
	for (size_t i = 0; i < ep->n_rules; i++) {
		bool path_ok;

		if (rule_matches(&ep->rules[i], req, &path_ok)) {
			v->rule = &ep->rules[i];
			return true;
		}
		if (path_ok && !method_only)
			method_only = &ep->rules[i];
	}
	if (ep->access != WARD_ACCESS_NONE) {
		v->failed = WARD_FAILED_METHOD;
		TEXT(v->why, "access %s does not allow %s", access_str(ep->access), req->method);
	} else if (method_only) {
		v->failed = WARD_FAILED_METHOD;
		v->rule = method_only;
		TEXT(v->why, "rule { method: %s, path: %s } (line %u) matches the path, not %s",
		     method_only->method, method_only->path, method_only->pos.line, req->method);
	} else if (ep->n_rules == 0) {
		v->failed = WARD_FAILED_PATH;
		TEXT(v->why, "endpoint %s has neither access nor rules: every request is denied",
		     ep->host);
	} else {
		v->failed = WARD_FAILED_PATH;
		TEXT(v->why, "no rule of endpoint %s allows path %s", ep->host,
		     req->path ? req->path : "(invalid)");
	}
	return false;
}

static void set_endpoint(struct ward_net_verdict *v, const struct ward_policy *p, size_t i,
			 size_t j)
{
	const struct ward_endpoint *ep = &p->net[i].endpoints[j];

	v->policy = &p->net[i];
	v->policy_index = i;
	v->endpoint = ep;
	v->endpoint_index = j;
	v->inspect = ep->protocol == WARD_PROTO_REST;
	v->allow_private = strchr(ep->host, '*') == NULL;
	TEXT(v->rule_name, "%s", p->net[i].key);
}

struct miss {
	bool set;
	size_t i, j;
};

static void deny_l4(const struct ward_policy *p, const struct ward_request *req,
		    struct ward_net_verdict *v, bool any_bin, size_t first_bin,
		    struct miss port_miss, struct miss other_bin)
{
	const char *bin = req->binary ? req->binary : "(unknown)";
	const char *host = req->host ? req->host : "(none)";
	char ports[96];

	if (!any_bin) {
		v->failed = WARD_FAILED_BINARY;
		if (!req->binary && !req->binary_keys)
			TEXT(v->reason, "binary unknown: no kernel identity for this connection");
		else
			TEXT(v->reason, "binary %s is in no network policy", bin);
		if (other_bin.set) {
			const struct ward_net_policy *np = &p->net[other_bin.i];

			v->closest = np;
			TEXT(v->why, "policy %s allows %s:%u, but its binaries do not include %s",
			     np->key, host, req->port, bin);
			TEXT(v->hint, "add { path: %s } to network_policies.%s.binaries", bin,
			     np->key);
		} else {
			TEXT(v->hint, "add a network policy with binaries [%s] and endpoint %s:%u",
			     bin, host, req->port);
		}
	} else if (port_miss.set) {
		const struct ward_net_policy *np = &p->net[port_miss.i];
		const struct ward_endpoint *ep = &np->endpoints[port_miss.j];

		v->failed = WARD_FAILED_PORT;
		v->closest = np;
		ports_str(ep, ports, sizeof(ports));
		TEXT(v->reason, "port %u not allowed for host %s", req->port, host);
		TEXT(v->why, "endpoint %s (line %u) allows port %s, not %u", ep->host, ep->pos.line,
		     ports, req->port);
		TEXT(v->hint, "add port %u to the endpoint %s of network_policies.%s", req->port,
		     ep->host, np->key);
	} else {
		v->failed = WARD_FAILED_HOST;
		TEXT(v->reason, "host %s not allowed for binary %s", host, bin);
		if (other_bin.set) {
			const struct ward_net_policy *np = &p->net[other_bin.i];

			v->closest = np;
			TEXT(v->why, "policy %s allows %s:%u only for its own binaries", np->key,
			     host, req->port);
			TEXT(v->hint, "add { path: %s } to network_policies.%s.binaries", bin,
			     np->key);
		} else {
			const struct ward_net_policy *np = &p->net[first_bin];

			v->closest = np;
			TEXT(v->why, "no endpoint of policy %s matches host %s", np->key, host);
			TEXT(v->hint, "add { host: %s, port: %u } to network_policies.%s.endpoints",
			     host, req->port, np->key);
		}
	}
	if (v->closest)
		TEXT(v->rule_name, "%s", v->closest->key);
}

void ward_decide(const struct ward_policy *p, const struct ward_request *req,
		 struct ward_net_verdict *v)
{
	struct miss port_miss = { 0 }, other_bin = { 0 }, denied = { 0 }, audited = { 0 };
	struct miss same_port = { 0 };
	struct ward_net_verdict first_denial = { 0 };
	bool any_bin = false, known = req->binary || req->binary_keys;
	size_t first_bin = 0;

	memset(v, 0, sizeof(*v));
	v->action = WARD_ACTION_DENY;
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];
		bool bin = known && ward_decide_binary_in(np, req->binary, req->binary_keys);

		if (bin && !any_bin) {
			any_bin = true;
			first_bin = i;
		}
		for (size_t j = 0; j < np->n_endpoints; j++) {
			const struct ward_endpoint *ep = &np->endpoints[j];
			struct ward_net_verdict t;

			if (!host_matches(ep, req)) {
				/* closest for a host denial: the binary's policy on this port */
				if (bin && !same_port.set && port_in(ep, req->port))
					same_port = (struct miss){ true, i, j };
				continue;
			}
			if (!port_in(ep, req->port)) {
				if (bin && !port_miss.set)
					port_miss = (struct miss){ true, i, j };
				continue;
			}
			if (!bin) {
				if (!other_bin.set)
					other_bin = (struct miss){ true, i, j };
				continue;
			}
			/* a candidate: binary, host and port match */
			if (!req->method || ep->protocol != WARD_PROTO_REST) {
				set_endpoint(v, p, i, j);
				v->action = WARD_ACTION_ALLOW;
				TEXT(v->reason, "allowed by %s", np->key);
				return;
			}
			memset(&t, 0, sizeof(t));
			if (l7_allows(ep, req, &t)) {
				set_endpoint(v, p, i, j);
				v->action = WARD_ACTION_ALLOW;
				v->rule = t.rule;
				TEXT(v->reason, "allowed by %s", np->key);
				return;
			}
			if (!denied.set) {
				denied = (struct miss){ true, i, j };
				first_denial = t;
			}
			if (!audited.set && ep->enforcement == WARD_AUDIT)
				audited = (struct miss){ true, i, j };
		}
	}
	if (!denied.set) {
		deny_l4(p, req, v, any_bin, same_port.set ? same_port.i : first_bin, port_miss,
			other_bin);
		return;
	}

	/* L7 denial: enforcement audit on a matching endpoint turns it into an audit */
	{
		struct miss use = audited.set ? audited : denied;
		const struct ward_endpoint *ep = &p->net[use.i].endpoints[use.j];

		set_endpoint(v, p, use.i, use.j);
		v->closest = v->policy;
		if (audited.set && (audited.i != denied.i || audited.j != denied.j)) {
			struct ward_net_verdict t;

			memset(&t, 0, sizeof(t));
			l7_allows(ep, req, &t);
			first_denial = t;
		}
		v->failed = first_denial.failed;
		v->rule = first_denial.rule;
		v->rule_is_deny = first_denial.rule_is_deny;
		memcpy(v->why, first_denial.why, sizeof(v->why));
		v->action = audited.set ? WARD_ACTION_AUDIT : WARD_ACTION_DENY;
		TEXT(v->reason, "%s%s %s not allowed on %s", audited.set ? "audit: " : "",
		     req->method, req->path ? req->path : "(invalid path)", ep->host);
		if (v->rule_is_deny)
			TEXT(v->hint, "remove the deny rule at line %u of network_policies.%s",
			     v->rule->pos.line, v->policy->key);
		else
			TEXT(v->hint,
			     "add { allow: { method: %s, path: \"%s\" } } to the rules of endpoint "
			     "%s in network_policies.%s",
			     req->method, req->path ? req->path : "/", ep->host, v->policy->key);
	}
}
