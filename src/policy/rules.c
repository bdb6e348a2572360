// SPDX-License-Identifier: MIT
/* Rule packs (rules.h, docs/rules.md): each pack's chunk runs in a fresh
 * sandboxed Lua state (lua_vm.c: the compiler's libraries and caps, without
 * require), once per policy, with a global `ward` that exposes the lowered
 * policy as plain tables carrying file, line and col. */
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/env.h"
#include "policy/internal.h"
#include "policy/rules.h"

#define PACK_MAX_SOURCE (1u << 20)
/* bytes a pack may allocate per instruction of its cap (50 million: 800 MB) */
#define PACK_ALLOC_PER_INSTRUCTION 16
/* what one pack may report on one policy (more fails the pack), and how long a message is */
#define PACK_MAX_REPORTS 1000
#define PACK_MAX_MSG 1024

struct pack {
	char *name; /* basename, shown as [pack NAME:LINE] */
	char *path; /* as given (the name for a buffer), shown when the pack fails */
	char *src;
	size_t len;
};

struct ward_rules {
	struct pack *v;
	size_t n;
	size_t mem_max;
	uint64_t instr_max;
};

struct ward_rules *ward_rules_new(void)
{
	struct ward_rules *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->mem_max = ward_policy_default_limits.lua_memory;
	r->instr_max = ward_policy_default_limits.lua_instructions;
	return r;
}

void ward_rules_free(struct ward_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].path);
		free(r->v[i].src);
	}
	free(r->v);
	free(r);
}

void ward_rules_set_limits(struct ward_rules *r, size_t lua_memory, uint64_t lua_instructions)
{
	if (lua_memory)
		r->mem_max = lua_memory;
	if (lua_instructions)
		r->instr_max = lua_instructions;
}

size_t ward_rules_count(const struct ward_rules *r)
{
	return r ? r->n : 0;
}

int ward_rules_add_buffer(struct ward_rules *r, const char *name, const char *buf, size_t len,
			  struct ward_error *err)
{
	const char *base = strrchr(name, '/');
	struct pack *v;

	if (len > PACK_MAX_SOURCE)
		return ward_errx(err, -EFBIG, "%s: rule pack larger than %u bytes", name,
				 PACK_MAX_SOURCE);
	v = reallocarray(r->v, r->n + 1, sizeof(*v));
	if (!v)
		return ward_err(err, -ENOMEM, "rule pack %s", name);
	r->v = v;
	v = &r->v[r->n];
	*v = (struct pack){ .len = len };
	v->name = strdup(base ? base + 1 : name);
	v->path = strdup(name);
	v->src = malloc(len + 1);
	if (!v->name || !v->path || !v->src) {
		free(v->name);
		free(v->path);
		free(v->src);
		return ward_err(err, -ENOMEM, "rule pack %s", name);
	}
	memcpy(v->src, buf, len);
	v->src[len] = '\0';
	r->n++;
	return 0;
}

int ward_rules_add_file(struct ward_rules *r, const char *path, struct ward_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return ward_err(err, -errno, "rule pack %s", path);
	for (;;) {
		size_t n;

		if (len == cap) {
			char *b;

			if (cap > PACK_MAX_SOURCE)
				return ward_errx(err, -EFBIG, "%s: rule pack larger than %u bytes",
						 path, PACK_MAX_SOURCE);
			cap = cap ? cap * 2 : 4096;
			b = realloc(buf, cap);
			if (!b)
				return ward_err(err, -ENOMEM, "rule pack %s", path);
			buf = b;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		return ward_err(err, -EIO, "rule pack %s", path);
	return ward_rules_add_buffer(r, path, buf ? buf : "", len, err);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ward_rules_add_dir(struct ward_rules *r, const char *dir, struct ward_error *err)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	int ret = 0;

	if (!dir)
		dir = secure_getenv("WARD_RULES_DIR");
	if (!dir || !*dir)
		dir = WARD_RULES_DIR_DEFAULT;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return ward_err(err, -errno, "rule packs %s", dir);
	}
	while ((errno = 0, e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char **v;

		if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".lua"))
			continue;
		v = reallocarray(names, n + 1, sizeof(*v));
		if (!v || !(v[n] = strdup(e->d_name))) {
			names = v ? v : names;
			ret = ward_err(err, -ENOMEM, "rule packs %s", dir);
			goto out;
		}
		names = v;
		n++;
	}
	if (errno) {
		ret = ward_err(err, -errno, "rule packs %s", dir);
		goto out;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			path = NULL;
			ret = ward_err(err, -ENOMEM, "rule packs %s", dir);
			goto out;
		}
		ret = ward_rules_add_file(r, path, err);
		if (ret < 0)
			goto out;
	}
	ret = (int)n;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* --- one pack over one policy, inside ward_lua_run */

