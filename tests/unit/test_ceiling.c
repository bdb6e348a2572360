// SPDX-License-Identifier: MIT
/* policy/ceiling: a sandbox policy may narrow the host policy, never widen
 * it. Each case compiles a sandbox and a host policy from YAML text and
 * compares the whole printed report (both positions of every violation)
 * with the expected text; narrowing policies give an empty one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/ceiling.h"
#include "policy/cover.h"
#include "policy/match.h"
#include "policy/policy.h"
#include "proxy/providers.h"
#include "tmpdir.h"

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

/* The printed report of sandbox under host, and the return value. */
static char *report(const char *sandbox, const char *host, int *ret_r)
{
	struct ward_policy *s = load("sandbox.yaml", sandbox), *h = load("host.yaml", host);
	struct ward_ceiling_report rep = { 0 };
	struct ward_error err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r = ward_policy_ceiling(s, h, &rep, &err);

	assert_true(r == 0 || r == -EPERM);
	assert_int_equal(r == -EPERM, rep.n > 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	ward_ceiling_print(&rep, f);
	assert_int_equal(fclose(f), 0);
	ward_ceiling_report_free(&rep);
	ward_policy_free(s);
	ward_policy_free(h);
	*ret_r = r;
	return buf;
}

static void expect(const char *sandbox, const char *host, const char *want)
{
	int r;
	char *got = report(sandbox, host, &r);

	if (strcmp(got, want))
		print_message("expected:\n%s---\ngot:\n%s---\n", want, got);
	assert_string_equal(got, want);
	assert_int_equal(r, want[0] ? -EPERM : 0);
	free(got);
}

/* lines 1-16; the positions in the notes below point here */
#define HOST                                                                                        \
	"version: 1\n"                                                                              \
	"network_policies:\n"                                                                       \
	"  gh:\n"                                                                                   \
	"    binaries: [{ path: /usr/bin/curl }, { path: \"/usr/bin/git*\", ancestors: true }]\n"   \
	"    endpoints:\n"                                                                          \
	"      - { host: \"*.github.com\", ports: [443, 80], protocol: rest, access: read-only }\n" \
	"      - host: \"**.example.com\"\n"                                                        \
	"        port: 443\n"                                                                       \
	"        protocol: rest\n"                                                                  \
	"        rules:\n"                                                                          \
	"          - allow: { method: GET, path: \"/v1/**\" }\n"                                    \
	"          - allow: { method: POST, path: \"/v1/items\", query: { dry: \"*\" } }\n"         \
	"        deny_rules:\n"                                                                     \
	"          - { method: GET, path: \"/v1/admin/**\" }\n"                                     \
	"        allowed_ips: [10.0.0.0/8]\n"                                                       \
	"      - { host: pypi.org, port: 443 }\n"

/* the sandbox's first endpoint is at 6:9 */
#define SANDBOX(bin)                                                                               \
	"version: 1\n"                                                                             \
	"network_policies:\n"                                                                      \
	"  a:\n"                                                                                   \
	"    binaries: [" bin "]\n"                                                                \
	"    endpoints:\n"

#define CURL SANDBOX("{ path: /usr/bin/curl }")

#define ERR(pos, what) "sandbox.yaml:" pos ": error: " what " is not allowed by the host policy\n"
#define NOTE(pos, what) "host.yaml:" pos ": note: " what "\n"
#define CLOSEST(pos, bin) NOTE(pos, "the host policy's closest rule for " bin " is here")

static void test_narrower_accepted(void **state)
{
	(void)state;
	/* an exact host under a one-label glob, one port of two, fewer methods */
	expect(CURL
	       "      - { host: api.github.com, port: 443, protocol: rest, access: read-only }\n",
	       HOST, "");
	expect(CURL "      - host: api.github.com\n"
		    "        port: 80\n"
		    "        protocol: rest\n"
		    "        rules:\n"
		    "          - allow: { method: HEAD, path: \"/x/*\" }\n"
		    "          - allow: { method: GET, path: \"/**\", query: { a: b } }\n",
	       HOST, "");
	/* a glob under a wider glob; paths under paths, away from the host's deny
	 * rule; a query the host's value glob covers; a CIDR inside the host's */
	expect(CURL
	       "      - host: \"*.a.example.com\"\n"
	       "        port: 443\n"
	       "        protocol: rest\n"
	       "        rules:\n"
	       "          - allow: { method: GET, path: \"/v1/items/**\" }\n"
	       "          - allow: { method: POST, path: \"/v1/items\", query: { dry: \"1*\" } }\n"
	       "        allowed_ips: [10.20.0.0/16]\n"
	       "      - { host: \"**.b.example.com\", port: 443, protocol: rest,"
	       " rules: [{ allow: { method: GET, path: \"/v1/it*/x\" } }] }\n",
	       HOST, "");
	/* the host's deny rule repeated by the sandbox: nothing it denies gets through */
	expect(CURL
	       "      - host: api.example.com\n"
	       "        port: 443\n"
	       "        protocol: rest\n"
	       "        rules:\n"
	       "          - allow: { method: GET, path: \"/v1/**\" }\n"
	       "        deny_rules:\n"
	       "          - { method: \"*\", path: \"/v1/admin/**\" }\n"
	       "      - { host: api.example.com, port: 443, protocol: rest, enforcement: enforce }\n",
	       HOST, "");
	/* uninspected under uninspected, inspected under uninspected */
	expect(CURL "      - { host: pypi.org, port: 443 }\n"
		    "      - { host: pypi.org, port: 443, protocol: rest, access: full }\n",
	       HOST, "");
	/* a binary under a glob, with ancestors under ancestors */
	expect(SANDBOX("{ path: /usr/bin/git-remote-https, ancestors: true }, { path: /usr/bin/git }") "      - { host: github.github.com, port: 443, protocol: rest, access: read-only }\n",
	       HOST, "");
}

static void test_outside_scope(void **state)
{
	(void)state;
	/* unix sockets, filesystem, process, environment, resources, credentials:
	 * host mode decides none of them */
	expect("version: 1\n"
	       "filesystem_policy: { read_write: [/tmp], read_only: [/usr] }\n"
	       "environment: { pass: [FOO] }\n"
	       "resources: { memory: 1G }\n"
	       "network_policies:\n"
	       "  ssh:\n"
	       "    binaries: [{ path: /usr/bin/ssh }]\n"
	       "    endpoints:\n"
	       "      - unix: /run/user/1000/ssh-agent.sock\n"
	       "  a:\n"
	       "    binaries: [{ path: /usr/bin/curl }]\n"
	       "    endpoints:\n"
	       "      - { host: api.github.com, port: 443, protocol: rest, access: read-only }\n"
	       "credentials:\n"
	       "  - { name: gh, env: GH_TOKEN, host: api.github.com, port: 443,"
	       " header: Authorization, format: \"Bearer {}\" }\n",
	       HOST, "");
}

static void test_new_host(void **state)
{
	(void)state;
	/* the closest is the endpoint sharing most labels: pypi.org's "org" */
	expect(CURL "      - { host: evil.example.org, port: 443 }\n", HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> evil.example.org:443")
		       CLOSEST("16:9", "/usr/bin/curl"));
	expect(CURL "      - { host: example.com, port: 443 }\n", HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> example.com:443") CLOSEST("7:9", "/usr/bin/curl"));
}

static void test_wider_glob(void **state)
{
	(void)state;
	/* **. is any depth, *. one label: wider */
	expect(CURL
	       "      - { host: \"**.github.com\", port: 443, protocol: rest, access: read-only }\n",
	       HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> **.github.com:443")
		       CLOSEST("6:9", "/usr/bin/curl"));
	/* a glob never fits under an exact name */
	expect(CURL "      - { host: \"*.pypi.org\", port: 443 }\n", HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> *.pypi.org:443") CLOSEST("16:9", "/usr/bin/curl"));
}

static void test_extra_port(void **state)
{
	(void)state;
	expect(CURL "      - { host: api.github.com, ports: [443, 8443, 80], protocol: rest,"
		    " access: read-only }\n",
	       HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> api.github.com:8443")
		       CLOSEST("6:9", "/usr/bin/curl"));
}

static void test_binary_missing(void **state)
{
	(void)state;
	expect(SANDBOX("{ path: /usr/bin/curl }, { path: /usr/bin/wget }") "      - { host: api.github.com, port: 443, protocol: rest, access: read-only }\n",
	       HOST,
	       ERR("4:41", "network access of a (/usr/bin/wget)")
		       NOTE("2:1", "the host policy has no rule for /usr/bin/wget"));
	/* ancestors: true also matches what the binary starts: wider */
	expect(SANDBOX("{ path: /usr/bin/curl, ancestors: true }") "      - { host: api.github.com, port: 443, protocol: rest, access: read-only }\n",
	       HOST,
	       ERR("4:16", "network access of a (/usr/bin/curl and its descendants)")
		       NOTE("2:1", "the host policy has no rule for /usr/bin/curl and its "
				   "descendants"));
	/* a glob wider than the host's: * is one component, ** any depth */
	expect(SANDBOX("{ path: \"/usr/bin/git*/**\", ancestors: true }") "      - { host: api.github.com, port: 443, protocol: rest, access: read-only }\n",
	       HOST,
	       ERR("4:16", "network access of a (/usr/bin/git*/** and its descendants)")
		       NOTE("2:1", "the host policy has no rule for /usr/bin/git*/** and its "
				   "descendants"));
	/* content anywhere is not a path */
	expect(SANDBOX("{ sha256: "
		       "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" }") "      - { host: api.github.com, port: 443 }\n",
	       HOST,
	       ERR("4:16",
		   "network access of a "
		   "(sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)")
		       NOTE("2:1",
			    "the host policy has no rule for "
			    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	/* a host policy without network_policies: the note names the file */
	expect(CURL "      - { host: api.github.com, port: 443 }\n", "version: 1\n",
	       ERR("4:16",
		   "network access of a (/usr/bin/curl)") "host.yaml: note: the host policy has no rule for /usr/bin/curl (it has "
							  "no network_policies)\n");
}

static void test_read_write_under_read_only(void **state)
{
	(void)state;
	expect(CURL
	       "      - { host: api.github.com, port: 443, protocol: rest, access: read-write }\n",
	       HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> api.github.com:443 POST, PUT, PATCH, DELETE /** "
			  "(access: read-write)") CLOSEST("6:9", "/usr/bin/curl"));
	expect(CURL "      - host: api.github.com\n"
		    "        port: 443\n"
		    "        protocol: rest\n"
		    "        rules:\n"
		    "          - allow: { method: GET, path: \"/**\" }\n"
		    "          - allow: { method: \"*\", path: \"/x\" }\n",
	       HOST,
	       ERR("11:13", "a (/usr/bin/curl) -> api.github.com:443 * /x")
		       CLOSEST("6:9", "/usr/bin/curl"));
}

static void test_protocol_and_audit(void **state)
{
	(void)state;
	/* uninspected bytes where the host inspects HTTP */
	expect(CURL "      - { host: api.github.com, port: 443 }\n"
		    "      - { host: api.github.com, port: 80, protocol: tcp }\n",
	       HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> api.github.com:443 without HTTP inspection "
			  "(no protocol: rest)") CLOSEST("6:9", "/usr/bin/curl")
		       ERR("7:9", "a (/usr/bin/curl) -> api.github.com:80 without HTTP inspection "
				  "(protocol: tcp)") CLOSEST("6:9", "/usr/bin/curl"));
	/* audit lets every request through */
	expect(CURL "      - { host: api.github.com, port: 443, protocol: rest, access: read-only,"
		    " enforcement: audit }\n",
	       HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> api.github.com:443 every request (enforcement: "
			  "audit)") CLOSEST("6:9", "/usr/bin/curl"));
	/* a host endpoint in audit bounds host and port, not requests */
	expect(CURL "      - { host: api.github.com, port: 443, protocol: rest, access: full }\n",
	       "version: 1\n"
	       "network_policies:\n"
	       "  gh:\n"
	       "    binaries: [{ path: /usr/bin/curl }]\n"
	       "    endpoints:\n"
	       "      - { host: api.github.com, port: 443, protocol: rest, access: read-only,"
	       " enforcement: audit }\n",
	       "");
}

static void test_l7_rules(void **state)
{
	(void)state;
	/* the host's deny rule cuts into the sandbox's allow rule */
	expect(CURL "      - host: api.example.com\n"
		    "        port: 443\n"
		    "        protocol: rest\n"
		    "        rules:\n"
		    "          - allow: { method: GET, path: \"/v1/**\" }\n",
	       HOST,
	       ERR("10:13", "a (/usr/bin/curl) -> api.example.com:443 GET /v1/**")
		       NOTE("14:13", "the host policy's deny rule for /usr/bin/curl is here"));
	/* a method, a path and a query the host does not allow */
	expect(CURL
	       "      - host: api.example.com\n"
	       "        port: 443\n"
	       "        protocol: rest\n"
	       "        rules:\n"
	       "          - allow: { method: POST, path: \"/v1/items\" }\n"
	       "          - allow: { method: GET, path: \"/v2/**\" }\n"
	       "          - allow: { method: POST, path: \"/v1/items\", query: { dry: \"*\","
	       " x: y } }\n"
	       "          - allow: { method: PUT, path: \"/v1/items\", query: { dry: \"1\" } }\n",
	       HOST,
	       ERR("10:13", "a (/usr/bin/curl) -> api.example.com:443 POST /v1/items")
		       CLOSEST("7:9", "/usr/bin/curl")
			       ERR("11:13", "a (/usr/bin/curl) -> api.example.com:443 GET /v2/**")
				       CLOSEST("7:9", "/usr/bin/curl")
					       ERR("13:13",
						   "a (/usr/bin/curl) -> api.example.com:443 "
						   "PUT /v1/items?dry=1")
						       CLOSEST("7:9", "/usr/bin/curl"));
}

static void test_allowed_ips(void **state)
{
	(void)state;
	expect(CURL "      - host: api.example.com\n"
		    "        port: 443\n"
		    "        protocol: rest\n"
		    "        rules: [{ allow: { method: GET, path: \"/v1/x\" } }]\n"
		    "        allowed_ips: [10.1.0.0/16, 192.168.0.0/16, 10.0.0.0/7]\n",
	       HOST,
	       ERR("6:9", "a (/usr/bin/curl) -> api.example.com:443 at 192.168.0.0/16 "
			  "(allowed_ips)") CLOSEST("7:9", "/usr/bin/curl")
		       ERR("6:9", "a (/usr/bin/curl) -> api.example.com:443 at 10.0.0.0/7 "
				  "(allowed_ips)") CLOSEST("7:9", "/usr/bin/curl"));
}

#define HOST_INF                                                                                     \
	"version: 1\n"                                                                               \
	"network_policies:\n"                                                                        \
	"  node:\n"                                                                                  \
	"    binaries: [{ path: /usr/bin/node }]\n"                                                  \
	"    endpoints:\n"                                                                           \
	"      - { host: api.anthropic.com, port: 443, protocol: rest,"                              \
	" rules: [{ allow: { method: POST, path: \"/v1/**\" } }] }\n"                                \
	"inference:\n"                                                                               \
	"  routes:\n"                                                                                \
	"    - { name: corp, provider: openai, model: m, base_url: \"https://llm.corp.example/v1\"," \
	" api_key_env: K }\n"                                                                        \
	"  binaries: [{ path: \"/usr/bin/python3*\" }]\n"

static void test_inference(void **state)
{
	(void)state;
	/* the provider's default upstream, reachable for node by a network rule */
	expect("version: 1\n"
	       "inference:\n"
	       "  routes:\n"
	       "    - { name: a, provider: anthropic, model: claude-sonnet-4-5, api_key_env: K }\n"
	       "  binaries: [{ path: /usr/bin/node }]\n",
	       HOST_INF, "");
	/* the host's own route, for the binaries it lets use inference */
	expect("version: 1\n"
	       "inference:\n"
	       "  routes:\n"
	       "    - { name: b, provider: openai, model: x, base_url: \"https://llm.corp.example/v1/\","
	       " api_key_env: K }\n"
	       "  binaries: [{ path: /usr/bin/python3.11 }]\n",
	       HOST_INF, "");
	expect("version: 1\n"
	       "inference:\n"
	       "  routes:\n"
	       "    - { name: b, provider: openai, model: x, base_url: \"https://llm.corp.example/v1\","
	       " api_key_env: K }\n"
	       "  binaries: [{ path: /usr/bin/node }]\n",
	       HOST_INF,
	       ERR("4:7", "inference route b: /usr/bin/node -> llm.corp.example:443 POST /v1/**")
		       NOTE("6:9", "the host policy's closest rule for /usr/bin/node is here"));
	/* no inference.binaries: every binary, which no host rule covers */
	expect("version: 1\n"
	       "inference:\n"
	       "  routes:\n"
	       "    - { name: a, provider: anthropic, model: claude-sonnet-4-5, api_key_env: K }\n",
	       HOST_INF,
	       ERR("4:7", "inference route a: every binary (/**: no inference.binaries) -> "
			  "api.anthropic.com:443 POST /v1/**")
		       NOTE("2:1", "the host policy has no rule for every binary (/**: no "
				   "inference.binaries)"));
}

/* Glob under glob: every path the sandbox's can match, the host's must. */
static void test_globs(void **state)
{
	static const char *const ok[][2] = {
		{ "/opt/**/bin/*", "/opt/a/b/bin/tool*" },
		{ "/opt/**", "/opt/**/x/**" },
		{ "/opt/*/bin/**", "/opt/v*/bin/*" },
		{ "/usr/bin/py*", "/usr/bin/py*3" },
		{ "/**", "/usr/bin/x" },
	};
	static const char *const wider[][2] = {
		{ "/usr/bin/*", "/usr/bin/**" }, { "/usr/bin/*3", "/usr/bin/*" },
		{ "/opt/*/bin", "/opt/**/bin" }, { "/usr/bin/py*", "/usr/*/python" },
		{ "/usr/bin/x", "/usr/bin/x*" },
	};
	char s[256], h[256];
	int r;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]) + sizeof(wider) / sizeof(wider[0]); i++) {
		bool narrower = i < sizeof(ok) / sizeof(ok[0]);
		const char *const *c = narrower ? ok[i] : wider[i - sizeof(ok) / sizeof(ok[0])];

		snprintf(h, sizeof(h),
			 SANDBOX("{ path: \"%s\" }") "      - { host: a.b, port: 1 }\n", c[0]);
		snprintf(s, sizeof(s),
			 SANDBOX("{ path: \"%s\" }") "      - { host: a.b, port: 1 }\n", c[1]);
		free(report(s, h, &r));
		if (r != (narrower ? 0 : -EPERM))
			print_message("host %s, sandbox %s: %d\n", c[0], c[1], r);
		assert_int_equal(r, narrower ? 0 : -EPERM);
	}
}

/* What a preset brought is named at the `extends` line, on either side. */
static void test_presets(void **state)
{
	int r;

	(void)state;
	char *got = report("version: 1\n"
			   "extends: [developer]\n",
			   HOST, &r);
	size_t n = 0;

	/* every rule of the preset the host policy lacks, each at line 2 */
	assert_int_equal(r, -EPERM);
	for (char *l = got; *l; l = strchr(l, '\n') + 1, n++)
		assert_true(!strncmp(l, n % 2 ? "host.yaml:" : "sandbox.yaml:2:1: error: ",
				     n % 2 ? 10 : 25));
	assert_true(n >= 2);
	assert_non_null(
		strstr(got, ERR("2:1", "network access of crates (/usr/bin/cargo)")
				    NOTE("2:1", "the host policy has no rule for /usr/bin/cargo")));
	free(got);
	expect(SANDBOX("{ path: /usr/bin/git }") "      - { host: github.com, port: 80 }\n",
	       "version: 1\n"
	       "# the org's rules are the developer preset's\n"
	       "extends: [developer]\n",
	       ERR("6:9", "a (/usr/bin/git) -> github.com:80") CLOSEST("3:1", "/usr/bin/git"));
}

/* Host patterns and the rest of cover.h, directly. */
static void test_cover(void **state)
{
	struct ward_l7_rule get_v1 = { .method = "GET", .path = "/v1/**" };
	struct ward_l7_rule any_admin = { .method = "*", .path = "/v1/admin/**" };
	struct ward_l7_rule post_x = { .method = "POST", .path = "/x" };
	struct ward_cidr ten8 = { .family = AF_INET, .prefix = 8, .addr = { 10 } };
	struct ward_cidr ten16 = { .family = AF_INET, .prefix = 16, .addr = { 10, 20 } };
	struct ward_cidr eleven16 = { .family = AF_INET, .prefix = 16, .addr = { 11, 20 } };

	(void)state;
	assert_true(ward_cover_host("**.x.com", "*.a.x.com"));
	assert_true(ward_cover_host("**.x.com", "**.a.x.com"));
	assert_true(ward_cover_host("**.x.com", "a.b.x.com"));
	assert_true(ward_cover_host("*.x.com", "*.x.com"));
	assert_true(ward_cover_host("10.0.0.1", "10.0.0.1"));
	assert_false(ward_cover_host("*.x.com", "**.x.com"));
	assert_false(ward_cover_host("*.x.com", "*.a.x.com"));
	assert_false(ward_cover_host("**.x.com", "x.com"));
	assert_false(ward_cover_host("**.x.com", "**.ax.com"));
	assert_false(ward_cover_host("a.x.com", "*.x.com"));
	assert_false(ward_cover_host("**.0.0.1", "10.0.0.1"));
	assert_true(ward_cover_rule(&get_v1,
				    &(struct ward_l7_rule){ .method = "GET", .path = "/v1/a*/b" }));
	assert_false(
		ward_cover_rule(&get_v1, &(struct ward_l7_rule){ .method = "*", .path = "/v1/a" }));
	assert_false(ward_rules_disjoint(&get_v1, &any_admin));
	assert_true(ward_rules_disjoint(&get_v1, &post_x));
	assert_true(ward_rules_disjoint(&(struct ward_l7_rule){ .method = "GET", .path = "/v2/**" },
					&any_admin));
	assert_true(ward_cover_cidr(&ten8, &ten16));
	assert_false(ward_cover_cidr(&ten16, &ten8));
	assert_false(ward_cover_cidr(&ten8, &eleven16));
}

/* Soundness by sampling: whenever cover(a, b) holds, every string b
 * matches, a matches too (match.c decides). Random small patterns over a
 * two-letter alphabet, so that covering pairs are common; deterministic. */
static unsigned next_rand(unsigned *x)
{
	*x = *x * 1103515245u + 12345u;
	return (*x >> 16) & 0x7fff;
}

static void rand_glob(unsigned *x, char *buf, size_t sz, bool pattern)
{
	static const char *const pseg[] = { "**", "*", "a", "b", "a*", "*b", "ab", "*a*", "" };
	static const char *const sseg[] = { "a", "b", "ab", "ba", "aab", "", "bb" };
	size_t n = 1 + next_rand(x) % 4, len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *seg = pattern ? pseg[next_rand(x) % 9] : sseg[next_rand(x) % 7];

		len += (size_t)snprintf(buf + len, sz - len, "/%s", seg);
	}
}

static void rand_host(unsigned *x, char *buf, size_t sz, bool pattern)
{
	static const char *const lab[] = { "a", "b", "ab" };
	size_t n = 1 + next_rand(x) % 3, len = 0;
	unsigned w = pattern ? next_rand(x) % 3 : 0;

	len = (size_t)snprintf(buf, sz, "%s", w == 1 ? "*." : w == 2 ? "**." : "");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sz - len, "%s.", lab[next_rand(x) % 3]);
	snprintf(buf + len, sz - len, "t");
}

