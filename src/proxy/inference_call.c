// SPDX-License-Identifier: MIT
/* One inference request (inference.h): the request body is buffered (the
 * model is rewritten, so the whole JSON is needed), the route picked, the
 * upstream connected (TLS when the base_url says https), the response
 * re-framed for the client: streamed (SSE) responses chunk by chunk as they
 * arrive, others buffered up to a cap so a failure can still be a clean
 * 502. Usage is read on the way (inference_json.h, sse.h) and becomes the
 * row and the budget. Local answers (models, refusals) use the same output. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/client.h"
#include "common/owner.h"
#include "proxy/inference_internal.h"
#include "proxy/inference_json.h"
#include "proxy/sse.h"
#include "proxy/tls.h"

/* the outcome and refusal texts are bounded row fields: cut on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* --- buffers ------------------------------------------------------------- */

static int ob_reserve(struct obuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->off && b->off + b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int inf_ob_add(struct obuf *b, const void *p, size_t n)
{
	if (ob_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

int inf_ob_printf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || ob_reserve(b, (size_t)n + 1) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->p + b->off + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void inf_ob_free(struct obuf *b, bool wipe)
{
	if (wipe && b->p)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	*b = (struct obuf){ 0 };
}

/* --- rows ---------------------------------------------------------------- */

/* The requested model as one word of the reason: the client chose it, and
 * readers (ward logs' summary) split the reason on spaces and '='. */
static void reason_word(char *out, size_t outsz, const char *s)
{
	size_t i = 0;

	for (; s[i] && i + 1 < outsz; i++)
		out[i] = (unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '=' ? '_' : s[i];
	out[i] = '\0';
}

void inf_log_row(struct ward_inference_call *c, const char *action)
{
	struct ward_inference *inf = c->inf;
	char reason[1000], rule[300], tok[240] = "usage=none", cost[96] = "cost_usd=unknown";
	char model[MODEL_MAX] = "-";
	uint64_t now = ward_mono_ns();
	struct ward_decision d = { 0 };
	char cg[PATH_MAX];

	if (c->logged)
		return;
	c->logged = true;
	/* learning: served though the policy would have refused it */
	if (c->learned && !strcmp(action, "allow"))
		action = "audit";
	if (c->model_req[0])
		reason_word(model, sizeof(model), c->model_req);
	if (c->b && c->b->route->price_known)
		snprintf(cost, sizeof(cost), "cost_usd=%.6f prices=%s", c->cost_usd,
			 c->b->route->price_source ? c->b->route->price_source : "route");
	if (c->has_usage)
		snprintf(tok, sizeof(tok),
			 "prompt_tokens=%llu completion_tokens=%llu total_tokens=%llu "
			 "cached_tokens=%llu %s",
			 (unsigned long long)c->usage.input, (unsigned long long)c->usage.output,
			 (unsigned long long)(c->usage.input + c->usage.output),
			 (unsigned long long)c->usage.cached, cost);
	snprintf(reason, sizeof(reason),
		 "api=%s provider=%s model_requested=%s model_sent=%s status=%d stream=%s %s "
		 "latency_ms=%llu ttfb_ms=%llu budget_spent=%llu budget_max=%llu spent_usd=%.6f "
		 "max_usd=%.6f%s%s%s%s",
		 ward_api_name(c->api), c->b ? c->b->prov->name : "-", model,
		 c->model_sent[0] ? c->model_sent : "-", c->status, c->stream ? "true" : "false",
		 tok, (unsigned long long)((now - c->t_start) / 1000000),
		 (unsigned long long)(c->t_first ? (c->t_first - c->t_start) / 1000000 : 0),
		 (unsigned long long)inf->u->spent, (unsigned long long)inf->budget,
		 inf->u->spent_usd, inf->budget_usd, c->outcome[0] ? " outcome=" : "", c->outcome,
		 c->learned ? " learn=" : "", c->learned ? c->learned : "");
	if (c->b)
		snprintf(rule, sizeof(rule), "inference.routes.%s", c->b->route->name);
	d.sandbox = inf->sandbox;
	d.layer = "inference";
	d.action = action;
	d.binary = c->binary;
	d.binary_sha256 = c->sha;
	d.via = c->ancestor;
	d.pid = c->pid;
	/* the backend once one was reached, else the name the client called */
	d.host = c->via ? c->via : WARD_INFERENCE_HOST;
	if (c->b && c->fd >= -1 && c->ip[0])
		d.host = c->b->host;
	d.ip = c->ip[0] ? c->ip : NULL;
	d.port = c->b && c->ip[0] ? c->b->port : 0;
	d.protocol = c->b && c->ip[0] ? (c->b->https ? "https" : "http")
				      : (c->client_tls ? "https" : "http");
	d.method = c->method;
	d.path = c->path;
	d.rule = c->rule ? c->rule : c->b ? rule : NULL;
	d.reason = reason;
	d.policy_rev = inf->policy->rev;
	d.session = c->session[0] ? c->session : NULL;
	d.has_uid = c->has_uid;
	d.uid = c->uid;
	d.cgroup = ward_cgroup_path(c->cgid, c->pid, cg, sizeof(cg));
	if (inf->audit)
		ward_audit_submit(inf->audit, &d);
	inf_budget_rows(c);
}

/* --- local answers -------------------------------------------------------- */

static const char *status_text(int s)
{
	switch (s) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

void inf_close_upstream(struct ward_inference_call *c)
{
	ward_tls_free(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->want = 0;
}

static void local_answer(struct ward_inference_call *c, int status, const char *body, size_t len,
			 bool retry)
{
	c->status = status;
	inf_ob_printf(&c->out,
		      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\n%s%s\r\n",
		      status, status_text(status), len, retry ? "" : "x-should-retry: false\r\n",
		      c->keep_alive && !c->close_after ? "" : "Connection: close\r\n");
	inf_ob_add(&c->out, body, len);
	c->st = C_LOCAL;
	c->head_sent = true;
	inf_close_upstream(c);
}

/* A refusal or failure in the client's provider format, and its row. */
void inf_fail_answer(struct ward_inference_call *c, int status, const char *type, const char *atype,
		     const char *fmt, ...)
{
	char msg[600];
	size_t len = 0;
	char *body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->head_sent) {
		/* the client already has part of a response: only cutting it is honest */
		c->failed = true;
		c->close_after = true;
		snprintf(c->outcome, sizeof(c->outcome), "cut: %s", msg);
		c->st = C_DONE;
		inf_close_upstream(c);
		inf_account(c); /* what the provider already reported is spent */
		inf_log_row(c, "allow");
		return;
	}
	snprintf(c->outcome, sizeof(c->outcome), "%s", msg);
	body = ward_provider_error_body(c->style, msg, type, c->code ? c->code : type, atype, &len);
	if (!body) {
		c->failed = true;
		c->close_after = true;
		c->st = C_DONE;
		inf_close_upstream(c);
		inf_log_row(c, "deny");
		return;
	}
	local_answer(c, status, body, len, status >= 500 && status != 501);
	free(body);
	/* ward's refusals are denials; failures on the way are not */
	inf_log_row(c, status == 400 || status == 403 || status == 404 || status == 413 ||
				       status == 429
			       ? "deny"
			       : "allow");
}

/* Every model name a request may use, once each, in policy order: route
 * names, then aliases, then the routes' own models: what inf_route_named
 * matches, with the route it selects. ward never lists the upstreams' own
 * catalogues. -ENOMEM or 0. */
static int each_model_name(struct ward_inference *inf, const char *via,
			   void (*fn)(const char *name, const struct ward_inference_route *r,
				      void *userdata),
			   void *userdata)
{
	size_t n = 0, cap = 0;
	const char **names;

	for (size_t i = 0; i < inf->n; i++)
		cap += 2 + inf->b[i].route->n_aliases;
	names = calloc(cap ? cap : 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < inf->n; i++) {
			const struct ward_inference_route *r = inf->b[i].route;
			size_t m = pass == 1 ? r->n_aliases : 1;

			if (!inf_has_host(&inf->b[i], via))
				continue; /* a direct call lists the routes of its host */
			for (size_t k = 0; k < m; k++) {
				const char *name = pass == 0   ? r->name
						   : pass == 1 ? r->aliases[k]
							       : r->model;
				bool dup = !name;

				for (size_t a = 0; !dup && a < n; a++)
					dup = !strcmp(names[a], name);
				if (!dup)
					names[n++] = name;
			}
		}
	}
	for (size_t a = 0; a < n; a++)
		fn(names[a], inf_route_named(inf, names[a], via)->route, userdata);
	free(names);
	return 0;
}

struct models_list {
	FILE *f;
	size_t n;
	const char *first, *last;
};

static void model_entry(const char *name, const struct ward_inference_route *r, void *userdata)
{
	struct models_list *l = userdata;
	char owner[80];

	snprintf(owner, sizeof(owner), "ward:%s", r->provider);
	fputs(l->n++ ? ",{\"id\":" : "{\"id\":", l->f);
	ward_json_str(l->f, name);
	fputs(",\"object\":\"model\",\"type\":\"model\",\"created\":0,"
	      "\"created_at\":\"1970-01-01T00:00:00Z\",\"display_name\":",
	      l->f);
	ward_json_str(l->f, r->model);
	fputs(",\"owned_by\":", l->f);
	ward_json_str(l->f, owner);
	fputs("}", l->f);
	if (!l->first)
		l->first = name;
	l->last = name;
}

/* GET /v1/models: in OpenAI's and Anthropic's list format at once. */
static void models_answer(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	char *body = NULL;
	size_t len = 0;
	struct models_list l = { .f = open_memstream(&body, &len) };
	int r;

	if (!l.f) {
		inf_fail_answer(c, 500, "server_error", "api_error", "out of memory");
		return;
	}
	fputs("{\"object\":\"list\",\"data\":[", l.f);
	r = each_model_name(inf, c->via, model_entry, &l);
	fputs("],\"has_more\":false,\"first_id\":", l.f);
	ward_json_str(l.f, l.first);
	fputs(",\"last_id\":", l.f);
	ward_json_str(l.f, l.last);
	fputs("}\n", l.f);
	if (fclose(l.f) || r < 0) {
		free(body);
		inf_fail_answer(c, 500, "server_error", "api_error", "out of memory");
		return;
	}
	snprintf(c->outcome, sizeof(c->outcome), "answered by ward");
	local_answer(c, 200, body, len, false);
	free(body);
	inf_log_row(c, "allow");
}

struct name_list {
	FILE *f;
	size_t n;
};

static void name_entry(const char *name, const struct ward_inference_route *r, void *userdata)
{
	struct name_list *l = userdata;

	(void)r;
	fprintf(l->f, "%s%s", l->n++ ? ", " : "", name);
}

/* inference.strict_models: the model is no route's name, alias or model.
 * 404 as the providers answer an unknown model (OpenAI: model_not_found). */
static void strict_refusal(struct ward_inference_call *c)
{
	char *names = NULL, model[MODEL_MAX];
	size_t len = 0;
	struct name_list l = { .f = open_memstream(&names, &len) };

	if (l.f) {
		int r = each_model_name(c->inf, c->via, name_entry, &l);

		if (fclose(l.f) || r < 0) {
			free(names);
			names = NULL;
		}
	}
	reason_word(model, sizeof(model), c->model_req);
	c->rule = "inference.strict_models";
	c->code = "model_not_found";
	inf_fail_answer(c, 404, "invalid_request_error", "not_found_error",
			"ward: model '%s' is not allowed: no inference route or alias names it "
			"(inference.strict_models); models: %s",
			model, names ? names : "?");
	free(names);
}

/* --- the request ---------------------------------------------------------- */

bool inf_hname_is(const struct ward_http_str *s, const char *lit)
{
	return s->len == strlen(lit) && !strncasecmp(s->p, lit, s->len);
}

static int copy_headers(struct ward_inference_call *c, const struct ward_http_head *h)
{
	struct obuf o = { 0 };

	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];

		if (!ward_provider_header_allowed(hd->name.p, hd->name.len))
			continue;
		if (inf_hname_is(&hd->name, "anthropic-version"))
			c->has_version = true;
		if (inf_ob_printf(&o, "%.*s: %.*s\r\n", (int)hd->name.len, hd->name.p,
				  (int)hd->value.len, hd->value.p) < 0) {
			inf_ob_free(&o, false);
			return -ENOMEM;
		}
	}
	c->fwd = o.p;
	c->fwd_len = o.len;
	return 0;
}

static void deny_later(struct ward_inference_call *c, int status, const char *type,
		       const char *atype, const char *msg)
{
	c->deny_status = status;
	c->deny_type = type;
	c->deny_atype = atype;
	snprintf(c->deny_msg, sizeof(c->deny_msg), "%s", msg);
}

static bool anthropic_client(const struct ward_http_head *h)
{
	return ward_http_find_header(h, "anthropic-version") ||
	       ward_http_find_header(h, "x-api-key");
}

struct ward_inference_call *ward_inference_call_new(struct ward_inference *inf,
						    const struct ward_inference_client *who,
						    const struct ward_http_head *h)
{
	struct ward_inference_call *c = calloc(1, sizeof(*c));
	const struct ward_policy *p = inf->policy;
	const struct ward_client client = { .binary = who->binary,
					    .via = who->via,
					    .sha256 = who->sha256 };
	char msg[300];

	if (!c)
		return NULL;
	c->inf = ward_inference_ref(inf); /* a call finishes under the handle it began with */
	c->fd = -1;
	c->t_start = c->last_activity = ward_mono_ns();
	c->known = who->known;
	c->tofu_failed = who->tofu_failed;
	c->client_tls = who->tls;
	c->pid = who->pid;
	c->has_uid = who->has_uid;
	c->uid = who->uid;
	c->cgid = who->cgid;
	snprintf(c->session, sizeof(c->session), "%s", who->session ? who->session : "");
	c->binary = who->binary ? strdup(who->binary) : NULL;
	c->sha = who->sha256 ? strdup(who->sha256) : NULL;
	c->ancestor = who->via ? strdup(who->via) : NULL;
	c->via = who->host ? strdup(who->host) : NULL;
	c->keep_alive = h->keep_alive;
	c->http10 = h->version_minor == 0;
	snprintf(c->method, sizeof(c->method), "%.*s", (int)h->method.len, h->method.p);
	snprintf(c->path, sizeof(c->path), "%.*s", (int)h->path.len, h->path.p);
	if (h->query.p)
		c->query = strndup(h->query.p, h->query.len);
	if ((who->binary && !c->binary) || (who->sha256 && !c->sha) || (who->host && !c->via) ||
	    (who->via && !c->ancestor) || (h->query.p && !c->query) || copy_headers(c, h) < 0) {
		ward_inference_call_free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->api = ward_api_of(c->method, c->path, &c->suffix);
	c->style = c->api == WARD_API_NONE
			   ? (anthropic_client(h) ? WARD_STYLE_ANTHROPIC : WARD_STYLE_OPENAI)
			   : ward_api_style(c->api);
	if (c->api == WARD_API_MODELS && c->style == WARD_STYLE_OPENAI && anthropic_client(h))
		c->style = WARD_STYLE_ANTHROPIC;

	/* who may use it: the kernel's identity, never a header */
	if (c->tofu_failed) {
		deny_later(c, 403, "permission_denied", "permission_error",
			   "ward: this binary changed since first use (TOFU); inference refused");
	} else if (ward_decide_inference(p, &client) == WARD_INFERENCE_NOT_LISTED &&
		   inf->cfg.learn) {
		c->learned = "inference.binaries";
	} else if (ward_decide_inference(p, &client) == WARD_INFERENCE_NOT_LISTED) {
		snprintf(msg, sizeof(msg), "ward: binary %s may not use %s (inference.binaries)",
			 c->binary ? c->binary : "(unknown)",
			 c->via ? c->via : WARD_INFERENCE_HOST);
		deny_later(c, 403, "permission_denied", "permission_error", msg);
	}
	if (!c->deny_status && c->api == WARD_API_NONE) {
		snprintf(
			msg, sizeof(msg),
			"ward: %s %s is not served by %s (POST /v1/chat/completions, "
			"/v1/completions, /v1/responses, /v1/embeddings, /v1/messages; GET /v1/models)",
			c->method, c->path, c->via ? c->via : WARD_INFERENCE_HOST);
		deny_later(c, 403, "permission_denied", "permission_error", msg);
	}
	if (!c->deny_status && !inf->n)
		deny_later(c, 403, "permission_denied", "permission_error",
			   "ward: the policy has no inference routes");

	if (ward_http_body_init(&c->req_body, h, inf->max_request) < 0) {
		/* Content-Length over the cap: answer now, never read the body */
		c->close_after = true;
		inf_fail_answer(c, 413, "invalid_request_error", "request_too_large",
				"ward: request body over the inference limit");
		return c;
	}
	if (h->expect_continue && !c->deny_status)
		inf_ob_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	c->st = C_BODY;
	return c;
}

/* Request body payload: kept while it fits, else the call answers 413. */
static void on_req_data(void *userdata, const char *data, size_t len)
{
	struct ward_inference_call *c = userdata;

	if (c->deny_status || c->body_over)
		return;
	if (c->body.len + len > c->inf->max_request || inf_ob_add(&c->body, data, len) < 0)
		c->body_over = true;
}

static int splice(struct obuf *dst, const char *doc, size_t len, size_t off, size_t cut,
		  const char *ins, size_t ins_len)
{
	if (inf_ob_add(dst, doc, off) < 0 || inf_ob_add(dst, ins, ins_len) < 0 ||
	    inf_ob_add(dst, doc + off + cut, len - off - cut) < 0)
		return -ENOMEM;
	return 0;
}

/* The body as the upstream gets it: "model" set to the route's model (added
 * when absent), stream_options.include_usage added to OpenAI streams that do
 * not ask for usage themselves. */
static int rewrite_body(struct ward_inference_call *c, struct obuf *ret)
{
	const char *doc = c->body.p ? c->body.p + c->body.off : "";
	size_t len = c->body.len;
	struct ward_json_span m, s, so;
	struct obuf quoted = { 0 }, tmp = { 0 };
	char *q = NULL;
	size_t qlen = 0;
	FILE *f;
	int r;

	r = ward_json_member(doc, len, "model", &m);
	if (r < 0)
		return r;
	if (ward_json_member(doc, len, "stream", &s) == 1 && ward_json_is_true(doc + s.off, s.len))
		c->req_stream = true;
	f = open_memstream(&q, &qlen);
	if (!f)
		return -ENOMEM;
	ward_json_str(f, c->b->route->model);
	if (fclose(f)) {
		free(q);
		return -ENOMEM;
	}
	if (r == 1) {
		r = splice(&tmp, doc, len, m.off, m.len, q, qlen);
	} else {
		/* after the opening brace; a comma unless the object is empty */
		size_t brace = (size_t)(memchr(doc, '{', len) - (void *)doc) + 1;
		bool empty = ward_json_member(doc, len, "stream", NULL) == 0 &&
			     ward_json_validate(doc, len) == 0 && ({
				     size_t k = brace;
				     while (k < len && strchr(" \t\r\n", doc[k]))
					     k++;
				     k < len &&doc[k] == '}';
			     });

		r = inf_ob_add(&quoted, "\"model\":", 8);
		if (!r)
			r = inf_ob_add(&quoted, q, qlen);
		if (!r && !empty)
			r = inf_ob_add(&quoted, ",", 1);
		if (!r)
			r = splice(&tmp, doc, len, brace, 0, quoted.p, quoted.len);
	}
	free(q);
	inf_ob_free(&quoted, false);
	if (r < 0) {
		inf_ob_free(&tmp, false);
		return r;
	}
	if (c->req_stream && (c->api == WARD_API_CHAT || c->api == WARD_API_COMPLETIONS) &&
	    strcmp(c->b->prov->name, "anthropic") &&
	    ward_json_member(tmp.p, tmp.len, "stream_options", &so) == 0) {
		static const char add[] = "\"stream_options\":{\"include_usage\":true},";
		size_t brace = (size_t)((char *)memchr(tmp.p, '{', tmp.len) - tmp.p) + 1;

		r = splice(ret, tmp.p, tmp.len, brace, 0, add, sizeof(add) - 1);
		c->usage_added = true;
		inf_ob_free(&tmp, false);
		return r;
	}
	*ret = tmp;
	return 0;
}

static void request_complete(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	const char *doc = c->body.p ? c->body.p + c->body.off : "";
	struct ward_json_span m;
	struct obuf body = { 0 };
	bool v6;
	int r;

	if (c->deny_status) {
		inf_fail_answer(c, c->deny_status, c->deny_type, c->deny_atype, "%s", c->deny_msg);
		return;
	}
	if (c->body_over) {
		c->close_after = true;
		inf_fail_answer(c, 413, "invalid_request_error", "request_too_large",
				"ward: request body over the inference limit (%llu bytes)",
				(unsigned long long)inf->max_request);
		return;
	}
	if (c->api == WARD_API_MODELS) {
		models_answer(c);
		return;
	}
	r = ward_json_member(doc, c->body.len, "model", &m);
	if (r == -EEXIST) {
		inf_fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
				"ward: the request body has \"model\" twice");
		return;
	}
	if (r < 0) {
		inf_fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
				"ward: the request body is not a JSON object");
		return;
	}
	if (r == 1 &&
	    ward_json_string(doc + m.off, m.len, c->model_req, sizeof(c->model_req)) < 0) {
		inf_fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
				"ward: \"model\" must be a string of at most %d bytes",
				MODEL_MAX - 1);
		return;
	}
	c->b = r == 1 ? inf_route_named(inf, c->model_req, c->via) : NULL;
	if (!c->b && r == 1 && inf->policy->inference_strict_models && inf->cfg.learn) {
		c->learned = c->learned ? c->learned : "inference.strict_models";
	} else if (!c->b && r == 1 && inf->policy->inference_strict_models) {
		strict_refusal(c);
		return;
	}
	if (!c->b)
		c->b = inf_route(inf, NULL, c->via);
	if (!c->b) {
		/* the proxy only hands over hosts some route has: cannot happen */
		inf_fail_answer(c, 403, "permission_denied", "permission_error",
				"ward: no inference route takes calls to %s",
				c->via ? c->via : WARD_INFERENCE_HOST);
		return;
	}
	snprintf(c->model_sent, sizeof(c->model_sent), "%s", c->b->route->model);
	if (!ward_provider_speaks(c->b->prov, c->api)) {
		inf_fail_answer(
			c, 400, "invalid_request_error", "invalid_request_error",
			"ward: route '%s' (provider %s) does not serve %s %s; use a route whose "
			"provider speaks this API",
			c->b->route->name, c->b->prov->name, c->method, c->path);
		return;
	}
	if (inf_budget_refuse(c))
		return;
	r = rewrite_body(c, &body);
	if (r < 0) {
		inf_fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
				"ward: cannot rewrite the request body (%s)", strerror(-r));
		return;
	}
	v6 = strchr(c->b->host, ':') != NULL;
	inf_ob_printf(&c->up, "%s %s%s%s%s HTTP/1.1\r\nHost: %s%s%s", c->method, c->b->prefix,
		      c->suffix, c->query ? "?" : "", c->query ? c->query : "", v6 ? "[" : "",
		      c->b->host, v6 ? "]" : "");
	if (c->b->port != (c->b->https ? 443 : 80))
		inf_ob_printf(&c->up, ":%u", c->b->port);
	inf_ob_printf(&c->up, "\r\n%s: %s", c->b->prov->auth_header, c->b->prov->auth_prefix);
	{
		char key[INF_KEY_MAX + 1], why[256];
		size_t key_len = 0;

		r = inf_backend_key(c->inf, c->b, key, &key_len, why, sizeof(why));
		if (r == 0)
			inf_ob_add(&c->up, key, key_len);
		explicit_bzero(key, sizeof(key));
		if (r < 0) {
			inf_ob_free(&body, false);
			inf_ob_free(&c->up, true);
			inf_fail_answer(c, 403, "permission_error", "permission_error",
					"ward: the key of route '%s' is unavailable: %s",
					c->b->route->name, why);
			return;
		}
	}
	inf_ob_add(&c->up, "\r\n", 2);
	if (c->b->prov->version_header && !c->has_version)
		inf_ob_printf(&c->up, "%s: %s\r\n", c->b->prov->version_header,
			      c->b->prov->version_value);
	if (c->fwd_len)
		inf_ob_add(&c->up, c->fwd, c->fwd_len);
	if (strcmp(c->method, "GET"))
		inf_ob_printf(&c->up, "Content-Length: %zu\r\n", body.len);
	if (inf_ob_printf(&c->up, "Accept-Encoding: identity\r\nConnection: close\r\n\r\n") < 0 ||
	    inf_ob_add(&c->up, body.p, body.len) < 0) {
		inf_ob_free(&body, false);
		inf_fail_answer(c, 500, "server_error", "api_error", "ward: out of memory");
		return;
	}
	inf_ob_free(&body, false);
	inf_ob_free(&c->body, false);
	inf_start_connect(c);
}

