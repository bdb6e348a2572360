// SPDX-License-Identifier: MIT
/* The lowered Lua tables (lower.lua) -> struct ward_policy. Runs inside the
 * compiler's lua_pcall: every allocation is stored into the policy before the
 * next Lua call, so a raise (out of memory) leaks nothing. Array counts are
 * set together with their zeroed storage for the same reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "policy/internal.h"

static void *xcalloc(lua_State *L, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		luaL_error(L, "out of memory");
	return p;
}

/* strdup of t[k] (t at the top of the stack), NULL when absent. */
static char *dup_field(lua_State *L, const char *k)
{
	char *s = NULL;

	if (lua_getfield(L, -1, k) == LUA_TSTRING) {
		size_t len;
		const char *v = lua_tolstring(L, -1, &len);
		s = malloc(len + 1);
		if (!s)
			luaL_error(L, "out of memory");
		memcpy(s, v, len + 1);
	}
	lua_pop(L, 1);
	return s;
}

static lua_Integer int_field(lua_State *L, const char *k)
{
	lua_Integer v;
	lua_getfield(L, -1, k);
	v = lua_tointeger(L, -1);
	lua_pop(L, 1);
	return v;
}

static double num_field(lua_State *L, const char *k)
{
	double v;
	lua_getfield(L, -1, k);
	v = lua_tonumber(L, -1);
	lua_pop(L, 1);
	return v;
}

static bool bool_field(lua_State *L, const char *k)
{
	bool v;
	lua_getfield(L, -1, k);
	v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

static struct ward_pos pos_of(lua_State *L)
{
	return (struct ward_pos){ .line = (uint32_t)int_field(L, "line"),
				  .col = (uint32_t)int_field(L, "col") };
}

static int str_eq(lua_State *L, const char *k, const char *want)
{
	int r;
	lua_getfield(L, -1, k);
	r = lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), want);
	lua_pop(L, 1);
	return r;
}

/* Push t[k] if it is a table and return its length; else push nothing, 0. */
static size_t open_list(lua_State *L, const char *k)
{
	if (lua_getfield(L, -1, k) != LUA_TTABLE) {
		lua_pop(L, 1);
		return 0;
	}
	size_t n = lua_rawlen(L, -1);
	if (n == 0)
		lua_pop(L, 1);
	return n;
}

