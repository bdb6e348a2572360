// SPDX-License-Identifier: MIT
/* ward logs ship: stream the local SQLite log into the central store. Each
 * batch is one PostgreSQL transaction: lock the host row, COPY the rows after
 * its shipped_id, advance shipped_id, commit. A batch that does not commit
 * leaves nothing behind, so resuming from shipped_id has no duplicate and no
 * gap (docs/fleet.md). */
#include "fleet/ship.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/db.h"
#include "audit/verify.h"
#include "common/util.h"
#include "fleet/pg.h"

/* The central decisions columns after host_id (src/fleet/schema.sql). A local
 * log without one of them (older schema) ships NULL for it. */
static const char *const columns[] = {
	"id",	      "ts_ns", "sandbox", "layer",    "action", "binary", "binary_sha256", "pid",
	"host",	      "ip",    "port",	  "protocol", "method", "path",	  "rule",	   "reason",
	"policy_rev", "hash",  "session", "via",      "uid",	"cgroup",
};
enum { C_ID = 0, C_BINARY = 5, C_HASH = 17, N_COLUMNS = 22 };
_Static_assert(sizeof(columns) / sizeof(columns[0]) == N_COLUMNS, "columns");

#define COPY_FLUSH (256 * 1024)

struct meta {
	int64_t ckpt_id; /* 0: none */
	char ckpt_hash[72];
	char bundle_version[24]; /* "" when absent */
	char bundle_sha256[72];
};

struct ward_shipper {
	sqlite3 *db;
	PGconn *pg;
	char *url;
	char url_red[512];
	char host_id[256];
	char host_esc[512]; /* host_id escaped for COPY text */
	uint32_t batch;
	char select_sql[1024];
	/* what the central store holds, known after a commit on this connection */
	bool known;
	int64_t shipped_id;
	struct meta shipped_meta;
	struct ward_ship_progress prog;
	char *buf;
	size_t len;
};

DEFINE_CLEANUP(struct ward_shipper *, ward_ship_free)

const char *ward_ship_host_id(const struct ward_shipper *s)
{
	return s->host_id;
}

static void escape_copy(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 3 < cap; i++) {
		switch (s[i]) {
		case '\\':
			out[o++] = '\\';
			out[o++] = '\\';
			break;
		case '\n':
			out[o++] = '\\';
			out[o++] = 'n';
			break;
		case '\r':
			out[o++] = '\\';
			out[o++] = 'r';
			break;
		case '\t':
			out[o++] = '\\';
			out[o++] = 't';
			break;
		default:
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* Which of the central columns the local table has (PRAGMA table_info). */
static int build_select(struct ward_shipper *s, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	bool have[N_COLUMNS] = { 0 };
	size_t o = 0;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA table_info(decisions)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, s->db, rc, "read the log's columns");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		for (int i = 0; name && i < N_COLUMNS; i++)
			if (!strcmp(name, columns[i]))
				have[i] = true;
	}
	if (rc != SQLITE_DONE)
		return audit_sqlite_err(err, s->db, rc, "read the log's columns");
	if (!have[C_ID] || !have[C_HASH])
		return ward_errx(err, -EBADMSG, "not a ward decision log (no id or hash column)");
	o = (size_t)snprintf(s->select_sql, sizeof(s->select_sql), "SELECT ");
	for (int i = 0; i < N_COLUMNS; i++)
		o += (size_t)snprintf(s->select_sql + o, sizeof(s->select_sql) - o, "%s%s%s%s",
				      i ? ", " : "", have[i] ? "\"" : "NULL",
				      have[i] ? columns[i] : "", have[i] ? "\"" : "");
	snprintf(s->select_sql + o, sizeof(s->select_sql) - o,
		 " FROM decisions WHERE id > ?1 AND id <= ?2 ORDER BY id");
	return 0;
}

