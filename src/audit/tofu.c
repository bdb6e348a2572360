// SPDX-License-Identifier: MIT
/* TOFU records (tofu.h): one INSERT OR IGNORE and one SELECT in a transaction,
 * so two wards starting at once agree on which hash came first. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "audit/db.h"
#include "audit/tofu.h"
#include "common/util.h"

int ward_audit_tofu(const char *db_path, const char *path, const char *sha256, char known[65],
		    bool *ret_first, struct ward_error *err)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *sel = NULL;
	const unsigned char *s;
	int rc, r;

	r = audit_db_open_rw(db_path, &db, err);
	if (r < 0)
		return r;
	r = audit_exec(db, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	rc = sqlite3_prepare_v2(db,
				"INSERT OR IGNORE INTO binaries(path, sha256, first_seen) "
				"VALUES(?, ?, ?)",
				-1, &ins, NULL);
	if (rc != SQLITE_OK)
		goto sql_fail;
	sqlite3_bind_text(ins, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, (sqlite3_int64)(ward_now_ns() / 1000000000ull));
	rc = sqlite3_step(ins);
	if (rc != SQLITE_DONE)
		goto sql_fail;
	if (ret_first)
		*ret_first = sqlite3_changes(db) > 0;
	rc = sqlite3_prepare_v2(db, "SELECT sha256 FROM binaries WHERE path = ?", -1, &sel, NULL);
	if (rc != SQLITE_OK)
		goto sql_fail;
	sqlite3_bind_text(sel, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(sel);
	if (rc != SQLITE_ROW)
		goto sql_fail;
	s = sqlite3_column_text(sel, 0);
	if (!s || strlen((const char *)s) != 64) {
		audit_exec(db, "ROLLBACK", NULL);
		return ward_errx(err, -EBADMSG, "binaries table: bad sha256 for %s", path);
	}
	memcpy(known, s, 65);
	return audit_exec(db, "COMMIT", err);
sql_fail:
	r = audit_sqlite_err(err, db, rc, "tofu");
	audit_exec(db, "ROLLBACK", NULL);
	return r;
}
