// SPDX-License-Identifier: MIT
/* The policy compiler: valid policies become the expected struct, every error
 * class is reported at its exact FILE:LINE:COL, hostile input hits a limit
 * cleanly, the compiled JSON is stable, presets expand, and the example and
 * OpenShell policies load as documented. Runs from the repository root. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/util.h"
#include "policy/policy.h"

#define F "t.yaml"

struct result {
	int r;
	struct ward_policy *p;
	struct ward_diags d;
	struct ward_error err;
	char text[16384]; /* the diagnostics as ward policy check prints them */
};

static void render(struct result *res)
{
	FILE *f = fmemopen(res->text, sizeof(res->text) - 1, "w");
	assert_non_null(f);
	ward_diags_print(&res->d, f);
	fclose(f);
}

static void compile_limits(struct result *res, const char *yaml, size_t len,
			   const struct ward_policy_limits *lim)
{
	memset(res, 0, sizeof(*res));
	res->r = ward_policy_load_buffer_limits(F, yaml, len, lim, &res->p, &res->d, &res->err);
	render(res);
}

static void compile(struct result *res, const char *yaml)
{
	compile_limits(res, yaml, strlen(yaml), NULL);
}

static void done(struct result *res)
{
	ward_policy_free(res->p);
	ward_diags_free(&res->d);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *s = text; (s = strstr(s, line)); s++)
		if ((s == text || s[-1] == '\n') && s[n] == '\n')
			return true;
	return false;
}

static int mismatches;

/* The policy must be rejected, and `line` must be one of its diagnostics.
 * Mismatches are all printed, then the test fails (see test_errors). */
static void expect_error(const char *yaml, const char *line)
{
	struct result res;

	compile(&res, yaml);
	if (res.r != -EINVAL || !has_line(res.text, line)) {
		print_message("expected\n  %s\ngot r=%d err='%s' diagnostics:\n%s", line, res.r,
			      res.err.msg, res.text);
		mismatches++;
	}
	assert_null(res.p);
	done(&res);
}

/* The first compile of the process parses the embedded Lua modules and
 * keeps their bytecode; every later one loads that (lua_vm.c). Both must
 * give the same policy, revision and diagnostics. First in main(): nothing
 * may have compiled before it. */
static void test_module_code_cache(void **state)
{
	static const char good[] =
		"version: 1\n"
		"extends: [developer]\n"
		"network_policies:\n"
		"  a: { binaries: [{ path: /usr/bin/curl }], endpoints: [{ host: a.example.com, "
		"port: 443 }] }\n";
	static const char bad[] = "version: 1\n"
				  "network_policies:\n"
				  "  a: { binaries: [], endpoints: [{ host: '', port: 70000 }] }\n"
				  "bogus: 1\n";
	struct result parsed, cached;

	compile(&parsed, good); /* the modules parsed from their text */
	compile(&cached, good); /* and loaded from the bytecode kept */
	assert_int_equal(parsed.r, 0);
	assert_int_equal(cached.r, 0);
	assert_string_equal(parsed.p->compiled_json, cached.p->compiled_json);
	assert_string_equal(parsed.p->rev, cached.p->rev);
	done(&parsed);
	done(&cached);
	compile(&parsed, bad);
	compile(&cached, bad);
	assert_int_equal(parsed.r, -EINVAL);
	assert_int_equal(cached.r, -EINVAL);
	assert_true(strlen(parsed.text) > 0);
	assert_string_equal(parsed.text, cached.text);
	done(&parsed);
	done(&cached);
}

static void test_valid_policy(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"filesystem_policy:\n"
		"  include_workdir: true\n"
		"  read_only: [/usr, /lib/, //etc//ssl/]\n"
		"  read_write: [/tmp]\n"
		"  binaries:\n"
		"    - { path: /usr/bin/git, read_write: [/var/git] }\n"
		"landlock:\n"
		"  { compatibility: hard_requirement, restrict_tcp: true }\n"
		"process:\n"
		"  run_as_user: sandbox\n"
		"  run_as_group: 1000\n"
		"network_policies:\n"
		"  zeta:\n"
		"    binaries: [{ path: /usr/bin/curl, ancestors: true }]\n"
		"    endpoints: [{ host: Example.COM, ports: [8443, 80] }]\n"
		"  github:\n"
		"    name: github-api\n"
		"    binaries: [{ path: /usr/bin/git }]\n"
		"    endpoints:\n"
		"      - host: '**.github.com'\n"
		"        port: 443\n"
		"        protocol: rest\n"
		"        enforcement: audit\n"
		"        rules:\n"
		"          - allow: { method: GET, path: \"/repos/**\", query: { per_page: \"1*\" } }\n"
		"        deny_rules:\n"
		"          - { method: POST, path: \"/**/git-receive-pack\" }\n"
		"        allowed_ips: [10.0.0.0/8, \"fd00::/8\", 192.168.1.7]\n"
		"credentials:\n"
		"  - { name: gh, env: GH_TOKEN, host: api.github.com }\n"
		"inference:\n"
		"  routes:\n"
		"    - { name: default, provider: openai, model: gpt-5, aliases: [fast], api_key_env: K }\n"
		"  binaries: [{ path: /usr/bin/node }]\n"
		"  budget: { max_tokens: 5000 }\n";
	struct result res;

	compile(&res, yaml);
	if (res.r != 0)
		fail_msg("r=%d %s\n%s", res.r, res.err.msg, res.text);
	struct ward_policy *p = res.p;
	assert_string_equal(p->source_path, F);
	assert_int_equal(p->source_len, strlen(yaml));
	assert_memory_equal(p->source, yaml, p->source_len);
	assert_true(p->include_workdir);
	assert_int_equal(p->n_read_only, 3);
	assert_string_equal(p->read_only[0].path, "/usr");
	assert_string_equal(p->read_only[1].path, "/lib");
	assert_string_equal(p->read_only[2].path, "/etc/ssl");
	assert_int_equal(p->read_only[1].pos.line, 4);
	assert_int_equal(p->read_only[1].pos.col, 21);
	assert_int_equal(p->n_read_write, 1);
	assert_int_equal(p->n_fs_binaries, 1);
	assert_string_equal(p->fs_binaries[0].binary.path, "/usr/bin/git");
	assert_string_equal(p->fs_binaries[0].read_write[0].path, "/var/git");
	assert_int_equal(p->landlock_compat, WARD_LANDLOCK_HARD_REQUIREMENT);
	assert_true(p->landlock_restrict_tcp);
	assert_true(p->has_user);
	assert_string_equal(p->run_as_user, "sandbox");
	assert_true(p->has_group);
	assert_null(p->run_as_group);
	assert_int_equal(p->gid, 1000);

	/* sorted by key */
	assert_int_equal(p->n_net, 2);
	assert_string_equal(p->net[0].key, "github");
	assert_string_equal(p->net[0].name, "github-api");
	assert_int_equal(p->net[0].pos.line, 17);
	assert_int_equal(p->net[0].pos.col, 3);
	assert_string_equal(p->net[1].key, "zeta");
	assert_string_equal(p->net[1].name, "zeta");
	assert_true(p->net[1].binaries[0].ancestors);
	const struct ward_endpoint *z = &p->net[1].endpoints[0];
	assert_string_equal(z->host, "example.com");
	assert_int_equal(z->n_ports, 2);
	assert_int_equal(z->ports[0], 80);
	assert_int_equal(z->ports[1], 8443);
	assert_int_equal(z->protocol, WARD_PROTO_L4);
	assert_int_equal(z->access, WARD_ACCESS_NONE);

	const struct ward_endpoint *e = &p->net[0].endpoints[0];
	assert_string_equal(e->host, "**.github.com");
	assert_int_equal(e->n_ports, 1);
	assert_int_equal(e->ports[0], 443);
	assert_int_equal(e->protocol, WARD_PROTO_REST);
	assert_int_equal(e->enforcement, WARD_AUDIT);
	assert_int_equal(e->pos.line, 21);
	assert_int_equal(e->pos.col, 9);
	assert_int_equal(e->n_rules, 1);
	assert_string_equal(e->rules[0].method, "GET");
	assert_string_equal(e->rules[0].path, "/repos/**");
	assert_int_equal(e->rules[0].n_query, 1);
	assert_string_equal(e->rules[0].query[0].key, "per_page");
	assert_string_equal(e->rules[0].query[0].glob, "1*");
	assert_int_equal(e->n_deny_rules, 1);
	assert_string_equal(e->deny_rules[0].method, "POST");
	assert_int_equal(e->n_allowed_ips, 3);
	uint8_t ten[4] = { 10, 0, 0, 0 }, host[4] = { 192, 168, 1, 7 };
	assert_int_equal(e->allowed_ips[0].family, AF_INET);
	assert_int_equal(e->allowed_ips[0].prefix, 8);
	assert_memory_equal(e->allowed_ips[0].addr, ten, 4);
	assert_int_equal(e->allowed_ips[1].family, AF_INET6);
	assert_int_equal(e->allowed_ips[1].prefix, 8);
	assert_int_equal(e->allowed_ips[1].addr[0], 0xfd);
	assert_int_equal(e->allowed_ips[2].prefix, 32);
	assert_memory_equal(e->allowed_ips[2].addr, host, 4);

	assert_int_equal(p->n_credentials, 1);
	assert_string_equal(p->credentials[0].env, "GH_TOKEN");
	assert_int_equal(p->credentials[0].port, 443);
	assert_string_equal(p->credentials[0].header, "Authorization");
	assert_string_equal(p->credentials[0].format, "Bearer {}");
	assert_string_equal(p->credentials[0].path, "/**");
	assert_int_equal(p->n_routes, 1);
	assert_string_equal(p->routes[0].provider, "openai");
	assert_null(p->routes[0].base_url);
	assert_int_equal(p->routes[0].n_aliases, 1);
	assert_string_equal(p->routes[0].aliases[0], "fast");
	assert_int_equal(p->n_inference_binaries, 1);
	assert_int_equal(p->inference_max_tokens, 5000);
	assert_int_equal(p->n_extends, 0);

	char rev[65];
	ward_sha256_hex(p->compiled_json, strlen(p->compiled_json), rev);
	assert_string_equal(rev, p->rev);
	done(&res);
}

