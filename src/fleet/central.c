// SPDX-License-Identifier: MIT
/* The central store's reader: rows of ward.decisions as struct ward_audit_row
 * through a server-side cursor (FETCH WARD_CENTRAL_CHUNK at a time), for
 * verify, logs and replay. Filters become a WHERE clause of fixed text whose
 * values are all bound parameters. */
#include "fleet/central.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "fleet/pg.h"

struct ward_central {
	PGconn *conn;
};

/* The row's columns in the order row_read() expects them (after host_id). */
#define ROW_COLUMNS                                                                                \
	"host_id, id, ts_ns, sandbox, layer, action, \"binary\", binary_sha256, pid, host, ip, "   \
	"port, protocol, method, path, rule, reason, policy_rev, hash, session, via, uid, cgroup"

/* libpq's message, one line, into err. */
static int pg_err(struct ward_error *err, PGconn *conn, const PGresult *res, int code,
		  const char *what)
{
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	char msg[512];
	size_t n;

	if (!m || !*m)
		m = PQerrorMessage(conn);
	snprintf(msg, sizeof(msg), "%s", m && *m ? m : "unknown error");
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	if (PQstatus(conn) != CONNECTION_OK)
		code = -ECONNRESET;
	return ward_errx(err, code, "%s: %s", what, msg);
}

static int exec_ok(struct ward_central *c, const char *sql, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = PQexec(c->conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_err(err, c->conn, res, -EIO, sql);
	return 0;
}

int ward_central_open(const char *url, struct ward_central **ret, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	struct ward_central *c;
	int r;

	r = ward_pq_load(err); /* libpq is loaded at the first connection */
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ward_err(err, -ENOMEM, "central store");
	c->conn = PQconnectdbParams((const char *const[]){ "dbname", NULL },
				    (const char *const[]){ url, NULL }, 1);
	if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
		r = pg_err(err, c->conn, NULL, -ECONNREFUSED, "connect to the central store");
		ward_central_close(c);
		return r;
	}
	res = PQexec(c->conn, "SELECT to_regclass('ward.decisions') IS NOT NULL, "
			      "to_regclass('ward.hosts') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_err(err, c->conn, res, -EIO, "central store");
		ward_central_close(c);
		return r;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") || strcmp(PQgetvalue(res, 0, 1), "t")) {
		ward_central_close(c);
		return ward_errx(err, -ENOENT,
				 "the database has no ward schema (nothing was shipped to it: "
				 "ward logs ship creates it)");
	}
	*ret = c;
	return 0;
}

void ward_central_close(struct ward_central *c)
{
	if (!c)
		return;
	PQfinish(c->conn);
	free(c);
}

void ward_central_hosts_free(char **hosts, size_t n)
{
	for (size_t i = 0; hosts && i < n; i++)
		free(hosts[i]);
	free(hosts);
}

int ward_central_hosts(struct ward_central *c, char ***ret, size_t *ret_n, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res =
		PQexec(c->conn, "SELECT host_id FROM ward.hosts ORDER BY host_id");
	char **hosts;
	int n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_err(err, c->conn, res, -EIO, "read ward.hosts");
	n = PQntuples(res);
	hosts = calloc((size_t)n + 1, sizeof(*hosts));
	if (!hosts)
		return ward_err(err, -ENOMEM, "read ward.hosts");
	for (int i = 0; i < n; i++) {
		hosts[i] = strdup(PQgetvalue(res, i, 0));
		if (!hosts[i]) {
			ward_central_hosts_free(hosts, (size_t)i);
			return ward_err(err, -ENOMEM, "read ward.hosts");
		}
	}
	*ret = hosts;
	*ret_n = (size_t)n;
	return 0;
}

