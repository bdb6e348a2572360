// SPDX-License-Identifier: MIT
/* The access a policy change adds and removes (diff.h): each policy becomes a
 * sorted set of access items, one per thing it grants (a binary to a host and
 * port, one L7 rule there, a name to resolve, a path to read or write, a
 * credential, a setting); the diff is the two set differences. Identity
 * leaves out positions and the network policy key (the key only names rows in
 * the log), so moving, reordering, reformatting or renaming an entry is no
 * change. Section names are those of ward_policy_changed_sections
 * (runtime/sections.c), plus "dns": the names each binary may resolve. */
#include "policy/diff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/client.h"
#include "policy/match.h"

enum section {
	SEC_FS,
	SEC_FS_BINARIES,
	SEC_LANDLOCK,
	SEC_PROCESS,
	SEC_NET,
	SEC_DNS,
	SEC_CREDENTIALS,
	SEC_INFERENCE,
	SEC_ENVIRONMENT,
	SEC_RESOURCES,
	SEC_RESOURCES_TMP,
	SEC_LIMITS,
	_SEC_MAX,
};

static const char *const section_names[_SEC_MAX] = {
	[SEC_FS] = "filesystem_policy",
	[SEC_FS_BINARIES] = "filesystem_policy.binaries",
	[SEC_LANDLOCK] = "landlock",
	[SEC_PROCESS] = "process",
	[SEC_NET] = "network_policies",
	[SEC_DNS] = "dns",
	[SEC_CREDENTIALS] = "credentials",
	[SEC_INFERENCE] = "inference",
	[SEC_ENVIRONMENT] = "environment",
	[SEC_RESOURCES] = "resources",
	[SEC_RESOURCES_TMP] = "resources.tmp_size",
	[SEC_LIMITS] = "limits",
};

/* One field of an item: k NULL orders items but is not printed; v NULL is
 * absent; raw values (numbers, booleans, JSON arrays) are printed unquoted.
 * A value field ends the item's group: the old and the new value of one
 * setting print next to each other, the old first. An info field is printed
 * but is no part of the identity (the network policy key). */
struct field {
	const char *k;
	const char *v;
	bool raw;
	bool value;
	bool info;
};

/* every string of a compiled policy is set; this keeps printf's %s defined if not */
#define S(x) ((x) ? (x) : "")

#define F(key, val) ((struct field){ .k = (key), .v = (val) })
#define RAW(key, val) ((struct field){ .k = (key), .v = (val), .raw = true })
#define ORDER(val) ((struct field){ .v = (val) })
#define VALUE(key, val) ((struct field){ .k = (key), .v = (val), .value = true })
#define INFO(key, val) ((struct field){ .k = (key), .v = (val), .info = true })

struct list {
	struct ward_policy_diff_item *v;
	size_t n, cap;
	int r; /* sticky: the first failure; later items are dropped */
};

static void item_free(struct ward_policy_diff_item *it)
{
	free(it->id);
	free(it->text);
	free(it->json);
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		item_free(&l->v[i]);
	free(l->v);
	*l = (struct list){ 0 };
}

__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A value into the id: control bytes escaped, so that no value can hold the
 * separators and two different items can never share an id. */
static void id_put(FILE *f, const char *v)
{
	for (; *v; v++) {
		if ((unsigned char)*v < 0x20) {
			fputc('\x01', f);
			fputc(*v + '@', f);
		} else {
			fputc(*v, f);
		}
	}
}