static void test_defaults(void **state)
{
	struct result res;

	compile(&res, "version: 1\n");
	assert_int_equal(res.r, 0);
	assert_false(res.p->include_workdir);
	assert_int_equal(res.p->landlock_compat, WARD_LANDLOCK_BEST_EFFORT);
	assert_false(res.p->has_user);
	assert_false(res.p->has_group);
	assert_int_equal(res.p->n_net, 0);
	assert_int_equal(res.p->n_read_only, 0);
	assert_null(res.p->inference_binaries);
	assert_string_equal(
		res.p->compiled_json,
		"{\"version\":1,\"extends\":[],\"filesystem\":{\"include_workdir\":false,"
		"\"read_only\":[],\"read_write\":[],\"binaries\":[]},\"landlock\":{\"compatibility\":"
		"\"best_effort\",\"restrict_tcp\":false},\"process\":{\"run_as_user\":null,\"run_as_group\":null},"
		"\"network_policies\":[],\"credentials\":[],\"inference\":{\"routes\":[],"
		"\"binaries\":null,\"max_tokens\":0,\"max_usd\":0,\"warn_at\":[],\"strict_models\":false},"
		"\"environment\":{\"pass\":[],\"set\":[]},"
		"\"resources\":{\"memory\":0,\"pids\":0,\"cpu_milli\":0,\"tmp_size\":0},"
		"\"limits\":{\"max_connections\":0,\"idle_tunnel_ms\":0,\"idle_http_ms\":0,"
		"\"connect_timeout_ms\":0,\"request_timeout_ms\":0,\"max_body\":0}}\n");
	done(&res);
}

/* limits: the proxy's, durations and sizes with units, errors at their position. */
static void test_proxy_limits(void **state)
{
	struct result res;

	(void)state;
	compile(&res, "version: 1\n"
		      "limits:\n"
		      "  max_connections: 100\n"
		      "  idle_tunnel: 5m\n"
		      "  idle_http: 30s\n"
		      "  connect_timeout: 2500ms\n"
		      "  request_timeout: 1h\n"
		      "  max_body: 64M\n");
	assert_int_equal(res.r, 0);
	assert_int_equal(res.p->limits.max_connections, 100);
	assert_int_equal(res.p->limits.idle_tunnel_ms, 300000);
	assert_int_equal(res.p->limits.idle_http_ms, 30000);
	assert_int_equal(res.p->limits.connect_timeout_ms, 2500);
	assert_int_equal(res.p->limits.request_timeout_ms, 3600000);
	assert_true(res.p->limits.max_body == 64ull << 20);
	assert_int_equal(res.p->limits.pos.line, 3);
	assert_int_equal(res.p->limits.pos.col, 3);
	assert_non_null(strstr(res.p->compiled_json,
			       "\"limits\":{\"max_connections\":100,\"idle_tunnel_ms\":300000,"));
	done(&res);

	/* unset fields stay 0 (the proxy's defaults); a preset's are overridden one by one */
	compile(&res, "version: 1\nlimits: { idle_http: 2m }\n");
	assert_int_equal(res.r, 0);
	assert_int_equal(res.p->limits.max_connections, 0);
	assert_int_equal(res.p->limits.idle_http_ms, 120000);
	assert_true(res.p->limits.max_body == 0);
	done(&res);

	expect_error("version: 1\nlimits: { max_connections: 0 }\n",
		     F ":2:28: 'max_connections' 0 out of range (1..1000000)");
	expect_error("version: 1\nlimits: { max_connections: many }\n",
		     F ":2:28: 'max_connections' must be an integer, got 'many'");
	expect_error("version: 1\nlimits: { idle_tunnel: 30 }\n",
		     F ":2:24: missing unit in 'idle_tunnel' '30' (expected ms, s, m or h)");
	expect_error("version: 1\nlimits: { idle_http: 2d }\n",
		     F ":2:22: unknown unit 'd' in 'idle_http' '2d' (expected ms, s, m or h)");
	expect_error("version: 1\nlimits: { connect_timeout: 10ms }\n",
		     F ":2:28: 'connect_timeout' 10ms out of range (100ms..24h)");
	expect_error("version: 1\nlimits: { request_timeout: 25h }\n",
		     F ":2:28: 'request_timeout' 25h out of range (100ms..24h)");
	expect_error("version: 1\nlimits: { idle_tunnel: \"1.5s\" }\n",
		     F ":2:24: 'idle_tunnel' must be a duration such as 30s or 5m, got '1.5s'");
	expect_error("version: 1\nlimits: { max_body: 64Q }\n",
		     F ":2:21: unknown unit 'Q' in 'max_body' '64Q' (expected K, M, G or T)");
	expect_error("version: 1\nlimits: { max_body: 4K }\n",
		     F ":2:21: 'max_body' 4K is too small (at least 1M)");
	expect_error("version: 1\nlimits: { max_tunnels: 3 }\n",
		     F ":2:11: unknown key 'max_tunnels' in limits");
}

