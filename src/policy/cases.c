// SPDX-License-Identifier: MIT
/* `ward policy test`: the cases loader and runner (policy/cases.h). */
#include "policy/cases.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/client.h"
#include "policy/decide.h"
#include "policy/match.h"
#include "policy/request.h"
#include "policy/yaml.h"

#define CASES_MAX_BYTES (4u << 20)
#define CASES_MAX_DEPTH 16
#define CASES_MAX 100000

static int cerr(struct ward_error *err, const char *file, const struct ward_ynode *n,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int cerr(struct ward_error *err, const char *file, const struct ward_ynode *n,
		const char *fmt, ...)
{
	char msg[WARD_CASE_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ward_errx(err, -EINVAL, "%s:%u:%u: %s", file, n ? n->line : 1, n ? n->col : 1, msg);
}

static bool scalar_is(const struct ward_ynode *n, const char *s)
{
	return n->kind == WARD_Y_SCALAR && n->len == strlen(s) && !memcmp(n->value, s, n->len);
}

/* A scalar without NUL bytes, copied; -EINVAL with the position otherwise. */
static int get_str(const char *file, const struct ward_ynode *key, const struct ward_ynode *v,
		   char **ret, struct ward_error *err)
{
	if (v->kind != WARD_Y_SCALAR)
		return cerr(err, file, v, "'%s' must be a string", key->value);
	if (strlen(v->value) != v->len || v->len == 0)
		return cerr(err, file, v, "'%s' must be a non-empty string without NUL bytes",
			    key->value);
	if (*ret)
		return cerr(err, file, key, "duplicate key '%s'", key->value);
	*ret = strdup(v->value);
	return *ret ? 0 : ward_err(err, -ENOMEM, "cases");
}

static void case_free(struct ward_case *c)
{
	free(c->name);
	free(c->binary);
	free(c->host);
	free(c->method);
	free(c->path);
	free(c->dns);
	free(c->file);
	free(c->workdir);
	free(c->model);
	free(c->rule);
}

void ward_cases_free(struct ward_cases *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		case_free(&c->v[i]);
	free(c->v);
	free(c->file);
	*c = (struct ward_cases){ 0 };
}

static bool abs_path_ok(const char *p)
{
	const char *s = p;

	if (p[0] != '/')
		return false;
	while ((s = strstr(s, "/..")) != NULL) {
		if (s[3] == '\0' || s[3] == '/')
			return false;
		s += 3;
	}
	return true;
}

static int load_case(const char *file, const struct ward_ynode *m, struct ward_case *c,
		     struct ward_error *err)
{
	static const char *const keys[] = { "name",  "binary", "host",	 "port",
					    "method", "path",	"dns",	 "file",
					    "access", "model",	"expect", "rule",
					    "workdir" };
	char *port = NULL, *access = NULL, *expect = NULL, *host = NULL, *dns = NULL;
	const struct ward_ynode *kpos[ARRAY_SIZE(keys)] = { 0 };
	char **dst[ARRAY_SIZE(keys)] = { &c->name,   &c->binary, &host,	  &port,
					 &c->method, &c->path,	 &dns,	  &c->file,
					 &access,    &c->model,	 &expect, &c->rule,
					 &c->workdir };
	char norm[WARD_HOST_MAX];
	unsigned kinds = 0;
	int r = 0;

	c->line = m->line;
	c->col = m->col;
	if (m->kind != WARD_Y_MAP)
		return cerr(err, file, m, "a case must be a mapping");
	for (size_t i = 0; r >= 0 && i + 1 < m->n; i += 2) {
		const struct ward_ynode *k = m->kids[i], *v = m->kids[i + 1];
		size_t j;

		if (k->kind != WARD_Y_SCALAR || strlen(k->value) != k->len)
			return cerr(err, file, k, "a case's keys must be strings");
		for (j = 0; j < ARRAY_SIZE(keys) && !scalar_is(k, keys[j]); j++)
			;
		if (j == ARRAY_SIZE(keys)) {
			r = cerr(err, file, k,
				 "unknown key '%s' (known: name, binary, host, port, method, path, "
				 "dns, file, access, workdir, model, expect, rule)",
				 k->value);
			break;
		}
		kpos[j] = v;
		r = get_str(file, k, v, dst[j], err);
	}
	if (r < 0)
		goto out;
	if (!expect) {
		r = cerr(err, file, m, "case without 'expect' (allow, deny or audit)");
		goto out;
	}
	if (!strcmp(expect, "allow"))
		c->expect = "allow";
	else if (!strcmp(expect, "deny"))
		c->expect = "deny";
	else if (!strcmp(expect, "audit"))
		c->expect = "audit";
	else {
		r = cerr(err, file, kpos[10], "expect must be allow, deny or audit, not '%s'",
			 expect);
		goto out;
	}
	if (!c->binary) {
		r = cerr(err, file, m, "case without 'binary'");
		goto out;
	}
	if (!abs_path_ok(c->binary)) {
		r = cerr(err, file, kpos[1], "binary '%s' must be an absolute path without '..'",
			 c->binary);
		goto out;
	}
	kinds = !!host + !!dns + !!c->file + !!c->model;
	if (kinds != 1) {
		r = cerr(err, file, m, "a case names exactly one of host, dns, file or model");
		goto out;
	}
	if (host) {
		unsigned long pv;
		char *end;

		c->kind = WARD_CASE_NET;
		if (ward_host_normalize(host, strlen(host), norm, sizeof(norm)) < 0) {
			r = cerr(err, file, kpos[2], "invalid host '%s'", host);
			goto out;
		}
		c->host = strdup(norm);
		if (!c->host) {
			r = ward_err(err, -ENOMEM, "cases");
			goto out;
		}
		if (!port) {
			r = cerr(err, file, m, "a host case needs 'port'");
			goto out;
		}
		errno = 0;
		pv = strtoul(port, &end, 10);
		if (errno || *end || port[0] < '0' || port[0] > '9' || pv == 0 || pv > 65535) {
			r = cerr(err, file, kpos[3], "invalid port '%s' (1-65535)", port);
			goto out;
		}
		c->port = (uint16_t)pv;
		if (!!c->method != !!c->path) {
			r = cerr(err, file, kpos[4] ? kpos[4] : kpos[5],
				 "'method' and 'path' go together");
			goto out;
		}
		if (c->path && c->path[0] != '/') {
			r = cerr(err, file, kpos[5], "path '%s' must start with '/'", c->path);
			goto out;
		}
	} else if (port || c->method || c->path) {
		r = cerr(err, file,
			 kpos[3]   ? kpos[3]
			 : kpos[4] ? kpos[4]
				   : kpos[5],
			 "port, method and path belong to host cases");
		goto out;
	}
	if (dns) {
		c->kind = WARD_CASE_DNS;
		if (ward_host_normalize(dns, strlen(dns), norm, sizeof(norm)) < 0) {
			r = cerr(err, file, kpos[6], "invalid name '%s'", dns);
			goto out;
		}
		c->dns = strdup(norm);
		if (!c->dns) {
			r = ward_err(err, -ENOMEM, "cases");
			goto out;
		}
	}
	if (c->file) {
		c->kind = WARD_CASE_FILE;
		if (!abs_path_ok(c->file)) {
			r = cerr(err, file, kpos[7],
				 "file '%s' must be an absolute path without '..'", c->file);
			goto out;
		}
		if (!access) {
			r = cerr(err, file, m, "a file case needs 'access' (read, write or exec)");
			goto out;
		}
		if (!strcmp(access, "read"))
			c->access = WARD_CASE_READ;
		else if (!strcmp(access, "write"))
			c->access = WARD_CASE_WRITE;
		else if (!strcmp(access, "exec"))
			c->access = WARD_CASE_EXEC;
		else {
			r = cerr(err, file, kpos[8], "access must be read, write or exec, not '%s'",
				 access);
			goto out;
		}
		if (c->workdir && (!abs_path_ok(c->workdir) || !strcmp(c->workdir, "/"))) {
			r = cerr(err, file, kpos[12],
				 "workdir '%s' must be an absolute path without '..', not /",
				 c->workdir);
			goto out;
		}
		for (size_t n = c->workdir ? strlen(c->workdir) : 0; n > 1 && c->workdir[n - 1] == '/';)
			c->workdir[--n] = '\0';
	} else if (c->workdir) {
		r = cerr(err, file, kpos[12], "'workdir' belongs to file cases");
		goto out;
	} else if (access) {
		r = cerr(err, file, kpos[8], "'access' belongs to file cases");
		goto out;
	}
	if (c->model)
		c->kind = WARD_CASE_MODEL;
out:
	free(port);
	free(access);
	free(expect);
	free(host);
	free(dns);
	return r;
}

int ward_cases_load_buffer(const char *name, const char *buf, size_t len, struct ward_cases *ret,
			   struct ward_error *err)
{
	struct ward_cases cs = { 0 };
	struct ward_ynode *root = NULL;
	const struct ward_ynode *seq = NULL;
	struct ward_yerror yerr = { 0 };
	int r;

	*ret = (struct ward_cases){ 0 };
	cs.file = strdup(name);
	if (!cs.file)
		return ward_err(err, -ENOMEM, "cases");
	r = ward_yaml_parse(buf, len, CASES_MAX_DEPTH, &root, &yerr);
	if (r == -EINVAL) {
		r = ward_errx(err, -EINVAL, "%s:%u:%u: %s", name, yerr.line ? yerr.line : 1,
			      yerr.col ? yerr.col : 1, yerr.msg);
		goto fail;
	}
	if (r < 0) {
		r = ward_err(err, r, "%s", name);
		goto fail;
	}
	if (!root || root->kind != WARD_Y_MAP) {
		r = cerr(err, name, root, "a cases file is a mapping with the key 'cases'");
		goto fail;
	}
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		if (!scalar_is(root->kids[i], "cases")) {
			r = cerr(err, name, root->kids[i], "unknown key '%s' (known: cases)",
				 root->kids[i]->kind == WARD_Y_SCALAR &&
						 strlen(root->kids[i]->value) == root->kids[i]->len
					 ? root->kids[i]->value
					 : "?");
			goto fail;
		}
		if (seq) {
			r = cerr(err, name, root->kids[i], "duplicate key 'cases'");
			goto fail;
		}
		seq = root->kids[i + 1];
	}
	if (!seq) {
		r = cerr(err, name, root, "no 'cases' list");
		goto fail;
	}
	if (seq->kind != WARD_Y_SEQ || seq->n == 0) {
		r = cerr(err, name, seq, "'cases' must be a non-empty list");
		goto fail;
	}
	if (seq->n > CASES_MAX) {
		r = cerr(err, name, seq, "too many cases");
		goto fail;
	}
	cs.v = calloc(seq->n, sizeof(*cs.v));
	if (!cs.v) {
		r = ward_err(err, -ENOMEM, "cases");
		goto fail;
	}
	for (size_t i = 0; i < seq->n; i++) {
		r = load_case(name, seq->kids[i], &cs.v[i], err);
		cs.n++;
		if (r < 0)
			goto fail;
	}
	ward_ynode_free(root);
	*ret = cs;
	return 0;
fail:
	ward_ynode_free(root);
	ward_cases_free(&cs);
	return r;
}

int ward_cases_load(const char *path, struct ward_cases *ret, struct ward_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	*ret = (struct ward_cases){ 0 };
	r = ward_read_file(path, CASES_MAX_BYTES, &buf, &len);
	if (r < 0)
		return ward_err(err, r, "%s", path);
	return ward_cases_load_buffer(path, buf, len, ret, err);
}

/* ---- the runner ---- */

/* Network policy keys whose binaries match binary, comma-separated (as the
 * kernel would resolve the identity; what replay rebuilds). */
static void binary_keys(const struct ward_policy *p, const char *binary, char *out, size_t outsz)
{
	size_t w = 0;

	out[0] = '\0';
	for (size_t i = 0; i < p->n_net; i++) {
		const char *k = p->net[i].key;
		size_t n = strlen(k);

		if (!ward_decide_binary_in(&p->net[i], binary, NULL))
			continue;
		if (w + n + 2 > outsz)
			break;
		if (w)
			out[w++] = ',';
		memcpy(out + w, k, n + 1);
		w += n;
	}
}

static void run_net(const struct ward_policy *p, const struct ward_case *c,
		    struct ward_case_result *ret)
{
	struct ward_request_in in = { .can_terminate = true,
				      .can_intercept = true,
				      .inference = true };
	struct ward_request_verdict rv;
	char npath[4096];

	in.req.binary = c->binary;
	in.req.host = c->host;
	in.req.port = c->port;
	in.req.host_is_dest_ip = ward_host_is_ip(c->host);
	if (c->method) {
		const char *q = strchr(c->path, '?');

		in.req.method = c->method;
		in.req.query = q ? q + 1 : NULL;
		/* the proxy's normalisation; a refused path matches no rule */
		in.req.path =
			ward_path_normalize(c->path, npath, sizeof(npath)) >= 0 ? npath : NULL;
		in.kind = WARD_REQ_HTTP;
	} else {
		in.kind = WARD_REQ_CONNECT;
	}
	in.route_host = ward_request_route_host(p, c->host);
	ward_request_decide(p, &in, &rv);
	if (rv.outcome == WARD_REQ_INFERENCE) {
		struct ward_client who = { .binary = c->binary };
		enum ward_inference_verdict iv = ward_decide_inference(p, &who);

		ret->action = iv == WARD_INFERENCE_ALLOW ? "allow" : "deny";
		snprintf(ret->rule, sizeof(ret->rule), "%s",
			 iv == WARD_INFERENCE_ALLOW ? "inference" : "");
		snprintf(ret->reason, sizeof(ret->reason), "%s",
			 iv == WARD_INFERENCE_ALLOW ? "served by ward's inference layer"
						    : ward_inference_verdict_str(iv));
		return;
	}
	ret->action = rv.outcome == WARD_REQ_ALLOW || rv.outcome == WARD_REQ_INTERCEPT
			      ? ward_action_str(rv.net.action)
			      : "deny";
	if (rv.row && rv.action)
		ret->action = rv.action;
	snprintf(ret->rule, sizeof(ret->rule), "%s",
		 rv.row && rv.rule ? rv.rule : rv.net.rule_name);
	snprintf(ret->reason, sizeof(ret->reason), "%.*s", WARD_CASE_TEXT - 1,
		 rv.reason[0] ? rv.reason : rv.net.reason);
}

static void run_dns(const struct ward_policy *p, const struct ward_case *c,
		    struct ward_case_result *ret)
{
	char keys[1024];
	struct ward_client who = { .binary = c->binary };
	struct ward_dns_verdict v;

	binary_keys(p, c->binary, keys, sizeof(keys));
	who.keys = keys[0] ? keys : NULL;
	ward_decide_dns(p, &who, c->dns, &v);
	ret->action = v.allow ? "allow" : "deny";
	snprintf(ret->rule, sizeof(ret->rule), "%s", v.rule ? v.rule : "");
	snprintf(ret->reason, sizeof(ret->reason), "%s", v.reason ? v.reason : "");
}

const struct ward_inference_route *ward_case_model_route(const struct ward_policy *p,
							 const char *model)
{
	for (size_t i = 0; i < p->n_routes; i++)
		if (p->routes[i].name && !strcmp(p->routes[i].name, model))
			return &p->routes[i];
	for (size_t i = 0; i < p->n_routes; i++)
		for (size_t k = 0; k < p->routes[i].n_aliases; k++)
			if (!strcmp(p->routes[i].aliases[k], model))
				return &p->routes[i];
	for (size_t i = 0; i < p->n_routes; i++)
		if (p->routes[i].model && !strcmp(p->routes[i].model, model))
			return &p->routes[i];
	if (p->inference_strict_models || p->n_routes == 0)
		return NULL;
	return &p->routes[0];
}

static void run_model(const struct ward_policy *p, const struct ward_case *c,
		      struct ward_case_result *ret)
{
	struct ward_client who = { .binary = c->binary };
	enum ward_inference_verdict iv = ward_decide_inference(p, &who);
	const struct ward_inference_route *rt;

	ret->action = "deny";
	if (iv != WARD_INFERENCE_ALLOW) {
		snprintf(ret->reason, sizeof(ret->reason), "%s", ward_inference_verdict_str(iv));
		return;
	}
	rt = ward_case_model_route(p, c->model);
	if (!rt) {
		snprintf(ret->reason, sizeof(ret->reason),
			 "no route names model '%s' (strict_models)", c->model);
		return;
	}
	ret->action = "allow";
	snprintf(ret->rule, sizeof(ret->rule), "%s", rt->name ? rt->name : "");
	snprintf(ret->reason, sizeof(ret->reason), "routed to %s model %s",
		 rt->provider ? rt->provider : "?", rt->model ? rt->model : "?");
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* The deepest path of list covering file; its length in *depth. */
static const struct ward_fs_path *deepest(const struct ward_fs_path *list, size_t n,
					  const char *file, size_t *depth)
{
	const struct ward_fs_path *best = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(list[i].path);

		if (under(file, list[i].path) && (!best || l > *depth)) {
			best = &list[i];
			*depth = l;
		}
	}
	return best;
}

/* Among the mapped paths covering file, the deepest; read-only unless a
 * read_write entry of the same depth (the plan merges, most permissive wins). */
static const struct ward_fs_path *cover(const struct ward_fs_path *ro, size_t n_ro,
					const struct ward_fs_path *rw, size_t n_rw,
					const char *file, bool *ret_write)
{
	size_t d_ro = 0, d_rw = 0;
	const struct ward_fs_path *a = deepest(ro, n_ro, file, &d_ro);
	const struct ward_fs_path *b = deepest(rw, n_rw, file, &d_rw);

	if (b && (!a || d_rw >= d_ro)) {
		*ret_write = true;
		return b;
	}
	*ret_write = false;
	return a;
}

static const char *access_str(enum ward_case_access a)
{
	return a == WARD_CASE_WRITE ? "write" : a == WARD_CASE_EXEC ? "exec" : "read";
}

bool ward_case_fs_decide(const struct ward_policy *p, const char *workdir, const char *binary,
			 const char *file, enum ward_case_access access, char *rule, size_t rulesz,
			 char *reason, size_t reasonsz)
{
	static const char *const dev_rw[] = { "/dev/null",   "/dev/zero",    "/dev/full",
					      "/dev/random", "/dev/urandom", "/dev/tty" };
	const struct ward_fs_path *best = NULL, *b;
	struct ward_fs_path wd = { .path = (char *)workdir };
	bool write = false, bwrite = false, mapped_tmp = false, protected = false;
	char at[32] = "";
	size_t d = 0, bd = 0;

	rule[0] = '\0';
	/* ward's own: /proc (private procfs), /dev (minimal), /tmp (private tmpfs) */
	if (under(file, "/proc")) {
		snprintf(rule, rulesz, "/proc");
		snprintf(reason, reasonsz, "the sandbox's own /proc%s",
			 access == WARD_CASE_READ ? "" : ": read only");
		return access == WARD_CASE_READ;
	}
	if (under(file, "/dev/shm") || under(file, "/dev/pts")) {
		snprintf(rule, rulesz, "%s", under(file, "/dev/shm") ? "/dev/shm" : "/dev/pts");
		snprintf(reason, reasonsz, "ward's minimal /dev%s",
			 access == WARD_CASE_EXEC ? ": no exec" : "");
		return access != WARD_CASE_EXEC;
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_rw); i++)
		if (!strcmp(file, dev_rw[i])) {
			snprintf(rule, rulesz, "%s", file);
			snprintf(reason, reasonsz, "ward's minimal /dev%s",
				 access == WARD_CASE_EXEC ? ": no exec" : "");
			return access != WARD_CASE_EXEC;
		}

	/* the ceiling: every path the mount plan binds */
	best = cover(p->read_only, p->n_read_only, p->read_write, p->n_read_write, file, &write);
	if (best)
		d = strlen(best->path);
	/* include_workdir: the working directory, read-write, nested like the rest */
	if (workdir && p->include_workdir && under(file, workdir) && (!best || strlen(workdir) >= d)) {
		best = &wd;
		d = strlen(workdir);
		write = true;
	}
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		const struct ward_fs_binary_rule *r = &p->fs_binaries[i];
		bool w;
		const struct ward_fs_path *x = cover(r->read_only, r->n_read_only, r->read_write,
						     r->n_read_write, file, &w);

		if (!x)
			continue;
		protected = true;
		if (!best || strlen(x->path) > d || (strlen(x->path) == d && w && !write)) {
			best = x;
			d = strlen(x->path);
			write = w;
		}
	}
	for (size_t i = 0; i < p->n_read_only; i++)
		mapped_tmp |= under(p->read_only[i].path, "/tmp");
	for (size_t i = 0; i < p->n_read_write; i++)
		mapped_tmp |= under(p->read_write[i].path, "/tmp");
	if (under(file, "/tmp") && (!best || !under(best->path, "/tmp")) && !mapped_tmp) {
		snprintf(rule, rulesz, "/tmp");
		snprintf(reason, reasonsz, "the sandbox's private /tmp");
		return true;
	}
	if (under(file, "/dev") && (!best || !under(best->path, "/dev"))) {
		snprintf(reason, reasonsz, "not in ward's minimal /dev nor in filesystem_policy");
		return false;
	}
	if (!best) {
		snprintf(reason, reasonsz, "not in filesystem_policy: it does not exist inside");
		return false;
	}
	snprintf(rule, rulesz, "%s", best->path);

	/* the protect layer: a path a binaries entry lists is the named binaries' */
	if (protected) {
		b = NULL;
		for (size_t i = 0; i < p->n_fs_binaries; i++) {
			const struct ward_fs_binary_rule *r = &p->fs_binaries[i];
			bool w;
			const struct ward_fs_path *x;

			if (!r->binary.path || !ward_match_binary(r->binary.path, binary))
				continue;
			x = cover(r->read_only, r->n_read_only, r->read_write, r->n_read_write,
				  file, &w);
			if (x && (!b || strlen(x->path) > bd || (strlen(x->path) == bd && w))) {
				b = x;
				bd = strlen(x->path);
				bwrite = w;
			}
		}
		if (!b) {
			snprintf(reason, reasonsz,
				 "protected by filesystem_policy.binaries: %s is not named there",
				 binary);
			return false;
		}
		snprintf(rule, rulesz, "%s", b->path);
		write = bwrite;
		best = b;
	}
	if (best == &wd)
		snprintf(at, sizeof(at), " (the workdir)");
	else if (best->pos.line) /* 0: from a preset */
		snprintf(at, sizeof(at), " (line %u)", best->pos.line);
	if (under(file, "/sys") && access != WARD_CASE_READ) {
		snprintf(reason, reasonsz, "/sys is only ever shown read-only, noexec");
		return false;
	}
	if (access == WARD_CASE_WRITE && !write) {
		snprintf(reason, reasonsz, "%s is mapped read-only%s", best->path, at);
		return false;
	}
	snprintf(reason, reasonsz, "%s is mapped %s%s: %s allowed", best->path,
		 write ? "read-write" : "read-only", at, access_str(access));
	return true;
}