/* Adds one item; takes text (NULL: out of memory). */
static void item(struct list *l, enum section s, const char *kind, const struct field *f, size_t n,
		 char *text)
{
	_cleanup_free_ char *t = text, *id = NULL, *json = NULL;
	_cleanup_fclose_ FILE *fi = NULL, *fj = NULL;
	size_t idlen = 0, jlen = 0;

	if (l->r < 0)
		return;
	if (!t) {
		l->r = -ENOMEM;
		return;
	}
	if (l->n >= WARD_POLICY_DIFF_MAX_ITEMS) {
		l->r = -E2BIG;
		return;
	}
	fi = open_memstream(&id, &idlen);
	fj = open_memstream(&json, &jlen);
	if (!fi || !fj) {
		l->r = -ENOMEM;
		return;
	}
	/* the id sorts by section, then field by field; integers by value */
	fprintf(fi, "%02d", (int)s);
	fprintf(fj, "{\"section\":\"%s\",\"kind\":\"%s\"", section_names[s], kind);
	for (size_t i = 0; i < n; i++) {
		const char *v = f[i].v ? f[i].v : "";

		if (!f[i].info) {
			fputc(f[i].value ? '\x1e' : '\x1f', fi);
			if (f[i].raw && all_digits(v))
				fprintf(fi, "%20s", v);
			else
				id_put(fi, v);
		}
		if (!f[i].k || !f[i].v)
			continue;
		fprintf(fj, ",\"%s\":", f[i].k);
		if (f[i].raw)
			fputs(f[i].v, fj);
		else
			ward_json_str(fj, f[i].v);
	}
	fprintf(fi, "\x1f%s", kind);
	fputs(",\"text\":", fj);
	ward_json_str(fj, t);
	fputc('}', fj);
	if (fflush(fi) || fflush(fj) || ferror(fi) || ferror(fj)) {
		l->r = -ENOMEM;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ward_policy_diff_item *v = reallocarray(l->v, cap, sizeof(*v));

		if (!v) {
			l->r = -ENOMEM;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	fclose(TAKE_PTR(fi));
	fclose(TAKE_PTR(fj));
	l->v[l->n++] = (struct ward_policy_diff_item){
		.section = section_names[s],
		.id = TAKE_PTR(id),
		.text = TAKE_PTR(t),
		.json = TAKE_PTR(json),
	};
}

#define ITEM(l, s, kind, text, ...)                                                                \
	item(l, s, kind, (const struct field[]){ __VA_ARGS__ },                                    \
	     sizeof((const struct field[]){ __VA_ARGS__ }) / sizeof(struct field), text)

/* A binary as the lines show it: "KEY (/usr/bin/git and its descendants)",
 * or without a key "/usr/bin/git". */
static char *who(const char *key, const struct ward_binary *b)
{
	const char *anc = b->ancestors ? " and its descendants" : "";

	const char *pre = b->sha256 ? "sha256:" : "", *id = b->sha256 ? b->sha256 : b->path;

	if (!key)
		return fmt("%s%s%s", pre, id, anc);
	return fmt("%s (%s%s%s)", key, pre, id, anc);
}

#define BIN_FIELDS(b)                                                                              \
	F("binary", (b)->sha256 ? NULL : (b)->path), F("sha256", (b)->sha256),                     \
		RAW("ancestors", (b)->ancestors ? "true" : "false")

/* Methods and path that an endpoint's `access:` shorthand stands for
 * (ward_access_allows): written as the rules it equals. */
static const char *const *access_methods(enum ward_access a)
{
	static const char *const ro[] = { "GET", "HEAD", "OPTIONS", NULL };
	static const char *const rw[] = { "GET", "HEAD",  "OPTIONS", "POST",
					  "PUT", "PATCH", "DELETE",  NULL };
	static const char *const full[] = { "*", NULL };

	switch (a) {
	case WARD_ACCESS_READ_ONLY:
		return ro;
	case WARD_ACCESS_READ_WRITE:
		return rw;
	case WARD_ACCESS_FULL:
		return full;
	case WARD_ACCESS_NONE:
		break;
	}
	return NULL;
}

/* "?k=glob&k2=glob2" for the text, [{"key":..,"glob":..}] for the JSON. */
static int query_strs(const struct ward_l7_rule *r, char **ret_text, char **ret_json)
{
	_cleanup_free_ char *t = NULL, *j = NULL;
	size_t tl = 0, jl = 0;
	FILE *ft, *fj;

	ft = open_memstream(&t, &tl);
	if (!ft)
		return -ENOMEM;
	fj = open_memstream(&j, &jl);
	if (!fj) {
		fclose(ft);
		return -ENOMEM;
	}
	fputc('[', fj);
	for (size_t q = 0; q < r->n_query; q++) {
		fprintf(ft, "%s%s=%s", q ? "&" : "?", r->query[q].key, r->query[q].glob);
		fputs(q ? ",{\"key\":" : "{\"key\":", fj);
		ward_json_str(fj, r->query[q].key);
		fputs(",\"glob\":", fj);
		ward_json_str(fj, r->query[q].glob);
		fputc('}', fj);
	}
	fputc(']', fj);
	if (fclose(ft) | fclose(fj) || !t || !j)
		return -ENOMEM;
	*ret_text = TAKE_PTR(t);
	*ret_json = TAKE_PTR(j);
	return 0;
}

static void rule_item(struct list *l, const char *w, const struct ward_binary *b, const char *host,
		      const char *port, const char *key, bool deny, const char *method,
		      const char *path, const struct ward_l7_rule *r)
{
	_cleanup_free_ char *qt = NULL, *qj = NULL;

	if (r && query_strs(r, &qt, &qj) < 0) {
		l->r = l->r < 0 ? l->r : -ENOMEM;
		return;
	}
	ITEM(l, SEC_NET, deny ? "deny_rule" : "rule",
	     fmt("%s -> %s:%s %s%s %s%s", w, host, port, deny ? "deny " : "", method, path,
		 qt ? qt : ""),
	     BIN_FIELDS(b), F("host", host), RAW("port", port), ORDER(deny ? "2" : "1"),
	     F("method", method), F("path", path), RAW("query", qj ? qj : "[]"),
	     INFO("policy", key));
}

static const char *proto_text(enum ward_protocol p)
{
	switch (p) {
	case WARD_PROTO_REST:
		return "rest";
	case WARD_PROTO_TCP:
		return "tcp";
	case WARD_PROTO_L4:
		break;
	}
	return "l4";
}

static void endpoint_items(struct list *l, const struct ward_net_policy *np,
			   const struct ward_binary *b, const char *w,
			   const struct ward_endpoint *ep)
{
	const char *proto = proto_text(ep->protocol);
	const char *enf = ep->enforcement == WARD_AUDIT ? "audit" : "enforce";

	for (size_t k = 0; k < ep->n_ports; k++) {
		const char *const *m = access_methods(ep->access);
		char port[8];

		snprintf(port, sizeof(port), "%u", ep->ports[k]);
		ITEM(l, SEC_NET, "endpoint",
		     fmt("%s -> %s:%s%s%s%s", w, ep->host, port,
			 ep->protocol == WARD_PROTO_L4 ? "" : " ",
			 ep->protocol == WARD_PROTO_L4 ? "" : proto,
			 ep->enforcement == WARD_AUDIT
				 ? " (audit only: denials are logged, not enforced)"
				 : ""),
		     BIN_FIELDS(b), F("host", ep->host), RAW("port", port), ORDER("0"),
		     VALUE("protocol", proto), F("enforcement", enf), INFO("policy", np->key));
		for (size_t i = 0; m && m[i]; i++)
			rule_item(l, w, b, ep->host, port, np->key, false, m[i], "/**", NULL);
		for (size_t i = 0; i < ep->n_rules; i++)
			rule_item(l, w, b, ep->host, port, np->key, false, ep->rules[i].method,
				  ep->rules[i].path, &ep->rules[i]);
		for (size_t i = 0; i < ep->n_deny_rules; i++)
			rule_item(l, w, b, ep->host, port, np->key, true, ep->deny_rules[i].method,
				  ep->deny_rules[i].path, &ep->deny_rules[i]);
		for (size_t i = 0; i < ep->n_allowed_ips; i++) {
			const struct ward_cidr *c = &ep->allowed_ips[i];
			char addr[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 8];

			if (!inet_ntop(c->family, c->addr, addr, sizeof(addr)))
				snprintf(addr, sizeof(addr), "?");
			snprintf(cidr, sizeof(cidr), "%s/%u", addr, c->prefix);
			ITEM(l, SEC_NET, "allowed_ip",
			     fmt("%s -> %s:%s may resolve to %s", w, ep->host, port, cidr),
			     BIN_FIELDS(b), F("host", ep->host), RAW("port", port), ORDER("3"),
			     F("allowed_ip", cidr), INFO("policy", np->key));
		}
	}
	/* the stub answers names only; an address needs no lookup (ward_decide_dns) */
	if (!ward_host_is_ip(ep->host))
		ITEM(l, SEC_DNS, "name", fmt("%s resolves %s", w, ep->host), BIN_FIELDS(b),
		     F("name", ep->host), INFO("policy", np->key));
}

static void network(struct list *l, const struct ward_policy *p)
{
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];

		for (size_t j = 0; j < np->n_binaries; j++) {
			const struct ward_binary *b = &np->binaries[j];
			_cleanup_free_ char *w = who(np->key, b);

			if (!w) {
				l->r = -ENOMEM;
				return;
			}
			for (size_t e = 0; e < np->n_endpoints; e++)
				endpoint_items(l, np, b, w, &np->endpoints[e]);
			for (size_t u = 0; u < np->n_unix_sockets; u++)
				ITEM(l, SEC_NET, "unix",
				     fmt("%s -> unix:%s", w, np->unix_sockets[u].path),
				     BIN_FIELDS(b), ORDER("unix"),
				     F("unix", np->unix_sockets[u].path), INFO("policy", np->key));
		}
	}
}

