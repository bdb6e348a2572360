// SPDX-License-Identifier: MIT
/* ward policy suggest: a policy YAML that allows what the decision log
 * observed (src/audit/suggest.c). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/suggest.h"
#include "commands.h"
#include "common/cleanup.h"
#include "common/util.h"

static const char usage_suggest[] =
	"Usage: ward policy suggest [--log DB] [--sandbox ID] [--since T] [--denied-only]\n"
	"                           [--dns-port N] [-o FILE]\n"
	"\n"
	"Write a minimal policy (YAML, version 1) that allows the network traffic the\n"
	"decision log observed (allow, deny and audit rows; a 'ward run --learn' log:\n"
	"docs/learn.md): one network policy per binary, keyed by its file name,\n"
	"with an endpoint per host and port seen by the proxy (protocol: rest and one\n"
	"allow rule per method and path when requests were inspected; numeric, UUID\n"
	"and long hex path segments become '*'), names only seen as DNS queries (port\n"
	"443, or --dns-port), addresses only the kernel saw, and unix: endpoints for\n"
	"host sockets. The filesystem, landlock, process and inference sections are\n"
	"copied from the policy the rows ran with (the policies table), when the log\n"
	"has it: every inference route is kept (a comment says what the log shows of\n"
	"it), inference.binaries grows by the callers seen, and inference.local and\n"
	"the routes' provider hosts are never endpoints. Telemetry and update checks\n"
	"(*sentry*, *telemetry*, *statsig*, npm dist-tags, ...: docs/learn.md) are\n"
	"written commented out with the reason, never allowed. The paths of fs\n"
	"audit (learn mode) and denial rows are added to the filesystem section,\n"
	"collapsed to directories: read to read_only, written to read_write, the\n"
	"workdir as include_workdir (docs/learn.md, \"Filesystem\"). The output passes\n"
	"'ward policy check', and 'ward replay' of the same log under it reports the\n"
	"observed denials as deny -> allow (learn rows: audit -> allow).\n"
	"\n"
	"Options:\n"
	"  --log DB        the decision log (default: $WARD_LOG, else\n"
	"                  /var/lib/ward/decisions.db); opened read-only\n"
	"  --sandbox ID    only rows of this sandbox\n"
	"  --since T       only rows at or after T (as for 'ward logs')\n"
	"  --denied-only   only denied and audited requests (default: everything\n"
	"                  observed, so the result can replace the current policy)\n"
	"  --dns-port N    port for names seen only in DNS queries (default 443)\n"
	"  -o FILE         write to FILE instead of standard output\n"
	"\n"
	"Exit status: 0 written, 1 the log could not be read or FILE written, 2 usage.\n";

int cmd_policy_suggest(int argc, char **argv)
{
	enum { O_LOG = 256, O_SANDBOX, O_SINCE, O_DENIED, O_DNS_PORT };
	static const struct option opts[] = {
		{ "log", required_argument, NULL, O_LOG },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ "since", required_argument, NULL, O_SINCE },
		{ "denied-only", no_argument, NULL, O_DENIED },
		{ "dns-port", required_argument, NULL, O_DNS_PORT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_suggest_opts o = { 0 };
	struct ward_suggest_stats st;
	struct ward_error err = { 0 };
	const char *path = NULL, *outpath = NULL;
	_cleanup_fclose_ FILE *out = NULL;
	unsigned long port;
	char *end;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case O_LOG:
			path = optarg;
			break;
		case O_SANDBOX:
			o.sandbox = optarg;
			break;
		case O_SINCE:
			if (ward_audit_parse_time(optarg, ward_now_ns(), &o.since_ns) < 0) {
				fprintf(stderr, "ward policy suggest: invalid time '%s'\n", optarg);
				return 2;
			}
			break;
		case O_DENIED:
			o.denied_only = true;
			break;
		case O_DNS_PORT:
			port = strtoul(optarg, &end, 10);
			if (*end || !*optarg || port == 0 || port > 65535) {
				fprintf(stderr, "ward policy suggest: invalid port '%s'\n", optarg);
				return 2;
			}
			o.dns_port = (uint16_t)port;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'h':
			fputs(usage_suggest, stdout);
			return 0;
		default:
			fputs(usage_suggest, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ward policy suggest: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!path)
		path = ward_audit_default_path();
	if (outpath) {
		out = fopen(outpath, "we");
		if (!out) {
			fprintf(stderr, "ward policy suggest: %s: %s\n", outpath, strerror(errno));
			return 1;
		}
	}
	r = ward_suggest(path, &o, out ? out : stdout, &st, &err);
	if (r < 0) {
		fprintf(stderr, "ward policy suggest: %s\n", err.msg);
		return 1;
	}
	if (out && fclose(TAKE_PTR(out)) != 0) {
		fprintf(stderr, "ward policy suggest: %s: %s\n", outpath, strerror(errno));
		return 1;
	}
	fprintf(stderr,
		"ward policy suggest: %zu network policies, %zu endpoints, %zu rules from %" PRIu64
		" of %" PRIu64 " rows (%" PRIu64 " denied, %" PRIu64 " audited, %" PRIu64
		" allowed)%s%s\n",
		st.policies, st.endpoints, st.rules, st.used, st.rows, st.denied, st.audited,
		st.allowed, outpath ? "; wrote " : "", outpath ? outpath : "");
	return 0;
}
