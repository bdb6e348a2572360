-- fs-workdir.lua: nothing is writable outside the working directory and
-- /tmp. The working directory is not a path in the policy
-- (filesystem_policy.include_workdir): every read-write path must be
-- one of config.writable or below it.
local config = {
	writable = { "/tmp", "/dev/null", "/dev/zero", "/dev/full", "/dev/tty" },
}

local function within(path, dir)
	return path == dir or dir == "/" or path:sub(1, #dir + 1) == dir .. "/"
end

for _, p in ipairs(ward.paths()) do
	if p.access == "read-write" then
		local ok = false
		for _, w in ipairs(config.writable) do
			if within(p.path, w) then
				ok = true
				break
			end
		end
		if not ok then
			ward.error(p, ("%s is read-write%s: only the working directory and %s may be")
				:format(p.path, p.binary and (" for " .. p.binary) or "",
					table.concat(config.writable, ", ")))
		end
	end
end
