// SPDX-License-Identifier: MIT
/* `ward policy test`'s library (src/policy/cases.c): the loader's errors with
 * their positions, and each case kind (network connection and HTTP request,
 * DNS, file, model) passing and failing, with and without a rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/cases.h"
#include "policy/policy.h"
#include "proxy/inference_internal.h"

static const char policy_text[] =
	"version: 1\n"
	"filesystem_policy:\n"
	"  read_only: [/usr, /etc, /srv/data]\n"
	"  read_write: [/srv, /srv/data/out]\n"
	"  binaries:\n"
	"    - path: /usr/bin/ssh\n"
	"      read_only: [/srv/keys]\n"
	"network_policies:\n"
	"  gh:\n"
	"    binaries: [{ path: /usr/bin/curl }]\n"
	"    endpoints:\n"
	"      - host: api.github.com\n"
	"        port: 443\n"
	"        protocol: rest\n"
	"        access: read-only\n"
	"      - { host: \"*.trial.example\", port: 443, protocol: rest, enforcement: audit,\n"
	"          rules: [{ allow: { method: GET, path: /ok } }] }\n"
	"  py:\n"
	"    binaries: [{ path: \"/usr/bin/python3*\" }]\n"
	"    endpoints: [{ host: pypi.org, port: 443 }]\n"
	"inference:\n"
	"  strict_models: true\n"
	"  routes:\n"
	"    - { name: fast, provider: anthropic, model: claude-haiku-4-5, aliases: [haiku],\n"
	"        api_key_env: K }\n"
	"    - { name: big, provider: openai, model: gpt-5, api_key_env: K }\n"
	"  binaries: [{ path: /usr/bin/node }]\n";

static int setup(void **state)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer("p.yaml", policy_text, strlen(policy_text), &p, &d, &err);

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

static void load_err(const char *text, const char *want)
{
	struct ward_cases cs;
	struct ward_error err = { 0 };
	int r = ward_cases_load_buffer("c.yaml", text, strlen(text), &cs, &err);

	assert_int_equal(r, -EINVAL);
	assert_null(cs.v);
	assert_string_equal(err.msg, want);
}

static void test_load_errors(void **state)
{
	(void)state;
	load_err("", "c.yaml:1:1: a cases file is a mapping with the key 'cases'");
	load_err("- a\n", "c.yaml:1:1: a cases file is a mapping with the key 'cases'");
	load_err("cases: [\n", "c.yaml:2:1: YAML syntax error: did not find expected node "
			       "content (while parsing a flow node at 2:1)");
	load_err("other: 1\n", "c.yaml:1:1: unknown key 'other' (known: cases)");
	load_err("cases: []\n", "c.yaml:1:8: 'cases' must be a non-empty list");
	load_err("cases:\n  - 3\n", "c.yaml:2:5: a case must be a mapping");
	load_err("cases:\n  - { binary: /b, dns: x.com, expect: allow, colour: red }\n",
		 "c.yaml:2:46: unknown key 'colour' (known: name, binary, host, port, method, "
		 "path, dns, file, access, workdir, model, expect, rule)");
	load_err("cases:\n  - { binary: /b, dns: x.com, workdir: /w, expect: deny }\n",
		 "c.yaml:2:40: 'workdir' belongs to file cases");
	load_err("cases:\n  - { binary: /b, file: /a, access: read, workdir: /, expect: deny }\n",
		 "c.yaml:2:52: workdir '/' must be an absolute path without '..', not /");
	load_err("cases:\n  - { binary: /b, dns: x.com }\n",
		 "c.yaml:2:5: case without 'expect' (allow, deny or audit)");
	load_err("cases:\n  - { binary: /b, dns: x.com, expect: yes }\n",
		 "c.yaml:2:39: expect must be allow, deny or audit, not 'yes'");
	load_err("cases:\n  - { binary: /b, dns: [x.com], expect: deny }\n",
		 "c.yaml:2:24: 'dns' must be a string");
	load_err("cases:\n  - { binary: /b, dns: x.com, dns: y.com, expect: deny }\n",
		 "c.yaml:2:31: duplicate key 'dns'");
	load_err("cases:\n  - { binary: b, dns: x.com, expect: deny }\n",
		 "c.yaml:2:15: binary 'b' must be an absolute path without '..'");
	load_err("cases:\n  - { dns: x.com, expect: deny }\n", "c.yaml:2:5: case without 'binary'");
	load_err("cases:\n  - { binary: /b, expect: deny }\n",
		 "c.yaml:2:5: a case names exactly one of host, dns, file or model");
	load_err("cases:\n  - { binary: /b, dns: x.com, model: m, expect: deny }\n",
		 "c.yaml:2:5: a case names exactly one of host, dns, file or model");
	load_err("cases:\n  - { binary: /b, host: x.com, expect: deny }\n",
		 "c.yaml:2:5: a host case needs 'port'");
	load_err("cases:\n  - { binary: /b, host: x.com, port: 70000, expect: deny }\n",
		 "c.yaml:2:38: invalid port '70000' (1-65535)");
	load_err("cases:\n  - { binary: /b, host: x.com, port: 1, method: GET, expect: deny }\n",
		 "c.yaml:2:49: 'method' and 'path' go together");
	load_err("cases:\n  - { binary: /b, dns: x.com, port: 1, expect: deny }\n",
		 "c.yaml:2:37: port, method and path belong to host cases");
	load_err("cases:\n  - { binary: /b, file: /etc/../x, access: read, expect: deny }\n",
		 "c.yaml:2:25: file '/etc/../x' must be an absolute path without '..'");
	load_err("cases:\n  - { binary: /b, file: /x, expect: deny }\n",
		 "c.yaml:2:5: a file case needs 'access' (read, write or exec)");
	load_err("cases:\n  - { binary: /b, dns: x.com, access: read, expect: deny }\n",
		 "c.yaml:2:39: 'access' belongs to file cases");
	load_err("cases:\n  - { binary: /b, dns: \"a\\0b\", expect: deny }\n",
		 "c.yaml:2:24: 'dns' must be a non-empty string without NUL bytes");
	/* the first bad case is reported, after good ones */
	load_err("cases:\n  - { binary: /b, dns: x.com, expect: deny }\n"
		 "  - { binary: /b, dns: x.com, expect: deny, rule: [a] }\n",
		 "c.yaml:3:51: 'rule' must be a string");
}

