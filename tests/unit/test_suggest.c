// SPDX-License-Identifier: MIT
/* ward policy suggest for learn mode (docs/learn.md): the telemetry and
 * update-check classifier, and a learn log with inference.local calls
 * turning into a policy that keeps the inference routes, never makes
 * inference.local (or a route's provider host) an endpoint, comments the
 * telemetry host out, compiles, and allows what was audited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/suggest.h"
#include "policy/decide.h"
#include "policy/policy.h"

static void telemetry_hosts_are_optional(void **state)
{
	(void)state;
	assert_non_null(ward_suggest_optional("telemetry.example.com", NULL));
	assert_non_null(strstr(ward_suggest_optional("o123.ingest.sentry.io", NULL), "telemetry"));
	assert_non_null(ward_suggest_optional("statsig.anthropic.com", NULL));
	assert_non_null(ward_suggest_optional("api.segment.io", NULL));
	assert_non_null(ward_suggest_optional("http-intake.logs.datadoghq.com", NULL));
	assert_non_null(ward_suggest_optional("browser-intake-datadoghq.com", NULL));
	assert_non_null(ward_suggest_optional("www.google-analytics.com", NULL));
	assert_non_null(strstr(ward_suggest_optional("update.code.visualstudio.com", NULL),
			       "update check"));
	/* the work itself is not */
	assert_null(ward_suggest_optional("api.github.com", NULL));
	assert_null(ward_suggest_optional("pypi.org", "/simple/requests/"));
	assert_null(ward_suggest_optional("api.anthropic.com", "/v1/messages"));
	assert_null(ward_suggest_optional("registry.npmjs.org", "/left-pad"));
	assert_null(ward_suggest_optional(NULL, "/x"));
}

static void update_checks_are_optional_by_path(void **state)
{
	const char *why;

	(void)state;
	why = ward_suggest_optional("registry.npmjs.org", "/-/package/npm/dist-tags");
	assert_non_null(why);
	assert_non_null(strstr(why, "update check"));
	assert_non_null(ward_suggest_optional("registry.npmjs.org",
					      "/-/package/@anthropic-ai/x/dist-tags"));
	assert_non_null(ward_suggest_optional("example.org", "/api/v2/version-check"));
	assert_non_null(ward_suggest_optional("example.org", "/latest-version.json"));
	/* the same path elsewhere on the registry is the package itself */
	assert_null(ward_suggest_optional("registry.npmjs.org", "/-/package/npm/access"));
	assert_null(ward_suggest_optional("evil.example", "/-/package/npm/dist-tags"));
}

static const char learned[] =
	"version: 1\n"
	"filesystem_policy:\n"
	"  include_workdir: true\n"
	"  read_only: [/usr]\n"
	"inference:\n"
	"  binaries: [{ path: /usr/bin/agent }]\n"
	"  routes:\n"
	"    - { name: main, provider: anthropic, model: claude-sonnet-4-6,\n"
	"        api_key_env: WARD_UT_KEY, aliases: [sonnet], hosts: [api.anthropic.com] }\n"
	"    - { name: spare, provider: openai, model: gpt-4o, api_key_env: WARD_UT_KEY2,\n"
	"        base_url: \"http://10.213.32.9:8080/v1\" }\n";

static int submit(struct ward_audit *a, struct ward_decision d, const char *rev)
{
	int r;

	d.sandbox = "0123456789ab";
	d.policy_rev = rev;
	while ((r = ward_audit_submit(a, &d)) == -EAGAIN)
		ward_audit_flush(a);
	return r;
}

static char *suggest(const char *db)
{
	struct ward_suggest_stats st;
	struct ward_error err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(ward_suggest(db, NULL, f, &st, &err), 0);
	fclose(f);
	return buf;
}

