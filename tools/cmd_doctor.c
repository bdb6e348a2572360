// SPDX-License-Identifier: MIT
/* ward doctor: what this kernel offers ward, and why not where it doesn't. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "commands.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "daemon_cli.h"
#include "enforcer/cgroup.h"
#include "enforcer/features.h"
#include "enforcer/netns.h"
#include "daemon_ship.h"
#include "runtime/host.h"

DEFINE_CLEANUP(struct ward_client *, ward_client_free)

static const char doctor_usage[] =
	"Usage: ward doctor [--json] [--cleanup] [--pin-dir DIR]\n"
	"\n"
	"Probe every kernel feature ward uses, by asking the kernel (a test load of\n"
	"each BPF program type, the Landlock ABI syscall, a seccomp action query, an\n"
	"nf_tables netlink request, a fanotify permission mark), and print whether it\n"
	"is available here and, where it is not, why.\n"
	"\n"
	"Options:\n"
	"  --json     one JSON object: {\"ok\": bool, \"features\": [{\"name\", \"available\",\n"
	"             \"required\", \"used_for\", \"detail\"}]} (with --cleanup also\n"
	"             \"cleanup\": {\"network_pairs\": N, \"cgroup_leaves\": N,\n"
	"             \"host_pins\": bool}), and \"host\": what ward host status says\n"
	"             without a daemon (--json of it), and \"ship\": the daemon's\n"
	"             shipping to the central store (null when not configured;\n"
	"             docs/fleet.md)\n"
	"  --cleanup  first remove what a crashed ward left behind: veth pairs named\n"
	"             wardN and their /run/ward/net state whose owner is gone, and\n"
	"             cgroup leaves under <cgroup2>/ward that no live ward holds.\n"
	"             A running sandbox is never touched. (ward run does the same\n"
	"             at every start.) Host mode's pinned programs (ward host) are\n"
	"             detached and their pins removed too, unless a running daemon\n"
	"             holds them (then: ward host stop).\n"
	"  --pin-dir DIR  host mode's pins (default: $WARD_BPFFS_DIR, else\n"
	"             /sys/fs/bpf/ward/host)\n"
	"  -h, --help this text\n"
	"\n"
	"The section \"host mode\" says what ward host can use here (the cgroup v2\n"
	"root, bpffs, multi-attach, a kernel whose BPF its programs need: 6.2 or\n"
	"later) and whether programs are pinned now. When the\n"
	"daemon on $WARD_STATE (default /var/lib/ward) ships the log (ward daemon\n"
	"--ship), a line says how far the central store is behind: rows not shipped\n"
	"yet and the age of the oldest of them.\n"
	"\n"
	"Exit status: 0 when every feature ward requires is available, 1 otherwise.\n"
	"Run as root: several probes need CAP_SYS_ADMIN / CAP_BPF / CAP_NET_ADMIN.\n";

/* The kernels ward's test suite ran on, and what ran there (docs/kernels.md):
 * a kernel of another series may load what these refuse, or refuse what they
 * load (verifier limits change between releases). */
static const struct {
	const char *series, *where, *covered;
} tested_kernels[] = {
	{ "6.1", "Debian 12's own 6.1 in a qemu guest (make check: tests/vm)",
	  "bpf-lsm, fentry, kprobe.multi, Landlock ABI 2, no unix hooks (the layer degrades)" },
	{ "6.12", "Debian 6.12 in a qemu guest (make check: tests/vm)",
	  "bpf-lsm, fentry, kprobe.multi, fanotify, overlay identity" },
	{ "6.18", "the development host",
	  "fanotify, the whole suite; bpf-lsm, fentry, kprobes refused there" },
};

/* The running kernel's series ("6.12") is one the tests ran on. */
static bool kernel_tested(const char *release)
{
	for (size_t i = 0; i < sizeof(tested_kernels) / sizeof(tested_kernels[0]); i++) {
		size_t l = strlen(tested_kernels[i].series);

		if (!strncmp(release, tested_kernels[i].series, l) &&
		    (release[l] == '.' || release[l] == '-' || release[l] == '\0'))
			return true;
	}
	return false;
}

