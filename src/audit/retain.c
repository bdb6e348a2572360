// SPDX-License-Identifier: MIT
/* Retention: delete the oldest rows by age or by size, and keep what remains
 * verifiable. The last deleted row's id and hash become the chain's new
 * start (meta checkpoint), and a chained lifecycle row records the prune, so
 * a checkpoint written by hand is caught by verify. */
#include "audit/verify.h"
#include "audit/audit.h"
#include "audit/db.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_one(const char *s, size_t len, struct ward_audit_retain *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
		bool age;
	} units[] = {
		{ "s", 1000000000ull, true },
		{ "m", 60000000000ull, true },
		{ "h", 3600000000000ull, true },
		{ "d", 86400000000000ull, true },
		{ "w", 604800000000000ull, true },
		{ "b", 1, false },
		{ "k", 1000, false },
		{ "kb", 1000, false },
		{ "kib", 1024, false },
		{ "mb", 1000000, false },
		{ "mib", 1048576, false },
		{ "gb", 1000000000, false },
		{ "gib", 1073741824, false },
		{ "g", 1000000000, false },
	};
	uint64_t v = 0;
	size_t i = 0;

	for (; i < len && isdigit((unsigned char)s[i]); i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0 || v == 0)
		return -EINVAL;
	/* "m" is minutes, "M"/"MB" is megabytes: a bare upper-case M means size. */
	if (len - i == 1 && s[i] == 'M') {
		if (ret->max_bytes || v > UINT64_MAX / 1000000)
			return ret->max_bytes ? -EINVAL : -ERANGE;
		ret->max_bytes = v * 1000000;
		return 0;
	}
	for (size_t u = 0; u < ARRAY_SIZE(units); u++) {
		if (strlen(units[u].suffix) != len - i ||
		    strncasecmp(s + i, units[u].suffix, len - i))
			continue;
		if (v > UINT64_MAX / units[u].mult)
			return -ERANGE;
		if (units[u].age) {
			if (ret->max_age_ns)
				return -EINVAL;
			ret->max_age_ns = v * units[u].mult;
		} else {
			if (ret->max_bytes)
				return -EINVAL;
			ret->max_bytes = v * units[u].mult;
		}
		return 0;
	}
	return -EINVAL;
}

int ward_audit_parse_retain(const char *s, struct ward_audit_retain *ret)
{
	struct ward_audit_retain t = { 0 };
	int r;

	if (!s || !*s)
		return -EINVAL;
	for (;;) {
		size_t n = strcspn(s, ",");

		r = parse_one(s, n, &t);
		if (r < 0)
			return r;
		if (!s[n])
			break;
		s += n + 1;
	}
	*ret = t;
	return 0;
}

static int query_int(sqlite3 *db, const char *sql, int64_t bind, bool has_bind, int64_t *ret,
		     bool *ret_null, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "prune");
	if (has_bind)
		sqlite3_bind_int64(st, 1, bind);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return audit_sqlite_err(err, db, rc, "prune");
	if (ret_null)
		*ret_null = rc == SQLITE_DONE || sqlite3_column_type(st, 0) == SQLITE_NULL;
	*ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return 0;
}

static int db_bytes(sqlite3 *db, uint64_t *ret, struct ward_error *err)
{
	int64_t pages, size, freel;
	int r;

	r = query_int(db, "PRAGMA page_count", 0, false, &pages, NULL, err);
	if (r >= 0)
		r = query_int(db, "PRAGMA page_size", 0, false, &size, NULL, err);
	if (r >= 0)
		r = query_int(db, "PRAGMA freelist_count", 0, false, &freel, NULL, err);
	if (r < 0)
		return r;
	*ret = (uint64_t)(pages - freel) * (uint64_t)size;
	return 0;
}

static int hash_of(sqlite3 *db, int64_t id, char out[65], struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	const char *h;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT hash FROM decisions WHERE id = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "prune");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return ward_errx(err, -EBADMSG, "prune: row %" PRId64 " is missing", id);
	h = (const char *)sqlite3_column_text(st, 0);
	if (!h || strlen(h) != 64)
		return ward_errx(err, -EBADMSG, "prune: row %" PRId64 " has no valid hash", id);
	memcpy(out, h, 65);
	return 0;
}

static int set_meta(sqlite3 *db, const char *key, const char *value, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "prune: meta");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : audit_sqlite_err(err, db, rc, "prune: meta");
}

