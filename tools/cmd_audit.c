// SPDX-License-Identifier: MIT
/* ward audit verify|prune: check the decision log's hash chain; delete old
 * rows while keeping the rest verifiable. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "commands.h"
#include "common/util.h"

static const char usage_audit[] =
	"Usage: ward audit SUBCOMMAND [OPTIONS]\n"
	"\n"
	"Subcommands:\n"
	"  verify [--log DB] [--json]           check the decision log's hash chain\n"
	"  prune --retain AGE|SIZE [--log DB]   delete the oldest rows, keep the chain\n"
	"                                       verifiable\n";

static const char usage_verify[] =
	"Usage: ward audit verify [--log DB] [--json]\n"
	"\n"
	"Walk every row of the decision log in id order and recompute its hash from\n"
	"the previous row's hash and its own fields (docs/audit.md, 'The hash chain').\n"
	"Detects edited, deleted, inserted and reordered rows, rows that name a policy\n"
	"revision missing from the policies table or whose stored policy was edited,\n"
	"and a retention checkpoint no chained 'pruned' row vouches for. Names the\n"
	"first bad row. Removing rows at the very end cannot be detected from the log\n"
	"alone: compare the printed head with one recorded elsewhere.\n"
	"\n"
	"Options:\n"
	"  --log DB    the decision log (default: $WARD_LOG, else\n"
	"              /var/lib/ward/decisions.db); opened read-only\n"
	"  --json      one JSON object: intact, rows, first_id, last_id, head,\n"
	"              checkpoint_id, bad_id, problem\n"
	"\n"
	"Progress goes to standard error every million rows when it is a terminal.\n"
	"Exit status: 0 intact, 1 tampered, 2 usage or read error.\n";

static const char usage_prune[] =
	"Usage: ward audit prune --retain AGE|SIZE[,...] [--log DB] [--json]\n"
	"\n"
	"Delete the oldest rows of the decision log so that the remaining rows are\n"
	"younger than AGE (30d, 12h, 2w, 90m, 3600s) and the database is at most SIZE\n"
	"(500MB, 1GiB, 64K; K/M/G powers of 1000, KiB/MiB/GiB of 1024); both may be\n"
	"given, as '30d,1GB'. The rows to delete are verified first (a broken chain\n"
	"is refused, exit 1); the last deleted row's id and hash are stored in the\n"
	"meta table as the chain's new start, and a row layer=lifecycle rule=pruned\n"
	"records what was deleted. 'ward audit verify' keeps working afterwards.\n"
	"Safe while ward writes to the log (one write transaction).\n"
	"\n"
	"Exit status: 0 pruned (or nothing to prune), 1 refused or failed, 2 usage.\n";

static void progress(uint64_t rows, void *userdata)
{
	(void)userdata;
	fprintf(stderr, "\r%" PRIu64 " rows verified...", rows);
	fflush(stderr);
}

static int audit_verify(int argc, char **argv)
{
	enum { O_LOG = 256, O_JSON };
	static const struct option opts[] = {
		{ "log", required_argument, NULL, O_LOG },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_audit_verify v;
	struct ward_error err = { 0 };
	const char *path = NULL;
	bool json = false, tty;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_LOG:
			path = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(usage_verify, stdout);
			return 0;
		default:
			fputs(usage_verify, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ward audit verify: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	tty = isatty(STDERR_FILENO);
	r = ward_audit_verify(path, 1000000, tty ? progress : NULL, NULL, &v, &err);
	if (tty && r >= 0 && v.rows >= 1000000)
		fputs("\n", stderr);
	if (r < 0) {
		fprintf(stderr, "ward audit verify: %s\n", err.msg);
		return 2;
	}
	if (json) {
		printf("{\"intact\":%s,\"rows\":%" PRIu64 ",\"first_id\":%" PRId64
		       ",\"last_id\":%" PRId64 ",\"head\":\"%s\",\"checkpoint_id\":%" PRId64
		       ",\"bad_id\":%" PRId64 ",\"problem\":",
		       v.intact ? "true" : "false", v.rows, v.first_id, v.last_id, v.head,
		       v.checkpoint_id, v.bad_id);
		ward_json_str(stdout, v.intact ? NULL : v.problem);
		fputs("}\n", stdout);
	} else if (v.intact) {
		printf("%" PRIu64 " rows verified, chain intact (head %.16s", v.rows, v.head);
		if (v.checkpoint_id)
			printf(", from checkpoint id %" PRId64, v.checkpoint_id);
		printf(")\n");
	} else {
		printf("TAMPERED: first bad id %" PRId64 ": %s\n", v.bad_id, v.problem);
		printf("%" PRIu64 " rows verified before it (last good hash %.16s)\n", v.rows,
		       v.head);
	}
	return v.intact ? 0 : 1;
}

static int audit_prune(int argc, char **argv)
{
	enum { O_LOG = 256, O_RETAIN, O_JSON };
	static const struct option opts[] = {
		{ "log", required_argument, NULL, O_LOG },
		{ "retain", required_argument, NULL, O_RETAIN },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_audit_retain rt = { 0 };
	struct ward_audit_prune_result res;
	struct ward_error err = { 0 };
	const char *path = NULL;
	bool have = false, json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_LOG:
			path = optarg;
			break;
		case O_RETAIN:
			if (ward_audit_parse_retain(optarg, &rt) < 0) {
				fprintf(stderr,
					"ward audit prune: invalid --retain '%s' (e.g. 30d, "
					"500MB, 30d,1GB)\n",
					optarg);
				return 2;
			}
			have = true;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(usage_prune, stdout);
			return 0;
		default:
			fputs(usage_prune, stderr);
			return 2;
		}
	}
	if (!have || optind < argc) {
		fputs(usage_prune, stderr);
		return 2;
	}
	r = ward_audit_prune(path, &rt, ward_now_ns(), &res, &err);
	if (r < 0) {
		fprintf(stderr, "ward audit prune: %s\n", err.msg);
		return 1;
	}
	if (json)
		printf("{\"pruned\":%" PRIu64 ",\"checkpoint_id\":%" PRId64
		       ",\"checkpoint_hash\":%s%s%s"
		       ",\"marker_id\":%" PRId64 ",\"bytes_before\":%" PRIu64
		       ",\"bytes_after\":%" PRIu64 "}\n",
		       res.pruned, res.checkpoint_id, res.pruned ? "\"" : "",
		       res.pruned ? res.checkpoint_hash : "null", res.pruned ? "\"" : "",
		       res.marker_id, res.bytes_before, res.bytes_after);
	else if (res.pruned)
		printf("pruned %" PRIu64 " rows (ids up to %" PRId64 "), checkpoint hash %.16s, "
		       "%" PRIu64 " -> %" PRIu64 " bytes\n",
		       res.pruned, res.checkpoint_id, res.checkpoint_hash, res.bytes_before,
		       res.bytes_after);
	else
		printf("nothing to prune\n");
	return 0;
}

int cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_audit, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_audit, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "verify"))
		return audit_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "prune"))
		return audit_prune(argc - 1, argv + 1);
	fprintf(stderr, "ward audit: unknown subcommand '%s'\n%s", argv[1], usage_audit);
	return 2;
}
