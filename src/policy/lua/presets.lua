-- SPDX-License-Identifier: MIT
-- Presets, applied by `extends: [NAME, ...]` at the top of a policy, and the
-- merge that layers them under the file. Presets are written as plain policy
-- data and go through the same validator as files (positions 0:0).
--
-- Merging, in order: each preset of `extends`, then the file itself.
--   scalars (include_workdir, landlock.compatibility, run_as_*, budget):
--     a later layer that sets them wins;
--   read_only / read_write path lists: union, one entry per path;
--   filesystem_policy.binaries: one entry per path, a later layer replaces it;
--   network_policies: one entry per key, a later layer replaces it whole;
--   credentials, inference.routes: one entry per name, a later layer replaces it;
--   inference.binaries: a later layer that sets it replaces the list;
--   environment.pass: union; environment.set and each resources field: a
--     later layer that sets a name wins.
local util = require "util"

local M = {}

-- What every program needs to start (the dynamic loader and libraries), read-only.
local runtime = { "/usr", "/lib", "/lib64", "/bin", "/sbin" }

M.defs = {}

-- Nothing but starting programs: no writes, no network, no inference.
M.defs["deny-all"] = {
	filesystem_policy = {
		include_workdir = false,
		read_only = runtime,
	},
	landlock = { compatibility = "best_effort" },
}

-- A developer workstation: the working directory read-write, the system
-- read-only, and the package registries reachable by their own tools only.
-- /tmp is not mapped: the sandbox gets a private one, and the host's /tmp
-- holds sockets of host daemons.
M.defs.developer = {
	filesystem_policy = {
		include_workdir = true,
		read_only = { "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc" },
	},
	landlock = { compatibility = "best_effort" },
	network_policies = {
		npm = {
			name = "npm registry",
			binaries = {
				{ path = "/usr/bin/node" },
				{ path = "/usr/local/bin/node" },
			},
			endpoints = {
				{ host = "registry.npmjs.org", port = 443 },
				{ host = "registry.yarnpkg.com", port = 443 },
			},
		},
		pypi = {
			name = "Python Package Index",
			binaries = {
				{ path = "/usr/bin/python3*" },
				{ path = "/usr/local/bin/python3*" },
				{ path = "/usr/local/bin/uv" },
			},
			endpoints = {
				{ host = "pypi.org", port = 443 },
				{ host = "files.pythonhosted.org", port = 443 },
			},
		},
		crates = {
			name = "crates.io",
			binaries = {
				{ path = "/usr/bin/cargo" },
				{ path = "/usr/local/cargo/bin/cargo" },
			},
			endpoints = {
				{ host = "crates.io", port = 443 },
				{ host = "index.crates.io", port = 443 },
				{ host = "static.crates.io", port = 443 },
			},
		},
		github = {
			name = "GitHub (git over HTTPS)",
			binaries = {
				{ path = "/usr/bin/git" },
				{ path = "/usr/lib/git-core/git-remote-http*" },
			},
			endpoints = {
				{ host = "github.com", port = 443 },
				{ host = "codeload.github.com", port = 443 },
				{ host = "objects.githubusercontent.com", port = 443 },
			},
		},
	},
}

M.names = util.sorted_keys(M.defs)

