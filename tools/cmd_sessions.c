// SPDX-License-Identifier: MIT
/* ward sessions: the sessions of the daemon's sandboxes, from the decision log. */
#include <string.h>

#include "commands.h"
#include "common/cleanup.h"
#include "daemon_cli.h"

DEFINE_CLEANUP(struct ward_client *, ward_client_free)

static const char usage_sessions[] =
	"Usage: ward sessions [NAME] [--json] [--socket PATH]\n"
	"\n"
	"List the sessions ('ward exec') of every sandbox of the daemon, or of the\n"
	"sandbox NAME, oldest first, one line each:\n"
	"  ID        the session id (its rows carry it: 'ward logs --session ID')\n"
	"  SANDBOX   the sandbox it ran in\n"
	"  START     when it started (local time)\n"
	"  DURATION  how long it ran, or has run so far\n"
	"  STATUS    its exit status (ward run's contract: 128+N for signal N, 125\n"
	"            setup, 126, 127), or 'running'\n"
	"  ALLOW     decision rows that allowed something, all layers together\n"
	"  DENY      decision rows that refused something\n"
	"  TOKENS    inference tokens in/out\n"
	"  COST      inference cost in USD\n"
	"  COMMAND   the command line\n"
	"\n"
	"Options:\n"
	"  --json              one JSON object per session and line: id, sandbox,\n"
	"                      command, start_ns, end_ns (null while running),\n"
	"                      duration_ms, status (null while running), rows (per\n"
	"                      layer: {\"allow\":N,\"deny\":M}), tokens_in, tokens_out,\n"
	"                      cost_usd (docs/daemon.md)\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Members of the group ward-audit may list sessions.\n"
	"\n"
	"Exit status: 0 listed, 1 the daemon refused or is unreachable, 2 usage error.\n";

static void count_rows(json_t *rows, long long *allow, long long *deny)
{
	const char *layer;
	json_t *v;

	*allow = *deny = 0;
	json_object_foreach(rows, layer, v) {
		*allow += json_integer_value(json_object_get(v, "allow"));
		*deny += json_integer_value(json_object_get(v, "deny"));
	}
}

static void print_table(json_t *list)
{
	size_t i;
	json_t *s;

	printf("%-16s %-16s %-19s %9s %7s %6s %6s %15s %8s  %s\n", "ID", "SANDBOX", "START",
	       "DURATION", "STATUS", "ALLOW", "DENY", "TOKENS", "COST", "COMMAND");
	json_array_foreach(list, i, s) {
		json_t *status = json_object_get(s, "status");
		char start[32], dur[32], st[16], tok[48], cost[32], al[24], de[24];
		long long allow, deny;

		cli_format_time((uint64_t)json_integer_value(json_object_get(s, "start_ns")), start,
				sizeof(start));
		cli_format_duration((uint64_t)json_integer_value(json_object_get(s, "duration_ms")),
				    dur, sizeof(dur));
		if (json_is_integer(status))
			snprintf(st, sizeof(st), "%lld", (long long)json_integer_value(status));
		else
			snprintf(st, sizeof(st), "running");
		/* null: the session's rows are not in the log yet (unknown, not 0) */
		if (json_is_integer(json_object_get(s, "tokens_in")))
			snprintf(tok, sizeof(tok), "%lld/%lld",
				 (long long)json_integer_value(json_object_get(s, "tokens_in")),
				 (long long)json_integer_value(json_object_get(s, "tokens_out")));
		else
			snprintf(tok, sizeof(tok), "-");
		if (json_is_number(json_object_get(s, "cost_usd")))
			snprintf(cost, sizeof(cost), "%.4f",
				 json_number_value(json_object_get(s, "cost_usd")));
		else
			snprintf(cost, sizeof(cost), "-");
		if (json_is_object(json_object_get(s, "rows"))) {
			count_rows(json_object_get(s, "rows"), &allow, &deny);
			snprintf(al, sizeof(al), "%lld", allow);
			snprintf(de, sizeof(de), "%lld", deny);
		} else {
			snprintf(al, sizeof(al), "-");
			snprintf(de, sizeof(de), "-");
		}
		printf("%-16s %-16s %-19s %9s %7s %6s %6s %15s %8s  %s\n",
		       json_string_value(json_object_get(s, "id")) ?: "?",
		       json_string_value(json_object_get(s, "sandbox")) ?: "?", start, dur, st, al,
		       de, tok, cost, json_string_value(json_object_get(s, "command")) ?: "");
	}
}

int cmd_sessions(int argc, char **argv)
{
	static const char prog[] = "ward sessions";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	const char *socket = NULL, *name = NULL;
	bool json = false;
	json_t *list, *s;
	size_t i;

	for (int k = 1; k < argc; k++) {
		int r;

		if (cli_is_help(argv[k])) {
			fputs(usage_sessions, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &k, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (!strcmp(argv[k], "--json")) {
			json = true;
		} else if (argv[k][0] == '-' || name) {
			fprintf(stderr, "%s: unexpected argument '%s'\n%s", prog, argv[k],
				usage_sessions);
			return 2;
		} else {
			name = argv[k];
		}
	}
	req = json_pack("{s:s}", "verb", "sessions");
	if (req && name)
		json_object_set_new(req, "name", json_string(name));
	c = cli_connect(prog, socket);
	if (!req || !c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	list = json_object_get(reply, "sessions");
	if (!json_is_array(list)) {
		fprintf(stderr, "%s: the daemon's reply has no session list\n", prog);
		return 1;
	}
	if (json) {
		json_array_foreach(list, i, s)
			cli_print_json(stdout, s);
	} else if (!json_array_size(list)) {
		printf("no sessions%s%s\n", name ? " in " : "", name ? name : "");
	} else {
		print_table(list);
	}
	return 0;
}