static void run_file(const struct ward_policy *p, const struct ward_case *c,
		     struct ward_case_result *ret)
{
	bool ok = ward_case_fs_decide(p, c->workdir, c->binary, c->file, c->access, ret->rule,
				      sizeof(ret->rule), ret->reason, sizeof(ret->reason));

	ret->action = ok ? "allow" : "deny";
}

/* Does the decided rule match the one the case names? The network rule
 * column is KEY[/endpoint N]: the key alone matches too. */
static bool rule_matches(const char *want, const char *got)
{
	size_t n = strlen(want);

	if (!strcmp(want, got))
		return true;
	return !strncmp(want, got, n) && got[n] == '/' && strchr(want, '/') == NULL &&
	       got[0] != '/';
}

void ward_case_run(const struct ward_policy *p, const struct ward_case *c,
		   struct ward_case_result *ret)
{
	*ret = (struct ward_case_result){ .action = "deny" };
	switch (c->kind) {
	case WARD_CASE_NET:
		run_net(p, c, ret);
		break;
	case WARD_CASE_DNS:
		run_dns(p, c, ret);
		break;
	case WARD_CASE_FILE:
		run_file(p, c, ret);
		break;
	case WARD_CASE_MODEL:
		run_model(p, c, ret);
		break;
	}
	ret->pass =
		!strcmp(ret->action, c->expect) && (!c->rule || rule_matches(c->rule, ret->rule));
}
