// SPDX-License-Identifier: MIT
/* policy/rules: Lua rule packs over the lowered policy. The API (every
 * list, its fields and positions), ward.error/ward.warn as
 * POLICY:LINE:COL plus the pack's name and line, the sandbox (no io, os,
 * require, load), the limits, and a pack that fails itself. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "policy/rules.h"

/* Positions: line 5 col 9 the rest endpoint, line 10 col 13 its GET rule. */
static const char POLICY[] = "version: 1\n"					     /* 1 */
			     "network_policies:\n"				     /* 2 */
			     "  gh:\n"						     /* 3 */
			     "    endpoints:\n"					     /* 4 */
			     "      - host: api.github.com\n"			     /* 5 */
			     "        port: 443\n"				     /* 6 */
			     "        protocol: rest\n"				     /* 7 */
			     "        enforcement: audit\n"			     /* 8 */
			     "        rules:\n"					     /* 9 */
			     "          - allow: { method: GET, path: /repos/** }\n" /* 10 */
			     "    binaries:\n"					     /* 11 */
			     "      - { path: /usr/bin/python3, ancestors: true }\n" /* 12 */
			     "filesystem_policy:\n"				     /* 13 */
			     "  read_write: [/tmp, /var/cache]\n"		     /* 14 */
			     "environment:\n"					     /* 15 */
			     "  pass: [MY_TOKEN, LANGX]\n"			     /* 16 */
			     "credentials:\n"					     /* 17 */
			     "  - { name: gh, env: GH_TOKEN, host: api.github.com, port: 443,"
			     " header: Authorization, format: \"Bearer {}\" }\n"; /* 18 */

static struct ward_policy *load(const char *yaml)
{
	struct ward_policy *p = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer("p.yaml", yaml, strlen(yaml), &p, &diags, &err);

	if (r < 0) {
		ward_diags_print(&diags, stderr);
		print_message("r=%d %s\n", r, err.msg);
	}
	ward_diags_free(&diags);
	assert_int_equal(r, 0);
	return p;
}

