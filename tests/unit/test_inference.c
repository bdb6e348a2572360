// SPDX-License-Identifier: MIT
/* inference: the JSON scanner (members, escapes, duplicates, usage), the
 * provider table, route choice, and whole calls driven like the proxy loop
 * drives them against a backend on a loopback socket of the test's own:
 * key injected and client auth stripped, model rewritten, include_usage
 * added, SSE re-framed as chunked, usage accounted, budget refused in each
 * provider's format, refusals (path, API, binary), and no key in a row. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit/sessions.h"
#include "policy/policy.h"
#include "policy/secrets.h"
#include "proxy/http.h"
#include "proxy/inference.h"
#include "proxy/inference_json.h"
#include "proxy/providers.h"
#include "tmpdir.h"

/* this cmocka has no assert_double_equal */
#define assert_near(a, b, eps)                                                                     \
	do {                                                                                       \
		double d_ = (double)(a) - (double)(b);                                             \
		if (d_ > (eps) || -d_ > (eps))                                                     \
			fail_msg("%.12g != %.12g", (double)(a), (double)(b));                      \
	} while (0)

#define KEY_O "sk-unit-openai-0123456789"
#define KEY_A "sk-ant-unit-9876543210"

/* --- JSON ------------------------------------------------------------------ */

#define AGENT_SHA "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"

static void test_json_member(void **state)
{
	const char *d =
		" { \"a\" : [1, {\"model\": 2}], \"mo\\u0064el\" :\t\"gpt\\\"x\" , \"z\":null } ";
	struct ward_json_span sp;
	char out[32];

	(void)state;
	assert_int_equal(ward_json_member(d, strlen(d), "model", &sp), 1);
	assert_int_equal(ward_json_string(d + sp.off, sp.len, out, sizeof(out)), 0);
	assert_string_equal(out, "gpt\"x");
	assert_int_equal(ward_json_member(d, strlen(d), "nope", NULL), 0);
	/* nested "model" is not the top-level one; duplicates are ambiguous */
	assert_int_equal(ward_json_member("{\"x\":{\"model\":1}}", 17, "model", NULL), 0);
	assert_int_equal(ward_json_member("{\"model\":1,\"model\":2}", 21, "model", NULL), -EEXIST);
	/* malformed */
	assert_int_equal(ward_json_member("{\"model\":", 9, "model", NULL), -EBADMSG);
	assert_int_equal(ward_json_member("[1]", 3, "model", NULL), -EBADMSG);
	assert_int_equal(ward_json_member("{\"a\":1} x", 9, "a", NULL), -EBADMSG);
	assert_int_equal(ward_json_member("{\"a\":01}", 8, "a", NULL), -EBADMSG);
	assert_int_equal(ward_json_member("{\"a\":\"\x01\"}", 8, "a", NULL), -EBADMSG);
	assert_int_equal(ward_json_member("{\"a\":\"\\ud800\"}", 14, "a", NULL), -EBADMSG);
	assert_int_equal(ward_json_string("\"\\ud83d\\ude00\"", 14, out, sizeof(out)), 0);
	assert_string_equal(out, "\xf0\x9f\x98\x80");
	assert_int_equal(ward_json_string("\"abcdef\"", 8, out, 4), -ENAMETOOLONG);
	/* deep nesting is bounded, not a stack overflow */
	{
		char deep[600];

		memset(deep, '[', 300);
		memset(deep + 300, ']', 300);
		assert_int_equal(ward_json_validate(deep, 600), -EBADMSG);
	}
}

static void test_json_usage(void **state)
{
	struct ward_usage u = { 0 };
	const char *oa = "{\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}";
	const char *oac = "{\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":10,"
			  "\"prompt_tokens_details\":{\"cached_tokens\":800,\"audio_tokens\":0}}}";
	const char *an = "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":13,"
			 "\"cache_creation_input_tokens\":4,\"cache_read_input_tokens\":2,"
			 "\"output_tokens\":1}}}";
	const char *rs =
		"{\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,"
		"\"input_tokens_details\":{\"cached_tokens\":3},\"output_tokens\":6}}}";

	(void)state;
	assert_int_equal(ward_json_usage(oa, strlen(oa), &u), 1);
	assert_true(u.input == 11 && u.output == 7 && u.cached == 0 && u.has_output);
	/* OpenAI: prompt_tokens already holds the cached ones */
	assert_int_equal(ward_json_usage(oac, strlen(oac), &u), 1);
	assert_true(u.input == 1000 && u.cached == 800 && u.output == 10);
	/* Anthropic: input_tokens excludes the cache; creation counts as input */
	assert_int_equal(ward_json_usage(an, strlen(an), &u), 1);
	assert_true(u.input == 19 && u.cached == 2 && u.output == 1);
	assert_int_equal(ward_json_usage(rs, strlen(rs), &u), 1);
	assert_true(u.input == 5 && u.cached == 3 && u.output == 6);
	assert_int_equal(ward_json_usage("{\"usage\":null}", 14, &u), 0);
}

/* --- cost and thresholds ------------------------------------------------------ */

static void test_cost(void **state)
{
	struct ward_inference_route rt = {
		.price_known = true, .price_input = 3, .price_output = 15, .price_cached = 0.3
	};
	struct ward_usage an = { .input = 1000 + 200 + 5000, .cached = 5000, .output = 500 };
	struct ward_usage oa = { .input = 1000, .cached = 800, .output = 10 };
	struct ward_usage bad = { .input = 10, .cached = 50, .output = 0 };

	(void)state;
	/* 1200 uncached at 3, 5000 cached at 0.3, 500 out at 15, per million */
	assert_near(ward_inference_cost_usd(&rt, &an), 0.0126, 1e-12);
	rt = (struct ward_inference_route){
		.price_known = true, .price_input = 1.25, .price_output = 10, .price_cached = 0.125
	};
	assert_near(ward_inference_cost_usd(&rt, &oa), (200 * 1.25 + 800 * 0.125 + 100) / 1e6,
		    1e-15);
	/* more cached than input (a confused upstream): never below all-cached */
	assert_near(ward_inference_cost_usd(&rt, &bad), 10 * 0.125 / 1e6, 1e-15);
	rt.price_known = false;
	assert_near(ward_inference_cost_usd(&rt, &oa), 0, 0);
}

