// SPDX-License-Identifier: MIT
/* ward replay: what would this policy have changed? Re-decides the logged
 * requests under another policy (src/audit/replay.c) and prints the
 * decisions that change, grouped. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/replay.h"
#include "commands.h"
#include "fleet/central.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "policy/policy.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char usage_replay[] =
	"Usage: ward replay --policy FILE [--log DB] [--json] [--sandbox ID] [--session ID]\n"
	"                   [--since T] [--examples N]\n"
	"       ward replay --db URL --policy FILE [--host H] [the same options]\n"
	"\n"
	"Re-decide every replayable row of the decision log under the policy FILE,\n"
	"with the decision code the live path uses (kernel rows: the BPF programs'\n"
	"egress decision; proxy and l7 rows: the proxy's decision; dns rows: the DNS\n"
	"stub's; fs rows: the filesystem decision of 'ward policy test'), and report\n"
	"each decision that would change, grouped by layer, old -> new action and\n"
	"old -> new rule, with counts and examples. Unchanged decisions are counted;\n"
	"rows that cannot be replayed (lifecycle, nft, protected paths, inference,\n"
	"missing fields, and rows whose logged action their own policy\n"
	"does not reproduce: upstream failures, SSRF blocks, malformed requests) are\n"
	"counted by reason.\n"
	"\n"
	"Options:\n"
	"  --log DB        the decision log (default: $WARD_LOG, else\n"
	"                  /var/lib/ward/decisions.db); opened read-only\n"
	"  --db URL        replay the rows of the central PostgreSQL store\n"
	"                  (postgresql://...) instead of a local log: every host's, or\n"
	"                  --host H's; each example names its host (docs/fleet.md)\n"
	"  --host H        with --db: only the rows shipped by host H\n"
	"  --policy FILE   the policy to replay under (required)\n"
	"  --json          one JSON object: policy_rev, rows, replayed, unchanged,\n"
	"                  changed, transitions, groups (with examples), not_replayable\n"
	"  --sandbox ID    only rows of this sandbox\n"
	"  --session ID    only rows of this session (each example names its session)\n"
	"  --since T       only rows at or after T (as for 'ward logs')\n"
	"  --examples N    examples per group (default 3)\n"
	"\n"
	"Exit status: 0 when no decision would change, 1 when some would, 2 on\n"
	"errors (usage, unreadable log, invalid policy).\n";

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void print_dest(FILE *o, const struct ward_replay_example *x)
{
	const char *h = x->host ? x->host : x->ip;

	if (h && x->has_port)
		fprintf(o, strchr(h, ':') ? "[%s]:%" PRId64 : "%s:%" PRId64, h, x->port);
	else
		fputs(or_dash(h), o);
}

static void print_text(const struct ward_replay_report *rep)
{
	for (size_t i = 0; i < rep->n_groups; i++) {
		const struct ward_replay_group *g = &rep->groups[i];

		printf("%s %s -> %s  rule %s -> %s  (%" PRIu64 " decision%s)\n", g->layer, g->from,
		       g->to, or_dash(g->old_rule), or_dash(g->new_rule), g->count,
		       g->count == 1 ? "" : "s");
		for (size_t j = 0; j < g->n_examples; j++) {
			const struct ward_replay_example *x = &g->examples[j];

			printf("    id %" PRId64 "  ", x->id);
			if (x->origin)
				printf("host %s  ", x->origin);
			if (x->session)
				printf("session %s  ", x->session);
			printf("%s  ", or_dash(x->binary));
			print_dest(stdout, x);
			if (x->method)
				printf("  %s %s", x->method, or_dash(x->path));
			printf("\n      was: %s\n      now: %s\n", or_dash(x->old_reason),
			       or_dash(x->new_reason));
		}
	}
	if (rep->n_skips) {
		printf("not replayable:\n");
		for (size_t i = 0; i < rep->n_skips; i++)
			printf("  %8" PRIu64 "  %s\n", rep->skips[i].count, rep->skips[i].reason);
	}
	printf("%" PRIu64 " rows, %" PRIu64 " replayed under policy %.12s: %" PRIu64
	       " unchanged, %" PRIu64 " would change (%" PRIu64 " allow->deny, %" PRIu64
	       " deny->allow, %" PRIu64 " audit), %" PRIu64 " not replayable\n",
	       rep->rows, rep->replayed, rep->policy_rev, rep->unchanged, rep->changed,
	       rep->allow_to_deny, rep->deny_to_allow, rep->other_changes, rep->skipped);
}

static void json_kv(FILE *o, const char *k, const char *v, bool comma)
{
	fprintf(o, "%s\"%s\":", comma ? "," : "", k);
	ward_json_str(o, v);
}

static void print_json(const struct ward_replay_report *rep)
{
	FILE *o = stdout;

	fprintf(o,
		"{\"policy_rev\":\"%s\",\"rows\":%" PRIu64 ",\"replayed\":%" PRIu64
		",\"unchanged\":%" PRIu64 ",\"changed\":%" PRIu64
		",\"not_replayable_total\":%" PRIu64 ",\"transitions\":{\"allow->deny\":%" PRIu64
		",\"deny->allow\":%" PRIu64 ",\"audit\":%" PRIu64 "},\"groups\":[",
		rep->policy_rev, rep->rows, rep->replayed, rep->unchanged, rep->changed,
		rep->skipped, rep->allow_to_deny, rep->deny_to_allow, rep->other_changes);
	for (size_t i = 0; i < rep->n_groups; i++) {
		const struct ward_replay_group *g = &rep->groups[i];

		fputs(i ? ",{" : "{", o);
		json_kv(o, "layer", g->layer, false);
		json_kv(o, "from", g->from, true);
		json_kv(o, "to", g->to, true);
		json_kv(o, "old_rule", g->old_rule, true);
		json_kv(o, "new_rule", g->new_rule, true);
		fprintf(o, ",\"count\":%" PRIu64 ",\"examples\":[", g->count);
		for (size_t j = 0; j < g->n_examples; j++) {
			const struct ward_replay_example *x = &g->examples[j];

			fprintf(o, "%s{\"id\":%" PRId64, j ? "," : "", x->id);
			if (x->origin)
				json_kv(o, "host_id", x->origin, true);
			json_kv(o, "sandbox", x->sandbox, true);
			json_kv(o, "session", x->session, true);
			json_kv(o, "binary", x->binary, true);
			json_kv(o, "host", x->host, true);
			json_kv(o, "ip", x->ip, true);
			if (x->has_port)
				fprintf(o, ",\"port\":%" PRId64, x->port);
			else
				fputs(",\"port\":null", o);
			json_kv(o, "method", x->method, true);
			json_kv(o, "path", x->path, true);
			json_kv(o, "old_reason", x->old_reason, true);
			json_kv(o, "new_reason", x->new_reason, true);
			fputs("}", o);
		}
		fputs("]}", o);
	}
	fputs("],\"not_replayable\":{", o);
	for (size_t i = 0; i < rep->n_skips; i++) {
		fputs(i ? "," : "", o);
		ward_json_str(o, rep->skips[i].reason);
		fprintf(o, ":%" PRIu64, rep->skips[i].count);
	}
	fputs("}}\n", o);
}

int cmd_replay(int argc, char **argv)
{
	enum {
		O_LOG = 256,
		O_POLICY,
		O_JSON,
		O_SANDBOX,
		O_SESSION,
		O_SINCE,
		O_EXAMPLES,
		O_DB,
		O_HOST
	};
	static const struct option opts[] = {
		{ "log", required_argument, NULL, O_LOG },
		{ "db", required_argument, NULL, O_DB },
		{ "host", required_argument, NULL, O_HOST },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "json", no_argument, NULL, O_JSON },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ "session", required_argument, NULL, O_SESSION },
		{ "since", required_argument, NULL, O_SINCE },
		{ "examples", required_argument, NULL, O_EXAMPLES },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
	struct ward_replay_opts o = { 0 };
	struct ward_replay_report rep;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	const char *path = NULL, *policy = NULL, *db = NULL, *host = NULL;
	bool json = false;
	char *end;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_LOG:
			path = optarg;
			break;
		case O_POLICY:
			policy = optarg;
			break;
		case O_DB:
			db = optarg;
			break;
		case O_HOST:
			host = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_SANDBOX:
			o.sandbox = optarg;
			break;
		case O_SESSION:
			o.session = optarg;
			break;
		case O_SINCE:
			if (ward_audit_parse_time(optarg, ward_now_ns(), &o.since_ns) < 0) {
				fprintf(stderr, "ward replay: invalid time '%s'\n", optarg);
				return 2;
			}
			break;
		case O_EXAMPLES:
			o.max_examples = strtoul(optarg, &end, 10);
			if (*end || !*optarg || o.max_examples == 0 || o.max_examples > 1000) {
				fprintf(stderr, "ward replay: --examples takes 1..1000\n");
				return 2;
			}
			break;
		case 'h':
			fputs(usage_replay, stdout);
			return 0;
		default:
			fputs(usage_replay, stderr);
			return 2;
		}
	}
	if (!policy || optind < argc) {
		fputs(usage_replay, stderr);
		return 2;
	}
	if ((db && path) || (host && !db)) {
		fprintf(stderr, "ward replay: %s\n",
			db ? "--db and --log exclude each other" : "--host goes with --db");
		return 2;
	}
	r = ward_policy_load(policy, &p, &diags, &err);
	ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "ward replay: %s\n", err.msg);
		return 2;
	}
	if (db) {
		struct ward_central *central = NULL;

		r = ward_central_open(db, &central, &err);
		if (r >= 0)
			r = ward_central_replay(central, host, p, &o, &rep, &err);
		ward_central_close(central);
	} else {
		r = ward_replay(path, p, &o, &rep, &err);
	}
	if (r < 0) {
		fprintf(stderr, "ward replay: %s\n", err.msg);
		return 2;
	}
	if (json)
		print_json(&rep);
	else
		print_text(&rep);
	r = rep.changed ? 1 : 0;
	ward_replay_report_free(&rep);
	return r;
}