static void fs_paths(struct list *l, enum section s, const struct ward_binary *b, const char *w,
		     const struct ward_fs_path *v, size_t n, bool write)
{
	const char *acc = write ? "read-write" : "read-only";

	for (size_t i = 0; i < n; i++) {
		if (b)
			ITEM(l, s, "path",
			     fmt("%s: %s %s (%s)", w, v[i].path, acc, write ? "rwx" : "r-x"),
			     BIN_FIELDS(b), F("path", v[i].path), F("access", acc));
		else
			ITEM(l, s, "path", fmt("%s %s (%s)", v[i].path, acc, write ? "rwx" : "r-x"),
			     F("path", v[i].path), F("access", acc));
	}
}

static void filesystem(struct list *l, const struct ward_policy *p)
{
	if (p->include_workdir)
		ITEM(l, SEC_FS, "workdir", fmt("the working directory read-write (rwx)"), ORDER(""),
		     F("access", "read-write"));
	fs_paths(l, SEC_FS, NULL, NULL, p->read_only, p->n_read_only, false);
	fs_paths(l, SEC_FS, NULL, NULL, p->read_write, p->n_read_write, true);
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		const struct ward_fs_binary_rule *r = &p->fs_binaries[i];
		_cleanup_free_ char *w = who(NULL, &r->binary);

		if (!w) {
			l->r = -ENOMEM;
			return;
		}
		fs_paths(l, SEC_FS_BINARIES, &r->binary, w, r->read_only, r->n_read_only, false);
		fs_paths(l, SEC_FS_BINARIES, &r->binary, w, r->read_write, r->n_read_write, true);
	}
}

