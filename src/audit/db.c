// SPDX-License-Identifier: MIT
/* SQLite adapter: open, pragmas, schema, and the error-code conversion. */
#include "audit/db.h"

#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '3');"
	"CREATE TABLE IF NOT EXISTS decisions("
	" id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, sandbox TEXT, layer TEXT NOT NULL,"
	" action TEXT NOT NULL, binary TEXT, binary_sha256 TEXT, pid INTEGER, host TEXT, ip TEXT,"
	" port INTEGER, protocol TEXT, method TEXT, path TEXT, rule TEXT, reason TEXT,"
	" policy_rev TEXT, hash TEXT NOT NULL, session TEXT, via TEXT, uid INTEGER, cgroup TEXT);"
	"CREATE INDEX IF NOT EXISTS decisions_ts ON decisions(ts_ns);"
	"CREATE INDEX IF NOT EXISTS decisions_layer_action ON decisions(layer, action);"
	"CREATE INDEX IF NOT EXISTS decisions_sandbox ON decisions(sandbox);"
	"CREATE TABLE IF NOT EXISTS policies(rev TEXT PRIMARY KEY, source TEXT NOT NULL,"
	" compiled TEXT NOT NULL, loaded_at INTEGER NOT NULL);"
	/* Trust-on-first-use hashes of binaries, for the proxy (issue 4). */
	"CREATE TABLE IF NOT EXISTS binaries(path TEXT, sha256 TEXT, first_seen INTEGER,"
	" PRIMARY KEY(path));";

int audit_sqlite_errno(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		sys = db ? sqlite3_system_errno(db) : 0;
		if (sys > 0)
			return -sys;
		return (rc & 0xff) == SQLITE_CANTOPEN ? -ENOENT : -EIO;
	default:
		return -EIO;
	}
}

int audit_sqlite_err(struct ward_error *err, sqlite3 *db, int rc, const char *what)
{
	int code = audit_sqlite_errno(db, rc);

	if (code == 0)
		code = -EIO;
	return ward_errx(err, code, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

int audit_exec(sqlite3 *db, const char *sql, struct ward_error *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "sqlite");
	return 0;
}

/* mkdir -p for the log's directory; components we create are 0700 because the
 * log names hosts, paths and binaries. */
static int mkdir_parents(const char *path, struct ward_error *err)
{
	char buf[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof(buf))
		return ward_errx(err, -ENAMETOOLONG, "log path too long");
	strcpy(buf, path);
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return ward_err(err, -errno, "create '%s'", buf);
		*p = saved;
		if (!saved)
			break;
	}
	return 0;
}

static int read_schema_version(sqlite3 *db, int *ret, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "not a ward decision log");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return ward_errx(err, -EBADMSG, "not a ward decision log (no schema version)");
	*ret = atoi((const char *)sqlite3_column_text(st, 0));
	return 0;
}

/* Versions this ward reads: 1 to 3. With migrate (a read-write open inside
 * its transaction), an older log gets the columns it lacks: version 2 added
 * session and via, version 3 uid and cgroup. */
static int check_version(sqlite3 *db, bool migrate, struct ward_error *err)
{
	int v = 0, r;

	r = read_schema_version(db, &v, err);
	if (r < 0)
		return r;
	if (v < 1 || v > WARD_AUDIT_SCHEMA_VERSION)
		return ward_errx(err, -EPROTO,
				 "decision log schema version %d, this ward knows 1..%d", v,
				 WARD_AUDIT_SCHEMA_VERSION);
	if (migrate && v == 1) {
		r = audit_exec(db,
			       "ALTER TABLE decisions ADD COLUMN session TEXT;"
			       "ALTER TABLE decisions ADD COLUMN via TEXT;"
			       "UPDATE meta SET value = '2' WHERE key = 'schema_version';",
			       err);
		if (r < 0)
			return r;
		v = 2;
	}
	if (migrate && v == 2)
		return audit_exec(db,
				  "ALTER TABLE decisions ADD COLUMN uid INTEGER;"
				  "ALTER TABLE decisions ADD COLUMN cgroup TEXT;"
				  "UPDATE meta SET value = '3' WHERE key = 'schema_version';",
				  err);
	return 0;
}

