// SPDX-License-Identifier: MIT
/* libFuzzer target for the rule-pack runner (policy/rules.c): the input is
 * a pack's source, run over a fixed policy that has every kind of node.
 * Built with -fsanitize=fuzzer and WARD_LIBFUZZER it is a fuzzer; otherwise
 * main() replays tests/fuzz/corpus/rules. Any crash, leak (ASan), a runner
 * error other than out of memory, or a diagnostic without a file or
 * message is a failure; a pack that fails itself is one error at its own
 * name, never more. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char POLICY[] =
	"version: 1\n"
	"extends: [developer]\n"
	"network_policies:\n"
	"  gh:\n"
	"    binaries: [{ path: /usr/bin/python3*, ancestors: true }]\n"
	"    endpoints:\n"
	"      - { host: api.github.com, port: 443, protocol: rest, enforcement: audit,\n"
	"          rules: [{ allow: { method: GET, path: /repos/**, query: { a: b* } } }],\n"
	"          deny_rules: [{ method: DELETE, path: /** }] }\n"
	"      - { host: \"*.example.org\", ports: [80, 8080], allowed_ips: [10.0.0.0/8] }\n"
	"      - unix: /run/x.sock\n"
	"filesystem_policy:\n"
	"  read_write: [/tmp, /var/cache]\n"
	"environment: { pass: [MY_TOKEN, \"APP_*\"], set: { A: b } }\n"
	"inference:\n"
	"  routes: [{ name: c, provider: anthropic, model: m, api_key_env: K }]\n"
	"credentials:\n"
	"  - { name: gh, env: GH_TOKEN, host: api.github.com, port: 443,"
	" header: Authorization, format: \"Bearer {}\" }\n";

static struct ward_policy *policy(void)
{
	static struct ward_policy *p;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };

	if (!p && ward_policy_load_buffer("fuzz.yaml", POLICY, sizeof(POLICY) - 1, &p, &diags,
					  &err) < 0) {
		ward_diags_print(&diags, stderr);
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	ward_diags_free(&diags);
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_policy *p = policy();
	struct ward_rules *r = ward_rules_new();
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	size_t own = 0;
	int ret;

	if (!r)
		return 0;
	/* small caps: an endless pack ends fast, a greedy one early */
	ward_rules_set_limits(r, 4u << 20, 200000);
	if (ward_rules_add_buffer(r, "fuzz.lua", (const char *)data, size, &err) < 0) {
		ward_rules_free(r);
		return 0;
	}
	ret = ward_rules_run(r, p, &diags, &err);
	if (ret < 0 && ret != -ENOMEM) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	for (size_t i = 0; i < diags.n; i++) {
		if (!diags.v[i].msg || !diags.v[i].file)
			abort();
		if (!strncmp(diags.v[i].file, "fuzz.lua", 8)) {
			own++;
			if (diags.v[i].warning || diags.v[i].line)
				abort();
		} else if (strcmp(diags.v[i].file, "fuzz.yaml")) {
			abort(); /* a node names only a position, never a file */
		}
	}
	if (own > 1)
		abort();
	ward_diags_free(&diags);
	ward_rules_free(r);
	return 0;
}

#include "replay.h"