struct run {
	const struct pack *pack;
	const struct ward_policy *p;
	struct ward_diags *diags;
	char chunk[64]; /* the chunk's name, as Lua prefixes its messages */
	bool failed;	/* the pack failed itself: fail_line, fail_msg */
	int fail_line;
	char fail_msg[WARD_ERROR_MAX];
	bool nomem; /* appending a diagnostic failed */
	size_t reports;
};

static struct run *run_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static void set_str(lua_State *L, const char *k, const char *v)
{
	if (!v)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, bool v)
{
	lua_pushboolean(L, v);
	lua_setfield(L, -2, k);
}

/* A new node table with kind and position on the stack. */
static void push_node(lua_State *L, const struct ward_policy *p, const char *kind,
		      struct ward_pos pos)
{
	luaL_checkstack(L, 8, "rule pack nodes");
	lua_createtable(L, 0, 12);
	set_str(L, "kind", kind);
	set_str(L, "file", p->source_path ? p->source_path : "<policy>");
	set_int(L, "line", pos.line);
	set_int(L, "col", pos.col);
}

/* Append the value at the top to the array at idx (absolute). */
static void append(lua_State *L, int idx)
{
	lua_rawseti(L, idx, (lua_Integer)lua_rawlen(L, idx) + 1);
}

static const char *protocol_name(enum ward_protocol v)
{
	return v == WARD_PROTO_REST ? "rest" : v == WARD_PROTO_TCP ? "tcp" : "l4";
}

static const char *access_name(enum ward_access a)
{
	switch (a) {
	case WARD_ACCESS_READ_ONLY:
		return "read-only";
	case WARD_ACCESS_READ_WRITE:
		return "read-write";
	case WARD_ACCESS_FULL:
		return "full";
	case WARD_ACCESS_NONE:
		break;
	}
	return "none";
}

static void push_binary(lua_State *L, const struct ward_policy *p, const struct ward_binary *b,
			const char *section, const char *policy)
{
	push_node(L, p, "binary", b->pos);
	set_str(L, "path", b->path);
	set_str(L, "sha256", b->sha256);
	set_bool(L, "ancestors", b->ancestors);
	set_str(L, "section", section);
	set_str(L, "policy", policy);
}

static void push_path(lua_State *L, const struct ward_policy *p, const struct ward_fs_path *f,
		      const char *access, const char *binary)
{
	push_node(L, p, "path", f->pos);
	set_str(L, "path", f->path);
	set_str(L, "access", access);
	set_str(L, "binary", binary);
}

static void push_rule(lua_State *L, const struct ward_policy *p, const struct ward_l7_rule *r,
		      bool deny, const char *policy, int endpoint)
{
	push_node(L, p, "rule", r->pos);
	set_str(L, "method", r->method);
	set_str(L, "path", r->path);
	set_bool(L, "deny", deny);
	set_str(L, "policy", policy);
	lua_createtable(L, (int)r->n_query, 0);
	for (size_t i = 0; i < r->n_query; i++) {
		lua_createtable(L, 0, 2);
		set_str(L, "key", r->query[i].key);
		set_str(L, "glob", r->query[i].glob);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "query");
	lua_pushvalue(L, endpoint);
	lua_setfield(L, -2, "endpoint");
	lua_getfield(L, endpoint, "host");
	lua_setfield(L, -2, "host");
}

