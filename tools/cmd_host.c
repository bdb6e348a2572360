// SPDX-License-Identifier: MIT
/* ward host enforce|status|stop: host mode, held by `ward daemon`
 * (docs/host.md). status also works without a daemon, from the pins. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common/cleanup.h"
#include "daemon_cli.h"
#include "daemon_ship.h"
#include "runtime/host.h"

DEFINE_CLEANUP(struct ward_client *, ward_client_free)

static const char usage_host[] =
	"Usage: ward host SUBCOMMAND [--socket PATH] [ARGS...]\n"
	"\n"
	"Host mode (docs/host.md): per-binary egress for every process of a cgroup\n"
	"subtree, by default the whole machine, decided in the kernel and held by\n"
	"'ward daemon'. The egress programs are pinned in bpffs, so they keep\n"
	"deciding while the daemon is down or upgraded (connections that would go to\n"
	"its proxy then fail closed and are counted).\n"
	"\n"
	"Subcommands:\n"
	"  enforce --policy FILE [--scope CGROUP] [--audit] [--hosts FILE]\n"
	"          [--upstream-ca FILE]\n"
	"                     enforce FILE (again: switch to it without a gap)\n"
	"  status [--json]    what is enforced: scope, mode, policy revision, pinned\n"
	"                     programs, counters, exemptions (also without a daemon)\n"
	"  stop               detach the programs and remove every pin\n"
	"\n"
	"Options (every subcommand):\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Run 'ward host SUBCOMMAND --help' for details.\n"
	"\n"
	"Exit status: 0 done, 1 the daemon refused or failed (its reason on stderr),\n"
	"2 usage error.\n";

static const char usage_host_enforce[] =
	"Usage: ward host enforce --policy FILE [--scope CGROUP] [--audit] [--hosts FILE]\n"
	"                         [--upstream-ca FILE] [--socket PATH]\n"
	"\n"
	"Enforce the policy FILE on every process in the scope, through the daemon:\n"
	"  - a binary no network policy names gets EPERM at connect() and sendmsg()\n"
	"    (with --audit: allowed, and logged with action audit);\n"
	"  - a binary with rules is redirected to the daemon's proxy on 127.0.0.1\n"
	"    (::1 for IPv6 destinations), which decides by host name, SNI and L7\n"
	"    rules as for a sandbox (a denial is a 403 with a JSON body saying why);\n"
	"  - DNS (UDP and TCP port 53, to any resolver) goes to the daemon's DNS stub,\n"
	"    which answers only names some rule allows the asking binary (NXDOMAIN\n"
	"    otherwise) and resolves them with the host's resolvers\n"
	"    (/etc/resolv.conf) and --hosts.\n"
	"The daemon's own cgroup is never touched, nor ward's sandboxes\n"
	"(<cgroup2>/ward: their own layers decide, under policies the org ceiling\n"
	"checked against this one); the policy's `host: { exempt: [{cgroup:\n"
	"/system.slice/UNIT.service}, {binary: /usr/sbin/UNIT}] }` exempts others (a\n"
	"binary: that executable itself, not its children, not a copy).\n"
	"\n"
	"The daemon stores what it enforces (its state directory, host/) and\n"
	"enforces it again at every start. Enforcing again while host mode runs\n"
	"switches to the new policy without a moment without programs.\n"
	"\n"
	"Options:\n"
	"  --policy FILE       the host policy (errors as FILE:LINE:COL: message;\n"
	"                      nothing changes then)\n"
	"  --scope CGROUP      a cgroup v2 directory: absolute (/sys/fs/cgroup/x) or\n"
	"                      below the cgroup v2 mount (/system.slice); default the\n"
	"                      v2 root, the whole machine\n"
	"  --audit             allow what would be denied and log it as audit (how a\n"
	"                      policy is rolled out: audit, ward policy suggest,\n"
	"                      enforce)\n"
	"  --hosts FILE        hosts(5) entries for the proxy and the DNS stub\n"
	"  --upstream-ca FILE  extra CA (PEM) trusted for upstream TLS\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 enforced, 1 refused or failed, 2 usage error.\n";

static const char usage_host_status[] =
	"Usage: ward host status [--json] [--pin-dir DIR] [--socket PATH]\n"
	"\n"
	"What host mode enforces: its state (enforced; pinned, daemon down; not\n"
	"enforced), scope, mode (enforce or audit), policy revision and file, the\n"
	"pinned programs (program and link ids, attach points), the counters (fail\n"
	"closed: connections refused while no daemon listened; events dropped), the\n"
	"proxy's and DNS stub's ports and the exempt cgroups.\n"
	"\n"
	"Without a daemon (none answers on the socket) the pins alone are read:\n"
	"'pinned, daemon down' means the kernel still decides and redirected\n"
	"connections fail closed.\n"
	"\n"
	"When the daemon on $WARD_STATE (default /var/lib/ward) ships the decision\n"
	"log (ward daemon --ship, docs/fleet.md), a last line (JSON: \"ship\") gives\n"
	"the central store's lag: rows not shipped yet and the oldest one's age.\n"
	"\n"
	"Options:\n"
	"  --json              one JSON object (docs/host.md)\n"
	"  --pin-dir DIR       where to read the pins without a daemon (default:\n"
	"                      $WARD_BPFFS_DIR, else /sys/fs/bpf/ward/host)\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 enforced or pinned, 1 not enforced or unreadable, 2 usage\n"
	"error.\n";

static const char usage_host_stop[] =
	"Usage: ward host stop [--socket PATH]\n"
	"\n"
	"End host mode: the daemon stops its proxy and DNS stub, detaches the pinned\n"
	"programs and removes every pin and the stored host policy, so a daemon\n"
	"restart keeps it off. Without a daemon: ward doctor --cleanup.\n"
	"\n"
	"Options:\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 stopped (or nothing was enforced), 1 refused or failed, 2\n"
	"usage error.\n";

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

/* --opt VALUE / --opt=VALUE at argv[*i] */
static const char *opt_value(const char *opt, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	size_t n = strlen(opt);

	if (strncmp(arg, opt, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return arg[n] == '\0' ? "" : NULL;
}

static void print_status(json_t *st)
{
	const char *s;
	json_t *v, *a;
	size_t i;

	printf("state:      %s\n", json_string_value(json_object_get(st, "state")) ?: "?");
	if ((s = json_string_value(json_object_get(st, "scope"))))
		printf("scope:      %s\n", s);
	else if ((v = json_object_get(st, "scope_cgid")))
		printf("scope:      cgroup id %lld\n", (long long)json_integer_value(v));
	if ((s = json_string_value(json_object_get(st, "mode"))))
		printf("mode:       %s\n", s);
	if ((s = json_string_value(json_object_get(st, "policy_rev"))))
		printf("policy:     rev %.12s (%s)\n", s,
		       json_string_value(json_object_get(st, "policy_path")) ?: "?");
	printf("pins:       %s\n", json_string_value(json_object_get(st, "pin_dir")) ?: "?");
	a = json_object_get(st, "programs");
	json_array_foreach(a, i, v)
		printf("  program   %-20s prog %lld link %lld %s\n",
		       json_string_value(json_object_get(v, "name")) ?: "?",
		       (long long)json_integer_value(json_object_get(v, "prog_id")),
		       (long long)json_integer_value(json_object_get(v, "link_id")),
		       json_string_value(json_object_get(v, "attach")) ?: "");
	if ((v = json_object_get(st, "counters")))
		printf("counters:   %lld refused while no daemon listened (fail closed), %lld "
		       "events dropped\n",
		       (long long)json_integer_value(json_object_get(v, "failclosed")),
		       (long long)json_integer_value(json_object_get(v, "events_dropped")));
	if ((v = json_object_get(st, "proxy")))
		printf("proxy:      127.0.0.1:%lld (transparent), 127.0.0.1:%lld (explicit)%s\n",
		       (long long)json_integer_value(json_object_get(v, "transparent_port")),
		       (long long)json_integer_value(json_object_get(v, "explicit_port")),
		       json_string_value(json_object_get(v, "address6")) ? ", the same on [::1]"
									 : ", no IPv6");
	if ((v = json_object_get(st, "dns")))
		printf("dns stub:   127.0.0.1:%lld%s\n",
		       (long long)json_integer_value(json_object_get(v, "port")),
		       json_string_value(json_object_get(v, "address6")) ? " and [::1]" : "");
	a = json_object_get(st, "exempt");
	json_array_foreach(a, i, v)
		printf("exempt:     %s%s (%s)\n",
		       json_object_get(v, "binary") ? "binary " : "",
		       json_string_value(json_object_get(v, "cgroup"))
			       ?: json_string_value(json_object_get(v, "binary")) ?: "?",
		       json_string_value(json_object_get(v, "why")) ?: "?");
	if (!a) {
		a = json_object_get(st, "exempt_cgids");
		json_array_foreach(a, i, v)
			printf("exempt:     cgroup id %lld\n", (long long)json_integer_value(v));
	}
	a = json_object_get(st, "warnings");
	json_array_foreach(a, i, v)
		printf("warning:    %s\n", json_string_value(v) ?: "?");
	if ((s = json_string_value(json_object_get(st, "error"))))
		printf("error:      %s\n", s);
	if ((s = json_string_value(json_object_get(st, "daemon"))))
		printf("daemon:     %s (read from the pins)\n", s);
}

static int host_enforce(int argc, char **argv)
{
	static const char prog[] = "ward host enforce";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *policy = NULL, *hosts = NULL, *ca = NULL;
	const char *a_policy = NULL, *a_scope = NULL, *a_hosts = NULL, *a_ca = NULL;
	const char *socket = NULL;
	bool audit = false;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL, *arg = argv[i];
		int r;

		if (cli_is_help(argv[i])) {
			fputs(usage_host_enforce, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &i, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--audit"))
			audit = true;
		else if ((v = opt_value("--policy", argc, argv, &i)))
			a_policy = v;
		else if ((v = opt_value("--scope", argc, argv, &i)))
			a_scope = v;
		else if ((v = opt_value("--hosts", argc, argv, &i)))
			a_hosts = v;
		else if ((v = opt_value("--upstream-ca", argc, argv, &i)))
			a_ca = v;
		else
			return usage_error(prog, "unexpected argument '%s'", argv[i]);
		if (v && !*v)
			return usage_error(prog, "%s needs a value", arg);
	}
	if (!a_policy)
		return usage_error(prog, "--policy FILE is required");
	if (!(policy = cli_abspath(prog, "--policy", a_policy)) ||
	    (a_hosts && !(hosts = cli_abspath(prog, "--hosts", a_hosts))) ||
	    (a_ca && !(ca = cli_abspath(prog, "--upstream-ca", a_ca))))
		return 1;
	req = json_pack("{s:s, s:s, s:b}", "verb", "host.enforce", "policy", policy, "audit",
			audit);
	if (!req)
		return 1;
	if (a_scope)
		json_object_set_new(req, "scope", json_string(a_scope));
	if (hosts)
		json_object_set_new(req, "hosts", json_string(hosts));
	if (ca)
		json_object_set_new(req, "upstream_ca", json_string(ca));
	c = cli_connect(prog, socket);
	if (!c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	print_status(json_object_get(reply, "host"));
	return 0;
}

static int host_status(int argc, char **argv)
{
	static const char prog[] = "ward host status";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL, *local = NULL, *ship = NULL;
	const char *socket = NULL, *pin_dir = NULL, *state;
	struct ward_error err = { 0 };
	json_t *st;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		int r;

		if (cli_is_help(argv[i])) {
			fputs(usage_host_status, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &i, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if ((v = opt_value("--pin-dir", argc, argv, &i)) && *v)
			pin_dir = v;
		else
			return usage_error(prog, "unexpected argument '%s'", argv[i]);
	}
	if (ward_client_connect(ward_client_socket_path(socket), &c, &err) >= 0) {
		req = json_pack("{s:s}", "verb", "host.status");
		if (!req || cli_call(prog, c, req, &reply) < 0)
			return 1;
		st = json_object_get(reply, "host");
	} else {
		/* no daemon: the pins say what the kernel still enforces */
		st = local = ward_host_status_json(NULL, pin_dir);
		if (!st)
			return 1;
		json_object_set_new(st, "daemon", json_string(err.msg));
	}
	ship = daemon_ship_status(NULL);
	if (ship)
		json_object_set(st, "ship", ship);
	if (json) {
		cli_print_json(stdout, st);
	} else {
		print_status(st);
		if (ship)
			daemon_ship_print(stdout, ship);
	}
	state = json_string_value(json_object_get(st, "state"));
	return state && strcmp(state, "not enforced") != 0 ? 0 : 1;
}

static int host_stop(int argc, char **argv)
{
	static const char prog[] = "ward host stop";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	const char *socket = NULL;

	for (int i = 1; i < argc; i++) {
		int r;

		if (cli_is_help(argv[i])) {
			fputs(usage_host_stop, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &i, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		return usage_error(prog, "unexpected argument '%s'", argv[i]);
	}
	req = json_pack("{s:s}", "verb", "host.stop");
	c = cli_connect(prog, socket);
	if (!req || !c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	puts(json_is_true(json_object_get(reply, "was_pinned"))
		     ? "host mode stopped: programs detached, pins removed"
		     : "host mode was not enforced (nothing pinned)");
	return 0;
}

int cmd_host(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_host, stderr);
		return 2;
	}
	if (cli_is_help(argv[1])) {
		fputs(usage_host, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "enforce"))
		return host_enforce(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return host_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stop"))
		return host_stop(argc - 1, argv + 1);
	return usage_error("ward host", "unknown subcommand '%s'", argv[1]);
}
