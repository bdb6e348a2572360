-- SPDX-License-Identifier: MIT
-- The price table: USD per million tokens per provider and model, for
-- inference.budget.max_usd and the cost in `ward logs`. Its version is in
-- every row that uses it (prices=VERSION). A route's `price:` overrides it.
-- Update by adding a new version: prices change, rows keep the one they used.
local M = {}

M.version = "2026-11-30"

-- [provider][model] = { input, output, cached_input }
M.table = {
	anthropic = {
		["claude-opus-4-5"] = { 5.00, 25.00, 0.50 },
		["claude-opus-4-1"] = { 15.00, 75.00, 1.50 },
		["claude-opus-4"] = { 15.00, 75.00, 1.50 },
		["claude-sonnet-4-6"] = { 3.00, 15.00, 0.30 },
		["claude-sonnet-4-5"] = { 3.00, 15.00, 0.30 },
		["claude-sonnet-4"] = { 3.00, 15.00, 0.30 },
		["claude-haiku-4-5"] = { 1.00, 5.00, 0.10 },
		["claude-3-5-haiku"] = { 0.80, 4.00, 0.08 },
	},
	openai = {
		["gpt-5.1"] = { 1.25, 10.00, 0.125 },
		["gpt-5.1-codex"] = { 1.25, 10.00, 0.125 },
		["gpt-5"] = { 1.25, 10.00, 0.125 },
		["gpt-5-codex"] = { 1.25, 10.00, 0.125 },
		["gpt-5-mini"] = { 0.25, 2.00, 0.025 },
		["gpt-5-nano"] = { 0.05, 0.40, 0.005 },
		["gpt-4.1"] = { 2.00, 8.00, 0.50 },
		["gpt-4.1-mini"] = { 0.40, 1.60, 0.10 },
		["gpt-4o"] = { 2.50, 10.00, 1.25 },
		["gpt-4o-mini"] = { 0.15, 0.60, 0.075 },
		["o3"] = { 2.00, 8.00, 0.50 },
		["o4-mini"] = { 1.10, 4.40, 0.275 },
	},
	nvidia = {},
}

-- The entry for a model id, also when the provider appends a date
-- ("claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06").
function M.lookup(provider, model)
	local t = M.table[provider]
	if not t then
		return nil
	end
	return t[model] or t[model:gsub("%-%d%d%d%d%-?%d%d%-?%d%d$", "")]
end

return M