/* Unix socket endpoints, environment, resources and the credential scheme. */
static void test_hardening_sections(void **state)
{
	struct result res;

	compile(&res, "version: 1\n"
		      "network_policies:\n"
		      "  ssh:\n"
		      "    binaries: [{ path: /usr/bin/ssh }]\n"
		      "    endpoints:\n"
		      "      - unix: /run/user/1000//ssh-agent.sock\n"
		      "      - { host: github.com, port: 22 }\n"
		      "credentials:\n"
		      "  - { name: a, env: A_TOKEN, host: a.example.com }\n"
		      "  - { name: b, env: B_TOKEN, host: b.example.com, scheme: http }\n"
		      "environment:\n"
		      "  pass: [NODE_ENV, \"MYAPP_*\"]\n"
		      "  set: { CI: \"1\", A: x }\n"
		      "resources: { memory: 4G, pids: 1024, cpu: 1.5, tmp_size: 512MiB }\n");
	assert_int_equal(res.r, 0);
	assert_string_equal(res.text,
			    F ":10:59: warning: scheme: http sends the secret of 'b' in clear "
			      "text to 'b.example.com'; use it only for a trusted network\n");
	assert_int_equal(res.p->n_net, 1);
	assert_int_equal(res.p->net[0].n_endpoints, 1);
	assert_string_equal(res.p->net[0].endpoints[0].host, "github.com");
	assert_int_equal(res.p->net[0].n_unix_sockets, 1);
	assert_string_equal(res.p->net[0].unix_sockets[0].path, "/run/user/1000/ssh-agent.sock");
	assert_int_equal(res.p->net[0].unix_sockets[0].pos.line, 6);
	assert_int_equal(res.p->net[0].unix_sockets[0].pos.col, 15);
	assert_false(res.p->credentials[0].allow_http);
	assert_true(res.p->credentials[1].allow_http);
	assert_int_equal(res.p->n_env_pass, 2);
	assert_string_equal(res.p->env_pass[0].pattern, "NODE_ENV");
	assert_false(res.p->env_pass[0].glob);
	assert_true(res.p->env_pass[1].glob);
	assert_int_equal(res.p->n_env_set, 2);
	assert_string_equal(res.p->env_set[0].name, "A"); /* sorted */
	assert_string_equal(res.p->env_set[1].value, "1");
	assert_true(res.p->resources.memory == 4ull << 30);
	assert_int_equal(res.p->resources.pids, 1024);
	assert_int_equal(res.p->resources.cpu_milli, 1500);
	assert_true(res.p->resources.tmp_size == 512ull << 20);
	assert_non_null(strstr(res.p->compiled_json,
			       "\"unix\":[{\"path\":\"/run/user/1000/ssh-agent.sock\""));
	assert_non_null(strstr(res.p->compiled_json, "\"scheme\":\"http\""));
	done(&res);

	/* prices: the table (with a dated model id) or the route's own */
	compile(&res, "version: 1\ninference:\n  strict_models: true\n  routes:\n"
		      "    - { name: a, provider: anthropic, model: claude-sonnet-4-5-20250929,\n"
		      "        api_key_env: K }\n"
		      "    - { name: b, provider: openai, model: ft, hosts: [api.openai.com],\n"
		      "        api_key_secret: oa,\n"
		      "        price: { input: 1.5, output: 6 } }\n"
		      "  budget: { max_usd: 5.25, warn_at: [0.8, 0.95] }\n");
	assert_int_equal(res.r, 0);
	assert_true(res.p->inference_strict_models);
	assert_true(res.p->inference_max_usd == 5.25);
	assert_int_equal(res.p->n_inference_warn_at, 2);
	assert_true(res.p->inference_warn_at[1] == 0.95);
	assert_true(res.p->routes[0].price_known);
	assert_true(res.p->routes[0].price_output == 15.0);
	assert_string_equal(res.p->routes[0].price_source, "2026-11-30");
	assert_true(res.p->routes[1].price_cached == 1.5); /* defaults to the input price */
	assert_string_equal(res.p->routes[1].price_source, "route");
	assert_string_equal(res.p->routes[1].hosts[0], "api.openai.com");
	done(&res);

	/* a preset's resources are overridden field by field, pass lists merge */
	compile(&res, "version: 1\nextends: [developer]\nresources: { pids: 64 }\n"
		      "environment: { pass: [X] }\n");
	assert_int_equal(res.r, 0);
	assert_int_equal(res.p->resources.pids, 64);
	assert_true(res.p->resources.memory == 0);
	done(&res);

	/* secrets passed into the sandbox are pointed out at their position */
	compile(&res, "version: 1\nenvironment:\n  pass: [GITHUB_TOKEN, \"*_KEY\", \"MYAPP_*\"]\n"
		      "credentials:\n  - { name: b, env: B, host: b.example.com, scheme: http }\n");
	assert_int_equal(res.r, 0);
	assert_string_equal(
		res.text, F
		":3:10: warning: 'GITHUB_TOKEN' looks like a secret and will be readable inside the "
		"sandbox; prefer 'credentials:' (the sandbox sees only a placeholder, the proxy injects "
		"the value)\n" F
		":3:24: warning: glob '*_KEY' never passes secret-looking names; list each one by exact "
		"name\n" F
		":5:53: warning: scheme: http sends the secret of 'b' in clear text to 'b.example.com'; "
		"use it only for a trusted network\n");
	done(&res);
}

#define NET(ep)                                                                                    \
	"version: 1\nnetwork_policies:\n  k:\n    binaries: [{ path: /bin/x }]\n    endpoints:\n" ep

/* `secret:` / `api_key_secret:` name the store instead of an environment
 * variable; exactly one source each; the sandbox variable of a secret
 * credential is placeholder_env or derived from the name. */
