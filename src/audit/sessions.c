// SPDX-License-Identifier: MIT
/* Session summaries from the decision log (sessions.h). Three aggregate
 * queries: rows per (session, layer, action), the lifecycle start and exit
 * rows, the inference rows' usage. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/db.h"
#include "audit/sessions.h"
#include "common/util.h"

struct agg {
	struct ward_session_summary *v;
	size_t n, cap;
};

static int cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return a ? 1 : b ? -1 : 0;
	return strcmp(a, b);
}

static int cmp_key(const struct ward_session_summary *a, const char *sandbox, const char *id)
{
	int c = cmp_str(a->sandbox, sandbox);

	return c ? c : strcmp(a->id, id);
}

/* The session (sandbox, id), or NULL. The array is sorted by (sandbox, id):
 * it is built from a query ordered that way. */
static struct ward_session_summary *find(struct agg *a, const char *sandbox, const char *id)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(&a->v[mid], sandbox, id);

		if (!c)
			return &a->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int add_count(struct agg *a, sqlite3_stmt *st)
{
	const char *sandbox = col(st, 0), *id = col(st, 1), *layer = col(st, 2),
		   *action = col(st, 3);
	uint64_t count = (uint64_t)sqlite3_column_int64(st, 4);
	int64_t first = sqlite3_column_int64(st, 5);
	struct ward_session_summary *s;
	struct ward_session_layer *l;

	if (!id || !layer || !action)
		return 0;
	s = a->n ? &a->v[a->n - 1] : NULL;
	if (!s || cmp_key(s, sandbox, id)) {
		if (a->n == a->cap) {
			size_t cap = a->cap ? 2 * a->cap : 16;
			struct ward_session_summary *v = realloc(a->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			a->v = v;
			a->cap = cap;
		}
		s = &a->v[a->n++];
		*s = (struct ward_session_summary){ .id = strdup(id), .start_ns = first };
		if (!s->id || (sandbox && !(s->sandbox = strdup(sandbox))))
			return -ENOMEM;
	}
	if (first < s->start_ns)
		s->start_ns = first;
	l = s->n_layers ? &s->layers[s->n_layers - 1] : NULL;
	if (!l || strcmp(l->layer, layer)) {
		l = realloc(s->layers, (s->n_layers + 1) * sizeof(*l));
		if (!l)
			return -ENOMEM;
		s->layers = l;
		l = &l[s->n_layers++];
		*l = (struct ward_session_layer){ .layer = strdup(layer) };
		if (!l->layer)
			return -ENOMEM;
	}
	if (!strcmp(action, "allow"))
		l->allow += count;
	else if (!strcmp(action, "deny"))
		l->deny += count;
	else
		l->audit += count;
	return 0;
}

int ward_audit_exit_status(const char *reason, int *ret_status)
{
	char name[32];
	int v, n = 0;

	if (!reason)
		return -EINVAL;
	if (sscanf(reason, "status=%d%n", &v, &n) == 1 && n > 0) {
		*ret_status = v;
		return 0;
	}
	if (sscanf(reason, "signal=SIG%31[A-Z0-9+-]", name) == 1) {
		for (int sig = 1; sig < NSIG; sig++) {
			const char *abbrev = sigabbrev_np(sig);

			if (abbrev && !strcmp(abbrev, name)) {
				*ret_status = 128 + sig;
				return 0;
			}
		}
	}
	return -EINVAL;
}

static int add_lifecycle(struct agg *a, sqlite3_stmt *st)
{
	struct ward_session_summary *s = find(a, col(st, 0), col(st, 1));
	const char *rule = col(st, 2);
	int64_t ts = sqlite3_column_int64(st, 3);

	if (!s || !rule)
		return 0;
	if (!strcmp(rule, "start") && !s->command) {
		s->start_ns = ts;
		if (col(st, 4) && !(s->command = dup_col(st, 4)))
			return -ENOMEM;
	} else if (!strcmp(rule, "exit")) {
		s->end_ns = ts;
		s->has_status = ward_audit_exit_status(col(st, 5), &s->status) == 0;
	}
	return 0;
}

/* The value of " key=" in an inference row's reason, before its free-text
 * outcome (docs/inference.md); NULL when absent. */
static const char *reason_value(const char *reason, const char *key, char *out, size_t outsz)
{
	const char *end = strstr(reason, " outcome="), *p;
	size_t klen = strlen(key), n;

	if (!end)
		end = reason + strlen(reason);
	for (p = reason; (p = strstr(p, key)) && p < end; p++) {
		if ((p != reason && p[-1] != ' ') || p[klen] != '=')
			continue;
		p += klen + 1;
		n = strcspn(p, " ");
		if (n >= outsz)
			return NULL;
		memcpy(out, p, n);
		out[n] = '\0';
		return out;
	}
	return NULL;
}

static int add_usage(struct agg *a, sqlite3_stmt *st)
{
	struct ward_session_summary *s = find(a, col(st, 0), col(st, 1));
	const char *reason = col(st, 2);
	char v[32];

	if (!s || !reason || !reason_value(reason, "prompt_tokens", v, sizeof(v)))
		return 0;
	s->calls++;
	s->tokens_in += strtoull(v, NULL, 10);
	if (reason_value(reason, "completion_tokens", v, sizeof(v)))
		s->tokens_out += strtoull(v, NULL, 10);
	if (reason_value(reason, "cost_usd", v, sizeof(v)) && strcmp(v, "unknown"))
		s->cost_usd += strtod(v, NULL);
	else
		s->unpriced++;
	return 0;
}

static int each(sqlite3 *db, const char *sql, const char *sandbox, struct agg *a,
		int (*fn)(struct agg *a, sqlite3_stmt *st), struct ward_error *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "query sessions");
	if (sandbox)
		sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = fn(a, st)) < 0)
			return ward_err(err, r, "sessions");
	if (rc != SQLITE_DONE)
		return audit_sqlite_err(err, db, rc, "read sessions");
	return 0;
}

