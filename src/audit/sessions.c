// SPDX-License-Identifier: MIT
/* Session summaries from the decision log (sessions.h): one pass over the
 * rows of sessions in id order (no sort: a 1,000,000-row log, half of it
 * sessions' rows, takes about 1 s here), aggregated in a hash table keyed by
 * (sandbox, session). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/db.h"
#include "audit/sessions.h"
#include "common/util.h"

struct agg {
	struct ward_session_summary *v; /* in order of first appearance */
	size_t n, cap;
	uint32_t *slots; /* index + 1 into v; 0: empty; open addressing */
	size_t n_slots;	 /* a power of two, > 2 n */
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

/* FNV-1a of sandbox (or a marker for NULL) and id */
static size_t key_hash(const char *sandbox, const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = sandbox ? sandbox : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ (sandbox ? 0xffu : 0xfeu)) * 1099511628211ull;
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (size_t)h;
}

static int rehash(struct agg *a, size_t n_slots)
{
	uint32_t *slots = calloc(n_slots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < a->n; i++) {
		size_t j = key_hash(a->v[i].sandbox, a->v[i].id) & (n_slots - 1);

		while (slots[j])
			j = (j + 1) & (n_slots - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(a->slots);
	a->slots = slots;
	a->n_slots = n_slots;
	return 0;
}

/* The session (sandbox, id), made on first sight; NULL + *ret_err when it
 * cannot be. */
static struct ward_session_summary *find(struct agg *a, const char *sandbox, const char *id,
					 int *ret_err)
{
	struct ward_session_summary *s;
	size_t j;

	if (a->n_slots) {
		for (j = key_hash(sandbox, id) & (a->n_slots - 1); a->slots[j];
		     j = (j + 1) & (a->n_slots - 1))
			if (!cmp_key(&a->v[a->slots[j] - 1], sandbox, id))
				return &a->v[a->slots[j] - 1];
	}
	if (a->n == UINT32_MAX - 1) {
		*ret_err = -E2BIG;
		return NULL;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;
		struct ward_session_summary *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			goto nomem;
		a->v = v;
		a->cap = cap;
	}
	s = &a->v[a->n];
	*s = (struct ward_session_summary){ .id = strdup(id) };
	if (!s->id || (sandbox && !(s->sandbox = strdup(sandbox)))) {
		free(s->id);
		free(s->sandbox);
		goto nomem;
	}
	a->n++;
	if (2 * a->n >= a->n_slots) {
		if (rehash(a, a->n_slots ? 2 * a->n_slots : 64) < 0)
			goto nomem;
	} else {
		for (j = key_hash(sandbox, id) & (a->n_slots - 1); a->slots[j];
		     j = (j + 1) & (a->n_slots - 1))
			;
		a->slots[j] = (uint32_t)a->n;
	}
	return s;
nomem:
	*ret_err = -ENOMEM;
	return NULL;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int add_count(struct ward_session_summary *s, const char *layer, const char *action)
{
	struct ward_session_layer *l = NULL;

	for (size_t i = 0; i < s->n_layers && !l; i++)
		if (!strcmp(s->layers[i].layer, layer))
			l = &s->layers[i];
	if (!l) {
		l = realloc(s->layers, (s->n_layers + 1) * sizeof(*l));
		if (!l)
			return -ENOMEM;
		s->layers = l;
		l = &l[s->n_layers];
		*l = (struct ward_session_layer){ .layer = strdup(layer) };
		if (!l->layer)
			return -ENOMEM;
		s->n_layers++;
	}
	if (!strcmp(action, "allow"))
		l->allow++;
	else if (!strcmp(action, "deny"))
		l->deny++;
	else
		l->audit++;
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

static int add_lifecycle(struct ward_session_summary *s, sqlite3_stmt *st)
{
	const char *rule = col(st, 5);

	if (!rule)
		return 0;
	if (!strcmp(rule, "start") && !s->command) {
		s->start_ns = sqlite3_column_int64(st, 4);
		if (col(st, 6) && !(s->command = strdup(col(st, 6))))
			return -ENOMEM;
	} else if (!strcmp(rule, "exit")) {
		s->end_ns = sqlite3_column_int64(st, 4);
		s->has_status = ward_audit_exit_status(col(st, 7), &s->status) == 0;
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

static void add_usage(struct ward_session_summary *s, const char *reason)
{
	char v[32];

	if (!reason || !reason_value(reason, "prompt_tokens", v, sizeof(v)))
		return;
	s->calls++;
	s->tokens_in += strtoull(v, NULL, 10);
	if (reason_value(reason, "completion_tokens", v, sizeof(v)))
		s->tokens_out += strtoull(v, NULL, 10);
	if (reason_value(reason, "cost_usd", v, sizeof(v)) && strcmp(v, "unknown"))
		s->cost_usd += strtod(v, NULL);
	else
		s->unpriced++;
}

static int cmp_start(const void *x, const void *y)
{
	const struct ward_session_summary *a = x, *b = y;

	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return cmp_key(a, b->sandbox, b->id);
}

/* One row of a session: count it, and what its start, exit or usage says. */
static int add_row(struct agg *a, sqlite3_stmt *st)
{
	const char *layer = col(st, 2), *action = col(st, 3), *id = col(st, 1);
	int64_t ts = sqlite3_column_int64(st, 4);
	struct ward_session_summary *s;
	int r = 0;

	if (!id || !layer || !action)
		return 0;
	s = find(a, col(st, 0), id, &r);
	if (!s)
		return r;
	/* the first row's time until the start row says (add_lifecycle) */
	if (!s->command && (s->n_layers == 0 || ts < s->start_ns))
		s->start_ns = ts;
	r = add_count(s, layer, action);
	if (r < 0)
		return r;
	if (!strcmp(layer, "lifecycle"))
		return add_lifecycle(s, st);
	if (!strcmp(layer, "inference"))
		add_usage(s, col(st, 7));
	return 0;
}

int ward_audit_sessions(const char *path, const char *sandbox, struct ward_session_summary **ret,
			size_t *ret_n, struct ward_error *err)
{
	/* ?1: the sandbox or NULL; the text columns only where they are used */
	static const char q[] =
		"SELECT sandbox, session, layer, action, ts_ns,"
		" CASE WHEN layer = 'lifecycle' THEN rule END,"
		" CASE WHEN layer = 'lifecycle' THEN binary END,"
		" CASE WHEN layer IN ('lifecycle', 'inference') THEN reason END"
		" FROM decisions WHERE session IS NOT NULL AND (?1 IS NULL OR sandbox = ?1)"
		" ORDER BY id";
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct agg a = { 0 };
	int64_t now = (int64_t)ward_now_ns();
	int r, rc;

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
	rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return audit_sqlite_err(err, db, rc, "query sessions");
	if (sandbox)
		sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && r >= 0)
		r = add_row(&a, st);
	free(a.slots);
	if (r < 0 || rc != SQLITE_DONE) {
		ward_audit_sessions_free(a.v, a.n);
		return r < 0 ? ward_err(err, r, "sessions")
			     : audit_sqlite_err(err, db, rc, "read sessions");
	}
	for (size_t i = 0; i < a.n; i++) {
		struct ward_session_summary *s = &a.v[i];
		int64_t end = s->end_ns ? s->end_ns : now;

		s->duration_ms = end > s->start_ns ? (end - s->start_ns) / 1000000 : 0;
		/* layers by name: stable output */
		for (size_t j = 1; j < s->n_layers; j++)
			for (size_t k = j;
			     k > 0 && strcmp(s->layers[k - 1].layer, s->layers[k].layer) > 0; k--) {
				struct ward_session_layer t = s->layers[k];

				s->layers[k] = s->layers[k - 1];
				s->layers[k - 1] = t;
			}
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