static void test_secret_refs(void **state)
{
	struct result res;

	(void)state;
	compile(&res,
		"version: 1\ncredentials:\n"
		"  - { name: gh, secret: gh-token.prod, host: api.github.com }\n"
		"  - { name: up, secret: gh-token.prod, host: uploads.github.com }\n"
		"  - { name: api, secret: 9tok, host: api.example.com }\n"
		"  - { name: k, secret: tok, placeholder_env: API_KEY, host: k.example.com }\n"
		"  - { name: e, env: E_TOKEN, host: e.example.com }\n"
		"inference:\n  routes:\n"
		"    - { name: r, provider: openai, model: gpt-4o, api_key_secret: oa }\n");
	if (res.r != 0)
		fail_msg("r=%d %s\n%s", res.r, res.err.msg, res.text);
	assert_int_equal(res.p->n_credentials, 5);
	assert_string_equal(res.p->credentials[0].secret, "gh-token.prod");
	assert_string_equal(res.p->credentials[0].env, "GH_TOKEN_PROD");
	assert_string_equal(res.p->credentials[1].env, "GH_TOKEN_PROD");
	assert_string_equal(res.p->credentials[2].env, "_9TOK");
	assert_string_equal(res.p->credentials[3].env, "API_KEY");
	assert_string_equal(res.p->credentials[3].secret, "tok");
	assert_null(res.p->credentials[4].secret);
	assert_null(res.p->routes[0].api_key_env);
	assert_string_equal(res.p->routes[0].api_key_secret, "oa");
	assert_non_null(strstr(res.p->compiled_json, "\"env\":\"API_KEY\",\"secret\":\"tok\""));
	assert_non_null(strstr(res.p->compiled_json, "\"env\":\"E_TOKEN\",\"secret\":null"));
	assert_non_null(
		strstr(res.p->compiled_json, "\"api_key_env\":null,\"api_key_secret\":\"oa\""));
	done(&res);

	expect_error(
		"version: 1\ncredentials:\n  - { name: x, env: K, secret: k, host: a.example.com }\n",
		F ":3:24: 'env' and 'secret' are mutually exclusive (the secret value comes from "
		  "one of them)");
	expect_error("version: 1\ncredentials:\n  - { name: x, host: a.example.com }\n", F
		     ":3:5: missing 'env' or 'secret' in credential (where the secret value comes "
		     "from)");
	expect_error("version: 1\ncredentials:\n  - { name: x, env: K, placeholder_env: P, "
		     "host: a.example.com }\n",
		     F
		     ":3:24: 'placeholder_env' goes with 'secret' (with 'env', the placeholder is "
		     "in that variable)");
	expect_error(
		"version: 1\ncredentials:\n  - { name: x, secret: \"a/b\", host: a.example.com }\n",
		F ":3:24: invalid secret name 'a/b' (1 to 128 of A-Z a-z 0-9 _ . -, not '.' or "
		  "'..')");
	expect_error(
		"version: 1\ncredentials:\n  - { name: x, secret: \"..\", host: a.example.com }\n",
		F ":3:24: invalid secret name '..' (1 to 128 of A-Z a-z 0-9 _ . -, not '.' or "
		  "'..')");
	expect_error(
		"version: 1\ncredentials:\n  - { name: x, secret: gh-token, host: a.example.com }\n"
		"  - { name: y, env: GH_TOKEN, host: b.example.com }\n",
		F ":4:21: sandbox variable GH_TOKEN would hold the placeholders of secret "
		  "gh-token and env GH_TOKEN (first at 3:24); set 'placeholder_env'");
	expect_error(
		"version: 1\ninference:\n  routes:\n    - { name: r, provider: openai, model: m }\n",
		F ":4:7: missing 'api_key_env' or 'api_key_secret' in inference route (where "
		  "the key comes from)");
	expect_error(
		"version: 1\ninference:\n  routes:\n    - { name: r, provider: openai, model: m, "
		"api_key_env: K, api_key_secret: k }\n",
		F ":4:62: 'api_key_env' and 'api_key_secret' are mutually exclusive (the key comes "
		  "from one of them)");
	assert_int_equal(mismatches, 0);
}