bool audit_has_session(sqlite3 *db)
{
	struct ward_error err = { 0 };
	int v = WARD_AUDIT_SCHEMA_VERSION;

	read_schema_version(db, &v, &err);
	return v >= 2;
}

const char *audit_row_columns(sqlite3 *db)
{
	struct ward_error err = { 0 };
	int v = WARD_AUDIT_SCHEMA_VERSION;

	read_schema_version(db, &v, &err);
	if (v >= 3)
		return "id, ts_ns, sandbox, layer, action, binary, binary_sha256, pid, host, ip,"
		       " port, protocol, method, path, rule, reason, policy_rev, hash, session, via,"
		       " uid, cgroup";
	return v >= 2 ? "id, ts_ns, sandbox, layer, action, binary, binary_sha256, pid, host, ip,"
			" port, protocol, method, path, rule, reason, policy_rev, hash, session, via,"
			" NULL, NULL"
		      : "id, ts_ns, sandbox, layer, action, binary, binary_sha256, pid, host, ip,"
			" port, protocol, method, path, rule, reason, policy_rev, hash, NULL, NULL,"
			" NULL, NULL";
}

int audit_db_open_rw(const char *path, sqlite3 **ret, struct ward_error *err)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	_cleanup_close_ int fd = -1;
	int rc, r;

	r = mkdir_parents(path, err);
	if (r < 0)
		return r;
	/* Create it ourselves so the file (and the -wal/-shm SQLite derives from
	 * it) is 0600 whatever the umask. Only when it does not exist yet: closing
	 * any fd of a file drops this process's POSIX locks on it, and a SQLite
	 * connection that lost its lock lets another process believe it is the
	 * last one and delete the WAL under it (rows lost). */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return ward_err(err, -errno, "create '%s'", path);
	if (fd >= 0)
		close(TAKE_FD(fd));
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, path);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, WARD_AUDIT_BUSY_MS);
	r = audit_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err);
	if (r < 0)
		return ward_err_prefix(err, "%s", path);
	r = audit_exec(db, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return ward_err_prefix(err, "%s", path);
	r = audit_exec(db, schema_sql, err);
	if (r >= 0)
		r = check_version(db, true, err);
	if (r < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return ward_err_prefix(err, "%s", path);
	}
	r = audit_exec(db, "COMMIT", err);
	if (r < 0)
		return ward_err_prefix(err, "%s", path);
	*ret = TAKE_PTR(db);
	return 0;
}

int audit_db_open_ro(const char *path, sqlite3 **ret, struct ward_error *err)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	struct stat st;
	int rc, r;

	if (stat(path, &st) < 0)
		return ward_err(err, -errno, "no decision log at '%s'", path);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, path);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, WARD_AUDIT_BUSY_MS);
	r = check_version(db, false, err);
	if (r < 0)
		return ward_err_prefix(err, "%s", path);
	*ret = TAKE_PTR(db);
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

void audit_row_read(sqlite3_stmt *st, struct ward_audit_row *ret)
{
	*ret = (struct ward_audit_row){
		.id = sqlite3_column_int64(st, 0),
		.ts_ns = sqlite3_column_int64(st, 1),
		.sandbox = col_text(st, 2),
		.layer = col_text(st, 3),
		.action = col_text(st, 4),
		.binary = col_text(st, 5),
		.binary_sha256 = col_text(st, 6),
		.has_pid = sqlite3_column_type(st, 7) != SQLITE_NULL,
		.pid = sqlite3_column_int64(st, 7),
		.host = col_text(st, 8),
		.ip = col_text(st, 9),
		.has_port = sqlite3_column_type(st, 10) != SQLITE_NULL,
		.port = sqlite3_column_int64(st, 10),
		.protocol = col_text(st, 11),
		.method = col_text(st, 12),
		.path = col_text(st, 13),
		.rule = col_text(st, 14),
		.reason = col_text(st, 15),
		.policy_rev = col_text(st, 16),
		.hash = col_text(st, 17),
		.session = col_text(st, 18),
		.via = col_text(st, 19),
		.has_uid = sqlite3_column_type(st, 20) != SQLITE_NULL,
		.uid = sqlite3_column_int64(st, 20),
		.cgroup = col_text(st, 21),
	};
}