static void test_budget_crossed(void **state)
{
	const double at[] = { 0.8, 0.95 };
	unsigned w = 0;

	(void)state;
	assert_int_equal(ward_budget_crossed(0.5, 1.0, at, 2, &w), 0);
	assert_int_equal(ward_budget_crossed(0.8, 1.0, at, 2, &w), 1u << 0); /* at the mark */
	assert_int_equal(ward_budget_crossed(0.9, 1.0, at, 2, &w), 0);	     /* once */
	/* a jump over 95 % and 100 % reports both */
	assert_int_equal(ward_budget_crossed(1.2, 1.0, at, 2, &w), (1u << 1) | WARD_BUDGET_FULL);
	assert_int_equal(ward_budget_crossed(2.0, 1.0, at, 2, &w), 0);
	assert_int_equal(w, 3u | WARD_BUDGET_FULL);
	/* no budget: nothing */
	w = 0;
	assert_int_equal(ward_budget_crossed(5, 0, at, 2, &w), 0);
	/* tokens: 30 of 30 reached without warn_at */
	assert_int_equal(ward_budget_crossed(30, 30, NULL, 0, &w), WARD_BUDGET_FULL);
}

/* --- providers -------------------------------------------------------------- */

static void test_providers(void **state)
{
	const char *suffix = NULL;
	size_t len = 0;
	char *b;

	(void)state;
	assert_int_equal(ward_api_of("POST", "/v1/chat/completions", &suffix), WARD_API_CHAT);
	assert_string_equal(suffix, "/chat/completions");
	assert_int_equal(ward_api_of("POST", "/v1/messages", NULL), WARD_API_MESSAGES);
	assert_int_equal(ward_api_of("GET", "/v1/models/", NULL), WARD_API_MODELS);
	assert_int_equal(ward_api_of("GET", "/v1/chat/completions", NULL), WARD_API_NONE);
	assert_int_equal(ward_api_of("POST", "/v1/files", NULL), WARD_API_NONE);
	assert_int_equal(ward_api_of("POST", "/v1/messages/count_tokens", NULL), WARD_API_NONE);
	assert_true(ward_provider_speaks(ward_provider_find("anthropic"), WARD_API_MESSAGES));
	assert_false(ward_provider_speaks(ward_provider_find("openai"), WARD_API_MESSAGES));
	assert_false(ward_provider_speaks(ward_provider_find("nvidia"), WARD_API_RESPONSES));
	assert_string_equal(ward_provider_find("anthropic")->auth_header, "x-api-key");
	assert_string_equal(ward_provider_find("nvidia")->base_url,
			    "https://integrate.api.nvidia.com/v1");
	assert_null(ward_provider_find("bedrock"));
	assert_true(ward_provider_header_allowed("Anthropic-Beta", 14));
	assert_false(ward_provider_header_allowed("authorization", 13));
	assert_false(ward_provider_header_allowed("x-api-key", 9));
	assert_false(ward_provider_header_allowed("cookie", 6));
	assert_false(ward_provider_header_allowed("accept-encoding", 15));
	b = ward_provider_error_body(WARD_STYLE_ANTHROPIC, "m \"q\"", "t", "c", "rate_limit_error",
				     &len);
	assert_string_equal(b, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
			       "\"message\":\"m \\\"q\\\"\"}}\n");
	free(b);
	b = ward_provider_error_body(WARD_STYLE_OPENAI, "m", "insufficient_quota",
				     "insufficient_quota", "x", &len);
	assert_string_equal(b, "{\"error\":{\"message\":\"m\",\"type\":\"insufficient_quota\","
			       "\"param\":null,\"code\":\"insufficient_quota\"}}\n");
	free(b);
}

/* --- whole calls ------------------------------------------------------------- */

struct fx {
	int lfd;
	uint16_t port;
	struct ward_policy *p;
	struct ward_inference *inf;
	char *audit_path;
	struct ward_audit *audit;
};

static struct ward_policy *load(const char *yaml)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer("inf.yaml", yaml, strlen(yaml), &p, &d, &err);

	if (r < 0)
		ward_diags_print(&d, stderr);
	assert_int_equal(r, 0);
	ward_diags_free(&d);
	return p;
}

