error(setmetatable({}, { __tostring = function() return "t" end }))
