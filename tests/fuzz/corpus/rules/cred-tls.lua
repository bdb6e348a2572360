-- cred-tls.lua: credentials are injected only into TLS connections: no
-- `scheme: http`, and not bound to a port that speaks plain HTTP.
local config = {
	plain_ports = { 80, 8080, 8000 },
}

local plain = {}
for _, p in ipairs(config.plain_ports) do
	plain[p] = true
end

for _, c in ipairs(ward.credentials()) do
	if c.scheme ~= "https" then
		ward.error(c, ("credential %s has scheme: %s: the secret would cross the network in clear text")
			:format(c.name, c.scheme))
	elseif plain[c.port] then
		ward.error(c, ("credential %s is bound to %s:%d, a plain-HTTP port")
			:format(c.name, c.host, c.port))
	end
end