static void test_cover_sound(void **state)
{
	unsigned x = 12345;
	size_t covered = 0, checked = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		char a[64], b[64], path[64];

		rand_glob(&x, a, sizeof(a), true);
		rand_glob(&x, b, sizeof(b), true);
		if (!ward_cover_glob(a, b))
			continue;
		covered++;
		for (int k = 0; k < 100; k++) {
			rand_glob(&x, path, sizeof(path), false);
			if (!ward_match_glob(b, path))
				continue;
			checked++;
			if (!ward_match_glob(a, path))
				print_message("%s covers %s, but %s matches only the latter\n", a,
					      b, path);
			assert_true(ward_match_glob(a, path));
		}
	}
	print_message("globs: %zu covering pairs, %zu paths checked\n", covered, checked);
	assert_true(covered > 500 && checked > 5000);
	covered = checked = 0;
	for (int i = 0; i < 20000; i++) {
		char a[64], b[64], host[64];

		rand_host(&x, a, sizeof(a), true);
		rand_host(&x, b, sizeof(b), true);
		if (!ward_cover_host(a, b))
			continue;
		covered++;
		for (int k = 0; k < 100; k++) {
			rand_host(&x, host, sizeof(host), false);
			if (!ward_match_host(b, host))
				continue;
			checked++;
			if (!ward_match_host(a, host))
				print_message("%s covers %s, but %s matches only the latter\n", a,
					      b, host);
			assert_true(ward_match_host(a, host));
		}
	}
	print_message("hosts: %zu covering pairs, %zu names checked\n", covered, checked);
	assert_true(covered > 500 && checked > 1000);
}

