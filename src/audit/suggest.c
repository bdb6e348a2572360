// SPDX-License-Identifier: MIT
/* Policy suggestions from the decision log: one network policy per binary
 * file name, with the endpoints its rows show (host and port from proxy and
 * l7 rows, L7 rules from the requests, names from DNS queries, addresses from
 * kernel rows the proxy never saw), and the filesystem section of the policy
 * the sandbox ran with. Paths are generalised only where a segment is
 * plainly an identifier (numbers, UUIDs, long hex). */
#include "audit/suggest.h"
#include "audit/suggest_fs.h"
#include "audit/audit.h"
#include "audit/db.h"
#include "policy/match.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure helpers ---- */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static bool is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool long_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return n >= 16;
}

int ward_suggest_path(const char *path, char *out, size_t outsz)
{
	size_t off = 0;
	const char *p = path;

	if (!outsz)
		return -ENOBUFS;
	while (*p) {
		size_t n;
		const char *seg;

		if (*p == '/') {
			if (off + 1 >= outsz)
				return -ENOBUFS;
			out[off++] = *p++;
			continue;
		}
		seg = p;
		n = strcspn(p, "/");
		p += n;
		/* a literal '*' in a segment would become a wildcard anyway */
		if (all_digits(seg, n) || is_uuid(seg, n) || long_hex(seg, n) ||
		    memchr(seg, '*', n)) {
			seg = "*";
			n = 1;
		}
		if (off + n >= outsz)
			return -ENOBUFS;
		memcpy(out + off, seg, n);
		off += n;
	}
	out[off] = '\0';
	return (int)off;
}

void ward_suggest_key(const char *binary, char *out, size_t outsz)
{
	const char *name = strrchr(binary, '/');
	size_t n = 0;

	name = name ? name + 1 : binary;
	for (; *name && n + 1 < outsz && n < 64; name++) {
		unsigned char c = (unsigned char)*name;

		out[n++] = isalnum(c) || c == '_' || c == '.' || c == '-' ? (char)c : '_';
	}
	out[n] = '\0';
	if (n == 0 || !isalnum((unsigned char)out[0])) {
		/* keys start with a letter or digit */
		char tmp[80];

		snprintf(tmp, sizeof(tmp), "bin%s", out);
		snprintf(out, outsz, "%.64s", tmp);
	}
}

/* ---- collection ---- */

struct rule {
	char *method, *path;
};

struct endpoint {
	char *host;
	uint16_t port;
	bool rest;
	struct rule *rules;
	size_t n_rules;
};

struct npol {
	char key[80];
	char **binaries;
	size_t n_binaries;
	struct endpoint *eps;
	size_t n_eps;
	char **dns_hosts; /* names only seen in DNS queries so far */
	size_t n_dns_hosts;
};

struct kcand {
	char *binary, *ip;
	uint16_t port;
};

struct addr {
	char *ip;
	uint16_t port; /* 0: any port of that address */
};

struct collect {
	const struct ward_suggest_opts *o;
	struct ward_suggest_stats *st;
	struct npol *pols;
	size_t n_pols;
	struct kcand *kc;
	size_t n_kc;
	struct addr *ward_addrs; /* the proxy's and the DNS stub's, from kernel rows */
	size_t n_ward_addrs;
	char last_rev[65];
	int error;
};

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

#define GROW(arr, n)                                                                               \
	({                                                                                         \
		__typeof__(arr) _g = realloc((arr), ((n) + 1) * sizeof(*(arr)));                   \
		if (_g)                                                                            \
			(arr) = _g;                                                                \
		_g ? &(arr)[(n)++] : NULL;                                                         \
	})

static int add_str(char ***v, size_t *n, const char *s)
{
	char **slot;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return 0;
	slot = GROW(*v, *n);
	if (!slot || !(*slot = strdup(s)))
		return -ENOMEM;
	return 0;
}

static struct npol *policy_for(struct collect *c, const char *binary)
{
	char key[80];
	struct npol *p;

	ward_suggest_key(binary, key, sizeof(key));
	p = NULL;
	for (size_t i = 0; i < c->n_pols && !p; i++)
		if (!strcmp(c->pols[i].key, key))
			p = &c->pols[i];
	if (!p) {
		p = GROW(c->pols, c->n_pols);
		if (!p)
			return NULL;
		*p = (struct npol){ 0 };
		memcpy(p->key, key, sizeof(key));
	}
	if (add_str(&p->binaries, &p->n_binaries, binary) < 0)
		return NULL;
	return p;
}

