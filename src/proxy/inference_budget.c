// SPDX-License-Identifier: MIT
/* The sandbox's inference budgets (docs/inference.md, "Budgets"): tokens
 * (inference.budget.max_tokens) and money (inference.budget.max_usd, each
 * call priced at its route's price). A call's cost is only known once the
 * provider reports its usage, at the end of the response: spending is summed
 * then, a row marks each warn_at share of a budget the sum reaches (once),
 * and the requests that start after a budget is reached are refused.
 * The keys of inference.budget count the sandbox (every session's calls);
 * inference.budget.per_session counts each session (the caller's cgroup,
 * ward exec) on its own, and both apply. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/owner.h"
#include "proxy/inference_internal.h"

/* the reason texts are bounded row fields */
#pragma GCC diagnostic ignored "-Wformat-truncation"

double ward_inference_cost_usd(const struct ward_inference_route *rt, const struct ward_usage *u)
{
	uint64_t cached = u->cached < u->input ? u->cached : u->input;

	if (!rt->price_known)
		return 0;
	return ((double)(u->input - cached) * rt->price_input + (double)cached * rt->price_cached +
		(double)u->output * rt->price_output) /
	       1e6;
}

unsigned ward_budget_crossed(double spent, double max, const double *warn_at, size_t n,
			     unsigned *warned)
{
	unsigned now = 0;

	if (max <= 0)
		return 0;
	for (size_t i = 0; i < n && i < 8; i++)
		if (spent >= warn_at[i] * max)
			now |= 1u << i;
	if (spent >= max)
		now |= WARD_BUDGET_FULL;
	now &= ~*warned;
	*warned |= now;
	return now;
}

double ward_inference_spent_usd(const struct ward_inference *inf)
{
	return inf->u->spent_usd;
}

double ward_inference_budget_usd(const struct ward_inference *inf)
{
	return inf->budget_usd;
}

struct inf_session_usage *inf_session_usage(struct inf_usage *u, const char *id)
{
	struct inf_session_usage *s;

	if (!id)
		id = "";
	for (size_t i = 0; i < u->n_sessions; i++)
		if (!strcmp(u->sessions[i].id, id))
			return &u->sessions[i];
	if (u->n_sessions == INF_MAX_SESSIONS)
		return NULL;
	if (u->n_sessions == u->cap_sessions) {
		size_t cap = u->cap_sessions ? 2 * u->cap_sessions : 8;

		s = realloc(u->sessions, cap * sizeof(*s));
		if (!s)
			return NULL;
		u->sessions = s;
		u->cap_sessions = cap;
	}
	s = &u->sessions[u->n_sessions++];
	*s = (struct inf_session_usage){ 0 };
	snprintf(s->id, sizeof(s->id), "%s", id);
	return s;
}

void inf_usage_free(struct inf_usage *u)
{
	if (!u)
		return;
	free(u->sessions);
	free(u);
}

void inf_account(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	struct inf_session_usage *s;

	if (!c->has_usage || c->accounted || !c->b)
		return;
	c->accounted = true;
	c->cost_usd = ward_inference_cost_usd(c->b->route, &c->usage);
	inf->u->spent += c->usage.input + c->usage.output;
	inf->u->spent_usd += c->cost_usd;
	/* a session beyond the table spends nothing of its own: with a
	 * per-session budget it was refused before it began */
	s = inf_session_usage(inf->u, c->session);
	if (s) {
		s->spent += c->usage.input + c->usage.output;
		s->spent_usd += c->cost_usd;
	}
}

static void budget_row(struct ward_inference_call *c, const char *key, unsigned bit,
		       const char *spent_max)
{
	const struct ward_policy *p = c->inf->policy;
	struct ward_decision d = { 0 };
	char cg[PATH_MAX];
	char reason[400], share[16];

	if (bit == WARD_BUDGET_FULL) {
		snprintf(reason, sizeof(reason),
			 "budget_spent: 100%% of %s reached (%s); further inference requests are "
			 "refused",
			 key, spent_max);
	} else {
		/* %g of a percentage: 80, 95, 12.5 */
		snprintf(share, sizeof(share), "%g",
			 p->inference_warn_at[__builtin_ctz(bit)] * 100);
		snprintf(reason, sizeof(reason), "budget_warning: %s%% of %s reached (%s)", share,
			 key, spent_max);
	}
	d.sandbox = c->inf->sandbox;
	d.layer = "inference";
	d.action = "audit";
	d.binary = c->binary;
	d.binary_sha256 = c->sha;
	d.via = c->ancestor;
	d.pid = c->pid;
	d.host = c->via ? c->via : WARD_INFERENCE_HOST;
	d.protocol = c->client_tls ? "https" : "http";
	d.method = c->method;
	d.path = c->path;
	d.rule = key;
	d.reason = reason;
	d.policy_rev = p->rev;
	d.session = c->session[0] ? c->session : NULL;
	d.has_uid = c->has_uid;
	d.uid = c->uid;
	d.cgroup = ward_cgroup_path(c->cgid, c->pid, cg, sizeof(cg));
	ward_audit_submit(c->inf->audit, &d);
}

