-- rest-enforced.lua: every `protocol: rest` endpoint is enforced, unless it
-- is listed below as a trial (`enforcement: audit` only logs what it would
-- deny: fine while trying an endpoint out, not as a standing grant).
local config = {
	-- "HOST" or "HOST:PORT" of endpoints that may stay in audit for now
	trials = {},
}

local trial = {}
for _, t in ipairs(config.trials) do
	trial[t] = true
end

for _, e in ipairs(ward.endpoints()) do
	local hp = e.host .. ":" .. tostring(e.port)
	if e.protocol == "rest" and e.enforcement ~= "enforce"
		and not trial[e.host] and not trial[hp] then
		ward.error(e, ("rest endpoint %s (policy %s) is in enforcement: %s; "
			.. "enforce it, or list it in config.trials of %s")
			:format(hp, e.policy, e.enforcement, ward.pack))
	end
end
