// SPDX-License-Identifier: MIT
/* ward policy explain: one request through the proxy's decision function
 * (src/policy/request.c), and why it came out the way it did. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "policy/decide.h"
#include "policy/match.h"
#include "policy/client.h"
#include "policy/policy.h"
#include "policy/request.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char usage_explain[] =
	"Usage: ward policy explain FILE --binary PATH --host HOST --port N\n"
	"                           [--method M --path P] [--json]\n"
	"\n"
	"Decide one request under the policy FILE with the proxy's own decision\n"
	"function and explain it: for an allow, the network policy, endpoint and L7\n"
	"rule that allowed it; for a denial, which part failed (binary, host, port,\n"
	"method, path), the entry that comes closest, and a hint.\n"
	"Without --method the decision is the connection's (CONNECT, raw TCP); with\n"
	"--method and --path it is one HTTP request (the path is normalised as the\n"
	"proxy normalises it; a query string after '?' is matched by query rules).\n"
	"\n"
	"Options:\n"
	"  --binary PATH   absolute path of the client executable\n"
	"  --host HOST     destination host name or IP address\n"
	"  --port N        destination port\n"
	"  --method M      HTTP method (GET, POST, ...)\n"
	"  --path P        HTTP request path, e.g. /repos/x/y?page=2\n"
	"  --json          one JSON object: action, failed, rule, policy, endpoint,\n"
	"                  l7_rule, inspect, reason, why, hint\n"
	"\n"
	"Exit status: 0 allowed (also 'audit': allowed by an endpoint in audit\n"
	"mode, but would be denied), 1 denied, 2 usage error or invalid policy.\n";

static const char *proto_str(enum ward_protocol p)
{
	switch (p) {
	case WARD_PROTO_REST:
		return "rest";
	case WARD_PROTO_TCP:
		return "tcp";
	case WARD_PROTO_L4:
		break;
	}
	return "l4";
}

static void print_json(const struct ward_net_verdict *v)
{
	FILE *o = stdout;

	printf("{\"action\":\"%s\",\"failed\":", ward_action_str(v->action));
	ward_json_str(o, v->failed == WARD_FAILED_NONE ? NULL : ward_failed_str(v->failed));
	fputs(",\"rule\":", o);
	ward_json_str(o, v->rule_name[0] ? v->rule_name : NULL);
	fputs(",\"policy\":", o);
	ward_json_str(o, v->policy ? v->policy->key : NULL);
	if (v->endpoint) {
		fputs(",\"endpoint\":{\"host\":", o);
		ward_json_str(o, v->endpoint->host);
		fputs(",\"ports\":[", o);
		for (size_t i = 0; i < v->endpoint->n_ports; i++)
			printf("%s%u", i ? "," : "", v->endpoint->ports[i]);
		printf("],\"protocol\":\"%s\",\"enforcement\":\"%s\",\"line\":%u}",
		       proto_str(v->endpoint->protocol),
		       v->endpoint->enforcement == WARD_AUDIT ? "audit" : "enforce",
		       v->endpoint->pos.line);
	} else {
		fputs(",\"endpoint\":null", o);
	}
	if (v->rule) {
		fputs(",\"l7_rule\":{\"method\":", o);
		ward_json_str(o, v->rule->method);
		fputs(",\"path\":", o);
		ward_json_str(o, v->rule->path);
		printf(",\"deny\":%s,\"line\":%u}", v->rule_is_deny ? "true" : "false",
		       v->rule->pos.line);
	} else {
		fputs(",\"l7_rule\":null", o);
	}
	printf(",\"inspect\":%s,\"closest\":", v->inspect ? "true" : "false");
	ward_json_str(o, v->closest ? v->closest->key : NULL);
	fputs(",\"reason\":", o);
	ward_json_str(o, v->reason);
	fputs(",\"why\":", o);
	ward_json_str(o, v->why[0] ? v->why : NULL);
	fputs(",\"hint\":", o);
	ward_json_str(o, v->hint[0] ? v->hint : NULL);
	fputs("}\n", o);
}

static void print_text(const struct ward_net_verdict *v)
{
	printf("%s", ward_action_str(v->action));
	if (v->failed != WARD_FAILED_NONE)
		printf(" (failed: %s)", ward_failed_str(v->failed));
	printf(": %s\n", v->reason);
	if (v->policy)
		printf("  policy:   network_policies.%s (line %u)\n", v->policy->key,
		       v->policy->pos.line);
	if (v->endpoint) {
		printf("  endpoint: %s port", v->endpoint->host);
		for (size_t i = 0; i < v->endpoint->n_ports; i++)
			printf("%s%u", i ? ", " : " ", v->endpoint->ports[i]);
		printf(" (line %u, %s, %s)\n", v->endpoint->pos.line,
		       proto_str(v->endpoint->protocol),
		       v->endpoint->enforcement == WARD_AUDIT ? "audit" : "enforce");
	}
	if (v->rule)
		printf("  %s: { method: %s, path: %s } (line %u)\n",
		       v->rule_is_deny ? "deny rule" : "rule", v->rule->method, v->rule->path,
		       v->rule->pos.line);
	if (v->action == WARD_ACTION_ALLOW && v->inspect && !v->rule)
		printf("  HTTP requests are inspected: each one is decided by the endpoint's rules\n");
	if (v->closest && !v->policy)
		printf("  closest:  network_policies.%s\n", v->closest->key);
	if (v->why[0])
		printf("  why:      %s\n", v->why);
	if (v->hint[0])
		printf("  hint:     %s\n", v->hint);
}

int cmd_policy_explain(int argc, char **argv)
{
	enum { O_BINARY = 256, O_HOST, O_PORT, O_METHOD, O_PATH, O_JSON };
	static const struct option opts[] = {
		{ "binary", required_argument, NULL, O_BINARY },
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "method", required_argument, NULL, O_METHOD },
		{ "path", required_argument, NULL, O_PATH },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
	struct ward_request req = { 0 };
	struct ward_net_verdict v;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	const char *file = NULL, *host = NULL, *port = NULL, *path = NULL;
	char nhost[WARD_HOST_MAX], npath[4096];
	bool json = false;
	unsigned long pv;
	char *end;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_BINARY:
			req.binary = optarg;
			break;
		case O_HOST:
			host = optarg;
			break;
		case O_PORT:
			port = optarg;
			break;
		case O_METHOD:
			req.method = optarg;
			break;
		case O_PATH:
			path = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(usage_explain, stdout);
			return 0;
		default:
			fputs(usage_explain, stderr);
			return 2;
		}
	}
	if (optind + 1 == argc)
		file = argv[optind];
	if (!file || !req.binary || !host || !port) {
		fputs(usage_explain, stderr);
		return 2;
	}
	if (req.binary[0] != '/') {
		fprintf(stderr, "ward policy explain: --binary must be an absolute path\n");
		return 2;
	}
	errno = 0;
	pv = strtoul(port, &end, 10);
	if (errno || *end || !*port || pv == 0 || pv > 65535) {
		fprintf(stderr, "ward policy explain: invalid port '%s'\n", port);
		return 2;
	}
	req.port = (uint16_t)pv;
	if (!!req.method != !!path) {
		fprintf(stderr, "ward policy explain: --method and --path go together\n");
		return 2;
	}
	if (ward_host_normalize(host, strlen(host), nhost, sizeof(nhost)) < 0) {
		fprintf(stderr, "ward policy explain: invalid host '%s'\n", host);
		return 2;
	}
	req.host = nhost;
	req.host_is_dest_ip = ward_host_is_ip(nhost);
	if (path) {
		const char *q = strchr(path, '?');

		req.query = q ? q + 1 : NULL;
		/* the proxy's normalisation; a refused path matches no rule */
		if (ward_path_normalize(path, npath, sizeof(npath)) >= 0)
			req.path = npath;
		else
			fprintf(stderr,
				"ward policy explain: path '%s' is refused by normalisation "
				"(see docs/matching.md): it matches no rule\n",
				path);
	}

	r = ward_policy_load(file, &p, &diags, &err);
	ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "ward policy explain: %s\n", err.msg);
		return 2;
	}
	{
		/* the proxy's whole decision, as a proxy with interception and
		 * inference routing makes it (policy/request.h) */
		struct ward_request_in in = {
			.req = req, .can_terminate = true, .can_intercept = true, .inference = true
		};
		struct ward_request_verdict rv;

		in.kind = req.method ? WARD_REQ_HTTP : WARD_REQ_CONNECT;
		in.route_host = ward_request_route_host(p, req.host);
		ward_request_decide(p, &in, &rv);
		v = rv.net;
		if (rv.outcome == WARD_REQ_INFERENCE) {
			/* ward is the server: who may call is the inference decision */
			struct ward_client who = { .binary = req.binary };
			enum ward_inference_verdict iv = ward_decide_inference(p, &who);

			v.action =
				iv == WARD_INFERENCE_ALLOW ? WARD_ACTION_ALLOW : WARD_ACTION_DENY;
			v.failed =
				iv == WARD_INFERENCE_ALLOW ? WARD_FAILED_NONE : WARD_FAILED_BINARY;
			snprintf(v.reason, sizeof(v.reason), "%s",
				 iv == WARD_INFERENCE_ALLOW
					 ? "served by ward's inference layer: its routes decide each call"
					 : ward_inference_verdict_str(iv));
		}
	}
	if (json)
		print_json(&v);
	else
		print_text(&v);
	return v.action == WARD_ACTION_DENY ? 1 : 0;
}
