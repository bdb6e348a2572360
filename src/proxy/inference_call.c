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
#include "proxy/inference_internal.h"
#include "proxy/inference_json.h"
#include "proxy/sse.h"
#include "proxy/tls.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define OUT_HIGH (256u << 10) /* stop reading the upstream while this much waits for the client */
#define READ_CHUNK (16u << 10)
#define MODEL_MAX 256

enum cstate {
	C_BODY = 0, /* reading the request body */
	C_LOCAL,    /* ward's own answer is in out */
	C_CONNECT,
	C_TLS,
	C_SEND,
	C_HEAD,	 /* waiting for the response head */
	C_RBODY, /* response body */
	C_DONE,
};

struct obuf {
	char *p;
	size_t off, len, cap;
};

struct ward_inference_call {
	struct ward_inference *inf;
	/* who and what */
	bool known, tofu_failed, client_tls;
	char *binary, *sha;
	int32_t pid;
	char method[16];
	char path[1024];
	char *query;
	enum ward_api api;
	const char *suffix;
	enum ward_api_style style;
	bool keep_alive, http10;
	char *fwd; /* allowlisted request headers, "Name: value\r\n"... */
	size_t fwd_len;
	bool has_version;
	/* refusal decided from the head, answered once the body is read */
	int deny_status;
	char deny_msg[300];
	const char *deny_type, *deny_atype;

	struct ward_http_body req_body;
	struct obuf body;
	bool body_over;

	enum cstate st;
	struct inf_backend *b;
	char model_req[MODEL_MAX];
	char model_sent[MODEL_MAX];
	bool req_stream;
	bool usage_added; /* ward added stream_options.include_usage */

	int fd;
	struct ward_tls *tls;
	size_t next_addr;
	int last_err;
	char ip[INET6_ADDRSTRLEN];
	uint32_t want;
	struct obuf up;

	struct ward_http_parser resp;
	bool resp_init;
	struct ward_http_body resp_body;
	bool stream; /* text/event-stream: forwarded as it arrives */
	bool head_sent;
	struct ward_sse sse;
	bool sse_init;
	struct obuf rbody;
	int status;

	struct obuf out;
	bool close_after; /* the client connection ends after this answer */
	bool failed;
	bool logged;
	uint64_t t_start, t_connect_end, t_first, last_activity;
	uint64_t tok_in, tok_out;
	bool has_usage;
	char outcome[160];
};

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