int ward_inference_call_feed(struct ward_inference_call *c, const char *data, size_t len,
			     size_t *ret_consumed)
{
	size_t used = 0;
	int r;

	*ret_consumed = 0;
	if (c->st != C_BODY)
		return 1;
	c->last_activity = ward_mono_ns();
	r = ward_http_body_feed(&c->req_body, data, len, &used, on_req_data, c);
	*ret_consumed = used;
	if (r == 0)
		return 0;
	if (r < 0) {
		c->close_after = true; /* framing lost: nothing after this can be trusted */
		if (r == -EFBIG)
			inf_fail_answer(c, 413, "invalid_request_error", "request_too_large",
					"ward: request body over the inference limit");
		else
			inf_fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
					"ward: malformed request body framing");
		return 1;
	}
	request_complete(c);
	return 1;
}

/* --- the loop's view ------------------------------------------------------ */

int ward_inference_call_fd(const struct ward_inference_call *c)
{
	return c->fd;
}

uint32_t ward_inference_call_events(const struct ward_inference_call *c)
{
	if (c->fd < 0)
		return 0;
	if ((c->st == C_HEAD || c->st == C_RBODY) && c->out.len >= OUT_HIGH)
		return 0;
	return c->want;
}

size_t ward_inference_call_peek(const struct ward_inference_call *c, const char **ret_data)
{
	*ret_data = c->out.p ? c->out.p + c->out.off : NULL;
	return c->out.len;
}