/* Builds the registry's "ward.lists": { policies, binaries, endpoints,
 * rules, paths, unix, credentials, routes, env_pass, env_set }. */
static void build_lists(lua_State *L, const struct ward_policy *p)
{
	enum { POLICIES = 1, BINARIES, ENDPOINTS, RULES, PATHS, CREDS, ROUTES, PASS, SET, UNIX };
	static const char *const names[] = { NULL,	 "policies", "binaries",    "endpoints",
					     "rules",	 "paths",    "credentials", "routes",
					     "env_pass", "env_set",  "unix_sockets" };
	int base;
	char ip[INET6_ADDRSTRLEN + 8];

	luaL_checkstack(L, 32, "rule pack lists");
	base = lua_gettop(L);
	for (int i = POLICIES; i <= UNIX; i++)
		lua_newtable(L);
#define L_(i) (base + (i))

	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *np = &p->net[i];
		int pol, bins, eps, socks;

		push_node(L, p, "policy", np->pos);
		pol = lua_gettop(L);
		set_str(L, "key", np->key);
		set_str(L, "name", np->name ? np->name : np->key);
		lua_newtable(L);
		bins = lua_gettop(L);
		for (size_t j = 0; j < np->n_binaries; j++) {
			push_binary(L, p, &np->binaries[j], "network", np->key);
			lua_pushvalue(L, -1);
			append(L, L_(BINARIES));
			append(L, bins);
		}
		lua_newtable(L);
		eps = lua_gettop(L);
		for (size_t j = 0; j < np->n_endpoints; j++) {
			const struct ward_endpoint *e = &np->endpoints[j];
			int ep, t;

			push_node(L, p, "endpoint", e->pos);
			ep = lua_gettop(L);
			set_str(L, "host", e->host);
			set_str(L, "policy", np->key);
			set_str(L, "protocol", protocol_name(e->protocol));
			set_str(L, "enforcement",
				e->enforcement == WARD_AUDIT ? "audit" : "enforce");
			set_str(L, "access", access_name(e->access));
			if (e->n_ports)
				set_int(L, "port", e->ports[0]);
			lua_createtable(L, (int)e->n_ports, 0);
			for (size_t k = 0; k < e->n_ports; k++) {
				lua_pushinteger(L, e->ports[k]);
				lua_rawseti(L, -2, (lua_Integer)k + 1);
			}
			lua_setfield(L, ep, "ports");
			lua_createtable(L, (int)e->n_allowed_ips, 0);
			for (size_t k = 0; k < e->n_allowed_ips; k++) {
				const struct ward_cidr *c = &e->allowed_ips[k];
				size_t l;

				inet_ntop(c->family == AF_INET6 ? AF_INET6 : AF_INET, c->addr, ip,
					  INET6_ADDRSTRLEN);
				l = strlen(ip);
				snprintf(ip + l, sizeof(ip) - l, "/%u", c->prefix);
				lua_pushstring(L, ip);
				lua_rawseti(L, -2, (lua_Integer)k + 1);
			}
			lua_setfield(L, ep, "allowed_ips");
			lua_pushvalue(L, bins);
			lua_setfield(L, ep, "binaries");
			lua_newtable(L);
			t = lua_gettop(L);
			for (size_t k = 0; k < e->n_rules; k++) {
				push_rule(L, p, &e->rules[k], false, np->key, ep);
				lua_pushvalue(L, -1);
				append(L, L_(RULES));
				append(L, t);
			}
			lua_setfield(L, ep, "rules");
			lua_newtable(L);
			t = lua_gettop(L);
			for (size_t k = 0; k < e->n_deny_rules; k++) {
				push_rule(L, p, &e->deny_rules[k], true, np->key, ep);
				lua_pushvalue(L, -1);
				append(L, L_(RULES));
				append(L, t);
			}
			lua_setfield(L, ep, "deny_rules");
			lua_pushvalue(L, ep);
			append(L, L_(ENDPOINTS));
			append(L, eps);
		}
		lua_newtable(L);
		socks = lua_gettop(L);
		for (size_t j = 0; j < np->n_unix_sockets; j++) {
			push_path(L, p, &np->unix_sockets[j], "connect", NULL);
			set_str(L, "kind", "unix");
			set_str(L, "policy", np->key);
			lua_pushvalue(L, -1);
			append(L, L_(UNIX));
			append(L, socks);
		}
		lua_setfield(L, pol, "unix_sockets");
		lua_setfield(L, pol, "endpoints");
		lua_setfield(L, pol, "binaries");
		append(L, L_(POLICIES));
	}

	for (size_t i = 0; i < p->n_read_only; i++) {
		push_path(L, p, &p->read_only[i], "read-only", NULL);
		append(L, L_(PATHS));
	}
	for (size_t i = 0; i < p->n_read_write; i++) {
		push_path(L, p, &p->read_write[i], "read-write", NULL);
		append(L, L_(PATHS));
	}
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		const struct ward_fs_binary_rule *b = &p->fs_binaries[i];
		const char *who = b->binary.path ? b->binary.path : b->binary.sha256;

		push_binary(L, p, &b->binary, "filesystem", NULL);
		append(L, L_(BINARIES));
		for (size_t j = 0; j < b->n_read_only; j++) {
			push_path(L, p, &b->read_only[j], "read-only", who);
			append(L, L_(PATHS));
		}
		for (size_t j = 0; j < b->n_read_write; j++) {
			push_path(L, p, &b->read_write[j], "read-write", who);
			append(L, L_(PATHS));
		}
	}
	for (size_t i = 0; i < p->n_inference_binaries; i++) {
		push_binary(L, p, &p->inference_binaries[i], "inference", NULL);
		append(L, L_(BINARIES));
	}

	for (size_t i = 0; i < p->n_credentials; i++) {
		const struct ward_credential *c = &p->credentials[i];

		push_node(L, p, "credential", c->pos);
		set_str(L, "name", c->name);
		set_str(L, "env", c->env);
		set_str(L, "secret", c->secret);
		set_str(L, "host", c->host);
		set_int(L, "port", c->port);
		set_str(L, "path", c->path);
		set_str(L, "header", c->header);
		set_str(L, "format", c->format);
		set_str(L, "scheme", c->allow_http ? "http" : "https");
		append(L, L_(CREDS));
	}
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct ward_inference_route *rt = &p->routes[i];

		push_node(L, p, "route", rt->pos);
		set_str(L, "name", rt->name);
		set_str(L, "provider", rt->provider);
		set_str(L, "model", rt->model);
		set_str(L, "base_url", rt->base_url);
		set_str(L, "api_key_env", rt->api_key_env);
		set_str(L, "api_key_secret", rt->api_key_secret);
		lua_createtable(L, (int)rt->n_aliases, 0);
		for (size_t k = 0; k < rt->n_aliases; k++) {
			lua_pushstring(L, rt->aliases[k]);
			lua_rawseti(L, -2, (lua_Integer)k + 1);
		}
		lua_setfield(L, -2, "aliases");
		lua_createtable(L, (int)rt->n_hosts, 0);
		for (size_t k = 0; k < rt->n_hosts; k++) {
			lua_pushstring(L, rt->hosts[k]);
			lua_rawseti(L, -2, (lua_Integer)k + 1);
		}
		lua_setfield(L, -2, "hosts");
		append(L, L_(ROUTES));
	}
	for (size_t i = 0; i < p->n_env_pass; i++) {
		push_node(L, p, "env_pass", p->env_pass[i].pos);
		set_str(L, "name", p->env_pass[i].pattern);
		set_bool(L, "glob", p->env_pass[i].glob);
		append(L, L_(PASS));
	}
	for (size_t i = 0; i < p->n_env_set; i++) {
		push_node(L, p, "env_set", p->env_set[i].pos);
		set_str(L, "name", p->env_set[i].name);
		set_str(L, "value", p->env_set[i].value);
		append(L, L_(SET));
	}