/* A setting: one item per name, always present, so a change is a -/+ pair. */
static void setting(struct list *l, enum section s, const char *name, const char *value, bool raw,
		    const char *shown)
{
	ITEM(l, s, "setting", fmt("%s %s", name, shown ? shown : value), F("name", name),
	     ((struct field){ .k = "value", .v = value, .raw = raw, .value = true }));
}

static void run_as(struct list *l, const char *name, bool has, const char *str, unsigned id)
{
	char num[16];

	if (!has) {
		setting(l, SEC_PROCESS, name, "null", true, "(default: ward's sandbox account)");
		return;
	}
	if (str) {
		setting(l, SEC_PROCESS, name, str, false, NULL);
		return;
	}
	snprintf(num, sizeof(num), "%u", id);
	setting(l, SEC_PROCESS, name, num, true, NULL);
}

static void credentials(struct list *l, const struct ward_policy *p)
{
	for (size_t i = 0; i < p->n_credentials; i++) {
		const struct ward_credential *c = &p->credentials[i];
		const char *scheme = c->allow_http ? "http" : "https";
		char port[8];

		snprintf(port, sizeof(port), "%u", c->port);
		ITEM(l, SEC_CREDENTIALS, "credential",
		     fmt("credential %s: %s%s as '%s: %s' -> %s:%s %s (%s)", S(c->name),
			 c->secret ? "secret " : "$", c->secret ? c->secret : S(c->env),
			 S(c->header), S(c->format), S(c->host), port, S(c->path),
			 c->allow_http ? "also plain HTTP" : "TLS only"),
		     F("host", c->host), RAW("port", port), F("path", c->path), F("name", c->name),
		     F("env", c->env), F("secret", c->secret), F("header", c->header),
		     F("format", c->format), F("scheme", scheme));
	}
}

