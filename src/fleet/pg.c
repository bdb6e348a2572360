// SPDX-License-Identifier: MIT
/* libpq adapter: the one place libpq's status codes become -errno. */
#include "fleet/pg.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct ward_embedded {
	const char *name;
	const char *data;
	size_t len;
};
extern const struct ward_embedded ward_fleet_sql[];

struct ward_pq ward_pq;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static char pq_error[256];

static void pq_load_once(void)
{
	void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
	struct ward_pq t;

	if (!h) {
		snprintf(pq_error, sizeof(pq_error), "%s", dlerror());
		return;
	}
#define LOAD(f)                                                                                    \
	do {                                                                                       \
		if (!(*(void **)&t.p_##f = dlsym(h, #f))) {                                        \
			snprintf(pq_error, sizeof(pq_error), "libpq.so.5 has no %s", #f);          \
			dlclose(h);                                                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)
	LOAD(PQclear);
	LOAD(PQconnectdbParams);
	LOAD(PQerrorMessage);
	LOAD(PQexec);
	LOAD(PQexecParams);
	LOAD(PQfinish);
	LOAD(PQgetResult);
	LOAD(PQgetisnull);
	LOAD(PQgetlength);
	LOAD(PQgetvalue);
	LOAD(PQntuples);
	LOAD(PQputCopyData);
	LOAD(PQputCopyEnd);
	LOAD(PQresultErrorField);
	LOAD(PQresultErrorMessage);
	LOAD(PQresultStatus);
	LOAD(PQsendQuery);
	LOAD(PQstatus);
#undef LOAD
	ward_pq = t;
}

int ward_pq_load(struct ward_error *err)
{
	pthread_once(&pq_once, pq_load_once);
	if (pq_error[0])
		return ward_errx(err, -ENOENT, "libpq: %s (install libpq5)", pq_error);
	return 0;
}

const char *ward_pg_schema_sql(void)
{
	for (const struct ward_embedded *e = ward_fleet_sql; e->name; e++)
		if (!strcmp(e->name, "schema.sql"))
			return e->data;
	return NULL;
}

/* libpq messages end in a newline; messages here do not. */
static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static bool sqlstate_transient(const char *st)
{
	if (!st)
		return false;
	/* 08: connection exception; 57P01-03: admin shutdown, crash shutdown,
	 * cannot connect now; 40001/40P01: serialisation failure, deadlock */
	return !strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
	       !strcmp(st, "57P03") || !strcmp(st, "40001") || !strcmp(st, "40P01");
}

int ward_pg_err(struct ward_error *err, PGconn *c, const PGresult *res, const char *what)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	char buf[WARD_ERROR_MAX / 2];
	int code;

	if (!msg || !*msg)
		msg = c ? PQerrorMessage(c) : "no connection";
	snprintf(buf, sizeof(buf), "%s", msg && *msg ? msg : "unknown error");
	trim(buf);
	if (!c || PQstatus(c) != CONNECTION_OK || sqlstate_transient(st))
		code = -ECONNRESET;
	else if (st && !strcmp(st, "23505"))
		code = -EEXIST;
	else
		code = -EPROTO;
	return ward_errx(err, code, "%s: %s", what, buf);
}

int ward_pg_exec(PGconn *c, const char *sql, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = PQexec(c, sql);
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return 0;
	return ward_pg_err(err, c, res, "postgresql");
}

int ward_pg_connect(const char *url, PGconn **ret, struct ward_error *err)
{
	/* earlier keywords are defaults: the URL (dbname, expanded) overrides them */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const vals[] = { "5", "ward", url, NULL };
	_cleanup_(PQfinishp) PGconn *c = NULL;
	char red[512], buf[WARD_ERROR_MAX / 2];
	const char *sql = ward_pg_schema_sql();
	int r;

	r = ward_pq_load(err);
	if (r < 0)
		return r;
	ward_pg_url_redact(url, red, sizeof(red));
	c = PQconnectdbParams(keys, vals, 1);
	if (!c)
		return ward_errx(err, -ENOMEM, "connect to %s: out of memory", red);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(buf, sizeof(buf), "%s", PQerrorMessage(c));
		trim(buf);
		return ward_errx(err, -ECONNREFUSED, "connect to %s: %s", red, buf);
	}
	if (!sql)
		return ward_errx(err, -ENOENT, "the central schema is not embedded");
	/* CREATE ... IF NOT EXISTS races between two first connections: one at a time */
	/* quiet: "already exists, skipping" notices would reach stderr */
	r = ward_pg_exec(c,
			 "BEGIN; SET LOCAL client_min_messages = warning; "
			 "SELECT pg_advisory_xact_lock(hashtext('ward.schema'))",
			 err);
	if (r >= 0)
		r = ward_pg_exec(c, sql, err);
	if (r >= 0)
		r = ward_pg_exec(c, "COMMIT", err);
	if (r < 0) {
		ward_err_prefix(err, "central schema on %s", red);
		return r == -ECONNRESET ? r : -EPROTO;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

void ward_pg_url_redact(const char *url, char *out, size_t len)
{
	const char *scheme = strstr(url, "://"), *at, *colon, *q;
	size_t o = 0;

	if (!len)
		return;
	out[0] = '\0';
	if (scheme) {
		/* postgresql://user:secret@host/db?password=x */
		const char *auth = scheme + 3;

		at = strchr(auth, '@');
		q = strpbrk(auth, "/?");
		if (at && (!q || at < q) && (colon = memchr(auth, ':', (size_t)(at - auth))))
			o = (size_t)snprintf(out, len, "%.*s%s", (int)(colon - url), url, at);
		else
			o = (size_t)snprintf(out, len, "%s", url);
		if (o < len && (q = strstr(out, "password=")))
			snprintf((char *)q, len - (size_t)(q - out), "password=***");
		return;
	}
	/* key=value: drop the password value */
	snprintf(out, len, "%s", url);
	if ((q = strstr(out, "password=")) != NULL) {
		char *e = strchr(q, ' ');
		char tail[256] = "";

		if (e)
			snprintf(tail, sizeof(tail), "%s", e);
		snprintf((char *)q, len - (size_t)(q - out), "password=***%s", tail);
	}
}

uint32_t ward_pg_backoff_next(struct ward_pg_backoff *b)
{
	b->ms = b->ms ? b->ms * 2 : 100;
	if (b->ms > 5000)
		b->ms = 5000;
	return b->ms;
}