static int cmp_start(const void *x, const void *y)
{
	const struct ward_session_summary *a = x, *b = y;

	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return cmp_key(a, b->sandbox, b->id);
}

int ward_audit_sessions(const char *path, const char *sandbox, struct ward_session_summary **ret,
			size_t *ret_n, struct ward_error *err)
{
	/* ?1: the sandbox; "?1 IS NULL" keeps one text per query for both cases */
#define WHERE " WHERE session IS NOT NULL AND (?1 IS NULL OR sandbox = ?1)"
	static const char q_counts[] =
		"SELECT sandbox, session, layer, action, count(*), min(ts_ns) FROM decisions" WHERE
		" GROUP BY sandbox, session, layer, action ORDER BY sandbox, session, layer, action";
	static const char q_life[] = "SELECT sandbox, session, rule, ts_ns, binary, reason FROM "
				     "decisions" WHERE " AND layer = 'lifecycle' AND rule IN "
				     "('start', 'exit') ORDER BY id";
	static const char q_usage[] = "SELECT sandbox, session, reason FROM decisions" WHERE
				      " AND layer = 'inference' AND reason LIKE '%prompt_tokens=%'"
				      " ORDER BY id";
#undef WHERE
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	struct agg a = { 0 };
	int64_t now = (int64_t)ward_now_ns();
	int r;

	if (!path)
		path = ward_audit_default_path();
	r = audit_db_open_ro(path, &db, err);
	if (r < 0)
		return r;
	if (!audit_has_session(db)) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	r = each(db, q_counts, sandbox, &a, add_count, err);
	if (r >= 0)
		r = each(db, q_life, sandbox, &a, add_lifecycle, err);
	if (r >= 0)
		r = each(db, q_usage, sandbox, &a, add_usage, err);
	if (r < 0) {
		ward_audit_sessions_free(a.v, a.n);
		return r;
	}
	for (size_t i = 0; i < a.n; i++) {
		struct ward_session_summary *s = &a.v[i];
		int64_t end = s->end_ns ? s->end_ns : now;

		s->duration_ms = end > s->start_ns ? (end - s->start_ns) / 1000000 : 0;
	}
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), cmp_start);
	*ret = a.v;
	*ret_n = a.n;
	return 0;
}

void ward_audit_sessions_free(struct ward_session_summary *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		for (size_t j = 0; j < s[i].n_layers; j++)
			free(s[i].layers[j].layer);
		free(s[i].layers);
		free(s[i].id);
		free(s[i].sandbox);
		free(s[i].command);
	}
	free(s);
}

void ward_audit_sessions_json(FILE *f, const struct ward_session_summary *s, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		const struct ward_session_summary *x = &s[i];

		fputs(i ? ",{\"id\":" : "{\"id\":", f);
		ward_json_str(f, x->id);
		fputs(",\"sandbox\":", f);
		ward_json_str(f, x->sandbox);
		fputs(",\"command\":", f);
		ward_json_str(f, x->command);
		fprintf(f, ",\"start_ns\":%lld,\"end_ns\":", (long long)x->start_ns);
		if (x->end_ns)
			fprintf(f, "%lld", (long long)x->end_ns);
		else
			fputs("null", f);
		fprintf(f, ",\"duration_ms\":%lld,\"status\":", (long long)x->duration_ms);
		if (x->has_status)
			fprintf(f, "%d", x->status);
		else
			fputs("null", f);
		fputs(",\"rows\":{", f);
		for (size_t j = 0; j < x->n_layers; j++) {
			const struct ward_session_layer *l = &x->layers[j];

			if (j)
				fputc(',', f);
			ward_json_str(f, l->layer);
			fprintf(f, ":{\"allow\":%llu,\"deny\":%llu,\"audit\":%llu}",
				(unsigned long long)l->allow, (unsigned long long)l->deny,
				(unsigned long long)l->audit);
		}
		fprintf(f, "},\"tokens_in\":%llu,\"tokens_out\":%llu,\"cost_usd\":%.6f}",
			(unsigned long long)x->tokens_in, (unsigned long long)x->tokens_out,
			x->cost_usd);
	}
	fputc(']', f);
}