void inf_budget_rows(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	const struct ward_policy *p = inf->policy;
	unsigned tok, usd;
	char sm[160];

	if (!c->accounted || !inf->audit)
		return;
	tok = ward_budget_crossed((double)inf->u->spent, (double)inf->budget, p->inference_warn_at,
				  p->n_inference_warn_at, &inf->u->warned_tokens);
	usd = ward_budget_crossed(inf->u->spent_usd, inf->budget_usd, p->inference_warn_at,
				  p->n_inference_warn_at, &inf->u->warned_usd);
	/* one row per threshold, lowest first: a call that jumps from 70 % to
	 * 100 % still leaves the 80 % and 95 % marks */
	snprintf(sm, sizeof(sm), "budget_spent=%llu budget_max=%llu",
		 (unsigned long long)inf->u->spent, (unsigned long long)inf->budget);
	for (unsigned bit = 1; tok && bit <= WARD_BUDGET_FULL; bit <<= 1)
		if (tok & bit)
			budget_row(c, "inference.budget.max_tokens", bit, sm);
	snprintf(sm, sizeof(sm), "spent_usd=%.6f max_usd=%.6f", inf->u->spent_usd, inf->budget_usd);
	for (unsigned bit = 1; usd && bit <= WARD_BUDGET_FULL; bit <<= 1)
		if (usd & bit)
			budget_row(c, "inference.budget.max_usd", bit, sm);

	/* the caller's session, against budget.per_session */
	struct inf_session_usage *s = inf_session_usage(inf->u, c->session);

	if (!s)
		return;
	tok = ward_budget_crossed((double)s->spent, (double)inf->session_budget,
				  p->inference_warn_at, p->n_inference_warn_at, &s->warned_tokens);
	usd = ward_budget_crossed(s->spent_usd, inf->session_budget_usd, p->inference_warn_at,
				  p->n_inference_warn_at, &s->warned_usd);
	snprintf(sm, sizeof(sm), "session_spent=%llu session_max=%llu",
		 (unsigned long long)s->spent, (unsigned long long)inf->session_budget);
	for (unsigned bit = 1; tok && bit <= WARD_BUDGET_FULL; bit <<= 1)
		if (tok & bit)
			budget_row(c, "inference.budget.per_session.max_tokens", bit, sm);
	snprintf(sm, sizeof(sm), "session_spent_usd=%.6f session_max_usd=%.6f", s->spent_usd,
		 inf->session_budget_usd);
	for (unsigned bit = 1; usd && bit <= WARD_BUDGET_FULL; bit <<= 1)
		if (usd & bit)
			budget_row(c, "inference.budget.per_session.max_usd", bit, sm);
}

bool inf_budget_refuse(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	struct inf_session_usage *s;

	if (inf->budget && inf->u->spent >= inf->budget) {
		c->rule = "inference.budget.max_tokens";
		inf_fail_answer(
			c, 429, "insufficient_quota", "rate_limit_error",
			"ward: the sandbox's inference budget is spent (%llu of %llu tokens); "
			"inference.budget.max_tokens",
			(unsigned long long)inf->u->spent, (unsigned long long)inf->budget);
		return true;
	}
	if (inf->budget_usd > 0 && inf->u->spent_usd >= inf->budget_usd) {
		c->rule = "inference.budget.max_usd";
		inf_fail_answer(c, 429, "insufficient_quota", "rate_limit_error",
				"ward: the sandbox's inference budget is spent (%.6f of %.6f USD); "
				"inference.budget.max_usd",
				inf->u->spent_usd, inf->budget_usd);
		return true;
	}
	if (!inf->session_budget && !(inf->session_budget_usd > 0))
		return false;
	s = inf_session_usage(inf->u, c->session);
	if (!s) {
		/* fail closed: a session ward cannot count is not under its budget */
		c->rule = inf->session_budget ? "inference.budget.per_session.max_tokens"
					      : "inference.budget.per_session.max_usd";
		inf_fail_answer(c, 429, "insufficient_quota", "rate_limit_error",
				"ward: more than %d sessions counted in this sandbox; %s",
				INF_MAX_SESSIONS, c->rule);
		return true;
	}
	if (inf->session_budget && s->spent >= inf->session_budget) {
		c->rule = "inference.budget.per_session.max_tokens";
		inf_fail_answer(
			c, 429, "insufficient_quota", "rate_limit_error",
			"ward: the session's inference budget is spent (%llu of %llu tokens); "
			"inference.budget.per_session.max_tokens",
			(unsigned long long)s->spent, (unsigned long long)inf->session_budget);
		return true;
	}
	if (inf->session_budget_usd > 0 && s->spent_usd >= inf->session_budget_usd) {
		c->rule = "inference.budget.per_session.max_usd";
		inf_fail_answer(c, 429, "insufficient_quota", "rate_limit_error",
				"ward: the session's inference budget is spent (%.6f of %.6f USD); "
				"inference.budget.per_session.max_usd",
				s->spent_usd, inf->session_budget_usd);
		return true;
	}
	return false;
}