/* Every policy is within itself; the examples within the org example (the
 * developer preset under it) or refused for what it lacks. */
static void test_examples(void **state)
{
	static const char *const files[] = { "deny-all", "developer",  "claude-code",
					     "codex",	 "org-egress", "demo" };
	struct ward_policy *p[sizeof(files) / sizeof(files[0])];
	const size_t n = sizeof(files) / sizeof(files[0]), org = 4;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct ward_diags diags = { 0 };
		struct ward_error err = { 0 };
		char path[128];

		snprintf(path, sizeof(path), "policies/examples/%s.yaml", files[i]);
		assert_int_equal(ward_policy_load(path, &p[i], &diags, &err), 0);
		ward_diags_free(&diags);
	}
	for (size_t i = 0; i < n; i++) {
		struct ward_ceiling_report rep = { 0 };
		struct ward_error err = { 0 };
		int self = ward_policy_ceiling(p[i], p[i], &rep, &err);

		if (self)
			ward_ceiling_print(&rep, stderr);
		assert_int_equal(self, 0);
		ward_ceiling_report_free(&rep);
		/* codex: its own binaries for inference; demo: a test host on port 80 */
		assert_int_equal(ward_policy_ceiling(p[i], p[org], &rep, &err),
				 i == 3 || i == 5 ? -EPERM : 0);
		ward_ceiling_report_free(&rep);
	}
	for (size_t i = 0; i < n; i++)
		ward_policy_free(p[i]);
}

