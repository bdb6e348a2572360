// SPDX-License-Identifier: MIT
/* ward daemon: serve named sandboxes and their sessions on a control socket
 * (docs/daemon.md), in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "daemon_ship.h"
#include "audit/audit.h"
#include "runtime/daemon.h"

static const char usage_daemon[] =
	"Usage: ward daemon [--socket PATH] [--state DIR] [--log DB] [--host-policy FILE]\n"
	"                   [--host-scope CGROUP] [--pin-dir DIR] [--ship URL]\n"
	"                   [--host-id NAME]\n"
	"\n"
	"Serve long-lived named sandboxes and the sessions inside them, in the\n"
	"foreground (systemd: contrib/systemd/ward.service). The other verbs that\n"
	"manage sandboxes (ward sandbox, exec, sessions, policy apply, secret) talk\n"
	"to it over a unix socket, one JSON object per line (docs/daemon.md).\n"
	"ward daemon must run as root.\n"
	"\n"
	"Who may do what is decided by the peer's credentials (SO_PEERCRED):\n"
	"root and members of group ward manage (every verb); members of group\n"
	"ward-audit only read (sandbox list, sessions); anyone else gets an EPERM\n"
	"answer and the connection is closed. Every change and every refusal is a\n"
	"row of layer control in the decision log (peer uid and pid, verb, sandbox,\n"
	"policy revision).\n"
	"\n"
	"Each sandbox is what ward run builds for one command (namespaces, cgroup,\n"
	"Landlock, seccomp, egress eBPF, nftables, proxy, DNS stub, fs layer), kept\n"
	"running to host sessions: ward exec runs a command inside it with the\n"
	"client's stdin, stdout and stderr. A sandbox keeps its configuration, its\n"
	"policy (the exact text in force) and its own writable home across stop,\n"
	"start and daemon restarts; sandboxes that were running when the daemon\n"
	"stopped come back when it starts.\n"
	"\n"
	"Fail closed: if the daemon dies (even by kill -9) every sandbox and every\n"
	"session dies with it; the next start removes what was left (cgroups,\n"
	"network pairs) before the sandboxes come back. A client that disconnects\n"
	"before its session ended costs the session a SIGHUP, then SIGKILL 2 s later.\n"
	"\n"
	"Options:\n"
	"  --socket PATH  the control socket (default: $WARD_SOCKET, else\n"
	"                 /run/ward/ward.sock); refused when another daemon answers\n"
	"                 there\n"
	"  --state DIR    the state directory (default /var/lib/ward, made 0700):\n"
	"                 sandboxes/NAME/{config.json,policy.yaml,home/}, secrets/,\n"
	"                 daemon.lock (one daemon per directory), run.json\n"
	"  --log DB       decision log (default: $WARD_LOG, else\n"
	"                 /var/lib/ward/decisions.db)\n"
	"  --host-policy FILE\n"
	"                 host mode (ward host, docs/host.md): at the first start,\n"
	"                 when no host policy is stored, enforce FILE on the whole\n"
	"                 host (default /etc/ward/host.yaml; absent file: no host\n"
	"                 mode; \"\" turns it off)\n"
	"  --host-scope CGROUP\n"
	"                 the scope of --host-policy (as ward host enforce --scope;\n"
	"                 default the cgroup v2 root)\n"
	"  --pin-dir DIR  bpffs directory of host mode's pinned programs (default:\n"
	"                 $WARD_BPFFS_DIR, else /sys/fs/bpf/ward/host)\n"
	"  --ship URL     ship the decision log continuously to the central\n"
	"                 PostgreSQL store at URL (as ward logs ship --follow,\n"
	"                 docs/fleet.md), from a thread of the daemon; its lag shows\n"
	"                 in ward doctor and ward host status (STATE/ship.json)\n"
	"  --host-id NAME the host id for --ship (default: the hostname)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Host mode: what ward host enforce enforced is stored (state directory,\n"
	"host/) and enforced again at every start, taking the pinned programs over\n"
	"without a gap; the connections the kernel refused while no daemon ran are\n"
	"counted and logged. ward host stop ends it (and a restart keeps it off).\n"
	"\n"
	"SIGTERM or SIGINT stops every sandbox (their desired state is kept, so they\n"
	"come back at the next start) and exits 0; host mode's pinned programs stay\n"
	"in force (fail closed) until the next start.\n"
	"\n"
	"Exit status:\n"
	"  0  stopped by SIGTERM or SIGINT\n"
	"  1  could not start (another daemon on the state directory or the socket,\n"
	"     not root, the log or the socket could not be opened)\n"
	"  2  usage error\n";

static void note(void *data, bool warning, const char *msg)
{
	fprintf(stderr, "ward daemon: %s%s\n", warning ? "warning: " : "", msg);
}

int cmd_daemon(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ "host-policy", required_argument, NULL, 'H' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "host-scope", required_argument, NULL, 'S' },
		{ "ship", required_argument, NULL, 'U' },
		{ "host-id", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_daemon_config cfg = { .note = note };
	struct ward_error err = { 0 };
	struct ward_daemon *d = NULL;
	struct daemon_ship *ship = NULL;
	const char *ship_url = NULL, *host_id = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cfg.socket_path = optarg;
			break;
		case 'd':
			cfg.state_dir = optarg;
			break;
		case 'l':
			cfg.log_path = optarg;
			break;
		case 'H':
			cfg.host_policy = optarg;
			break;
		case 'P':
			cfg.pin_dir = optarg;
			break;
		case 'S':
			cfg.host_scope = optarg;
			break;
		case 'U':
			ship_url = optarg;
			break;
		case 'I':
			host_id = optarg;
			break;
		case 'h':
			fputs(usage_daemon, stdout);
			return 0;
		default:
			fputs("Run 'ward daemon --help' for usage.\n", stderr);
			return 2;
		}
	}
	if (host_id && !ship_url) {
		fputs("ward daemon: --host-id goes with --ship\n", stderr);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "ward daemon: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (geteuid() != 0) {
		fputs("ward daemon: needs root (namespaces, cgroups, eBPF, nftables)\n", stderr);
		return 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	r = ward_daemon_new(&cfg, &d, &err);
	if (r < 0) {
		fprintf(stderr, "ward daemon: %s\n", err.msg);
		return 1;
	}
	/* after ward_daemon_new: the log exists and SIGTERM is blocked, so the
	 * thread inherits the mask and the signal reaches only the daemon's fd */
	if (ship_url) {
		r = daemon_ship_start(ship_url, host_id,
				      cfg.log_path ? cfg.log_path : ward_audit_default_path(),
				      cfg.state_dir, note, &ship, &err);
		if (r < 0) {
			fprintf(stderr, "ward daemon: %s\n", err.msg);
			ward_daemon_free(d);
			return 1;
		}
	}
	r = ward_daemon_run(d, &err);
	if (r < 0)
		fprintf(stderr, "ward daemon: %s\n", err.msg);
	daemon_ship_stop(ship);
	ward_daemon_free(d);
	return r < 0 ? 1 : 0;
}
