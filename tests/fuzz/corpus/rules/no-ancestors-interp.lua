-- no-ancestors-interp.lua: no `ancestors: true` on an interpreter. With
-- ancestors, every process an interpreter starts (any script, any tool it
-- runs) gets the binary's access.
local config = {
	-- Lua patterns matched against the binary's file name
	interpreters = {
		"^python[%d%.]*$", "^node$", "^nodejs$", "^deno$", "^bun$",
		"^bash$", "^sh$", "^dash$", "^zsh$", "^ksh$", "^fish$", "^busybox$",
		"^perl[%d%.]*$", "^ruby[%d%.]*$", "^php[%d%.]*$", "^lua[%d%.]*$",
		"^tclsh[%d%.]*$", "^java$", "^osascript$",
	},
}

for _, b in ipairs(ward.binaries()) do
	if b.ancestors and b.path then
		local name = b.path:match("[^/]*$")
		local hit = name:find("*", 1, true) ~= nil -- a glob could name one
		for _, pat in ipairs(config.interpreters) do
			hit = hit or name:match(pat) ~= nil
		end
		if hit then
			ward.error(b, ("%s has ancestors: true: everything that interpreter runs "
				.. "would get its access"):format(b.path))
		end
	end
end