int ward_ship_new(const struct ward_ship_config *cfg, struct ward_shipper **ret,
		  struct ward_error *err)
{
	_cleanup_(ward_ship_freep) struct ward_shipper *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return ward_err(err, -ENOMEM, "shipper");
	s->batch = cfg->batch ? cfg->batch : WARD_SHIP_BATCH_DEFAULT;
	if (s->batch > WARD_SHIP_BATCH_MAX)
		return ward_errx(err, -EINVAL, "batch %" PRIu32 " exceeds %d", s->batch,
				 WARD_SHIP_BATCH_MAX);
	if (cfg->host_id)
		snprintf(s->host_id, sizeof(s->host_id), "%s", cfg->host_id);
	else if (gethostname(s->host_id, sizeof(s->host_id) - 1) < 0)
		return ward_err(err, -errno, "hostname");
	if (!s->host_id[0])
		return ward_errx(err, -EINVAL, "empty host id");
	escape_copy(s->host_id, strlen(s->host_id), s->host_esc, sizeof(s->host_esc));
	s->url = strdup(cfg->url);
	s->buf = malloc(COPY_FLUSH + 64 * 1024);
	if (!s->url || !s->buf)
		return ward_err(err, -ENOMEM, "shipper");
	ward_pg_url_redact(cfg->url, s->url_red, sizeof(s->url_red));
	r = audit_db_open_ro(cfg->log_path, &s->db, err);
	if (r < 0)
		return r;
	r = build_select(s, err);
	if (r < 0)
		return r;
	s->prog.host_id = s->host_id;
	*ret = TAKE_PTR(s);
	return 0;
}

void ward_ship_free(struct ward_shipper *s)
{
	if (!s)
		return;
	if (s->pg)
		PQfinish(s->pg);
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s->url);
	free(s->buf);
	free(s);
}

static void drop_connection(struct ward_shipper *s)
{
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
	s->known = false;
}

static int read_meta(sqlite3 *db, struct meta *m, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = sqlite3_prepare_v2(db,
				"SELECT key, value FROM meta WHERE key IN (?1, ?2, "
				"'bundle_version', 'bundle_sha256')",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "read the log's meta");
	sqlite3_bind_text(st, 1, WARD_AUDIT_META_CKPT_ID, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, WARD_AUDIT_META_CKPT_HASH, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);

		if (!k || !v)
			continue;
		if (!strcmp(k, WARD_AUDIT_META_CKPT_ID))
			m->ckpt_id = strtoll(v, NULL, 10);
		else if (!strcmp(k, WARD_AUDIT_META_CKPT_HASH))
			snprintf(m->ckpt_hash, sizeof(m->ckpt_hash), "%s", v);
		else if (!strcmp(k, "bundle_version"))
			snprintf(m->bundle_version, sizeof(m->bundle_version), "%s", v);
		else
			snprintf(m->bundle_sha256, sizeof(m->bundle_sha256), "%s", v);
	}
	if (rc != SQLITE_DONE)
		return audit_sqlite_err(err, db, rc, "read the log's meta");
	return 0;
}

static int query_int(sqlite3 *db, const char *sql, int64_t arg, int64_t *ret, bool *ret_null,
		     struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "read the log");
	sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return audit_sqlite_err(err, db, rc, "read the log");
	*ret_null = rc == SQLITE_DONE || sqlite3_column_type(st, 0) == SQLITE_NULL;
	*ret = *ret_null ? 0 : sqlite3_column_int64(st, 0);
	return 0;
}

static int local_hash(sqlite3 *db, int64_t id, char out[72], struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT hash FROM decisions WHERE id = ?1", -1, &st, NULL);

	out[0] = '\0';
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "read the log");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, 72, "%s", (const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return audit_sqlite_err(err, db, rc, "read the log");
	return 0;
}