static int ob_add(struct obuf *b, const void *p, size_t n)
{
	if (ob_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

static int ob_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ob_printf(struct obuf *b, const char *fmt, ...)
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

static void ob_free(struct obuf *b, bool wipe)
{
	if (wipe && b->p)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	*b = (struct obuf){ 0 };
}

/* --- rows ---------------------------------------------------------------- */

static void log_row(struct ward_inference_call *c, const char *action)
{
	struct ward_inference *inf = c->inf;
	char reason[900], rule[300], tok[160] = "usage=none";
	uint64_t now = ward_mono_ns();
	struct ward_decision d = { 0 };

	if (c->logged)
		return;
	c->logged = true;
	if (c->has_usage)
		snprintf(tok, sizeof(tok), "prompt_tokens=%llu completion_tokens=%llu total_tokens=%llu",
			 (unsigned long long)c->tok_in, (unsigned long long)c->tok_out,
			 (unsigned long long)(c->tok_in + c->tok_out));
	snprintf(reason, sizeof(reason),
		 "api=%s provider=%s model_requested=%s model_sent=%s status=%d stream=%s %s "
		 "latency_ms=%llu ttfb_ms=%llu budget_spent=%llu budget_max=%llu%s%s",
		 ward_api_name(c->api), c->b ? c->b->prov->name : "-",
		 c->model_req[0] ? c->model_req : "-", c->model_sent[0] ? c->model_sent : "-",
		 c->status, c->stream ? "true" : "false", tok,
		 (unsigned long long)((now - c->t_start) / 1000000),
		 (unsigned long long)(c->t_first ? (c->t_first - c->t_start) / 1000000 : 0),
		 (unsigned long long)inf->spent, (unsigned long long)inf->budget,
		 c->outcome[0] ? " outcome=" : "", c->outcome);
	if (c->b)
		snprintf(rule, sizeof(rule), "inference.routes.%s", c->b->route->name);
	d.sandbox = inf->sandbox;
	d.layer = "inference";
	d.action = action;
	d.binary = c->binary;
	d.binary_sha256 = c->sha;
	d.pid = c->pid;
	d.host = c->b && c->fd >= -1 && c->ip[0] ? c->b->host : WARD_INFERENCE_HOST;
	d.ip = c->ip[0] ? c->ip : NULL;
	d.port = c->b && c->ip[0] ? c->b->port : 0;
	d.protocol = c->b && c->ip[0] ? (c->b->https ? "https" : "http")
				      : (c->client_tls ? "https" : "http");
	d.method = c->method;
	d.path = c->path;
	d.rule = c->b ? rule : NULL;
	d.reason = reason;
	d.policy_rev = inf->policy->rev;
	if (inf->audit)
		ward_audit_submit(inf->audit, &d);
}

static void account(struct ward_inference_call *c)
{
	if (c->has_usage)
		c->inf->spent += c->tok_in + c->tok_out;
}

/* --- local answers -------------------------------------------------------- */

static const char *status_text(int s)
{
	switch (s) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

static void close_upstream(struct ward_inference_call *c)
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
	ob_printf(&c->out,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Cache-Control: no-store\r\n%s%s\r\n",
		  status, status_text(status), len, retry ? "" : "x-should-retry: false\r\n",
		  c->keep_alive && !c->close_after ? "" : "Connection: close\r\n");
	ob_add(&c->out, body, len);
	c->st = C_LOCAL;
	c->head_sent = true;
	close_upstream(c);
}

/* A refusal or failure in the client's provider format, and its row. */
static void fail_answer(struct ward_inference_call *c, int status, const char *type,
			const char *atype, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void fail_answer(struct ward_inference_call *c, int status, const char *type,
			const char *atype, const char *fmt, ...)
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
		close_upstream(c);
		log_row(c, "allow");
		return;
	}
	snprintf(c->outcome, sizeof(c->outcome), "%s", msg);
	body = ward_provider_error_body(c->style, msg, type, type, atype, &len);
	if (!body) {
		c->failed = true;
		c->close_after = true;
		c->st = C_DONE;
		close_upstream(c);
		log_row(c, "deny");
		return;
	}
	local_answer(c, status, body, len, status >= 500 && status != 501);
	free(body);
	log_row(c, status == 403 || status == 429 || status == 400 || status == 413 ? "deny"
										     : "allow");
}

static void models_answer(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	if (!f) {
		fail_answer(c, 500, "server_error", "api_error", "out of memory");
		return;
	}
	fputs("{\"object\":\"list\",\"data\":[", f);
	for (size_t i = 0; i < inf->n; i++) {
		const struct ward_inference_route *r = inf->b[i].route;
		char owner[80];

		snprintf(owner, sizeof(owner), "ward:%s", r->provider);
		fputs(i ? ",{\"id\":" : "{\"id\":", f);
		ward_json_str(f, r->name);
		fputs(",\"object\":\"model\",\"type\":\"model\",\"created\":0,"
		      "\"created_at\":\"1970-01-01T00:00:00Z\",\"display_name\":", f);
		ward_json_str(f, r->model);
		fputs(",\"owned_by\":", f);
		ward_json_str(f, owner);
		fputs("}", f);
	}
	fputs("],\"has_more\":false,\"first_id\":", f);
	ward_json_str(f, inf->n ? inf->b[0].route->name : NULL);
	fputs(",\"last_id\":", f);
	ward_json_str(f, inf->n ? inf->b[inf->n - 1].route->name : NULL);
	fputs("}\n", f);
	if (fclose(f)) {
		free(body);
		fail_answer(c, 500, "server_error", "api_error", "out of memory");
		return;
	}
	snprintf(c->outcome, sizeof(c->outcome), "answered by ward");
	local_answer(c, 200, body, len, false);
	free(body);
	log_row(c, "allow");
}

/* --- the request ---------------------------------------------------------- */

static bool hname_is(const struct ward_http_str *s, const char *lit)
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
		if (hname_is(&hd->name, "anthropic-version"))
			c->has_version = true;
		if (ob_printf(&o, "%.*s: %.*s\r\n", (int)hd->name.len, hd->name.p,
			      (int)hd->value.len, hd->value.p) < 0) {
			ob_free(&o, false);
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
	char msg[300];

	if (!c)
		return NULL;
	c->inf = inf;
	c->fd = -1;
	c->t_start = c->last_activity = ward_mono_ns();
	c->known = who->known;
	c->tofu_failed = who->tofu_failed;
	c->client_tls = who->tls;
	c->pid = who->pid;
	c->binary = who->binary ? strdup(who->binary) : NULL;
	c->sha = who->sha256 ? strdup(who->sha256) : NULL;
	c->keep_alive = h->keep_alive;
	c->http10 = h->version_minor == 0;
	snprintf(c->method, sizeof(c->method), "%.*s", (int)h->method.len, h->method.p);
	snprintf(c->path, sizeof(c->path), "%.*s", (int)h->path.len, h->path.p);
	if (h->query.p)
		c->query = strndup(h->query.p, h->query.len);
	if ((who->binary && !c->binary) || (who->sha256 && !c->sha) || (h->query.p && !c->query) ||
	    copy_headers(c, h) < 0) {
		ward_inference_call_free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->api = ward_api_of(c->method, c->path, &c->suffix);
	c->style = c->api == WARD_API_NONE ? (anthropic_client(h) ? WARD_STYLE_ANTHROPIC
								  : WARD_STYLE_OPENAI)
					   : ward_api_style(c->api);
	if (c->api == WARD_API_MODELS && c->style == WARD_STYLE_OPENAI && anthropic_client(h))
		c->style = WARD_STYLE_ANTHROPIC;

	/* who may use it: the kernel's identity, never a header */
	if (c->tofu_failed) {
		deny_later(c, 403, "permission_denied", "permission_error",
			   "ward: this binary changed since first use (TOFU); inference refused");
	} else if (p->n_inference_binaries) {
		bool ok = false;

		for (size_t i = 0; c->binary && i < p->n_inference_binaries; i++)
			ok |= ward_match_binary(p->inference_binaries[i].path, c->binary);
		if (!ok) {
			snprintf(msg, sizeof(msg),
				 "ward: binary %s may not use inference.local (inference.binaries)",
				 c->binary ? c->binary : "(unknown)");
			deny_later(c, 403, "permission_denied", "permission_error", msg);
		}
	}
	if (!c->deny_status && c->api == WARD_API_NONE) {
		snprintf(msg, sizeof(msg),
			 "ward: %s %s is not served by inference.local (POST /v1/chat/completions, "
			 "/v1/completions, /v1/responses, /v1/embeddings, /v1/messages; GET /v1/models)",
			 c->method, c->path);
		deny_later(c, 403, "permission_denied", "permission_error", msg);
	}
	if (!c->deny_status && !inf->n)
		deny_later(c, 403, "permission_denied", "permission_error",
			   "ward: the policy has no inference routes");

	if (ward_http_body_init(&c->req_body, h, inf->max_request) < 0) {
		/* Content-Length over the cap: answer now, never read the body */
		c->close_after = true;
		fail_answer(c, 413, "invalid_request_error", "request_too_large",
			    "ward: request body over the inference limit");
		return c;
	}
	if (h->expect_continue && !c->deny_status)
		ob_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	c->st = C_BODY;
	return c;
}

/* Request body payload: kept while it fits, else the call answers 413. */
static void on_req_data(void *userdata, const char *data, size_t len)
{
	struct ward_inference_call *c = userdata;

	if (c->deny_status || c->body_over)
		return;
	if (c->body.len + len > c->inf->max_request || ob_add(&c->body, data, len) < 0)
		c->body_over = true;
}

static int splice(struct obuf *dst, const char *doc, size_t len, size_t off, size_t cut,
		  const char *ins, size_t ins_len)
{
	if (ob_add(dst, doc, off) < 0 || ob_add(dst, ins, ins_len) < 0 ||
	    ob_add(dst, doc + off + cut, len - off - cut) < 0)
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
				     k < len && doc[k] == '}';
			     });

		r = ob_add(&quoted, "\"model\":", 8);
		if (!r)
			r = ob_add(&quoted, q, qlen);
		if (!r && !empty)
			r = ob_add(&quoted, ",", 1);
		if (!r)
			r = splice(&tmp, doc, len, brace, 0, quoted.p, quoted.len);
	}
	free(q);
	ob_free(&quoted, false);
	if (r < 0) {
		ob_free(&tmp, false);
		return r;
	}
	if (c->req_stream && (c->api == WARD_API_CHAT || c->api == WARD_API_COMPLETIONS) &&
	    strcmp(c->b->prov->name, "anthropic") &&
	    ward_json_member(tmp.p, tmp.len, "stream_options", &so) == 0) {
		static const char add[] = "\"stream_options\":{\"include_usage\":true},";
		size_t brace = (size_t)((char *)memchr(tmp.p, '{', tmp.len) - tmp.p) + 1;

		r = splice(ret, tmp.p, tmp.len, brace, 0, add, sizeof(add) - 1);
		c->usage_added = true;
		ob_free(&tmp, false);
		return r;
	}
	*ret = tmp;
	return 0;
}

