/* SPDX-License-Identifier: MIT */
/* `ward policy suggest`: a minimal policy that allows the network traffic a
 * decision log observed (docs/audit.md, "Suggesting a policy"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

struct ward_suggest_opts {
	const char *sandbox; /* only rows of this sandbox */
	uint64_t since_ns;   /* only rows at or after */
	bool denied_only;    /* only deny and audit rows (default: every network row) */
	/* Port given to hosts only seen in DNS queries (0: 443). */
	uint16_t dns_port;
};

struct ward_suggest_stats {
	uint64_t rows; /* rows read */
	uint64_t used; /* rows that shaped the policy */
	uint64_t denied, audited, allowed;
	size_t policies, endpoints, rules;
	int64_t first_id, last_id;
	char policy_rev[65]; /* the policy the filesystem section came from ("" none) */
};

/* Write the policy YAML for the log at path to out. -errno on read errors. */
int ward_suggest(const char *path, const struct ward_suggest_opts *o, FILE *out,
		 struct ward_suggest_stats *ret_stats, struct ward_error *err);

/* Generalise one normalised HTTP path for an allow rule: segments that are
 * decimal numbers, UUIDs or long hex strings (16+ hex digits) become '*',
 * everything else stays exact. Returns the length, -ENOBUFS when out is small. */
int ward_suggest_path(const char *path, char *out, size_t outsz);

/* Telemetry and update checks (docs/learn.md, "Optional hosts"): the reason
 * ("telemetry: host matches *sentry*", "update check: path matches ...") when host, or host and
 * path (NULL: the host alone), look like traffic an agent works without;
 * NULL otherwise. Such endpoints and rules are written commented out, never
 * allowed. Host patterns match the normalised host (ward_match_glob, '*' any
 * run of characters), path patterns the normalised path. */
const char *ward_suggest_optional(const char *host, const char *path);

/* A network_policies key from an executable path: its file name with every
 * byte outside [A-Za-z0-9_.-] replaced by '_' (at most 64 bytes). */
void ward_suggest_key(const char *binary, char *out, size_t outsz);