/* PQexecParams with text parameters; -errno as ward_pg_err. */
static int pg_params(struct ward_shipper *s, const char *sql, int n, const char *const *vals,
		     PGresult **ret, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = PQexecParams(s->pg, sql, n, NULL, vals, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return ward_pg_err(err, s->pg, res, "postgresql");
	if (ret)
		*ret = TAKE_PTR(res);
	return 0;
}

/* The policies and binaries this batch's rows name, before the rows. */
static int ship_refs(struct ward_shipper *s, int64_t from, int64_t to, struct ward_error *err)
{
	static const char *const sel[2] = {
		"SELECT rev, source, compiled, loaded_at FROM policies WHERE rev IN "
		"(SELECT DISTINCT policy_rev FROM decisions WHERE id > ?1 AND id <= ?2)",
		"SELECT path, sha256, first_seen FROM binaries WHERE path IN "
		"(SELECT DISTINCT binary FROM decisions WHERE id > ?1 AND id <= ?2)",
	};
	static const char *const ins[2] = {
		"INSERT INTO ward.policies (host_id, rev, source, compiled, loaded_at) "
		"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		"INSERT INTO ward.binaries (host_id, path, sha256, first_seen) "
		"VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	};
	static const int ncol[2] = { 4, 3 };

	for (int t = 0; t < 2; t++) {
		_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(s->db, sel[t], -1, &st, NULL);

		if (rc != SQLITE_OK)
			return audit_sqlite_err(err, s->db, rc, "read the log");
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, to);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *v[5] = { s->host_id };
			int r;

			for (int i = 0; i < ncol[t]; i++)
				v[i + 1] = (const char *)sqlite3_column_text(st, i);
			r = pg_params(s, ins[t], ncol[t] + 1, v, NULL, err);
			if (r < 0)
				return r;
		}
		if (rc != SQLITE_DONE)
			return audit_sqlite_err(err, s->db, rc, "read the log");
	}
	return 0;
}

static int copy_flush(struct ward_shipper *s, struct ward_error *err)
{
	if (s->len && PQputCopyData(s->pg, s->buf, (int)s->len) != 1)
		return ward_pg_err(err, s->pg, NULL, "COPY");
	s->len = 0;
	return 0;
}

static char *put_i64(char *p, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	if (v < 0)
		*p++ = '-';
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Append one column value to the COPY buffer (text format). */
static int put_value(struct ward_shipper *s, sqlite3_stmt *st, int i, struct ward_error *err)
{
	const unsigned char *t;
	int n;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		memcpy(s->buf + s->len, "\\N", 2);
		s->len += 2;
		return 0;
	case SQLITE_INTEGER:
		s->len = (size_t)(put_i64(s->buf + s->len, sqlite3_column_int64(st, i)) - s->buf);
		return 0;
	default:
		t = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		for (int k = 0; k < n; k++) {
			char c = (char)t[k], e = 0;

			if (s->len + 8 > COPY_FLUSH + 32 * 1024) {
				int r = copy_flush(s, err);

				if (r < 0)
					return r;
			}
			switch (c) {
			case '\\':
				e = '\\';
				break;
			case '\n':
				e = 'n';
				break;
			case '\r':
				e = 'r';
				break;
			case '\t':
				e = 't';
				break;
			default:
				break;
			}
			if (e) {
				s->buf[s->len++] = '\\';
				s->buf[s->len++] = e;
			} else {
				s->buf[s->len++] = c;
			}
		}
		return 0;
	}
}

/* COPY the rows (from, to] into ward.decisions; *ret_last is the last id
 * sent, ret_hash its chain hash. Rows must follow each other without a hole. */
