// SPDX-License-Identifier: MIT
/* ward audit verify|prune: check the decision log's hash chain; delete old
 * rows while keeping the rest verifiable. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "commands.h"
#include "fleet/central.h"
#include "common/util.h"

static const char usage_audit[] =
	"Usage: ward audit SUBCOMMAND [OPTIONS]\n"
	"\n"
	"Subcommands:\n"
	"  verify [--log DB] [--json]           check the decision log's hash chain\n"
	"  verify --db URL [--host H] [--json]  check every host's chain in the central\n"
	"                                       store\n"
	"  prune --retain AGE|SIZE [--log DB]   delete the oldest rows, keep the chain\n"
	"                                       verifiable\n";

static const char usage_verify[] =
	"Usage: ward audit verify [--log DB] [--json]\n"
	"       ward audit verify --db URL [--host H] [--json]\n"
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
	"  --db URL    verify the central PostgreSQL store (postgresql://...) instead:\n"
	"              each host's chain from its first row (genesis, or the prune\n"
	"              checkpoint the host shipped), with the same checks, plus the\n"
	"              host's recorded checkpoint and shipped head (docs/fleet.md)\n"
	"  --host H    with --db: only host H (default: every host)\n"
	"  --json      one JSON object: intact, rows, first_id, last_id, head,\n"
	"              checkpoint_id, bad_id, problem (with --db: one per host, with\n"
	"              host_id first)\n"
	"\n"
	"Progress goes to standard error every million rows when it is a terminal.\n"
	"Exit status: 0 intact, 1 tampered (with --db: any host), 2 usage or read\n"
	"error.\n";

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

/* host: the central store's host id, NULL for a local log */
static void print_verify(const struct ward_audit_verify *v, const char *host, bool json)
{
	if (json) {
		fputs("{", stdout);
		if (host) {
			fputs("\"host_id\":", stdout);
			ward_json_str(stdout, host);
			fputs(",", stdout);
		}
		printf("\"intact\":%s,\"rows\":%" PRIu64 ",\"first_id\":%" PRId64
		       ",\"last_id\":%" PRId64 ",\"head\":\"%s\",\"checkpoint_id\":%" PRId64
		       ",\"bad_id\":%" PRId64 ",\"problem\":",
		       v->intact ? "true" : "false", v->rows, v->first_id, v->last_id, v->head,
		       v->checkpoint_id, v->bad_id);
		ward_json_str(stdout, v->intact ? NULL : v->problem);
		fputs("}\n", stdout);
		return;
	}
	if (host)
		printf("host %s: ", host);
	if (v->intact) {
		printf("%" PRIu64 " rows verified, chain intact (head %.16s", v->rows, v->head);
		if (host && v->rows)
			printf(", ids %" PRId64 "..%" PRId64, v->first_id, v->last_id);
		if (v->checkpoint_id)
			printf(", from checkpoint id %" PRId64, v->checkpoint_id);
		printf(")\n");
	} else {
		printf("TAMPERED: first bad id %" PRId64 ": %s\n", v->bad_id, v->problem);
		if (host)
			printf("host %s: ", host);
		printf("%" PRIu64 " rows verified before it (last good hash %.16s)\n", v->rows,
		       v->head);
	}
}

static int verify_central(const char *url, const char *host, bool json, bool tty)
{
	struct ward_central *c = NULL;
	struct ward_error err = { 0 };
	char **hosts = NULL;
	size_t n = 0, broken = 0;
	int r;

	r = ward_central_open(url, &c, &err);
	if (r < 0) {
		fprintf(stderr, "ward audit verify: %s\n", err.msg);
		return 2;
	}
	if (host) {
		hosts = calloc(2, sizeof(*hosts));
		if (hosts)
			hosts[0] = strdup(host);
		n = 1;
		r = hosts && hosts[0] ? 0 : ward_err(&err, -ENOMEM, "hosts");
	} else {
		r = ward_central_hosts(c, &hosts, &n, &err);
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct ward_audit_verify v;

		r = ward_central_verify(c, hosts[i], 1000000, tty ? progress : NULL, NULL, &v,
					&err);
		if (tty && r >= 0 && v.rows >= 1000000)
			fputs("\n", stderr);
		if (r < 0)
			break;
		print_verify(&v, hosts[i], json);
		if (!v.intact)
			broken++;
	}
	if (r >= 0 && !n && !json)
		printf("no hosts in the central store\n");
	if (r >= 0 && !json && n > 1)
		printf("%zu host%s, %zu intact, %zu tampered\n", n, n == 1 ? "" : "s", n - broken,
		       broken);
	ward_central_hosts_free(hosts, n);
	ward_central_close(c);
	if (r < 0) {
		fprintf(stderr, "ward audit verify: %s\n", err.msg);
		return 2;
	}
	return broken ? 1 : 0;
}

static int audit_verify(int argc, char **argv)
{
	enum { O_LOG = 256, O_JSON, O_DB, O_HOST };
	static const struct option opts[] = {
		{ "log", required_argument, NULL, O_LOG },
		{ "db", required_argument, NULL, O_DB },
		{ "host", required_argument, NULL, O_HOST },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_audit_verify v;
	struct ward_error err = { 0 };
	const char *path = NULL, *db = NULL, *host = NULL;
	bool json = false, tty;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_LOG:
			path = optarg;
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
	if ((db && path) || (host && !db)) {
		fprintf(stderr, "ward audit verify: %s\n",
			db ? "--db and --log exclude each other" : "--host goes with --db");
		return 2;
	}
	tty = isatty(STDERR_FILENO);
	if (db)
		return verify_central(db, host, json, tty);
	r = ward_audit_verify(path, 1000000, tty ? progress : NULL, NULL, &v, &err);
	if (tty && r >= 0 && v.rows >= 1000000)
		fputs("\n", stderr);
	if (r < 0) {
		fprintf(stderr, "ward audit verify: %s\n", err.msg);
		return 2;
	}
	print_verify(&v, NULL, json);
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
