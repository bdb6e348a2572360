// SPDX-License-Identifier: MIT
/* The Lua sandbox the compiler passes run in: a fresh state per compile, an
 * allocator with a hard cap, an instruction-count hook, only the base (minus
 * file and chunk loading), string, table, math and utf8 libraries, and a
 * require() that sees nothing but the modules embedded at build time.
 *
 * Parsing those modules is most of a compile (3 of 4 ms of CPU): each is
 * parsed once per process and its bytecode (lua_dump, debug information
 * kept: messages keep their FILE:LINE) kept, so a long-lived process (the
 * daemon's policy.apply, ward run --watch) loads the next compile's
 * modules from it. The state stays fresh per compile: only the functions'
 * code is shared, never a value a compile made. */
#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "policy/env.h"
#include "policy/internal.h"

/* Produced by cmake/embed.cmake from the files in src/policy/lua. */
struct ward_embedded {
	const char *name;
	const char *data;
	size_t len;
};
extern const struct ward_embedded ward_lua_modules[];

struct ward_lua {
	lua_State *L;
	size_t mem, mem_max;
	uint64_t steps, steps_max, every; /* the hook runs every `every` instructions */
	/* ward_lua_charge_alloc: bytes allocated that count as one step (of
	 * `every` instructions); 0: allocations are free (the compiler) */
	uint64_t alloc_per_step, charged;
	bool oom, out_of_steps;
};

static struct ward_lua *vm_of(lua_State *L)
{
	return *(struct ward_lua **)lua_getextraspace(L);
}

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct ward_lua *vm = ud;

	if (!ptr)
		osize = 0; /* then osize encodes the object type, not a size */
	if (nsize == 0) {
		free(ptr);
		vm->mem -= osize;
		return NULL;
	}
	if (nsize > osize && nsize - osize > vm->mem_max - vm->mem) {
		vm->oom = true;
		return NULL;
	}
	if (vm->alloc_per_step && nsize > osize) {
		vm->charged += nsize - osize;
		while (vm->charged >= vm->alloc_per_step) {
			vm->charged -= vm->alloc_per_step;
			if (++vm->steps > vm->steps_max) {
				vm->out_of_steps = true; /* raised as a memory error */
				return NULL;
			}
		}
	}
	void *p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	vm->mem = vm->mem - osize + nsize;
	return p;
}

static void vm_hook(lua_State *L, lua_Debug *ar)
{
	struct ward_lua *vm = vm_of(L);

	if (++vm->steps > vm->steps_max) {
		vm->out_of_steps = true;
		luaL_error(L, "instruction limit exceeded");
	}
}

struct ward_lua *ward_lua_new(size_t mem_max, uint64_t instr_max)
{
	struct ward_lua *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->mem_max = mem_max;
	/* Coarse steps keep the hook cheap; small caps (tests) need finer ones. */
	vm->every = instr_max >= 1000000 ? 10000 : instr_max >= 1000 ? instr_max / 100 : 10;
	vm->steps_max = instr_max / vm->every;
	vm->L = lua_newstate(vm_alloc, vm);
	if (!vm->L) {
		free(vm);
		return NULL;
	}
	*(struct ward_lua **)lua_getextraspace(vm->L) = vm;
	lua_sethook(vm->L, vm_hook, LUA_MASKCOUNT, (int)vm->every);
	return vm;
}

void ward_lua_charge_alloc(struct ward_lua *vm, uint64_t bytes_per_instruction)
{
	vm->alloc_per_step = bytes_per_instruction * vm->every;
}

bool ward_lua_out_of_steps(lua_State *L)
{
	return vm_of(L)->out_of_steps;
}

void ward_lua_free(struct ward_lua *vm)
{
	if (!vm)
		return;
	lua_close(vm->L);
	free(vm);
}

static int trampoline(lua_State *L)
{
	lua_CFunction fn = (lua_CFunction)(uintptr_t)lua_touserdata(L, 1);
	lua_remove(L, 1);
	return fn(L);
}