/* What one pack reports on POLICY, printed; *ret_errors the error count. */
static char *run_pack(const char *pack, size_t mem, uint64_t instr, size_t *ret_errors)
{
	struct ward_policy *p = load(POLICY);
	struct ward_rules *r = ward_rules_new();
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(r);
	ward_rules_set_limits(r, mem, instr);
	assert_int_equal(ward_rules_add_buffer(r, "t.lua", pack, strlen(pack), &err), 0);
	assert_int_equal(ward_rules_run(r, p, &diags, &err), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	ward_diags_print(&diags, f);
	assert_int_equal(fclose(f), 0);
	*ret_errors = ward_diags_errors(&diags);
	ward_diags_free(&diags);
	ward_rules_free(r);
	ward_policy_free(p);
	return buf;
}

static void expect(const char *pack, const char *want, size_t errors)
{
	size_t n = 0;
	char *got = run_pack(pack, 0, 0, &n);

	if (strcmp(got, want))
		print_message("got:\n%swant:\n%s", got, want);
	assert_string_equal(got, want);
	assert_int_equal(n, errors);
	free(got);
}

static void test_positions(void **state)
{
	(void)state;
	expect("for _, e in ipairs(ward.endpoints()) do\n"
	       "  ward.error(e, e.host .. ':' .. e.port .. ' ' .. e.protocol .. ' ' .. e.enforcement)\n"
	       "end\n"
	       "for _, r in ipairs(ward.rules()) do\n"
	       "  ward.warn(r, r.method .. ' ' .. r.path .. ' on ' .. r.endpoint.host)\n"
	       "end\n",
	       "p.yaml:5:9: error: api.github.com:443 rest audit [pack t.lua:2]\n"
	       "p.yaml:10:13: warning: GET /repos/** on api.github.com [pack t.lua:5]\n",
	       1);
}

static void test_lists(void **state)
{
	(void)state;
	expect("local pol = ward.policies()[1]\n"
	       "ward.warn(pol, pol.key .. ' ' .. #pol.binaries .. ' ' .. #pol.endpoints)\n"
	       "for _, b in ipairs(ward.binaries()) do\n"
	       "  ward.warn(b, b.path .. ' ' .. tostring(b.ancestors) .. ' ' .. b.section)\n"
	       "end\n"
	       "for _, p in ipairs(ward.paths()) do ward.warn(p, p.path .. ' ' .. p.access) end\n"
	       "for _, c in ipairs(ward.credentials()) do\n"
	       "  ward.warn(c, c.name .. ' ' .. c.host .. ':' .. c.port .. ' ' .. c.scheme)\n"
	       "end\n"
	       "for _, e in ipairs(ward.env_pass()) do\n"
	       "  ward.warn(e, e.name .. ' ' .. tostring(ward.secret_like(e.name)))\n"
	       "end\n"
	       "ward.warn(nil, 'routes ' .. #ward.routes() .. ' ' .. ward.policy.file .. ' ' .. ward.pack)\n",
	       "p.yaml:3:3: warning: gh 1 1 [pack t.lua:2]\n"
	       "p.yaml:12:9: warning: /usr/bin/python3 true network [pack t.lua:4]\n"
	       "p.yaml:14:16: warning: /tmp read-write [pack t.lua:6]\n"
	       "p.yaml:14:22: warning: /var/cache read-write [pack t.lua:6]\n"
	       "p.yaml:18:5: warning: gh api.github.com:443 https [pack t.lua:8]\n"
	       "p.yaml:16:10: warning: MY_TOKEN true [pack t.lua:11]\n"
	       "p.yaml:16:20: warning: LANGX false [pack t.lua:11]\n"
	       "p.yaml: warning: routes 0 p.yaml t.lua [pack t.lua:13]\n",
	       0);
}

static void test_sandbox(void **state)
{
	(void)state;
	/* no io, os, require, load, dofile, string.dump */
	expect("ward.warn(nil, type(io) .. type(os) .. type(require) .. type(load)"
	       " .. type(dofile) .. type(string.dump) .. type(debug))\n",
	       "p.yaml: warning: nilnilnilnilnilnilnil [pack t.lua:1]\n", 0);
	expect("\n\nio.open('/etc/passwd')\n",
	       "t.lua:3: error: attempt to index a nil value (global 'io')\n", 1);
	/* bytecode is refused: text chunks only */
	expect("\x1bLua", "t.lua: error: attempt to load a binary chunk (mode is 't')\n", 1);
}

static void test_pack_errors(void **state)
{
	(void)state;
	expect("local x = 1\nif then\n", "t.lua:2: error: unexpected symbol near 'then'\n", 1);
	expect("local function f() error('boom') end\n\nf()\n", "t.lua:1: error: boom\n", 1);
	expect("ward.error(42, 'x')\n",
	       "t.lua:1: error: bad argument #1 to 'error' (table expected, got number)\n", 1);
	expect("error({})\n", "t.lua:1: error: error object is not a string\n", 1);
	/* reports are bounded (the 1001st fails the pack), messages cut at 1 KiB */
	{
		char xs[1026];
		size_t n = 0;
		char *got = run_pack("for i = 1, 2000 do ward.warn(nil, ('x'):rep(5000)) end\n", 0,
				     0, &n);

		memset(xs, 'x', sizeof(xs) - 1);
		xs[sizeof(xs) - 1] = '\0';
		assert_int_equal(n, 1);
		assert_non_null(strstr(got, "\nt.lua:1: error: more than 1000 reports\n"));
		assert_non_null(strstr(got, xs + 1)); /* 1024 */
		assert_null(strstr(got, xs));	      /* never 1025 */
		free(got);
	}
	/* what was reported before the failure stays reported */
	expect("ward.warn(nil, 'first')\nerror('then this')\n",
	       "p.yaml: warning: first [pack t.lua:1]\nt.lua:2: error: then this\n", 1);
}

static void test_limits(void **state)
{
	size_t n = 0;
	char *got;

	(void)state;
	got = run_pack("local i = 0\nwhile true do\n  i = i + 1\nend\n", 0, 100000, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(got, "t.lua:"));
	assert_non_null(strstr(got, ": error: rule pack instruction limit (100000) exceeded"));
	free(got);
	/* work inside C functions counts: a string.rep loop ends on the cap */
	got = run_pack("while true do\n  local s = ('x'):rep(1 << 19)\nend\n", 0, 100000, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(got, "error: rule pack instruction limit (100000) exceeded"));
	free(got);
	got = run_pack("local t = {}\nfor i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end\n", 1 << 20,
		       0, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(got, "t.lua"));
	assert_non_null(strstr(got, "error: rule pack memory limit (1024 KiB) exceeded"));
	free(got);
	/* the pattern matcher is one C call the hook cannot stop: a pattern
	 * that could backtrack for hours is refused before it runs, at the
	 * pack's line; the same search as a plain find, or anchored and short,
	 * runs */
	got = run_pack("local s = ('a'):rep(200000)\n"
		       "local x = s:find('.-.-.-.-b')\n",
		       0, 0, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(got, "t.lua:2"));
	assert_non_null(strstr(got, "could backtrack too long on a 200000-byte subject"));
	free(got);
	got = run_pack("local s = ('a'):rep(200000)\n"
		       "assert(s:find('.-.-b', 1, true) == nil)\n"
		       "assert(('ab.c'):match('^(.-)%.(.-)$') == 'ab')\n"
		       "assert(select(2, ('a-b-c'):gsub('[a-c]', 'x')) == 3)\n"
		       "for w in ('x y z'):gmatch('%a+') do assert(#w == 1) end\n",
		       0, 0, &n);
	assert_int_equal(n, 0);
	free(got);
}

static void test_check_dir(void **state)
{
	struct ward_policy *p = load(POLICY);
	struct ward_error err = { 0 };
	char dir[] = "/tmp/ward-rules-test.XXXXXX", path[128];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* a directory without packs: nothing to hold the policy to */
	assert_int_equal(ward_rules_check(dir, p, NULL, NULL, &err), 0);
	snprintf(path, sizeof(path), "%s/a.lua", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("for _, e in ipairs(ward.endpoints()) do ward.error(e, 'no ' .. e.host) end\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ignored.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("error('not a pack')\n", f);
	fclose(f);
	assert_int_equal(ward_rules_check(dir, p, NULL, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "p.yaml:5:9: error: no api.github.com [pack a.lua:1]");
	unlink(path);
	snprintf(path, sizeof(path), "%s/a.lua", dir);
	unlink(path);
	rmdir(dir);
	/* a missing directory holds nothing */
	assert_int_equal(ward_rules_check(dir, p, NULL, NULL, &err), 0);
	ward_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions), cmocka_unit_test(test_lists),
		cmocka_unit_test(test_sandbox),	  cmocka_unit_test(test_pack_errors),
		cmocka_unit_test(test_limits),	  cmocka_unit_test(test_check_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