static struct endpoint *endpoint_for(struct npol *p, const char *host, uint16_t port)
{
	struct endpoint *e;

	for (size_t i = 0; i < p->n_eps; i++)
		if (p->eps[i].port == port && !strcmp(p->eps[i].host, host))
			return &p->eps[i];
	e = GROW(p->eps, p->n_eps);
	if (!e)
		return NULL;
	*e = (struct endpoint){ .host = strdup(host), .port = port };
	return e->host ? e : NULL;
}

static int add_rule(struct endpoint *e, const char *method, const char *path)
{
	char gen[4096];
	struct rule *r;

	if (ward_suggest_path(path, gen, sizeof(gen)) < 0)
		return 0; /* absurdly long: left out, the request stays denied */
	e->rest = true;
	for (size_t i = 0; i < e->n_rules; i++)
		if (!strcmp(e->rules[i].method, method) && !strcmp(e->rules[i].path, gen))
			return 0;
	r = GROW(e->rules, e->n_rules);
	if (!r)
		return -ENOMEM;
	r->method = strdup(method);
	r->path = strdup(gen);
	return r->method && r->path ? 0 : -ENOMEM;
}

static bool valid_method(const char *m)
{
	if (!m || !*m)
		return false;
	for (; *m; m++)
		if (!isupper((unsigned char)*m))
			return false;
	return true;
}

/* Host names as the policy schema takes them: the proxy's normalised form. */
static bool usable_host(const char *h, char *out, size_t outsz)
{
	return h && ward_host_normalize(h, strlen(h), out, outsz) > 0;
}

static int on_kernel(struct collect *c, const struct ward_audit_row *r)
{
	struct kcand *k;
	struct addr *a;

	if (!r->ip || !r->has_port || r->port <= 0 || r->port > 65535)
		return 0;
	if (is(r->reason, "to the proxy") || is(r->reason, "to the proxy for inference.local") ||
	    is(r->reason, "dns to the stub") ||
	    is(r->reason, "proxy port other than the explicit proxy port")) {
		a = GROW(c->ward_addrs, c->n_ward_addrs);
		if (!a || !(a->ip = strdup(r->ip)))
			return -ENOMEM;
		/* every port of the proxy's address is ward's */
		a->port = is(r->reason, "dns to the stub") ? (uint16_t)r->port : 0;
		return 0;
	}
	if (!is(r->protocol, "tcp") || !r->binary || r->binary[0] != '/')
		return 0;
	if (!is(r->reason, "redirect to proxy") && !is(r->reason, "binary has no network policy") &&
	    !is(r->reason, "port in none of the binary's endpoints"))
		return 0;
	k = GROW(c->kc, c->n_kc);
	if (!k)
		return -ENOMEM;
	*k = (struct kcand){ .binary = strdup(r->binary),
			     .ip = strdup(r->ip),
			     .port = (uint16_t)r->port };
	return k->binary && k->ip ? 1 : -ENOMEM;
}

static int collect_row(struct collect *c, const struct ward_audit_row *r);

static int on_row(const struct ward_audit_row *r, void *userdata)
{
	struct collect *c = userdata;
	int ret = collect_row(c, r);

	if (ret < 0)
		c->error = ret;
	return ret;
}

static int collect_row(struct collect *c, const struct ward_audit_row *r)
{
	char host[WARD_HOST_MAX];
	struct npol *p;
	struct endpoint *e;
	int used = 0;

	c->st->rows++;
	if (!c->st->first_id)
		c->st->first_id = r->id;
	c->st->last_id = r->id;
	if (r->policy_rev && strlen(r->policy_rev) == 64)
		memcpy(c->last_rev, r->policy_rev, 65);
	if (c->o->denied_only && !is(r->action, "deny") && !is(r->action, "audit") &&
	    !is(r->layer, "kernel"))
		return 0;

	if (is(r->layer, "kernel")) {
		if (c->o->denied_only && is(r->action, "allow") && !is(r->reason, "to the proxy") &&
		    !is(r->reason, "dns to the stub") &&
		    !is(r->reason, "to the proxy for inference.local"))
			return 0;
		used = on_kernel(c, r);
	} else if ((is(r->layer, "proxy") || is(r->layer, "l7")) && r->binary &&
		   r->binary[0] == '/' && usable_host(r->host, host, sizeof(host)) && r->has_port &&
		   r->port > 0 && r->port <= 65535) {
		if (is(r->layer, "l7") &&
		    (!valid_method(r->method) || !r->path || r->path[0] != '/'))
			return 0; /* an upstream failure or a malformed request, not a request */
		p = policy_for(c, r->binary);
		e = p ? endpoint_for(p, host, (uint16_t)r->port) : NULL;
		if (!e)
			return -ENOMEM;
		if (is(r->layer, "l7") && add_rule(e, r->method, r->path) < 0)
			return -ENOMEM;
		used = 1;
	} else if (is(r->layer, "dns") && r->binary && r->binary[0] == '/' &&
		   usable_host(r->host, host, sizeof(host)) && !ward_host_is_ip(host) &&
		   strcmp(host, "inference.local")) {
		p = policy_for(c, r->binary);
		if (!p || add_str(&p->dns_hosts, &p->n_dns_hosts, host) < 0)
			return -ENOMEM;
		used = 1;
	}
	if (used < 0)
		return used;
	if (used) {
		c->st->used++;
		if (is(r->action, "deny"))
			c->st->denied++;
		else if (is(r->action, "audit"))
			c->st->audited++;
		else
			c->st->allowed++;
	}
	return 0;
}