static int copy_rows(struct ward_shipper *s, int64_t from, int64_t to, int64_t *ret_last,
		     char ret_hash[72], uint64_t *ret_rows, struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	char sql[768];
	size_t o;
	int64_t prev = from;
	uint64_t rows = 0;
	int rc, r = 0;

	o = (size_t)snprintf(sql, sizeof(sql), "COPY ward.decisions (host_id");
	for (int i = 0; i < N_COLUMNS; i++)
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, ", \"%s\"", columns[i]);
	snprintf(sql + o, sizeof(sql) - o, ") FROM STDIN");

	rc = sqlite3_prepare_v2(s->db, s->select_sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, s->db, rc, "read the log");
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);

	res = PQexec(s->pg, sql);
	if (!res || PQresultStatus(res) != PGRES_COPY_IN)
		return ward_pg_err(err, s->pg, res, "COPY ward.decisions");
	PQclear(TAKE_PTR(res));
	s->len = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, C_ID);
		size_t hl = strlen(s->host_esc);

		if (id != prev + 1) {
			r = ward_errx(err, -ERANGE,
				      "ids %" PRId64 "..%" PRId64
				      " are not in the local log but were never shipped (pruned "
				      "or deleted before shipping)",
				      prev + 1, id - 1);
			break;
		}
		prev = id;
		if (s->len + hl + 64 > COPY_FLUSH && (r = copy_flush(s, err)) < 0)
			break;
		memcpy(s->buf + s->len, s->host_esc, hl);
		s->len += hl;
		for (int i = 0; i < N_COLUMNS && r >= 0; i++) {
			s->buf[s->len++] = '\t';
			r = put_value(s, st, i, err);
		}
		if (r < 0)
			break;
		s->buf[s->len++] = '\n';
		if (sqlite3_column_text(st, C_HASH))
			snprintf(ret_hash, 72, "%s", (const char *)sqlite3_column_text(st, C_HASH));
		rows++;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = audit_sqlite_err(err, s->db, rc, "read the log");
	if (r >= 0)
		r = copy_flush(s, err);
	if (PQputCopyEnd(s->pg, r < 0 ? "ward: batch abandoned" : NULL) != 1 && r >= 0)
		r = ward_pg_err(err, s->pg, NULL, "COPY end");
	/* drain the COPY's results; the first failure is the one that counts */
	while ((res = PQgetResult(s->pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && r >= 0)
			r = ward_pg_err(err, s->pg, res, "COPY ward.decisions");
		PQclear(TAKE_PTR(res));
	}
	if (r < 0)
		return r;
	*ret_last = prev;
	*ret_rows = rows;
	return 0;
}

static bool meta_same(const struct meta *a, const struct meta *b)
{
	return a->ckpt_id == b->ckpt_id && !strcmp(a->ckpt_hash, b->ckpt_hash) &&
	       !strcmp(a->bundle_version, b->bundle_version) &&
	       !strcmp(a->bundle_sha256, b->bundle_sha256);
}