/* The lifecycle row, chained to the head like the writer's rows. */
static int insert_marker(sqlite3 *db, int64_t id, const char *prev, const char *reason,
			 struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct ward_audit_row row = {
		.id = id,
		.ts_ns = (int64_t)ward_now_ns(),
		.layer = "lifecycle",
		.action = "audit",
		.rule = WARD_AUDIT_RULE_PRUNED,
		.reason = reason,
	};
	char h[65];
	int rc, r;

	r = ward_audit_row_hash(prev, &row, h);
	if (r < 0)
		return ward_err(err, r, "prune: hash");
	rc = sqlite3_prepare_v2(db,
				"INSERT INTO decisions(id, ts_ns, layer, action, rule, reason, hash)"
				" VALUES (?, ?, ?, ?, ?, ?, ?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "prune: insert");
	sqlite3_bind_int64(st, 1, row.id);
	sqlite3_bind_int64(st, 2, row.ts_ns);
	sqlite3_bind_text(st, 3, row.layer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, row.action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, row.rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, row.reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, h, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : audit_sqlite_err(err, db, rc, "prune: insert");
}

/* Inside the write transaction: the last id to delete, 0 for none. */
static int pick_cut(sqlite3 *db, const struct ward_audit_retain *rt, uint64_t now_ns,
		    int64_t min_id, int64_t max_id, uint64_t bytes, int64_t *ret,
		    struct ward_error *err)
{
	int64_t cut = 0, v;
	bool null;
	int r;

	if (rt->max_age_ns) {
		uint64_t limit = now_ns > rt->max_age_ns ? now_ns - rt->max_age_ns : 0;

		/* Everything before the first young row goes: ids are the order
		 * auditors read, so never leave an old row behind a younger one. */
		r = query_int(db, "SELECT MIN(id) FROM decisions WHERE ts_ns >= ?",
			      limit > INT64_MAX ? INT64_MAX : (int64_t)limit, true, &v, &null, err);
		if (r < 0)
			return r;
		cut = null ? max_id : v - 1;
	}
	if (rt->max_bytes && bytes > rt->max_bytes && max_id >= min_id) {
		uint64_t rows = (uint64_t)(max_id - min_id + 1);
		/* rows in proportion to the bytes allowed, down to 75% of the
		 * limit: room for what indexes and half-filled pages add after
		 * VACUUM, and hysteresis so a busy log is not pruned on every run. */
		uint64_t keep =
			(uint64_t)((double)rows * (double)rt->max_bytes / (double)bytes * 0.75);
		int64_t c = max_id - (int64_t)keep;

		if (c > cut)
			cut = c;
	}
	*ret = cut >= min_id ? cut : 0;
	return 0;
}

int ward_audit_prune(const char *path, const struct ward_audit_retain *rt, uint64_t now_ns,
		     struct ward_audit_prune_result *ret, struct ward_error *err)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	struct ward_audit_prune_result res = { 0 };
	struct ward_audit_verify v;
	int64_t min_id, max_id, cut;
	char head[65], reason[256], num[32];
	bool null;
	int r;

	if (!path)
		path = ward_audit_default_path();
	if (!rt->max_age_ns && !rt->max_bytes)
		return ward_errx(err, -EINVAL, "prune: no retention limit given");
	r = audit_db_open_rw(path, &db, err);
	if (r < 0)
		return r;
	/* Fold the WAL into the file first so the size measured is the data's. */
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	r = audit_exec(db, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return ward_err_prefix(err, "prune");
	r = db_bytes(db, &res.bytes_before, err);
	if (r >= 0)
		r = query_int(db, "SELECT MIN(id) FROM decisions", 0, false, &min_id, &null, err);
	if (r >= 0 && null) /* empty log: nothing to do */
		goto rollback;
	if (r >= 0)
		r = query_int(db, "SELECT MAX(id) FROM decisions", 0, false, &max_id, NULL, err);
	if (r >= 0)
		r = pick_cut(db, rt, now_ns, min_id, max_id, res.bytes_before, &cut, err);
	if (r < 0 || cut == 0)
		goto rollback;

	r = audit_verify_db(db, cut, 0, NULL, NULL, &v, err);
	if (r >= 0 && !v.intact) {
		r = ward_errx(err, -EBADMSG,
			      "refusing to prune a broken chain (first bad id %" PRId64 ": %s)",
			      v.bad_id, v.problem);
		goto rollback;
	}
	if (r >= 0)
		r = hash_of(db, cut, res.checkpoint_hash, err);
	if (r >= 0)
		r = hash_of(db, max_id, head, err);
	if (r < 0)
		goto rollback;
	res.pruned = v.rows;
	res.checkpoint_id = cut;
	snprintf(num, sizeof(num), "%" PRId64, cut);
	snprintf(reason, sizeof(reason),
		 "pruned %" PRIu64 " rows before id %" PRId64 " (checkpoint id %" PRId64
		 " hash %s)",
		 res.pruned, cut + 1, cut, res.checkpoint_hash);
	{
		_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db, "DELETE FROM decisions WHERE id <= ?", -1, &st,
					    NULL);

		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, cut);
			rc = sqlite3_step(st);
		}
		if (rc != SQLITE_DONE && rc != SQLITE_OK) {
			r = audit_sqlite_err(err, db, rc, "prune: delete");
			goto rollback;
		}
	}
	r = set_meta(db, WARD_AUDIT_META_CKPT_ID, num, err);
	if (r >= 0)
		r = set_meta(db, WARD_AUDIT_META_CKPT_HASH, res.checkpoint_hash, err);
	res.marker_id = max_id + 1;
	if (r >= 0)
		r = insert_marker(db, res.marker_id, head, reason, err);
	if (r >= 0)
		r = audit_exec(db, "COMMIT", err);
	if (r < 0)
		goto rollback;
	/* Give the space back: only a size limit needs the file to shrink, and
	 * VACUUM needs every other writer to be idle, so a failure is not fatal. */
	if (rt->max_bytes)
		sqlite3_exec(db, "VACUUM", NULL, NULL, NULL);
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	db_bytes(db, &res.bytes_after, NULL);
	*ret = res;
	return 0;

rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (r >= 0) {
		res.bytes_after = res.bytes_before;
		*ret = res;
	}
	return r;
}
