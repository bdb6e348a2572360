/* SPDX-License-Identifier: MIT */
/* `ward audit verify` and retention: walk the hash chain and say where it
 * breaks; prune old rows while keeping what is left verifiable
 * (docs/audit.md, "Verifying the log" and "Retention"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* meta keys of the retention checkpoint: the id and hash of the last pruned
 * row. verify starts the chain from them instead of the genesis hash. */
#define WARD_AUDIT_META_CKPT_ID "chain_checkpoint_id"
#define WARD_AUDIT_META_CKPT_HASH "chain_checkpoint_hash"
/* The lifecycle row a prune appends: rule "pruned", reason
 * "pruned N rows before id X (checkpoint id X-1 hash H)". */
#define WARD_AUDIT_RULE_PRUNED "pruned"

struct ward_audit_verify {
	uint64_t rows;	  /* rows whose hash was checked (and found good) */
	int64_t first_id; /* 0 when the log is empty */
	int64_t last_id;
	char head[65];	       /* the last good hash (the chain head when intact) */
	int64_t checkpoint_id; /* 0: the chain starts at the genesis hash */
	bool intact;
	int64_t bad_id;	   /* the first bad row; 0 for a problem not tied to a row */
	char problem[512]; /* what is wrong, one line ("" when intact) */
};

/* Verify the log at path (opened read-only, one read transaction). progress,
 * when set, is called every `every` rows. Returns 0 when the walk finished
 * (look at ret->intact), -errno when the log could not be read. */
int ward_audit_verify(const char *path, uint64_t every,
		      void (*progress)(uint64_t rows, void *userdata), void *userdata,
		      struct ward_audit_verify *ret, struct ward_error *err);

/* The chain check itself, for any source of rows (the local log above, the
 * central store in src/fleet/central.c): fed rows in id order, it applies
 * every check ward_audit_verify() makes and fills the ward_audit_verify it
 * was created with. */
struct ward_audit_chain;
struct ward_audit_row;

/* *ret is reset to an intact, empty walk from the genesis hash. NULL: ENOMEM. */
struct ward_audit_chain *ward_audit_chain_new(struct ward_audit_verify *ret);
void ward_audit_chain_free(struct ward_audit_chain *c);
/* A stored policy that rows may name by policy_rev (-ENOMEM). */
int ward_audit_chain_add_policy(struct ward_audit_chain *c, const char *rev, const void *compiled,
				size_t len);
/* Start the chain after a retention checkpoint instead of the genesis hash;
 * a malformed one makes the walk broken (bad_id 0). */
void ward_audit_chain_checkpoint(struct ward_audit_chain *c, int64_t id, const char *hash);
/* Check the next row; false once the chain is broken (the verify result
 * names the row and the problem). */
bool ward_audit_chain_row(struct ward_audit_chain *c, const struct ward_audit_row *row);
/* After the last row of a complete walk: the checkpoint must have been
 * confirmed by a chained "pruned" row. */
void ward_audit_chain_end(struct ward_audit_chain *c);

struct ward_audit_retain {
	uint64_t max_age_ns; /* 0: no age limit */
	uint64_t max_bytes;  /* 0: no size limit */
};

/* "30d", "12h", "90m", "2w", "3600s" (age) or "500MB", "1GiB", "64K", "10000B"
 * (size; K/M/G are powers of 1000, KiB/MiB/GiB of 1024). Several separated
 * by ',' ("30d,1GB") combine. -EINVAL on anything else. */
int ward_audit_parse_retain(const char *s, struct ward_audit_retain *ret);

struct ward_audit_prune_result {
	uint64_t pruned;       /* rows deleted */
	int64_t checkpoint_id; /* the last deleted id (0 when nothing was pruned) */
	char checkpoint_hash[65];
	int64_t marker_id;     /* the lifecycle "pruned" row's id */
	uint64_t bytes_before; /* database size in use, before and after */
	uint64_t bytes_after;
};

/* Delete the oldest rows so that every remaining row is younger than
 * max_age_ns (relative to now_ns) and the database holds at most max_bytes.
 * The rows to be deleted are verified first (-EBADMSG when their chain is
 * broken: pruning must not erase the evidence), then deleted, the
 * checkpoint is stored in meta, and a lifecycle row records the prune, all in
 * one write transaction, so concurrent writers keep one chain. */
int ward_audit_prune(const char *path, const struct ward_audit_retain *retain, uint64_t now_ns,
		     struct ward_audit_prune_result *ret, struct ward_error *err);

/* --- internal to src/audit --- */
struct sqlite3;
/* Walk rows with id <= upto (INT64_MAX: all) on an open connection, inside
 * the caller's transaction. */
int audit_verify_db(struct sqlite3 *db, int64_t upto, uint64_t every,
		    void (*progress)(uint64_t rows, void *userdata), void *userdata,
		    struct ward_audit_verify *ret, struct ward_error *err);