static int setup_with(void **state, const char *fast_extra, const char *claude_extra,
		      const char *inference_extra)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct ward_inference_config cfg = { 0 };
	struct ward_error err = { 0 };
	char yaml[4096], tmpl[] = "/tmp/ward-test-inference-XXXXXX";

	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	getsockname(f->lfd, (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	snprintf(
		yaml, sizeof(yaml),
		"version: 1\n"
		"inference:\n"
		"  routes:\n"
		"    - { name: fast, provider: openai, model: real-small, api_key_env: WARD_UT_O,\n"
		"        base_url: \"http://127.0.0.1:%u/v1\", aliases: [gpt-4o-mini]%s }\n"
		"    - { name: claude, provider: anthropic, model: real-claude, api_key_env: WARD_UT_A,\n"
		"        base_url: \"http://127.0.0.1:%u/v1\"%s }\n"
		"  binaries: [{ path: /usr/bin/agent }, { path: /usr/bin/bash, ancestors: true },\n"
		"             { path: /usr/bin/make },\n"
		"             { sha256: " AGENT_SHA " }]\n"
		"%s",
		f->port, fast_extra, f->port, claude_extra, inference_extra);
	f->p = load(yaml);
	setenv("WARD_UT_O", KEY_O, 1);
	setenv("WARD_UT_A", KEY_A, 1);
	assert_non_null(mkdtemp(tmpl));
	assert_true(asprintf(&f->audit_path, "%s/log.db", tmpl) > 0);
	assert_int_equal(ward_audit_open(f->audit_path, &f->audit, &err), 0);
	cfg.policy = f->p;
	cfg.audit = f->audit;
	cfg.sandbox = "unit";
	assert_int_equal(ward_inference_new(&cfg, &f->inf, &err), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, "", "", "  budget: { max_tokens: 30 }\n");
}

/* 30 tokens per session, 60 for the sandbox (every session's calls) */
static int setup_sessions(void **state)
{
	return setup_with(state, "", "",
			  "  budget:\n"
			  "    max_tokens: 60\n"
			  "    warn_at: [0.5]\n"
			  "    per_session: { max_tokens: 30 }\n");
}

/* Prices of the test's own (USD per million tokens): round figures. */
static int setup_money(void **state)
{
	return setup_with(state, ", price: { input: 100, output: 1000, cached_input: 10 }",
			  ", price: { input: 200, output: 2000, cached_input: 20 },\n"
			  "        hosts: [api.claude.test]",
			  "  budget: { max_tokens: 2500, max_usd: 0.045, warn_at: [0.8, 0.95] }\n"
			  "  strict_models: true\n");
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[600];

	ward_inference_free(f->inf);
	ward_audit_close(f->audit);
	ward_policy_free(f->p);
	close(f->lfd);
	snprintf(cmd, sizeof(cmd), "rm -rf \"$(dirname '%s')\"", f->audit_path);
	(void)!system(cmd);
	free(f->audit_path);
	free(f);
	return 0;
}

struct result {
	char out[16384];
	size_t len;
	char upstream[8192]; /* what the backend received */
	bool keep_alive;
};

static void drain(struct ward_inference_call *c, struct result *res)
{
	const char *p;
	size_t n = ward_inference_call_peek(c, &p);

	if (n + res->len >= sizeof(res->out))
		n = sizeof(res->out) - res->len - 1;
	if (n)
		memcpy(res->out + res->len, p, n);
	res->len += n;
	res->out[res->len] = '\0';
	ward_inference_call_consume(c, n);
}

/* The provider host a direct call went to (route hosts:); NULL: inference.local. */
static const char *call_host;
/* The ancestor the kernel matched, and the acting binary's sha256 (NULL: none). */
static const char *call_via, *call_sha;
/* The caller's session (ward exec); NULL: none. */
static const char *call_session;

/* One request through a call; backend_reply NULL: no upstream expected. */
static void call(struct fx *f, const char *binary, const char *request, const char *backend_reply,
		 struct result *res)
{
	struct ward_inference_client who = { .known = true,
					     .binary = binary,
					     .pid = 1,
					     .host = call_host,
					     .via = call_via,
					     .sha256 = call_sha,
					     .session = call_session };
	struct ward_http_parser hp;
	struct ward_inference_call *c;
	size_t used = 0, n = strlen(request);
	int r, bfd = -1;

	memset(res, 0, sizeof(*res));
	assert_int_equal(ward_http_parser_init(&hp, WARD_HTTP_REQUEST, NULL), 0);
	assert_int_equal(ward_http_feed(&hp, request, n, &used), 1);
	c = ward_inference_call_new(f->inf, &who, &hp.head);
	assert_non_null(c);
	ward_http_parser_free(&hp); /* the call copied what it needs */
	r = ward_inference_call_feed(c, request + used, n - used, &used);
	assert_int_equal(r, 1);
	for (int i = 0; i < 200 && !ward_inference_call_done(c, &res->keep_alive); i++) {
		int fd = ward_inference_call_fd(c);
		uint32_t ev = ward_inference_call_events(c);

		drain(c, res);
		if (fd >= 0 && bfd < 0 && backend_reply) {
			/* the backend: one request in, the canned reply out, close */
			char buf[8192];
			size_t got = 0;

			ward_inference_call_io(c, EPOLLOUT);
			bfd = accept(f->lfd, NULL, NULL);
			assert_true(bfd >= 0);
			for (int k = 0; k < 50 && !strstr(res->upstream, "}"); k++) {
				struct pollfd pf = { .fd = bfd, .events = POLLIN };
				ssize_t m;

				ward_inference_call_io(c, EPOLLOUT);
				if (poll(&pf, 1, 20) <= 0)
					continue;
				m = read(bfd, buf, sizeof(buf) - 1 - got);
				if (m <= 0)
					break;
				memcpy(res->upstream + got, buf, (size_t)m);
				got += (size_t)m;
				res->upstream[got] = '\0';
			}
			assert_int_equal(write(bfd, backend_reply, strlen(backend_reply)),
					 (ssize_t)strlen(backend_reply));
			close(bfd);
			continue;
		}
		if (fd >= 0 && ev) {
			struct pollfd pf = { .fd = fd,
					     .events = (short)((ev & EPOLLIN ? POLLIN : 0) |
							       (ev & EPOLLOUT ? POLLOUT : 0)) };

			if (poll(&pf, 1, 100) > 0)
				ward_inference_call_io(
					c, (pf.revents & POLLIN ? EPOLLIN : 0) |
						   (pf.revents & POLLOUT ? EPOLLOUT : 0) |
						   (pf.revents & POLLHUP ? EPOLLHUP : 0));
		} else {
			ward_inference_call_io(c, 0);
		}
	}
	drain(c, res);
	assert_true(ward_inference_call_done(c, NULL));
	ward_inference_call_free(c);
}

#define POST(path, body, extra)                                                                    \
	"POST " path                                                                               \
	" HTTP/1.1\r\nHost: inference.local\r\nContent-Type: application/json\r\n" extra           \
	"Content-Length: %zu\r\n\r\n" body

/* fmt is one of the POST() literals: its only conversion is the length */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *req(const char *fmt, const char *body)
{
	char *s = NULL;

	assert_true(asprintf(&s, fmt, strlen(body)) > 0);
	return s;
}
#pragma GCC diagnostic pop

static const char chat_reply[] =
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 79\r\n"
	"Set-Cookie: x=1\r\n\r\n"
	"{\"id\":\"x\",\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}";

static void test_call_chat_rewrite_and_key(void **state)
{
	struct fx *f = *state;
	struct result res;
	const char *body = "{ \"messages\": [], \"model\" : \"gpt-4o-mini\" }";
	char *r = req(POST("/v1/chat/completions",
			   "{ \"messages\": [], \"model\" : \"gpt-4o-mini\" }",
			   "Authorization: Bearer sk-inside\r\nX-Api-Key: nope\r\nCookie: c=1\r\n"),
		      body);

	call(f, "/usr/bin/agent", r, chat_reply, &res);
	free(r);
	assert_non_null(strstr(res.upstream, "POST /v1/chat/completions HTTP/1.1\r\n"));
	assert_non_null(strstr(res.upstream, "Authorization: Bearer " KEY_O "\r\n"));
	assert_null(strstr(res.upstream, "sk-inside"));
	assert_null(strstr(res.upstream, "nope"));
	assert_null(strstr(res.upstream, "Cookie"));
	assert_non_null(strstr(res.upstream, "{ \"messages\": [], \"model\" : \"real-small\" }"));
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(res.out, "Content-Length: 79\r\n"));
	assert_null(strstr(res.out, "Set-Cookie"));
	assert_true(res.keep_alive);
	assert_int_equal(ward_inference_spent(f->inf), 18);
}