static void test_errors(void **state)
{
	/* keys and types */
	expect_error(
		"version: 1\nfilesystem_policy:\n  read_olny: [/usr]\n",
		F ":3:3: unknown key 'read_olny' in filesystem_policy (did you mean 'read_only'?)");
	expect_error(
		"version: 1\nnetwork_polices: {}\n", F
		":2:1: unknown key 'network_polices' in policy (did you mean 'network_policies'?)");
	expect_error("version: 1\nfrobnicate: 1\n", F ":2:1: unknown key 'frobnicate' in policy");
	/* names and URLs checked by pattern */
	expect_error(
		"version: 1\ncredentials:\n  - { name: x, env: \"1BAD\", host: a.example.com }\n",
		F ":3:21: invalid environment variable name '1BAD'");
	expect_error("version: 1\ncredentials:\n  - { name: x, env: K, host: a.example.com, "
		     "header: \"Bad Header\" }\n",
		     F ":3:53: invalid HTTP header name 'Bad Header'");
	expect_error("version: 1\ninference:\n  routes: [{ name: r, provider: openai, model: m, "
		     "base_url: \"ftp://x\", api_key_env: K }]\n",
		     F ":3:61: invalid URL 'ftp://x' (expected http:// or https://)");
	expect_error(
		"version: 1\nnetwork_policies:\n  \"bad key!\":\n    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: a.example.com, port: 443 }]\n",
		F ":3:3: invalid network policy key 'bad key!' (letters, digits, '_', '.', '-'; "
		  "at most 64)");
	expect_error("version: 1\nfilesystem_policy:\n  include_workdir: yes\n",
		     F ":3:20: 'include_workdir' must be true or false, got 'yes'");
	expect_error("version: 1\nfilesystem_policy:\n  read_only: /usr\n",
		     F ":3:14: 'read_only' must be a list, got '/usr'");
	expect_error("version: 1\nlandlock: [best_effort]\n",
		     F ":2:11: 'landlock' must be a mapping, got a list");
	expect_error("version: 1\nversion: 1\n", F ":2:1: duplicate key 'version' (first at 1:1)");
	/* version */
	expect_error("filesystem_policy: {}\n", F ":1:1: missing required key 'version' in policy");
	expect_error("version: 2\n", F ":1:10: unsupported version '2' (ward supports version 1)");
	expect_error("version: \"1\"\n",
		     F ":1:10: unsupported version '1' (ward supports version 1)");
	expect_error("", F ":1:1: empty policy (expected a mapping starting with 'version: 1')");
	expect_error("- version: 1\n", F ":1:1: a policy must be a mapping, got a list");
	/* paths */
	expect_error("version: 1\nfilesystem_policy:\n  read_only: [usr/lib]\n",
		     F ":3:15: path 'usr/lib' must be absolute");
	expect_error("version: 1\nfilesystem_policy:\n  read_only: [/a/../b]\n",
		     F ":3:15: path '/a/../b' must not contain '..' components");
	expect_error(
		"version: 1\nfilesystem_policy:\n  read_write: [\"~/.claude\"]\n", F
		":3:16: path '~/.claude' must be absolute ('~' is not expanded: write the home directory out)");
	expect_error("version: 1\nfilesystem_policy:\n  read_write: [/tmp, //]\n",
		     F ":3:22: '/' cannot be read-write");
	expect_error("version: 1\nfilesystem_policy:\n  read_only: [/usr/*]\n",
		     F ":3:15: path '/usr/*': wildcards are not allowed in filesystem paths");
	expect_error(
		NET("      - { host: a.example.com, port: 1 }\n") "    name: x\n  j:\n    binaries: [{ path: bin/sh }]\n    endpoints: [{ host: a.example.com, port: 1 }]\n",
		F ":9:24: path 'bin/sh' must be absolute");
	/* unix endpoints, environment, resources */
	expect_error(NET("      - unix: agent.sock\n"),
		     F ":6:15: path 'agent.sock' must be absolute");
	expect_error(NET("      - { unix: /a.sock, port: 22 }\n"),
		     F ":6:26: 'port' does not apply to a unix socket endpoint");
	expect_error(NET("      - { unix: /a.sock, host: a.example.com }\n"),
		     F ":6:26: 'host' and 'unix' are mutually exclusive (one endpoint each)");
	expect_error(NET("      - { port: 22 }\n"), F
		     ":6:9: missing required key 'host' in endpoint (or 'unix' for a unix socket)");
	expect_error("version: 1\nresources: { memory: 4Q }\n",
		     F ":2:22: unknown unit 'Q' in 'memory' '4Q' (expected K, M, G or T)");
	expect_error("version: 1\nresources: { pids: 0 }\n",
		     F ":2:20: 'pids' 0 out of range (1..4194304)");
	expect_error("version: 1\nresources: { memory: 1M }\n",
		     F ":2:22: 'memory' 1M is too small (at least 4M)");
	expect_error("version: 1\nresources: { cpu: 0 }\n",
		     F ":2:19: 'cpu' 0 is too small (at least 0.01)");
	expect_error("version: 1\nresources: { tmp_size: \"1.5G\" }\n",
		     F ":2:24: 'tmp_size' must be a size such as 512M or 4G, got '1.5G'");
	expect_error(
		"version: 1\nenvironment: { pass: [\"*\"] }\n", F
		":2:23: '*' would pass every variable; name them, or use a prefix glob such as 'MYAPP_*'");
	expect_error("version: 1\nenvironment: { set: { \"1X\": y } }\n",
		     F ":2:23: invalid environment variable name '1X'");
	expect_error(
		"version: 1\ncredentials:\n  - { name: b, env: B, host: b.example.com, scheme: ftp }\n",
		F ":3:53: invalid scheme 'ftp' (expected https, http)");
	/* money */
#define INF(route, budget)                                                                         \
	"version: 1\ninference:\n  routes: [{ name: a, provider: openai, " route " }]\n" budget
	expect_error(INF("model: nope, api_key_env: K", "  budget: { max_usd: 5 }\n"), F
		     ":3:48: no price for openai model 'nope' in ward's price table 2026-11-30 "
		     "(inference.budget.max_usd needs one): add price: { input: USD, output: USD } "
		     "(per million tokens) to this route");
	expect_error(INF("model: m, price: { input: -1, output: 2 }", ""),
		     F ":3:67: 'input' -1 must not be negative");
	expect_error(INF("model: gpt-5", "  budget: { max_usd: 0 }\n"),
		     F ":4:22: 'max_usd' must be more than 0 (leave it out for no budget)");
	expect_error(INF("model: gpt-5", "  budget: { max_usd: 1, warn_at: [0.9, 0.5] }\n"),
		     F ":4:40: 'warn_at' must be in ascending order without repeats");
	expect_error(
		INF("model: gpt-5", "  budget: { max_usd: 1, warn_at: [1.5] }\n"), F
		":4:35: 'warn_at' entries must be fractions between 0 and 1 (e.g. 0.8), got '1.5'");
#undef INF
	/* identities */
	expect_error("version: 1\nprocess:\n  run_as_user: 0\n",
		     F ":3:16: run_as_user must not be 0 (root); use an unprivileged user");
	expect_error("version: 1\nprocess:\n  run_as_group: root\n",
		     F ":3:17: run_as_group must not be root; use an unprivileged group");
	expect_error("version: 1\nprocess:\n  run_as_user: root\n",
		     F ":3:16: run_as_user must not be root; use an unprivileged user");
	expect_error("version: 1\nprocess:\n  run_as_user: \"0\"\n",
		     F ":3:16: run_as_user must not be 0 (root); use an unprivileged user");
	/* hosts */
	expect_error(NET("      - { host: \"*\", port: 443 }\n"),
		     F ":6:17: host '*' matches every host; name a domain (e.g. '*.example.com')");
	expect_error(
		NET("      - { host: \"*.com\", port: 443 }\n"),
		F ":6:17: host '*.com': a wildcard directly on a top-level domain or single label "
		  "matches too much; name a domain (e.g. '*.example.com')");
	expect_error(
		NET("      - { host: \"**.com\", port: 443 }\n"),
		F ":6:17: host '**.com': a wildcard directly on a top-level domain or single label "
		  "matches too much; name a domain (e.g. '*.example.com')");
	expect_error(NET("      - { host: a..b.com, port: 443 }\n"),
		     F ":6:17: malformed host 'a..b.com': empty label");
	expect_error(NET("      - { host: \"api.*.com\", port: 443 }\n"),
		     F ":6:17: malformed host 'api.*.com': a wildcard must be the first label");
	expect_error(NET("      - { host: \"bad_host!.com\", port: 443 }\n"),
		     F ":6:17: malformed host 'bad_host!.com': invalid label 'bad_host!'");
	/* ports */
	expect_error(NET("      - { host: a.example.com, port: 70000 }\n"),
		     F ":6:38: port 70000 out of range (1..65535)");
	expect_error(NET("      - { host: a.example.com, port: 0 }\n"),
		     F ":6:38: port 0 out of range (1..65535)");
	expect_error(NET("      - { host: a.example.com, ports: [80, -1] }\n"),
		     F ":6:44: port -1 out of range (1..65535)");
	expect_error(NET("      - { host: a.example.com, port: 443, ports: [443] }\n"),
		     F ":6:43: 'port' and 'ports' are mutually exclusive");
	expect_error(NET("      - { host: a.example.com }\n"),
		     F ":6:9: endpoint needs 'port' or 'ports'");
	/* binaries by content */
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BIN(b)                                                                                     \
	"version: 1\nnetwork_policies:\n  k:\n    binaries: [" b                                   \
	"]\n    endpoints: [{ host: a.b.com, port: 1 }]\n"
	expect_error(BIN("{ sha256: 12ab }"),
		     F ":4:26: sha256 '12ab' must be 64 hexadecimal digits");
	expect_error(BIN("{ sha256: " SHA "0 }"),
		     F ":4:26: sha256 '" SHA "0' must be 64 hexadecimal digits");
	expect_error(
		BIN("{ sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg }"),
		F
		":4:26: sha256 '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg' "
		"must be 64 hexadecimal digits");
	expect_error(BIN("{ path: /usr/bin/curl, sha256: " SHA " }"),
		     F ":4:39: 'path' and 'sha256' are mutually exclusive (one binary each)");
	expect_error(BIN("{ ancestors: true }"),
		     F ":4:16: missing required key 'path' (or 'sha256') in binary");
	{
		struct result res;

		/* upper case is accepted and stored lower case; no path */
		compile(&res,
			BIN("{ sha256: 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef }"));
		assert_int_equal(res.r, 0);
		assert_non_null(res.p);
		assert_null(res.p->net[0].binaries[0].path);
		assert_string_equal(res.p->net[0].binaries[0].sha256, SHA);
		done(&res);
	}
#undef BIN
#undef SHA
	/* empty lists */
	expect_error(
		"version: 1\nnetwork_policies:\n  k:\n    binaries: []\n    endpoints: [{ host: a.b.com, port: 1 }]\n",
		F ":4:15: 'binaries' must not be empty");
	expect_error(
		"version: 1\nnetwork_policies:\n  k:\n    binaries: [{ path: /x }]\n    endpoints: []\n",
		F ":5:16: 'endpoints' must not be empty");
	expect_error(NET("      - { host: a.example.com, port: 443, protocol: rest, rules: [] }\n"),
		     F ":6:66: 'rules' must not be empty");
	expect_error("version: 1\ninference:\n  routes: []\n",
		     F ":3:11: 'routes' must not be empty");
	expect_error("version: 1\nnetwork_policies:\n  k:\n    binaries: [{ path: /x }]\n",
		     F ":4:5: missing required key 'endpoints' in network policy");
	/* L7 and enums */
	expect_error(
		NET("      - host: a.example.com\n        port: 443\n        rules:\n          - allow: { method: GET, path: / }\n"),
		F ":8:9: 'rules' needs protocol: rest (this endpoint has no protocol: L4 only)");
	expect_error(
		NET("      - { host: a.example.com, port: 443, protocol: tcp, access: full }\n"),
		F ":6:58: 'access' needs protocol: rest (this endpoint has protocol: tcp)");
	expect_error(NET("      - { host: a.example.com, port: 443, protocol: rset }\n"), F
		     ":6:53: invalid protocol 'rset' (expected rest, tcp) (did you mean 'rest'?)");
	expect_error(
		NET("      - { host: a.example.com, port: 443, protocol: rest, enforcement: enforced, access: full }\n"),
		F
		":6:72: invalid enforcement 'enforced' (expected enforce, audit) (did you mean 'enforce'?)");
	expect_error(
		NET("      - { host: a.example.com, port: 443, protocol: rest, access: readonly }\n"),
		F
		":6:67: invalid access 'readonly' (expected read-only, read-write, full) (did you mean 'read-only'?)");
	expect_error(
		"version: 1\nlandlock: { compatibility: besteffort }\n", F
		":2:28: invalid compatibility 'besteffort' (expected best_effort, hard_requirement) (did you mean 'best_effort'?)");
	expect_error(
		"version: 1\ninference:\n  routes: [{ name: a, provider: openia, model: m }]\n", F
		":3:33: invalid provider 'openia' (expected openai, anthropic, nvidia) (did you mean 'openai'?)");
	expect_error(NET("      - { host: a.example.com, port: 443, allowed_ips: [10.0.0.0/33] }\n"),
		     F ":6:57: invalid CIDR '10.0.0.0/33': prefix length must be 0..32");
	expect_error(NET("      - { host: a.example.com, port: 443, allowed_ips: [10.1.2.3/8] }\n"),
		     F
		     ":6:57: invalid CIDR '10.1.2.3/8': host bits set (did you mean '10.0.0.0/8'?)");
	expect_error(NET("      - { host: a.example.com, port: 443, allowed_ips: [ten] }\n"),
		     F ":6:57: invalid CIDR 'ten': not an IP address");
	expect_error(
		NET("      - host: a.example.com\n        port: 443\n        protocol: rest\n        rules:\n          - allow: { method: get, path: /x }\n"),
		F ":10:30: invalid HTTP method 'get' (did you mean 'GET'?)");
	expect_error(
		NET("      - host: a.example.com\n        port: 443\n        protocol: rest\n        deny_rules:\n          - { method: FETCH, path: /x }\n"),
		F
		":10:23: invalid HTTP method 'FETCH' (expected GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE or '*') (did you mean 'PATCH'?)");
	expect_error(
		NET("      - host: a.example.com\n        port: 443\n        protocol: rest\n        rules:\n          - allow: { method: GET, path: repos }\n"),
		F ":10:41: path 'repos' must start with '/'");
	/* presets */
	expect_error(
		"version: 1\nextends: [developr]\n", F
		":2:11: unknown preset 'developr' (known: deny-all, developer) (did you mean 'developer'?)");
	expect_error("version: 1\nextends: [developer, developer]\n",
		     F ":2:22: preset 'developer' is listed twice in 'extends' (first at 2:11)");
	/* unsupported OpenShell features */
	expect_error(NET("      - { host: a.example.com, port: 443, protocol: mcp }\n"),
		     F ":6:53: protocol 'mcp' is not supported");
	expect_error(
		NET("      - host: a.example.com\n        port: 443\n        mcp: { max_body_bytes: 1 }\n"),
		F ":8:9: MCP inspection ('mcp') is not supported by ward");
	expect_error("version: 1\nnetwork_middlewares: {}\n",
		     F ":2:1: 'network_middlewares' is not supported by ward");
	/* YAML itself */
	expect_error("version: 1\nx: &a [1]\ny: *a\n",
		     F ":2:4: YAML anchors ('&a') are not supported");
	expect_error("version: 1\ny: *a\n", F ":2:4: YAML aliases are not supported");
	expect_error("version: !!int 1\n",
		     F ":1:10: YAML tags ('tag:yaml.org,2002:int') are not supported");
	expect_error("version: 1\n---\nversion: 1\n",
		     F ":2:1: multiple YAML documents are not supported (one policy per file)");
	expect_error(
		"version: 1\nfilesystem_policy:\n  read_only: [/usr\n", F
		":4:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 3:14)");
	assert_int_equal(mismatches, 0);
}