int ward_lua_run(struct ward_lua *vm, lua_CFunction fn, void *ud, struct ward_error *err)
{
	lua_State *L = vm->L;
	int r;

	/* Neither push allocates, so nothing here can raise outside the pcall. */
	lua_pushcfunction(L, trampoline);
	lua_pushlightuserdata(L, (void *)(uintptr_t)fn);
	lua_pushlightuserdata(L, ud);
	r = lua_pcall(L, 2, 0, 0);
	if (r == LUA_OK)
		return 0;
	if (vm->out_of_steps) {
		lua_settop(L, 0);
		return ward_errx(err, -E2BIG,
				 "policy too complex: compiler instruction limit (%llu) exceeded",
				 (unsigned long long)(vm->steps_max * vm->every));
	}
	if (r == LUA_ERRMEM || vm->oom) {
		lua_settop(L, 0);
		return ward_errx(err, -E2BIG,
				 "policy too large: compiler memory limit (%zu MiB) exceeded",
				 vm->mem_max >> 20);
	}
	const char *msg = lua_tostring(L, -1);
	ward_errx(err, -EPROTO, "policy compiler failed: %s", msg ? msg : "(error object)");
	lua_settop(L, 0);
	return -EPROTO;
}

/* native.cidr(s) -> canonical "addr/prefix" | nil, why. A bare address is a
 * host prefix (/32, /128). Host bits must be zero: "10.1.2.3/8" is a typo. */
static int l_cidr(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	char addr[INET6_ADDRSTRLEN + 1], out[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int family, maxp;
	long prefix;

	if (alen == 0 || alen >= sizeof(addr)) {
		lua_pushnil(L);
		lua_pushstring(L, "not an IP address");
		return 2;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1) {
		family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, addr, bin) == 1) {
		family = AF_INET6;
		maxp = 128;
	} else {
		lua_pushnil(L);
		lua_pushstring(L, "not an IP address");
		return 2;
	}
	prefix = maxp;
	if (slash) {
		char *end;
		errno = 0;
		if (!slash[1] || slash[1] == '-' || slash[1] == '+') {
			lua_pushnil(L);
			lua_pushstring(L, "missing prefix length");
			return 2;
		}
		prefix = strtol(slash + 1, &end, 10);
		if (*end || errno || prefix < 0 || prefix > maxp) {
			lua_pushnil(L);
			lua_pushfstring(L, "prefix length must be 0..%d", maxp);
			return 2;
		}
	}
	for (int bit = (int)prefix; bit < maxp; bit++) {
		if (bin[bit / 8] & (0x80 >> (bit % 8))) {
			unsigned char net[16];
			memcpy(net, bin, sizeof(net));
			for (int b = (int)prefix; b < maxp; b++)
				net[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
			inet_ntop(family, net, addr, sizeof(addr));
			lua_pushnil(L);
			lua_pushfstring(L, "host bits set (did you mean '%s/%d'?)", addr,
					(int)prefix);
			return 2;
		}
	}
	inet_ntop(family, bin, addr, sizeof(addr));
	snprintf(out, sizeof(out), "%s/%ld", addr, prefix);
	lua_pushstring(L, out);
	return 1;
}

/* native.ip(s) -> 4 | 6 | nil */
static int l_ip(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	unsigned char bin[16];

	if (inet_pton(AF_INET, s, bin) == 1)
		lua_pushinteger(L, 4);
	else if (inet_pton(AF_INET6, s, bin) == 1)
		lua_pushinteger(L, 6);
	else
		lua_pushnil(L);
	return 1;
}

/* native.secret_like(name) -> bool (policy/env.c: one rule for compiler and sandbox) */
static int l_secret_like(lua_State *L)
{
	lua_pushboolean(L, ward_env_secret_like(luaL_checkstring(L, 1)));
	return 1;
}

/* Bytecode of the embedded modules, by index in ward_lua_modules; written
 * once each (under the lock), never freed: the process's lifetime. */
#define MAX_MODULES 32
static pthread_mutex_t code_lock = PTHREAD_MUTEX_INITIALIZER;
static struct code {
	char *data;
	size_t len;
} code[MAX_MODULES];

struct dump_buf {
	char *data;
	size_t len, cap;
	bool failed;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct dump_buf *b = ud;

	(void)L;
	if (b->len + sz > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *n;

		while (cap < b->len + sz)
			cap *= 2;
		n = realloc(b->data, cap);
		if (!n) {
			b->failed = true;
			return 1;
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, sz);
	b->len += sz;
	return 0;
}

/* The module's function on the stack: from its bytecode when a compile of
 * this process parsed it already, else parsed and its bytecode kept. */
static int load_module(lua_State *L, size_t i, const struct ward_embedded *m, const char *file)
{
	struct dump_buf b = { 0 };
	const char *data = NULL;
	size_t len = 0;
	int r;

	if (i < MAX_MODULES) {
		pthread_mutex_lock(&code_lock);
		data = code[i].data;
		len = code[i].len;
		pthread_mutex_unlock(&code_lock);
	}
	if (data)
		return luaL_loadbufferx(L, data, len, file, "b");
	r = luaL_loadbufferx(L, m->data, m->len, file, "t");
	if (r != LUA_OK || i >= MAX_MODULES)
		return r;
	/* not kept when out of memory: the next compile parses it again */
	if (lua_dump(L, dump_writer, &b, 0) != 0 || b.failed) {
		free(b.data);
		return LUA_OK;
	}
	pthread_mutex_lock(&code_lock);
	if (!code[i].data) {
		code[i].data = b.data;
		code[i].len = b.len;
		b.data = NULL;
	}
	pthread_mutex_unlock(&code_lock);
	free(b.data);
	return LUA_OK;
}

static int l_require(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	char file[128];

	lua_getfield(L, LUA_REGISTRYINDEX, "ward.loaded");
	lua_getfield(L, -1, name);
	if (!lua_isnil(L, -1)) {
		if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
			return luaL_error(L, "module '%s' requires itself", name);
		return 1;
	}
	lua_pop(L, 1);
	snprintf(file, sizeof(file), "%s.lua", name);
	for (const struct ward_embedded *m = ward_lua_modules; m->name; m++) {
		if (strcmp(m->name, file))
			continue;
		lua_pushboolean(L, 0); /* loading: catches cycles */
		lua_setfield(L, -2, name);
		if (load_module(L, (size_t)(m - ward_lua_modules), m, file) != LUA_OK)
			return lua_error(L);
		lua_pushstring(L, name);
		lua_call(L, 1, 1);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			lua_pushboolean(L, 1);
		}
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, name);
		return 1;
	}
	return luaL_error(L, "module '%s' not found", name);
}