/* clang-format off */
static const char cases_text[] =
	"cases:\n"
	/* 2 */ "  - { binary: /usr/bin/curl, host: API.GitHub.com, port: 443, expect: allow, rule: gh }\n"
	/* 3 */ "  - { binary: /usr/bin/curl, host: api.github.com, port: 443, method: GET, path: /repos/a, expect: allow, rule: gh }\n"
	/* 4 */ "  - { binary: /usr/bin/curl, host: api.github.com, port: 443, method: POST, path: /repos/a, expect: deny }\n"
	/* 5 */ "  - { binary: /usr/bin/curl, host: x.trial.example, port: 443, method: GET, path: /no, expect: audit, rule: gh }\n"
	/* 6 */ "  - { binary: /usr/bin/wget, host: api.github.com, port: 443, expect: deny }\n"
	/* 7 */ "  - { binary: /usr/bin/python3.12, dns: pypi.org, expect: allow, rule: py }\n"
	/* 8 */ "  - { binary: /usr/bin/curl, dns: pypi.org, expect: deny }\n"
	/* 9 */ "  - { binary: /usr/bin/node, dns: inference.local, expect: allow, rule: inference }\n"
	/* 10 */ "  - { binary: /usr/bin/cat, file: /etc/passwd, access: read, expect: allow, rule: /etc }\n"
	/* 11 */ "  - { binary: /usr/bin/cat, file: /etc/passwd, access: write, expect: deny }\n"
	/* 12 */ "  - { binary: /usr/bin/sh, file: /srv/x, access: write, expect: allow, rule: /srv }\n"
	/* 13 */ "  - { binary: /usr/bin/sh, file: /srv/data/x, access: write, expect: deny }\n"
	/* 14 */ "  - { binary: /usr/bin/sh, file: /srv/data/out/x, access: write, expect: allow, rule: /srv/data/out }\n"
	/* 15 */ "  - { binary: /usr/bin/cat, file: /srv/keys/id, access: read, expect: deny }\n"
	/* 16 */ "  - { binary: /usr/bin/ssh, file: /srv/keys/id, access: read, expect: allow, rule: /srv/keys }\n"
	/* 17 */ "  - { binary: /usr/bin/ssh, file: /srv/keys/id, access: write, expect: deny }\n"
	/* 18 */ "  - { binary: /usr/bin/sh, file: /home/u/x, access: read, expect: deny }\n"
	/* 19 */ "  - { binary: /usr/bin/sh, file: /tmp/x, access: write, expect: allow, rule: /tmp }\n"
	/* 20 */ "  - { binary: /usr/bin/sh, file: /proc/self/status, access: write, expect: deny }\n"
	/* 21 */ "  - { binary: /usr/bin/node, model: haiku, expect: allow, rule: fast }\n"
	/* 22 */ "  - { binary: /usr/bin/node, model: gpt-5, expect: allow, rule: big }\n"
	/* 23 */ "  - { binary: /usr/bin/node, model: other, expect: deny }\n"
	/* 24 */ "  - { binary: /usr/bin/curl, model: haiku, expect: deny }\n"
	/* the same requests with the wrong expectation: each must fail */
	/* 25 */ "  - { binary: /usr/bin/wget, host: api.github.com, port: 443, expect: allow }\n"
	/* 26 */ "  - { binary: /usr/bin/curl, host: api.github.com, port: 443, expect: allow, rule: py }\n"
	/* 27 */ "  - { binary: /usr/bin/curl, dns: pypi.org, expect: allow }\n"
	/* 28 */ "  - { binary: /usr/bin/cat, file: /srv/keys/id, access: read, expect: allow }\n"
	/* 29 */ "  - { binary: /usr/bin/ssh, file: /srv/keys/id, access: read, expect: allow, rule: /srv }\n"
	/* 30 */ "  - { binary: /usr/bin/node, model: other, expect: allow }\n"
	/* 31 */ "  - { binary: /usr/bin/curl, host: x.trial.example, port: 443, method: GET, path: /no, expect: deny }\n";
