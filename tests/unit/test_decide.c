// SPDX-License-Identifier: MIT
/* The network decision over real compiled policies: binaries, hosts, ports,
 * L7 rules, presets, deny rules, audit, the closest entry and its hint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/decide.h"
#include "policy/policy.h"

static const char policy_text[] =
	"version: 1\n"
	"network_policies:\n"
	"  github:\n"
	"    binaries: [{ path: /usr/bin/git }, { path: /usr/lib/git-core/git-remote-http* }]\n"
	"    endpoints:\n"
	"      - host: api.github.com\n"
	"        port: 443\n"
	"        protocol: rest\n"
	"        rules:\n"
	"          - allow: { method: GET, path: \"/repos/**\" }\n"
	"          - allow: { method: POST, path: \"/repos/*/issues\" }\n"
	"          - allow: { method: GET, path: /search, query: { q: \"repo:*\" } }\n"
	"        deny_rules:\n"
	"          - { method: POST, path: \"/**/git-receive-pack\" }\n"
	"      - host: \"**.githubusercontent.com\"\n"
	"        ports: [443, 80]\n"
	"  npm:\n"
	"    binaries: [{ path: /usr/bin/node }]\n"
	"    endpoints:\n"
	"      - host: registry.npmjs.org\n"
	"        port: 443\n"
	"        protocol: rest\n"
	"        access: read-only\n"
	"      - host: audit.example.com\n"
	"        port: 443\n"
	"        protocol: rest\n"
	"        enforcement: audit\n"
	"        access: read-only\n"
	"  internal:\n"
	"    binaries: [{ path: \"/opt/tools/**\" }]\n"
	"    endpoints:\n"
	"      - host: db.corp.example\n"
	"        port: 5432\n"
	"        protocol: tcp\n"
	"      - host: \"*.corp.example\"\n"
	"        port: 8080\n"
	"        allowed_ips: [10.20.0.0/16]\n"
	"      - host: 10.30.0.7\n"
	"        port: 9000\n"
	"        protocol: tcp\n";

static int setup(void **state)
{
	struct ward_policy *p = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer("test.yaml", policy_text, strlen(policy_text), &p, &diags,
					&err);

	if (r < 0)
		ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	assert_int_equal(r, 0);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	ward_policy_free(*state);
	return 0;
}

static void decide(void **state, struct ward_request req, struct ward_net_verdict *v)
{
	ward_decide(*state, &req, v);
}