static void start_connect(struct ward_inference_call *c);

static void request_complete(struct ward_inference_call *c)
{
	struct ward_inference *inf = c->inf;
	const char *doc = c->body.p ? c->body.p + c->body.off : "";
	struct ward_json_span m;
	struct obuf body = { 0 };
	bool v6;
	int r;

	if (c->deny_status) {
		fail_answer(c, c->deny_status, c->deny_type, c->deny_atype, "%s", c->deny_msg);
		return;
	}
	if (c->body_over) {
		c->close_after = true;
		fail_answer(c, 413, "invalid_request_error", "request_too_large",
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
		fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
			    "ward: the request body has \"model\" twice");
		return;
	}
	if (r < 0) {
		fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
			    "ward: the request body is not a JSON object");
		return;
	}
	if (r == 1 && ward_json_string(doc + m.off, m.len, c->model_req, sizeof(c->model_req)) < 0) {
		fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
			    "ward: \"model\" must be a string of at most %d bytes", MODEL_MAX - 1);
		return;
	}
	c->b = inf_route(inf, r == 1 ? c->model_req : NULL);
	snprintf(c->model_sent, sizeof(c->model_sent), "%s", c->b->route->model);
	if (!ward_provider_speaks(c->b->prov, c->api)) {
		fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
			    "ward: route '%s' (provider %s) does not serve %s %s; use a route whose "
			    "provider speaks this API",
			    c->b->route->name, c->b->prov->name, c->method, c->path);
		return;
	}
	if (inf->budget && inf->spent >= inf->budget) {
		fail_answer(c, 429, "insufficient_quota", "rate_limit_error",
			    "ward: the sandbox's inference budget is spent (%llu of %llu tokens); "
			    "inference.budget.max_tokens",
			    (unsigned long long)inf->spent, (unsigned long long)inf->budget);
		return;
	}
	r = rewrite_body(c, &body);
	if (r < 0) {
		fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
			    "ward: cannot rewrite the request body (%s)", strerror(-r));
		return;
	}
	v6 = strchr(c->b->host, ':') != NULL;
	ob_printf(&c->up, "%s %s%s%s%s HTTP/1.1\r\nHost: %s%s%s", c->method, c->b->prefix,
		  c->suffix, c->query ? "?" : "", c->query ? c->query : "", v6 ? "[" : "",
		  c->b->host, v6 ? "]" : "");
	if (c->b->port != (c->b->https ? 443 : 80))
		ob_printf(&c->up, ":%u", c->b->port);
	ob_printf(&c->up, "\r\n%s: %s", c->b->prov->auth_header, c->b->prov->auth_prefix);
	ob_add(&c->up, c->b->key, c->b->key_len);
	ob_add(&c->up, "\r\n", 2);
	if (c->b->prov->version_header && !c->has_version)
		ob_printf(&c->up, "%s: %s\r\n", c->b->prov->version_header,
			  c->b->prov->version_value);
	if (c->fwd_len)
		ob_add(&c->up, c->fwd, c->fwd_len);
	if (strcmp(c->method, "GET"))
		ob_printf(&c->up, "Content-Length: %zu\r\n", body.len);
	if (ob_printf(&c->up, "Accept-Encoding: identity\r\nConnection: close\r\n\r\n") < 0 ||
	    ob_add(&c->up, body.p, body.len) < 0) {
		ob_free(&body, false);
		fail_answer(c, 500, "server_error", "api_error", "ward: out of memory");
		return;
	}
	ob_free(&body, false);
	ob_free(&c->body, false);
	start_connect(c);
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
			fail_answer(c, 413, "invalid_request_error", "request_too_large",
				    "ward: request body over the inference limit");
		else
			fail_answer(c, 400, "invalid_request_error", "invalid_request_error",
				    "ward: malformed request body framing");
		return 1;
	}
	request_complete(c);
	return 1;
}