static char *strv_json(char **v, size_t n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		ward_json_str(f, v[i]);
	}
	fputc(']', f);
	if (fclose(f)) {
		free(s);
		return NULL;
	}
	return s;
}

static void route(struct list *l, const struct ward_inference_route *r)
{
	_cleanup_free_ char *aliases = strv_json(r->aliases, r->n_aliases);
	_cleanup_free_ char *hosts = strv_json(r->hosts, r->n_hosts);
	_cleanup_free_ char *price = NULL;
	_cleanup_free_ char *shown = NULL;

	if (r->price_known) {
		price = fmt("{\"input\":%.6g,\"output\":%.6g,\"cached_input\":%.6g}",
			    r->price_input, r->price_output, r->price_cached);
		shown = fmt("USD %.6g in, %.6g out, %.6g cached per million tokens", r->price_input,
			    r->price_output, r->price_cached);
	}
	if (!aliases || !hosts || (r->price_known && (!price || !shown))) {
		l->r = l->r < 0 ? l->r : -ENOMEM;
		return;
	}
	ITEM(l, SEC_INFERENCE, "route",
	     fmt("route %s: %s %s at %s, key %s%s, aliases %s, hosts %s, price %s", S(r->name),
		 S(r->provider), S(r->model), r->base_url ? r->base_url : "the provider's default",
		 r->api_key_secret ? "secret "
		 : r->api_key_env  ? "$"
				   : "",
		 r->api_key_secret ? r->api_key_secret
		 : r->api_key_env  ? r->api_key_env
				   : "none",
		 aliases, hosts, shown ? shown : "unknown"),
	     ORDER("0"), F("name", r->name), VALUE("provider", r->provider), F("model", r->model),
	     F("base_url", r->base_url), F("api_key_env", r->api_key_env),
	     F("api_key_secret", r->api_key_secret), RAW("aliases", aliases), RAW("hosts", hosts),
	     RAW("price", price ? price : "null"));
}

static void inference(struct list *l, const struct ward_policy *p)
{
	char num[32];

	for (size_t i = 0; i < p->n_routes; i++)
		route(l, &p->routes[i]);
	if (p->n_routes && !p->inference_binaries) {
		ITEM(l, SEC_INFERENCE, "binary", fmt("every binary may use " WARD_INFERENCE_NAME),
		     ORDER("1"), RAW("all_binaries", "true"));
		ITEM(l, SEC_DNS, "name", fmt("every binary resolves " WARD_INFERENCE_NAME),
		     RAW("all_binaries", "true"), F("name", WARD_INFERENCE_NAME));
	}
	for (size_t i = 0; p->n_routes && i < p->n_inference_binaries; i++) {
		const struct ward_binary *b = &p->inference_binaries[i];
		_cleanup_free_ char *w = who(NULL, b);

		if (!w) {
			l->r = -ENOMEM;
			return;
		}
		ITEM(l, SEC_INFERENCE, "binary", fmt("%s may use " WARD_INFERENCE_NAME, w),
		     ORDER("1"), BIN_FIELDS(b));
		ITEM(l, SEC_DNS, "name", fmt("%s resolves " WARD_INFERENCE_NAME, w), BIN_FIELDS(b),
		     F("name", WARD_INFERENCE_NAME));
	}
	snprintf(num, sizeof(num), "%" PRIu64, p->inference_max_tokens);
	setting(l, SEC_INFERENCE, "max_tokens", num, true,
		p->inference_max_tokens ? NULL : "(no budget)");
	snprintf(num, sizeof(num), "%.6g", p->inference_max_usd);
	setting(l, SEC_INFERENCE, "max_usd", num, true,
		p->inference_max_usd > 0 ? NULL : "(no budget)");
	{
		_cleanup_free_ char *warn = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&warn, &len);

		if (!f) {
			l->r = -ENOMEM;
			return;
		}
		fputc('[', f);
		for (size_t i = 0; i < p->n_inference_warn_at; i++)
			fprintf(f, i ? ",%.6g" : "%.6g", p->inference_warn_at[i]);
		fputc(']', f);
		if (fclose(f) || !warn) {
			l->r = -ENOMEM;
			return;
		}
		setting(l, SEC_INFERENCE, "warn_at", warn, true, NULL);
	}
	setting(l, SEC_INFERENCE, "strict_models", p->inference_strict_models ? "true" : "false",
		true, NULL);
}

