/* SPDX-License-Identifier: MIT */
/* Shared between src/enforcer/egress*.c only. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "enforcer/egress.h"

struct egress_bpf;
struct bpf_link;
struct ring_buffer;

#define EGRESS_N_PROGS 7

/* One executable file found for the policy's binary paths. */
struct egress_ident {
	struct ward_ident_key key;
	char *path;	 /* the real path, for decision rows */
	uint32_t flags;	 /* WARD_IDENT_* */
	uint32_t *pols;	 /* sorted indexes into policy->net */
	size_t n_pols;
	uint32_t entry;	 /* WARD_ENTRY_NONE without network policy */
};

/* One distinct set of network policies; the kernel's "entry". */
struct egress_entry {
	char *rule; /* the policies' keys, comma-separated */
	uint32_t *pols;
	size_t n_pols;
};

struct ward_egress {
	struct egress_bpf *skel;
	struct bpf_link *links[EGRESS_N_PROGS];
	struct ring_buffer *rb;
	struct egress_ident *idents;
	size_t n_idents;
	struct egress_entry *entries;
	size_t n_entries;
	char **warnings;
	size_t n_warnings;
	char *sandbox;
	char rev[65];
	struct ward_audit *audit;
	void (*on_event)(void *userdata, const struct ward_event *ev,
			 const struct ward_decision *d);
	void *userdata;
	uint64_t mono_to_real; /* CLOCK_REALTIME - CLOCK_MONOTONIC at load */
	/* counters already reported as rows, and when (ward_egress_report_drops) */
	uint64_t reported_drops;
	uint64_t reported_udp_refused;
	uint64_t last_report_ns;
};

int egress_warn(struct ward_egress *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Call cb for every regular file (symlinks followed) matching pattern.
 * Returns the number of matches, or -errno; a hit cap is reported as a
 * warning on e and the walk stops there. */
int egress_glob(struct ward_egress *e, const char *pattern,
		int (*cb)(void *ud, const char *path, const struct stat *st), void *ud);

/* Resolve every binary of the policy into e->idents and group them into e->entries. */
int egress_idents_build(struct ward_egress *e, const struct ward_policy *p, struct ward_error *err);
void egress_idents_free(struct ward_egress *e);
const struct egress_ident *egress_ident_find(const struct ward_egress *e, uint64_t dev,
					     uint64_t ino);

/* ring_buffer sample callback; ctx is the ward_egress */
int egress_on_sample(void *ctx, void *data, size_t size);
