-- SPDX-License-Identifier: MIT
-- One validator that walks schema.lua over the YAML node tree and returns the
-- checked value tree. Every problem is reported through ctx with the node's
-- position; the walk goes on after an error so that all of them are seen.
--
-- Values: a map becomes a table of its fields plus _node (the YAML node),
-- _key (field -> key node) and _at (field -> value node); a list becomes an
-- array plus _node; a dict becomes an ordered array of {key, key_node, value};
-- fs paths become {path, line, col}; other scalars become Lua values.
local util = require "util"
local native = require "native"

local M = {}
local q = util.q

local function is_null(n)
	return n.kind == "scalar" and n.style == "plain"
		and (n.value == "" or n.value == "~" or n.value == "null" or n.value == "Null" or n.value == "NULL")
end

local function describe(n)
	if n.kind == "map" then
		return "a mapping"
	elseif n.kind == "seq" then
		return "a list"
	elseif is_null(n) then
		return "nothing"
	end
	return q(n.value)
end

local scalar = {}
M.scalar = scalar

local function plain_int(n)
	if n.style ~= "plain" or not n.value:match("^[0-9]+$") or #n.value > 18 then
		return nil
	end
	return math.tointeger(tonumber(n.value))
end

function scalar.string(n, d, ctx, name)
	if d.nonempty and n.value == "" then
		ctx:error(n, q(name) .. " must not be empty")
		return nil
	end
	if n.value:find("\0", 1, true) then
		ctx:error(n, q(name) .. " contains a NUL byte")
		return nil
	end
	if d.check == "format" and not n.value:find("{}", 1, true) then
		ctx:error(n, "format " .. q(n.value) .. " must contain '{}' where the secret goes")
		return nil
	end
	return n.value
end

function scalar.bool(n, d, ctx, name)
	local v = n.style == "plain" and n.value
	if v == "true" or v == "True" or v == "TRUE" then
		return true
	elseif v == "false" or v == "False" or v == "FALSE" then
		return false
	end
	ctx:error(n, q(name) .. " must be true or false, got " .. describe(n))
	return nil
end

function scalar.int(n, d, ctx, name)
	local v = plain_int(n)
	if not v then
		ctx:error(n, q(name) .. " must be an integer, got " .. describe(n))
		return nil
	end
	if (d.min and v < d.min) or (d.max and v > d.max) then
		ctx:error(n, q(name) .. " " .. n.value .. " out of range (" .. d.min .. ".." .. d.max .. ")")
		return nil
	end
	return v
end

function scalar.version(n, d, ctx, name)
	if plain_int(n) == 1 then
		return 1
	end
	ctx:error(n, "unsupported version " .. describe(n) .. " (ward supports version 1)")
	return nil
end

function scalar.port(n, d, ctx, name)
	local v = plain_int(n)
	if not v and n.style == "plain" and n.value:match("^%-[0-9]+$") then
		v = -1
	end
	if not v then
		ctx:error(n, "port must be an integer, got " .. describe(n))
		return nil
	end
	if v < 1 or v > 65535 then
		ctx:error(n, "port " .. n.value .. " out of range (1..65535)")
		return nil
	end
	return v
end

function scalar.enum(n, d, ctx, name)
	local v = n.value
	for _, ok in ipairs(d.values) do
		if v == ok then
			return v
		end
	end
	if d.unsupported and d.unsupported[v] then
		ctx:error(n, name .. " " .. q(v) .. " is not supported")
		return nil
	end
	ctx:error(n, "invalid " .. name .. " " .. q(v) .. " (expected " .. table.concat(d.values, ", ") .. ")"
		.. util.did_you_mean(v, d.values))
	return nil
end