/* The ceiling's default upstreams are the proxy's. */
static void test_default_urls(void **state)
{
	size_t n = 0;

	(void)state;
	for (const struct ward_provider *p = ward_providers; p->name; p++, n++) {
		assert_non_null(ward_ceiling_default_base_url(p->name));
		assert_string_equal(ward_ceiling_default_base_url(p->name), p->base_url);
	}
	assert_true(n >= 3);
	assert_null(ward_ceiling_default_base_url("nope"));
}

/* A symlinked path is the file it names, as the kernel identifies it. */
static void test_symlink(void **state)
{
	char dir[64], target[128], link[128], sandbox[512], host[512];
	int r;

	(void)state;
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "ceiling"));
	snprintf(target, sizeof(target), "%s/tool-1.2", dir);
	snprintf(link, sizeof(link), "%s/tool", dir);
	FILE *f = fopen(target, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(symlink("tool-1.2", link), 0);
	snprintf(sandbox, sizeof(sandbox),
		 SANDBOX("{ path: %s }") "      - { host: pypi.org, port: 443 }\n", link);
	/* the exact target, and a glob over the target's name */
	snprintf(host, sizeof(host),
		 SANDBOX("{ path: %s }") "      - { host: pypi.org, port: 443 }\n", target);
	free(report(sandbox, host, &r));
	assert_int_equal(r, 0);
	snprintf(host, sizeof(host),
		 SANDBOX("{ path: \"%s/tool-*\" }") "      - { host: pypi.org, port: 443 }\n", dir);
	free(report(sandbox, host, &r));
	assert_int_equal(r, 0);
	/* another file is not the same binary */
	snprintf(host, sizeof(host),
		 SANDBOX("{ path: \"%s/other\" }") "      - { host: pypi.org, port: 443 }\n", dir);
	free(report(sandbox, host, &r));
	assert_int_equal(r, -EPERM);
	assert_int_equal(ward_test_rmtree(dir), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* <state>/host/policy.yaml: absent is no ceiling; present is checked;
 * unreadable as a policy fails closed. */
static void test_host_state(void **state)
{
	char dir[64], sub[128], path[160];
	struct ward_policy *p, *h = (void *)1;
	struct ward_error err = { 0 };
	int r;

	(void)state;
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "ceiling"));
	p = load("sandbox.yaml", CURL "      - { host: evil.example.org, port: 443 }\n");
	assert_int_equal(ward_host_ceiling_load(dir, &h, &err), 0);
	assert_null(h);
	assert_int_equal(ward_host_ceiling_check(dir, p, NULL, &err), 0);

	snprintf(sub, sizeof(sub), "%s/host", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/" WARD_HOST_POLICY_SUBPATH, dir);
	write_file(path, HOST);
	r = ward_host_ceiling_check(dir, p, NULL, &err);
	assert_int_equal(r, -EINVAL);
	{
		char want[512];

		snprintf(want, sizeof(want),
			 ERR("6:9", "a (/usr/bin/curl) -> evil.example.org:443") "%s:16:9: note: "
										 "the host "
										 "policy's "
										 "closest rule "
										 "for "
										 "/usr/bin/curl "
										 "is here",
			 path);
		assert_string_equal(err.msg, want);
	}
	/* $WARD_STATE when no directory is given */
	setenv("WARD_STATE", dir, 1);
	assert_int_equal(ward_host_ceiling_check(NULL, p, NULL, &err), -EINVAL);
	unsetenv("WARD_STATE");
	ward_policy_free(p);

	/* within it */
	p = load("sandbox.yaml", CURL "      - { host: pypi.org, port: 443 }\n");
	assert_int_equal(ward_host_ceiling_check(dir, p, NULL, &err), 0);

	/* a host policy that does not compile refuses everything */
	write_file(path, "version: 1\nnetwork_policies: 3\n");
	r = ward_host_ceiling_check(dir, p, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err.msg, "does not compile"));
	assert_non_null(strstr(err.msg, "policy.yaml:2:"));
	ward_policy_free(p);
	assert_int_equal(ward_test_rmtree(dir), 0);
}