#undef L_

	lua_createtable(L, 0, UNIX);
	for (int i = UNIX; i >= POLICIES; i--) {
		lua_pushvalue(L, base + i);
		lua_setfield(L, -2, names[i]);
	}
	lua_setfield(L, LUA_REGISTRYINDEX, "ward.lists");
	lua_settop(L, base);
}

/* ward.NAME() -> the list (the same table each call) */
static int l_list(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, "ward.lists");
	lua_getfield(L, -1, lua_tostring(L, lua_upvalueindex(2)));
	return 1;
}

/* The pack's current line: the innermost frame running its chunk. */
static int pack_line(lua_State *L, const char *chunk)
{
	lua_Debug ar;

	for (int level = 0; lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "Sl", &ar))
			continue;
		if (ar.currentline > 0 && !strcmp(ar.source, chunk))
			return ar.currentline;
	}
	return 0;
}

static uint32_t node_pos(lua_State *L, int idx, const char *k)
{
	lua_Integer v = 0;

	if (lua_getfield(L, idx, k) == LUA_TNUMBER)
		v = lua_tointeger(L, -1);
	lua_pop(L, 1);
	return v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

static int report(lua_State *L, bool warning)
{
	struct run *run = run_of(L);
	uint32_t line = 0, col = 0;
	const char *msg;
	char *text;
	int r;

	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		line = node_pos(L, 1, "line");
		col = node_pos(L, 1, "col");
	}
	msg = luaL_checkstring(L, 2);
	/* the diagnostics live outside the pack's memory cap: bound them */
	if (++run->reports > PACK_MAX_REPORTS)
		return luaL_error(L, "more than %d reports", PACK_MAX_REPORTS);
	/* line 0: the node came from a preset the policy extends */
	if (asprintf(&text, "%s%.*s%s [pack %s:%d]", warning ? "" : "error: ", PACK_MAX_MSG, msg,
		     !line && !lua_isnoneornil(L, 1) ? " (from a preset this policy extends)" : "",
		     run->pack->name, pack_line(L, run->chunk)) < 0)
		return luaL_error(L, "out of memory");
	/* the node names only a position: the file is always the policy's */
	r = ward_diags_add(run->diags, run->p->source_path, line, line ? col : 0, warning, text);
	free(text);
	if (r < 0) {
		run->nomem = true;
		return luaL_error(L, "out of memory");
	}
	return 0;
}

