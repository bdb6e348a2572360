/* SPDX-License-Identifier: MIT */
/* Reading the central store (docs/fleet.md, "Central verification and
 * queries"): every host's decision rows as struct ward_audit_row, streamed
 * through a server-side cursor in chunks (bounded memory for any number of
 * rows), for `ward audit verify --db`, `ward logs --db` and `ward replay --db`. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "audit/replay.h"
#include "audit/verify.h"
#include "common/error.h"

/* Rows fetched per round trip: the most a walk holds in memory. */
#define WARD_CENTRAL_CHUNK 5000

struct ward_central;

/* Connect to url (postgresql://... or a libpq key=value string). The store
 * must hold the schema (src/fleet/schema.sql): a reader never creates it.
 * -ECONNREFUSED when the server cannot be reached, -ENOENT without the schema. */
int ward_central_open(const char *url, struct ward_central **ret, struct ward_error *err);
void ward_central_close(struct ward_central *c);

/* The host ids of ward.hosts, sorted; free with ward_central_hosts_free. */
int ward_central_hosts(struct ward_central *c, char ***ret, size_t *ret_n, struct ward_error *err);
void ward_central_hosts_free(char **hosts, size_t n);

/* Call cb for each row matching f (the local filters, same meaning; binary
 * and host globs as SQLite GLOB) of host_id (NULL: every host) in
 * (host_id, id) order, inside one read-only transaction. f->after_id applies
 * to every host's ids. The row's strings and host_id live until cb returns; a
 * non-zero return from cb stops the walk and is returned. The next chunk is
 * fetched while cb runs: cb must not use c. */
int ward_central_each(struct ward_central *c, const char *host_id,
		      const struct ward_audit_filter *f,
		      int (*cb)(const char *host_id, const struct ward_audit_row *row,
				void *userdata),
		      void *userdata, struct ward_error *err);

/* Verify host_id's chain as `ward audit verify` verifies a local log, in one
 * snapshot: anchored at genesis when its rows start at id 1, else at the
 * checkpoint that hosts.ckpt_id/ckpt_hash or a chained "pruned" row names
 * for the first row's predecessor; the row at hosts.ckpt_id must carry
 * ckpt_hash, and the walk must reach hosts.shipped_id with shipped_hash.
 * 0 when the walk finished (look at ret->intact), -ENOENT for an unknown
 * host, -errno when the store could not be read. */
int ward_central_verify(struct ward_central *c, const char *host_id, uint64_t every,
			void (*progress)(uint64_t rows, void *userdata), void *userdata,
			struct ward_audit_verify *ret, struct ward_error *err);

/* ward_replay() over host_id's rows (NULL: every host); examples name their
 * host (origin). */
int ward_central_replay(struct ward_central *c, const char *host_id, const struct ward_policy *p,
			const struct ward_replay_opts *o, struct ward_replay_report *ret,
			struct ward_error *err);

/* SQLite GLOB pattern -> an anchored POSIX regular expression with the same
 * matches (PostgreSQL's ~). -ENAMETOOLONG when it does not fit. */
int ward_central_glob_regex(const char *glob, char *out, size_t len);