void ward_inference_call_consume(struct ward_inference_call *c, size_t n)
{
	if (n > c->out.len)
		n = c->out.len;
	c->out.off += n;
	c->out.len -= n;
	if (!c->out.len)
		c->out.off = 0;
	if (c->out.cap > (1u << 20) && !c->out.len)
		inf_ob_free(&c->out, false); /* a big answer was sent: give the memory back */
}

uint64_t ward_inference_call_deadline(const struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	uint64_t idle = c->last_activity + (uint64_t)inf->idle_ms * 1000000ull;
	uint64_t total = c->t_start + (uint64_t)inf->total_ms * 1000000ull;

	switch (c->st) {
	case C_BODY:
		return idle;
	case C_CONNECT:
	case C_TLS:
		return c->last_activity + (uint64_t)inf->connect_ms * 1000000ull;
	case C_SEND:
	case C_HEAD:
	case C_RBODY:
		return idle < total ? idle : total;
	case C_LOCAL:
	case C_DONE:
		break;
	}
	return 0;
}

void ward_inference_call_timeout(struct ward_inference_call *c)
{
	uint64_t now = ward_mono_ns();

	switch (c->st) {
	case C_BODY:
		c->close_after = true;
		inf_fail_answer(c, 408, "invalid_request_error", "invalid_request_error",
				"ward: request body not complete in time");
		break;
	case C_CONNECT:
	case C_TLS:
		inf_fail_answer(c, 504, "upstream_error", "api_error",
				"ward: connecting to %s timed out", c->b->host);
		break;
	case C_SEND:
	case C_HEAD:
	case C_RBODY:
		if (now >= c->t_start + (uint64_t)c->inf->total_ms * 1000000ull)
			inf_fail_answer(c, 504, "upstream_error", "api_error",
					"ward: the request took longer than %u ms (total limit)",
					c->inf->total_ms);
		else
			inf_fail_answer(c, 504, "upstream_error", "api_error",
					"ward: no data from %s for %u ms (idle limit)", c->b->host,
					c->inf->idle_ms);
		break;
	case C_LOCAL:
	case C_DONE:
		break;
	}
}

bool ward_inference_call_done(const struct ward_inference_call *c, bool *ret_keep_alive)
{
	bool done = (c->st == C_DONE || c->st == C_LOCAL) && !c->out.len;

	if (done && ret_keep_alive)
		*ret_keep_alive = c->keep_alive && !c->close_after && !c->failed;
	return done;
}

bool ward_inference_call_failed(const struct ward_inference_call *c)
{
	return c->failed;
}

void ward_inference_call_free(struct ward_inference_call *c)
{
	if (!c)
		return;
	if (!c->logged && c->st != C_BODY) {
		snprintf(c->outcome, sizeof(c->outcome), "client gone");
		inf_account(c);
		inf_log_row(c, "allow");
	}
	inf_close_upstream(c);
	if (c->resp_init)
		ward_http_parser_free(&c->resp);
	if (c->sse_init)
		ward_sse_free(&c->sse);
	inf_ob_free(&c->up, true);
	inf_ob_free(&c->body, false);
	inf_ob_free(&c->rbody, false);
	inf_ob_free(&c->out, false);
	free(c->fwd);
	free(c->query);
	free(c->binary);
	free(c->sha);
	free(c->ancestor);
	free(c->via);
	ward_inference_free(c->inf);
	free(c);
}
