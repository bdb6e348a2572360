// SPDX-License-Identifier: MIT
/* ward logs: print decision-log rows, filtered, as a table or JSON lines, and
 * optionally follow new ones. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/ocsf.h"
#include "commands.h"
#include "common/util.h"
#include "fleet/central.h"

static const char logs_usage[] =
	"Usage: ward logs [--log DB] [--json|--ocsf|--summary] [--follow] [--layer L]\n"
	"                 [--action A] [--binary B] [--host H] [--sandbox ID]\n"
	"                 [--session ID] [--since T] [--dest H]\n"
	"       ward logs --db URL [--host H] [the same options]\n"
	"       ward logs ship --to URL [--log DB] [--follow] [--host NAME] [--batch N]\n"
	"                 [--json]   (ward logs ship --help)\n"
	"\n"
	"Print the rows of ward's decision log in the order they were written: every\n"
	"allow, deny and audit decision made by the kernel programs, nftables, the\n"
	"proxy, the L7 rules, the DNS stub, inference routing, the filesystem watch and\n"
	"the sandbox lifecycle.\n"
	"\n"
	"Subcommands:\n"
	"  ship --to URL [--log DB] [--follow]   copy the log into the central\n"
	"                                        PostgreSQL store (docs/fleet.md)\n"
	"\n"
	"Options:\n"
	"  --log DB        the decision log (default: $WARD_LOG, else\n"
	"                  /var/lib/ward/decisions.db); opened read-only\n"
	"  --json          one JSON object per line with the fields id, ts_ns, sandbox,\n"
	"                  session, layer, action, binary, binary_sha256, via, pid, uid,\n"
	"                  cgroup, host, ip, port, protocol, method, path, rule, reason,\n"
	"                  policy_rev, hash;\n"
	"                  absent values are null\n"
	"  --ocsf          one OCSF 1.1 event per line for SIEMs: Network Activity\n"
	"                  (4001), HTTP Activity (4002) for l7/inference rows, File\n"
	"                  System Activity (1001), Process Activity (1007) for\n"
	"                  lifecycle rows (docs/audit.md, 'OCSF export')\n"
	"  --summary       only the summary below, not the rows\n"
	"  -f, --follow    after the matching rows, keep printing new ones as they are\n"
	"                  written (polled every 200 ms) until interrupted\n"
	"  --layer L       only this layer: kernel, nft, unix, proxy, l7, dns, inference,\n"
	"                  fs, seccomp, lifecycle, control, host\n"
	"  --action A      only this action: allow, deny, audit\n"
	"  --binary B      only this executable path; * ? [..] make it a glob\n"
	"                  (e.g. '/usr/bin/*')\n"
	"  --host H        only this destination host; globs as for --binary (with\n"
	"                  --db: only the rows shipped by host H)\n"
	"  --dest H        only this destination host, in both modes\n"
	"  --db URL        read the central PostgreSQL store (postgresql://...) instead\n"
	"                  of a local log: every host's rows (or --host H's), in host,\n"
	"                  then id order, with a HOST column first (--json: a host_id\n"
	"                  field first); --follow needs --host (docs/fleet.md)\n"
	"  --sandbox ID    only this sandbox\n"
	"  --session ID    only the rows of this session (ward exec; `ward sessions`)\n"
	"  --since T       only rows at or after T: an RFC 3339 time\n"
	"                  (2025-01-02T03:04:05Z, 2025-01-02T04:04:05.250+01:00), a unix\n"
	"                  time in seconds, or a duration before now (30s, 10m, 2h, 1d, 1w)\n"
	"  -h, --help      this text\n"
	"\n"
	"The table shows the local time with milliseconds, sandbox, layer, action,\n"
	"uid, binary, destination (host:port, ip:port or path), method, rule and reason;\n"
	"long cells are shortened (use --json for everything), and a summary of\n"
	"allowed / denied / audited rows per layer follows, with the inference calls'\n"
	"tokens (input, of which cached, output) and their cost in USD at the prices\n"
	"the rows name (docs/inference.md).\n"
	"\n"
	"Exit status: 0 on success, 1 when the log is missing or unreadable, 2 on\n"
	"invalid options.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

enum {
	W_TIME = 29,
	W_SANDBOX = 12,
	W_LAYER = 9,
	W_ACTION = 6,
	W_UID = 6,
	W_BINARY = 26,
	W_DEST = 34,
	W_METHOD = 7,
	W_RULE = 20,
	W_HOSTID = 16
};

#define N_LAYERS 12 /* ward_audit_layers; one more slot pools anything else */

