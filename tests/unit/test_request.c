// SPDX-License-Identifier: MIT
/* The request decision (policy/request.h) over a real compiled policy: the
 * order (domain fronting, TOFU, inference, the policy), what an allowed
 * protocol: rest endpoint needs, the rows' fields, and credential binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "policy/request.h"

static const char policy_text[] =
	"version: 1\n"
	"network_policies:\n"
	"  web:\n"
	"    binaries: [{ path: /usr/bin/agent }]\n"
	"    endpoints:\n"
	"      - { host: api.example.com, port: 443, protocol: rest, access: read-only }\n"
	"      - { host: plain.example.com, port: 443 }\n"
	"      - { host: plain.example.com, port: 80 }\n"
	"inference:\n"
	"  routes:\n"
	"    - { name: fast, provider: anthropic, model: m, api_key_env: K,\n"
	"        hosts: [api.anthropic.com] }\n";

static int setup(void **state)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer("req.yaml", policy_text, strlen(policy_text), &p, &d, &err);

	if (r < 0)
		ward_diags_print(&d, stderr);
	ward_diags_free(&d);
	assert_int_equal(r, 0);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	ward_policy_free(*state);
	return 0;
}

static struct ward_request_in in_for(enum ward_req_kind kind, const char *host, uint16_t port)
{
	struct ward_request_in in = {
		.kind = kind, .can_terminate = true, .can_intercept = true, .inference = true
	};

	in.req.binary = "/usr/bin/agent";
	in.req.host = host;
	in.req.port = port;
	if (kind == WARD_REQ_HTTP) {
		in.req.method = "GET";
		in.req.path = "/";
	}
	return in;
}

static void test_connect(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_request_in in = in_for(WARD_REQ_CONNECT, "plain.example.com", 443);
	struct ward_request_verdict v;

	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_true(v.row);
	assert_string_equal(v.layer, "proxy");
	assert_string_equal(v.action, "allow");
	assert_string_equal(v.rule, v.net.rule_name);
	assert_int_equal(strncmp(v.rule, "web", 3), 0);

	in.req.host = "other.example.com";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_string_equal(v.action, "deny");
	assert_int_equal(v.net.failed, WARD_FAILED_HOST);
	assert_string_equal(v.rule, "web");
	assert_non_null(strstr(v.reason, "other.example.com"));

	/* protocol: rest over TLS: intercepted, or refused when ward cannot read it */
	in.req.host = "api.example.com";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_INTERCEPT);
	in.can_intercept = false;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_string_equal(v.reason,
			    "protocol: rest needs TLS interception, which is not available");
	in = in_for(WARD_REQ_TCP, "api.example.com", 443);
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_string_equal(v.reason, "protocol: rest endpoint reached with neither HTTP nor TLS");
}

static void test_tofu_first(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_request_in in = in_for(WARD_REQ_CONNECT, "inference.local", 443);
	struct ward_request_verdict v;

	in.tofu = -1;
	in.tofu_reason = "binary changed since first use (TOFU): was a, now b";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_int_equal(v.net.failed, WARD_FAILED_BINARY);
	assert_string_equal(v.reason, in.tofu_reason);
	assert_null(v.rule);
	in = in_for(WARD_REQ_HTTP, "plain.example.com", 80);
	in.tofu = -1;
	in.tofu_reason = "x";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_string_equal(v.layer, "l7");
}

static void test_inference(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_request_in in = in_for(WARD_REQ_CONNECT, "inference.local", 443);
	struct ward_request_verdict v;

	/* CONNECT inference.local: ward is the TLS server */
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_INFERENCE);
	assert_true(v.row);
	assert_string_equal(v.action, "allow");
	/* without a CA it is an ordinary (denied) destination */
	in.can_terminate = false;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	/* a route's provider host, when ward serves inference */
	in = in_for(WARD_REQ_CONNECT, "api.anthropic.com", 443);
	in.route_host = ward_request_route_host(p, in.req.host);
	assert_true(in.route_host);
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_INFERENCE);
	in.inference = false;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	/* HTTP: the inference layer rows its own calls; none: 503 */
	in = in_for(WARD_REQ_HTTP, "inference.local", 80);
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_INFERENCE);
	assert_false(v.row);
	in.inference = false;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_REFUSE);
	assert_int_equal(v.status, 503);
	assert_string_equal(v.error, "inference_unavailable");
}

