// SPDX-License-Identifier: MIT
/* The request decision (request.h): the order is the proxy's contract. A
 * request inside an intercepted session must name the session's host (no
 * domain fronting); a binary that failed its integrity check is denied
 * whatever it asks; then inference (ward is the server); then the policy (ward_decide); then what
 * an allowed endpoint needs (interception for protocol: rest, or a refusal when it cannot be). */
#include <stdio.h>
#include <string.h>

#include "policy/client.h"
#include "policy/request.h"

/* Reasons are one-line texts in fixed buffers: cutting a long name short is fine. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static const char *layer_of(const struct ward_request_in *in)
{
	return in->kind == WARD_REQ_HTTP ? "l7" : "proxy";
}

static void row(struct ward_request_verdict *v, const char *action, const char *rule,
		const char *reason)
{
	v->row = true;
	v->action = action;
	v->rule = rule && *rule ? rule : NULL;
	snprintf(v->reason, sizeof(v->reason), "%s", reason ? reason : "");
}

static void deny(struct ward_request_verdict *v, const char *reason)
{
	const struct ward_net_verdict *n = &v->net;

	v->outcome = WARD_REQ_DENY;
	row(v, "deny", n->closest ? n->closest->key : (n->policy ? n->policy->key : NULL),
	    reason ? reason : n->reason);
}

/* Learning (in->learn, docs/learn.md): what the policy refuses goes through
 * as it is, tunneled or forwarded, with an "audit" row naming the rule that
 * would have refused it. Private addresses are allowed as for an exact host
 * (what `ward policy suggest` writes); SSRF's always-blocked ranges stay
 * blocked. */
static void learn_audit(struct ward_request_verdict *v, const char *reason)
{
	struct ward_net_verdict *n = &v->net;

	deny(v, reason);
	v->outcome = WARD_REQ_ALLOW;
	v->action = "audit";
	n->action = WARD_ACTION_AUDIT;
	n->inspect = false;
	n->allow_private = true;
}

bool ward_request_route_host(const struct ward_policy *p, const char *host)
{
	for (size_t i = 0; host && i < p->n_routes; i++)
		for (size_t k = 0; k < p->routes[i].n_hosts; k++)
			if (!strcmp(p->routes[i].hosts[k], host))
				return true;
	return false;
}

void ward_request_decide(const struct ward_policy *p, const struct ward_request_in *in,
			 struct ward_request_verdict *ret)
{
	const struct ward_request *req = &in->req;
	struct ward_net_verdict *n = &ret->net;
	bool local = req->host && !strcmp(req->host, WARD_INFERENCE_NAME);

