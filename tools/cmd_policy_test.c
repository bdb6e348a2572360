// SPDX-License-Identifier: MIT
/* ward policy test: run a CASES.yaml file against a policy with the live
 * path's decision functions (src/policy/cases.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "policy/cases.h"
#include "policy/policy.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char usage_test[] =
	"Usage: ward policy test POLICY CASES.yaml [--json]\n"
	"\n"
	"Check the policy POLICY against the cases in CASES.yaml, each a request\n"
	"with the verdict it must get (docs/policy.md, \"Testing a policy\"):\n"
	"    cases:\n"
	"      - { binary: /usr/bin/curl, host: api.github.com, port: 443,\n"
	"          method: GET, path: /repos/a/b, expect: allow, rule: github }\n"
	"      - { binary: /usr/bin/python3, dns: pypi.org, expect: allow }\n"
	"      - { binary: /usr/bin/cat, file: /etc/passwd, access: read, expect: allow }\n"
	"      - { binary: /usr/bin/node, model: claude-sonnet-4-6, expect: allow }\n"
	"Keys: binary (required), one of host (with port, and method + path for an\n"
	"HTTP request), dns, file (with access: read, write or exec) or model;\n"
	"expect (allow, deny or audit, required); rule (optional: the network\n"
	"policy key, route or filesystem path that must decide); name (optional).\n"
	"Each case is decided by the function the live path uses: the proxy's\n"
	"request decision, the DNS stub's, the inference router's, and the\n"
	"filesystem plan of filesystem_policy (the working directory is not\n"
	"modelled).\n"
	"\n"
	"Each failing case is printed as\n"
	"    CASES:LINE:COL: expected allow, got deny (rule R: reason)\n"
	"followed by the summary 'N cases, P passed, F failed'.\n"
	"\n"
	"Options:\n"
	"  --json   one JSON object: policy, cases, passed, failed and results\n"
	"           (line, col, name, expect, action, rule, reason, pass)\n"
	"\n"
	"Exit status: 0 every case passed, 1 a case failed or POLICY or CASES is\n"
	"invalid (FILE:LINE:COL: message), 2 usage error.\n";

static void print_json(const char *policy, const struct ward_cases *cs,
		       const struct ward_case_result *res, size_t passed)
{
	FILE *o = stdout;

	fputs("{\"policy\":", o);
	ward_json_str(o, policy);
	fputs(",\"file\":", o);
	ward_json_str(o, cs->file);
	fprintf(o, ",\"cases\":%zu,\"passed\":%zu,\"failed\":%zu,\"results\":[", cs->n, passed,
		cs->n - passed);
	for (size_t i = 0; i < cs->n; i++) {
		const struct ward_case *c = &cs->v[i];

		fprintf(o, "%s{\"line\":%u,\"col\":%u,\"name\":", i ? "," : "", c->line, c->col);
		ward_json_str(o, c->name);
		fprintf(o, ",\"expect\":\"%s\",\"expect_rule\":", c->expect);
		ward_json_str(o, c->rule);
		fprintf(o, ",\"action\":\"%s\",\"rule\":", res[i].action);
		ward_json_str(o, res[i].rule[0] ? res[i].rule : NULL);
		fputs(",\"reason\":", o);
		ward_json_str(o, res[i].reason);
		fprintf(o, ",\"pass\":%s}", res[i].pass ? "true" : "false");
	}
	fputs("]}\n", o);
}

int cmd_policy_test(int argc, char **argv)
{
	enum { O_JSON = 256 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
	_cleanup_free_ struct ward_case_result *res = NULL;
	struct ward_cases cs = { 0 };
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	bool json = false;
	size_t passed = 0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(usage_test, stdout);
			return 0;
		default:
			fputs(usage_test, stderr);
			return 2;
		}
	}
	if (optind + 2 != argc) {
		fputs(usage_test, stderr);
		return 2;
	}
	r = ward_policy_load(argv[optind], &p, &diags, &err);
	ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "ward policy test: %s\n", err.msg);
		return 1;
	}
	r = ward_cases_load(argv[optind + 1], &cs, &err);
	if (r < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	res = calloc(cs.n, sizeof(*res));
	if (!res) {
		ward_cases_free(&cs);
		fprintf(stderr, "ward policy test: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < cs.n; i++) {
		const struct ward_case *k = &cs.v[i];

		ward_case_run(p, k, &res[i]);
		if (res[i].pass) {
			passed++;
			continue;
		}
		if (json)
			continue;
		printf("%s:%u:%u: ", cs.file, k->line, k->col);
		if (k->name)
			printf("%s: ", k->name);
		if (strcmp(res[i].action, k->expect))
			printf("expected %s, got %s", k->expect, res[i].action);
		else
			printf("expected rule %s, got %s", k->rule, res[i].action);
		printf(" (rule %s: %s)\n", res[i].rule[0] ? res[i].rule : "none", res[i].reason);
	}
	if (json)
		print_json(argv[optind], &cs, res, passed);
	else
		printf("%zu cases, %zu passed, %zu failed\n", cs.n, passed, cs.n - passed);
	r = passed == cs.n ? 0 : 1;
	ward_cases_free(&cs);
	return r;
}