/* A later generation's handle (live apply) counts the budget on: what was
 * spent under the first handle is spent under the derived one, and the
 * other way round. */
static void test_derive_keeps_usage(void **state)
{
	struct fx *f = *state;
	struct ward_inference *d = NULL;
	struct ward_error err = { 0 };
	struct result res;
	const char *body = "{ \"messages\": [], \"model\" : \"gpt-4o-mini\" }";
	char *r = req(POST("/v1/chat/completions",
			   "{ \"messages\": [], \"model\" : \"gpt-4o-mini\" }", ""),
		      body);

	call(f, "/usr/bin/agent", r, chat_reply, &res);
	assert_int_equal(ward_inference_spent(f->inf), 18);
	assert_int_equal(ward_inference_derive(f->inf, f->p, &d, &err), 0);
	assert_int_equal(ward_inference_spent(d), 18);
	assert_int_equal(ward_inference_budget(d), 30);
	{
		struct ward_inference *first = f->inf;

		f->inf = d; /* the next call under the derived handle */
		call(f, "/usr/bin/agent", r, chat_reply, &res);
		f->inf = first;
	}
	assert_int_equal(ward_inference_spent(f->inf), 36);
	ward_inference_free(d);
	free(r);
}

static void test_call_stream_anthropic(void **state)
{
	struct fx *f = *state;
	struct result res;
	static const char sse[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
		"45\r\nevent: message_start\ndata: {\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n\r\n"
		"3a\r\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":4}}\n\n\r\n"
		"0\r\n\r\n";
	const char *body = "{\"model\":\"claude\",\"stream\":true}";
	char *r = req(POST("/v1/messages", "{\"model\":\"claude\",\"stream\":true}", ""), body);

	call(f, "/usr/bin/agent", r, sse, &res);
	free(r);
	assert_non_null(strstr(res.upstream, "x-api-key: " KEY_A "\r\n"));
	assert_non_null(strstr(res.upstream, "anthropic-version: 2023-06-01\r\n"));
	assert_non_null(strstr(res.upstream, "{\"model\":\"real-claude\",\"stream\":true}"));
	/* no include_usage for Anthropic */
	assert_null(strstr(res.upstream, "stream_options"));
	assert_non_null(strstr(res.out, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(res.out, "event: message_delta"));
	assert_non_null(strstr(res.out, "\r\n0\r\n\r\n"));
	assert_int_equal(ward_inference_spent(f->inf), 7);
}

