// SPDX-License-Identifier: MIT
/* ward: run AI coding agents under a policy the kernel enforces. A thin front
 * end: each verb lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/log.h"

#ifndef WARD_VERSION
#define WARD_VERSION "0.1.0"
#endif

static const char usage[] =
	"Usage: ward [--verbose] COMMAND [ARGS...]\n"
	"\n"
	"Run AI coding agents (or any command) under a YAML policy that the Linux\n"
	"kernel enforces, and keep every decision in a tamper-evident log.\n"
	"\n"
	"Commands:\n"
	"  run --policy FILE [--log DB] [--workdir DIR] [--watch] -- CMD [ARG...]\n"
	"                         run CMD in a sandbox under the policy (--watch: apply\n"
	"                         the file again whenever it changes)\n"
	"  policy check FILE...   validate policies (errors as FILE:LINE:COL: message)\n"
	"  policy compile FILE [--json]\n"
	"                         print the compiled form\n"
	"  policy explain FILE --binary B --host H --port P [--method M --path P]\n"
	"                         the decision for one request and the rule that made it\n"
	"  policy test POLICY CASES.yaml [--json]\n"
	"                         check the verdicts a cases file expects\n"
	"  policy suggest --log DB [--sandbox ID] [--since T] [-o FILE]\n"
	"                         a policy that allows what the log observed\n"
	"  logs [--log DB] [--json|--ocsf] [--follow] [--layer L] [--action A] [--binary B]\n"
	"       [--host H] [--sandbox ID] [--since T]\n"
	"                         print decision-log rows, with a summary per layer\n"
	"  replay --policy FILE [--log DB | --db URL [--host H]] [--json] [--sandbox ID]\n"
	"         [--since T]\n"
	"                         report the logged decisions another policy would change\n"
	"  audit verify [--log DB | --db URL [--host H]] [--json]\n"
	"                         check the decision log's (or every host's) hash chain\n"
	"  audit prune --retain AGE|SIZE [--log DB]\n"
	"                         delete old rows, keep the chain verifiable\n"
	"  daemon [--socket PATH] [--state DIR] [--log DB] [--host-policy FILE]\n"
	"                         serve named sandboxes and their sessions (docs/daemon.md)\n"
	"  doctor [--json] [--cleanup]\n"
	"                         report which kernel features ward can use here;\n"
	"                         --cleanup removes what a crashed ward left behind\n"
	"\n"
	"Service mode (a running 'ward daemon'; --socket PATH, else $WARD_SOCKET):\n"
	"  sandbox create NAME --policy FILE [--workdir DIR] [--idle-timeout T] ...\n"
	"                         create a named, long-lived sandbox and start it\n"
	"  sandbox list [--json] | stop NAME | start NAME | rm NAME\n"
	"                         list and manage the daemon's sandboxes\n"
	"  exec NAME [--] CMD [ARG...]\n"
	"                         run CMD as a session in the sandbox NAME\n"
	"  sessions [NAME] [--json]\n"
	"                         sessions with status, rows, tokens and cost\n"
	"  policy apply NAME FILE [--wait] [--dry-run]\n"
	"                         switch a running sandbox to another policy\n"
	"  secret set NAME | list | rm NAME\n"
	"                         secrets for credentials (value on stdin)\n"
	"  host enforce --policy FILE [--scope CGROUP] [--audit] | status [--json] | stop\n"
	"                         host mode: per-binary egress for the whole machine\n"
	"\n"
	"Run 'ward COMMAND --help' for the options of one command.\n"
	"Decision log: --log, else $WARD_LOG, else /var/lib/ward/decisions.db.\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} verbs[] = {
		{ "run", cmd_run },	      { "policy", cmd_policy },	  { "logs", cmd_logs },
		{ "doctor", cmd_doctor },     { "audit", cmd_audit },	  { "replay", cmd_replay },
		{ "daemon", cmd_daemon },     { "sandbox", cmd_sandbox }, { "exec", cmd_exec },
		{ "sessions", cmd_sessions }, { "secret", cmd_secret },	  { "host", cmd_host },
	};
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("ward %s\n", WARD_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			ward_log_threshold = WARD_LOG_DEBUG;
		} else {
			fprintf(stderr, "ward: unknown option '%s'\n%s", argv[i], usage);
			return 2;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (!strcmp(argv[i], verbs[v].name))
			return verbs[v].fn(argc - i, argv + i);
	fprintf(stderr, "ward: unknown command '%s'\n%s", argv[i], usage);
	return 2;
}