static void learn_log_keeps_inference_routes(void **state)
{
	struct ward_test_db *t = *state;
	struct ward_policy *p = NULL, *s = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	char *out;

	assert_int_equal(ward_policy_load_buffer("learned.yaml", learned, sizeof(learned) - 1, &p,
						 &d, &err),
			 0);
	assert_int_equal(ward_audit_open(t->db, &a, &err), 0);
	assert_int_equal(ward_audit_store_policy(a, p, &err), 0);
	/* the agent: inference.local through the explicit proxy, its calls */
	assert_int_equal(
		submit(a,
		       (struct ward_decision){
			       .layer = "proxy",
			       .action = "allow",
			       .binary = "/usr/bin/agent",
			       .host = "inference.local",
			       .port = 443,
			       .protocol = "https",
			       .reason = "inference.local: TLS terminated by ward, routed by the "
					 "inference layer" },
		       p->rev),
		0);
	assert_int_equal(
		submit(a,
		       (struct ward_decision){
			       .layer = "inference",
			       .action = "allow",
			       .binary = "/usr/bin/agent",
			       .host = "api.anthropic.com",
			       .port = 443,
			       .method = "POST",
			       .path = "/v1/messages",
			       .rule = "inference.routes.main",
			       .reason = "api=anthropic provider=anthropic "
					 "model_requested=sonnet model_sent=claude-sonnet-4-6 "
					 "status=200" },
		       p->rev),
		0);
	/* a direct call to a route's provider host is the route's, too */
	assert_int_equal(submit(a,
				(struct ward_decision){
					.layer = "proxy",
					.action = "allow",
					.binary = "/usr/bin/agent",
					.host = "api.anthropic.com",
					.port = 443,
					.protocol = "https",
					.reason = "inference.local: TLS terminated by "
						  "ward, routed by the inference layer" },
				p->rev),
			 0);
	/* learned: a REST call, a DNS name, telemetry */
	assert_int_equal(submit(a,
				(struct ward_decision){ .layer = "l7",
							.action = "audit",
							.binary = "/usr/bin/agent",
							.host = "api.github.com",
							.port = 443,
							.protocol = "https",
							.method = "GET",
							.path = "/repos/a/b/pulls/17",
							.reason = "binary has no network policy" },
				p->rev),
			 0);
	assert_int_equal(submit(a,
				(struct ward_decision){ .layer = "dns",
							.action = "audit",
							.binary = "/usr/bin/agent",
							.host = "inference.local",
							.port = 53,
							.reason = "binary has no network policy" },
				p->rev),
			 0);
	assert_int_equal(submit(a,
				(struct ward_decision){ .layer = "proxy",
							.action = "audit",
							.binary = "/usr/bin/agent",
							.host = "o1.ingest.sentry.io",
							.port = 443,
							.protocol = "tls",
							.reason = "binary has no network policy" },
				p->rev),
			 0);
	assert_int_equal(ward_audit_close(a), 0);

	out = suggest(t->db);
	/* the routes, both of them, with what the log shows of them */
	assert_non_null(strstr(out, "\ninference:\n"));
	assert_non_null(strstr(out, "- name: \"main\""));
	assert_non_null(strstr(out, "- name: \"spare\""));
	assert_non_null(strstr(out, "# used: 1 calls; models asked for: sonnet"));
	assert_non_null(strstr(out, "# not used in the log"));
	assert_non_null(strstr(out, "api_key_env: \"WARD_UT_KEY\""));
	assert_non_null(strstr(out, "base_url: \"http://10.213.32.9:8080/v1\""));
	/* inference.local and the provider host are no endpoints */
	assert_null(strstr(out, "host: \"inference.local\""));
	assert_null(strstr(out, "host: \"api.anthropic.com\""));
	/* telemetry: a comment with its reason */
	assert_non_null(strstr(out, "# optional (telemetry: host matches *sentry*)"));
	assert_non_null(strstr(out, "# - host: \"o1.ingest.sentry.io\""));
	assert_non_null(strstr(out, "path: \"/repos/a/b/pulls/*\""));

	/* it compiles, and decides as learned */
	ward_diags_free(&d);
	memset(&d, 0, sizeof(d));
	if (ward_policy_load_buffer("suggested.yaml", out, strlen(out), &s, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		fprintf(stderr, "%s\n", out);
		fail();
	}
	assert_int_equal(s->n_routes, 2);
	assert_string_equal(s->routes[0].name, "main");
	assert_int_equal(s->n_inference_binaries, 1);
	{
		struct ward_request req = { .binary = "/usr/bin/agent",
					    .host = "api.github.com",
					    .port = 443,
					    .method = "GET",
					    .path = "/repos/a/b/pulls/9" };
		struct ward_net_verdict v;

		ward_decide(s, &req, &v);
		assert_int_equal(v.action, WARD_ACTION_ALLOW);
		req.host = "o1.ingest.sentry.io";
		req.method = NULL;
		req.path = NULL;
		ward_decide(s, &req, &v);
		assert_int_equal(v.action, WARD_ACTION_DENY);
	}
	ward_diags_free(&d);
	ward_policy_free(s);
	ward_policy_free(p);
	free(out);
}

static int setup(void **state)
{
	return ward_test_db_setup(state, "suggest");
}

static int teardown(void **state)
{
	return ward_test_db_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(telemetry_hosts_are_optional),
		cmocka_unit_test(update_checks_are_optional_by_path),
		cmocka_unit_test_setup_teardown(learn_log_keeps_inference_routes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