static void test_call_openai_stream_usage_added(void **state)
{
	struct fx *f = *state;
	struct result res;
	static const char sse[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
		"data: {\"choices\":[]}\n\n"
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\n"
		"data: [DONE]\n\n";
	const char *body = "{\"model\":\"fast\",\"stream\":true}";
	char *r =
		req(POST("/v1/chat/completions", "{\"model\":\"fast\",\"stream\":true}", ""), body);

	call(f, "/usr/bin/agent", r, sse, &res);
	free(r);
	assert_non_null(strstr(res.upstream, "{\"stream_options\":{\"include_usage\":true},"
					     "\"model\":\"real-small\",\"stream\":true}"));
	/* close-delimited upstream body re-framed as chunked */
	assert_non_null(strstr(res.out, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(res.out, "data: [DONE]\n\n\r\n0\r\n\r\n"));
	assert_int_equal(ward_inference_spent(f->inf), 5);
}

static void test_call_local_answers(void **state)
{
	struct fx *f = *state;
	struct result res;
	char *r;

	call(f, "/usr/bin/agent", "GET /v1/models HTTP/1.1\r\nHost: inference.local\r\n\r\n", NULL,
	     &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(res.out, "\"data\":[{\"id\":\"fast\""));

	r = req(POST("/v1/files", "{}", ""), "{}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 403 Forbidden"));
	assert_non_null(
		strstr(res.out, "{\"error\":{\"message\":\"ward: POST /v1/files is not served"));

	r = req(POST("/v1/messages", "{\"model\":\"fast\"}", ""), "{\"model\":\"fast\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 400 Bad Request"));
	assert_non_null(
		strstr(res.out,
		       "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
		       "\"message\":\"ward: route 'fast' (provider openai) does not serve"));

	/* inference.binaries: another binary is refused, whatever it asks */
	r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""), "{\"model\":\"fast\"}");
	call(f, "/usr/bin/curl", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 403 Forbidden"));
	assert_non_null(strstr(res.out, "binary /usr/bin/curl may not use inference.local"));
	assert_int_equal(ward_inference_spent(f->inf), 0);

	/* the acting binary is a child: admitted through an ancestors: true entry
	 * only (make's entry does not extend to children), or by its content */
	r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""), "{\"model\":\"fast\"}");
	call_via = "/usr/bin/make";
	call(f, "/tmp/copy-of-curl", r, NULL, &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 403 Forbidden"));
	call_via = NULL;
	call_sha = "0000000000000000000000000000000000000000000000000000000000000000";
	call(f, "/tmp/copy-of-curl", r, NULL, &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 403 Forbidden"));
	call_via = "/usr/bin/bash";
	call_sha = NULL;
	call(f, "/tmp/copy-of-curl", r, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	call_via = NULL;
	call_sha = AGENT_SHA;
	call(f, "/home/u/.cache/agent-copy", r, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
	     &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	call_sha = NULL;
	free(r);
}

static void test_call_budget(void **state)
{
	struct fx *f = *state;
	struct result res;
	char *r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""),
		      "{\"model\":\"fast\"}");

	call(f, "/usr/bin/agent", r, chat_reply, &res);
	call(f, "/usr/bin/agent", r, chat_reply, &res);
	assert_int_equal(ward_inference_spent(f->inf), 36);
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 429 Too Many Requests"));
	assert_non_null(strstr(res.out, "x-should-retry: false\r\n"));
	assert_non_null(strstr(res.out, "\"type\":\"insufficient_quota\""));
	r = req(POST("/v1/messages", "{\"model\":\"claude\"}", ""), "{\"model\":\"claude\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(
		strstr(res.out, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\""));
}

static void test_call_upstream_failures(void **state)
{
	struct fx *f = *state;
	struct result res;
	char *r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""),
		      "{\"model\":\"fast\"}");

	call(f, "/usr/bin/agent", r, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"cut", &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 502 Bad Gateway"));
	assert_non_null(strstr(res.out, "closed the connection before the response was complete"));
	call(f, "/usr/bin/agent", r, "garbage\r\n\r\n", &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 502 Bad Gateway"));
	assert_false(res.keep_alive == true && !strstr(res.out, "502"));
	free(r);
}

static void test_rows_never_hold_the_key(void **state)
{
	struct fx *f = *state;
	char *buf = NULL, cmd[600];
	size_t len = 0;
	FILE *p;

	test_call_chat_rewrite_and_key(state);
	ward_audit_flush(f->audit);
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' .dump", f->audit_path);
	p = popen(cmd, "r");
	assert_non_null(p);
	{
		char chunk[4096];
		size_t n;
		FILE *m = open_memstream(&buf, &len);

		while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(m);
	}
	pclose(p);
	if (len == 0) {
		free(buf);
		skip(); /* no sqlite3 CLI */
	}
	assert_non_null(strstr(buf, "inference.routes.fast"));
	assert_non_null(
		strstr(buf, "model_requested=gpt-4o-mini model_sent=real-small status=200"));
	assert_null(strstr(buf, KEY_O));
	assert_null(strstr(buf, KEY_A));
	free(buf);
}

struct rowbuf {
	char s[16384];
	size_t len;
};

static int row_cb(const struct ward_audit_row *r, void *userdata)
{
	struct rowbuf *b = userdata;
	int n = snprintf(b->s + b->len, sizeof(b->s) - b->len, "%s %s %s\n", r->action,
			 r->rule ? r->rule : "-", r->reason ? r->reason : "-");

	if (n > 0 && (size_t)n < sizeof(b->s) - b->len)
		b->len += (size_t)n;
	return 0;
}

/* The inference rows so far, one line each: "action rule reason". */
static void rows(struct fx *f, struct rowbuf *b)
{
	struct ward_audit_reader *rd = NULL;
	struct ward_audit_filter flt = { .layer = "inference" };
	struct ward_error err = { 0 };

	memset(b, 0, sizeof(*b));
	assert_int_equal(ward_audit_flush(f->audit), 0);
	assert_int_equal(ward_audit_reader_open(f->audit_path, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, &flt, row_cb, b, &err), 0);
	ward_audit_reader_close(rd);
}

static int via_cb(const struct ward_audit_row *r, void *userdata)
{
	int *found = userdata;

	if (r->binary && !strcmp(r->binary, "/tmp/child-of-bash") && r->via &&
	    !strcmp(r->via, "/usr/bin/bash"))
		(*found)++;
	return 0;
}

/* The row names the executable that acted, and the ancestor that let it in. */
static void test_rows_name_via(void **state)
{
	struct fx *f = *state;
	struct ward_audit_reader *rd = NULL;
	struct ward_audit_filter flt = { .layer = "inference" };
	struct ward_error err = { 0 };
	struct result res;
	int found = 0;
	char *r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""),
		      "{\"model\":\"fast\"}");

	call_via = "/usr/bin/bash";
	call(f, "/tmp/child-of-bash", r, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", &res);
	call_via = NULL;
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	assert_int_equal(ward_audit_flush(f->audit), 0);
	assert_int_equal(ward_audit_reader_open(f->audit_path, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, &flt, via_cb, &found, &err), 0);
	ward_audit_reader_close(rd);
	assert_int_equal(found, 1);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* 1000 prompt tokens, 800 of them cached, 10 out: at fast's price
 * 200 * 100 + 800 * 10 + 10 * 1000 = 38000 per million = 0.038 USD. */
static int session_cb(const struct ward_audit_row *r, void *userdata)
{
	struct rowbuf *b = userdata;
	int n = snprintf(b->s + b->len, sizeof(b->s) - b->len, "%s %s %s %s\n",
			 r->session ? r->session : "-", r->action, r->rule ? r->rule : "-",
			 r->reason ? r->reason : "-");

	if (n > 0 && (size_t)n < sizeof(b->s) - b->len)
		b->len += (size_t)n;
	return 0;
}

/* budget.per_session: the session over its budget is refused while another
 * session goes on; the sandbox's budget sums the sessions; each row names
 * its session; the sessions summary adds up their tokens. */
static void test_call_session_budget(void **state)
{
	struct fx *f = *state;
	struct ward_audit_reader *rd = NULL;
	struct ward_audit_filter flt = { .layer = "inference" };
	struct ward_session_summary *s = NULL;
	struct ward_error err = { 0 };
	struct rowbuf b = { 0 };
	struct result res;
	size_t n = 0;
	char *r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""),
		      "{\"model\":\"fast\"}");

	call_session = "s1";
	call(f, "/usr/bin/agent", r, chat_reply, &res);
	call(f, "/usr/bin/agent", r, chat_reply, &res); /* s1: 36 of 30 */
	call(f, "/usr/bin/agent", r, NULL, &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 429 Too Many Requests"));
	assert_non_null(strstr(res.out,
			       "the session's inference budget is spent (36 of 30 tokens); "
			       "inference.budget.per_session.max_tokens"));
	call_session = "s2";
	call(f, "/usr/bin/agent", r, chat_reply, &res); /* s2: 18, the sandbox 54 of 60 */
	assert_non_null(strstr(res.out, "HTTP/1.1 200"));
	assert_non_null(strstr(res.upstream, "real-small"));
	call(f, "/usr/bin/agent", r, chat_reply, &res); /* s2: 36, the sandbox 72 */
	assert_non_null(strstr(res.out, "HTTP/1.1 200"));
	call_session = "s3"; /* a fresh session, but the sandbox's budget is spent */
	call(f, "/usr/bin/agent", r, NULL, &res);
	assert_non_null(
		strstr(res.out, "the sandbox's inference budget is spent (72 of 60 tokens)"));
	call_session = NULL;
	free(r);
	assert_int_equal(ward_inference_spent(f->inf), 72);

	assert_int_equal(ward_audit_flush(f->audit), 0);
	assert_int_equal(ward_audit_reader_open(f->audit_path, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, &flt, session_cb, &b, &err), 0);
	ward_audit_reader_close(rd);
	assert_int_equal(count(b.s, "s1 allow inference.routes.fast"), 2);
	assert_int_equal(count(b.s, "s1 deny inference.budget.per_session.max_tokens"), 1);
	assert_int_equal(count(b.s,
			       "s1 audit inference.budget.per_session.max_tokens "
			       "budget_warning: 50% of inference.budget.per_session.max_tokens "
			       "reached (session_spent=18 session_max=30)"),
			 1);
	assert_int_equal(count(b.s, "s1 audit inference.budget.per_session.max_tokens "
				    "budget_spent: 100%"),
			 1);
	assert_int_equal(count(b.s, "s2 allow inference.routes.fast"), 2);
	assert_int_equal(count(b.s, "s2 deny"), 0);
	assert_int_equal(count(b.s, "s3 deny inference.budget.max_tokens"), 1);
	assert_int_equal(count(b.s, "- "), 0);

	assert_int_equal(ward_audit_sessions(f->audit_path, "unit", &s, &n, &err), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(s[i].id, "s3")) {
			assert_int_equal(s[i].tokens_in, 0);
			continue;
		}
		assert_int_equal(s[i].calls, 2);
		assert_int_equal(s[i].tokens_in, 22);
		assert_int_equal(s[i].tokens_out, 14);
	}
	ward_audit_sessions_free(s, n);
}

