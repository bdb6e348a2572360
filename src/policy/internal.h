/* SPDX-License-Identifier: MIT */
/* Shared between the files of src/policy; not part of the public API. */
#pragma once

#include <lua.h>

#include "common/error.h"
#include "policy/policy.h"
#include "policy/yaml.h"

/* Append one diagnostic (copies file and msg); -ENOMEM. */
int ward_diags_add(struct ward_diags *d, const char *file, uint32_t line, uint32_t col,
		   bool warning, const char *msg);
/* Order diagnostics by position, keeping the order of equal positions. */
void ward_diags_sort(struct ward_diags *d);

/* The sandboxed Lua state the compiler passes run in. */
struct ward_lua;
struct ward_lua *ward_lua_new(size_t mem_max, uint64_t instr_max);
void ward_lua_free(struct ward_lua *vm);
/* Charge allocations to the instruction cap too (rule packs): every
 * bytes_per_instruction bytes allocated count as one instruction, so work
 * done inside C functions (string.rep, table growth) is bounded as well. */
void ward_lua_charge_alloc(struct ward_lua *vm, uint64_t bytes_per_instruction);
/* Inside a protected call: has the instruction cap been hit? */
bool ward_lua_out_of_steps(lua_State *L);
/* lua_pcall(fn(ud)) with the limits armed; on failure err says why
 * (-E2BIG: a limit was hit; -EPROTO: a Lua error). */
int ward_lua_run(struct ward_lua *vm, lua_CFunction fn, void *ud, struct ward_error *err);
/* Inside a protected call: open the allowed libraries and the require() that
 * only sees the embedded compiler modules. May raise. */
void ward_lua_open_sandbox(lua_State *L);

/* Inside a protected call: push the YAML tree (or nil) as Lua node tables. */
void ward_lua_push_ynode(lua_State *L, const struct ward_ynode *n);

/* Inside a protected call: fill p from the lowered table at the top of the
 * stack. Everything allocated is owned by p at once, so a raise leaks nothing. */
void ward_policy_from_lua(lua_State *L, struct ward_policy *p);

/* Sort p->net by key (strcmp). */
void ward_policy_sort(struct ward_policy *p);