static void test_all_errors_collected(void **state)
{
	static const char yaml[] = "version: 1\n"
				   "filesystem_policy:\n"
				   "  read_only: [rel, /ok]\n"
				   "  read_write: [/]\n"
				   "process:\n"
				   "  run_as_user: 0\n"
				   "landlock: { compatibility: soft }\n";
	struct result res;

	compile(&res, yaml);
	assert_int_equal(res.r, -EINVAL);
	assert_int_equal(ward_diags_errors(&res.d), 4);
	/* in file order */
	assert_string_equal(
		res.text,
		F ":3:15: path 'rel' must be absolute\n" F ":4:16: '/' cannot be read-write\n" F
		  ":6:16: run_as_user must not be 0 (root); use an unprivileged user\n" F
		  ":7:28: invalid compatibility 'soft' (expected best_effort, hard_requirement)\n");
	done(&res);
}

static void test_warnings(void **state)
{
	struct result res;

	compile(&res, "version: 1\nnetwork_policies:\n  k:\n    endpoints:\n"
		      "      - { host: a.example.com, port: 443, protocol: rest }\n");
	assert_int_equal(res.r, 0);
	assert_non_null(res.p);
	assert_int_equal(ward_diags_errors(&res.d), 0);
	assert_string_equal(
		res.text, F
		":4:5: warning: network policy has no 'binaries': no program may use it\n" F
		":5:9: warning: protocol: rest with no 'access' or 'rules' denies every request\n");
	done(&res);
}

static char *repeat(const char *head, const char *item, const char *sep, const char *tail,
		    size_t max)
{
	size_t hl = strlen(head), il = strlen(item), sl = strlen(sep), tl = strlen(tail);
	char *buf = malloc(max + 1), *w = buf;

	assert_non_null(buf);
	memcpy(w, head, hl);
	w += hl;
	for (size_t i = 0; (size_t)(w - buf) + il + sl + tl < max; i++) {
		if (i) {
			memcpy(w, sep, sl);
			w += sl;
		}
		memcpy(w, item, il);
		w += il;
	}
	memcpy(w, tail, tl);
	w += tl;
	*w = '\0';
	return buf;
}

