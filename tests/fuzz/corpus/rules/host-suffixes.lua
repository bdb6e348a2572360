-- host-suffixes.lua: every endpoint host is under one of the suffixes the
-- organisation allows ("github.com" allows github.com and any name below it;
-- a wildcard host "*.x.com" or "**.x.com" is judged by x.com).
local config = {
	suffixes = {
		"github.com", "githubusercontent.com",
		"npmjs.org", "yarnpkg.com",
		"pypi.org", "pythonhosted.org",
		"crates.io",
		"anthropic.com", "openai.com",
	},
}

local function under(host, suffix)
	return host == suffix or host:sub(-(#suffix + 1)) == "." .. suffix
end

for _, e in ipairs(ward.endpoints()) do
	local host = e.host:lower():gsub("^%*%*?%.", "")
	local ok = false
	for _, s in ipairs(config.suffixes) do
		if under(host, s:lower()) then
			ok = true
			break
		end
	end
	if not ok then
		ward.error(e, ("host %s (policy %s) is not under an allowed suffix (%s)")
			:format(e.host, e.policy, table.concat(config.suffixes, ", ")))
	end
end