	memset(ret, 0, sizeof(*ret));
	ret->layer = layer_of(in);
	if (in->kind == WARD_REQ_HTTP && in->tls_name &&
	    (strcmp(req->host, in->tls_name) || (in->host_port && in->host_port != req->port))) {
		/* the name was decided with the TLS session (CONNECT or SNI): a Host
		 * naming another origin would be domain fronting */
		ret->outcome = WARD_REQ_MISDIRECTED;
		ret->status = 421;
		ret->error = "misdirected_request";
		row(ret, "deny", in->tls_rule, NULL);
		snprintf(ret->reason, sizeof(ret->reason), "Host %s is not the TLS name %s",
			 req->host, in->tls_name);
		return;
	}
	if (in->tofu) {
		n->failed = WARD_FAILED_BINARY;
		snprintf(n->reason, sizeof(n->reason), "%s",
			 in->tofu_reason ? in->tofu_reason : "");
		if (in->kind != WARD_REQ_HTTP)
			snprintf(n->hint, sizeof(n->hint),
				 "verify %s; ward trusts the hash it saw first",
				 req->binary ? req->binary : "the binary");
		deny(ret, NULL);
		return;
	}
	if (in->kind == WARD_REQ_HTTP && (local || (in->inference && in->route_host))) {
		/* inference routes decide for themselves (the inference layer) */
		if (in->inference) {
			ret->outcome = WARD_REQ_INFERENCE;
			return;
		}
		ret->outcome = WARD_REQ_REFUSE;
		ret->status = 503;
		ret->error = "inference_unavailable";
		snprintf(ret->reason, sizeof(ret->reason), "inference routing is not configured");
		return;
	}
	if (in->kind == WARD_REQ_CONNECT && in->can_terminate &&
	    (local || (in->inference && in->route_host))) {
		/* https://inference.local or a route's provider host: ward is the
		 * server, the inference layer picks the upstream */
		ret->outcome = WARD_REQ_INFERENCE;
		row(ret, "allow", NULL,
		    "inference.local: TLS terminated by ward, routed by the inference layer");
		return;
	}
	ward_decide(p, req, n);
	if (n->action == WARD_ACTION_DENY) {
		if (in->learn)
			learn_audit(ret, NULL);
		else
			deny(ret, NULL);
		return;
	}
	if (in->kind != WARD_REQ_HTTP && n->inspect) {
		if (in->can_intercept && in->kind != WARD_REQ_TCP) {
			/* protocol: rest over TLS: terminate it and decide request by request */
			ret->outcome = WARD_REQ_INTERCEPT;
			row(ret, "allow", n->rule_name,
			    "tls intercepted: protocol rest, requests decided one by one");
			return;
		}
		/* L7 rules cannot be enforced on bytes ward cannot read: fail closed */
		if (in->learn) {
			/* learning: tunneled, the requests are not seen */
			ret->outcome = WARD_REQ_ALLOW;
			row(ret, "audit", n->rule_name,
			    "learn: protocol: rest endpoint tunneled, requests not inspected");
			n->inspect = false;
			return;
		}
		n->action = WARD_ACTION_DENY;
		n->failed = WARD_FAILED_HOST;
		n->closest = n->policy;
		snprintf(n->why, sizeof(n->why), "endpoint %s is protocol: rest",
			 n->endpoint->host);
		snprintf(n->hint, sizeof(n->hint),
			 !in->can_intercept ? "run ward with TLS interception available"
					    : "speak HTTP or TLS to this endpoint");
		deny(ret, !in->can_intercept
				  ? "protocol: rest needs TLS interception, which is not available"
				  : "protocol: rest endpoint reached with neither HTTP nor TLS");
		return;
	}
	ret->outcome = WARD_REQ_ALLOW;
	/* connection level: the bytes go through; L7 rows say audit per request */
	row(ret, in->kind == WARD_REQ_HTTP ? ward_action_str(n->action) : "allow", n->rule_name,
	    n->reason);
}

void ward_request_bind_credential(struct ward_request_verdict *v, const struct ward_request_cred *c)
{
	struct ward_net_verdict *n = &v->net;

	if (v->outcome != WARD_REQ_ALLOW)
		return;
	if (c->binding == WARD_CRED_BIND_MISMATCH) {
		n->action = WARD_ACTION_DENY;
		n->failed = WARD_FAILED_HOST;
		n->closest = n->policy;
		snprintf(n->why, sizeof(n->why), "%s", c->detail ? c->detail : "");
		snprintf(n->hint, sizeof(n->hint),
			 "send credential '%s' only to its bound endpoint", c->credential);
		/* the row is the credential's; the response says the same */
		v->outcome = WARD_REQ_DENY;
		snprintf(v->cred_rule, sizeof(v->cred_rule), "credential:%s", c->credential);
		row(v, "deny", v->cred_rule, WARD_CRED_REASON_MISMATCH);
		return;
	}
	if (c->binding == WARD_CRED_BIND_INJECTED)
		snprintf(v->reason, sizeof(v->reason), "%s; %s %s", n->reason,
			 WARD_CRED_REASON_INJECTED, c->credential);
	if (c->plain)
		snprintf(v->plain_rule, sizeof(v->plain_rule), "credential:%s", c->plain);
}