static void test_limits(void **state)
{
	struct result res;
	struct ward_policy_limits lim = ward_policy_default_limits;
	uint64_t t0;

	/* half a million list items: the Lua memory cap, with the default limits */
	char *big = repeat("version: 1\nfilesystem_policy:\n  read_only: [", "/", ",", "]\n",
			   WARD_POLICY_MAX_SOURCE - 16);
	t0 = ward_mono_ns();
	compile_limits(&res, big, strlen(big), NULL);
	assert_int_equal(res.r, -E2BIG);
	assert_non_null(strstr(res.err.msg, "memory limit"));
	assert_null(res.p);
	assert_true(ward_mono_ns() - t0 < 10ull * 1000000000);
	done(&res);
	free(big);

	/* thousands of long unknown keys: did-you-mean work hits the instruction cap */
	size_t cap = WARD_POLICY_MAX_SOURCE - 64, len;
	char *dym = malloc(cap + 64), *w = dym;
	assert_non_null(dym);
	w += sprintf(w, "version: 1\nfilesystem_policy:\n");
	for (unsigned i = 0; (size_t)(w - dym) < cap - 80; i++)
		w += sprintf(w, "  rxad_only_%054u: 1\n", i);
	len = (size_t)(w - dym);
	t0 = ward_mono_ns();
	compile_limits(&res, dym, len, NULL);
	assert_int_equal(res.r, -E2BIG);
	assert_non_null(strstr(res.err.msg, "instruction limit"));
	assert_true(ward_mono_ns() - t0 < 10ull * 1000000000);
	done(&res);
	free(dym);

	/* tighter limits on an ordinary policy */
	static const char ok[] = "version: 1\nextends: [developer]\n";
	lim.lua_instructions = 5000;
	compile_limits(&res, ok, strlen(ok), &lim);
	assert_int_equal(res.r, -E2BIG);
	assert_non_null(strstr(res.err.msg, "instruction limit"));
	done(&res);
	lim = ward_policy_default_limits;
	lim.lua_memory = 64 << 10;
	compile_limits(&res, ok, strlen(ok), &lim);
	assert_int_equal(res.r, -E2BIG);
	assert_non_null(strstr(res.err.msg, "memory limit"));
	done(&res);
	compile_limits(&res, ok, strlen(ok), NULL);
	assert_int_equal(res.r, 0);
	done(&res);

	/* size and depth */
	char *huge = repeat("version: 1\n#", "x", "", "\n", WARD_POLICY_MAX_SOURCE + 10);
	compile_limits(&res, huge, strlen(huge), NULL);
	assert_int_equal(res.r, -EFBIG);
	done(&res);
	free(huge);
	char deep[512];
	snprintf(deep, sizeof(deep), "version: 1\nx: %.*s%.*s\n", 70,
		 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		 70,
		 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	expect_error(deep, F ":2:67: nesting deeper than 64 levels");
	assert_int_equal(mismatches, 0);
}

static void test_speed(void **state)
{
	struct result res;
	char *buf = NULL;
	size_t len = 0;
	uint64_t t0;

	assert_int_equal(ward_read_file("policies/examples/org-egress.yaml", 1 << 20, &buf, &len),
			 0);
	t0 = ward_mono_ns();
	for (int i = 0; i < 20; i++) {
		compile_limits(&res, buf, len, NULL);
		assert_int_equal(res.r, 0);
		done(&res);
	}
	uint64_t per = (ward_mono_ns() - t0) / 20;
	/* A figure, not an assertion: wall-clock time swings with the machine's load. */
	print_message("org-egress.yaml compiles in %.2f ms\n", per / 1e6);
	free(buf);
}

static void test_stable_json(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"network_policies:\n"
		"  b: { binaries: [{ path: /x }], endpoints: [{ host: b.example.com, port: 1 }] }\n"
		"  a: { binaries: [{ path: /y }], endpoints: [{ host: a.example.com, port: 2 }] }\n"
		"filesystem_policy: { read_only: [/usr] }\n";
	struct result r1, r2;

	compile(&r1, yaml);
	compile(&r2, yaml);
	assert_int_equal(r1.r, 0);
	assert_int_equal(r2.r, 0);
	assert_string_equal(r1.p->compiled_json, r2.p->compiled_json);
	assert_string_equal(r1.p->rev, r2.p->rev);
	assert_int_equal(strlen(r1.p->rev), 64);

	/* the fixed top-level key order */
	const char *keys[] = { "\"version\"",	  "\"extends\"",  "\"filesystem\"",
			       "\"landlock\"",	  "\"process\"",  "\"network_policies\"",
			       "\"credentials\"", "\"inference\"" };
	const char *prev = r1.p->compiled_json;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *at = strstr(r1.p->compiled_json, keys[i]);
		assert_non_null(at);
		assert_true(at >= prev);
		prev = at;
	}
	/* network policies sorted by key whatever the file order */
	assert_true(strstr(r1.p->compiled_json, "\"key\":\"a\"") <
		    strstr(r1.p->compiled_json, "\"key\":\"b\""));

	/* print_json reproduces compiled_json exactly */
	char out[8192];
	FILE *f = fmemopen(out, sizeof(out), "w");
	ward_policy_print_json(r1.p, f);
	fclose(f);
	assert_string_equal(out, r1.p->compiled_json);
	done(&r1);
	done(&r2);

	/* a semantic change changes the revision */
	compile(&r1, "version: 1\nfilesystem_policy: { read_only: [/usr, /lib] }\n");
	compile(&r2, "version: 1\nfilesystem_policy: { read_only: [/usr, /opt] }\n");
	assert_string_not_equal(r1.p->rev, r2.p->rev);
	done(&r1);
	done(&r2);
}

static bool has_net(const struct ward_policy *p, const char *key)
{
	for (size_t i = 0; i < p->n_net; i++)
		if (!strcmp(p->net[i].key, key))
			return true;
	return false;
}

static void test_presets(void **state)
{
	struct result res;

	compile(&res, "version: 1\nextends: [developer]\n");
	assert_int_equal(res.r, 0);
	struct ward_policy *p = res.p;
	assert_int_equal(p->n_extends, 1);
	assert_string_equal(p->extends[0], "developer");
	assert_true(p->include_workdir);
	assert_true(has_net(p, "npm") && has_net(p, "pypi") && has_net(p, "crates") &&
		    has_net(p, "github"));
	assert_int_equal(p->n_net, 4);
	assert_int_equal(p->net[0].pos.line, 0); /* from a preset */
	bool npm = false;
	for (size_t i = 0; i < p->n_net; i++)
		for (size_t e = 0; e < p->net[i].n_endpoints; e++)
			npm |= !strcmp(p->net[i].endpoints[e].host, "registry.npmjs.org");
	assert_true(npm);
	done(&res);

	/* the file wins: a key replaces the preset's entry, scalars override, lists merge */
	compile(&res,
		"version: 1\nextends: [developer]\n"
		"filesystem_policy: { include_workdir: false, read_only: [/opt, /usr] }\n"
		"network_policies:\n"
		"  npm: { binaries: [{ path: /opt/node }], endpoints: [{ host: npm.corp.example, port: 443 }] }\n");
	assert_int_equal(res.r, 0);
	p = res.p;
	assert_false(p->include_workdir);
	assert_int_equal(p->n_read_only, 7); /* 6 from the preset, /usr once, /opt */
	assert_string_equal(p->read_only[0].path, "/usr");
	assert_int_equal(p->read_only[0].pos.line, 3);
	assert_string_equal(p->read_only[6].path, "/opt");
	for (size_t i = 0; i < p->n_net; i++) {
		if (strcmp(p->net[i].key, "npm"))
			continue;
		assert_int_equal(p->net[i].n_endpoints, 1);
		assert_string_equal(p->net[i].endpoints[0].host, "npm.corp.example");
		assert_int_equal(p->net[i].pos.line, 5);
	}
	done(&res);

	compile(&res, "version: 1\nextends: [deny-all]\n");
	assert_int_equal(res.r, 0);
	assert_int_equal(res.p->n_net, 0);
	assert_int_equal(res.p->n_read_write, 0);
	assert_false(res.p->include_workdir);
	assert_true(res.p->n_read_only > 0);
	done(&res);
}

