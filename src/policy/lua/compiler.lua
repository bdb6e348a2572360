-- SPDX-License-Identifier: MIT
-- The compiler driver, called from compile.c: validate the YAML node tree,
-- layer the presets of `extends` under it, lower to flat tables.
-- Returns { diags = { {line, col, msg, warning} }, policy = flat | nil }.
local validate = require "validate"
local presets = require "presets"
local lower = require "lower"

local M = {}

local max_diags = 200

function M.compile(root, file)
	local diags = {}
	local errors = 0
	local ctx = {}
	local function add(node, msg, warning)
		if #diags < max_diags then
			diags[#diags + 1] = { line = node.line or 0, col = node.col or 0, msg = msg, warning = warning }
		elseif #diags == max_diags then
			diags[#diags + 1] = { line = node.line or 0, col = node.col or 0, msg = "too many problems; stopping" }
		end
	end
	function ctx.error(_, node, msg)
		errors = errors + 1
		add(node, msg, false)
	end
	function ctx.warn(_, node, msg)
		add(node, msg, true)
	end

	local v = validate.document(root, ctx)
	if errors > 0 or not v then
		return { diags = diags }
	end
	local acc = presets.layer(v)
	return { diags = diags, policy = lower.lower(acc) }
end

return M