/* The batch inside the open PostgreSQL transaction. */
static int batch_tx(struct ward_shipper *s, const struct meta *m, int64_t local_max,
		    int64_t *ret_shipped, uint64_t *ret_rows, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *v[7] = { s->host_id };
	char shipped_hash[72] = "", hash[72], num[3][24];
	int64_t shipped, start, end, last;
	uint64_t rows = 0;
	bool null;
	int r;

	r = pg_params(s, "INSERT INTO ward.hosts (host_id) VALUES ($1) ON CONFLICT DO NOTHING", 1,
		      v, NULL, err);
	if (r < 0)
		return r;
	r = pg_params(s,
		      "SELECT shipped_id, coalesce(shipped_hash, '') FROM ward.hosts "
		      "WHERE host_id = $1 FOR UPDATE",
		      1, v, &res, err);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return ward_errx(err, -EPROTO, "ward.hosts has no row for '%s'", s->host_id);
	shipped = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(shipped_hash, sizeof(shipped_hash), "%s", PQgetvalue(res, 0, 1));

	/* the central prefix must be this log's prefix */
	if (shipped > local_max)
		return ward_errx(err, -ESTALE,
				 "host '%s' shipped up to id %" PRId64
				 " but the local log ends at %" PRId64
				 " (a different log? use another --host)",
				 s->host_id, shipped, local_max);
	if (shipped > 0) {
		r = local_hash(s->db, shipped, hash, err);
		if (r < 0)
			return r;
		if (!hash[0] && m->ckpt_id == shipped)
			snprintf(hash, sizeof(hash), "%s", m->ckpt_hash);
		if (hash[0] && shipped_hash[0] && strcmp(hash, shipped_hash))
			return ward_errx(err, -ESTALE,
					 "host '%s': the central row %" PRId64
					 " has hash %.16s..., the local one %.16s... (a different "
					 "log? use another --host)",
					 s->host_id, shipped, shipped_hash, hash);
	}
	/* a host's first batch may start at its prune checkpoint: the central
	 * chain is anchored there (hosts.ckpt_id/ckpt_hash) */
	start = shipped == 0 && m->ckpt_id > 0 ? m->ckpt_id : shipped;
	end = local_max - start > (int64_t)s->batch ? start + s->batch : local_max;
	last = start;
	snprintf(hash, sizeof(hash), "%s", shipped == 0 && start ? m->ckpt_hash : shipped_hash);
	if (end > start) {
		r = ship_refs(s, start, end, err);
		if (r < 0)
			return r;
		r = copy_rows(s, start, end, &last, hash, &rows, err);
		if (r < 0)
			return r;
		if (rows == 0) {
			int64_t next = 0;

			r = query_int(s->db, "SELECT min(id) FROM decisions WHERE id > ?1", start,
				      &next, &null, err);
			if (r < 0)
				return r;
			return ward_errx(err, -ERANGE,
					 "ids %" PRId64 "..%" PRId64
					 " are not in the local log but were never shipped (pruned "
					 "or deleted before shipping)",
					 start + 1, null ? end : next - 1);
		}
	}
	snprintf(num[0], sizeof(num[0]), "%" PRId64, last);
	snprintf(num[1], sizeof(num[1]), "%" PRId64, m->ckpt_id);
	snprintf(num[2], sizeof(num[2]), "%s", m->bundle_version);
	v[1] = num[0];
	v[2] = hash[0] ? hash : NULL;
	v[3] = m->ckpt_id ? num[1] : NULL;
	v[4] = m->ckpt_hash[0] ? m->ckpt_hash : NULL;
	v[5] = m->bundle_version[0] ? num[2] : NULL;
	v[6] = m->bundle_sha256[0] ? m->bundle_sha256 : NULL;
	r = pg_params(s,
		      "UPDATE ward.hosts SET shipped_id = $2::bigint, shipped_hash = $3, "
		      "last_ship = now(), ckpt_id = $4::bigint, ckpt_hash = $5, "
		      "bundle_applied = CASE WHEN $6::bigint IS NOT NULL AND bundle_version IS "
		      "DISTINCT FROM $6::bigint THEN now() ELSE bundle_applied END, "
		      "bundle_version = coalesce($6::bigint, bundle_version), "
		      "bundle_sha256 = coalesce($7, bundle_sha256) WHERE host_id = $1",
		      7, v, NULL, err);
	if (r < 0)
		return r;
	*ret_shipped = last;
	*ret_rows = rows;
	return 0;
}

