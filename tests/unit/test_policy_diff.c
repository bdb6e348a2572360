// SPDX-License-Identifier: MIT
/* policy/diff: two compiled policies become the exact access added and
 * removed. Each case compiles an old and a new YAML text and compares the
 * whole printed diff, line by line; edits that change no access (reordering,
 * comments, flow vs block style, renaming a key, `access:` spelled as rules)
 * give an empty diff. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/diff.h"
#include "policy/policy.h"

static struct ward_policy *load(const char *name, const char *yaml)
{
	struct ward_policy *p = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer(name, yaml, strlen(yaml), &p, &diags, &err);

	if (r < 0) {
		ward_diags_print(&diags, stderr);
		print_message("%s: r=%d %s\n", name, r, err.msg);
	}
	ward_diags_free(&diags);
	assert_int_equal(r, 0);
	return p;
}

/* The printed diff of old -> new (text, or JSON). */
static char *diff_text(const char *old, const char *new, bool json, struct ward_policy_diff *ret)
{
	struct ward_policy *a = old ? load("old.yaml", old) : NULL;
	struct ward_policy *b = load("new.yaml", new);
	struct ward_error err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(ward_policy_diff(a, b, ret, &err), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	ward_policy_diff_print(f, ret, json);
	assert_int_equal(fclose(f), 0);
	ward_policy_free(a);
	ward_policy_free(b);
	return buf;
}

static void expect(const char *old, const char *new, const char *want)
{
	struct ward_policy_diff d = { 0 };
	char *got = diff_text(old, new, false, &d);

	if (strcmp(got, want))
		print_message("expected:\n%s---\ngot:\n%s---\n", want, got);
	assert_string_equal(got, want);
	assert_true(ward_policy_diff_empty(&d) == !want[0]);
	free(got);
	ward_policy_diff_free(&d);
}

/* ...and old <- new is the same items, added and removed swapped. */
static void expect_both(const char *old, const char *new, const char *want)
{
	struct ward_policy_diff fwd = { 0 }, rev = { 0 };

	expect(old, new, want);
	free(diff_text(old, new, false, &fwd));
	free(diff_text(new, old, false, &rev));
	assert_int_equal(rev.n_added, fwd.n_removed);
	assert_int_equal(rev.n_removed, fwd.n_added);
	for (size_t i = 0; i < fwd.n_added; i++)
		assert_string_equal(rev.removed[i].json, fwd.added[i].json);
	for (size_t i = 0; i < fwd.n_removed; i++)
		assert_string_equal(rev.added[i].json, fwd.removed[i].json);
	ward_policy_diff_free(&fwd);
	ward_policy_diff_free(&rev);
}

#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"network_policies:\n"                                                                      \
	"  claude:\n"                                                                              \
	"    binaries: [{ path: /usr/bin/node }]\n"                                                \
	"    endpoints:\n"                                                                         \
	"      - host: api.example.com\n"                                                          \
	"        port: 443\n"                                                                      \
	"        protocol: rest\n"                                                                 \
	"        rules:\n"                                                                         \
	"          - allow: { method: GET, path: \"/v1/*\" }\n"

static void test_add_host(void **state)
{
	(void)state;
	expect(BASE, BASE "      - { host: cdn.example.com, port: 443 }\n",
	       "# network_policies\n"
	       "+ claude (/usr/bin/node) -> cdn.example.com:443\n"
	       "# dns\n"
	       "+ claude (/usr/bin/node) resolves cdn.example.com\n");
}

static void test_remove_host(void **state)
{
	(void)state;
	expect(BASE "      - { host: cdn.example.com, ports: [80, 443] }\n", BASE,
	       "# network_policies\n"
	       "- claude (/usr/bin/node) -> cdn.example.com:80\n"
	       "- claude (/usr/bin/node) -> cdn.example.com:443\n"
	       "# dns\n"
	       "- claude (/usr/bin/node) resolves cdn.example.com\n");
}

static void test_change_port(void **state)
{
	static const char new[] = "version: 1\n"
				  "network_policies:\n"
				  "  claude:\n"
				  "    binaries: [{ path: /usr/bin/node }]\n"
				  "    endpoints:\n"
				  "      - host: api.example.com\n"
				  "        port: 8443\n"
				  "        protocol: rest\n"
				  "        rules:\n"
				  "          - allow: { method: GET, path: \"/v1/*\" }\n";
	(void)state;
	/* the name stays resolvable: no dns line */
	expect(BASE, new,
	       "# network_policies\n"
	       "- claude (/usr/bin/node) -> api.example.com:443 rest\n"
	       "- claude (/usr/bin/node) -> api.example.com:443 GET /v1/*\n"
	       "+ claude (/usr/bin/node) -> api.example.com:8443 rest\n"
	       "+ claude (/usr/bin/node) -> api.example.com:8443 GET /v1/*\n");
}

static void test_add_method_rule(void **state)
{
	(void)state;
	expect(BASE, BASE "          - allow: { method: POST, path: \"/v1/messages\" }\n",
	       "# network_policies\n"
	       "+ claude (/usr/bin/node) -> api.example.com:443 POST /v1/messages\n");
	/* a deny rule and a query matcher are items of their own */
	expect(BASE,
	       BASE "          - allow: { method: GET, path: \"/v2/*\", query: { b: \"x*\", a: y } "
		    "}\n"
		    "        deny_rules: [{ method: DELETE, path: \"/**\" }]\n",
	       "# network_policies\n"
	       "+ claude (/usr/bin/node) -> api.example.com:443 GET /v2/*?a=y&b=x*\n"
	       "+ claude (/usr/bin/node) -> api.example.com:443 deny DELETE /**\n");
}

static void test_widen_path_glob(void **state)
{
	static const char wide[] = "version: 1\n"
				   "network_policies:\n"
				   "  claude:\n"
				   "    binaries: [{ path: /usr/bin/node }]\n"
				   "    endpoints:\n"
				   "      - host: api.example.com\n"
				   "        port: 443\n"
				   "        protocol: rest\n"
				   "        rules:\n"
				   "          - allow: { method: GET, path: \"/v1/**\" }\n";
	(void)state;
	expect(BASE, wide,
	       "# network_policies\n"
	       "- claude (/usr/bin/node) -> api.example.com:443 GET /v1/*\n"
	       "+ claude (/usr/bin/node) -> api.example.com:443 GET /v1/**\n");
}

static void test_fs_write_added(void **state)
{
	static const char old[] = "version: 1\n"
				  "filesystem_policy:\n"
				  "  read_only: [/usr, /data]\n";
	static const char new[] = "version: 1\n"
				  "filesystem_policy:\n"
				  "  include_workdir: true\n"
				  "  read_only: [/usr]\n"
				  "  read_write: [/data]\n"
				  "  binaries:\n"
				  "    - { path: /usr/bin/git, read_write: [/var/git] }\n";
	(void)state;
	expect(old, new,
	       "# filesystem_policy\n"
	       "+ the working directory read-write (rwx)\n"
	       "- /data read-only (r-x)\n"
	       "+ /data read-write (rwx)\n"
	       "# filesystem_policy.binaries\n"
	       "+ /usr/bin/git: /var/git read-write (rwx)\n");
}

/* everything reordered: entries, binaries, endpoints, ports, rules, keys */
static void test_reorder_is_empty(void **state)
{
	static const char a[] =
		"version: 1\n"
		"filesystem_policy: { read_only: [/usr, /etc], read_write: [/a, /b] }\n"
		"network_policies:\n"
		"  one:\n"
		"    binaries: [{ path: /usr/bin/node }, { path: /usr/bin/python3 }]\n"
		"    endpoints:\n"
		"      - { host: a.example.com, ports: [443, 80] }\n"
		"      - host: b.example.com\n"
		"        port: 443\n"
		"        protocol: rest\n"
		"        rules:\n"
		"          - allow: { method: GET, path: /x }\n"
		"          - allow: { method: POST, path: /y }\n"
		"  two:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: c.example.com, port: 443 }]\n"
		"environment: { pass: [A, B], set: { X: '1', Y: '2' } }\n";
	static const char b[] =
		"version: 1\n"
		"environment: { set: { Y: '2', X: '1' }, pass: [B, A] }\n"
		"network_policies:\n"
		"  two:\n"
		"    endpoints: [{ port: 443, host: c.example.com }]\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"  one:\n"
		"    endpoints:\n"
		"      - host: b.example.com\n"
		"        rules:\n"
		"          - allow: { path: /y, method: POST }\n"
		"          - allow: { method: GET, path: /x }\n"
		"        protocol: rest\n"
		"        port: 443\n"
		"      - { host: a.example.com, ports: [80, 443] }\n"
		"    binaries: [{ path: /usr/bin/python3 }, { path: /usr/bin/node }]\n"
		"filesystem_policy: { read_write: [/b, /a], read_only: [/etc, /usr] }\n";
	struct ward_policy_diff d = { 0 };
	char *json;

	(void)state;
	expect(a, b, "");
	json = diff_text(a, b, true, &d);
	assert_string_equal(json, "{\"added\":[],\"removed\":[],\"sections\":[]}\n");
	free(json);
	ward_policy_diff_free(&d);
}

static void test_comments_are_empty(void **state)
{
	static const char commented[] =
		"# the claude policy\n"
		"version: 1   # schema\n"
		"\n"
		"network_policies:\n"
		"  claude:   # the agent\n"
		"    binaries:\n"
		"      - path: /usr/bin/node\n"
		"    endpoints:\n"
		"      # the API\n"
		"      - { host: API.example.com, port: 443, protocol: rest,\n"
		"          rules: [ { allow: { method: GET, path: \"/v1/*\" } } ] }\n";
	(void)state;
	expect(BASE, commented, "");
}

/* python3 leaves `one` for `two`: it gains two's endpoints, loses one's */
static void test_binary_moved(void **state)
{
	static const char old[] =
		"version: 1\n"
		"network_policies:\n"
		"  one:\n"
		"    binaries: [{ path: /usr/bin/node }, { path: /usr/bin/python3 }]\n"
		"    endpoints: [{ host: a.example.com, port: 443 }]\n"
		"  two:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: b.example.com, port: 443 }]\n";
	static const char new[] =
		"version: 1\n"
		"network_policies:\n"
		"  one:\n"
		"    binaries: [{ path: /usr/bin/node }]\n"
		"    endpoints: [{ host: a.example.com, port: 443 }]\n"
		"  two:\n"
		"    binaries: [{ path: /usr/bin/curl }, { path: /usr/bin/python3 }]\n"
		"    endpoints: [{ host: b.example.com, port: 443 }]\n";
	(void)state;
	expect_both(old, new,
		    "# network_policies\n"
		    "- one (/usr/bin/python3) -> a.example.com:443\n"
		    "+ two (/usr/bin/python3) -> b.example.com:443\n"
		    "# dns\n"
		    "- one (/usr/bin/python3) resolves a.example.com\n"
		    "+ two (/usr/bin/python3) resolves b.example.com\n");
}

/* the key only names log rows; `access:` is the rules it stands for */
static void test_same_access_other_spelling(void **state)
{
	static const char shorthand[] =
		"version: 1\n"
		"network_policies:\n"
		"  gh:\n"
		"    binaries: [{ path: /usr/bin/git }]\n"
		"    endpoints:\n"
		"      - { host: api.github.com, port: 443, protocol: rest,\n"
		"          access: read-only }\n";
	static const char rules[] = "version: 1\n"
				    "network_policies:\n"
				    "  github:\n"
				    "    name: GitHub\n"
				    "    binaries: [{ path: /usr/bin/git }]\n"
				    "    endpoints:\n"
				    "      - host: api.github.com\n"
				    "        port: 443\n"
				    "        protocol: rest\n"
				    "        rules:\n"
				    "          - allow: { method: OPTIONS, path: \"/**\" }\n"
				    "          - allow: { method: GET, path: \"/**\" }\n"
				    "          - allow: { method: HEAD, path: \"/**\" }\n";
	(void)state;
	expect(shorthand, rules, "");
	/* read-write adds the writing methods, one line each */
	expect(shorthand,
	       "version: 1\n"
	       "network_policies:\n"
	       "  gh:\n"
	       "    binaries: [{ path: /usr/bin/git }]\n"
	       "    endpoints:\n"
	       "      - { host: api.github.com, port: 443, protocol: rest, access: read-write }\n",
	       "# network_policies\n"
	       "+ gh (/usr/bin/git) -> api.github.com:443 DELETE /**\n"
	       "+ gh (/usr/bin/git) -> api.github.com:443 PATCH /**\n"
	       "+ gh (/usr/bin/git) -> api.github.com:443 POST /**\n"
	       "+ gh (/usr/bin/git) -> api.github.com:443 PUT /**\n");
}

static void test_binary_identity(void **state)
{
	static const char sha[] =
		"version: 1\n"
		"network_policies:\n"
		"  agent:\n"
		"    binaries:\n"
		"      - { sha256: "
		"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789 }\n"
		"    endpoints: [{ host: a.example.com, port: 443 }]\n";
	static const char anc[] = "version: 1\n"
				  "network_policies:\n"
				  "  agent:\n"
				  "    binaries: [{ path: /usr/bin/node, ancestors: true }]\n"
				  "    endpoints: [{ host: a.example.com, port: 443 }]\n";
	(void)state;
	expect(sha, anc,
	       "# network_policies\n"
	       "- agent (sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789)"
	       " -> a.example.com:443\n"
	       "+ agent (/usr/bin/node and its descendants) -> a.example.com:443\n"
	       "# dns\n"
	       "- agent (sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789)"
	       " resolves a.example.com\n"
	       "+ agent (/usr/bin/node and its descendants) resolves a.example.com\n");
}

static void test_unix_audit_allowed_ips(void **state)
{
	static const char old[] = "version: 1\n"
				  "network_policies:\n"
				  "  corp:\n"
				  "    binaries: [{ path: /usr/bin/curl }]\n"
				  "    endpoints:\n"
				  "      - { host: '**.corp.example', port: 443 }\n";
	static const char new[] =
		"version: 1\n"
		"network_policies:\n"
		"  corp:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints:\n"
		"      - { host: '**.corp.example', port: 443, enforcement: audit,\n"
		"          allowed_ips: [10.1.0.0/16] }\n"
		"      - unix: /run/agent.sock\n";
	(void)state;
	expect(old, new,
	       "# network_policies\n"
	       "- corp (/usr/bin/curl) -> **.corp.example:443\n"
	       "+ corp (/usr/bin/curl) -> **.corp.example:443 (audit only: denials are logged, "
	       "not enforced)\n"
	       "+ corp (/usr/bin/curl) -> **.corp.example:443 may resolve to 10.1.0.0/16\n"
	       "+ corp (/usr/bin/curl) -> unix:/run/agent.sock\n");
}

/* an entry without binaries grants nothing; an address needs no name */
static void test_no_binaries_and_addresses(void **state)
{
	(void)state;
	expect(BASE, BASE "  idle:\n    endpoints: [{ host: b.example.com, port: 443 }]\n", "");
	expect(BASE, BASE "      - { host: 10.1.2.3, port: 5432 }\n",
	       "# network_policies\n"
	       "+ claude (/usr/bin/node) -> 10.1.2.3:5432\n");
}

static void test_settings_and_credentials(void **state)
{
	static const char old[] = "version: 1\n"
				  "landlock: { compatibility: best_effort }\n"
				  "process: { run_as_user: sandbox }\n"
				  "credentials:\n"
				  "  - { name: gh, env: GH_TOKEN, host: api.github.com }\n"
				  "resources: { memory: 4G, tmp_size: 64M }\n"
				  "limits: { idle_tunnel: 30m }\n";
	static const char new[] =
		"version: 1\n"
		"landlock: { compatibility: hard_requirement }\n"
		"process: { run_as_user: 1000 }\n"
		"credentials:\n"
		"  - { name: gh, env: GH_TOKEN, host: api.github.com, path: \"/repos/**\" }\n"
		"environment: { pass: [MYAPP_*], set: { CI: '1' } }\n"
		"resources: { memory: 4G, cpu: 0.5, tmp_size: 128M }\n"
		"limits: { idle_tunnel: 90s }\n";
	(void)state;
	expect(old, new,
	       "# landlock\n"
	       "- compatibility best_effort\n"
	       "+ compatibility hard_requirement\n"
	       "# process\n"
	       "- run_as_user sandbox\n"
	       "+ run_as_user 1000\n"
	       "# credentials\n"
	       "- credential gh: $GH_TOKEN as 'Authorization: Bearer {}' -> api.github.com:443 /** "
	       "(TLS only)\n"
	       "+ credential gh: $GH_TOKEN as 'Authorization: Bearer {}' -> api.github.com:443 "
	       "/repos/** (TLS only)\n"
	       "# environment\n"
	       "+ pass MYAPP_* (glob)\n"
	       "+ set CI=1\n"
	       "# resources\n"
	       "- cpu_milli (no limit)\n"
	       "+ cpu_milli 0.500 cores\n"
	       "# resources.tmp_size\n"
	       "- tmp_size 64M\n"
	       "+ tmp_size 128M\n"
	       "# limits\n"
	       "- idle_tunnel_ms 30m\n"
	       "+ idle_tunnel_ms 90s\n");
}

static void test_inference(void **state)
{
	static const char old[] =
		"version: 1\n"
		"inference:\n"
		"  routes:\n"
		"    - { name: main, provider: anthropic, model: claude-sonnet-4-5,\n"
		"        api_key_env: AK, price: { input: 3, output: 15 } }\n";
	static const char new[] =
		"version: 1\n"
		"inference:\n"
		"  routes:\n"
		"    - { name: main, provider: anthropic, model: claude-sonnet-4-5,\n"
		"        api_key_secret: ak, price: { input: 3, output: 15 }, aliases: [fast] }\n"
		"  binaries: [{ path: /usr/bin/node }]\n"
		"  budget: { max_tokens: 1000 }\n";
	(void)state;
	expect(old, new,
	       "# dns\n"
	       "+ /usr/bin/node resolves inference.local\n"
	       "- every binary resolves inference.local\n"
	       "# inference\n"
	       "- route main: anthropic claude-sonnet-4-5 at the provider's default, key $AK, "
	       "aliases [], hosts [], price USD 3 in, 15 out, 3 cached per million tokens\n"
	       "+ route main: anthropic claude-sonnet-4-5 at the provider's default, key secret ak, "
	       "aliases [\"fast\"], hosts [], price USD 3 in, 15 out, 3 cached per million tokens\n"
	       "+ /usr/bin/node may use inference.local\n"
	       "- every binary may use inference.local\n"
	       "- max_tokens (no budget)\n"
	       "+ max_tokens 1000\n");
}

static void test_json(void **state)
{
	struct ward_policy_diff d = { 0 };
	char *json;

	(void)state;
	json = diff_text(BASE, BASE "          - allow: { method: POST, path: \"/v1/m\" }\n", true,
			 &d);
	assert_string_equal(
		json,
		"{\"added\":[{\"section\":\"network_policies\",\"kind\":\"rule\","
		"\"binary\":\"/usr/bin/node\",\"ancestors\":false,\"host\":\"api.example.com\","
		"\"port\":443,\"method\":\"POST\",\"path\":\"/v1/m\",\"query\":[],\"policy\":\"claude\","
		"\"text\":\"claude (/usr/bin/node) -> api.example.com:443 POST /v1/m\"}],"
		"\"removed\":[],\"sections\":[\"network_policies\"]}\n");
	assert_int_equal(d.n_added, 1);
	assert_int_equal(d.n_removed, 0);
	free(json);
	ward_policy_diff_free(&d);
}

/* NULL is the empty policy: everything the new one grants is added */
static void test_from_nothing(void **state)
{
	struct ward_policy_diff d = { 0 };
	char *text;

	(void)state;
	text = diff_text(NULL, BASE, false, &d);
	assert_non_null(strstr(text, "# network_policies\n"
				     "+ claude (/usr/bin/node) -> api.example.com:443 rest\n"
				     "+ claude (/usr/bin/node) -> api.example.com:443 GET /v1/*\n"
				     "# dns\n"
				     "+ claude (/usr/bin/node) resolves api.example.com\n"));
	assert_int_equal(d.n_removed, 0);
	free(text);
	ward_policy_diff_free(&d);
}

/* binaries x endpoints multiply: past the limit the diff fails, whole */
static void test_too_many_items(void **state)
{
	struct ward_policy *p;
	struct ward_policy_diff d = { 0 };
	struct ward_error err = { 0 };
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);

	(void)state;
	assert_non_null(f);
	fputs("version: 1\nnetwork_policies:\n  big:\n    binaries:\n", f);
	for (int i = 0; i < 320; i++)
		fprintf(f, "      - { path: /usr/bin/b%d }\n", i);
	fputs("    endpoints:\n", f);
	for (int i = 0; i < 320; i++)
		fprintf(f, "      - { host: h%d.example.com, port: 443 }\n", i);
	assert_int_equal(fclose(f), 0);
	p = load("big.yaml", yaml);
	assert_int_equal(ward_policy_diff(NULL, p, &d, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "more than 200000 access items"));
	assert_null(d.added);
	assert_int_equal(d.n_added, 0);
	ward_policy_free(p);
	free(yaml);
}

