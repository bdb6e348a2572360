// SPDX-License-Identifier: MIT
/* The compiler driver: YAML -> node tree -> Lua passes (compiler.lua) ->
 * struct ward_policy -> canonical JSON and its sha256 revision. */
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/internal.h"

const struct ward_policy_limits ward_policy_default_limits = {
	.max_source = WARD_POLICY_MAX_SOURCE,
	.max_depth = 64,
	.lua_memory = 64u << 20,
	.lua_instructions = 50000000,
};

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)
DEFINE_CLEANUP(struct ward_ynode *, ward_ynode_free)
DEFINE_CLEANUP(struct ward_lua *, ward_lua_free)

struct compile_ctx {
	const char *name;
	const struct ward_ynode *root;
	struct ward_diags *diags;
	struct ward_policy *policy;
	bool have_policy;
	bool diag_oom;
};

/* Runs inside lua_pcall: no cleanup locals here, and everything allocated
 * goes straight into ctx->diags or ctx->policy, which the caller owns. */
static int compile_protected(lua_State *L)
{
	struct compile_ctx *c = lua_touserdata(L, 1);

	ward_lua_open_sandbox(L);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "compiler");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "compile");
	ward_lua_push_ynode(L, c->root);
	lua_pushstring(L, c->name);
	lua_call(L, 2, 1);
	if (!lua_istable(L, -1))
		return luaL_error(L, "compiler.compile returned no result");

	lua_getfield(L, -1, "diags");
	size_t n = lua_rawlen(L, -1);
	for (size_t i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i);
		lua_getfield(L, -1, "line");
		lua_getfield(L, -2, "col");
		lua_getfield(L, -3, "msg");
		lua_getfield(L, -4, "warning");
		if (ward_diags_add(c->diags, c->name, (uint32_t)lua_tointeger(L, -4),
				   (uint32_t)lua_tointeger(L, -3), lua_toboolean(L, -1),
				   lua_tostring(L, -2)) < 0)
			c->diag_oom = true;
		lua_pop(L, 5);
	}
	lua_pop(L, 1);

	lua_getfield(L, -1, "policy");
	if (lua_istable(L, -1)) {
		ward_policy_from_lua(L, c->policy);
		c->have_policy = true;
	}
	lua_settop(L, 0);
	return 0;
}

static int finish(struct ward_policy *p, struct ward_error *err)
{
	char *json = NULL;
	size_t len = 0;
	FILE *f;

	ward_policy_sort(p);
	f = open_memstream(&json, &len);
	if (!f)
		return ward_err(err, -errno, "open_memstream");
	ward_policy_print_json(p, f);
	if (fclose(f) != 0) {
		free(json);
		return ward_err(err, -ENOMEM, "write compiled policy");
	}
	p->compiled_json = json;
	ward_sha256_hex(json, len, p->rev);
	return 0;
}

int ward_policy_load_buffer_limits(const char *name, const char *buf, size_t len,
				   const struct ward_policy_limits *limits,
				   struct ward_policy **ret_policy, struct ward_diags *diags,
				   struct ward_error *err)
{
	_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
	_cleanup_(ward_ynode_freep) struct ward_ynode *root = NULL;
	_cleanup_(ward_lua_freep) struct ward_lua *vm = NULL;
	struct ward_yerror yerr = { 0 };
	struct compile_ctx c;
	int r;

	if (!limits)
		limits = &ward_policy_default_limits;
	if (!name)
		name = "<policy>";
	if (len > limits->max_source)
		return ward_errx(err, -EFBIG, "%s: policy larger than %zu bytes", name,
				 limits->max_source);

	r = ward_yaml_parse(buf, len, limits->max_depth, &root, &yerr);
	if (r == -EINVAL) {
		if (ward_diags_add(diags, name, yerr.line, yerr.col, false, yerr.msg) < 0)
			return ward_err(err, -ENOMEM, "%s", name);
		return -EINVAL;
	}
	if (r < 0)
		return ward_err(err, r, "%s: parse YAML", name);

	p = calloc(1, sizeof(*p));
	vm = ward_lua_new(limits->lua_memory, limits->lua_instructions);
	if (!p || !vm)
		return ward_err(err, -ENOMEM, "%s", name);

	c = (struct compile_ctx){ .name = name, .root = root, .diags = diags, .policy = p };
	r = ward_lua_run(vm, compile_protected, &c, err);
	if (r < 0)
		return ward_err_prefix(err, "%s", name);
	if (c.diag_oom)
		return ward_err(err, -ENOMEM, "%s: diagnostics", name);
	ward_diags_sort(diags);
	if (ward_diags_errors(diags) > 0 || !c.have_policy)
		return -EINVAL;

	p->source = malloc(len + 1);
	p->source_path = strdup(name);
	if (!p->source || !p->source_path)
		return ward_err(err, -ENOMEM, "%s", name);
	memcpy(p->source, buf, len);
	p->source[len] = '\0';
	p->source_len = len;

	r = finish(p, err);
	if (r < 0)
		return r;
	*ret_policy = TAKE_PTR(p);
	return 0;
}

int ward_policy_load_buffer(const char *name, const char *buf, size_t len,
			    struct ward_policy **ret_policy, struct ward_diags *diags,
			    struct ward_error *err)
{
	return ward_policy_load_buffer_limits(name, buf, len, NULL, ret_policy, diags, err);
}

int ward_policy_load(const char *path, struct ward_policy **ret_policy, struct ward_diags *diags,
		     struct ward_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = ward_read_file(path, ward_policy_default_limits.max_source, &buf, &len);
	if (r == -EFBIG)
		return ward_errx(err, r, "%s: policy larger than %zu bytes", path,
				 ward_policy_default_limits.max_source);
	if (r < 0)
		return ward_err(err, r, "read policy '%s'", path);
	return ward_policy_load_buffer(path, buf, len, ret_policy, diags, err);
}