static bool is_ward_addr(const struct collect *c, const struct kcand *k)
{
	if (!strcmp(k->ip, "127.0.0.53"))
		return true;
	for (size_t i = 0; i < c->n_ward_addrs; i++)
		if (!strcmp(c->ward_addrs[i].ip, k->ip) &&
		    (!c->ward_addrs[i].port || c->ward_addrs[i].port == k->port))
			return true;
	return false;
}

static bool has_port(const struct npol *p, uint16_t port)
{
	for (size_t i = 0; i < p->n_eps; i++)
		if (p->eps[i].port == port)
			return true;
	return false;
}

static bool has_host(const struct npol *p, const char *host)
{
	for (size_t i = 0; i < p->n_eps; i++)
		if (!strcmp(p->eps[i].host, host))
			return true;
	return false;
}

/* After the walk: kernel-only destinations and DNS-only names become endpoints
 * where nothing else already covers them. */
static int finish(struct collect *c)
{
	uint16_t dns_port = c->o->dns_port ? c->o->dns_port : 443;

	for (size_t i = 0; i < c->n_kc; i++) {
		struct kcand *k = &c->kc[i];
		char host[WARD_HOST_MAX];
		struct npol *p;

		if (is_ward_addr(c, k) || !usable_host(k->ip, host, sizeof(host)))
			continue;
		p = policy_for(c, k->binary);
		if (!p)
			return -ENOMEM;
		/* the kernel checks only the port; the proxy then sees the address */
		if (!has_port(p, k->port) && !endpoint_for(p, host, k->port))
			return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];

		for (size_t j = 0; j < p->n_dns_hosts; j++)
			if (!has_host(p, p->dns_hosts[j]) &&
			    !endpoint_for(p, p->dns_hosts[j], dns_port))
				return -ENOMEM;
	}
	return 0;
}

/* ---- output ---- */

