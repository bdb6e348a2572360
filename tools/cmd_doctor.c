// SPDX-License-Identifier: MIT
/* ward doctor: what this kernel offers ward, and why not where it doesn't. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/util.h"
#include "enforcer/features.h"

static const char doctor_usage[] =
	"Usage: ward doctor [--json]\n"
	"\n"
	"Probe every kernel feature ward uses, by asking the kernel (a test load of\n"
	"each BPF program type, the Landlock ABI syscall, a seccomp action query, an\n"
	"nf_tables netlink request, a fanotify permission mark), and print whether it\n"
	"is available here and, where it is not, why.\n"
	"\n"
	"Options:\n"
	"  --json     one JSON object: {\"ok\": bool, \"features\": [{\"name\", \"available\",\n"
	"             \"required\", \"used_for\", \"detail\"}]}\n"
	"  -h, --help this text\n"
	"\n"
	"Exit status: 0 when every feature ward requires is available, 1 otherwise.\n"
	"Run as root: several probes need CAP_SYS_ADMIN / CAP_BPF / CAP_NET_ADMIN.\n";

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ward_feature f[32];
	bool json = false, ok = true;
	int c, n;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
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
		puts("]}");
		return ok ? 0 : 1;
	}

	if (geteuid() != 0)
		fputs("ward doctor: not root: several probes will fail for lack of privilege\n", stderr);
	printf("%-22s %-5s %-8s %s\n", "FEATURE", "OK", "", "DETAIL");
	for (int i = 0; i < n; i++)
		printf("%-22s %-5s %-8s %s\n", f[i].name, f[i].available ? "yes" : "no",
		       f[i].required ? "required" : "", f[i].detail);
	printf("\n%s\n", ok ? "ward can run here." : "ward cannot run here: a required feature is missing.");
	return ok ? 0 : 1;
}