static int l_error(lua_State *L)
{
	return report(L, false);
}

static int l_warn(lua_State *L)
{
	return report(L, true);
}

static int l_secret_like(lua_State *L)
{
	lua_pushboolean(L, ward_env_secret_like(luaL_checkstring(L, 1)));
	return 1;
}

/* Message handler: remember where in the pack it failed and why. */
static int on_error(lua_State *L)
{
	struct run *run = lua_touserdata(L, lua_upvalueindex(1));
	const char *msg = lua_tostring(L, 1);
	size_t cl = strlen(run->chunk) - 1; /* without the leading '=' */

	run->failed = true;
	run->fail_line = pack_line(L, run->chunk);
	if (!msg)
		msg = lua_isnoneornil(L, 1) ? "error (nil)" : "error object is not a string";
	/* "NAME:LINE: msg": keep the line Lua names, drop the prefix */
	if (!strncmp(msg, run->chunk + 1, cl) && msg[cl] == ':') {
		char *end;
		long l = strtol(msg + cl + 1, &end, 10);

		if (end != msg + cl + 1 && end[0] == ':' && end[1] == ' ') {
			if (l > 0 && l < INT32_MAX)
				run->fail_line = (int)l;
			msg = end + 2;
		}
	}
	snprintf(run->fail_msg, sizeof(run->fail_msg), "%s", msg);
	return 1;
}