/* --- upstream ------------------------------------------------------------- */

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t sz)
{
	const void *a = ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

static void start_connect(struct ward_inference_call *c)
{
	while (c->next_addr < c->b->n_addrs) {
		const struct sockaddr_storage *ss = &c->b->addrs[c->next_addr++];
		socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6);
		int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		addr_text(ss, c->ip, sizeof(c->ip));
		if (fd < 0) {
			c->last_err = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
			c->last_err = errno;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->st = C_CONNECT;
		c->want = EPOLLOUT;
		c->last_activity = ward_mono_ns();
		return;
	}
	fail_answer(c, 502, "upstream_error", "api_error", "ward: cannot connect to %s port %u: %s",
		    c->b->host, c->b->port, strerror(c->last_err ? c->last_err : ECONNREFUSED));
}

/* >0 bytes, 0 EOF, -EAGAIN (c->want set), other -errno. */
static ssize_t up_read(struct ward_inference_call *c, char *buf, size_t n)
{
	ssize_t r;

	if (c->tls) {
		r = ward_tls_read(c->tls, buf, n);
		if (r > 0)
			return r;
		if (r == WARD_TLS_CLOSED)
			return 0;
		if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
			c->want = r == WARD_TLS_WANT_READ ? EPOLLIN : EPOLLOUT;
			return -EAGAIN;
		}
		return -EIO;
	}
	r = read(c->fd, buf, n);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EINTR) {
		c->want = EPOLLIN;
		return -EAGAIN;
	}
	return -errno;
}

