// SPDX-License-Identifier: MIT
/* ward logs ship: the local decision log into the central PostgreSQL store
 * (docs/fleet.md), once or continuously. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "commands.h"
#include "common/util.h"
#include "fleet/pg.h"
#include "fleet/ship.h"

static const char ship_usage[] =
	"Usage: ward logs ship --to URL [--log DB] [--follow] [--host NAME] [--batch N]\n"
	"                      [--json]\n"
	"\n"
	"Copy the decision log into the central PostgreSQL store (docs/fleet.md):\n"
	"every row with this machine's host id into ward.decisions, and the policies\n"
	"and binaries the rows name into ward.policies and ward.binaries, creating\n"
	"the schema when it is missing. Rows go in batches, each one transaction\n"
	"that reads and advances ward.hosts.shipped_id: a crash, a killed connection\n"
	"or a database restart loses the batch in flight and the next run resumes\n"
	"after the last committed one, so no row arrives twice and none is skipped.\n"
	"Rows pruned locally before they were shipped are an error naming their ids.\n"
	"\n"
	"Options:\n"
	"  --to URL       the store: postgresql://[user[:password]@][host][:port]/db\n"
	"                 (or a libpq key=value string; password also from ~/.pgpass\n"
	"                 or $PGPASSWORD)\n"
	"  --log DB       the decision log (default: $WARD_LOG, else\n"
	"                 /var/lib/ward/decisions.db); opened read-only\n"
	"  -f, --follow   keep shipping new rows as they are written until\n"
	"                 interrupted; a lost connection or a restarting database is\n"
	"                 retried with backoff (100 ms doubling to 5 s), forever\n"
	"  --host NAME    the host id the rows are stored under (default: the\n"
	"                 machine's hostname)\n"
	"  --batch N      rows per transaction (default 10000, at most 1000000)\n"
	"  --json         one JSON object per committed batch and one at the end:\n"
	"                 {\"host\", \"shipped_id\", \"rows\", \"total\", \"local_max_id\"}\n"
	"  -h, --help     this text\n"
	"\n"
	"Without --follow, a lost connection is retried 5 times before giving up.\n"
	"\n"
	"Exit status: 0 shipped (up to date, or interrupted with --follow), 1 the log\n"
	"or the store failed (the reason on stderr), 2 invalid options.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static bool should_stop(void *data)
{
	(void)data;
	return stop_requested;
}

static void note(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, "ward logs ship: %s\n", msg);
}

static void print_progress(FILE *f, const struct ward_ship_progress *p)
{
	fputs("{\"host\":", f);
	ward_json_str(f, p->host_id);
	fprintf(f,
		",\"shipped_id\":%" PRId64 ",\"rows\":%" PRIu64 ",\"total\":%" PRIu64
		",\"local_max_id\":%" PRId64 "}\n",
		p->shipped_id, p->rows, p->total, p->local_max_id);
	fflush(f);
}

static void on_batch(void *data, const struct ward_ship_progress *p)
{
	if (*(bool *)data)
		print_progress(stdout, p);
}

int cmd_logs_ship(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },	   { "log", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },	   { "host", required_argument, NULL, 'H' },
		{ "batch", required_argument, NULL, 'b' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },	   { 0 },
	};
	struct ward_ship_config cfg = { 0 };
	struct ward_ship_progress p = { 0 };
	struct ward_shipper *s = NULL;
	struct ward_error err = { 0 };
	bool follow = false, json = false;
	char red[512];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			cfg.url = optarg;
			break;
		case 'l':
			cfg.log_path = optarg;
			break;
		case 'f':
			follow = true;
			break;
		case 'H':
			if (!*optarg) {
				fputs("ward logs ship: --host needs a name\n", stderr);
				return 2;
			}
			cfg.host_id = optarg;
			break;
		case 'b': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || !n || n > WARD_SHIP_BATCH_MAX) {
				fprintf(stderr, "ward logs ship: --batch wants 1..%d, not '%s'\n",
					WARD_SHIP_BATCH_MAX, optarg);
				return 2;
			}
			cfg.batch = (uint32_t)n;
			break;
		}
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(ship_usage, stdout);
			return 0;
		default:
			fputs("Try 'ward logs ship --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ward logs ship: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!cfg.url) {
		fputs("ward logs ship: --to URL is required\n", stderr);
		return 2;
	}
	if (!cfg.log_path)
		cfg.log_path = ward_audit_default_path();

	r = ward_ship_new(&cfg, &s, &err);
	if (r < 0) {
		fprintf(stderr, "ward logs ship: %s\n", err.msg);
		return 1;
	}
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	r = ward_ship_run(s, follow,
			  &(struct ward_ship_hooks){ .stop = should_stop,
						     .note = note,
						     .batch = on_batch,
						     .data = &json },
			  &p, &err);
	if (r < 0) {
		fprintf(stderr, "ward logs ship: %s\n", err.msg);
		ward_ship_free(s);
		return 1;
	}
	ward_pg_url_redact(cfg.url, red, sizeof(red));
	if (json)
		print_progress(stdout, &p);
	else
		printf("shipped %" PRIu64 " rows as host '%s' to %s: central up to id %" PRId64
		       ", local up to %" PRId64 "\n",
		       p.total, ward_ship_host_id(s), red, p.shipped_id, p.local_max_id);
	ward_ship_free(s);
	return 0;
}