static const char cached_reply[] =
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 121\r\n\r\n"
	"{\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":10,\"total_tokens\":1010,"
	"\"prompt_tokens_details\":{\"cached_tokens\":800}}}";

static void test_call_money_budget(void **state)
{
	struct fx *f = *state;
	struct result res;
	struct rowbuf b;
	char *r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""),
		      "{\"model\":\"fast\"}");

	assert_int_equal(strlen(strstr(cached_reply, "\r\n\r\n") + 4), 121);
	call(f, "/usr/bin/agent", r, cached_reply, &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	assert_near(ward_inference_spent_usd(f->inf), 0.038, 1e-12);
	rows(f, &b);
	/* 84 % of 0.045: the 80 % row, after the call's own row */
	assert_non_null(strstr(b.s,
			       "allow inference.routes.fast api=chat.completions provider=openai "
			       "model_requested=fast model_sent=real-small status=200 stream=false "
			       "prompt_tokens=1000 completion_tokens=10 total_tokens=1010 "
			       "cached_tokens=800 cost_usd=0.038000 prices=route "));
	assert_non_null(
		strstr(b.s,
		       "spent_usd=0.038000 max_usd=0.045000\n"
		       "audit inference.budget.max_usd budget_warning: 80% of "
		       "inference.budget.max_usd reached (spent_usd=0.038000 max_usd=0.045000)\n"));
	assert_int_equal(count(b.s, "budget_warning"), 1);

	/* the second call crosses 95 % and 100 % at once (and 80 % of the tokens) */
	call(f, "/usr/bin/agent", r, cached_reply, &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	rows(f, &b);
	assert_int_equal(count(b.s, "budget_warning: 80% of inference.budget.max_usd"), 1);
	assert_int_equal(count(b.s, "budget_warning: 95% of inference.budget.max_usd"), 1);
	assert_int_equal(count(b.s, "budget_spent: 100% of inference.budget.max_usd reached "
				    "(spent_usd=0.076000 max_usd=0.045000); further"),
			 1);
	assert_int_equal(count(b.s, "audit inference.budget.max_tokens budget_warning: 80% of "
				    "inference.budget.max_tokens reached (budget_spent=2020 "
				    "budget_max=2500)"),
			 1);
	assert_int_equal(count(b.s, "max_tokens budget_warning: 95%"), 0);

	/* then refused, in each client's format, naming the policy key; no upstream */
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 429 Too Many Requests"));
	assert_non_null(strstr(res.out,
			       "{\"error\":{\"message\":\"ward: the sandbox's inference "
			       "budget is spent (0.076000 of 0.045000 USD); "
			       "inference.budget.max_usd\",\"type\":\"insufficient_quota\""));
	r = req(POST("/v1/messages", "{\"model\":\"claude\"}", ""), "{\"model\":\"claude\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 429 Too Many Requests"));
	assert_non_null(strstr(res.out, "x-should-retry: false\r\n"));
	assert_non_null(strstr(res.out,
			       "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
			       "\"message\":\"ward: the sandbox's inference budget is spent"));
	rows(f, &b);
	assert_int_equal(count(b.s, "deny inference.budget.max_usd api="), 2);
	/* the thresholds stay reported once */
	assert_int_equal(count(b.s, "budget_warning"), 3);
	assert_int_equal(count(b.s, "budget_spent: 100%"), 1);
	assert_near(ward_inference_spent_usd(f->inf), 0.076, 1e-12);
}

