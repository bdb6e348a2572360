-- SPDX-License-Identifier: MIT
-- Small helpers shared by the compiler passes.
local M = {}

-- Levenshtein distance, bounded: inputs are short key names.
function M.distance(a, b)
	local la, lb = #a, #b
	if la > 64 or lb > 64 then
		return math.max(la, lb)
	end
	local prev, cur = {}, {}
	for j = 0, lb do
		prev[j] = j
	end
	for i = 1, la do
		cur[0] = i
		local ca = a:byte(i)
		for j = 1, lb do
			local cost = (ca == b:byte(j)) and 0 or 1
			cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
		end
		prev, cur = cur, prev
	end
	return prev[lb]
end

-- " (did you mean 'x'?)" for the closest candidate, or "".
function M.did_you_mean(word, candidates)
	local best, bestd
	local lw = word:lower()
	for _, c in ipairs(candidates) do
		local d = M.distance(lw, c:lower())
		if not bestd or d < bestd or (d == bestd and c < best) then
			best, bestd = c, d
		end
	end
	if best and bestd <= (#word >= 4 and math.min(3, math.max(2, #word // 3)) or 1) then
		return " (did you mean '" .. best .. "'?)"
	end
	return ""
end

function M.sorted_keys(t)
	local keys = {}
	for k in pairs(t) do
		keys[#keys + 1] = k
	end
	table.sort(keys)
	return keys
end

-- Quote a user string for a message, shortened so a hostile value cannot
-- flood the terminal.
function M.q(s)
	s = tostring(s)
	if #s > 80 then
		s = s:sub(1, 77) .. "..."
	end
	s = s:gsub("[%c]", "?")
	return "'" .. s .. "'"
end

return M