-- Plain Lua data -> YAML-shaped nodes at position 0:0, keys sorted so the
-- result does not depend on table iteration order.
local function to_node(v)
	local n = { line = 0, col = 0 }
	local t = type(v)
	if t == "table" then
		if v[1] ~= nil then
			n.kind, n.items = "seq", {}
			for i, item in ipairs(v) do
				n.items[i] = to_node(item)
			end
		else
			n.kind, n.entries = "map", {}
			for _, k in ipairs(util.sorted_keys(v)) do
				n.entries[#n.entries + 1] = { key = to_node(k), value = to_node(v[k]) }
			end
		end
	else
		n.kind, n.style, n.value = "scalar", "plain", tostring(v)
	end
	return n
end

local cache = {}

-- The validated value of a preset (as validate.document returns for a file).
function M.value(name)
	if cache[name] then
		return cache[name]
	end
	local validate = require "validate"
	local schema = require "schema"
	local doc = to_node(M.defs[name])
	doc.entries[#doc.entries + 1] = { key = to_node("version"), value = to_node(1) }
	local errs = {}
	local ctx = {
		error = function(_, node, msg)
			errs[#errs + 1] = msg
		end,
		warn = function() end,
	}
	local v = validate.validate(doc, schema.policy, ctx, "preset")
	if #errs > 0 then
		error("preset " .. name .. " is invalid: " .. table.concat(errs, "; "))
	end
	cache[name] = v
	return v
end

-- An ordered set: insert(key, value) keeps the first slot, a later value wins.
local function oset()
	return { order = {}, by = {} }
end

local function oset_put(s, key, value)
	if s.by[key] == nil then
		s.order[#s.order + 1] = key
	end
	s.by[key] = value
end

function M.new_acc()
	return {
		read_only = oset(),
		read_write = oset(),
		fs_binaries = oset(),
		net = oset(),
		credentials = oset(),
		routes = oset(),
		env_pass = oset(),
		env_set = oset(),
		resources = {},
		limits = {},
		host_exempt = oset(),
		extends = {},
	}
end

-- Layer one validated policy value onto the accumulator.
function M.apply(acc, v)
	local fs = v.filesystem_policy
	if fs then
		if fs.include_workdir ~= nil then
			acc.include_workdir = fs.include_workdir
		end
		for _, p in ipairs(fs.read_only or {}) do
			oset_put(acc.read_only, p.path, p)
		end
		for _, p in ipairs(fs.read_write or {}) do
			oset_put(acc.read_write, p.path, p)
		end
		for _, b in ipairs(fs.binaries or {}) do
			oset_put(acc.fs_binaries, b.path, b)
		end
	end
	if v.landlock and v.landlock.compatibility then
		acc.landlock = v.landlock.compatibility
	end
	if v.landlock and v.landlock.restrict_tcp ~= nil then
		acc.restrict_tcp = v.landlock.restrict_tcp
	end
	if v.process then
		acc.run_as_user = v.process.run_as_user or acc.run_as_user
		acc.run_as_group = v.process.run_as_group or acc.run_as_group
	end
	for _, e in ipairs(v.network_policies or {}) do
		oset_put(acc.net, e.key, e)
	end
	for _, c in ipairs(v.credentials or {}) do
		oset_put(acc.credentials, c.name, c)
	end
	local env = v.environment
	if env then
		for _, e in ipairs(env.pass or {}) do
			oset_put(acc.env_pass, e.pattern, e)
		end
		for _, e in ipairs(env.set or {}) do
			oset_put(acc.env_set, e.key, e)
		end
	end
	if v.resources then
		for _, k in ipairs({ "memory", "pids", "cpu", "tmp_size" }) do
			if v.resources[k] ~= nil then
				acc.resources[k] = v.resources[k]
			end
		end
		acc.resources_node = v.resources._node
	end
	if v.limits then
		for _, k in ipairs({ "max_connections", "idle_tunnel", "idle_http", "connect_timeout",
			"request_timeout", "max_body" }) do
			if v.limits[k] ~= nil then
				acc.limits[k] = v.limits[k]
			end
		end
		acc.limits_node = v.limits._node
	end
	if v.host then
		acc.has_host = true
		for _, e in ipairs(v.host.exempt or {}) do
			local k = e.cgroup and ("cgroup " .. e.cgroup.path) or ("binary " .. e.binary.path)
			oset_put(acc.host_exempt, k, e)
		end
	end
	local inf = v.inference
	if inf then
		for _, r in ipairs(inf.routes or {}) do
			oset_put(acc.routes, r.name, r)
		end
		if inf.binaries then
			acc.inference_binaries = inf.binaries
		end
		if inf.budget and inf.budget.max_tokens then
			acc.max_tokens = inf.budget.max_tokens
		end
		if inf.budget and inf.budget.max_usd then
			acc.max_usd = inf.budget.max_usd
		end
		local ps = inf.budget and inf.budget.per_session
		if ps and ps.max_tokens then
			acc.session_max_tokens = ps.max_tokens
		end
		if ps and ps.max_usd then
			acc.session_max_usd = ps.max_usd
		end
		if inf.budget and inf.budget.warn_at then
			acc.warn_at = inf.budget.warn_at
		end
		if inf.strict_models ~= nil then
			acc.strict_models = inf.strict_models
		end
	end
end

-- All layers of a validated file: its presets in order, then the file.
function M.layer(v)
	local acc = M.new_acc()
	for _, name in ipairs(v.extends or {}) do
		M.apply(acc, M.value(name))
		acc.extends[#acc.extends + 1] = name
	end
	M.apply(acc, v)
	return acc
end

return M
