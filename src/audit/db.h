/* SPDX-License-Identifier: MIT */
/* Internal to src/audit: the one place SQLite result codes become -errno, and
 * the schema every connection agrees on. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>

#include "common/cleanup.h"
#include "common/error.h"

/* 2 added decisions.session and decisions.via, 3 decisions.uid and
 * decisions.cgroup; older logs are read as they are and migrated when opened
 * for writing. */
#define WARD_AUDIT_SCHEMA_VERSION 3
/* How long a connection waits for another writer's lock before SQLITE_BUSY. */
#define WARD_AUDIT_BUSY_MS 5000

DEFINE_CLEANUP(sqlite3 *, sqlite3_close_v2)
DEFINE_CLEANUP(sqlite3_stmt *, sqlite3_finalize)

/* SQLite result code -> negative errno. */
int audit_sqlite_errno(sqlite3 *db, int rc);
/* Fill err with "what: sqlite message" and return the mapped -errno. */
int audit_sqlite_err(struct ward_error *err, sqlite3 *db, int rc, const char *what);

/* Open read-write (creating the file 0600 and missing directories 0700), set
 * WAL, synchronous=NORMAL and busy_timeout, create the schema if missing. */
int audit_db_open_rw(const char *path, sqlite3 **ret, struct ward_error *err);
/* Open an existing database read-only and check its schema version. */
int audit_db_open_ro(const char *path, sqlite3 **ret, struct ward_error *err);

int audit_exec(sqlite3 *db, const char *sql, struct ward_error *err);

struct ward_audit_row;

/* The decisions columns in the order audit_row_read() expects them, for a
 * log of db's schema version (version 1 has no session and via, versions 1
 * and 2 no uid and cgroup: NULL). */
const char *audit_row_columns(sqlite3 *db);
/* The log has the session column (schema version 2 and later). */
bool audit_has_session(sqlite3 *db);

/* The current row of st (a SELECT of audit_row_columns()) into *ret; its strings
 * live until the next step or reset of st. */
void audit_row_read(sqlite3_stmt *st, struct ward_audit_row *ret);
