// SPDX-License-Identifier: MIT
/* The replay engine: stream the log once, re-decide each replayable row under
 * the new policy and under the policy it was logged with, and group the
 * decisions that change. Decisions are cached per distinct request tuple, so
 * a log of a million rows from a few hundred distinct requests costs a few
 * hundred decisions. */
#include "audit/replay_internal.h"
#include "audit/db.h"
#include "policy/cases.h"
#include "policy/client.h"
#include "policy/decide.h"
#include "policy/match.h"
#include "policy/policy.h"
#include "policy/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX (1u << 18) /* distinct tuples remembered; more are decided each time */
#define KEY_MAX 8192

/* ---- decisions per row ---- */

size_t ward_replay_binary_keys(const struct ward_policy *p, const char *binary, char *out,
			       size_t outsz)
{
	size_t n = 0, off = 0;

	if (outsz)
		out[0] = '\0';
	if (!binary)
		return 0;
	for (size_t i = 0; i < p->n_net; i++) {
		if (!ward_decide_binary_in(&p->net[i], binary, NULL))
			continue;
		if (off < outsz) {
			int w = snprintf(out + off, outsz - off, "%s%s", n ? "," : "",
					 p->net[i].key);

			off += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

static bool named(const struct ward_binary *b, size_t n, const char *binary, bool ancestors_only)
{
	for (size_t i = 0; binary && i < n; i++)
		if ((!ancestors_only || b[i].ancestors) && ward_match_binary(b[i].path, binary))
			return true;
	return false;
}

const char *ward_replay_decider(const struct ward_policy *p, const struct ward_audit_row *r)
{
	bool via_ok = false;

	for (size_t i = 0; i < p->n_net; i++)
		if (named(p->net[i].binaries, p->net[i].n_binaries, r->binary, false))
			return r->binary;
	if (named(p->inference_binaries, p->n_inference_binaries, r->binary, false))
		return r->binary;
	for (size_t i = 0; r->via && i < p->n_net && !via_ok; i++)
		via_ok = named(p->net[i].binaries, p->net[i].n_binaries, r->via, true);
	if (r->via && !via_ok)
		via_ok = named(p->inference_binaries, p->n_inference_binaries, r->via, true);
	return via_ok ? r->via : r->binary;
}

struct ward_client ward_replay_client(const struct ward_policy *p, const struct ward_audit_row *r)
{
	const char *bin = ward_replay_decider(p, r);

	/* via counts only when it decides under p, as the kernel resolves it */
	return (struct ward_client){
		.binary = r->binary,
		.via = bin == r->via && bin != r->binary ? r->via : NULL,
		.sha256 = r->binary_sha256,
	};
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

static int decide_net(const struct ward_policy *p, const struct ward_audit_row *r,
		      struct ward_replay_decision *ret)
{
	/* the live proxy's decision (policy/request.h), as a proxy with
	 * interception and inference routing makes it; what replay cannot know
	 * (the binary's integrity, the TLS session's name) is left out */
	struct ward_request_in in = { .can_terminate = true,
				      .can_intercept = true,
				      .inference = true };
	struct ward_request *req = &in.req;
	struct ward_request_verdict v;
	char path[4096];

	if (!r->host || !r->has_port || r->port <= 0 || r->port > 65535) {
		ret->skip = "proxy: missing host or port";
		return 1;
	}
	if (is(r->layer, "l7") && !r->method) {
		ret->skip = "l7: no request (upstream or parse failure, not a policy decision)";
		return 1;
	}
	req->binary = ward_replay_decider(p, r);
	req->host = r->host;
	req->port = (uint16_t)r->port;
	req->host_is_dest_ip = ward_host_is_ip(r->host);
	in.kind = is(r->protocol, "tcp")   ? WARD_REQ_TCP
		  : is(r->protocol, "tls") ? WARD_REQ_TLS
					   : WARD_REQ_CONNECT;
	if (r->method) {
		in.kind = WARD_REQ_HTTP;
		req->method = r->method;
		/* As the proxy does: a path that does not normalise matches no rule. */
		req->path = r->path && ward_path_normalize(r->path, path, sizeof(path)) >= 0 ? path
											     : NULL;
	}
	in.route_host = ward_request_route_host(p, r->host);
	ward_request_decide(p, &in, &v);
	if (v.row) {
		ret->action = v.action; /* static texts */
		snprintf(ret->rule, sizeof(ret->rule), "%s", v.rule ? v.rule : "");
	} else {
		/* served by the inference layer, whose own rows replay does not re-decide */
		ret->action = v.outcome == WARD_REQ_INFERENCE ? "allow" : "deny";
		ret->rule[0] = '\0';
		if (v.outcome == WARD_REQ_INFERENCE)
			snprintf(v.reason, sizeof(v.reason), "served by the inference layer");
	}
	snprintf(ret->reason, sizeof(ret->reason), "%.*s", (int)sizeof(ret->reason) - 1, v.reason);
	return 0;
}

static int decide_dns(const struct ward_policy *p, const struct ward_audit_row *r,
		      struct ward_replay_decision *ret)
{
	struct ward_client who = ward_replay_client(p, r);
	struct ward_dns_verdict v;
	char keys[WARD_REPLAY_TEXT];

	if (!r->host) {
		ret->skip = "dns: no query name (rate limit or malformed query)";
		return 1;
	}
	if (!r->binary) {
		ret->skip = "dns: unknown client or malformed query (not a policy decision)";
		return 1;
	}
	if (ward_replay_binary_keys(p, ward_replay_decider(p, r), keys, sizeof(keys)))
		who.keys = keys;
	ward_decide_dns(p, &who, r->host, &v);
	ret->action = v.allow ? "allow" : "deny";
	snprintf(ret->rule, sizeof(ret->rule), "%s", v.rule ? v.rule : "");
	snprintf(ret->reason, sizeof(ret->reason), "%s", v.reason ? v.reason : "");
	return 0;
}

/* A connect to a host unix socket: allowed when a network policy names the
 * socket for the binary. Rows of sockets the sandbox made itself are allows
 * that no policy shapes: they are not decisions to replay. */
static int decide_unix(const struct ward_policy *p, const struct ward_audit_row *r,
		       struct ward_replay_decision *ret)
{
	const struct ward_net_policy *np;
	char keys[WARD_REPLAY_TEXT];
	const char *bin;

	if (!r->path) {
		ret->skip = "unix: no socket path (a counter row)";
		return 1;
	}
	if (is(r->action, "allow") && !r->rule) {
		ret->skip = "unix: a socket the sandbox created itself";
		return 1;
	}
	bin = ward_replay_decider(p, r);
	np = ward_decide_unix(p, bin,
			      ward_replay_binary_keys(p, bin, keys, sizeof(keys)) ? keys : NULL,
			      r->path);
	ret->action = np ? "allow" : "deny";
	snprintf(ret->rule, sizeof(ret->rule), "%s", np ? np->key : "");
	snprintf(ret->reason, sizeof(ret->reason), "%s",
		 np ? "host unix socket named by the policy"
		    : "host unix socket not named by the policy for this binary");
	return 0;
}

/* Filesystem rows with a path (learn-mode audit rows, denials outside the
 * ceiling): ward_case_fs_decide(), the decision `ward policy test` makes;
 * "include_workdir" rows (a path in the workdir) by the policy's
 * include_workdir. The method is "read", "write", "exec" (learn) or a
 * denial's access list. Protected-path and counter rows are not replayed. */
static int decide_fs(const struct ward_policy *p, const struct ward_audit_row *r,
		     struct ward_replay_decision *ret)
{
	static const char *const w[] = { "write",  "create", "truncate", "delete",
					 "rename", "link",   "setattr" };
	enum ward_case_access a = WARD_CASE_READ;
	bool ok;

	if (!r->path || r->path[0] != '/' || !r->method || !*r->method) {
		ret->skip = "fs: no path (a counter row)";
		return 1;
	}
	if (is(r->rule, "include_workdir")) {
		ret->action = p->include_workdir ? "allow" : "deny";
		snprintf(ret->rule, sizeof(ret->rule), "include_workdir");
		snprintf(ret->reason, sizeof(ret->reason), "in the workdir: include_workdir: %s",
			 p->include_workdir ? "true" : "false");
		return 0;
	}
	if (!is(r->rule, "filesystem_policy")) {
		ret->skip = "fs: protected paths are not replayed";
		return 1;
	}
	if (strstr(r->method, "exec"))
		a = WARD_CASE_EXEC;
	for (size_t i = 0; i < ARRAY_SIZE(w); i++)
		if (strstr(r->method, w[i]))
			a = WARD_CASE_WRITE;
	ok = ward_case_fs_decide(p, NULL, r->binary ? r->binary : "", r->path, a, ret->rule,
				 sizeof(ret->rule), ret->reason, sizeof(ret->reason));
	ret->action = ok ? "allow" : "deny";
	return 0;
}

int ward_replay_decide_row(const struct ward_policy *p, const struct ward_audit_row *r,
			   struct ward_replay_decision *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!r->layer || !r->action) {
		ret->skip = "missing layer or action";
		return 1;
	}
	/* Bookkeeping rows: counts of events nobody saw, and credentials kept
	 * out of clear-text requests (decided by the credential's scheme). */
	if (is(r->rule, "events_dropped")) {
		ret->skip = "drop counter: not a decision";
		return 1;
	}
	if (is(r->layer, "proxy") && is(r->rule, "limits")) {
		ret->skip = "proxy limits: refused under load, not by the policy";
		return 1;
	}
	if (r->rule && !strncmp(r->rule, "credential:", 11)) {
		ret->skip = "credential not injected over plain HTTP: not a network decision";
		return 1;
	}
	if (is(r->layer, "kernel"))
		return replay_kernel_decide(p, r, ret);
	if (is(r->layer, "proxy") || is(r->layer, "l7"))
		return decide_net(p, r, ret);
	if (is(r->layer, "dns"))
		return decide_dns(p, r, ret);
	if (is(r->layer, "unix"))
		return decide_unix(p, r, ret);
	if (is(r->layer, "lifecycle") || is(r->layer, "control"))
		ret->skip = "lifecycle: not a decision";
	else if (is(r->layer, "fs"))
		return decide_fs(p, r, ret);
	else if (is(r->layer, "seccomp"))
		ret->skip = "seccomp: refused whatever the policy says";
	else if (is(r->layer, "nft"))
		ret->skip = "nft: packets that bypassed the proxy are always rejected";
	else if (is(r->layer, "inference"))
		ret->skip = "inference: routing is not replayed";
	else if (is(r->layer, "host"))
		ret->skip = "host: host-mode rows are replayed against the host policy";
	else
		ret->skip = "unknown layer";
	return 1;
}

/* ---- a string-keyed hash map ---- */

struct smap_ent {
	char *key;
	uint64_t hash;
	void *val;
};

struct smap {
	struct smap_ent *v;
	size_t cap, n;
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct smap_ent *smap_slot(struct smap *m, const char *key, uint64_t h)
{
	size_t i = h & (m->cap - 1);

	while (m->v[i].key && (m->v[i].hash != h || strcmp(m->v[i].key, key)))
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

static void *smap_get(struct smap *m, const char *key, size_t len)
{
	struct smap_ent *e;

	if (!m->cap)
		return NULL;
	e = smap_slot(m, key, fnv1a(key, len));
	return e->key ? e->val : NULL;
}

/* Takes val; -ENOMEM leaves it to the caller. */
static int smap_put(struct smap *m, const char *key, size_t len, void *val)
{
	uint64_t h = fnv1a(key, len);
	struct smap_ent *e;

	if (2 * (m->n + 1) > m->cap) {
		struct smap grown = { .cap = m->cap ? 2 * m->cap : 1024 };

		grown.v = calloc(grown.cap, sizeof(*grown.v));
		if (!grown.v)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i].key)
				*smap_slot(&grown, m->v[i].key, m->v[i].hash) = m->v[i];
		free(m->v);
		m->v = grown.v;
		m->cap = grown.cap;
	}
	e = smap_slot(m, key, h);
	e->key = strndup(key, len);
	if (!e->key)
		return -ENOMEM;
	e->hash = h;
	e->val = val;
	m->n++;
	return 0;
}

static void smap_free(struct smap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->v[i].key)
			continue;
		free(m->v[i].key);
		if (free_val)
			free_val(m->v[i].val);
	}
	free(m->v);
	*m = (struct smap){ 0 };
}

/* ---- the engine ---- */

struct cached {
	const char *skip;
	const char *action;
	char *rule;
	char *reason;
	const char *logged_as; /* the action under the row's own policy; NULL: unknown */
};

static void cached_free(void *p)
{
	struct cached *c = p;

	if (!c)
		return;
	free(c->rule);
	free(c->reason);
	free(c);
}

struct old_policy {
	char rev[65];
	struct ward_policy *p; /* NULL: not stored or does not compile */
};

struct engine {
	const struct ward_policy *p;
	const struct ward_replay_opts *o;
	const struct ward_replay_source *src;
	struct old_policy *olds;
	size_t n_olds;
	struct smap cache;
	struct smap group_index; /* value: group index + 1 */
	struct ward_replay_report *rep;
	int error;
};

static const struct ward_policy *old_policy(struct engine *e, const char *rev)
{
	struct old_policy *n;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	struct ward_policy *p = NULL;

	if (!rev)
		return NULL;
	for (size_t i = 0; i < e->n_olds; i++)
		if (!strcmp(e->olds[i].rev, rev))
			return e->olds[i].p;
	if (strlen(rev) != 64)
		return NULL;
	n = realloc(e->olds, (e->n_olds + 1) * sizeof(*n));
	if (!n)
		return NULL;
	e->olds = n;
	{
		char *src = NULL;
		size_t len = 0;

		if (e->src->policy_source(e->src->ctx, rev, &src, &len) >= 0 && src &&
		    ward_policy_load_buffer("logged policy", src, len, &p, &diags, &err) < 0)
			p = NULL;
		ward_diags_free(&diags);
		free(src);
	}
	memcpy(n[e->n_olds].rev, rev, 65);
	n[e->n_olds].p = p;
	e->n_olds++;
	return p;
}

static size_t put_field(char *buf, size_t off, const char *s)
{
	size_t n;

	if (off >= KEY_MAX)
		return off;
	if (!s) {
		buf[off++] = '\x1e'; /* NULL differs from "" */
	} else {
		n = strlen(s);
		if (off + n + 1 >= KEY_MAX)
			return KEY_MAX;
		memcpy(buf + off, s, n);
		off += n;
	}
	if (off < KEY_MAX)
		buf[off++] = '\x1f';
	return off;
}

/* Everything a decision depends on; 0 when too long to cache. */
static size_t row_key(const struct ward_audit_row *r, char *buf)
{
	char port[24];
	size_t off = 0;

	snprintf(port, sizeof(port), "%lld", r->has_port ? (long long)r->port : -1LL);
	off = put_field(buf, off, r->layer);
	off = put_field(buf, off, r->binary);
	off = put_field(buf, off, r->via); /* decides for ancestors: true (ward_replay_decider) */
	off = put_field(buf, off, r->host);
	off = put_field(buf, off, r->ip);
	off = put_field(buf, off, port);
	off = put_field(buf, off, r->protocol);
	off = put_field(buf, off, r->method);
	off = put_field(buf, off, r->path);
	/* kernel rows: the logged reason says whether the destination was the proxy */
	off = put_field(buf, off, is(r->layer, "kernel") ? r->reason : NULL);
	/* fs rows: the rule says workdir, filesystem_policy or protected */
	off = put_field(buf, off, is(r->layer, "fs") ? r->rule : NULL);
	off = put_field(buf, off, r->policy_rev);
	if (off >= KEY_MAX)
		return 0;
	buf[off] = '\0';
	return off;
}

static struct cached *decide_cached(struct engine *e, const struct ward_audit_row *r, char *key,
				    struct cached *scratch)
{
	struct ward_replay_decision d, old;
	const struct ward_policy *op;
	size_t klen = row_key(r, key);
	struct cached *c;

	if (klen) {
		c = smap_get(&e->cache, key, klen);
		if (c) {
			e->rep->cache_hits++;
			return c;
		}
	}
	c = e->cache.n < CACHE_MAX && klen ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		c = scratch; /* not cached: decided for this row only */
	if (ward_replay_decide_row(e->p, r, &d) != 0) {
		c->skip = d.skip;
	} else {
		c->action = d.action;
		c->rule = strdup(d.rule);
		c->reason = strdup(d.reason);
		op = old_policy(e, r->policy_rev);
		if (op && ward_replay_decide_row(op, r, &old) == 0)
			c->logged_as = old.action;
	}
	if (c != scratch && smap_put(&e->cache, key, klen, c) < 0) {
		cached_free(c);
		e->error = -ENOMEM;
		return NULL;
	}
	return c;
}

static void count_skip(struct ward_replay_report *rep, const char *reason)
{
	struct ward_replay_skip *n;

	rep->skipped++;
	for (size_t i = 0; i < rep->n_skips; i++)
		if (rep->skips[i].reason == reason || !strcmp(rep->skips[i].reason, reason)) {
			rep->skips[i].count++;
			return;
		}
	n = realloc(rep->skips, (rep->n_skips + 1) * sizeof(*n));
	if (!n)
		return;
	rep->skips = n;
	n[rep->n_skips++] = (struct ward_replay_skip){ reason, 1 };
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *action_static(const char *a)
{
	if (is(a, "allow"))
		return "allow";
	if (is(a, "deny"))
		return "deny";
	if (is(a, "audit"))
		return "audit";
	return "?";
}

static int add_change(struct engine *e, const struct ward_audit_row *r, const struct cached *c)
{
	struct ward_replay_report *rep = e->rep;
	size_t max_ex = e->o->max_examples ? e->o->max_examples : 3;
	const char *old_rule = r->rule && *r->rule ? r->rule : NULL;
	const char *new_rule = c->rule && *c->rule ? c->rule : NULL;
	char key[1024];
	struct ward_replay_group *g;
	size_t klen = 0;
	void *idx;

	klen = put_field(key, klen, r->layer);
	klen = put_field(key, klen, r->action);
	klen = put_field(key, klen, c->action);
	klen = put_field(key, klen, old_rule);
	klen = put_field(key, klen, new_rule);
	if (klen >= sizeof(key))
		klen = sizeof(key) - 1;
	key[klen] = '\0';
	idx = smap_get(&e->group_index, key, klen);
	if (idx) {
		g = &rep->groups[(uintptr_t)idx - 1];
	} else {
		struct ward_replay_group *n =
			realloc(rep->groups, (rep->n_groups + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rep->groups = n;
		g = &n[rep->n_groups];
		*g = (struct ward_replay_group){
			.layer = strdup(r->layer),
			.from = action_static(r->action),
			.to = action_static(c->action),
			.old_rule = dup_or_null(old_rule),
			.new_rule = dup_or_null(new_rule),
		};
		rep->n_groups++;
		if (smap_put(&e->group_index, key, klen, (void *)(uintptr_t)rep->n_groups) < 0)
			return -ENOMEM;
	}
	g->count++;
	if (g->n_examples < max_ex) {
		struct ward_replay_example *n =
			realloc(g->examples, (g->n_examples + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->examples = n;
		n[g->n_examples++] = (struct ward_replay_example){
			.id = r->id,
			.origin = e->src->origin ? dup_or_null(e->src->origin(e->src->ctx)) : NULL,
			.sandbox = dup_or_null(r->sandbox),
			.session = dup_or_null(r->session),
			.binary = dup_or_null(r->binary),
			.host = dup_or_null(r->host),
			.ip = dup_or_null(r->ip),
			.method = dup_or_null(r->method),
			.path = dup_or_null(r->path),
			.has_port = r->has_port,
			.port = r->port,
			.old_reason = dup_or_null(r->reason),
			.new_reason = dup_or_null(c->reason),
		};
	}
	return 0;
}

static int on_row(const struct ward_audit_row *r, void *userdata)
{
	struct engine *e = userdata;
	struct ward_replay_report *rep = e->rep;
	struct cached scratch = { 0 };
	char key[KEY_MAX];
	const struct cached *c;
	int ret = 0;

	rep->rows++;
	c = decide_cached(e, r, key, &scratch);
	if (!c)
		return e->error;
	if (c->skip) {
		count_skip(rep, c->skip);
	} else if (c->logged_as && !is(c->logged_as, r->action) &&
		   !(is(r->action, "audit") && is(c->logged_as, "deny"))) {
		/* an audit row its own policy denies: learn mode (docs/learn.md)
		 * or host audit mode let it through; compared as audit */
		count_skip(rep, "not reproducible under its own policy (not a policy decision: "
				"upstream failure, SSRF, TLS, query rules)");
	} else if (is(c->action, r->action)) {
		rep->replayed++;
		rep->unchanged++;
	} else {
		rep->replayed++;
		rep->changed++;
		if (is(r->action, "allow") && is(c->action, "deny"))
			rep->allow_to_deny++;
		else if (is(r->action, "deny") && is(c->action, "allow"))
			rep->deny_to_allow++;
		else
			rep->other_changes++;
		ret = add_change(e, r, c);
		if (ret < 0)
			e->error = ret;
	}
	free(scratch.rule);
	free(scratch.reason);
	return ret;
}

static int cmp_group(const void *a, const void *b)
{
	const struct ward_replay_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->layer, y->layer);
}

int ward_replay_rows(const struct ward_replay_source *src, const struct ward_policy *p,
		     const struct ward_replay_opts *o, struct ward_replay_report *ret,
		     struct ward_error *err)
{
	static const struct ward_replay_opts defaults;
	struct ward_audit_filter f = { 0 };
	struct engine e = { .p = p, .o = o ? o : &defaults, .src = src, .rep = ret };
	int r;

	memset(ret, 0, sizeof(*ret));
	memcpy(ret->policy_rev, p->rev, sizeof(ret->policy_rev));
	f.sandbox = e.o->sandbox;
	f.session = e.o->session;
	f.since_ns = e.o->since_ns;
	r = src->each(src->ctx, &f, on_row, &e, err);
	if (e.error) /* our callback's own failure */
		r = ward_err(err, e.error, "replay");
	if (r >= 0 && ret->n_groups)
		qsort(ret->groups, ret->n_groups, sizeof(*ret->groups), cmp_group);
	smap_free(&e.cache, cached_free);
	smap_free(&e.group_index, NULL);
	for (size_t i = 0; i < e.n_olds; i++)
		ward_policy_free(e.olds[i].p);
	free(e.olds);
	if (r < 0)
		ward_replay_report_free(ret);
	return r < 0 ? r : 0;
}

/* The local log as a replay source. */
struct local_source {
	struct ward_audit_reader *rd;
	sqlite3 *db;
	sqlite3_stmt *source;
};

static int local_each(void *ctx, const struct ward_audit_filter *f,
		      int (*cb)(const struct ward_audit_row *row, void *userdata), void *userdata,
		      struct ward_error *err)
{
	struct local_source *l = ctx;

	return ward_audit_reader_each(l->rd, f, cb, userdata, err);
}

static int local_policy_source(void *ctx, const char *rev, char **ret_src, size_t *ret_len)
{
	struct local_source *l = ctx;
	int r = 0;

	*ret_src = NULL;
	*ret_len = 0;
	sqlite3_reset(l->source);
	sqlite3_bind_text(l->source, 1, rev, -1, SQLITE_STATIC);
	if (sqlite3_step(l->source) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(l->source, 0);
		size_t len = (size_t)sqlite3_column_bytes(l->source, 0);

		if (text) {
			*ret_src = strndup(text, len);
			*ret_len = len;
			if (!*ret_src)
				r = -ENOMEM;
		}
	}
	sqlite3_reset(l->source);
	return r;
}

int ward_replay(const char *path, const struct ward_policy *p, const struct ward_replay_opts *o,
		struct ward_replay_report *ret, struct ward_error *err)
{
	struct local_source l = { 0 };
	struct ward_replay_source src = {
		.each = local_each,
		.policy_source = local_policy_source,
		.ctx = &l,
	};
	int r, rc;

	memset(ret, 0, sizeof(*ret));
	if (!path)
		path = ward_audit_default_path();
	r = ward_audit_reader_open(path, &l.rd, err);
	if (r < 0)
		return r;
	r = audit_db_open_ro(path, &l.db, err);
	if (r < 0)
		goto out;
	rc = sqlite3_prepare_v2(l.db, "SELECT source FROM policies WHERE rev = ?", -1, &l.source,
				NULL);
	if (rc != SQLITE_OK) {
		r = audit_sqlite_err(err, l.db, rc, "read policies");
		goto out;
	}
	r = ward_replay_rows(&src, p, o, ret, err);
out:
	ward_audit_reader_close(l.rd);
	sqlite3_finalize(l.source);
	sqlite3_close_v2(l.db);
	return r;
}

void ward_replay_report_free(struct ward_replay_report *r)
{
	for (size_t i = 0; i < r->n_groups; i++) {
		struct ward_replay_group *g = &r->groups[i];

		for (size_t j = 0; j < g->n_examples; j++) {
			struct ward_replay_example *x = &g->examples[j];

			free(x->origin);
			free(x->sandbox);
			free(x->session);
			free(x->binary);
			free(x->host);
			free(x->ip);
			free(x->method);
			free(x->path);
			free(x->old_reason);
			free(x->new_reason);
		}
		free(g->examples);
		free(g->layer);
		free(g->old_rule);
		free(g->new_rule);
	}
	free(r->groups);
	free(r->skips);
	memset(r, 0, sizeof(*r));
}