struct counts {
	uint64_t allow, deny, audit;
};

#define N_PRICES 4 /* price versions named in the summary; more are counted */

struct inference_sum {
	uint64_t calls, tok_in, tok_cached, tok_out, unpriced;
	double cost;
	char prices[N_PRICES][32];
	size_t n_prices;
	bool more_prices;
};

struct logs_state {
	const char *origin; /* --db: the row's host_id */
	bool central;
	bool json;
	bool ocsf;
	bool summary_only;
	struct inference_sum inf;
	bool header_done;
	int64_t last_id;
	uint64_t rows;
	struct counts counts[N_LAYERS + 1];
};

/* Fit s into width columns: keep the tail of paths, the head of the rest. */
static void cell(char *out, size_t width, const char *s, bool keep_tail)
{
	size_t n;

	if (!s || !*s)
		s = "-";
	n = strlen(s);
	if (n <= width) {
		memcpy(out, s, n + 1);
	} else if (keep_tail) {
		memcpy(out, "...", 3);
		memcpy(out + 3, s + n - (width - 3), width - 3 + 1);
	} else {
		memcpy(out, s, width - 3);
		memcpy(out + width - 3, "...", 4);
	}
}

static void local_time(int64_t ts_ns, char out[40])
{
	time_t t = (time_t)(ts_ns / 1000000000);
	int ms = (int)((ts_ns % 1000000000) / 1000000);
	struct tm tm;
	char date[24], off[8];

	if (!localtime_r(&t, &tm)) {
		snprintf(out, 40, "%lld", (long long)ts_ns);
		return;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(off, sizeof(off), "%z", &tm);
	/* ISO 8601 extended offset: +0100 -> +01:00 */
	snprintf(out, 40, "%s.%03d%.3s:%.2s", date, ms, off, off + 3);
}

static void count_row(struct logs_state *s, const struct ward_audit_row *r)
{
	size_t i = 0;
	struct counts *c;

	while (i < N_LAYERS && strcmp(ward_audit_layers[i], r->layer ? r->layer : ""))
		i++;
	c = &s->counts[i];
	if (r->action && !strcmp(r->action, "allow"))
		c->allow++;
	else if (r->action && !strcmp(r->action, "deny"))
		c->deny++;
	else
		c->audit++;
}

/* The value of " key=" in an inference row's reason, before its free-text
 * outcome. false when absent. */
static bool reason_field(const char *reason, const char *key, char *out, size_t outsz)
{
	const char *end = strstr(reason, " outcome=");
	size_t klen = strlen(key), n;
	const char *p = reason;

	if (!end)
		end = reason + strlen(reason);
	for (; (p = strstr(p, key)) && p < end; p++) {
		if ((p != reason && p[-1] != ' ') || p[klen] != '=')
			continue;
		p += klen + 1;
		n = strcspn(p, " ");
		if (n >= outsz)
			return false;
		memcpy(out, p, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

static uint64_t reason_uint(const char *reason, const char *key)
{
	char v[32];

	return reason_field(reason, key, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

/* Tokens and cost of an inference call's row (rows without usage add
 * nothing). */
static void sum_inference(struct inference_sum *sum, const struct ward_audit_row *r)
{
	char v[32];
	size_t i;

	if (!r->layer || strcmp(r->layer, "inference") || !r->reason ||
	    !reason_field(r->reason, "prompt_tokens", v, sizeof(v)))
		return;
	sum->calls++;
	sum->tok_in += strtoull(v, NULL, 10);
	sum->tok_out += reason_uint(r->reason, "completion_tokens");
	sum->tok_cached += reason_uint(r->reason, "cached_tokens");
	if (!reason_field(r->reason, "cost_usd", v, sizeof(v)) || !strcmp(v, "unknown")) {
		sum->unpriced++;
		return;
	}
	sum->cost += strtod(v, NULL);
	if (!reason_field(r->reason, "prices", v, sizeof(v)))
		return;
	for (i = 0; i < sum->n_prices && strcmp(sum->prices[i], v); i++)
		;
	if (i < sum->n_prices)
		return;
	if (sum->n_prices == N_PRICES) {
		sum->more_prices = true;
		return;
	}
	snprintf(sum->prices[sum->n_prices++], sizeof(sum->prices[0]), "%s", v);
}

static void print_inference_sum(const struct inference_sum *sum)
{
	if (!sum->calls)
		return;
	printf("  inference: %llu call%s with usage, tokens %llu in (%llu cached) %llu out, "
	       "cost %.6f USD",
	       (unsigned long long)sum->calls, sum->calls == 1 ? "" : "s",
	       (unsigned long long)sum->tok_in, (unsigned long long)sum->tok_cached,
	       (unsigned long long)sum->tok_out, sum->cost);
	for (size_t i = 0; i < sum->n_prices; i++)
		printf("%s%s", i ? ", " : " (prices ", sum->prices[i]);
	printf("%s%s", sum->more_prices ? ", ..." : "", sum->n_prices ? ")" : "");
	if (sum->unpriced)
		printf("; %llu call%s without a price", (unsigned long long)sum->unpriced,
		       sum->unpriced == 1 ? "" : "s");
	putchar('\n');
}

static void print_summary(const struct logs_state *s)
{
	if (!s->rows) {
		puts("no matching decisions");
		return;
	}
	/* after a table, an empty line sets it apart */
	printf("%s%llu decision%s\n", s->summary_only ? "" : "\n", (unsigned long long)s->rows,
	       s->rows == 1 ? "" : "s");
	for (size_t i = 0; i <= N_LAYERS; i++) {
		const struct counts *c = &s->counts[i];
		if (!c->allow && !c->deny && !c->audit)
			continue;
		printf("  %-10s %8llu allowed %8llu denied %8llu audited\n",
		       i < N_LAYERS ? ward_audit_layers[i] : "other", (unsigned long long)c->allow,
		       (unsigned long long)c->deny, (unsigned long long)c->audit);
	}
	print_inference_sum(&s->inf);
}

static void print_json(const struct ward_audit_row *r, const char *origin)
{
	FILE *o = stdout;

	if (origin) {
		fputs("{\"host_id\":", o);
		ward_json_str(o, origin);
		fputc(',', o);
	} else {
		fputc('{', o);
	}
	printf("\"id\":%lld,\"ts_ns\":%lld,\"sandbox\":", (long long)r->id, (long long)r->ts_ns);
	ward_json_str(o, r->sandbox);
	fputs(",\"session\":", o);
	ward_json_str(o, r->session);
	fputs(",\"layer\":", o);
	ward_json_str(o, r->layer);
	fputs(",\"action\":", o);
	ward_json_str(o, r->action);
	fputs(",\"binary\":", o);
	ward_json_str(o, r->binary);
	fputs(",\"binary_sha256\":", o);
	ward_json_str(o, r->binary_sha256);
	fputs(",\"via\":", o);
	ward_json_str(o, r->via);
	if (r->has_pid)
		printf(",\"pid\":%lld", (long long)r->pid);
	else
		fputs(",\"pid\":null", o);
	if (r->has_uid)
		printf(",\"uid\":%lld", (long long)r->uid);
	else
		fputs(",\"uid\":null", o);
	fputs(",\"cgroup\":", o);
	ward_json_str(o, r->cgroup);
	fputs(",\"host\":", o);
	ward_json_str(o, r->host);
	fputs(",\"ip\":", o);
	ward_json_str(o, r->ip);
	if (r->has_port)
		printf(",\"port\":%lld", (long long)r->port);
	else
		fputs(",\"port\":null", o);
	fputs(",\"protocol\":", o);
	ward_json_str(o, r->protocol);
	fputs(",\"method\":", o);
	ward_json_str(o, r->method);
	fputs(",\"path\":", o);
	ward_json_str(o, r->path);
	fputs(",\"rule\":", o);
	ward_json_str(o, r->rule);
	fputs(",\"reason\":", o);
	ward_json_str(o, r->reason);
	fputs(",\"policy_rev\":", o);
	ward_json_str(o, r->policy_rev);
	fputs(",\"hash\":", o);
	ward_json_str(o, r->hash);
	fputs("}\n", o);
}

static void print_table_row(struct logs_state *s, const struct ward_audit_row *r)
{
	char t[40], sb[W_SANDBOX + 1], bin[W_BINARY + 1], dst[W_DEST + 1], rule[W_RULE + 1];
	char meth[W_METHOD + 1], dest[4200], uid[24], hid[W_HOSTID + 1];

	if (!s->header_done && s->central)
		printf("%-*s ", W_HOSTID, "HOST");
	if (!s->header_done) {
		printf("%-*s %-*s %-*s %-*s %-*s %-*s %-*s %-*s %-*s %s\n", W_TIME, "TIME",
		       W_SANDBOX, "SANDBOX", W_LAYER, "LAYER", W_ACTION, "ACTION", W_UID, "UID",
		       W_BINARY, "BINARY", W_DEST, "DESTINATION", W_METHOD, "METHOD", W_RULE,
		       "RULE", "REASON");
		s->header_done = true;
	}
	local_time(r->ts_ns, t);
	ward_audit_row_destination(r, dest, sizeof(dest));
	cell(sb, W_SANDBOX, r->sandbox, false);
	cell(bin, W_BINARY, r->binary, true);
	cell(dst, W_DEST, dest, false);
	cell(meth, W_METHOD, r->method, false);
	cell(rule, W_RULE, r->rule, false);
	if (s->central) {
		cell(hid, W_HOSTID, s->origin, false);
		printf("%-*s ", W_HOSTID, hid);
	}
	if (r->has_uid)
		snprintf(uid, sizeof(uid), "%lld", (long long)r->uid);
	else
		snprintf(uid, sizeof(uid), "-");
	printf("%-*s %-*s %-*s %-*s %-*s %-*s %-*s %-*s %-*s %s\n", W_TIME, t, W_SANDBOX, sb,
	       W_LAYER, r->layer ? r->layer : "-", W_ACTION, r->action ? r->action : "-", W_UID,
	       uid, W_BINARY, bin, W_DEST, dst, W_METHOD, meth, W_RULE, rule,
	       r->reason && *r->reason ? r->reason : "-");
}

static int on_row(const struct ward_audit_row *r, void *userdata)
{
	struct logs_state *s = userdata;

	s->last_id = r->id;
	s->rows++;
	count_row(s, r);
	sum_inference(&s->inf, r);
	if (s->summary_only)
		return 0;
	if (s->ocsf)
		ward_ocsf_print(stdout, r);
	else if (s->json)
		print_json(r, s->central ? s->origin : NULL);
	else
		print_table_row(s, r);
	return 0;
}

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("ward logs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ward logs --help'.\n", stderr);
	return 2;
}

static void follow_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: wake the sleep */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* A row source: every row after f->after_id, through on_row. */
typedef int (*rows_each_fn)(void *src, const struct ward_audit_filter *f, struct logs_state *s,
			    struct ward_error *err);

/* The rows after s->last_id from each(src); with follow, then the new ones
 * every 200 ms until SIGINT/SIGTERM. 0, or -errno with err set. */
static int print_rows(rows_each_fn each, void *src, struct ward_audit_filter *f,
		      struct logs_state *s, bool follow, struct ward_error *err)
{
	int r;

	if (follow)
		follow_signals();
	for (;;) {
		f->after_id = s->last_id;
		r = each(src, f, s, err);
		if (r < 0)
			return r;
		fflush(stdout);
		if (!follow || stop_requested)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
		if (stop_requested)
			return 0;
	}
}

static int local_each(void *src, const struct ward_audit_filter *f, struct logs_state *s,
		      struct ward_error *err)
{
	return ward_audit_reader_each(src, f, on_row, s, err);
}

static int on_central_row(const char *host_id, const struct ward_audit_row *r, void *userdata)
{
	struct logs_state *s = userdata;

	s->origin = host_id;
	return on_row(r, s);
}

struct central_src {
	struct ward_central *c;
	const char *host_id;
};

static int central_each(void *src, const struct ward_audit_filter *f, struct logs_state *s,
			struct ward_error *err)
{
	const struct central_src *cs = src;

	return ward_central_each(cs->c, cs->host_id, f, on_central_row, s, err);
}

/* ward logs --db: the same printer over the central store's rows. */
static int logs_central(const char *url, const char *host_id, struct ward_audit_filter *f,
			struct logs_state *s, bool follow)
{
	struct ward_central *c = NULL;
	struct ward_error err = { 0 };
	int r;

	s->central = true;
	r = ward_central_open(url, &c, &err);
	if (r < 0) {
		fprintf(stderr, "ward logs: %s\n", err.msg);
		return 1;
	}
	r = print_rows(central_each, &(struct central_src){ c, host_id }, f, s, follow, &err);
	ward_central_close(c);
	if (r < 0) {
		fprintf(stderr, "ward logs: %s\n", err.msg);
		return 1;
	}
	if (!s->json && !s->ocsf)
		print_summary(s);
	return 0;
}

int cmd_logs(int argc, char **argv)
{
	enum {
		O_LOG = 256,
		O_JSON,
		O_OCSF,
		O_SUMMARY,
		O_LAYER,
		O_ACTION,
		O_BINARY,
		O_HOST,
		O_SANDBOX,
		O_SESSION,
		O_SINCE,
		O_DB,
		O_DEST
	};
	static const struct option opts[] = {
		{ "log", required_argument, NULL, O_LOG },
		{ "json", no_argument, NULL, O_JSON },
		{ "ocsf", no_argument, NULL, O_OCSF },
		{ "summary", no_argument, NULL, O_SUMMARY },
		{ "follow", no_argument, NULL, 'f' },
		{ "layer", required_argument, NULL, O_LAYER },
		{ "action", required_argument, NULL, O_ACTION },
		{ "binary", required_argument, NULL, O_BINARY },
		{ "host", required_argument, NULL, O_HOST },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ "session", required_argument, NULL, O_SESSION },
		{ "since", required_argument, NULL, O_SINCE },
		{ "db", required_argument, NULL, O_DB },
		{ "dest", required_argument, NULL, O_DEST },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_audit_filter f = { 0 };
	struct logs_state s = { 0 };
	struct ward_audit_reader *rd = NULL;
	struct ward_error err = { 0 };
	const char *path = NULL, *db = NULL, *host_arg = NULL;
	bool follow = false;
	int c, r;

	if (argc > 1 && !strcmp(argv[1], "ship"))
		return cmd_logs_ship(argc - 1, argv + 1);
	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case O_LOG:
			path = optarg;
			break;
		case O_JSON:
			s.json = true;
			break;
		case O_OCSF:
			s.ocsf = true;
			break;
		case O_SUMMARY:
			s.summary_only = true;
			break;
		case 'f':
			follow = true;
			break;
		case O_LAYER:
			if (!ward_audit_layer_valid(optarg))
				return bad_usage("unknown layer '%s' (kernel, nft, proxy, l7, dns, "
						 "inference, fs, lifecycle)",
						 optarg);
			f.layer = optarg;
			break;
		case O_ACTION:
			if (!ward_audit_action_valid(optarg))
				return bad_usage("unknown action '%s' (allow, deny, audit)",
						 optarg);
			f.action = optarg;
			break;
		case O_BINARY:
			f.binary = optarg;
			break;
		case O_HOST:
			host_arg = optarg;
			break;
		case O_DEST:
			f.host = optarg;
			break;
		case O_DB:
			db = optarg;
			break;
		case O_SANDBOX:
			f.sandbox = optarg;
			break;
		case O_SESSION:
			f.session = optarg;
			break;
		case O_SINCE:
			if (ward_audit_parse_time(optarg, ward_now_ns(), &f.since_ns) < 0)
				return bad_usage("invalid time '%s' (RFC 3339, unix seconds, or a "
						 "duration such as 10m, 2h, 1d)",
						 optarg);
			break;
		case 'h':
			fputs(logs_usage, stdout);
			return 0;
		default:
			fputs("Try 'ward logs --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (s.summary_only && (s.json || s.ocsf || follow))
		return bad_usage("--summary goes with neither --json, --ocsf nor --follow");
	if (db) {
		if (path)
			return bad_usage("--db and --log exclude each other");
		if (follow && !host_arg)
			return bad_usage("--follow with --db needs --host");
		return logs_central(db, host_arg, &f, &s, follow);
	}
	if (host_arg && f.host)
		return bad_usage("--host and --dest both name the destination host");
	if (host_arg)
		f.host = host_arg;
	if (!path)
		path = ward_audit_default_path();

	r = ward_audit_reader_open(path, &rd, &err);
	if (r < 0) {
		fprintf(stderr, "ward logs: %s\n", err.msg);
		return 1;
	}
	r = print_rows(local_each, rd, &f, &s, follow, &err);
	ward_audit_reader_close(rd);
	if (r < 0) {
		fprintf(stderr, "ward logs: %s\n", err.msg);
		return 1;
	}
	if (!s.json && !s.ocsf)
		print_summary(&s);
	return 0;
}