-- Path syntax shared by filesystem paths and binary globs.
local function check_path(n, ctx, name, allow_glob)
	local s = n.value
	if s:find("\0", 1, true) then
		ctx:error(n, "path contains a NUL byte")
		return nil
	end
	if s:sub(1, 1) == "~" then
		ctx:error(n, "path " .. q(s) .. " must be absolute ('~' is not expanded: write the home directory out)")
		return nil
	end
	if s:sub(1, 1) ~= "/" then
		ctx:error(n, "path " .. q(s) .. " must be absolute")
		return nil
	end
	local parts = {}
	for comp in s:gmatch("[^/]+") do
		if comp == ".." or comp == "." then
			ctx:error(n, "path " .. q(s) .. " must not contain '" .. comp .. "' components")
			return nil
		end
		parts[#parts + 1] = comp
	end
	if allow_glob then
		if s:find("[%?%[%]{}]") then
			ctx:error(n, "path " .. q(s) .. ": only '*' and '**' wildcards are supported")
			return nil
		end
	elseif s:find("[%*%?%[]") then
		ctx:error(n, "path " .. q(s) .. ": wildcards are not allowed in filesystem paths")
		return nil
	end
	return "/" .. table.concat(parts, "/")
end

function scalar.fs_path(n, d, ctx, name)
	local p = check_path(n, ctx, name, false)
	if not p then
		return nil
	end
	if d.rw and p == "/" then
		ctx:error(n, "'/' cannot be read-write")
		return nil
	end
	return { path = p, line = n.line, col = n.col }
end

-- sun_path holds 108 bytes with the terminating NUL.
function scalar.unix_path(n, d, ctx, name)
	local p = check_path(n, ctx, name, false)
	if not p then
		return nil
	end
	if p == "/" then
		ctx:error(n, "unix socket path " .. q(n.value) .. " names no socket")
		return nil
	end
	if #p > 107 then
		ctx:error(n, "unix socket path " .. q(n.value) .. " is longer than 107 bytes (sun_path)")
		return nil
	end
	return { path = p, line = n.line, col = n.col }
end

-- environment.pass: a name, or a glob with '*'.
function scalar.env_pattern(n, d, ctx, name)
	local s = n.value
	if #s > 128 or not s:match("^[A-Za-z_*][A-Za-z0-9_*]*$") then
		ctx:error(n, "invalid environment variable name or glob " .. q(s)
			.. " (letters, digits, '_' and '*')")
		return nil
	end
	if not s:find("[^*]") then
		ctx:error(n, q(s) .. " would pass every variable; name them, or use a prefix glob such as 'MYAPP_*'")
		return nil
	end
	local glob = s:find("*", 1, true) ~= nil
	if not glob and native.secret_like(s) then
		ctx:warn(n, q(s) .. " looks like a secret and will be readable inside the sandbox; "
			.. "prefer 'credentials:' (the sandbox sees only a placeholder, the proxy injects the value)")
	elseif glob and native.secret_like((s:gsub("%*", ""))) then
		ctx:warn(n, "glob " .. q(s) .. " never passes secret-looking names; list each one by exact name")
	end
	return { pattern = s, glob = glob, line = n.line, col = n.col }
end

-- A size in bytes: an integer, or one with a unit K, M, G, T (powers of 1024;
-- "Ki", "KiB" and "KB" are read the same way).
local units = { [""] = 1, K = 1 << 10, M = 1 << 20, G = 1 << 30, T = 1 << 40 }

function scalar.size(n, d, ctx, name)
	local num, unit = n.value:match("^([0-9]+)%s*([A-Za-z]*)$")
	local mult = unit and units[(unit:upper():gsub("I?B$", ""))]
	if unit and unit:upper() == "B" then
		mult = 1
	end
	if not num or #num > 15 then
		ctx:error(n, q(name) .. " must be a size such as 512M or 4G, got " .. describe(n))
		return nil
	end
	if not mult then
		ctx:error(n, "unknown unit " .. q(unit) .. " in " .. q(name) .. " " .. q(n.value)
			.. " (expected K, M, G or T)")
		return nil
	end
	local v = math.tointeger(tonumber(num)) * mult
	if v < d.min then
		ctx:error(n, q(name) .. " " .. n.value .. " is too small (at least " .. (d.min >> 20) .. "M)")
		return nil
	end
	if v >= 1 << 60 then
		ctx:error(n, q(name) .. " " .. n.value .. " out of range")
		return nil
	end
	return v
end

-- A duration: an integer with a unit ms, s, m or h -> milliseconds, at most
-- a day (the proxy keeps them in 32 bits).
local duration_units = { ms = 1, s = 1000, m = 60000, h = 3600000 }

function scalar.duration(n, d, ctx, name)
	local num, unit = (n.style == "plain" and n.value or ""):match("^([0-9]+)%s*([a-z]*)$")
	if not num or #num > 9 then
		ctx:error(n, q(name) .. " must be a duration such as 30s or 5m, got " .. describe(n))
		return nil
	end
	if not duration_units[unit] then
		ctx:error(n, (unit == "" and "missing unit" or "unknown unit " .. q(unit)) .. " in "
			.. q(name) .. " " .. q(n.value) .. " (expected ms, s, m or h)")
		return nil
	end
	local v = math.tointeger(tonumber(num)) * duration_units[unit]
	if v < d.min or v > 86400000 then
		ctx:error(n, q(name) .. " " .. n.value .. " out of range (" .. d.min .. "ms..24h)")
		return nil
	end
	return v
end

-- CPU cores, e.g. 2 or 0.5 -> thousandths of a core.
function scalar.cores(n, d, ctx, name)
	local s = n.style == "plain" and n.value
	local int, frac = (s or ""):match("^([0-9]+)%.?([0-9]*)$")
	if not int or #int > 6 or #frac > 3 then
		ctx:error(n, q(name) .. " must be a number of cores such as 2 or 0.5, got " .. describe(n))
		return nil
	end
	local milli = math.tointeger(tonumber(int)) * 1000 + math.tointeger(tonumber((frac .. "000"):sub(1, 3)))
	if milli < 10 then
		ctx:error(n, q(name) .. " " .. n.value .. " is too small (at least 0.01)")
		return nil
	end
	return milli
end

-- Money: a plain decimal number of US dollars (at most 6 decimals).
function scalar.usd(n, d, ctx, name)
	local s = n.style == "plain" and n.value or ""
	if s:match("^%-[0-9]") then
		ctx:error(n, q(name) .. " " .. n.value .. " must not be negative")
		return nil
	end
	if not s:match("^[0-9]+%.?[0-9]*$") or #s > 20 then
		ctx:error(n, q(name) .. " must be an amount of US dollars such as 5 or 0.25, got " .. describe(n))
		return nil
	end
	local v = tonumber(s)
	if d.positive and v <= 0 then
		ctx:error(n, q(name) .. " must be more than 0 (leave it out for no budget)")
		return nil
	end
	return v
end

-- A share of a budget, strictly between 0 and 1.
function scalar.fraction(n, d, ctx, name)
	local s = n.style == "plain" and n.value or ""
	local v = s:match("^[0-9]*%.?[0-9]+$") and tonumber(s)
	if not v or v <= 0 or v >= 1 then
		ctx:error(n, q(name) .. " entries must be fractions between 0 and 1 (e.g. 0.8), got " .. describe(n))
		return nil
	end
	return v
end

function scalar.glob_path(n, d, ctx, name)
	return check_path(n, ctx, name, true)
end

function scalar.sha256(n, d, ctx, name)
	local s = n.value
	if #s ~= 64 or s:find("[^0-9a-fA-F]") then
		ctx:error(n, "sha256 " .. q(s) .. " must be 64 hexadecimal digits")
		return nil
	end
	return s:lower()
end

function scalar.url_path(n, d, ctx, name)
	local s = n.value
	if s:sub(1, 1) ~= "/" then
		ctx:error(n, "path " .. q(s) .. " must start with '/'")
		return nil
	end
	if s:find("[%s%c]") then
		ctx:error(n, "path " .. q(s) .. " must not contain whitespace or control characters")
		return nil
	end
	return s
end

local methods = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE" }
local method_set = {}
for _, m in ipairs(methods) do
	method_set[m] = true
end

function scalar.method(n, d, ctx, name)
	local s = n.value
	if s == "*" or method_set[s] then
		return s
	end
	if method_set[s:upper()] then
		ctx:error(n, "invalid HTTP method " .. q(s) .. " (did you mean '" .. s:upper() .. "'?)")
	else
		ctx:error(n, "invalid HTTP method " .. q(s) .. " (expected " .. table.concat(methods, ", ")
			.. " or '*')" .. util.did_you_mean(s:upper(), methods))
	end
	return nil
end

function scalar.host(n, d, ctx, name)
	local h = n.value:lower()
	if h == "*" or h == "**" then
		ctx:error(n, "host " .. q(n.value) .. " matches every host; name a domain (e.g. '*.example.com')")
		return nil
	end
	if native.ip(h) then
		return h
	end
	if #h > 253 then
		ctx:error(n, "malformed host " .. q(n.value) .. ": longer than 253 characters")
		return nil
	end
	local labels = {}
	for label in (h .. "."):gmatch("([^.]*)%.") do
		labels[#labels + 1] = label
	end
	for i, label in ipairs(labels) do
		if label == "" then
			ctx:error(n, "malformed host " .. q(n.value) .. ": empty label")
			return nil
		end
		if label == "*" or label == "**" then
			if i ~= 1 then
				ctx:error(n, "malformed host " .. q(n.value) .. ": a wildcard must be the first label")
				return nil
			end
			if d.exact then
				ctx:error(n, "host " .. q(n.value) .. " must be exact here (no wildcards)")
				return nil
			end
			if #labels < 3 then
				ctx:error(n, "host " .. q(n.value) .. ": a wildcard directly on a top-level domain or "
					.. "single label matches too much; name a domain (e.g. '*.example.com')")
				return nil
			end
		elseif label:find("*", 1, true) then
			ctx:error(n, "malformed host " .. q(n.value) .. ": '*' must be a whole label ('*.x.com' or '**.x.com')")
			return nil
		elseif #label > 63 or not label:match("^[a-z0-9_]$") and not label:match("^[a-z0-9_][a-z0-9_%-]*[a-z0-9_]$") then
			ctx:error(n, "malformed host " .. q(n.value) .. ": invalid label " .. q(label))
			return nil
		end
	end
	if #labels > 1 and labels[#labels]:match("^[0-9]+$") then
		ctx:error(n, "malformed host " .. q(n.value) .. ": not a domain name or an IP address")
		return nil
	end
	return h
end

function scalar.cidr(n, d, ctx, name)
	local c, why = native.cidr(n.value)
	if not c then
		ctx:error(n, "invalid CIDR " .. q(n.value) .. ": " .. why)
		return nil
	end
	return c
end

-- A scalar that must match a pattern and, with max, be at most max bytes long.
local function matching(pattern, max, what, hint)
	return function(n, d, ctx, name)
		local s = n.value
		if (max and #s > max) or not s:match(pattern) then
			ctx:error(n, "invalid " .. what .. " " .. q(s) .. (hint and " (" .. hint .. ")" or ""))
			return nil
		end
		return s
	end
end

scalar.policy_key = matching("^[A-Za-z0-9][A-Za-z0-9_.%-]*$", 64, "network policy key",
	"letters, digits, '_', '.', '-'; at most 64")
scalar.env_name = matching("^[A-Za-z_][A-Za-z0-9_]*$", 128, "environment variable name")
-- policy/secrets.h: ward_secret_name_valid
function scalar.secret_name(n, d, ctx, name)
	local s = n.value
	if #s > 128 or not s:match("^[A-Za-z0-9_.%-]+$") or s == "." or s == ".." then
		ctx:error(n, "invalid secret name " .. q(s) .. " (1 to 128 of A-Z a-z 0-9 _ . -, not '.' or '..')")
		return nil
	end
	return s
end
scalar.header = matching("^[!#$%%&'*+.^_`|~0-9A-Za-z%-]+$", nil, "HTTP header name")
scalar.url = matching("^https?://[^%s/]+[^%s]*$", nil, "URL", "expected http:// or https://")

function scalar.preset(n, d, ctx, name)
	local presets = require "presets"
	if presets.defs[n.value] then
		return n.value
	end
	if #n.value > 64 then
		ctx:error(n, "unknown preset " .. q(n.value))
		return nil
	end
	ctx:error(n, "unknown preset " .. q(n.value) .. " (known: " .. table.concat(presets.names, ", ") .. ")"
		.. util.did_you_mean(n.value, presets.names))
	return nil
end

function scalar.run_as(n, d, ctx, name)
	local v = plain_int(n) or (n.value:match("^[0-9]+$") and math.tointeger(tonumber(n.value)))
	if v then
		if v == 0 then
			ctx:error(n, name .. " must not be 0 (root); use an unprivileged " .. d.what)
			return nil
		end
		if v > 4294967294 then
			ctx:error(n, name .. " " .. n.value .. " out of range")
			return nil
		end
		return { id = v }
	end
	local s = n.value
	if s == "root" then
		ctx:error(n, name .. " must not be root; use an unprivileged " .. d.what)
		return nil
	end
	if #s > 32 or not s:match("^[a-z_][a-z0-9_%-]*%$?$") then
		ctx:error(n, "invalid " .. d.what .. " name " .. q(s))
		return nil
	end
	return { name = s }
end

-- Cross-field rules on maps, run after the fields are checked.
local checks = {}

local host_only = { "port", "ports", "protocol", "tls", "enforcement", "access", "rules",
	"deny_rules", "allowed_ips" }

function checks.endpoint(v, ctx)
	local node = v._node
	if v._key.unix then
		if v._key.host then
			ctx:error(v._key.host, "'host' and 'unix' are mutually exclusive (one endpoint each)")
		end
		for _, k in ipairs(host_only) do
			if v._key[k] then
				ctx:error(v._key[k], q(k) .. " does not apply to a unix socket endpoint")
			end
		end
		return
	end
	if not v._key.host then
		ctx:error(node, "missing required key 'host' in endpoint (or 'unix' for a unix socket)")
		return
	end
	if v.port and v.ports then
		ctx:error(v._key.ports, "'port' and 'ports' are mutually exclusive")
	elseif not v.port and not v.ports and not v._at.port and not v._at.ports then
		ctx:error(node, "endpoint needs 'port' or 'ports'")
	end
	if v.protocol ~= "rest" then
		local what = v.protocol and ("protocol: " .. v.protocol) or "no protocol: L4 only"
		for _, k in ipairs({ "access", "rules", "deny_rules" }) do
			if v._key[k] and v._at[k] and not (v._at.protocol and not v.protocol) then
				ctx:error(v._key[k], q(k) .. " needs protocol: rest (this endpoint has " .. what .. ")")
			end
		end
	else
		if v.access and v.rules then
			ctx:error(v._key.rules, "'access' and 'rules' are mutually exclusive")
		elseif not v._at.access and not v._at.rules then
			ctx:warn(node, "protocol: rest with no 'access' or 'rules' denies every request")
		end
	end
end

function checks.ascending(v, ctx)
	if #v > 8 then
		ctx:error(v._node, "'warn_at' has more than 8 thresholds")
		return
	end
	for i = 2, #v do
		if v[i] <= v[i - 1] then
			ctx:error(v._node.items[i] or v._node, "'warn_at' must be in ascending order without repeats")
			return
		end
	end
end

-- A USD budget needs a price for every route: from the route or the table.
function checks.inference(v, ctx)
	local budget = v.budget
	if not (budget and (budget.max_usd or (budget.per_session and budget.per_session.max_usd))) then
		return
	end
	local prices = require "prices"
	for _, r in ipairs(v.routes or {}) do
		if type(r) == "table" and r.provider and r.model and not r.price
			and not prices.lookup(r.provider, r.model) then
			ctx:error(r._at.model, "no price for " .. r.provider .. " model " .. q(r.model)
				.. " in ward's price table " .. prices.version
				.. " (inference.budget.max_usd needs one): add price: { input: USD, output: USD } "
				.. "(per million tokens) to this route")
		end
	end
end

-- The sandbox variable of a credential from the store: placeholder_env, else
-- the secret's name in upper case with other bytes as '_' (gh-token: GH_TOKEN).
function M.secret_env(secret)
	local e = secret:upper():gsub("[^A-Z0-9_]", "_")
	if e:match("^[0-9]") then
		e = "_" .. e
	end
	return e
end

-- One source per value: `env` (ward's environment) or `secret` (the store).
local function one_source(v, ctx, a, b, what, where)
	if v._key[a] and v._key[b] then
		ctx:error(v._key[b], q(a) .. " and " .. q(b) .. " are mutually exclusive (the " .. what
			.. " comes from one of them)")
	elseif not v._key[a] and not v._key[b] then
		ctx:error(v._node, "missing " .. q(a) .. " or " .. q(b) .. " in " .. where
			.. " (where the " .. what .. " comes from)")
	end
end

function checks.route(v, ctx)
	one_source(v, ctx, "api_key_env", "api_key_secret", "key", "inference route")
end

function checks.credential(v, ctx)
	one_source(v, ctx, "env", "secret", "secret value", "credential")
	if v._key.placeholder_env and not v._key.secret then
		ctx:error(v._key.placeholder_env, "'placeholder_env' goes with 'secret' (with 'env', "
			.. "the placeholder is in that variable)")
	end
	if v.scheme == "http" then
		ctx:warn(v._at.scheme, "scheme: http sends the secret of " .. q(v.name or "?")
			.. " in clear text to " .. q(v.host or "?") .. "; use it only for a trusted network")
	end
end

function checks.binary(v, ctx)
	if v._key.path and v._key.sha256 then
		ctx:error(v._key.sha256, "'path' and 'sha256' are mutually exclusive (one binary each)")
	elseif not v._key.path and not v._key.sha256 then
		ctx:error(v._node, "missing required key 'path' (or 'sha256') in binary")
	else
		local k = v._key.path and "path" or "sha256"
		if not v._at[k] then
			ctx:error(v._key[k], q(k) .. " needs a value")
		end
	end
end

-- host.exempt: one cgroup or one binary per item
function checks.exempt(v, ctx)
	if v._key.cgroup and v._key.binary then
		ctx:error(v._key.binary, "'cgroup' and 'binary' are mutually exclusive (one exemption each)")
	elseif not v._key.cgroup and not v._key.binary then
		ctx:error(v._node, "missing 'cgroup' or 'binary' in exemption")
	elseif v._key.cgroup and v.cgroup and v.cgroup.path == "/" then
		ctx:error(v._at.cgroup, "exempting the cgroup root '/' exempts everything: leave host mode off instead")
	end
end

function checks.net_policy(v, ctx)
	if not v._at.binaries then
		ctx:warn(v._node, "network policy has no 'binaries': no program may use it")
	end
end

-- Unique names, and each sandbox variable holds one placeholder: credentials
-- that share a variable share its source.
function checks.credentials(v, ctx)
	checks.unique_names(v, ctx)
	local seen = {}
	for _, c in ipairs(v) do
		if type(c) == "table" and (c.env or c.secret) then
			local var = c.env or c.placeholder_env or M.secret_env(c.secret)
			local src = c.env and ("env " .. c.env) or ("secret " .. c.secret)
			local at = c._at.placeholder_env or c._at.secret or c._at.env
			local first = seen[var]
			if first and first.src ~= src then
				ctx:error(at, "sandbox variable " .. var .. " would hold the placeholders of "
					.. first.src .. " and " .. src .. " (first at " .. first.at.line .. ":"
					.. first.at.col .. "); set 'placeholder_env'")
			elseif not first then
				seen[var] = { src = src, at = at }
			end
		end
	end
end

function checks.unique_names(v, ctx)
	local seen = {}
	for _, item in ipairs(v) do
		if type(item) == "table" and item.name then
			local first = seen[item.name]
			if first then
				ctx:error(item._at.name, "duplicate name " .. q(item.name) .. " (first at "
					.. first.line .. ":" .. first.col .. ")")
			else
				seen[item.name] = item._at.name
			end
		end
	end
end

function checks.policy(v, ctx)
	local ext = v._at.extends
	if not ext or ext.kind ~= "seq" then
		return
	end
	local seen = {}
	for _, item in ipairs(ext.items) do
		if item.kind == "scalar" then
			local first = seen[item.value]
			if first then
				ctx:error(item, "preset " .. q(item.value) .. " is listed twice in 'extends' (first at "
					.. first.line .. ":" .. first.col .. ")")
			else
				seen[item.value] = item
			end
		end
	end
end

local validate

local function check_map_keys(n, ctx, where, on_entry)
	local seen = {}
	for _, e in ipairs(n.entries) do
		local k = e.key
		if k.kind ~= "scalar" then
			ctx:error(k, "keys must be scalars, got " .. describe(k))
		elseif seen[k.value] then
			local f = seen[k.value]
			ctx:error(k, "duplicate key " .. q(k.value) .. " (first at " .. f.line .. ":" .. f.col .. ")")
		else
			seen[k.value] = k
			on_entry(k, e.value)
		end
	end
end

local function validate_map(n, d, ctx, name)
	local out = { _node = n, _key = {}, _at = {} }
	local names
	check_map_keys(n, ctx, name, function(k, val)
		local f = d.fields[k.value]
		if not f then
			names = names or util.sorted_keys(d.fields)
			ctx:error(k, "unknown key " .. q(k.value) .. " in " .. d.what .. util.did_you_mean(k.value, names))
			return
		end
		out._key[k.value] = k
		if f.unsupported_key then
			ctx:error(k, f.unsupported_key .. " by ward")
			return
		end
		if is_null(val) then
			return
		end
		out._at[k.value] = val
		out[k.value] = validate(val, f, ctx, k.value)
	end)
	for _, r in ipairs(d.required or {}) do
		if not out._key[r] then
			ctx:error(n, "missing required key " .. q(r) .. " in " .. d.what)
		elseif not out._at[r] then
			ctx:error(out._key[r], q(r) .. " needs a value")
		end
	end
	if d.check then
		checks[d.check](out, ctx)
	end
	return out
end

local function validate_dict(n, d, ctx, name)
	local out = { _node = n }
	check_map_keys(n, ctx, name, function(k, val)
		local key = validate(k, d.key, ctx, name)
		local value
		if is_null(val) then
			ctx:error(val, q(k.value) .. " needs a value")
		else
			value = validate(val, d.value, ctx, k.value)
		end
		if key ~= nil and value ~= nil then
			out[#out + 1] = { key = key, key_node = k, value = value }
		end
	end)
	return out
end

local function validate_list(n, d, ctx, name)
	local out = { _node = n }
	if d.nonempty and #n.items == 0 then
		ctx:error(n, q(name) .. " must not be empty")
	end
	for _, item in ipairs(n.items) do
		if is_null(item) then
			ctx:error(item, "empty entry in " .. q(name))
		else
			local v = validate(item, d.item, ctx, name)
			if v ~= nil then
				out[#out + 1] = v
			end
		end
	end
	if d.check then
		checks[d.check](out, ctx)
	end
	return out
end

local want = { map = "a mapping", dict = "a mapping", list = "a list" }

validate = function(n, d, ctx, name)
	if d.type == "map" or d.type == "dict" then
		if n.kind ~= "map" then
			ctx:error(n, q(name) .. " must be " .. want[d.type] .. ", got " .. describe(n))
			return nil
		end
		return d.type == "map" and validate_map(n, d, ctx, name) or validate_dict(n, d, ctx, name)
	elseif d.type == "list" then
		if n.kind ~= "seq" then
			ctx:error(n, q(name) .. " must be a list, got " .. describe(n))
			return nil
		end
		return validate_list(n, d, ctx, name)
	end
	if n.kind ~= "scalar" then
		ctx:error(n, q(name) .. " must be a single value, got " .. describe(n))
		return nil
	end
	local fn = scalar[d.type]
	if not fn then
		error("schema: unknown type " .. tostring(d.type))
	end
	return fn(n, d, ctx, name)
end

M.validate = validate
M.is_null = is_null

-- Validate a whole document (the root node, or nil when empty).
function M.document(root, ctx)
	local schema = require "schema"
	if not root then
		ctx:error({ line = 1, col = 1 }, "empty policy (expected a mapping starting with 'version: 1')")
		return nil
	end
	if root.kind ~= "map" then
		ctx:error(root, "a policy must be a mapping, got " .. describe(root))
		return nil
	end
	return validate(root, schema.policy, ctx, "policy")
end

return M