static void test_fronting(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_request_in in = in_for(WARD_REQ_HTTP, "evil.example.com", 443);
	struct ward_request_verdict v;

	in.tls_name = "api.example.com";
	in.tls_rule = "web/endpoint 1";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_MISDIRECTED);
	assert_int_equal(v.status, 421);
	assert_string_equal(v.reason, "Host evil.example.com is not the TLS name api.example.com");
	assert_string_equal(v.rule, "web/endpoint 1");
	/* the same name on another port is fronting too */
	in.req.host = "api.example.com";
	in.host_port = 8443;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_MISDIRECTED);
	in.host_port = 443;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_string_equal(v.layer, "l7");
	assert_string_equal(v.action, "allow");
	in.req.method = "POST";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_int_equal(v.net.failed, WARD_FAILED_METHOD);
}

/* --learn (docs/learn.md): a refusal goes through, action audit, the rule
 * that would have refused it; integrity and fronting still refuse */
static void test_learn(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_request_in in = in_for(WARD_REQ_CONNECT, "other.example.com", 443);
	struct ward_request_verdict v;

	in.learn = true;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_true(v.row);
	assert_string_equal(v.action, "audit");
	assert_string_equal(v.rule, "web");
	assert_non_null(strstr(v.reason, "other.example.com"));
	assert_true(v.net.allow_private);
	assert_false(v.net.inspect);
	/* a binary in no policy */
	in.req.binary = "/usr/bin/stranger";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_string_equal(v.action, "audit");
	/* L7: a method read-only refuses */
	in = in_for(WARD_REQ_HTTP, "api.example.com", 443);
	in.learn = true;
	in.req.method = "POST";
	in.req.path = "/items/1";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_string_equal(v.layer, "l7");
	assert_string_equal(v.action, "audit");
	assert_int_equal(strncmp(v.rule, "web", 3), 0);
	/* what the policy allows stays allow */
	in.req.method = "GET";
	ward_request_decide(p, &in, &v);
	assert_string_equal(v.action, "allow");
	/* protocol: rest without interception: tunneled, audit */
	in = in_for(WARD_REQ_CONNECT, "api.example.com", 443);
	in.learn = true;
	in.can_intercept = false;
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_string_equal(v.action, "audit");
	assert_false(v.net.inspect);
	/* TOFU still refuses */
	in.tofu = -1;
	in.tofu_reason = "x";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	/* and so does domain fronting */
	in = in_for(WARD_REQ_HTTP, "evil.example", 443);
	in.learn = true;
	in.tls_name = "plain.example.com";
	ward_request_decide(p, &in, &v);
	assert_int_equal(v.outcome, WARD_REQ_MISDIRECTED);
}

static void test_credentials(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_request_in in = in_for(WARD_REQ_HTTP, "plain.example.com", 80);
	struct ward_request_verdict v;
	struct ward_request_cred c = { .binding = WARD_CRED_BIND_INJECTED, .credential = "gh" };

	ward_request_decide(p, &in, &v);
	ward_request_bind_credential(&v, &c);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_non_null(strstr(v.reason, "; credential_injected gh"));
	assert_string_equal(v.plain_rule, "");

	ward_request_decide(p, &in, &v);
	c = (struct ward_request_cred){ .plain = "npm" };
	ward_request_bind_credential(&v, &c);
	assert_int_equal(v.outcome, WARD_REQ_ALLOW);
	assert_string_equal(v.plain_rule, "credential:npm");

	ward_request_decide(p, &in, &v);
	c = (struct ward_request_cred){ .binding = WARD_CRED_BIND_MISMATCH,
					.credential = "gh",
					.detail = "gh is bound to api.github.com" };
	ward_request_bind_credential(&v, &c);
	assert_int_equal(v.outcome, WARD_REQ_DENY);
	assert_string_equal(v.action, "deny");
	assert_string_equal(v.rule, "credential:gh");
	assert_string_equal(v.reason, WARD_CRED_REASON_MISMATCH);
	assert_string_equal(v.net.why, "gh is bound to api.github.com");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tofu_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fronting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