static void load_file(const char *path, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->r = ward_policy_load(path, &res->p, &res->d, &res->err);
	render(res);
}

static void test_examples(void **state)
{
	DIR *d = opendir("policies/examples");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		/* NAME.test.yaml: its policy test cases (ward policy test) */
		if (l > 10 && !strcmp(de->d_name + l - 10, ".test.yaml"))
			continue;
		char path[512];
		struct result res;
		snprintf(path, sizeof(path), "policies/examples/%s", de->d_name);
		load_file(path, &res);
		if (res.r != 0 || ward_diags_errors(&res.d))
			fail_msg("%s: r=%d %s\n%s", path, res.r, res.err.msg, res.text);
		assert_string_equal(res.p->source_path, path);
		done(&res);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

static void test_openshell_corpus(void **state)
{
	static const char *const dir = "../shared/compat/openshell";
	static const char *const loads[] = {
		"crates_openshell-prover_testdata_policy.yaml",
		"crates_openshell-supervisor-network_testdata_sandbox-policy.yaml",
		"e2e_policy-advisor_policy.template.yaml",
		"examples_agent-driven-policy-management_policy.template.yaml",
		"examples_governance-interceptor_policy.yaml",
		"examples_local-inference_sandbox-policy.yaml",
		"examples_multi-agent-notepad_policy.template.yaml",
		"examples_policy-advisor_sandbox-policy.yaml",
		"examples_sandbox-policy-quickstart_policy.yaml",
		"examples_transparent-tcp-redis_policy.yaml",
		"scripts_agents_gator_policy.yaml",
	};
	static const struct {
		const char *file, *line;
	} rejects[] = {
		{ "e2e_mcp-conformance_policy-template.yaml",
		  ":38:13: YAML syntax error: could not find expected ':' (while scanning a simple key at 37:1)" },
		{ "examples_supervisor-middleware-content-guard_policy.yaml",
		  ":6:1: 'network_middlewares' is not supported by ward" },
	};
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t seen = 0;

	if (!d) {
		print_message("skip: %s not found (the shared/ checkout is not beside the repo)\n",
			      dir);
		skip();
	}
	while ((de = readdir(d))) {
		char path[512], want[512];
		struct result res;
		bool known = false;
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		load_file(path, &res);
		for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
			if (strcmp(de->d_name, loads[i]))
				continue;
			known = true;
			if (res.r != 0)
				fail_msg("%s should load: r=%d %s\n%s", path, res.r, res.err.msg,
					 res.text);
		}
		for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
			if (strcmp(de->d_name, rejects[i].file))
				continue;
			known = true;
			snprintf(want, sizeof(want), "%s%s", path, rejects[i].line);
			if (res.r != -EINVAL || !has_line(res.text, want))
				fail_msg("%s: expected\n  %s\ngot r=%d:\n%s", path, want, res.r,
					 res.text);
		}
		/* a file added to the corpus later: either loads or a position error */
		if (!known && res.r != 0 &&
		    !(res.r == -EINVAL &&
		      (strstr(res.text, "not supported") || strstr(res.text, "YAML syntax error"))))
			fail_msg("%s: neither loads nor names an unsupported feature:\n%s", path,
				 res.text);
		seen += known;
		done(&res);
	}
	closedir(d);
	assert_int_equal(seen,
			 sizeof(loads) / sizeof(loads[0]) + sizeof(rejects) / sizeof(rejects[0]));
}

static void test_load_errors(void **state)
{
	struct result res;

	load_file("tests/unit/policies/does-not-exist.yaml", &res);
	assert_int_equal(res.r, -ENOENT);
	assert_non_null(strstr(res.err.msg, "does-not-exist.yaml"));
	done(&res);

	/* NUL bytes and binary junk are errors with a position, not crashes */
	static const char junk[] = "version: 1\nfilesystem_policy: { read_only: [\"/a\\0b\"] }\n";
	compile(&res, junk);
	assert_int_equal(res.r, -EINVAL);
	assert_true(has_line(res.text, F ":2:34: path contains a NUL byte"));
	done(&res);
	static const char bin[] = "version: 1\n\x01\x02\xff\n";
	compile_limits(&res, bin, sizeof(bin) - 1, NULL);
	assert_int_equal(res.r, -EINVAL);
	assert_non_null(strstr(res.text, F ":"));
	done(&res);
}

/* host: { exempt: [...] } (host mode): the model, the compiled form, and a
 * policy without it keeps the compiled form it had. */
static void test_host_section(void **state)
{
	struct result res;

	compile(&res, "version: 1\nhost:\n  exempt:\n    - cgroup: /system.slice//ssh.service\n"
		      "    - binary: /usr/sbin/sshd\n");
	if (res.r != 0)
		fail_msg("r=%d %s\n%s", res.r, res.err.msg, res.text);
	assert_true(res.p->has_host);
	assert_int_equal(res.p->n_host_exempt, 2);
	assert_string_equal(res.p->host_exempt[0].cgroup, "/system.slice/ssh.service");
	assert_null(res.p->host_exempt[0].binary);
	assert_string_equal(res.p->host_exempt[1].binary, "/usr/sbin/sshd");
	assert_int_equal(res.p->host_exempt[1].pos.line, 5);
	assert_non_null(strstr(res.p->compiled_json,
			       "\"host\":{\"exempt\":[{\"cgroup\":\"/system.slice/ssh.service\""));
	done(&res);

	compile(&res, "version: 1\n");
	assert_int_equal(res.r, 0);
	assert_false(res.p->has_host);
	assert_null(strstr(res.p->compiled_json, "\"host\""));
	done(&res);

	mismatches = 0;
	expect_error("version: 1\nhost:\n  exempt:\n    - { cgroup: /a, binary: /b }\n",
		     F ":4:21: 'cgroup' and 'binary' are mutually exclusive (one exemption each)");
	expect_error("version: 1\nhost:\n  exempt:\n    - {}\n",
		     F ":4:7: missing 'cgroup' or 'binary' in exemption");
	expect_error("version: 1\nhost:\n  exempt:\n    - cgroup: x.slice\n",
		     F ":4:15: path 'x.slice' must be absolute");
	expect_error("version: 1\nhost:\n  exempt:\n    - cgroup: /\n",
		     F ":4:15: exempting the cgroup root '/' exempts everything: leave host mode "
		       "off instead");
	expect_error("version: 1\nhost:\n  exempt: []\n", F ":3:11: 'exempt' must not be empty");
	expect_error("version: 1\nhost:\n  scope: /x\n", F ":3:3: unknown key 'scope' in host");
	assert_int_equal(mismatches, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_module_code_cache), /* first: see there */
		cmocka_unit_test(test_valid_policy),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hardening_sections),
		cmocka_unit_test(test_proxy_limits),
		cmocka_unit_test(test_secret_refs),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_all_errors_collected),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_speed),
		cmocka_unit_test(test_stable_json),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_openshell_corpus),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_host_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