static void yq(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int cmp_pol(const void *a, const void *b)
{
	return strcmp(((const struct npol *)a)->key, ((const struct npol *)b)->key);
}

static int cmp_ep(const void *a, const void *b)
{
	const struct endpoint *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	return c ? c : (int)x->port - (int)y->port;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : strcmp(x->method, y->method);
}

static void print_policy(FILE *f, struct collect *c, const char *path, const struct ward_policy *fs)
{
	struct ward_suggest_stats *st = c->st;
	struct ward_error fs_err = { 0 };

	fprintf(f, "# Generated by 'ward policy suggest' from the decision log %s\n", path);
	fprintf(f,
		"# rows %" PRId64 "..%" PRId64 " (%" PRIu64 " read, %" PRIu64 " used: %" PRIu64
		" denied, %" PRIu64 " audited, %" PRIu64 " allowed)",
		st->first_id, st->last_id, st->rows, st->used, st->denied, st->audited,
		st->allowed);
	if (c->o->sandbox)
		fprintf(f, ", sandbox %s", c->o->sandbox);
	if (c->o->since_ns)
		fprintf(f, ", since %" PRIu64 " ns", c->o->since_ns);
	fputs("\n", f);
	if (fs)
		fprintf(f,
			"# filesystem_policy, landlock and process: from policy rev %.12s in the "
			"log\n",
			st->policy_rev);
	else
		fputs("# no policy stored in the log: filesystem_policy left to you\n", f);
	fputs("# Review it: every endpoint below was observed, none was judged.\n", f);
	fputs("version: 1\n", f);
	/* the policy's filesystem section widened by the fs rows (suggest_fs.c) */
	if (ward_suggest_fs_print(f, path, c->o, fs, &fs_err) < 0)
		c->error = fs_err.code;
	if (!c->n_pols) {
		fputs("network_policies: {}\n", f);
		return;
	}
	qsort(c->pols, c->n_pols, sizeof(*c->pols), cmp_pol);
	fputs("network_policies:\n", f);
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];

		qsort(p->eps, p->n_eps, sizeof(*p->eps), cmp_ep);
		fprintf(f, "  %s:\n    binaries:\n", p->key);
		for (size_t j = 0; j < p->n_binaries; j++) {
			fputs("      - { path: ", f);
			yq(f, p->binaries[j]);
			fputs(" }\n", f);
		}
		fputs("    endpoints:\n", f);
		st->policies++;
		for (size_t j = 0; j < p->n_eps; j++) {
			struct endpoint *e = &p->eps[j];

			st->endpoints++;
			fputs("      - host: ", f);
			yq(f, e->host);
			fprintf(f, "\n        port: %u\n", e->port);
			if (!e->rest)
				continue;
			qsort(e->rules, e->n_rules, sizeof(*e->rules), cmp_rule);
			fputs("        protocol: rest\n        rules:\n", f);
			for (size_t k = 0; k < e->n_rules; k++) {
				st->rules++;
				fputs("          - allow: { method: ", f);
				yq(f, e->rules[k].method);
				fputs(", path: ", f);
				yq(f, e->rules[k].path);
				fputs(" }\n", f);
			}
		}
	}
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];

		for (size_t j = 0; j < p->n_binaries; j++)
			free(p->binaries[j]);
		free(p->binaries);
		for (size_t j = 0; j < p->n_dns_hosts; j++)
			free(p->dns_hosts[j]);
		free(p->dns_hosts);
		for (size_t j = 0; j < p->n_eps; j++) {
			for (size_t k = 0; k < p->eps[j].n_rules; k++) {
				free(p->eps[j].rules[k].method);
				free(p->eps[j].rules[k].path);
			}
			free(p->eps[j].rules);
			free(p->eps[j].host);
		}
		free(p->eps);
	}
	free(c->pols);
	for (size_t i = 0; i < c->n_kc; i++) {
		free(c->kc[i].binary);
		free(c->kc[i].ip);
	}
	free(c->kc);
	for (size_t i = 0; i < c->n_ward_addrs; i++)
		free(c->ward_addrs[i].ip);
	free(c->ward_addrs);
}

/* The policy the rows ran with, compiled again from its stored source. */
static struct ward_policy *load_logged(const char *path, const char *rev)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct ward_diags diags = { 0 };
	struct ward_policy *p = NULL;

	if (!rev[0] || audit_db_open_ro(path, &db, NULL) < 0)
		return NULL;
	if (sqlite3_prepare_v2(db, "SELECT source FROM policies WHERE rev = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, rev, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
	    ward_policy_load_buffer("logged policy", (const char *)sqlite3_column_text(st, 0),
				    (size_t)sqlite3_column_bytes(st, 0), &p, &diags, NULL) < 0)
		p = NULL;
	ward_diags_free(&diags);
	return p;
}

int ward_suggest(const char *path, const struct ward_suggest_opts *o, FILE *out,
		 struct ward_suggest_stats *ret_stats, struct ward_error *err)
{
	static const struct ward_suggest_opts defaults;
	struct ward_suggest_stats st = { 0 };
	struct collect c = { .o = o ? o : &defaults, .st = &st };
	struct ward_audit_filter f = { 0 };
	struct ward_audit_reader *rd = NULL;
	struct ward_policy *fs = NULL;
	int r;

	if (!path)
		path = ward_audit_default_path();
	r = ward_audit_reader_open(path, &rd, err);
	if (r < 0)
		return r;
	f.sandbox = c.o->sandbox;
	f.since_ns = c.o->since_ns;
	r = ward_audit_reader_each(rd, &f, on_row, &c, err);
	ward_audit_reader_close(rd);
	if (c.error)
		r = ward_err(err, c.error, "suggest");
	if (r >= 0)
		r = finish(&c) < 0 ? ward_err(err, -ENOMEM, "suggest") : 0;
	if (r >= 0) {
		fs = load_logged(path, c.last_rev);
		if (fs)
			memcpy(st.policy_rev, c.last_rev, 65);
		print_policy(out, &c, path, fs);
		ward_policy_free(fs);
		if (c.error)
			r = ward_err(err, c.error, "suggest: filesystem");
		if (fflush(out) != 0 || ferror(out))
			r = ward_err(err, -EIO, "write policy");
	}
	collect_free(&c);
	if (ret_stats)
		*ret_stats = st;
	return r;
}