static void fs_paths(lua_State *L, const char *k, struct ward_fs_path **v, size_t *n)
{
	size_t len = open_list(L, k);
	if (!len)
		return;
	*v = xcalloc(L, len, sizeof(**v));
	*n = len;
	for (size_t i = 0; i < len; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		(*v)[i].path = dup_field(L, "path");
		(*v)[i].pos = pos_of(L);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void binary_at_top(lua_State *L, struct ward_binary *b)
{
	b->path = dup_field(L, "path");
	b->sha256 = dup_field(L, "sha256");
	b->ancestors = bool_field(L, "ancestors");
	b->pos = pos_of(L);
}

static void binaries(lua_State *L, const char *k, struct ward_binary **v, size_t *n)
{
	size_t len = open_list(L, k);
	if (!len)
		return;
	*v = xcalloc(L, len, sizeof(**v));
	*n = len;
	for (size_t i = 0; i < len; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		binary_at_top(L, &(*v)[i]);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void strings(lua_State *L, const char *k, char ***v, size_t *n)
{
	size_t len = open_list(L, k);
	if (!len)
		return;
	*v = xcalloc(L, len, sizeof(**v));
	*n = len;
	for (size_t i = 0; i < len; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		size_t sl;
		const char *s = lua_tolstring(L, -1, &sl);
		if (s) {
			(*v)[i] = malloc(sl + 1);
			if (!(*v)[i])
				luaL_error(L, "out of memory");
			memcpy((*v)[i], s, sl + 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void rules(lua_State *L, const char *k, struct ward_l7_rule **v, size_t *n)
{
	size_t len = open_list(L, k);
	if (!len)
		return;
	*v = xcalloc(L, len, sizeof(**v));
	*n = len;
	for (size_t i = 0; i < len; i++) {
		struct ward_l7_rule *r = &(*v)[i];
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		r->method = dup_field(L, "method");
		r->path = dup_field(L, "path");
		r->pos = pos_of(L);
		size_t nq = open_list(L, "query");
		if (nq) {
			r->query = xcalloc(L, nq, sizeof(*r->query));
			r->n_query = nq;
			for (size_t q = 0; q < nq; q++) {
				lua_rawgeti(L, -1, (lua_Integer)q + 1);
				r->query[q].key = dup_field(L, "key");
				r->query[q].glob = dup_field(L, "glob");
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void parse_cidr(lua_State *L, const char *s, struct ward_cidr *c)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	/* validate.lua already checked these with native.cidr; this only converts. */
	if (!slash || alen >= sizeof(addr))
		luaL_error(L, "internal: CIDR '%s' not canonical", s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c->addr) == 1)
		c->family = AF_INET6;
	else
		luaL_error(L, "internal: bad CIDR '%s'", s);
	c->prefix = (uint8_t)atoi(slash + 1);
}

static void endpoint(lua_State *L, struct ward_endpoint *e)
{
	e->host = dup_field(L, "host");
	e->pos = pos_of(L);
	e->protocol = str_eq(L, "protocol", "rest")  ? WARD_PROTO_REST
		      : str_eq(L, "protocol", "tcp") ? WARD_PROTO_TCP
						     : WARD_PROTO_L4;
	e->enforcement = str_eq(L, "enforcement", "audit") ? WARD_AUDIT : WARD_ENFORCE;
	e->access = str_eq(L, "access", "read-only")	? WARD_ACCESS_READ_ONLY
		    : str_eq(L, "access", "read-write") ? WARD_ACCESS_READ_WRITE
		    : str_eq(L, "access", "full")	? WARD_ACCESS_FULL
							: WARD_ACCESS_NONE;
	size_t np = open_list(L, "ports");
	if (np) {
		e->ports = xcalloc(L, np, sizeof(*e->ports));
		e->n_ports = np;
		for (size_t i = 0; i < np; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			e->ports[i] = (uint16_t)lua_tointeger(L, -1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	rules(L, "rules", &e->rules, &e->n_rules);
	rules(L, "deny_rules", &e->deny_rules, &e->n_deny_rules);
	size_t nc = open_list(L, "allowed_ips");
	if (nc) {
		e->allowed_ips = xcalloc(L, nc, sizeof(*e->allowed_ips));
		e->n_allowed_ips = nc;
		for (size_t i = 0; i < nc; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			parse_cidr(L, lua_tostring(L, -1), &e->allowed_ips[i]);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
}

static void net_policies(lua_State *L, struct ward_policy *p)
{
	size_t len = open_list(L, "net");
	if (!len)
		return;
	p->net = xcalloc(L, len, sizeof(*p->net));
	p->n_net = len;
	for (size_t i = 0; i < len; i++) {
		struct ward_net_policy *n = &p->net[i];
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		n->key = dup_field(L, "key");
		n->name = dup_field(L, "name");
		n->pos = pos_of(L);
		binaries(L, "binaries", &n->binaries, &n->n_binaries);
		fs_paths(L, "unix_sockets", &n->unix_sockets, &n->n_unix_sockets);
		size_t ne = open_list(L, "endpoints");
		if (ne) {
			n->endpoints = xcalloc(L, ne, sizeof(*n->endpoints));
			n->n_endpoints = ne;
			for (size_t e = 0; e < ne; e++) {
				lua_rawgeti(L, -1, (lua_Integer)e + 1);
				endpoint(L, &n->endpoints[e]);
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void fs_binaries(lua_State *L, struct ward_policy *p)
{
	size_t len = open_list(L, "fs_binaries");
	if (!len)
		return;
	p->fs_binaries = xcalloc(L, len, sizeof(*p->fs_binaries));
	p->n_fs_binaries = len;
	for (size_t i = 0; i < len; i++) {
		struct ward_fs_binary_rule *b = &p->fs_binaries[i];
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		binary_at_top(L, &b->binary);
		fs_paths(L, "read_only", &b->read_only, &b->n_read_only);
		fs_paths(L, "read_write", &b->read_write, &b->n_read_write);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void credentials(lua_State *L, struct ward_policy *p)
{
	size_t len = open_list(L, "credentials");
	if (!len)
		return;
	p->credentials = xcalloc(L, len, sizeof(*p->credentials));
	p->n_credentials = len;
	for (size_t i = 0; i < len; i++) {
		struct ward_credential *c = &p->credentials[i];
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		c->name = dup_field(L, "name");
		c->env = dup_field(L, "env");
		c->secret = dup_field(L, "secret");
		c->host = dup_field(L, "host");
		c->port = (uint16_t)int_field(L, "port");
		c->path = dup_field(L, "path");
		c->header = dup_field(L, "header");
		c->format = dup_field(L, "format");
		c->allow_http = bool_field(L, "allow_http");
		c->pos = pos_of(L);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void routes(lua_State *L, struct ward_policy *p)
{
	size_t len = open_list(L, "routes");
	if (!len)
		return;
	p->routes = xcalloc(L, len, sizeof(*p->routes));
	p->n_routes = len;
	for (size_t i = 0; i < len; i++) {
		struct ward_inference_route *r = &p->routes[i];
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		r->name = dup_field(L, "name");
		r->provider = dup_field(L, "provider");
		r->model = dup_field(L, "model");
		r->base_url = dup_field(L, "base_url");
		r->api_key_env = dup_field(L, "api_key_env");
		r->api_key_secret = dup_field(L, "api_key_secret");
		strings(L, "aliases", &r->aliases, &r->n_aliases);
		strings(L, "hosts", &r->hosts, &r->n_hosts);
		r->price_known = bool_field(L, "price_known");
		r->price_input = num_field(L, "price_input");
		r->price_output = num_field(L, "price_output");
		r->price_cached = num_field(L, "price_cached");
		r->price_source = dup_field(L, "price_source");
		r->pos = pos_of(L);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void environment(lua_State *L, struct ward_policy *p)
{
	size_t len = open_list(L, "env_pass");
	if (len) {
		p->env_pass = xcalloc(L, len, sizeof(*p->env_pass));
		p->n_env_pass = len;
		for (size_t i = 0; i < len; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			p->env_pass[i].pattern = dup_field(L, "pattern");
			p->env_pass[i].glob = bool_field(L, "glob");
			p->env_pass[i].pos = pos_of(L);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	len = open_list(L, "env_set");
	if (len) {
		p->env_set = xcalloc(L, len, sizeof(*p->env_set));
		p->n_env_set = len;
		for (size_t i = 0; i < len; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			p->env_set[i].name = dup_field(L, "name");
			p->env_set[i].value = dup_field(L, "value");
			p->env_set[i].pos = pos_of(L);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
}

static void resources(lua_State *L, struct ward_resources *r)
{
	if (lua_getfield(L, -1, "resources") == LUA_TTABLE) {
		r->memory = (uint64_t)int_field(L, "memory");
		r->pids = (uint64_t)int_field(L, "pids");
		r->cpu_milli = (uint32_t)int_field(L, "cpu_milli");
		r->tmp_size = (uint64_t)int_field(L, "tmp_size");
		r->pos = pos_of(L);
	}
	lua_pop(L, 1);
}

static void limits(lua_State *L, struct ward_limits *l)
{
	if (lua_getfield(L, -1, "limits") == LUA_TTABLE) {
		l->max_connections = (uint32_t)int_field(L, "max_connections");
		l->idle_tunnel_ms = (uint32_t)int_field(L, "idle_tunnel_ms");
		l->idle_http_ms = (uint32_t)int_field(L, "idle_http_ms");
		l->connect_timeout_ms = (uint32_t)int_field(L, "connect_timeout_ms");
		l->request_timeout_ms = (uint32_t)int_field(L, "request_timeout_ms");
		l->max_body = (uint64_t)int_field(L, "max_body");
		l->pos = pos_of(L);
	}
	lua_pop(L, 1);
}

static void host(lua_State *L, struct ward_policy *p)
{
	size_t len;

	p->has_host = bool_field(L, "has_host");
	len = open_list(L, "host_exempt");
	if (!len)
		return;
	p->host_exempt = xcalloc(L, len, sizeof(*p->host_exempt));
	p->n_host_exempt = len;
	for (size_t i = 0; i < len; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		p->host_exempt[i].cgroup = dup_field(L, "cgroup");
		p->host_exempt[i].binary = dup_field(L, "binary");
		p->host_exempt[i].pos = pos_of(L);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

void ward_policy_from_lua(lua_State *L, struct ward_policy *p)
{
	luaL_checkstack(L, 16, "lowered policy");
	p->include_workdir = bool_field(L, "include_workdir");
	fs_paths(L, "read_only", &p->read_only, &p->n_read_only);
	fs_paths(L, "read_write", &p->read_write, &p->n_read_write);
	fs_binaries(L, p);
	p->landlock_compat = str_eq(L, "landlock", "hard_requirement")
				     ? WARD_LANDLOCK_HARD_REQUIREMENT
				     : WARD_LANDLOCK_BEST_EFFORT;
	p->landlock_restrict_tcp = bool_field(L, "restrict_tcp");

	p->run_as_user = dup_field(L, "run_as_user");
	lua_getfield(L, -1, "uid");
	if (lua_isinteger(L, -1)) {
		p->uid = (uid_t)lua_tointeger(L, -1);
		p->has_user = true;
	}
	lua_pop(L, 1);
	p->has_user = p->has_user || p->run_as_user;
	p->run_as_group = dup_field(L, "run_as_group");
	lua_getfield(L, -1, "gid");
	if (lua_isinteger(L, -1)) {
		p->gid = (gid_t)lua_tointeger(L, -1);
		p->has_group = true;
	}
	lua_pop(L, 1);
	p->has_group = p->has_group || p->run_as_group;

	net_policies(L, p);
	credentials(L, p);
	routes(L, p);
	binaries(L, "inference_binaries", &p->inference_binaries, &p->n_inference_binaries);
	p->inference_max_tokens = (uint64_t)int_field(L, "max_tokens");
	p->inference_max_usd = num_field(L, "max_usd");
	p->inference_session_max_tokens = (uint64_t)int_field(L, "session_max_tokens");
	p->inference_session_max_usd = num_field(L, "session_max_usd");
	p->inference_strict_models = bool_field(L, "strict_models");
	size_t nw = open_list(L, "warn_at");
	if (nw) {
		/* validate.lua: ascending fractions without repeats, so at most a few */
		for (size_t i = 0; i < nw && i < ARRAY_SIZE(p->inference_warn_at); i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			p->inference_warn_at[p->n_inference_warn_at++] = lua_tonumber(L, -1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	environment(L, p);
	resources(L, &p->resources);
	limits(L, &p->limits);
	host(L, p);
	strings(L, "extends", &p->extends, &p->n_extends);
}

static int cmp_net(const void *a, const void *b)
{
	const struct ward_net_policy *x = a, *y = b;
	return strcmp(x->key, y->key);
}

void ward_policy_sort(struct ward_policy *p)
{
	if (p->n_net > 1)
		qsort(p->net, p->n_net, sizeof(*p->net), cmp_net);
}