static void test_l4(void **state)
{
	struct ward_net_verdict v;

	decide(state,
	       (struct ward_request){
		       .binary = "/usr/bin/git", .host = "api.github.com", .port = 443 },
	       &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_string_equal(v.policy->key, "github");
	assert_int_equal(v.endpoint_index, 0);
	assert_true(v.inspect);
	assert_true(v.allow_private);
	assert_string_equal(v.rule_name, "github");

	/* glob binary, '**' host, second port */
	decide(state,
	       (struct ward_request){ .binary = "/usr/lib/git-core/git-remote-https",
				      .host = "objects.githubusercontent.com",
				      .port = 80 },
	       &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_int_equal(v.endpoint_index, 1);
	assert_false(v.inspect);
	assert_false(v.allow_private); /* a wildcard host never reaches private ranges */

	/* raw tcp by exact name */
	decide(state,
	       (struct ward_request){
		       .binary = "/opt/tools/bin/psql", .host = "db.corp.example", .port = 5432 },
	       &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_false(v.inspect);
	assert_string_equal(v.policy->key, "internal");
}

static void test_binary_failures(void **state)
{
	struct ward_net_verdict v;

	/* a binary in no policy, host declared for another binary */
	decide(state,
	       (struct ward_request){
		       .binary = "/usr/bin/curl", .host = "api.github.com", .port = 443 },
	       &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	assert_int_equal(v.failed, WARD_FAILED_BINARY);
	assert_non_null(v.closest);
	assert_string_equal(v.closest->key, "github");
	assert_non_null(strstr(v.hint, "/usr/bin/curl"));
	assert_non_null(strstr(v.hint, "network_policies.github.binaries"));
	assert_non_null(strstr(v.reason, "in no network policy"));

	/* unknown binary: never allowed, even to a declared host */
	decide(state,
	       (struct ward_request){ .binary = NULL, .host = "api.github.com", .port = 443 }, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	assert_int_equal(v.failed, WARD_FAILED_BINARY);
	assert_non_null(strstr(v.reason, "unknown"));

	/* nothing anywhere */
	decide(state,
	       (struct ward_request){ .binary = "/usr/bin/curl", .host = "x.example", .port = 443 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_BINARY);
	assert_null(v.closest);
	assert_non_null(strstr(v.hint, "add a network policy"));
}

static void test_host_port_failures(void **state)
{
	struct ward_net_verdict v;

	/* the binary has a policy, the host is another binary's */
	decide(state,
	       (struct ward_request){
		       .binary = "/usr/bin/git", .host = "registry.npmjs.org", .port = 443 },
	       &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	assert_int_equal(v.failed, WARD_FAILED_HOST);
	assert_string_equal(v.closest->key, "npm");
	assert_non_null(strstr(v.hint, "network_policies.npm.binaries"));

	/* host nowhere: closest is the binary's own policy */
	decide(state,
	       (struct ward_request){
		       .binary = "/usr/bin/git", .host = "evil.example", .port = 443 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_HOST);
	assert_string_equal(v.closest->key, "github");
	assert_non_null(strstr(v.hint, "evil.example"));
	assert_non_null(strstr(v.reason, "host evil.example not allowed for binary /usr/bin/git"));

	/* '*.x' is one label only; '**.x' does not match the apex */
	decide(state,
	       (struct ward_request){
		       .binary = "/opt/tools/x", .host = "a.b.corp.example", .port = 8080 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_HOST);
	decide(state,
	       (struct ward_request){
		       .binary = "/usr/bin/git", .host = "githubusercontent.com", .port = 443 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_HOST);

	/* port */
	decide(state,
	       (struct ward_request){
		       .binary = "/usr/bin/git", .host = "api.github.com", .port = 80 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_PORT);
	assert_string_equal(v.closest->key, "github");
	assert_non_null(strstr(v.why, "443"));
	assert_non_null(strstr(v.hint, "add port 80"));
}

static void test_kernel_keys(void **state)
{
	struct ward_net_verdict v;

	/* the kernel's identity wins over the path (python3 -> python3.11) */
	decide(state,
	       (struct ward_request){ .binary = "/usr/bin/node-real",
				      .binary_keys = "internal,npm",
				      .host = "registry.npmjs.org",
				      .port = 443 },
	       &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_string_equal(v.policy->key, "npm");
	/* keys are whole words */
	decide(state,
	       (struct ward_request){ .binary = "/usr/bin/node",
				      .binary_keys = "np",
				      .host = "registry.npmjs.org",
				      .port = 443 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_BINARY);
	/* an empty key list (inference-only identity) has no network policy */
	decide(state,
	       (struct ward_request){ .binary = "/usr/bin/node",
				      .binary_keys = "",
				      .host = "registry.npmjs.org",
				      .port = 443 },
	       &v);
	assert_int_equal(v.failed, WARD_FAILED_BINARY);
}

static void test_l7_rules(void **state)
{
	struct ward_request r = { .binary = "/usr/bin/git",
				  .host = "api.github.com",
				  .port = 443,
				  .method = "GET",
				  .path = "/repos/a/b/pulls" };
	struct ward_net_verdict v;

	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_non_null(v.rule);
	assert_string_equal(v.rule->path, "/repos/**");

	r.method = "DELETE";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	assert_int_equal(v.failed, WARD_FAILED_METHOD);
	assert_non_null(strstr(v.why, "matches the path, not DELETE"));
	assert_non_null(strstr(v.hint, "method: DELETE"));

	r.method = "GET";
	r.path = "/user";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.failed, WARD_FAILED_PATH);
	assert_string_equal(v.closest->key, "github");

	/* '*' is one segment */
	r.method = "POST";
	r.path = "/repos/a/issues";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	r.path = "/repos/a/b/issues";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);

	/* deny rules win: a POST to a receive-pack path is refused by the deny rule */
	r.method = "POST";
	r.path = "/repos/x/git-receive-pack";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	assert_true(v.rule_is_deny);
	assert_int_equal(v.failed, WARD_FAILED_PATH);
	assert_non_null(strstr(v.hint, "remove the deny rule"));

	/* query matchers */
	r.method = "GET";
	r.path = "/search";
	r.query = "q=repo:ward";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	r.query = "q=user:x";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	r.query = NULL;
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);

	/* a non-rest endpoint lets any request through */
	r = (struct ward_request){ .binary = "/usr/bin/git",
				   .host = "raw.githubusercontent.com",
				   .port = 443,
				   .method = "DELETE",
				   .path = "/x" };
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_false(v.inspect);
}

static void test_presets_and_audit(void **state)
{
	struct ward_request r = { .binary = "/usr/bin/node",
				  .host = "registry.npmjs.org",
				  .port = 443,
				  .method = "GET",
				  .path = "/left-pad" };
	struct ward_net_verdict v;
	const char *ro[] = { "GET", "HEAD", "OPTIONS" }, *rw[] = { "POST", "PUT", "DELETE" };

	for (size_t i = 0; i < 3; i++) {
		r.method = ro[i];
		ward_decide(*state, &r, &v);
		assert_int_equal(v.action, WARD_ACTION_ALLOW);
	}
	for (size_t i = 0; i < 3; i++) {
		r.method = rw[i];
		ward_decide(*state, &r, &v);
		assert_int_equal(v.action, WARD_ACTION_DENY);
		assert_int_equal(v.failed, WARD_FAILED_METHOD);
		assert_non_null(strstr(v.why, "read-only"));
	}
	assert_true(ward_access_allows(WARD_ACCESS_READ_WRITE, "PATCH"));
	assert_true(ward_access_allows(WARD_ACCESS_READ_WRITE, "GET"));
	assert_false(ward_access_allows(WARD_ACCESS_READ_WRITE, "TRACE"));
	assert_true(ward_access_allows(WARD_ACCESS_FULL, "TRACE"));
	assert_false(ward_access_allows(WARD_ACCESS_NONE, "GET"));

	/* enforcement: audit -> the request passes, logged as audit */
	r.host = "audit.example.com";
	r.method = "PUT";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_AUDIT);
	assert_int_equal(v.failed, WARD_FAILED_METHOD);
	assert_non_null(strstr(v.reason, "audit"));
	r.method = "GET";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
}

static void test_dest_ip(void **state)
{
	struct ward_request r = {
		.binary = "/opt/tools/x", .host = "10.20.3.4", .port = 8080, .host_is_dest_ip = true
	};
	struct ward_net_verdict v;

	/* raw TCP by original destination: inside the endpoint's allowed_ips */
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_int_equal(v.endpoint_index, 1);
	r.host = "10.21.0.1";
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	/* a name that looks like nothing in allowed_ips is not an IP match */
	r.host = "10.20.3.4";
	r.host_is_dest_ip = false;
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_DENY);
	/* an IP literal endpoint */
	r = (struct ward_request){
		.binary = "/opt/tools/x", .host = "10.30.0.7", .port = 9000, .host_is_dest_ip = true
	};
	ward_decide(*state, &r, &v);
	assert_int_equal(v.action, WARD_ACTION_ALLOW);
	assert_true(v.allow_private);
}

static void test_strings(void **state)
{
	(void)state;
	assert_string_equal(ward_action_str(WARD_ACTION_AUDIT), "audit");
	assert_string_equal(ward_action_str(WARD_ACTION_DENY), "deny");
	assert_string_equal(ward_failed_str(WARD_FAILED_PORT), "port");
	assert_string_equal(ward_failed_str(WARD_FAILED_NONE), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_l4),
		cmocka_unit_test(test_binary_failures),
		cmocka_unit_test(test_host_port_failures),
		cmocka_unit_test(test_kernel_keys),
		cmocka_unit_test(test_l7_rules),
		cmocka_unit_test(test_presets_and_audit),
		cmocka_unit_test(test_dest_ip),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