static ssize_t up_write(struct ward_inference_call *c, const char *buf, size_t n)
{
	ssize_t r;

	if (c->tls) {
		r = ward_tls_write(c->tls, buf, n);
		if (r > 0)
			return r;
		if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
			c->want = r == WARD_TLS_WANT_READ ? EPOLLIN : EPOLLOUT;
			return -EAGAIN;
		}
		return -EIO;
	}
	r = send(c->fd, buf, n, MSG_NOSIGNAL);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EINTR) {
		c->want = EPOLLOUT;
		return -EAGAIN;
	}
	return -errno;
}

static void on_sse(void *userdata, const char *event, const char *data, size_t len)
{
	struct ward_inference_call *c = userdata;
	uint64_t in = 0, out = 0;
	bool has_out = false;

	(void)event;
	if (len == 6 && !memcmp(data, "[DONE]", 6))
		return;
	if (ward_json_usage(data, len, &in, &out, &has_out) != 1)
		return;
	/* Anthropic sends input in message_start and a running output total in
	 * message_delta; OpenAI one final usage: the largest of each is the total. */
	c->has_usage = true;
	if (in > c->tok_in)
		c->tok_in = in;
	if (has_out && out > c->tok_out)
		c->tok_out = out;
}

static void on_resp_data(void *userdata, const char *data, size_t len)
{
	struct ward_inference_call *c = userdata;

	if (!len)
		return;
	if (c->stream) {
		if (!c->http10)
			ob_printf(&c->out, "%zx\r\n", len);
		ob_add(&c->out, data, len);
		if (!c->http10)
			ob_add(&c->out, "\r\n", 2);
		if (c->sse_init)
			ward_sse_feed(&c->sse, data, len, on_sse, c);
		return;
	}
	if (c->rbody.len + len > c->inf->max_response || ob_add(&c->rbody, data, len) < 0)
		c->body_over = true;
}

static bool skip_resp_header(const struct ward_http_header *hd)
{
	static const char *const names[] = { "connection", "keep-alive", "transfer-encoding",
					     "content-length", "te", "trailer", "upgrade",
					     "proxy-connection", "proxy-authenticate", "set-cookie",
					     NULL };

	for (size_t i = 0; names[i]; i++)
		if (hname_is(&hd->name, names[i]))
			return true;
	return false;
}

