ward.error(setmetatable({}, { __index = function() error("trap") end }), "m")
