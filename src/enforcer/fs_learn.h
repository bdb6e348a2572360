/* SPDX-License-Identifier: MIT */
/* Learn mode for the filesystem (docs/learn.md, docs/filesystem.md "Learn
 * mode"): bpf/fs_learn.bpf.c loaded for one sandbox reports the paths it
 * reads, writes and executes, deduplicated and rate-limited in the kernel;
 * each one the policy would have refused (ward_case_fs_decide(), the
 * decision `ward policy test` makes, and the workdir) becomes a row: layer
 * "fs", action "audit", method "read", "write" or "exec", the absolute path,
 * rule "filesystem_policy" (or "include_workdir" for a path under a workdir
 * the policy does not include). What the policy allows makes no row.
 *
 * Lifecycle as fs.h: ward_fs_learn_new() → ward_fs_learn_set_sandbox() →
 * ward_fs_learn_attach() before the command execs → poll
 * ward_fs_learn_events_fd() and ward_fs_learn_consume() → ward_fs_learn_free()
 * (drains, then reports what the rate limit suppressed in one row). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"
#include "policy/peer.h"
#include "ward/abi.h"

struct ward_fs_learn_config {
	const struct ward_policy *policy; /* borrowed: what would have been refused */
	const char *workdir;		  /* copied; absolute, canonical; NULL: none */
	const char *sandbox;		  /* copied */
	struct ward_audit *audit;	  /* borrowed, may be NULL */
	uint32_t rate, burst;		  /* 0: WARD_FS_LEARN_RATE_* */
	/* every row (tests, front ends); ev NULL for counter rows */
	void (*on_row)(void *userdata, const struct ward_fs_learn_event *ev,
		       const struct ward_decision *d);
	void *userdata;
	struct ward_session_hook session_of;
};

struct ward_fs_learn_stats {
	uint64_t events;       /* read from the ring buffer */
	uint64_t rows;	       /* audit rows: what the policy would have refused */
	uint64_t allowed;      /* events the policy allows: no row */
	uint64_t unresolved;   /* relative paths user space could not make absolute */
	uint64_t seen;	       /* successful path syscalls looked at in the kernel */
	uint64_t deduplicated; /* of those, already sent for the same key */
	uint64_t suppressed;   /* over the rate limit */
	uint64_t ringbuf_drops;
	uint64_t unnamed; /* too long or too deep to name in the kernel */
};

struct ward_fs_learn;

int ward_fs_learn_new(const struct ward_fs_learn_config *cfg, struct ward_fs_learn **ret,
		      struct ward_error *err);
int ward_fs_learn_set_sandbox(struct ward_fs_learn *l, uint64_t cgroup_id, uint32_t level,
			      const char *sandbox);
/* The workdir (absolute, canonical; copied), when it was not known at new. */
int ward_fs_learn_set_workdir(struct ward_fs_learn *l, const char *workdir);
int ward_fs_learn_attach(struct ward_fs_learn *l, struct ward_error *err);
int ward_fs_learn_events_fd(const struct ward_fs_learn *l);
/* Rows for pending events; returns how many events, or -errno. */
int ward_fs_learn_consume(struct ward_fs_learn *l);
/* The counters' row(s): what the rate limit suppressed and the ring buffer
 * dropped since the last report (one row each when not zero). */
void ward_fs_learn_report(struct ward_fs_learn *l);
void ward_fs_learn_get_stats(const struct ward_fs_learn *l, struct ward_fs_learn_stats *ret);
/* Detach, drain, report the counters, free. NULL ok. */
void ward_fs_learn_free(struct ward_fs_learn *l);