int ward_ship_batch(struct ward_shipper *s, uint64_t *ret_rows, struct ward_error *err)
{
	struct meta m;
	int64_t local_max = 0, shipped = 0;
	uint64_t rows = 0;
	bool null;
	int r;

	if (!s->pg) {
		r = ward_pg_connect(s->url, &s->pg, err);
		if (r < 0)
			return r;
		s->known = false;
	}
	/* one SQLite snapshot for the batch: meta, max id, references, rows */
	r = audit_exec(s->db, "BEGIN", err);
	if (r < 0)
		return r;
	r = read_meta(s->db, &m, err);
	if (r >= 0)
		r = query_int(s->db, "SELECT max(id) FROM decisions WHERE ?1 = ?1", 0, &local_max,
			      &null, err);
	if (r < 0)
		goto out;
	s->prog.local_max_id = local_max;
	if (s->known && local_max <= s->shipped_id && meta_same(&m, &s->shipped_meta)) {
		*ret_rows = 0;
		goto out;
	}
	r = ward_pg_exec(s->pg, "BEGIN", err);
	if (r >= 0)
		r = batch_tx(s, &m, local_max, &shipped, &rows, err);
	if (r >= 0)
		r = ward_pg_exec(s->pg, "COMMIT", err);
	if (r < 0) {
		struct ward_error ignored = { 0 };

		/* a failed transaction is rolled back; a lost connection rolls back
		 * on the server by itself */
		if (r == -ECONNRESET || PQstatus(s->pg) != CONNECTION_OK ||
		    ward_pg_exec(s->pg, "ROLLBACK", &ignored) < 0)
			drop_connection(s);
		s->known = false;
		goto out;
	}
	s->known = true;
	s->shipped_id = shipped;
	s->shipped_meta = m;
	s->prog.shipped_id = shipped;
	s->prog.rows = rows;
	s->prog.total += rows;
	s->prog.last_ship_ns = ward_now_ns();
	*ret_rows = rows;
out:
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (r < 0)
		ward_err_prefix(err, "ship to %s as '%s'", s->url_red, s->host_id);
	return r;
}

static bool sleep_ms(const struct ward_ship_hooks *h, uint32_t ms)
{
	for (uint32_t waited = 0; waited < ms; waited += 50) {
		if (h && h->stop && h->stop(h->data))
			return false;
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	return !(h && h->stop && h->stop(h->data));
}

int ward_ship_run(struct ward_shipper *s, bool follow, const struct ward_ship_hooks *h,
		  struct ward_ship_progress *ret, struct ward_error *err)
{
	struct ward_pg_backoff bo = { 0 };
	int failures = 0, r = 0;

	for (;;) {
		uint64_t rows = 0;

		if (h && h->stop && h->stop(h->data))
			break;
		r = ward_ship_batch(s, &rows, err);
		if (r == -ECONNRESET || r == -ECONNREFUSED) {
			uint32_t ms = ward_pg_backoff_next(&bo);

			if (!follow && ++failures > 5)
				break;
			if (h && h->note) {
				char msg[WARD_ERROR_MAX + 64];

				snprintf(msg, sizeof(msg), "%s; retrying in %u ms", err->msg, ms);
				h->note(h->data, msg);
			}
			if (!sleep_ms(h, ms)) {
				r = 0;
				break;
			}
			continue;
		}
		if (r < 0)
			break;
		ward_pg_backoff_reset(&bo);
		/* after a failure, report the recovery even without new rows */
		if ((rows || failures) && h && h->batch)
			h->batch(h->data, &s->prog);
		failures = 0;
		if (rows)
			continue;
		if (!follow)
			break;
		if (!sleep_ms(h, 200))
			break;
	}
	if (ret)
		*ret = s->prog;
	return r < 0 ? r : 0;
}

int ward_ship_lag(const char *log_path, int64_t shipped_id, uint64_t now_ns,
		  struct ward_ship_lag *ret, struct ward_error *err)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	struct ward_ship_lag lag = { 0 };
	int64_t ts = 0;
	bool null;
	int r;

	r = audit_db_open_ro(log_path, &db, err);
	if (r < 0)
		return r;
	r = query_int(db, "SELECT max(id) FROM decisions WHERE ?1 = ?1", 0, &lag.local_max_id,
		      &null, err);
	if (r < 0)
		return r;
	lag.rows = lag.local_max_id > shipped_id ? lag.local_max_id - shipped_id : 0;
	if (lag.rows) {
		r = query_int(db, "SELECT ts_ns FROM decisions WHERE id > ?1 ORDER BY id LIMIT 1",
			      shipped_id, &ts, &null, err);
		if (r < 0)
			return r;
		if (!null && (uint64_t)ts < now_ns)
			lag.oldest_age_ns = now_ns - (uint64_t)ts;
	}
	*ret = lag;
	return 0;
}
