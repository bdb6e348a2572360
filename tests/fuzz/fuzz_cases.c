// SPDX-License-Identifier: MIT
/* libFuzzer target for `ward policy test`'s CASES loader and runner
 * (src/policy/cases.c), against a fixed policy with every kind of rule.
 * Built with -fsanitize=fuzzer and WARD_LIBFUZZER it is a fuzzer; otherwise
 * main() replays tests/fuzz/corpus/cases. Any crash, leak (ASan), an error
 * without its "fuzz.yaml:LINE:COL: " position, or a verdict outside
 * allow/deny/audit is a failure. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/cases.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
	"version: 1\n"
	"filesystem_policy:\n"
	"  include_workdir: true\n"
	"  read_only: [/usr, /etc, /srv/data]\n"
	"  read_write: [/srv, /tmp/shared]\n"
	"  binaries:\n"
	"    - { path: /usr/bin/ssh, read_only: [/srv/keys], read_write: [/srv/keys/known] }\n"
	"network_policies:\n"
	"  gh:\n"
	"    binaries: [{ path: /usr/bin/curl }, { path: /usr/bin/git, ancestors: true }]\n"
	"    endpoints:\n"
	"      - { host: api.github.com, port: 443, protocol: rest, access: read-only,\n"
	"          deny_rules: [{ method: POST, path: \"/**/git-receive-pack\" }] }\n"
	"      - { host: \"**.trial.example\", ports: [443, 8443], protocol: rest,\n"
	"          enforcement: audit,\n"
	"          rules: [{ allow: { method: GET, path: /ok, query: { a: \"b*\" } } }] }\n"
	"      - { host: 10.1.2.3, port: 5432 }\n"
	"  py:\n"
	"    binaries: [{ path: \"/usr/bin/python3*\" }]\n"
	"    endpoints: [{ host: pypi.org, port: 443 }, { host: \"*.pythonhosted.org\", port: 443 }]\n"
	"inference:\n"
	"  routes:\n"
	"    - { name: fast, provider: anthropic, model: claude-haiku-4-5, aliases: [haiku],\n"
	"        api_key_env: K }\n"
	"    - { name: big, provider: openai, model: gpt-5, api_key_env: K }\n"
	"  binaries: [{ path: /usr/bin/node }]\n";

static struct ward_policy *policy(void)
{
	static struct ward_policy *p;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };

	if (p)
		return p;
	if (ward_policy_load_buffer("p.yaml", policy_text, strlen(policy_text), &p, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		abort();
	}
	ward_diags_free(&d);
	return p;
}

static bool positioned(const char *msg)
{
	unsigned line, col;
	int n = 0;

	return sscanf(msg, "fuzz.yaml:%u:%u: %n", &line, &col, &n) == 2 && n > 0 && line > 0 &&
	       col > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ward_policy *p = policy();
	struct ward_cases cs;
	struct ward_error err = { 0 };
	struct ward_case_result res;
	int r;

	r = ward_cases_load_buffer("fuzz.yaml", (const char *)data, size, &cs, &err);
	if (r == -EINVAL && !positioned(err.msg)) {
		fprintf(stderr, "error without position: %s\n", err.msg);
		abort();
	}
	if (r < 0) {
		if (cs.v || cs.n)
			abort(); /* cases handed out on failure */
		return 0;
	}
	for (size_t i = 0; i < cs.n; i++) {
		ward_case_run(p, &cs.v[i], &res);
		if (strcmp(res.action, "allow") && strcmp(res.action, "deny") &&
		    strcmp(res.action, "audit"))
			abort();
		if (res.pass && strcmp(res.action, cs.v[i].expect))
			abort();
	}
	ward_cases_free(&cs);
	return 0;
}

#include "replay.h"