/* Lua's pattern matcher runs inside one C call: neither the instruction
 * hook nor the allocator sees it, and a few repetitions on a long subject
 * backtrack for hours (string.find(s, ".-.-.-.-x")). Before a match, the
 * worst case is bounded: each unescaped repetition (* + - ?) may retry once
 * per subject byte, and an unanchored search starts at every byte. Above
 * WARD_LUA_MATCH_MAX steps the call is refused with an error the caller
 * sees, instead of running. Plain finds (find's 4th argument) are linear. */
#define WARD_LUA_MATCH_MAX 1e8

static int pattern_reps(const char *p, size_t len)
{
	int reps = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '%') {
			i++; /* the escaped character, or %b's / %f's first */
			continue;
		}
		if (p[i] == '[') { /* a set: its '-' is a range, not a repetition */
			i += i + 1 < len && p[i + 1] == '^';
			i += i + 1 < len && p[i + 1] == ']';
			while (++i < len && p[i] != ']')
				i += p[i] == '%';
			continue;
		}
		reps += p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?';
	}
	return reps;
}

static int l_guarded_match(lua_State *L)
{
	size_t n = 0, plen = 0;
	const char *p;
	bool plain = false;
	int reps;
	double cost = 1;

	(void)luaL_checklstring(L, 1, &n);
	p = luaL_checklstring(L, 2, &plen);
	if (lua_toboolean(L, lua_upvalueindex(2))) /* string.find */
		plain = lua_toboolean(L, 4);
	if (!plain) {
		reps = pattern_reps(p, plen) + (plen == 0 || p[0] != '^');
		for (int i = 0; i < reps && cost <= WARD_LUA_MATCH_MAX; i++)
			cost *= (double)n + 1;
		if (cost > WARD_LUA_MATCH_MAX)
			return luaL_error(L,
					  "pattern '%s' could backtrack too long on a %d-byte subject "
					  "(fewer repetitions, an anchor, or a plain find)",
					  p, (int)n);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static void guard_patterns(lua_State *L)
{
	static const char *const fns[] = { "find", "match", "gmatch", "gsub" };

	lua_getglobal(L, LUA_STRLIBNAME);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		lua_getfield(L, -1, fns[i]);
		lua_pushboolean(L, i == 0);
		lua_pushcclosure(L, l_guarded_match, 2);
		lua_setfield(L, -2, fns[i]);
	}
	lua_pop(L, 1);
}

void ward_lua_open_sandbox(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base },	   { LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
	};
	static const char *const removed[] = { "dofile",	 "loadfile", "load",
					       "collectgarbage", "print",    "require" };
	static const luaL_Reg native[] = {
		{ "cidr", l_cidr }, { "ip", l_ip }, { "secret_like", l_secret_like }, { NULL, NULL }
	};

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		luaL_requiref(L, libs[i].name, libs[i].func, 1);
		lua_pop(L, 1);
	}
	for (size_t i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
		lua_pushnil(L);
		lua_setglobal(L, removed[i]);
	}
	/* string.dump would hand out bytecode; nothing here needs it. */
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);
	guard_patterns(L);

	lua_newtable(L);
	luaL_newlib(L, native);
	lua_setfield(L, -2, "native");
	lua_setfield(L, LUA_REGISTRYINDEX, "ward.loaded");
	lua_pushcfunction(L, l_require);
	lua_setglobal(L, "require");
}

