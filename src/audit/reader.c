// SPDX-License-Identifier: MIT
/* Reading the decision log: filtered walks in id order for `ward logs`,
 * replay and verify, and the --since time parser. */
#include "audit/audit.h"
#include "audit/db.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ward_audit_reader {
	sqlite3 *db;
};

int ward_audit_reader_open(const char *path, struct ward_audit_reader **ret, struct ward_error *err)
{
	struct ward_audit_reader *r;
	int e;

	if (!path)
		path = ward_audit_default_path();
	r = calloc(1, sizeof(*r));
	if (!r)
		return ward_err(err, -ENOMEM, "decision log");
	e = audit_db_open_ro(path, &r->db, err);
	if (e < 0) {
		free(r);
		return e;
	}
	*ret = r;
	return 0;
}

void ward_audit_reader_close(struct ward_audit_reader *r)
{
	if (!r)
		return;
	sqlite3_close_v2(r->db);
	free(r);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

int ward_audit_reader_each(struct ward_audit_reader *r, const struct ward_audit_filter *f,
			   int (*cb)(const struct ward_audit_row *row, void *userdata),
			   void *userdata, struct ward_error *err)
{
	static const struct ward_audit_filter none;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	char sql[1024];
	size_t n;
	int rc, i = 1, ret;

	if (!f)
		f = &none;
	n = (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM decisions WHERE id > ?",
			     audit_row_columns(r->db));
	/* Only fixed SQL text is appended; every value is bound. */
#define ADD(cond, text)                                                                            \
	do {                                                                                       \
		if (cond)                                                                          \
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s", text);               \
	} while (0)
	ADD(f->since_ns, " AND ts_ns >= ?");
	ADD(f->layer, " AND layer = ?");
	ADD(f->action, " AND action = ?");
	ADD(f->binary, f->binary && has_glob(f->binary) ? " AND binary GLOB ?" : " AND binary = ?");
	ADD(f->host, f->host && has_glob(f->host) ? " AND host GLOB ?" : " AND host = ?");
	ADD(f->sandbox, " AND sandbox = ?");
	/* a version 1 log has no session column: nothing is any session's */
	ADD(f->session, audit_has_session(r->db) ? " AND session = ?" : " AND NULL = ?");
	ADD(true, " ORDER BY id");
	ADD(f->limit, " LIMIT ?");
#undef ADD
	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, r->db, rc, "query decision log");
	sqlite3_bind_int64(st, i++, f->after_id);
	if (f->since_ns)
		sqlite3_bind_int64(st, i++,
				   f->since_ns > INT64_MAX ? INT64_MAX : (int64_t)f->since_ns);
	if (f->layer)
		sqlite3_bind_text(st, i++, f->layer, -1, SQLITE_STATIC);
	if (f->action)
		sqlite3_bind_text(st, i++, f->action, -1, SQLITE_STATIC);
	if (f->binary)
		sqlite3_bind_text(st, i++, f->binary, -1, SQLITE_STATIC);
	if (f->host)
		sqlite3_bind_text(st, i++, f->host, -1, SQLITE_STATIC);
	if (f->sandbox)
		sqlite3_bind_text(st, i++, f->sandbox, -1, SQLITE_STATIC);
	if (f->session)
		sqlite3_bind_text(st, i++, f->session, -1, SQLITE_STATIC);
	if (f->limit)
		sqlite3_bind_int64(st, i++, f->limit > INT64_MAX ? INT64_MAX : (int64_t)f->limit);

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ward_audit_row row;

		audit_row_read(st, &row);
		ret = cb(&row, userdata);
		if (ret)
			return ret;
	}
	if (rc != SQLITE_DONE)
		return audit_sqlite_err(err, r->db, rc, "read decision log");
	return 0;
}

/* --- --since --- */

static int parse_uint(const char **p, int digits, int *ret)
{
	int v = 0;

	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)**p))
			return -EINVAL;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*ret = v;
	return 0;
}

/* Fraction ".ddd" (any number of digits, nanosecond precision kept). */
static int parse_frac(const char **p, uint64_t *ret_ns)
{
	uint64_t ns = 0, scale = 100000000;

	*ret_ns = 0;
	if (**p != '.')
		return 0;
	(*p)++;
	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	for (; isdigit((unsigned char)**p); (*p)++) {
		ns += (uint64_t)(**p - '0') * scale;
		scale /= 10;
	}
	*ret_ns = ns;
	return 0;
}

static int parse_rfc3339(const char *s, uint64_t *ret_ns)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	uint64_t frac;
	struct tm tm = { 0 };
	time_t t;

	if (parse_uint(&p, 4, &y) || *p++ != '-' || parse_uint(&p, 2, &mo) || *p++ != '-' ||
	    parse_uint(&p, 2, &d))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (parse_uint(&p, 2, &h) || *p++ != ':' || parse_uint(&p, 2, &mi) || *p++ != ':' ||
	    parse_uint(&p, 2, &sec) || parse_frac(&p, &frac))
		return -EINVAL;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (parse_uint(&p, 2, &oh) || *p++ != ':' || parse_uint(&p, 2, &om))
			return -EINVAL;
		if (oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL; /* RFC 3339 requires the offset */
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises 31 Feb into March: refuse dates that moved. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	t -= sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -EINVAL;
	*ret_ns = (uint64_t)t * 1000000000ull + frac;
	return 0;
}

int ward_audit_parse_time(const char *s, uint64_t now_ns, uint64_t *ret_ns)
{
	const char *p = s;
	uint64_t v = 0, frac, unit;

	if (!s || !*s)
		return -EINVAL;
	if (strlen(s) >= 10 && s[4] == '-')
		return parse_rfc3339(s, ret_ns);
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -EINVAL;
	if (*p == '.' || !*p) {
		/* unix time in seconds */
		if (parse_frac(&p, &frac) || *p)
			return -EINVAL;
		if (v > UINT64_MAX / 1000000000ull - 1)
			return -ERANGE;
		*ret_ns = v * 1000000000ull + frac;
		return 0;
	}
	switch (*p) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return -EINVAL;
	}
	if (p[1])
		return -EINVAL;
	if (v > UINT64_MAX / 1000000000ull / unit)
		return -ERANGE;
	v *= unit * 1000000000ull;
	*ret_ns = v > now_ns ? 0 : now_ns - v;
	return 0;
}

void ward_audit_row_destination(const struct ward_audit_row *r, char *out, size_t len)
{
	const char *h = r->host ? r->host : r->ip;
	bool v6 = !r->host && r->ip && strchr(r->ip, ':');
	int n = 0;

	if (h && r->has_port)
		n = snprintf(out, len, v6 ? "[%s]:%lld" : "%s:%lld", h, (long long)r->port);
	else if (h)
		n = snprintf(out, len, "%s", h);
	if (n < 0 || (size_t)n >= len)
		return;
	if (r->path)
		snprintf(out + n, len - (size_t)n, "%s", r->path);
	else if (!h)
		snprintf(out, len, "-");
}