static void environment(struct list *l, const struct ward_policy *p)
{
	for (size_t i = 0; i < p->n_env_pass; i++)
		ITEM(l, SEC_ENVIRONMENT, "pass",
		     fmt("pass %s%s", p->env_pass[i].pattern, p->env_pass[i].glob ? " (glob)" : ""),
		     ORDER("0"), F("pattern", p->env_pass[i].pattern),
		     RAW("glob", p->env_pass[i].glob ? "true" : "false"));
	for (size_t i = 0; i < p->n_env_set; i++)
		ITEM(l, SEC_ENVIRONMENT, "set",
		     fmt("set %s=%s", p->env_set[i].name, p->env_set[i].value), ORDER("1"),
		     F("name", p->env_set[i].name), F("value", p->env_set[i].value));
}

/* 0 is "not set" (the default applies); sizes in the largest exact unit. */
static void size_setting(struct list *l, enum section s, const char *name, uint64_t v)
{
	static const char units[] = "KMGT";
	char num[24], shown[32];
	uint64_t x = v;
	int u = -1;

	snprintf(num, sizeof(num), "%" PRIu64, v);
	while (x && !(x % 1024) && u < 3) {
		x /= 1024;
		u++;
	}
	if (!v)
		snprintf(shown, sizeof(shown), "(default)");
	else if (u >= 0)
		snprintf(shown, sizeof(shown), "%" PRIu64 "%c", x, units[u]);
	else
		snprintf(shown, sizeof(shown), "%" PRIu64 " bytes", v);
	setting(l, s, name, num, true, shown);
}

static void count_setting(struct list *l, enum section s, const char *name, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	setting(l, s, name, num, true, v ? NULL : "(default)");
}

static void ms_setting(struct list *l, const char *name, uint32_t ms)
{
	static const struct {
		uint32_t ms;
		const char *unit;
	} units[] = { { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" } };
	char num[16], shown[32] = "(default)";

	snprintf(num, sizeof(num), "%" PRIu32, ms);
	for (size_t i = 0; ms && i < ARRAY_SIZE(units); i++)
		if (!(ms % units[i].ms)) {
			snprintf(shown, sizeof(shown), "%" PRIu32 "%s", ms / units[i].ms,
				 units[i].unit);
			break;
		}
	setting(l, SEC_LIMITS, name, num, true, shown);
}

static void settings(struct list *l, const struct ward_policy *p)
{
	char cpu[24];

	setting(l, SEC_LANDLOCK, "compatibility",
		p->landlock_compat == WARD_LANDLOCK_HARD_REQUIREMENT ? "hard_requirement"
								     : "best_effort",
		false, NULL);
	setting(l, SEC_LANDLOCK, "restrict_tcp", p->landlock_restrict_tcp ? "true" : "false", true,
		NULL);
	run_as(l, "run_as_user", p->has_user, p->run_as_user, (unsigned)p->uid);
	run_as(l, "run_as_group", p->has_group, p->run_as_group, (unsigned)p->gid);
	size_setting(l, SEC_RESOURCES, "memory", p->resources.memory);
	count_setting(l, SEC_RESOURCES, "pids", p->resources.pids);
	snprintf(cpu, sizeof(cpu), "%" PRIu32, p->resources.cpu_milli);
	{
		char shown[32] = "(no limit)";

		if (p->resources.cpu_milli)
			snprintf(shown, sizeof(shown), "%u.%03u cores",
				 p->resources.cpu_milli / 1000, p->resources.cpu_milli % 1000);
		setting(l, SEC_RESOURCES, "cpu_milli", cpu, true, shown);
	}
	size_setting(l, SEC_RESOURCES_TMP, "tmp_size", p->resources.tmp_size);
	count_setting(l, SEC_LIMITS, "max_connections", p->limits.max_connections);
	ms_setting(l, "idle_tunnel_ms", p->limits.idle_tunnel_ms);
	ms_setting(l, "idle_http_ms", p->limits.idle_http_ms);
	ms_setting(l, "connect_timeout_ms", p->limits.connect_timeout_ms);
	ms_setting(l, "request_timeout_ms", p->limits.request_timeout_ms);
	size_setting(l, SEC_LIMITS, "max_body", p->limits.max_body);
}

static int item_cmp(const void *a, const void *b)
{
	const struct ward_policy_diff_item *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	/* the same access under two keys: the first key's line, deterministically */
	return c ? c : strcmp(x->text, y->text);
}

/* The access items of p, sorted, one per id. */
static int flatten(const struct ward_policy *p, struct list *l)
{
	size_t n = 0;

	if (p) {
		filesystem(l, p);
		settings(l, p);
		network(l, p);
		credentials(l, p);
		inference(l, p);
		environment(l, p);
	}
	if (l->r < 0)
		return l->r;
	if (!l->n)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), item_cmp);
	for (size_t i = 1; i < l->n; i++) {
		if (!strcmp(l->v[i].id, l->v[n].id))
			item_free(&l->v[i]);
		else
			l->v[++n] = l->v[i];
	}
	l->n = n + 1;
	return 0;
}

