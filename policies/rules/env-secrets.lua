-- env-secrets.lua: no secret-looking names in environment.pass (the
-- sandbox would read the value; use `credentials:` so it sees only a
-- placeholder). ward's own rule (ward.secret_like: KEY, TOKEN, SECRET,
-- PASSWORD, AWS_*, ...) plus the organisation's words below.
local config = {
	words = { "DSN", "SIGNING", "WEBHOOK" },
	allow = {}, -- exact names that may pass anyway
}

local allowed = {}
for _, n in ipairs(config.allow) do
	allowed[n] = true
end

local function secretish(name)
	if ward.secret_like(name) then
		return true
	end
	local up = name:upper()
	for _, w in ipairs(config.words) do
		if up:find(w:upper(), 1, true) then
			return true
		end
	end
	return false
end

for _, e in ipairs(ward.env_pass()) do
	local bare = e.name:gsub("%*", "")
	if not allowed[e.name] and secretish(bare) then
		ward.error(e, ("environment.pass %s %s a secret-looking name; use credentials:")
			:format(e.name, e.glob and "passes" or "is"))
	end
end