/* clang-format on */

static void test_run(void **state)
{
	const struct ward_policy *p = *state;
	struct ward_cases cs;
	struct ward_error err = { 0 };
	struct ward_case_result res;
	int r = ward_cases_load_buffer("c.yaml", cases_text, strlen(cases_text), &cs, &err);

	if (r < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cs.n, 30);
	for (size_t i = 0; i < cs.n; i++) {
		const struct ward_case *c = &cs.v[i];
		bool want = c->line <= 24;

		assert_int_equal(c->col, 5);
		ward_case_run(p, c, &res);
		if (res.pass != want)
			fail_msg("c.yaml:%u: expected %s, got %s (rule %s: %s), pass %d", c->line,
				 c->expect, res.action, res.rule, res.reason, res.pass);
	}
	/* what the failures say */
	ward_case_run(p, &cs.v[23], &res); /* line 25 */
	assert_string_equal(res.action, "deny");
	ward_case_run(p, &cs.v[24], &res); /* line 26: the right verdict, another rule */
	assert_string_equal(res.action, "allow");
	assert_string_equal(res.rule, "gh");
	ward_case_run(p, &cs.v[27], &res); /* line 29 */
	assert_string_equal(res.rule, "/srv/keys");
	ward_case_run(p, &cs.v[13], &res); /* line 15: protected */
	assert_string_equal(res.action, "deny");
	assert_non_null(strstr(res.reason, "filesystem_policy.binaries"));
	assert_int_equal(cs.v[0].kind, WARD_CASE_NET);
	assert_string_equal(cs.v[0].host, "api.github.com"); /* normalised */
	assert_int_equal(cs.v[5].kind, WARD_CASE_DNS);
	assert_int_equal(cs.v[8].kind, WARD_CASE_FILE);
	assert_int_equal(cs.v[19].kind, WARD_CASE_MODEL);
	ward_cases_free(&cs);
}

static void test_fs_decide(void **state)
{
	const struct ward_policy *p = *state;
	char rule[128], reason[256];

	assert_true(ward_case_fs_decide(p, NULL, "/usr/bin/sh", "/usr/bin/ls", WARD_CASE_EXEC, rule,
					sizeof(rule), reason, sizeof(reason)));
	assert_string_equal(rule, "/usr");
	assert_false(ward_case_fs_decide(p, NULL, "/usr/bin/sh", "/usr", WARD_CASE_WRITE, rule,
					 sizeof(rule), reason, sizeof(reason)));
	/* a prefix that is not a path component does not cover */
	assert_false(ward_case_fs_decide(p, NULL, "/usr/bin/sh", "/usrx/a", WARD_CASE_READ, rule,
					 sizeof(rule), reason, sizeof(reason)));
	assert_string_equal(rule, "");
	assert_true(ward_case_fs_decide(p, NULL, "/usr/bin/sh", "/dev/null", WARD_CASE_WRITE, rule,
					sizeof(rule), reason, sizeof(reason)));
	assert_false(ward_case_fs_decide(p, NULL, "/usr/bin/sh", "/dev/sda", WARD_CASE_READ, rule,
					 sizeof(rule), reason, sizeof(reason)));
}

/* include_workdir: a file case's workdir is mapped read-write, nested like
 * the policy's paths (a deeper read-only path inside it wins), and a
 * protected path inside it stays its binaries'. */
