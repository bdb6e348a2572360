// SPDX-License-Identifier: MIT
/* Verifying the hash chain: every row's hash is recomputed from the previous
 * one with the writer's own function (ward_audit_row_hash), ids must be
 * contiguous from the chain start (1, or the retention checkpoint + 1), and
 * every policy_rev must name a stored policy whose compiled text still hashes
 * to that rev. The walk stops at the first problem and names its row. */
#include "audit/verify.h"
#include "audit/audit.h"
#include "audit/db.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rev {
	char rev[65];
	bool ok; /* sha256(compiled) == rev */
};

struct ward_audit_chain {
	struct rev *revs;
	size_t n_revs;
	const struct rev *last; /* most rows name the same rev as their predecessor */
	int64_t ckpt_id;
	char ckpt_hash[65];
	char ckpt_text[160]; /* what the confirming "pruned" row's reason must contain */
	bool ckpt_confirmed;
	bool sorted;
	int64_t expect;
	char prev[65];
	struct ward_audit_verify *v;
};

__attribute__((format(printf, 3, 4))) static void bad(struct ward_audit_verify *v, int64_t id,
						      const char *fmt, ...)
{
	va_list ap;

	v->intact = false;
	v->bad_id = id;
	va_start(ap, fmt);
	vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
}

static int cmp_rev(const void *a, const void *b)
{
	return strcmp(((const struct rev *)a)->rev, ((const struct rev *)b)->rev);
}

