-- SPDX-License-Identifier: MIT
-- The merged policy -> flat tables, one per struct of src/policy/model.h,
-- with defaults made explicit. convert.c reads exactly these field names.
local prices = require "prices"

local M = {}

local function pos(v)
	local n = v._node
	return n and n.line or 0, n and n.col or 0
end

local function list(s, fn)
	local out = {}
	for _, k in ipairs(s.order) do
		out[#out + 1] = fn(s.by[k], k)
	end
	return out
end

local function paths(v)
	local out = {}
	for _, p in ipairs(v or {}) do
		out[#out + 1] = { path = p.path, line = p.line, col = p.col }
	end
	return out
end

local function binary(b)
	local line, col = pos(b)
	return { path = b.path, sha256 = b.sha256, ancestors = b.ancestors or false, line = line,
		col = col }
end

local function binaries(v)
	if not v then
		return nil
	end
	local out = {}
	for _, b in ipairs(v) do
		out[#out + 1] = binary(b)
	end
	return out
end

local function rule(r, item)
	local line, col = pos(item)
	local query = {}
	for _, e in ipairs(r.query or {}) do
		query[#query + 1] = { key = e.key, glob = e.value }
	end
	table.sort(query, function(a, b)
		return a.key < b.key
	end)
	return { method = r.method, path = r.path, query = query, line = line, col = col }
end

local function endpoint(e)
	local line, col = pos(e)
	local ports = {}
	if e.port then
		ports[1] = e.port
	else
		for _, p in ipairs(e.ports or {}) do
			ports[#ports + 1] = p
		end
		table.sort(ports)
	end
	local rules, deny = {}, {}
	for _, r in ipairs(e.rules or {}) do
		rules[#rules + 1] = rule(r.allow, r)
	end
	for _, r in ipairs(e.deny_rules or {}) do
		deny[#deny + 1] = rule(r, r)
	end
	local ips = {}
	for _, c in ipairs(e.allowed_ips or {}) do
		ips[#ips + 1] = c
	end
	return {
		host = e.host,
		ports = ports,
		protocol = e.protocol or "l4",
		enforcement = e.enforcement or "enforce",
		access = e.access or "none",
		rules = rules,
		deny_rules = deny,
		allowed_ips = ips,
		line = line,
		col = col,
	}
end

function M.lower(acc)
	local out = {
		include_workdir = acc.include_workdir or false,
		read_only = list(acc.read_only, function(p)
			return { path = p.path, line = p.line, col = p.col }
		end),
		read_write = list(acc.read_write, function(p)
			return { path = p.path, line = p.line, col = p.col }
		end),
		fs_binaries = list(acc.fs_binaries, function(b)
			local r = binary(b)
			r.read_only, r.read_write = paths(b.read_only), paths(b.read_write)
			return r
		end),
		landlock = acc.landlock or "best_effort",
		restrict_tcp = acc.restrict_tcp or false,
		run_as_user = acc.run_as_user and acc.run_as_user.name,
		uid = acc.run_as_user and acc.run_as_user.id,
		run_as_group = acc.run_as_group and acc.run_as_group.name,
		gid = acc.run_as_group and acc.run_as_group.id,
		credentials = list(acc.credentials, function(c)
			local line, col = pos(c)
			return {
				name = c.name,
				-- the sandbox variable with the placeholder; with `secret`, the
				-- value comes from the store instead of this variable
				env = c.env or c.placeholder_env or require("validate").secret_env(c.secret),
				secret = c.secret,
				host = c.host,
				port = c.port or 443,
				path = c.path or "/**",
				header = c.header or "Authorization",
				format = c.format or "Bearer {}",
				allow_http = c.scheme == "http",
				line = line,
				col = col,
			}
		end),
		routes = list(acc.routes, function(r)
			local line, col = pos(r)
			local aliases = {}
			for _, a in ipairs(r.aliases or {}) do
				aliases[#aliases + 1] = a
			end
			local hosts = {}
			for _, h in ipairs(r.hosts or {}) do
				hosts[#hosts + 1] = h
			end
			local price, source = r.price, "route"
			if price then
				price = { price.input, price.output, price.cached_input or price.input }
			else
				price, source = prices.lookup(r.provider, r.model), prices.version
			end
			return {
				name = r.name,
				provider = r.provider,
				model = r.model,
				base_url = r.base_url,
				api_key_env = r.api_key_env,
				api_key_secret = r.api_key_secret,
				aliases = aliases,
				hosts = hosts,
				price_known = price ~= nil,
				price_input = price and price[1] or 0,
				price_output = price and price[2] or 0,
				price_cached = price and price[3] or 0,
				price_source = price and source or nil,
				line = line,
				col = col,
			}
		end),
		inference_binaries = binaries(acc.inference_binaries),
		env_pass = list(acc.env_pass, function(e)
			return { pattern = e.pattern, glob = e.glob, line = e.line, col = e.col }
		end),
		resources = {
			memory = acc.resources.memory or 0,
			pids = acc.resources.pids or 0,
			cpu_milli = acc.resources.cpu or 0,
			tmp_size = acc.resources.tmp_size or 0,
			line = acc.resources_node and acc.resources_node.line or 0,
			col = acc.resources_node and acc.resources_node.col or 0,
		},
		limits = {
			max_connections = acc.limits.max_connections or 0,
			idle_tunnel_ms = acc.limits.idle_tunnel or 0,
			idle_http_ms = acc.limits.idle_http or 0,
			connect_timeout_ms = acc.limits.connect_timeout or 0,
			request_timeout_ms = acc.limits.request_timeout or 0,
			max_body = acc.limits.max_body or 0,
			line = acc.limits_node and acc.limits_node.line or 0,
			col = acc.limits_node and acc.limits_node.col or 0,
		},
		has_host = acc.has_host or false,
		host_exempt = list(acc.host_exempt, function(e)
			local line, col = pos(e)
			return { cgroup = e.cgroup and e.cgroup.path, binary = e.binary and e.binary.path,
				line = line, col = col }
		end),
		max_tokens = acc.max_tokens or 0,
		max_usd = acc.max_usd or 0,
		session_max_tokens = acc.session_max_tokens or 0,
		session_max_usd = acc.session_max_usd or 0,
		warn_at = acc.warn_at or {},
		strict_models = acc.strict_models or false,
		extends = acc.extends,
	}
	local names = {}
	for _, k in ipairs(acc.env_set.order) do
		names[#names + 1] = k
	end
	table.sort(names)
	out.env_set = {}
	for _, k in ipairs(names) do
		local e = acc.env_set.by[k]
		out.env_set[#out.env_set + 1] = { name = k, value = e.value, line = e.key_node.line, col = e.key_node.col }
	end
	local keys = {}
	for _, k in ipairs(acc.net.order) do
		keys[#keys + 1] = k
	end
	table.sort(keys)
	out.net = {}
	for _, k in ipairs(keys) do
		local e = acc.net.by[k]
		local v = e.value
		local eps, socks = {}, {}
		for _, ep in ipairs(v.endpoints or {}) do
			if ep.unix then
				socks[#socks + 1] = { path = ep.unix.path, line = ep.unix.line, col = ep.unix.col }
			elseif ep.host then
				eps[#eps + 1] = endpoint(ep)
			end
		end
		out.net[#out.net + 1] = {
			key = k,
			name = v.name or k,
			line = e.key_node.line,
			col = e.key_node.col,
			binaries = binaries(v.binaries) or {},
			endpoints = eps,
			unix_sockets = socks,
		}
	end
	return out
end

return M