/* Anthropic's streamed usage: input in message_start (cache reads and
 * writes beside it), the output total in message_delta. */
static void test_call_money_anthropic_stream(void **state)
{
	struct fx *f = *state;
	struct result res;
	struct rowbuf b;
	static const char sse[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
		"event: message_start\ndata: {\"message\":{\"usage\":{\"input_tokens\":10,"
		"\"cache_creation_input_tokens\":20,\"cache_read_input_tokens\":100,"
		"\"output_tokens\":1}}}\n\n"
		"event: message_delta\ndata: {\"usage\":{\"output_tokens\":5}}\n\n";
	char *r = req(POST("/v1/messages", "{\"model\":\"claude\",\"stream\":true}", ""),
		      "{\"model\":\"claude\",\"stream\":true}");

	call(f, "/usr/bin/agent", r, sse, &res);
	free(r);
	/* 30 input at 200, 100 cached at 20, 5 out at 2000: 18000 per million */
	assert_near(ward_inference_spent_usd(f->inf), 0.018, 1e-12);
	assert_int_equal(ward_inference_spent(f->inf), 135);
	rows(f, &b);
	assert_non_null(strstr(b.s, "prompt_tokens=130 completion_tokens=5 total_tokens=135 "
				    "cached_tokens=100 cost_usd=0.018000 prices=route"));
	assert_int_equal(count(b.s, "budget_warning"), 0);
}

static void test_call_strict_models(void **state)
{
	struct fx *f = *state;
	struct result res;
	struct rowbuf b;
	char *r;

	/* names, aliases and the routes' models are allowed */
	r = req(POST("/v1/chat/completions", "{\"model\":\"real-small\"}", ""),
		"{\"model\":\"real-small\"}");
	call(f, "/usr/bin/agent", r, chat_reply, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	r = req(POST("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\"}", ""),
		"{\"model\":\"gpt-4o-mini\"}");
	call(f, "/usr/bin/agent", r, chat_reply, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));

	/* anything else: 404 as the provider says it, no upstream */
	r = req(POST("/v1/chat/completions", "{\"model\":\"gpt-5\"}", ""), "{\"model\":\"gpt-5\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 404 Not Found"));
	assert_non_null(strstr(res.out,
			       "{\"error\":{\"message\":\"ward: model 'gpt-5' is not allowed: "
			       "no inference route or alias names it "
			       "(inference.strict_models); models: fast, claude, gpt-4o-mini, "
			       "real-small, real-claude\",\"type\":\"invalid_request_error\","
			       "\"param\":null,\"code\":\"model_not_found\"}}"));
	r = req(POST("/v1/messages", "{\"model\":\"claude-opus-4-5\"}", ""),
		"{\"model\":\"claude-opus-4-5\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 404 Not Found"));
	assert_non_null(strstr(res.out,
			       "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
			       "\"message\":\"ward: model 'claude-opus-4-5' is not allowed"));
	/* the client's model is one word of the row: no fields of its own */
	r = req(POST("/v1/chat/completions", "{\"model\":\"x cost_usd=9\\nprompt_tokens=9\"}", ""),
		"{\"model\":\"x cost_usd=9\\nprompt_tokens=9\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "model 'x_cost_usd_9_prompt_tokens_9' is not allowed"));
	rows(f, &b);
	assert_non_null(strstr(b.s, "model_requested=x_cost_usd_9_prompt_tokens_9 model_sent=- "));
	assert_null(strstr(b.s, "prompt_tokens=9"));
	assert_non_null(strstr(b.s, "deny inference.strict_models api=chat.completions provider=- "
				    "model_requested=gpt-5 model_sent=- status=404"));
	assert_non_null(strstr(b.s, "deny inference.strict_models api=messages provider=- "
				    "model_requested=claude-opus-4-5"));

	/* the list: every name a request may use, nothing else */
	call(f, "/usr/bin/agent", "GET /v1/models HTTP/1.1\r\nHost: inference.local\r\n\r\n", NULL,
	     &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	assert_int_equal(count(res.out, "\"id\":"), 5);
	assert_non_null(strstr(res.out, "{\"id\":\"gpt-4o-mini\",\"object\":\"model\""));
	assert_non_null(strstr(res.out, "{\"id\":\"real-claude\",\"object\":\"model\""));
	assert_non_null(strstr(res.out, "\"first_id\":\"fast\",\"last_id\":\"real-claude\"}"));
}

/* A direct call to a route's provider host: only that host's routes, the
 * key injected, priced, strict models enforced. */
static void test_call_direct_host(void **state)
{
	struct fx *f = *state;
	struct result res;
	struct rowbuf b;
	static const char reply[] =
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n"
		"{\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}";
	char *r;

	assert_true(ward_inference_is_route_host(f->inf, "api.claude.test"));
	assert_false(ward_inference_is_route_host(f->inf, "api.openai.com"));
	assert_false(ward_inference_is_route_host(f->inf, "inference.local"));
	call_host = "api.claude.test";
	r = req(POST("/v1/messages", "{\"model\":\"real-claude\"}", "x-api-key: sk-inside\r\n"),
		"{\"model\":\"real-claude\"}");
	call(f, "/usr/bin/agent", r, reply, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(res.upstream, "x-api-key: " KEY_A "\r\n"));
	assert_null(strstr(res.upstream, "sk-inside"));
	/* 10 * 200 + 5 * 2000 per million */
	assert_near(ward_inference_spent_usd(f->inf), 0.012, 1e-12);

	/* another route's name is not a model of this host */
	r = req(POST("/v1/chat/completions", "{\"model\":\"fast\"}", ""), "{\"model\":\"fast\"}");
	call(f, "/usr/bin/agent", r, NULL, &res);
	free(r);
	assert_non_null(strstr(res.out, "HTTP/1.1 404 Not Found"));
	assert_non_null(strstr(res.out, "models: claude, real-claude\""));
	call(f, "/usr/bin/agent", "GET /v1/models HTTP/1.1\r\nHost: api.claude.test\r\n\r\n", NULL,
	     &res);
	assert_int_equal(count(res.out, "\"id\":"), 2);
	/* inference.binaries holds for direct calls too */
	r = req(POST("/v1/messages", "{\"model\":\"claude\"}", ""), "{\"model\":\"claude\"}");
	call(f, "/usr/bin/curl", r, NULL, &res);
	free(r);
	call_host = NULL;
	assert_non_null(strstr(res.out, "HTTP/1.1 403 Forbidden"));
	assert_non_null(strstr(res.out, "binary /usr/bin/curl may not use api.claude.test"));
	rows(f, &b);
	assert_non_null(strstr(b.s,
			       "allow inference.routes.claude api=messages provider=anthropic "
			       "model_requested=real-claude model_sent=real-claude status=200"));
	assert_non_null(strstr(b.s, "cost_usd=0.012000 prices=route"));
}

static void test_missing_key(void **state)
{
	struct ward_policy *p =
		load("version: 1\ninference:\n  routes:\n"
		     "    - { name: d, provider: openai, model: m, api_key_env: WARD_UT_NONE }\n");
	struct ward_inference_config cfg = { .policy = p };
	struct ward_inference *inf = NULL;
	struct ward_error err = { 0 };

	(void)state;
	unsetenv("WARD_UT_NONE");
	assert_int_equal(ward_inference_new(&cfg, &inf, &err), -ENOENT);
	assert_non_null(
		strstr(err.msg,
		       "inference route 'd': environment variable WARD_UT_NONE is not set"));
	ward_policy_free(p);
}

/* api_key_secret: the key comes from the secret store and is looked up for
 * every call: a rotation applies to the next call, a removal refuses it
 * without contacting the backend; no message holds a key. */
static void test_key_from_secret_store(void **state)
{
	struct fx fx = { 0 }, *f = &fx;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct ward_inference_config cfg = { 0 };
	struct ward_error err = { 0 };
	struct ward_secrets *store = NULL;
	const char *body = "{ \"messages\": [], \"model\" : \"real-small\" }";
	char yaml[1024], dir[64], sdir[128];
	struct result res;
	char *r;

	(void)state;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	getsockname(f->lfd, (struct sockaddr *)&sin, &sl);
	snprintf(yaml, sizeof(yaml),
		 "version: 1\ninference:\n  routes:\n"
		 "    - { name: fast, provider: openai, model: real-small, api_key_secret: okey,\n"
		 "        base_url: \"http://127.0.0.1:%u/v1\" }\n",
		 ntohs(sin.sin_port));
	f->p = load(yaml);
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "infsecret"));
	snprintf(sdir, sizeof(sdir), "%s/secrets", dir);
	assert_int_equal(ward_secrets_open(sdir, &store, &err), 0);
	cfg.policy = f->p;
	cfg.sandbox = "unit";
	cfg.secrets = store;

	/* not set at start: the error names route and secret */
	assert_int_equal(ward_inference_new(&cfg, &f->inf, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "inference route 'fast': secret 'okey' is not set"));
	assert_int_equal(ward_secret_set(store, "okey", "sk-store-one", 12, &err), 0);
	assert_int_equal(ward_inference_new(&cfg, &f->inf, &err), 0);
	assert_int_equal(ward_inference_n_key_envs(f->inf), 0); /* nothing to hide inside */

	r = req(POST("/v1/chat/completions", "{ \"messages\": [], \"model\" : \"real-small\" }",
		     ""),
		body);
	call(f, "/usr/bin/agent", r, chat_reply, &res);
	assert_non_null(strstr(res.upstream, "Authorization: Bearer sk-store-one\r\n"));
	assert_int_equal(ward_secret_set(store, "okey", "sk-store-two", 12, &err), 0);
	call(f, "/usr/bin/agent", r, chat_reply, &res);
	assert_non_null(strstr(res.upstream, "Authorization: Bearer sk-store-two\r\n"));
	assert_null(strstr(res.upstream, "sk-store-one"));

	/* removed: refused here, the backend is not contacted */
	assert_int_equal(ward_secret_rm(store, "okey", &err), 0);
	call(f, "/usr/bin/agent", r, NULL, &res);
	assert_non_null(strstr(res.out, "HTTP/1.1 403 "));
	assert_non_null(strstr(res.out, "the key of route 'fast' is unavailable: secret 'okey' is "
					"not set"));
	assert_null(strstr(res.out, "sk-store"));
	free(r);

	ward_inference_free(f->inf);
	ward_secrets_unref(store);
	ward_policy_free(f->p);
	close(f->lfd);
	ward_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_member),
		cmocka_unit_test(test_json_usage),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_budget_crossed),
		cmocka_unit_test(test_providers),
		cmocka_unit_test(test_missing_key),
		cmocka_unit_test(test_key_from_secret_store),
		cmocka_unit_test_setup_teardown(test_call_chat_rewrite_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_derive_keeps_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_stream_anthropic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_openai_stream_usage_added, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_call_local_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_session_budget, setup_sessions, teardown),
		cmocka_unit_test_setup_teardown(test_call_upstream_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rows_never_hold_the_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rows_name_via, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_money_budget, setup_money, teardown),
		cmocka_unit_test_setup_teardown(test_call_money_anthropic_stream, setup_money,
						teardown),
		cmocka_unit_test_setup_teardown(test_call_strict_models, setup_money, teardown),
		cmocka_unit_test_setup_teardown(test_call_direct_host, setup_money, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
