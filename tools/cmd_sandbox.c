// SPDX-License-Identifier: MIT
/* ward sandbox create|list|stop|start|rm: named, long-lived sandboxes held by
 * `ward daemon` (docs/daemon.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common/cleanup.h"
#include "daemon_cli.h"

DEFINE_CLEANUP(struct ward_client *, ward_client_free)

static const char usage_sandbox[] =
	"Usage: ward sandbox SUBCOMMAND [--socket PATH] [ARGS...]\n"
	"\n"
	"Manage the named sandboxes of a running 'ward daemon'. A sandbox keeps its\n"
	"configuration, its policy and its own writable home across stop/start and\n"
	"daemon restarts; commands run in it as sessions ('ward exec').\n"
	"\n"
	"Subcommands:\n"
	"  create NAME --policy FILE [--workdir DIR] [--hosts FILE] [--upstream-ca FILE]\n"
	"              [--learn]\n"
	"         [--idle-timeout T]\n"
	"                           create the sandbox NAME and start it\n"
	"  list [--json]            every sandbox: state, policy revision, sessions, uptime\n"
	"  stop NAME                end its sessions and tear it down (configuration kept)\n"
	"  start NAME               start a stopped sandbox again\n"
	"  rm NAME                  stop it when running and delete it with its home\n"
	"\n"
	"Options (every subcommand):\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Run 'ward sandbox SUBCOMMAND --help' for details.\n"
	"\n"
	"Exit status: 0 done, 1 the daemon refused or failed (its reason on stderr),\n"
	"2 usage error.\n";

static const char usage_sandbox_create[] =
	"Usage: ward sandbox create NAME [--policy FILE] [--workdir DIR] [--hosts FILE]\n"
	"                           [--upstream-ca FILE] [--idle-timeout T] [--learn]\n"
	"                           [--socket PATH]\n"
	"\n"
	"Create the sandbox NAME in the daemon and start it: its namespaces, cgroup and\n"
	"every layer 'ward run' would set up for the policy (docs/sandbox.md), waiting\n"
	"for sessions ('ward exec NAME -- CMD'). NAME is 1 to 63 characters of a-z,\n"
	"0-9, '_', '.' and '-', starting with a letter or digit.\n"
	"\n"
	"The daemon reads the files itself, as root: relative paths are made absolute\n"
	"here first. It keeps a copy of the policy text (what a later 'ward sandbox\n"
	"start' uses) until 'ward policy apply' replaces it.\n"
	"\n"
	"Options:\n"
	"  --policy FILE       the policy; without it, the workdir's .ward/policy.yaml\n"
	"                      (a project's default; 'extends' layers on top). Errors\n"
	"                      are printed as FILE:LINE:COL: message and nothing is\n"
	"                      created\n"
	"  --workdir DIR       the sandbox's working directory, visible at its host\n"
	"                      path and the default directory of its sessions\n"
	"                      (default: the current directory)\n"
	"  --hosts FILE        hosts(5) entries for the proxy and DNS stub\n"
	"  --upstream-ca FILE  extra CA (PEM) trusted for upstream TLS\n"
	"  --idle-timeout T    stop the sandbox once it has had no session for T\n"
	"                      (500ms, 30s, 10m, 2h, 1d; a number alone is seconds);\n"
	"                      a control row in the log says so. Default: never\n"
	"  --learn             learn mode (docs/learn.md): what the policy would deny\n"
	"                      on the network is allowed and logged with action audit;\n"
	"                      kept across stop/start, shown by 'sandbox list'. Then\n"
	"                      'ward policy suggest --sandbox ID' writes a policy\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Prints the new sandbox's row as 'ward sandbox list' would.\n"
	"\n"
	"Exit status: 0 created and running, 1 refused (invalid policy, the name\n"
	"exists, not allowed, setup failed: the reason on stderr), 2 usage error.\n";

static const char usage_sandbox_list[] =
	"Usage: ward sandbox list [--json] [--socket PATH]\n"
	"\n"
	"List the daemon's sandboxes, one line each:\n"
	"  NAME      the sandbox's name\n"
	"  STATE     running, stopped, or failed (could not be started again; the\n"
	"            reason on the next line)\n"
	"  REV       the first 12 hex digits of the policy revision in force\n"
	"  SESSIONS  sessions running now\n"
	"  UPTIME    how long it has been running\n"
	"  WORKDIR   its working directory, then \"(learn mode)\" for a sandbox\n"
	"            created with --learn\n"
	"\n"
	"Options:\n"
	"  --json              one JSON object per sandbox and line, with the fields\n"
	"                      name, state, policy_rev, sessions, uptime_ms, workdir,\n"
	"                      created_ns, id, learn (docs/daemon.md)\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Members of the group ward-audit may list; managing needs root or the group\n"
	"ward.\n"
	"\n"
	"Exit status: 0 listed, 1 the daemon refused or is unreachable, 2 usage error.\n";

static const char usage_sandbox_stop[] =
	"Usage: ward sandbox stop NAME [--socket PATH]\n"
	"\n"
	"Stop the sandbox NAME: its sessions get SIGTERM and the sandbox is torn down\n"
	"(processes, cgroup, network namespace, layers). Its configuration, policy and\n"
	"home stay; it stays stopped across daemon restarts until 'ward sandbox\n"
	"start NAME'.\n"
	"\n"
	"Options:\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 stopped, 1 refused or failed, 2 usage error.\n";

static const char usage_sandbox_start[] =
	"Usage: ward sandbox start NAME [--socket PATH]\n"
	"\n"
	"Start the stopped sandbox NAME again with the policy text it keeps (the\n"
	"last one created or applied) and the same home directory.\n"
	"\n"
	"Options:\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 running, 1 refused or failed, 2 usage error.\n";

static const char usage_sandbox_rm[] =
	"Usage: ward sandbox rm NAME [--socket PATH]\n"
	"\n"
	"Delete the sandbox NAME: stop it first when it runs (its sessions end), then\n"
	"remove its configuration, policy copy and home directory. Its rows in the\n"
	"decision log stay.\n"
	"\n"
	"Options:\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 removed, 1 refused or failed, 2 usage error.\n";

struct create_args {
	const char *name, *policy, *workdir, *hosts, *upstream_ca, *idle, *socket;
	bool json;
	bool learn;
};

static int __attribute__((format(printf, 2, 3))) usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun '%s --help' for usage.\n", prog);
	return 2;
}

static void print_rows(json_t *list, bool header)
{
	size_t i;
	json_t *s;

	if (header)
		printf("%-20s %-8s %-12s %8s %8s  %s\n", "NAME", "STATE", "REV", "SESSIONS",
		       "UPTIME", "WORKDIR");
	json_array_foreach(list, i, s) {
		const char *state = json_string_value(json_object_get(s, "state"));
		const char *rev = json_string_value(json_object_get(s, "policy_rev"));
		const char *wd = json_string_value(json_object_get(s, "workdir"));
		json_int_t up = json_integer_value(json_object_get(s, "uptime_ms"));
		char upb[32] = "-";

		if (state && !strcmp(state, "running"))
			cli_format_duration((uint64_t)up, upb, sizeof(upb));
		printf("%-20s %-8s %-12.12s %8lld %8s  %s%s\n",
		       json_string_value(json_object_get(s, "name")) ?: "?", state ?: "?",
		       rev ?: "-", (long long)json_integer_value(json_object_get(s, "sessions")),
		       upb, wd ?: "-",
		       json_is_true(json_object_get(s, "learn")) ? "  (learn mode)" : "");
		if (json_string_value(json_object_get(s, "failure")))
			printf("%-20s   failed: %s\n", "",
			       json_string_value(json_object_get(s, "failure")));
	}
}

static int sandbox_create(int argc, char **argv)
{
	static const char prog[] = "ward sandbox create";
	static const char *const opts[] = { "--policy", "--workdir", "--hosts", "--upstream-ca",
					    "--idle-timeout" };
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *policy = NULL, *workdir = NULL, *hosts = NULL, *ca = NULL;
	struct create_args a = { 0 };
	const char **slots[] = { &a.policy, &a.workdir, &a.hosts, &a.upstream_ca, &a.idle };
	uint64_t idle_ms = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val;
		size_t k;
		int r;

		if (cli_is_help(arg)) {
			fputs(usage_sandbox_create, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &i, &a.socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (arg[0] != '-') {
			if (a.name)
				return usage_error(prog, "unexpected argument '%s'", arg);
			a.name = arg;
			continue;
		}
		if (!strcmp(arg, "--learn")) {
			a.learn = true;
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(opts); k++) {
			size_t n = strlen(opts[k]);

			if (!strncmp(arg, opts[k], n) && (arg[n] == '\0' || arg[n] == '='))
				break;
		}
		if (k == ARRAY_SIZE(opts))
			return usage_error(prog, "unknown option '%s'", arg);
		val = strchr(arg, '=') ? strchr(arg, '=') + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val || !*val)
			return usage_error(prog, "%s needs a value", opts[k]);
		*slots[k] = val;
	}
	if (!a.name)
		return usage_error(prog, "NAME is required");
	if (a.idle && cli_parse_duration_ms(a.idle, &idle_ms) < 0)
		return usage_error(prog, "--idle-timeout '%s': not a duration (30s, 10m, 2h)",
				   a.idle);
	if ((a.policy && !(policy = cli_abspath(prog, "--policy", a.policy))) ||
	    !(workdir = cli_abspath(prog, "--workdir", a.workdir ? a.workdir : ".")) ||
	    (a.hosts && !(hosts = cli_abspath(prog, "--hosts", a.hosts))) ||
	    (a.upstream_ca && !(ca = cli_abspath(prog, "--upstream-ca", a.upstream_ca))))
		return 1;

	req = json_pack("{s:s, s:s, s:s}", "verb", "sandbox.create", "name", a.name, "workdir",
			workdir);
	if (!req)
		return 1;
	if (policy)
		json_object_set_new(req, "policy", json_string(policy));
	if (hosts)
		json_object_set_new(req, "hosts", json_string(hosts));
	if (ca)
		json_object_set_new(req, "upstream_ca", json_string(ca));
	if (a.idle)
		json_object_set_new(req, "idle_timeout_ms", json_integer((json_int_t)idle_ms));
	if (a.learn) {
		json_object_set_new(req, "learn", json_true());
		fprintf(stderr, "ward: learn mode: what the policy would deny is allowed and "
				"logged as audit (docs/learn.md); not for untrusted code\n");
	}

	c = cli_connect(prog, a.socket);
	if (!c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	json_t *row = json_object_get(reply, "sandbox");
	if (json_is_object(row)) {
		json_t *one = json_array();

		cli_print_warnings(row);
		json_array_append(one, row);
		print_rows(one, true);
		json_decref(one);
	}
	return 0;
}

static int sandbox_list(int argc, char **argv)
{
	static const char prog[] = "ward sandbox list";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	const char *socket = NULL;
	bool json = false;
	size_t i;
	json_t *s, *list;

	for (int k = 1; k < argc; k++) {
		int r;

		if (cli_is_help(argv[k])) {
			fputs(usage_sandbox_list, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &k, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (!strcmp(argv[k], "--json"))
			json = true;
		else
			return usage_error(prog, "unexpected argument '%s'", argv[k]);
	}
	req = json_pack("{s:s}", "verb", "sandbox.list");
	c = cli_connect(prog, socket);
	if (!req || !c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	list = json_object_get(reply, "sandboxes");
	if (!json_is_array(list)) {
		fprintf(stderr, "%s: the daemon's reply has no sandbox list\n", prog);
		return 1;
	}
	if (json) {
		json_array_foreach(list, i, s)
			cli_print_json(stdout, s);
		return 0;
	}
	if (!json_array_size(list)) {
		printf("no sandboxes (create one: ward sandbox create NAME --policy FILE)\n");
		return 0;
	}
	print_rows(list, true);
	return 0;
}

/* stop / start / rm NAME */
static int sandbox_simple(int argc, char **argv, const char *verb, const char *usage,
			  const char *done)
{
	char prog[64];
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	const char *socket = NULL, *name = NULL;

	snprintf(prog, sizeof(prog), "ward sandbox %s", argv[0]);
	for (int k = 1; k < argc; k++) {
		int r;

		if (cli_is_help(argv[k])) {
			fputs(usage, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &k, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (argv[k][0] == '-')
			return usage_error(prog, "unknown option '%s'", argv[k]);
		if (name)
			return usage_error(prog, "unexpected argument '%s'", argv[k]);
		name = argv[k];
	}
	if (!name)
		return usage_error(prog, "NAME is required");
	req = json_pack("{s:s, s:s}", "verb", verb, "name", name);
	c = cli_connect(prog, socket);
	if (!req || !c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	cli_print_warnings(json_object_get(reply, "sandbox"));
	printf("%s %s\n", name, done);
	return 0;
}

int cmd_sandbox(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_sandbox, stderr);
		return 2;
	}
	if (cli_is_help(argv[1])) {
		fputs(usage_sandbox, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "create"))
		return sandbox_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return sandbox_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stop"))
		return sandbox_simple(argc - 1, argv + 1, "sandbox.stop", usage_sandbox_stop,
				      "stopped");
	if (!strcmp(argv[1], "start"))
		return sandbox_simple(argc - 1, argv + 1, "sandbox.start", usage_sandbox_start,
				      "running");
	if (!strcmp(argv[1], "rm"))
		return sandbox_simple(argc - 1, argv + 1, "sandbox.rm", usage_sandbox_rm,
				      "removed");
	fprintf(stderr, "ward sandbox: unknown subcommand '%s'\n%s", argv[1], usage_sandbox);
	return 2;
}