static void client_head(struct ward_inference_call *c, const char *framing)
{
	const struct ward_http_head *h = &c->resp.head;
	bool close = !c->keep_alive || c->close_after;

	ob_printf(&c->out, "HTTP/1.1 %d %.*s\r\n", h->status, (int)h->reason.len,
		  h->reason.p ? h->reason.p : "");
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];

		if (skip_resp_header(hd))
			continue;
		ob_printf(&c->out, "%.*s: %.*s\r\n", (int)hd->name.len, hd->name.p,
			  (int)hd->value.len, hd->value.p);
	}
	ob_printf(&c->out, "%s%s\r\n", framing, close ? "Connection: close\r\n" : "");
	c->head_sent = true;
}

static void response_done(struct ward_inference_call *c)
{
	close_upstream(c);
	if (c->stream) {
		if (!c->http10)
			ob_add(&c->out, "0\r\n\r\n", 5);
	} else {
		const char *doc = c->rbody.p ? c->rbody.p + c->rbody.off : "";
		uint64_t in = 0, out = 0;
		bool has_out = false;
		char framing[64];

		if (c->status >= 200 && c->status < 300 &&
		    ward_json_usage(doc, c->rbody.len, &in, &out, &has_out) == 1) {
			c->has_usage = true;
			c->tok_in = in;
			c->tok_out = out;
		}
		snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", c->rbody.len);
		client_head(c, framing);
		ob_add(&c->out, doc, c->rbody.len);
		ob_free(&c->rbody, false);
	}
	c->st = C_DONE;
	account(c);
	log_row(c, "allow");
}

static void got_head(struct ward_inference_call *c)
{
	const struct ward_http_head *h = &c->resp.head;
	const struct ward_http_header *ct = ward_http_find_header(h, "content-type");

	c->status = h->status;
	c->stream = ct && ct->value.len >= 17 && !strncasecmp(ct->value.p, "text/event-stream", 17);
	if (c->http10 && c->stream)
		c->close_after = true; /* no chunked for HTTP/1.0: the close ends it */
	ward_http_body_init(&c->resp_body, h, c->stream ? 0 : c->inf->max_response);
	if (c->stream) {
		c->sse_init = ward_sse_init(&c->sse, 0) == 0;
		client_head(c, c->http10 ? "" : "Transfer-Encoding: chunked\r\n");
	}
	c->st = C_RBODY;
}

/* Response bytes from the upstream. */
static void response_bytes(struct ward_inference_call *c, const char *data, size_t n)
{
	while (n && (c->st == C_HEAD || c->st == C_RBODY)) {
		size_t used = 0;
		int r;

		if (c->st == C_HEAD) {
			r = ward_http_feed(&c->resp, data, n, &used);
			if (r == 0)
				return;
			if (r < 0) {
				fail_answer(c, 502, "upstream_error", "api_error",
					    "ward: malformed response from %s: %s", c->b->host,
					    c->resp.reason ? c->resp.reason : "bad head");
				return;
			}
			data += used;
			n -= used;
			if (c->resp.head.informational) {
				ward_http_parser_reset(&c->resp);
				continue;
			}
			if (!c->t_first)
				c->t_first = ward_mono_ns();
			got_head(c);
			if (c->resp_body.framing == WARD_HTTP_BODY_LENGTH &&
			    c->resp_body.remaining > c->inf->max_response) {
				fail_answer(c, 502, "upstream_error", "api_error",
					    "ward: response body over %llu bytes (non-streamed "
					    "responses are capped)",
					    (unsigned long long)c->inf->max_response);
				return;
			}
			if (c->resp_body.framing == WARD_HTTP_BODY_NONE) {
				response_done(c);
				return;
			}
			continue;
		}
		r = ward_http_body_feed(&c->resp_body, data, n, &used, on_resp_data, c);
		if (c->body_over || r == -EFBIG) {
			fail_answer(c, 502, "upstream_error", "api_error",
				    "ward: response body over %llu bytes (non-streamed responses "
				    "are capped)",
				    (unsigned long long)c->inf->max_response);
			return;
		}
		if (r < 0) {
			fail_answer(c, 502, "upstream_error", "api_error",
				    "ward: malformed response body from %s", c->b->host);
			return;
		}
		if (r == 1) {
			response_done(c);
			return;
		}
		return;
	}
}

static void upstream_eof(struct ward_inference_call *c)
{
	if (c->st == C_RBODY && c->resp_body.framing == WARD_HTTP_BODY_CLOSE) {
		response_done(c);
		return;
	}
	fail_answer(c, 502, "upstream_error", "api_error",
		    "ward: %s closed the connection before the response was complete",
		    c->b->host);
}