static const char *const style_names[] = {
	[WARD_YS_PLAIN] = "plain",     [WARD_YS_SINGLE] = "single", [WARD_YS_DOUBLE] = "double",
	[WARD_YS_LITERAL] = "literal", [WARD_YS_FOLDED] = "folded",
};

void ward_lua_push_ynode(lua_State *L, const struct ward_ynode *n)
{
	if (!n) {
		lua_pushnil(L);
		return;
	}
	luaL_checkstack(L, 8, "YAML nesting");
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, n->line);
	lua_setfield(L, -2, "line");
	lua_pushinteger(L, n->col);
	lua_setfield(L, -2, "col");
	switch (n->kind) {
	case WARD_Y_SCALAR:
		lua_pushliteral(L, "scalar");
		lua_setfield(L, -2, "kind");
		lua_pushlstring(L, n->value, n->len);
		lua_setfield(L, -2, "value");
		lua_pushstring(L, style_names[n->style]);
		lua_setfield(L, -2, "style");
		break;
	case WARD_Y_MAP:
		lua_pushliteral(L, "map");
		lua_setfield(L, -2, "kind");
		/* entries: ordered { key = node, value = node } */
		lua_createtable(L, (int)(n->n / 2), 0);
		for (size_t i = 0; i + 1 < n->n; i += 2) {
			lua_createtable(L, 0, 2);
			ward_lua_push_ynode(L, n->kids[i]);
			lua_setfield(L, -2, "key");
			ward_lua_push_ynode(L, n->kids[i + 1]);
			lua_setfield(L, -2, "value");
			lua_rawseti(L, -2, (lua_Integer)(i / 2 + 1));
		}
		lua_setfield(L, -2, "entries");
		break;
	case WARD_Y_SEQ:
		lua_pushliteral(L, "seq");
		lua_setfield(L, -2, "kind");
		lua_createtable(L, (int)n->n, 0);
		for (size_t i = 0; i < n->n; i++) {
			ward_lua_push_ynode(L, n->kids[i]);
			lua_rawseti(L, -2, (lua_Integer)(i + 1));
		}
		lua_setfield(L, -2, "items");
		break;
	}
}