/* A daemon answering on the default socket holds host mode on pin_dir. */
static bool daemon_holds(const char *pin_dir)
{
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = json_pack("{s:s}", "verb", "host.status");
	_cleanup_(json_decrefp) json_t *reply = NULL;
	struct ward_error err = { 0 };
	json_t *st;

	if (!req || ward_client_connect(ward_client_socket_path(NULL), &c, &err) < 0)
		return false;
	if (ward_client_call(c, req, &reply, &err) < 0)
		return true; /* it answers but will not say: leave its state alone */
	st = json_object_get(reply, "host");
	return json_object_get(st, "policy_rev") &&
	       !strcmp(json_string_value(json_object_get(st, "pin_dir")) ?: "", pin_dir);
}

static int host_cleanup(const char *opt, bool json, bool *ret_removed)
{
	const char *dir = ward_host_pin_dir(opt);
	struct ward_error err = { 0 };
	int r;

	if (daemon_holds(dir)) {
		if (!json)
			printf("cleanup: host mode's pins in %s are held by a running daemon: left "
			       "(ward host stop ends host mode)\n",
			       dir);
		return 0;
	}
	r = ward_host_unpin(dir, &err);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		fprintf(stderr, "ward doctor: host mode's pins: %s\n", err.msg);
		return r;
	}
	*ret_removed = true;
	return 0;
}

