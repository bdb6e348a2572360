/* SPDX-License-Identifier: MIT */
/* libpq adapter for the central store (docs/fleet.md): connect with a URL,
 * create the schema, turn libpq's results into -errno plus a message. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "common/error.h"

/* libpq is loaded when ward first connects (dlopen), not linked: every other
 * command starts without it and the dozen libraries it pulls in (Kerberos,
 * LDAP, a shared OpenSSL), which would cost each `ward exec` their mapping
 * and relocation. The calls below go through this table. */
struct ward_pq {
	__typeof__(PQclear) *p_PQclear;
	__typeof__(PQconnectdbParams) *p_PQconnectdbParams;
	__typeof__(PQerrorMessage) *p_PQerrorMessage;
	__typeof__(PQexec) *p_PQexec;
	__typeof__(PQexecParams) *p_PQexecParams;
	__typeof__(PQfinish) *p_PQfinish;
	__typeof__(PQgetResult) *p_PQgetResult;
	__typeof__(PQgetisnull) *p_PQgetisnull;
	__typeof__(PQgetlength) *p_PQgetlength;
	__typeof__(PQgetvalue) *p_PQgetvalue;
	__typeof__(PQntuples) *p_PQntuples;
	__typeof__(PQputCopyData) *p_PQputCopyData;
	__typeof__(PQputCopyEnd) *p_PQputCopyEnd;
	__typeof__(PQresultErrorField) *p_PQresultErrorField;
	__typeof__(PQresultErrorMessage) *p_PQresultErrorMessage;
	__typeof__(PQresultStatus) *p_PQresultStatus;
	__typeof__(PQsendQuery) *p_PQsendQuery;
	__typeof__(PQstatus) *p_PQstatus;
};
extern struct ward_pq ward_pq;
/* Load libpq.so.5 once (thread-safe); -ENOENT with a hint when it is missing. */
int ward_pq_load(struct ward_error *err);

#define PQclear (*ward_pq.p_PQclear)
#define PQconnectdbParams (*ward_pq.p_PQconnectdbParams)
#define PQerrorMessage (*ward_pq.p_PQerrorMessage)
#define PQexec (*ward_pq.p_PQexec)
#define PQexecParams (*ward_pq.p_PQexecParams)
#define PQfinish (*ward_pq.p_PQfinish)
#define PQgetResult (*ward_pq.p_PQgetResult)
#define PQgetisnull (*ward_pq.p_PQgetisnull)
#define PQgetlength (*ward_pq.p_PQgetlength)
#define PQgetvalue (*ward_pq.p_PQgetvalue)
#define PQntuples (*ward_pq.p_PQntuples)
#define PQputCopyData (*ward_pq.p_PQputCopyData)
#define PQputCopyEnd (*ward_pq.p_PQputCopyEnd)
#define PQresultErrorField (*ward_pq.p_PQresultErrorField)
#define PQresultErrorMessage (*ward_pq.p_PQresultErrorMessage)
#define PQresultStatus (*ward_pq.p_PQresultStatus)
#define PQsendQuery (*ward_pq.p_PQsendQuery)
#define PQstatus (*ward_pq.p_PQstatus)

DEFINE_CLEANUP(PGconn *, PQfinish)
DEFINE_CLEANUP(PGresult *, PQclear)

/* The central schema (src/fleet/schema.sql), embedded at build time. */
const char *ward_pg_schema_sql(void);

/* Connect to url (postgresql://... or a libpq key=value string; connect
 * timeout 5 s unless the URL sets one) and run the schema (idempotent,
 * serialised by an advisory lock). -ECONNREFUSED when the server cannot be
 * reached, -EPROTO when the schema fails. */
int ward_pg_connect(const char *url, PGconn **ret, struct ward_error *err);

/* The error of a failed command: -ECONNRESET when the connection is gone or
 * the server is shutting down or restarting (worth a reconnect; also a
 * serialisation failure or deadlock: worth a retry), -EEXIST for a unique
 * violation, -EPROTO for anything else; err gets "what: server message". */
int ward_pg_err(struct ward_error *err, PGconn *c, const PGresult *res, const char *what);

/* Run sql (no parameters); -errno as ward_pg_err unless the result is
 * expected (PGRES_COMMAND_OK or PGRES_TUPLES_OK). */
int ward_pg_exec(PGconn *c, const char *sql, struct ward_error *err);

/* The URL without its password (user:secret@ -> user@, password=... dropped),
 * for messages and status files. */
void ward_pg_url_redact(const char *url, char *out, size_t len);

/* Bounded exponential backoff for reconnects: 100 ms doubling up to 5 s. */
struct ward_pg_backoff {
	uint32_t ms;
};
/* The next delay in milliseconds (and advance); reset after a success. */
uint32_t ward_pg_backoff_next(struct ward_pg_backoff *b);
static inline void ward_pg_backoff_reset(struct ward_pg_backoff *b)
{
	b->ms = 0;
}
