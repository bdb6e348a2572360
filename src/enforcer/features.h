/* SPDX-License-Identifier: MIT */
/* Probes for the kernel features ward uses. Each probe asks the kernel
 * (a real load, a real syscall), never a version number. */
#pragma once

#include <stdbool.h>

struct ward_feature {
	const char *name; /* stable identifier, e.g. "bpf.cgroup_sock_addr" */
	const char *what; /* what ward uses it for */
	bool required;	  /* ward run refuses to start without it */
	bool available;
	char detail[256]; /* the value found, or why not */
};

/* Fill up to max features; returns how many. */
int ward_features_probe(struct ward_feature *ret, int max);