static void print_host(const struct ward_feature *f, int n, json_t *host)
{
	const char *state = json_string_value(json_object_get(host, "state"));

	printf("\nhost mode (ward host, docs/host.md):\n");
	for (int i = 0; i < n; i++)
		if (!strncmp(f[i].name, "host.", 5))
			printf("  %-20s %-5s %s\n", f[i].name + 5, f[i].available ? "yes" : "no",
			       f[i].detail);
	printf("  %-20s %-5s %s%s%s\n", "pins",
	       state && strcmp(state, "not enforced") ? "yes" : "no",
	       json_string_value(json_object_get(host, "pin_dir")) ?: "?", state ? ": " : "",
	       state ? state : "");
	if (json_object_get(host, "programs"))
		printf("  %-20s %-5s %zu programs, %lld refused while no daemon listened\n", "", "",
		       json_array_size(json_object_get(host, "programs")),
		       (long long)json_integer_value(
			       json_object_get(json_object_get(host, "counters"), "failclosed")));
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cleanup", no_argument, NULL, 'c' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_feature f[32];
	bool json = false, ok = true, cleanup = false, pins_removed = false;
	const char *pin_dir = NULL;
	struct utsname uts;
	json_t *host;
	_cleanup_(json_decrefp) json_t *ship = NULL;
	unsigned pairs = 0;
	int leaves = 0;
	int c, n;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'c':
			cleanup = true;
			break;
		case 'p':
			pin_dir = optarg;
			break;
		case 'h':
			fputs(doctor_usage, stdout);
			return 0;
		default:
			fputs(doctor_usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ward doctor: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	if (cleanup) {
		struct ward_error err = { 0 };

		if (geteuid() != 0) {
			fputs("ward doctor: --cleanup needs root\n", stderr);
			return 1;
		}
		if (ward_netns_cleanup_stale(&pairs, &err) < 0) {
			fprintf(stderr, "ward doctor: network cleanup: %s\n", err.msg);
			ok = false;
		}
		leaves = ward_cgroup_reap_stale(&err);
		if (leaves < 0) {
			fprintf(stderr, "ward doctor: cgroup cleanup: %s\n", err.msg);
			ok = false;
			leaves = 0;
		}
		if (host_cleanup(pin_dir, json, &pins_removed) < 0)
			ok = false;
		if (!json)
			printf("cleanup: removed %u stale network pair(s) and %d cgroup leaf(s)%s\n\n",
			       pairs, leaves, pins_removed ? ", host mode's pins" : "");
	}
	n = ward_features_probe(f, (int)(sizeof(f) / sizeof(f[0])));
	if (uname(&uts) < 0)
		snprintf(uts.release, sizeof(uts.release), "unknown");
	host = ward_host_status_json(NULL, pin_dir);
	ship = daemon_ship_status(NULL);
	/* the pins alone cannot tell a live daemon from a dead one */
	if (host && json_is_true(json_object_get(host, "pinned")) &&
	    daemon_holds(ward_host_pin_dir(pin_dir)))
		json_object_set_new(host, "state", json_string("enforced"));
	for (int i = 0; i < n; i++)
		if (f[i].required && !f[i].available)
			ok = false;

	if (json) {
		printf("{\"ok\":%s,\"euid\":%u,\"features\":[", ok ? "true" : "false", geteuid());
		for (int i = 0; i < n; i++) {
			printf("%s{\"name\":", i ? "," : "");
			ward_json_str(stdout, f[i].name);
			printf(",\"available\":%s,\"required\":%s,\"used_for\":",
			       f[i].available ? "true" : "false", f[i].required ? "true" : "false");
			ward_json_str(stdout, f[i].what);
			fputs(",\"detail\":", stdout);
			ward_json_str(stdout, f[i].detail);
			fputc('}', stdout);
		}
		fputs("],\"kernel\":{\"release\":", stdout);
		ward_json_str(stdout, uts.release);
		printf(",\"tested\":%s,\"tested_kernels\":[", kernel_tested(uts.release) ? "true" : "false");
		for (size_t i = 0; i < sizeof(tested_kernels) / sizeof(tested_kernels[0]); i++) {
			printf("%s{\"series\":", i ? "," : "");
			ward_json_str(stdout, tested_kernels[i].series);
			fputs(",\"where\":", stdout);
			ward_json_str(stdout, tested_kernels[i].where);
			fputs(",\"covered\":", stdout);
			ward_json_str(stdout, tested_kernels[i].covered);
			fputc('}', stdout);
		}
		fputs("]},\"host\":", stdout);
		if (!host || json_dumpf(host, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0)
			fputs("null", stdout);
		fputs(",\"ship\":", stdout);
		if (!ship || json_dumpf(ship, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0)
			fputs("null", stdout);
		if (cleanup)
			printf(",\"cleanup\":{\"network_pairs\":%u,\"cgroup_leaves\":%d,"
			       "\"host_pins\":%s}}\n",
			       pairs, leaves, pins_removed ? "true" : "false");
		else
			puts("}");
		json_decref(host);
		return ok ? 0 : 1;
	}

	if (geteuid() != 0)
		fputs("ward doctor: not root: several probes will fail for lack of privilege\n",
		      stderr);
	printf("%-22s %-5s %-8s %s\n", "FEATURE", "OK", "", "DETAIL");
	for (int i = 0; i < n; i++)
		if (strncmp(f[i].name, "host.", 5) != 0) /* their own section below */
			printf("%-22s %-5s %-8s %s\n", f[i].name, f[i].available ? "yes" : "no",
			       f[i].required ? "required" : "", f[i].detail);
	print_host(f, n, host);
	json_decref(host);
	printf("\nkernel %s: %s\n", uts.release,
	       kernel_tested(uts.release) ? "a series the tests ran on"
					  : "not a series the tests ran on (docs/kernels.md)");
	for (size_t i = 0; i < sizeof(tested_kernels) / sizeof(tested_kernels[0]); i++)
		printf("  tested %-6s %s: %s\n", tested_kernels[i].series, tested_kernels[i].where,
		       tested_kernels[i].covered);
	if (ship) {
		fputc('\n', stdout);
		daemon_ship_print(stdout, ship);
	}
	printf("\n%s\n",
	       ok ? "ward can run here." : "ward cannot run here: a required feature is missing.");
	return ok ? 0 : 1;
}