static int push(struct ward_policy_diff_item **v, size_t *n, struct ward_policy_diff_item *it)
{
	struct ward_policy_diff_item *nv = reallocarray(*v, *n + 1, sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	(*v)[(*n)++] = *it;
	*it = (struct ward_policy_diff_item){ 0 };
	return 0;
}

int ward_policy_diff(const struct ward_policy *old, const struct ward_policy *new,
		     struct ward_policy_diff *ret, struct ward_error *err)
{
	struct list a = { 0 }, b = { 0 };
	struct ward_policy_diff d = { 0 };
	size_t i = 0, j = 0;
	int r;

	r = flatten(old, &a);
	if (r >= 0)
		r = flatten(new, &b);
	while (r >= 0 && (i < a.n || j < b.n)) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i].id, b.v[j].id);

		if (!c) {
			i++;
			j++;
		} else if (c < 0) {
			r = push(&d.removed, &d.n_removed, &a.v[i++]);
		} else {
			r = push(&d.added, &d.n_added, &b.v[j++]);
		}
	}
	list_free(&a);
	list_free(&b);
	if (r == -E2BIG) {
		ward_policy_diff_free(&d);
		return ward_errx(err, r, "policy diff: more than %d access items in one policy",
				 WARD_POLICY_DIFF_MAX_ITEMS);
	}
	if (r < 0) {
		ward_policy_diff_free(&d);
		return ward_err(err, r, "policy diff");
	}
	*ret = d;
	return 0;
}

void ward_policy_diff_free(struct ward_policy_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_added; i++)
		item_free(&d->added[i]);
	for (size_t i = 0; i < d->n_removed; i++)
		item_free(&d->removed[i]);
	free(d->added);
	free(d->removed);
	*d = (struct ward_policy_diff){ 0 };
}

/* Print order: by id up to the end of the group (a '\x1e'), which is the
 * order of the sorted ids too. */
static int group_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a || *a == '\x1e')
			return 0;
	}
}

static void print_items(FILE *f, const struct ward_policy_diff_item *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		fputs(v[i].json, f);
	}
	fputc(']', f);
}

void ward_policy_diff_print(FILE *f, const struct ward_policy_diff *d, bool json)
{
	const char *last = NULL;
	size_t i = 0, j = 0;
	bool first = true;

	if (json) {
		fputs("{\"added\":", f);
		print_items(f, d->added, d->n_added);
		fputs(",\"removed\":", f);
		print_items(f, d->removed, d->n_removed);
		fputs(",\"sections\":[", f);
	}
	/* both lists are sorted by id, which starts with the section: merge them */
	while (i < d->n_removed || j < d->n_added) {
		bool rm = j == d->n_added ||
			  (i < d->n_removed && group_cmp(d->removed[i].id, d->added[j].id) <= 0);
		const struct ward_policy_diff_item *it = rm ? &d->removed[i++] : &d->added[j++];

		if (!last || strcmp(last, it->section)) {
			last = it->section;
			if (json)
				fprintf(f, "%s\"%s\"", first ? "" : ",", last);
			else
				fprintf(f, "# %s\n", last);
			first = false;
		}
		if (!json)
			fprintf(f, "%c %s\n", rm ? '-' : '+', it->text);
	}
	if (json)
		fputs("]}\n", f);
}