static int pack_main(lua_State *L)
{
	struct run *run = lua_touserdata(L, 1);
	static const char *const lists[] = { "policies", "binaries",	 "endpoints",	"rules",
					     "paths",	 "unix_sockets", "credentials", "routes",
					     "env_pass", "env_set" };
	const struct ward_policy *p = run->p;
	int r;

	ward_lua_open_sandbox(L);
	lua_pushnil(L); /* packs are self-contained: no compiler modules */
	lua_setglobal(L, "require");
	build_lists(L, p);

	lua_createtable(L, 0, 20);
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		lua_pushlightuserdata(L, run);
		lua_pushstring(L, lists[i]);
		lua_pushcclosure(L, l_list, 2);
		lua_setfield(L, -2, lists[i]);
	}
	lua_pushlightuserdata(L, run);
	lua_pushcclosure(L, l_error, 1);
	lua_setfield(L, -2, "error");
	lua_pushlightuserdata(L, run);
	lua_pushcclosure(L, l_warn, 1);
	lua_setfield(L, -2, "warn");
	lua_pushcfunction(L, l_secret_like);
	lua_setfield(L, -2, "secret_like");
	set_str(L, "pack", run->pack->name);
	/* ward.policy: the file as a whole */
	lua_createtable(L, 0, 8);
	set_str(L, "file", p->source_path ? p->source_path : "<policy>");
	set_str(L, "rev", p->rev);
	set_bool(L, "include_workdir", p->include_workdir);
	set_bool(L, "strict_models", p->inference_strict_models);
	lua_createtable(L, (int)p->n_extends, 0);
	for (size_t i = 0; i < p->n_extends; i++) {
		lua_pushstring(L, p->extends[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "extends");
	lua_setfield(L, -2, "policy");
	lua_setglobal(L, "ward");

	lua_pushlightuserdata(L, run);
	lua_pushcclosure(L, on_error, 1);
	r = luaL_loadbufferx(L, run->pack->src, run->pack->len, run->chunk, "t");
	if (r != LUA_OK) {
		/* a syntax error: "NAME:LINE: msg" through the same handler */
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_call(L, 1, 1);
		return 0;
	}
	r = lua_pcall(L, 0, 0, -2);
	if (r == LUA_ERRMEM && !run->nomem) {
		run->failed = true;
		snprintf(run->fail_msg, sizeof(run->fail_msg), "%s",
			 ward_lua_out_of_steps(L) ? "instruction limit exceeded"
						  : "memory limit exceeded");
	}
	return 0;
}

static int run_one(const struct ward_rules *rs, const struct pack *pk, const struct ward_policy *p,
		   struct ward_diags *diags, struct ward_error *err)
{
	struct ward_error lerr = { 0 };
	struct run run = { .pack = pk, .p = p, .diags = diags };
	struct ward_lua *vm;
	char *loc = NULL, *msg = NULL;
	int r;

	/* "=NAME": Lua shows the name as is in its messages */
	snprintf(run.chunk, sizeof(run.chunk), "=%.60s", pk->name);
	vm = ward_lua_new(rs->mem_max, rs->instr_max);
	if (!vm)
		return ward_err(err, -ENOMEM, "rule pack %s", pk->name);
	/* work inside C functions counts too: string.rep in a loop ends */
	ward_lua_charge_alloc(vm, PACK_ALLOC_PER_INSTRUCTION);
	r = ward_lua_run(vm, pack_main, &run, &lerr);
	ward_lua_free(vm);
	if (run.nomem)
		return ward_err(err, -ENOMEM, "rule pack %s", pk->name);
	if (r < 0 && !run.failed) {
		/* outside the pack's own code: a limit while setting up, or memory */
		run.failed = true;
		snprintf(run.fail_msg, sizeof(run.fail_msg), "%s",
			 r == -E2BIG && strstr(lerr.msg, "memory") ? "memory limit exceeded"
			 : r == -E2BIG				   ? "instruction limit exceeded"
								   : lerr.msg);
	}
	if (!run.failed)
		return 0;
	if (strstr(run.fail_msg, "instruction limit exceeded"))
		snprintf(run.fail_msg, sizeof(run.fail_msg),
			 "rule pack instruction limit (%llu) exceeded",
			 (unsigned long long)rs->instr_max);
	else if (!strcmp(run.fail_msg, "memory limit exceeded"))
		snprintf(run.fail_msg, sizeof(run.fail_msg),
			 "rule pack memory limit (%zu KiB) exceeded", rs->mem_max >> 10);
	if (run.fail_line > 0)
		r = asprintf(&loc, "%s:%d", pk->path, run.fail_line);
	else
		r = asprintf(&loc, "%s", pk->path);
	if (r < 0)
		return ward_err(err, -ENOMEM, "rule pack %s", pk->name);
	if (asprintf(&msg, "error: %s", run.fail_msg) < 0) {
		free(loc);
		return ward_err(err, -ENOMEM, "rule pack %s", pk->name);
	}
	r = ward_diags_add(diags, loc, 0, 0, false, msg);
	free(loc);
	free(msg);
	return r < 0 ? ward_err(err, r, "rule pack %s", pk->name) : 0;
}

int ward_rules_run(const struct ward_rules *r, const struct ward_policy *p,
		   struct ward_diags *diags, struct ward_error *err)
{
	for (size_t i = 0; r && i < r->n; i++) {
		int ret = run_one(r, &r->v[i], p, diags, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The error lines into err, as many whole ones as fit. */
static int errors_into(const struct ward_diags *d, size_t errors, struct ward_error *err)
{
	char buf[WARD_ERROR_MAX];
	size_t n = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->n; i++) {
		struct ward_diags one = { .v = &d->v[i], .n = 1 };
		_cleanup_free_ char *s = NULL;
		size_t len = 0;
		FILE *f;

		if (d->v[i].warning)
			continue;
		f = open_memstream(&s, &len);
		if (!f)
			break;
		ward_diags_print(&one, f);
		fclose(f);
		if (!s || n + len + 64 >= sizeof(buf))
			break;
		memcpy(buf + n, s, len + 1);
		n += len;
		shown++;
	}
	if (shown < errors)
		snprintf(buf + n, sizeof(buf) - n, "(and %zu more rule pack errors)",
			 errors - shown);
	else
		while (n && buf[n - 1] == '\n')
			buf[--n] = '\0';
	return ward_errx(err, -EINVAL, "%s", buf);
}

/* The warnings of d, printed one per line (NULL: none or no memory). */
static char *warnings_of(const struct ward_diags *d)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		struct ward_diags one = { .v = &d->v[i], .n = 1 };

		if (d->v[i].warning)
			ward_diags_print(&one, f);
	}
	if (fclose(f) != 0 || len == 0) {
		free(s);
		return NULL;
	}
	return s;
}

int ward_rules_check(const char *dir, const struct ward_policy *p, FILE *diag,
		     char **ret_warnings, struct ward_error *err)
{
	_cleanup_(ward_rules_freep) struct ward_rules *r = ward_rules_new();
	struct ward_diags diags = { 0 };
	size_t errors;
	int ret;

	if (ret_warnings)
		*ret_warnings = NULL;
	if (!r)
		return ward_err(err, -ENOMEM, "rule packs");
	ret = ward_rules_add_dir(r, dir, err);
	if (ret <= 0)
		return ret;
	ret = ward_rules_run(r, p, &diags, err);
	if (ret < 0) {
		ward_diags_free(&diags);
		return ret;
	}
	errors = ward_diags_errors(&diags);
	if (diag)
		ward_diags_print(&diags, diag);
	else if (ret_warnings && !errors)
		*ret_warnings = warnings_of(&diags);
	if (errors && diag)
		ret = ward_errx(err, -EINVAL, "policy %s breaks the rule packs: %zu %s",
				p->source_path ? p->source_path : "<policy>", errors,
				errors == 1 ? "error" : "errors");
	else if (errors)
		ret = errors_into(&diags, errors, err);
	ward_diags_free(&diags);
	return ret;
}
