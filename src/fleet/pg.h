/* SPDX-License-Identifier: MIT */
/* libpq adapter for the central store (docs/fleet.md): connect with a URL,
 * create the schema, turn libpq's results into -errno plus a message. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "common/error.h"

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