int ward_audit_chain_add_policy(struct ward_audit_chain *w, const char *rev, const void *compiled,
				size_t len)
{
	struct rev *n;
	char h[65];

	if (!rev || strlen(rev) != 64)
		return 0; /* cannot be named by a row's policy_rev check below */
	n = realloc(w->revs, (w->n_revs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	w->revs = n;
	ward_sha256_hex(compiled ? compiled : "", compiled ? len : 0, h);
	memcpy(w->revs[w->n_revs].rev, rev, 65);
	w->revs[w->n_revs].ok = !strcmp(h, rev);
	w->n_revs++;
	w->sorted = false;
	w->last = NULL;
	return 0;
}

static int load_revs(sqlite3 *db, struct ward_audit_chain *w, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT rev, compiled FROM policies", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "read policies");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *rev = (const char *)sqlite3_column_text(st, 0);
		const void *compiled = sqlite3_column_text(st, 1);
		int len = sqlite3_column_bytes(st, 1);

		if (ward_audit_chain_add_policy(w, rev, compiled, compiled ? (size_t)len : 0) < 0)
			return ward_err(err, -ENOMEM, "read policies");
	}
	if (rc != SQLITE_DONE)
		return audit_sqlite_err(err, db, rc, "read policies");
	return 0;
}

static const struct rev *find_rev(struct ward_audit_chain *w, const char *rev)
{
	struct rev key;

	if (!w->sorted) {
		if (w->n_revs)
			qsort(w->revs, w->n_revs, sizeof(*w->revs), cmp_rev);
		w->sorted = true;
	}

	if (w->last && !strcmp(w->last->rev, rev))
		return w->last;
	if (strlen(rev) != 64)
		return NULL;
	if (!w->n_revs)
		return NULL;
	memcpy(key.rev, rev, 65);
	w->last = bsearch(&key, w->revs, w->n_revs, sizeof(*w->revs), cmp_rev);
	return w->last;
}

static int load_checkpoint(sqlite3 *db, struct ward_audit_chain *w, struct ward_audit_verify *v,
			   struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	/* 0 absent, 1 well-formed, -1 malformed; never pointers into a row,
	 * which the next sqlite3_step() frees */
	int id_state = 0, hash_state = 0;
	char *end;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN (?, ?)", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "read meta");
	sqlite3_bind_text(st, 1, WARD_AUDIT_META_CKPT_ID, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, WARD_AUDIT_META_CKPT_HASH, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *val = (const char *)sqlite3_column_text(st, 1);

		if (!k || !val)
			continue;
		if (!strcmp(k, WARD_AUDIT_META_CKPT_ID)) {
			errno = 0;
			w->ckpt_id = strtoll(val, &end, 10);
			id_state = (errno || *end || w->ckpt_id <= 0) ? -1 : 1;
		} else if (strlen(val) == 64) {
			memcpy(w->ckpt_hash, val, 65);
			hash_state = 1;
		} else {
			hash_state = -1;
		}
	}
	if (rc != SQLITE_DONE)
		return audit_sqlite_err(err, db, rc, "read meta");
	if (!id_state && !hash_state)
		return 0;
	if (id_state != 1 || hash_state != 1) {
		bad(v, 0, "retention checkpoint in meta is incomplete or malformed");
		return 0;
	}
	ward_audit_chain_checkpoint(w, w->ckpt_id, w->ckpt_hash);
	return 0;
}

struct ward_audit_chain *ward_audit_chain_new(struct ward_audit_verify *ret)
{
	struct ward_audit_chain *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	*ret = (struct ward_audit_verify){ .intact = true };
	w->v = ret;
	w->expect = 1;
	memcpy(w->prev, WARD_AUDIT_GENESIS_HASH, 65);
	memcpy(ret->head, w->prev, 65);
	return w;
}

void ward_audit_chain_free(struct ward_audit_chain *w)
{
	if (!w)
		return;
	free(w->revs);
	free(w);
}

void ward_audit_chain_checkpoint(struct ward_audit_chain *w, int64_t id, const char *hash)
{
	if (id <= 0 || !hash || strlen(hash) != 64) {
		bad(w->v, 0, "retention checkpoint is incomplete or malformed");
		return;
	}
	w->ckpt_id = id;
	memmove(w->ckpt_hash, hash, 65);
	w->v->checkpoint_id = id;
	snprintf(w->ckpt_text, sizeof(w->ckpt_text), "(checkpoint id %" PRId64 " hash %s)", id,
		 w->ckpt_hash);
	w->expect = id + 1;
	memcpy(w->prev, w->ckpt_hash, 65);
	memcpy(w->v->head, w->prev, 65);
}

static void check_row(struct ward_audit_chain *w, const struct ward_audit_row *r, int64_t expect,
		      const char *prev, struct ward_audit_verify *v)
{
	char h[65];
	const struct rev *rv;

	if (r->id != expect) {
		if (r->id > expect)
			bad(v, r->id, "id %" PRId64 " follows id %" PRId64 ": %s missing (deleted)",
			    r->id, expect - 1, r->id - expect == 1 ? "a row is" : "rows are");
		else
			bad(v, r->id,
			    "id %" PRId64 " before the chain start (id %" PRId64
			    " expected): inserted row",
			    r->id, expect);
		return;
	}
	if (!r->hash || strlen(r->hash) != 64) {
		bad(v, r->id, "id %" PRId64 ": stored hash is missing or malformed", r->id);
		return;
	}
	if (ward_audit_row_hash(prev, r, h) < 0) {
		bad(v, r->id, "id %" PRId64 ": cannot compute its hash", r->id);
		return;
	}
	if (strcmp(h, r->hash)) {
		bad(v, r->id,
		    "id %" PRId64 ": hash mismatch (stored %.12s, computed %.12s): the row "
		    "was edited, inserted or reordered, or its predecessor deleted",
		    r->id, r->hash, h);
		return;
	}
	if (r->policy_rev) {
		rv = find_rev(w, r->policy_rev);
		if (!rv) {
			bad(v, r->id,
			    "id %" PRId64 ": policy_rev %.12s is not in the policies table", r->id,
			    r->policy_rev);
			return;
		}
		if (!rv->ok) {
			bad(v, r->id,
			    "id %" PRId64 ": policy %.12s was edited (its compiled text no "
			    "longer hashes to its rev)",
			    r->id, r->policy_rev);
			return;
		}
	}
	if (w->ckpt_text[0] && r->layer && !strcmp(r->layer, "lifecycle") && r->rule &&
	    !strcmp(r->rule, WARD_AUDIT_RULE_PRUNED) && r->reason &&
	    strstr(r->reason, w->ckpt_text))
		w->ckpt_confirmed = true;
}

bool ward_audit_chain_row(struct ward_audit_chain *w, const struct ward_audit_row *row)
{
	struct ward_audit_verify *v = w->v;

	if (!v->intact)
		return false;
	if (!v->first_id)
		v->first_id = row->id;
	check_row(w, row, w->expect, w->prev, v);
	if (!v->intact)
		return false;
	memcpy(w->prev, row->hash, 65);
	memcpy(v->head, w->prev, 65);
	v->last_id = row->id;
	v->rows++;
	w->expect++;
	return true;
}

void ward_audit_chain_end(struct ward_audit_chain *w)
{
	struct ward_audit_verify *v = w->v;

	/* A checkpoint that no chained "pruned" row vouches for was written by
	 * hand: rows before it may have been removed without a prune. Only a
	 * full walk can tell. */
	if (v->intact && w->ckpt_text[0] && !w->ckpt_confirmed)
		bad(v, v->first_id,
		    "retention checkpoint (id %" PRId64 ") is not confirmed by a chained '%s' row",
		    w->ckpt_id, WARD_AUDIT_RULE_PRUNED);
}

int audit_verify_db(struct sqlite3 *db, int64_t upto, uint64_t every,
		    void (*progress)(uint64_t rows, void *userdata), void *userdata,
		    struct ward_audit_verify *v, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct ward_audit_chain *w;
	char sql[512];
	int rc, r;

	w = ward_audit_chain_new(v);
	if (!w)
		return ward_err(err, -ENOMEM, "verify");
	r = load_revs(db, w, err);
	if (r >= 0)
		r = load_checkpoint(db, w, v, err);
	if (r < 0 || !v->intact)
		goto out;

	snprintf(sql, sizeof(sql), "SELECT %s FROM decisions WHERE id <= ? ORDER BY id",
		 audit_row_columns(db));
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = audit_sqlite_err(err, db, rc, "query decision log");
		goto out;
	}
	sqlite3_bind_int64(st, 1, upto);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ward_audit_row row;

		audit_row_read(st, &row);
		if (!ward_audit_chain_row(w, &row))
			break;
		if (progress && every && v->rows % every == 0)
			progress(v->rows, userdata);
	}
	if (v->intact && rc != SQLITE_DONE) {
		r = audit_sqlite_err(err, db, rc, "read decision log");
		goto out;
	}
	if (upto == INT64_MAX)
		ward_audit_chain_end(w);
	r = 0;
out:
	ward_audit_chain_free(w);
	return r;
}

int ward_audit_verify(const char *path, uint64_t every,
		      void (*progress)(uint64_t rows, void *userdata), void *userdata,
		      struct ward_audit_verify *ret, struct ward_error *err)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	int r;

	if (!path)
		path = ward_audit_default_path();
	r = audit_db_open_ro(path, &db, err);
	if (r < 0)
		return r;
	/* One snapshot: rows, policies and the checkpoint as of one moment, even
	 * while a writer appends or a prune runs. */
	r = audit_exec(db, "BEGIN", err);
	if (r < 0)
		return r;
	r = audit_verify_db(db, INT64_MAX, every, progress, userdata, ret, err);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return r;
}