/* More violations than fit in an error message: whole ones, then a count. */
static void test_many(void **state)
{
	char dir[64], sub[128], path[160], *yaml = NULL;
	struct ward_error err = { 0 };
	struct ward_policy *p;
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&yaml, &len);

	(void)state;
	assert_non_null(f);
	fputs(CURL, f);
	for (int i = 0; i < 40; i++)
		fprintf(f, "      - { host: h%d.example.org, port: 443 }\n", i);
	assert_int_equal(fclose(f), 0);
	p = load("sandbox.yaml", yaml);
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "ceiling"));
	snprintf(sub, sizeof(sub), "%s/host", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/" WARD_HOST_POLICY_SUBPATH, dir);
	write_file(path, HOST);
	assert_int_equal(ward_host_ceiling_check(dir, p, NULL, &err), -EINVAL);
	for (const char *s = err.msg; (s = strchr(s, '\n')); s++)
		lines++;
	assert_true(lines >= 2 && lines % 2 == 0);
	{
		char tail[64];

		snprintf(tail, sizeof(tail), "\n(and %zu more not allowed by the host policy)",
			 40 - lines / 2);
		assert_non_null(strstr(err.msg, tail));
	}
	/* with a stream, every one is printed there and err counts them */
	{
		char *out = NULL;
		size_t olen = 0;
		FILE *o = open_memstream(&out, &olen);

		assert_int_equal(ward_host_ceiling_check(dir, p, o, &err), -EINVAL);
		assert_int_equal(fclose(o), 0);
		lines = 0;
		for (const char *s = out; (s = strchr(s, '\n')); s++)
			lines++;
		assert_int_equal(lines, 80);
		assert_non_null(strstr(err.msg, ": 40 violations"));
		free(out);
	}
	ward_policy_free(p);
	free(yaml);
	assert_int_equal(ward_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_narrower_accepted),
		cmocka_unit_test(test_outside_scope),
		cmocka_unit_test(test_new_host),
		cmocka_unit_test(test_wider_glob),
		cmocka_unit_test(test_extra_port),
		cmocka_unit_test(test_binary_missing),
		cmocka_unit_test(test_read_write_under_read_only),
		cmocka_unit_test(test_protocol_and_audit),
		cmocka_unit_test(test_l7_rules),
		cmocka_unit_test(test_allowed_ips),
		cmocka_unit_test(test_inference),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_cover),
		cmocka_unit_test(test_cover_sound),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_default_urls),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_host_state),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