int ward_central_glob_regex(const char *glob, char *out, size_t len)
{
	size_t o = 0;

#define PUT(ch)                                                                                    \
	do {                                                                                       \
		if (o + 1 >= len)                                                                  \
			return -ENAMETOOLONG;                                                      \
		out[o++] = (ch);                                                                   \
	} while (0)
	PUT('^');
	for (const char *p = glob; *p; p++) {
		switch (*p) {
		case '*':
			PUT('.');
			PUT('*');
			break;
		case '?':
			PUT('.');
			break;
		case '[': {
			/* a class as SQLite reads it: [^...] negates, a ']' first is
			 * literal; unterminated: a literal '[' */
			const char *q = p + 1;

			if (*q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q) {
				PUT('\\');
				PUT('[');
				break;
			}
			PUT('[');
			for (p++; p < q; p++) {
				if (*p == '\\')
					PUT('\\'); /* literal inside the class */
				PUT(*p);
			}
			PUT(']');
			break;
		}
		default:
			if (strchr("\\.^$|()+{}]", *p))
				PUT('\\');
			PUT(*p);
			break;
		}
	}
	PUT('$');
	out[o] = '\0';
	return 0;
#undef PUT
}

static const char *col(const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static int64_t col_int(const PGresult *res, int row, int c, bool *ret_present)
{
	if (PQgetisnull(res, row, c)) {
		if (ret_present)
			*ret_present = false;
		return 0;
	}
	if (ret_present)
		*ret_present = true;
	return strtoll(PQgetvalue(res, row, c), NULL, 10);
}

/* Row i of a SELECT of ROW_COLUMNS; strings live as long as res. */
static void row_read(const PGresult *res, int i, struct ward_audit_row *r)
{
	*r = (struct ward_audit_row){
		.id = col_int(res, i, 1, NULL),
		.ts_ns = col_int(res, i, 2, NULL),
		.sandbox = col(res, i, 3),
		.layer = col(res, i, 4),
		.action = col(res, i, 5),
		.binary = col(res, i, 6),
		.binary_sha256 = col(res, i, 7),
		.pid = col_int(res, i, 8, NULL),
		.host = col(res, i, 9),
		.ip = col(res, i, 10),
		.port = col_int(res, i, 11, NULL),
		.protocol = col(res, i, 12),
		.method = col(res, i, 13),
		.path = col(res, i, 14),
		.rule = col(res, i, 15),
		.reason = col(res, i, 16),
		.policy_rev = col(res, i, 17),
		.hash = col(res, i, 18),
		.session = col(res, i, 19),
		.via = col(res, i, 20),
		.uid = col_int(res, i, 21, NULL),
		.cgroup = col(res, i, 22),
	};
	r->has_pid = !PQgetisnull(res, i, 8);
	r->has_port = !PQgetisnull(res, i, 11);
	r->has_uid = !PQgetisnull(res, i, 21);
}

/* A query with up to this many bound values. */
#define MAX_PARAMS 12

struct query {
	char sql[1024];
	size_t n;
	const char *values[MAX_PARAMS];
	char store[MAX_PARAMS][32]; /* numbers' text */
	char regex[2][1024];	    /* glob patterns as regular expressions */
	int n_params;
};

/* Append "before$N after" and bind value to $N. */
static int add_param(struct query *q, const char *before, const char *after, const char *value)
{
	if (q->n_params == MAX_PARAMS)
		return -E2BIG;
	q->values[q->n_params++] = value;
	if (q->n < sizeof(q->sql))
		q->n += (size_t)snprintf(q->sql + q->n, sizeof(q->sql) - q->n, "%s$%d%s", before,
					 q->n_params, after);
	return q->n < sizeof(q->sql) ? 0 : -E2BIG;
}

static int add_int(struct query *q, const char *before, int64_t v)
{
	snprintf(q->store[q->n_params], sizeof(q->store[0]), "%" PRId64, v);
	return add_param(q, before, "::bigint", q->store[q->n_params]);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int add_match(struct query *q, const char *column, const char *value, int slot)
{
	char text[64];
	int r;

	if (!has_glob(value)) {
		snprintf(text, sizeof(text), " AND %s = ", column);
		return add_param(q, text, "", value);
	}
	r = ward_central_glob_regex(value, q->regex[slot], sizeof(q->regex[slot]));
	if (r < 0)
		return r;
	snprintf(text, sizeof(text), " AND %s ~ ", column);
	return add_param(q, text, "", q->regex[slot]);
}

/* Only fixed SQL text is appended; every value is bound. */
static int build_query(struct query *q, const char *host_id, const struct ward_audit_filter *f)
{
	int r = 0;

	q->n = (size_t)snprintf(q->sql, sizeof(q->sql),
				"SELECT " ROW_COLUMNS " FROM ward.decisions WHERE true");
	if (host_id)
		r = add_param(q, " AND host_id = ", "", host_id);
	if (!r && f->after_id)
		r = add_int(q, " AND id > ", f->after_id);
	if (!r && f->since_ns)
		r = add_int(q, " AND ts_ns >= ",
			    f->since_ns > INT64_MAX ? INT64_MAX : (int64_t)f->since_ns);
	if (!r && f->layer)
		r = add_param(q, " AND layer = ", "", f->layer);
	if (!r && f->action)
		r = add_param(q, " AND action = ", "", f->action);
	if (!r && f->binary)
		r = add_match(q, "\"binary\"", f->binary, 0); /* reserved word */
	if (!r && f->host)
		r = add_match(q, "host", f->host, 1);
	if (!r && f->sandbox)
		r = add_param(q, " AND sandbox = ", "", f->sandbox);
	if (!r && f->session)
		r = add_param(q, " AND session = ", "", f->session);
	if (r)
		return r;
	q->n += (size_t)snprintf(q->sql + q->n, sizeof(q->sql) - q->n, " ORDER BY host_id, id");
	if (f->limit)
		r = add_int(q, " LIMIT ", f->limit > INT64_MAX ? INT64_MAX : (int64_t)f->limit);
	return r ? r : (q->n < sizeof(q->sql) ? 0 : -E2BIG);
}

/* The result of the command sent last; the connection is idle after it. */
static PGresult *take_result(struct ward_central *c)
{
	PGresult *res = PQgetResult(c->conn), *extra;

	while ((extra = PQgetResult(c->conn)))
		PQclear(extra);
	return res;
}

/* Declare the cursor ward_rows for q inside the open transaction and hand
 * every row to cb, WARD_CENTRAL_CHUNK at a time. With prefetch, the next
 * FETCH is sent before cb sees the current chunk, so the server reads it
 * while the rows are hashed (two chunks in memory); cb must then not use
 * the connection. */
static int walk_cursor(struct ward_central *c, const struct query *q, bool prefetch,
		       int (*cb)(const char *host_id, const struct ward_audit_row *row,
				 void *userdata),
		       void *userdata, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	char sql[sizeof(q->sql) + 64], fetch[64];
	bool pending = false;
	int ret = 0;

	snprintf(sql, sizeof(sql), "DECLARE ward_rows NO SCROLL CURSOR FOR %s", q->sql);
	res = PQexecParams(c->conn, sql, q->n_params, NULL, q->values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pg_err(err, c->conn, res, -EIO, "query ward.decisions");
	snprintf(fetch, sizeof(fetch), "FETCH %d FROM ward_rows", WARD_CENTRAL_CHUNK);
	if (prefetch) {
		if (!PQsendQuery(c->conn, fetch))
			return pg_err(err, c->conn, NULL, -EIO, "read ward.decisions");
		pending = true;
	}
	for (;;) {
		int n;

		PQclear(res);
		res = pending ? take_result(c) : PQexec(c->conn, fetch);
		pending = false;
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return pg_err(err, c->conn, res, -EIO, "read ward.decisions");
		n = PQntuples(res);
		if (prefetch && n == WARD_CENTRAL_CHUNK) {
			if (!PQsendQuery(c->conn, fetch))
				return pg_err(err, c->conn, NULL, -EIO, "read ward.decisions");
			pending = true;
		}
		for (int i = 0; i < n && !ret; i++) {
			struct ward_audit_row row;

			row_read(res, i, &row);
			ret = cb(PQgetvalue(res, i, 0), &row, userdata);
		}
		if (ret || n < WARD_CENTRAL_CHUNK)
			break;
	}
	if (pending)
		PQclear(take_result(c));
	return ret;
}

/* Run the walk in its own read-only transaction (one snapshot). */
static int walk(struct ward_central *c, const char *begin, const struct query *q, bool prefetch,
		int (*cb)(const char *host_id, const struct ward_audit_row *row, void *userdata),
		void *userdata, struct ward_error *err)
{
	int r;

	r = exec_ok(c, begin, err);
	if (r < 0)
		return r;
	r = walk_cursor(c, q, prefetch, cb, userdata, err);
	if (r == 0)
		r = exec_ok(c, "COMMIT", err);
	else
		PQclear(PQexec(c->conn, "ROLLBACK"));
	return r;
}

static int each(struct ward_central *c, const char *host_id, const struct ward_audit_filter *f,
		bool prefetch,
		int (*cb)(const char *host_id, const struct ward_audit_row *row, void *userdata),
		void *userdata, struct ward_error *err)
{
	static const struct ward_audit_filter none;
	struct query q = { 0 };
	int r;

	r = build_query(&q, host_id, f ? f : &none);
	if (r < 0)
		return ward_err(err, r, "central query");
	return walk(c, "BEGIN READ ONLY", &q, prefetch, cb, userdata, err);
}

int ward_central_each(struct ward_central *c, const char *host_id,
		      const struct ward_audit_filter *f,
		      int (*cb)(const char *host_id, const struct ward_audit_row *row,
				void *userdata),
		      void *userdata, struct ward_error *err)
{
	return each(c, host_id, f, true, cb, userdata, err);
}

/* --- verify --- */

struct verify_walk {
	struct ward_audit_chain *chain;
	struct ward_audit_verify *v;
	int64_t ckpt_id; /* hosts.ckpt_id, 0: none */
	char ckpt_hash[65];
	int64_t shipped_id;
	char shipped_hash[65];
	uint64_t every;
	void (*progress)(uint64_t rows, void *userdata);
	void *userdata;
	int64_t anchor_id; /* the chain starts after this checkpoint id, 0: genesis */
	char anchor[65];
};

static void broken(struct ward_audit_verify *v, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void broken(struct ward_audit_verify *v, int64_t id, const char *fmt, ...)
{
	va_list ap;

	v->intact = false;
	v->bad_id = id;
	va_start(ap, fmt);
	vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
}

static int verify_row(const char *host_id, const struct ward_audit_row *row, void *userdata)
{
	struct verify_walk *w = userdata;
	struct ward_audit_verify *v = w->v;

	(void)host_id;
	if (w->shipped_id && row->id > w->shipped_id) {
		broken(v, row->id,
		       "id %" PRId64 " is past the shipped prefix (hosts.shipped_id %" PRId64
		       "): not written by the shipper",
		       row->id, w->shipped_id);
		return 1;
	}
	if (!ward_audit_chain_row(w->chain, row)) {
		if (w->anchor_id && row->id == w->anchor_id + 1 && v->bad_id == row->id &&
		    strstr(v->problem, "hash mismatch"))
			broken(v, row->id,
			       "id %" PRId64 ": checkpoint mismatch (the row does not chain from "
			       "the hash %.12s recorded for checkpoint id %" PRId64 ")",
			       row->id, w->anchor, w->anchor_id);
		return 1;
	}
	/* the stored hash is the computed one here */
	if (row->id == w->ckpt_id && strcmp(row->hash, w->ckpt_hash)) {
		broken(v, row->id,
		       "id %" PRId64 ": checkpoint mismatch (hosts.ckpt_hash %.12s, the row's "
		       "hash %.12s)",
		       row->id, w->ckpt_hash, row->hash);
		return 1;
	}
	if (row->id == w->shipped_id && w->shipped_hash[0] && strcmp(row->hash, w->shipped_hash)) {
		broken(v, row->id,
		       "id %" PRId64 ": shipped head mismatch (hosts.shipped_hash %.12s, the "
		       "row's hash %.12s)",
		       row->id, w->shipped_hash, row->hash);
		return 1;
	}
	if (w->progress && w->every && v->rows % w->every == 0)
		w->progress(v->rows, w->userdata);
	return 0;
}

static int host_state(struct ward_central *c, const char *host_id, struct verify_walk *w,
		      struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *val[1] = { host_id };
	const char *s;

	res = PQexecParams(c->conn,
			   "SELECT ckpt_id, ckpt_hash, shipped_id, shipped_hash FROM ward.hosts "
			   "WHERE host_id = $1",
			   1, NULL, val, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_err(err, c->conn, res, -EIO, "read ward.hosts");
	if (PQntuples(res) != 1)
		return ward_errx(err, -ENOENT, "no host '%s' in the central store", host_id);
	w->ckpt_id = col_int(res, 0, 0, NULL);
	s = col(res, 0, 1);
	snprintf(w->ckpt_hash, sizeof(w->ckpt_hash), "%s", s ? s : "");
	w->shipped_id = col_int(res, 0, 2, NULL);
	s = col(res, 0, 3);
	snprintf(w->shipped_hash, sizeof(w->shipped_hash), "%s", s ? s : "");
	return 0;
}

static int load_policies(struct ward_central *c, const char *host_id, struct verify_walk *w,
			 struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *val[1] = { host_id };

	res = PQexecParams(c->conn, "SELECT rev, compiled FROM ward.policies WHERE host_id = $1", 1,
			   NULL, val, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_err(err, c->conn, res, -EIO, "read ward.policies");
	for (int i = 0; i < PQntuples(res); i++)
		if (ward_audit_chain_add_policy(w->chain, PQgetvalue(res, i, 0),
						PQgetvalue(res, i, 1),
						(size_t)PQgetlength(res, i, 1)) < 0)
			return ward_err(err, -ENOMEM, "read ward.policies");
	return 0;
}

/* The hash that anchors a chain whose first central row is first_id: the
 * host's checkpoint when it is first_id - 1, else the checkpoint a "pruned"
 * row of the host names for first_id - 1 (the host pruned again after
 * shipping), which the walk then must confirm as chained. "" when none. */
static int find_anchor(struct ward_central *c, const char *host_id, int64_t first_id,
		       const struct verify_walk *w, char out[65], struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	char text[64], needle[68];
	const char *val[2] = { host_id, needle };

	out[0] = '\0';
	if (w->ckpt_id && w->ckpt_id == first_id - 1) {
		memcpy(out, w->ckpt_hash, 65);
		return 0;
	}
	snprintf(text, sizeof(text), "(checkpoint id %" PRId64 " hash ", first_id - 1);
	snprintf(needle, sizeof(needle), "%%%s%%", text); /* no LIKE wildcard in text */
	res = PQexecParams(c->conn,
			   "SELECT reason FROM ward.decisions WHERE host_id = $1 AND "
			   "layer = 'lifecycle' AND rule = '" WARD_AUDIT_RULE_PRUNED "' AND "
			   "reason LIKE $2 ORDER BY id LIMIT 1",
			   2, NULL, val, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_err(err, c->conn, res, -EIO, "read ward.decisions");
	if (PQntuples(res) == 1) {
		const char *p = strstr(PQgetvalue(res, 0, 0), text);

		p = p ? p + strlen(text) : NULL;
		if (p && strspn(p, "0123456789abcdef") >= 64) {
			memcpy(out, p, 64);
			out[64] = '\0';
		}
	}
	return 0;
}

int ward_central_verify(struct ward_central *c, const char *host_id, uint64_t every,
			void (*progress)(uint64_t rows, void *userdata), void *userdata,
			struct ward_audit_verify *v, struct ward_error *err)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	struct verify_walk w = {
		.v = v, .every = every, .progress = progress, .userdata = userdata
	};
	struct ward_audit_filter f = { 0 };
	const char *val[1] = { host_id };
	struct query q = { 0 };
	int64_t first_id = 0;
	char anchor[65];
	int r;

	w.chain = ward_audit_chain_new(v);
	if (!w.chain)
		return ward_err(err, -ENOMEM, "verify");
	/* rows, checkpoint, shipped head and policies as of one moment, even
	 * while shippers append */
	r = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
	if (r < 0)
		goto out;
	r = host_state(c, host_id, &w, err);
	if (r >= 0)
		r = load_policies(c, host_id, &w, err);
	if (r < 0)
		goto rollback;
	res = PQexecParams(c->conn, "SELECT min(id) FROM ward.decisions WHERE host_id = $1", 1,
			   NULL, val, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_err(err, c->conn, res, -EIO, "read ward.decisions");
		goto rollback;
	}
	first_id = col_int(res, 0, 0, NULL);
	if (first_id > 1) {
		r = find_anchor(c, host_id, first_id, &w, anchor, err);
		if (r < 0)
			goto rollback;
		if (!anchor[0]) {
			broken(v, first_id,
			       "id %" PRId64 " is the first row but no checkpoint names id %" PRId64
			       ": %s missing (deleted)",
			       first_id, first_id - 1, first_id == 2 ? "a row is" : "rows are");
			goto done;
		}
		ward_audit_chain_checkpoint(w.chain, first_id - 1, anchor);
		w.anchor_id = first_id - 1;
		memcpy(w.anchor, anchor, sizeof(w.anchor));
	}
	if (w.ckpt_id && first_id && w.ckpt_id < first_id - 1) {
		broken(v, first_id,
		       "checkpoint mismatch: hosts.ckpt_id %" PRId64 " is before the first row (id "
		       "%" PRId64 ")",
		       w.ckpt_id, first_id);
		goto done;
	}
	r = build_query(&q, host_id, &f);
	if (r < 0) {
		r = ward_err(err, r, "central query");
		goto rollback;
	}
	r = walk_cursor(c, &q, true, verify_row, &w, err);
	if (r < 0)
		goto rollback;
	if (v->intact) {
		ward_audit_chain_end(w.chain);
		if (v->intact && w.shipped_id > v->last_id)
			broken(v, v->last_id + 1,
			       "rows %" PRId64 "..%" PRId64 " are missing (deleted): the shipper "
			       "recorded id %" PRId64 " as shipped",
			       v->last_id + 1, w.shipped_id, w.shipped_id);
		else if (v->intact && w.ckpt_id > v->last_id)
			broken(v, 0,
			       "checkpoint mismatch: hosts.ckpt_id %" PRId64
			       " is past the last row (id %" PRId64 ")",
			       w.ckpt_id, v->last_id);
	}
done:
	r = exec_ok(c, "COMMIT", err);
	goto out;
rollback:
	PQclear(PQexec(c->conn, "ROLLBACK"));
out:
	ward_audit_chain_free(w.chain);
	return r < 0 ? r : 0;
}

/* --- replay --- */

struct replay_source {
	struct ward_central *c;
	const char *host_id; /* the filter */
	const char *current; /* the row being delivered */
	int (*cb)(const struct ward_audit_row *row, void *userdata);
	void *userdata;
};

static int replay_row(const char *host_id, const struct ward_audit_row *row, void *userdata)
{
	struct replay_source *s = userdata;

	s->current = host_id;
	return s->cb(row, s->userdata);
}

static int replay_each(void *ctx, const struct ward_audit_filter *f,
		       int (*cb)(const struct ward_audit_row *row, void *userdata), void *userdata,
		       struct ward_error *err)
{
	struct replay_source *s = ctx;

	s->cb = cb;
	s->userdata = userdata;
	/* no prefetch: replay_policy_source() queries between rows */
	return each(s->c, s->host_id, f, false, replay_row, s, err);
}

/* Another query while the cursor is open: the same connection serves both
 * (libpq runs one command at a time, the cursor stays open between FETCHes). */
static int replay_policy_source(void *ctx, const char *rev, char **ret_src, size_t *ret_len)
{
	struct replay_source *s = ctx;
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *val[2] = { rev, s->current };

	*ret_src = NULL;
	*ret_len = 0;
	/* the same rev is the same compiled policy on every host; prefer the
	 * row's own host */
	res = PQexecParams(s->c->conn,
			   "SELECT source FROM ward.policies WHERE rev = $1 "
			   "ORDER BY host_id = $2 DESC LIMIT 1",
			   2, NULL, val, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return -EIO;
	if (PQntuples(res) != 1)
		return 0;
	*ret_len = (size_t)PQgetlength(res, 0, 0);
	*ret_src = strndup(PQgetvalue(res, 0, 0), *ret_len);
	return *ret_src ? 0 : -ENOMEM;
}

static const char *replay_origin(void *ctx)
{
	return ((struct replay_source *)ctx)->current;
}

int ward_central_replay(struct ward_central *c, const char *host_id, const struct ward_policy *p,
			const struct ward_replay_opts *o, struct ward_replay_report *ret,
			struct ward_error *err)
{
	struct replay_source s = { .c = c, .host_id = host_id };
	struct ward_replay_source src = {
		.each = replay_each,
		.policy_source = replay_policy_source,
		.origin = replay_origin,
		.ctx = &s,
	};

	return ward_replay_rows(&src, p, o, ret, err);
}