static void check_connect(struct ward_inference_call *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		c->last_err = soerr;
		close_upstream(c);
		start_connect(c);
		return;
	}
	if (c->b->https) {
		struct ward_error err = { 0 };

		c->tls = ward_tls_client_new(c->inf->tls, c->fd, c->b->host, &err);
		if (!c->tls) {
			fail_answer(c, 502, "upstream_error", "api_error", "ward: TLS to %s: %s",
				    c->b->host, err.msg);
			return;
		}
		c->st = C_TLS;
		return;
	}
	c->st = C_SEND;
}

void ward_inference_call_io(struct ward_inference_call *c, uint32_t events)
{
	char buf[READ_CHUNK];

	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t r;

		switch (c->st) {
		case C_BODY:
		case C_LOCAL:
		case C_DONE:
			return;
		case C_CONNECT:
			if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				return;
			check_connect(c);
			break;
		case C_TLS:
			r = ward_tls_handshake(c->tls);
			if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
				c->want = r == WARD_TLS_WANT_READ ? EPOLLIN : EPOLLOUT;
				return;
			}
			if (r < 0) {
				fail_answer(c, 502, "upstream_error", "api_error",
					    "ward: TLS to %s: %s", c->b->host,
					    ward_tls_error(c->tls)[0] ? ward_tls_error(c->tls)
								      : "handshake failed");
				return;
			}
			c->st = C_SEND;
			break;
		case C_SEND:
			c->t_connect_end = c->t_connect_end ? c->t_connect_end : ward_mono_ns();
			if (!c->up.len) {
				ob_free(&c->up, true); /* it held the key */
				if (ward_http_parser_init(&c->resp, WARD_HTTP_RESPONSE, NULL) < 0) {
					fail_answer(c, 500, "server_error", "api_error",
						    "ward: out of memory");
					return;
				}
				c->resp_init = true;
				c->st = C_HEAD;
				c->want = EPOLLIN;
				break;
			}
			r = up_write(c, c->up.p + c->up.off, c->up.len);
			if (r == -EAGAIN)
				return;
			if (r < 0) {
				fail_answer(c, 502, "upstream_error", "api_error",
					    "ward: sending to %s: %s", c->b->host,
					    strerror((int)-r));
				return;
			}
			c->up.off += (size_t)r;
			c->up.len -= (size_t)r;
			c->last_activity = ward_mono_ns();
			break;
		case C_HEAD:
		case C_RBODY:
			if (c->out.len >= OUT_HIGH) {
				c->want = 0; /* the client drains first: ward_inference_call_consume */
				return;
			}
			r = up_read(c, buf, sizeof(buf));
			if (r == -EAGAIN)
				return;
			if (r < 0) {
				fail_answer(c, 502, "upstream_error", "api_error",
					    "ward: reading from %s: %s", c->b->host,
					    c->tls ? ward_tls_error(c->tls) : strerror((int)-r));
				return;
			}
			c->last_activity = ward_mono_ns();
			if (r == 0) {
				upstream_eof(c);
				return;
			}
			response_bytes(c, buf, (size_t)r);
			break;
		}
	}
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
		ob_free(&c->out, false); /* a big answer was sent: give the memory back */
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
		fail_answer(c, 408, "invalid_request_error", "invalid_request_error",
			    "ward: request body not complete in time");
		break;
	case C_CONNECT:
	case C_TLS:
		fail_answer(c, 504, "upstream_error", "api_error",
			    "ward: connecting to %s timed out", c->b->host);
		break;
	case C_SEND:
	case C_HEAD:
	case C_RBODY:
		if (now >= c->t_start + (uint64_t)c->inf->total_ms * 1000000ull)
			fail_answer(c, 504, "upstream_error", "api_error",
				    "ward: the request took longer than %u ms (total limit)",
				    c->inf->total_ms);
		else
			fail_answer(c, 504, "upstream_error", "api_error",
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
		account(c);
		log_row(c, "allow");
	}
	close_upstream(c);
	if (c->resp_init)
		ward_http_parser_free(&c->resp);
	if (c->sse_init)
		ward_sse_free(&c->sse);
	ob_free(&c->up, true);
	ob_free(&c->body, false);
	ob_free(&c->rbody, false);
	ob_free(&c->out, false);
	free(c->fwd);
	free(c->query);
	free(c->binary);
	free(c->sha);
	free(c);
}