static void test_fs_workdir(void **state)
{
	static const char text[] = "version: 1\n"
				   "filesystem_policy:\n"
				   "  include_workdir: true\n"
				   "  read_only: [/usr, /home, /home/me/proj/.git]\n"
				   "  binaries:\n"
				   "    - path: /usr/bin/ssh\n"
				   "      read_only: [/home/me/proj/keys]\n";
	static const char cases[] =
		"cases:\n"
		"  - { binary: /usr/bin/sh, file: /home/me/proj/a.c, access: write, workdir: "
		"/home/me/proj/, expect: allow, rule: /home/me/proj }\n"
		"  - { binary: /usr/bin/sh, file: /home/me/proj/a.c, access: write, expect: deny }\n"
		"  - { binary: /usr/bin/sh, file: /home/me/other, access: write, workdir: "
		"/home/me/proj, expect: deny, rule: /home }\n"
		"  - { binary: /usr/bin/sh, file: /home/me/proj/.git/HEAD, access: write, workdir: "
		"/home/me/proj, expect: deny, rule: /home/me/proj/.git }\n"
		"  - { binary: /usr/bin/cat, file: /home/me/proj/keys/id, access: read, workdir: "
		"/home/me/proj, expect: deny }\n"
		"  - { binary: /usr/bin/ssh, file: /home/me/proj/keys/id, access: read, workdir: "
		"/home/me/proj, expect: allow }\n";
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_cases cs;
	struct ward_case_result res;

	(void)state;
	assert_int_equal(ward_policy_load_buffer("p.yaml", text, strlen(text), &p, &d, &err), 0);
	ward_diags_free(&d);
	assert_int_equal(ward_cases_load_buffer("c.yaml", cases, strlen(cases), &cs, &err), 0);
	assert_string_equal(cs.v[0].workdir, "/home/me/proj"); /* trailing slash dropped */
	for (size_t i = 0; i < cs.n; i++) {
		ward_case_run(p, &cs.v[i], &res);
		if (!res.pass)
			print_message("case %zu: %s (%s: %s)\n", i, res.action, res.rule, res.reason);
		assert_true(res.pass);
	}
	ward_case_run(p, &cs.v[0], &res);
	assert_non_null(strstr(res.reason, "(the workdir)"));
	ward_cases_free(&cs);
	/* without include_workdir the workdir maps nothing */
	p->include_workdir = false;
	assert_false(ward_case_fs_decide(p, "/home/me/proj", "/usr/bin/sh", "/home/me/proj/a.c",
					 WARD_CASE_WRITE, res.rule, sizeof(res.rule), res.reason,
					 sizeof(res.reason)));
	ward_policy_free(p);
}

/* The route a model case names is the one the inference router picks:
 * ward_case_model_route against the proxy's inf_route_named/inf_route on a
 * real inference handle, with and without strict_models. */
static void check_routes(const char *extra)
{
	static const char *const models[] = { "fast",  "slow",	  "haiku", "sonnet", "m-one",
					      "m-two", "unnamed", "FAST",  "" };
	char yaml[1024];
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_inference_config cfg = { 0 };
	struct ward_inference *inf = NULL;

	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "inference:\n"
		 "%s"
		 "  routes:\n"
		 "    - { name: fast, provider: openai, model: m-one, aliases: [haiku, slow],\n"
		 "        api_key_env: WARD_UT_CASES, base_url: \"http://127.0.0.1:1/v1\" }\n"
		 "    - { name: slow, provider: anthropic, model: m-two, aliases: [sonnet],\n"
		 "        api_key_env: WARD_UT_CASES, base_url: \"http://127.0.0.1:1/v1\" }\n"
		 "    - { name: third, provider: openai, model: m-one,\n"
		 "        api_key_env: WARD_UT_CASES, base_url: \"http://127.0.0.1:1/v1\" }\n",
		 extra);
	if (ward_policy_load_buffer("r.yaml", yaml, strlen(yaml), &p, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		fail_msg("%s", err.msg);
	}
	ward_diags_free(&d);
	setenv("WARD_UT_CASES", "k", 1);
	cfg.policy = p;
	cfg.sandbox = "unit";
	if (ward_inference_new(&cfg, &inf, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		struct inf_backend *b = inf_route_named(inf, models[i], NULL);
		const struct ward_inference_route *want, *got = ward_case_model_route(p, models[i]);

		if (!b && !p->inference_strict_models)
			b = inf_route(inf, NULL, NULL);
		want = b ? b->route : NULL;
		if (got != want)
			fail_msg("model '%s': cases picks %s, the router %s", models[i],
				 got ? got->name : "none", want ? want->name : "none");
	}
	ward_inference_free(inf);
	ward_policy_free(p);
}

static void test_model_route_is_the_routers(void **state)
{
	(void)state;
	check_routes("");
	check_routes("  strict_models: true\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test_setup_teardown(test_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_decide, setup, teardown),
		cmocka_unit_test(test_fs_workdir),
		cmocka_unit_test(test_model_route_is_the_routers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
