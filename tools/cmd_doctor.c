// SPDX-License-Identifier: MIT
/* ward doctor: what this kernel offers ward, and why not where it doesn't. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/util.h"
#include "enforcer/cgroup.h"
#include "enforcer/features.h"
#include "enforcer/netns.h"

static const char doctor_usage[] =
	"Usage: ward doctor [--json] [--cleanup]\n"
	"\n"
	"Probe every kernel feature ward uses, by asking the kernel (a test load of\n"
	"each BPF program type, the Landlock ABI syscall, a seccomp action query, an\n"
	"nf_tables netlink request, a fanotify permission mark), and print whether it\n"
	"is available here and, where it is not, why.\n"
	"\n"
	"Options:\n"
	"  --json     one JSON object: {\"ok\": bool, \"features\": [{\"name\", \"available\",\n"
	"             \"required\", \"used_for\", \"detail\"}]} (with --cleanup also\n"
	"             \"cleanup\": {\"network_pairs\": N, \"cgroup_leaves\": N})\n"
	"  --cleanup  first remove what a crashed ward left behind: veth pairs named\n"
	"             wardN and their /run/ward/net state whose owner is gone, and\n"
	"             cgroup leaves under <cgroup2>/ward that no live ward holds.\n"
	"             A running sandbox is never touched. (ward run does the same\n"
	"             at every start.)\n"
	"  -h, --help this text\n"
	"\n"
	"Exit status: 0 when every feature ward requires is available, 1 otherwise.\n"
	"Run as root: several probes need CAP_SYS_ADMIN / CAP_BPF / CAP_NET_ADMIN.\n";

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cleanup", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_feature f[32];
	bool json = false, ok = true, cleanup = false;
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
		if (!json)
			printf("cleanup: removed %u stale network pair(s) and %d cgroup leaf(s)\n\n",
			       pairs, leaves);
	}
	n = ward_features_probe(f, (int)(sizeof(f) / sizeof(f[0])));
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
		if (cleanup)
			printf("],\"cleanup\":{\"network_pairs\":%u,\"cgroup_leaves\":%d}}\n",
			       pairs, leaves);
		else
			puts("]}");
		return ok ? 0 : 1;
	}

	if (geteuid() != 0)
		fputs("ward doctor: not root: several probes will fail for lack of privilege\n",
		      stderr);
	printf("%-22s %-5s %-8s %s\n", "FEATURE", "OK", "", "DETAIL");
	for (int i = 0; i < n; i++)
		printf("%-22s %-5s %-8s %s\n", f[i].name, f[i].available ? "yes" : "no",
		       f[i].required ? "required" : "", f[i].detail);
	printf("\n%s\n",
	       ok ? "ward can run here." : "ward cannot run here: a required feature is missing.");
	return ok ? 0 : 1;
}