/* every example against itself: nothing; against nothing: only added */
static void test_examples(void **state)
{
	static const char *const files[] = { "deny-all", "developer", "claude-code", "codex",
					     "org-egress" };

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct ward_policy *a = NULL, *b = NULL;
		struct ward_policy_diff d = { 0 };
		struct ward_diags diags = { 0 };
		struct ward_error err = { 0 };
		char path[128];

		snprintf(path, sizeof(path), "policies/examples/%s.yaml", files[i]);
		assert_int_equal(ward_policy_load(path, &a, &diags, &err), 0);
		ward_diags_free(&diags);
		assert_int_equal(ward_policy_load(path, &b, &diags, &err), 0);
		assert_int_equal(ward_policy_diff(a, b, &d, &err), 0);
		assert_true(ward_policy_diff_empty(&d));
		assert_int_equal(ward_policy_diff(NULL, b, &d, &err), 0);
		assert_int_equal(d.n_removed, 0);
		assert_true(d.n_added > 0);
		for (size_t k = 1; k < d.n_added; k++)
			assert_true(strcmp(d.added[k - 1].id, d.added[k].id) < 0);
		ward_policy_diff_free(&d);
		ward_policy_free(a);
		ward_policy_free(b);
		ward_diags_free(&diags);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_host),
		cmocka_unit_test(test_remove_host),
		cmocka_unit_test(test_change_port),
		cmocka_unit_test(test_add_method_rule),
		cmocka_unit_test(test_widen_path_glob),
		cmocka_unit_test(test_fs_write_added),
		cmocka_unit_test(test_reorder_is_empty),
		cmocka_unit_test(test_comments_are_empty),
		cmocka_unit_test(test_binary_moved),
		cmocka_unit_test(test_same_access_other_spelling),
		cmocka_unit_test(test_binary_identity),
		cmocka_unit_test(test_unix_audit_allowed_ips),
		cmocka_unit_test(test_no_binaries_and_addresses),
		cmocka_unit_test(test_settings_and_credentials),
		cmocka_unit_test(test_inference),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_from_nothing),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_too_many_items),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
