for _, l in ipairs({ward.policies(), ward.binaries(), ward.endpoints(), ward.rules(), ward.paths(), ward.unix_sockets(), ward.credentials(), ward.routes(), ward.env_pass(), ward.env_set()}) do
  for _, n in ipairs(l) do ward.warn(n, n.kind) end
end
ward.error({line = -1, col = 1e300}, "x")
ward.error({line = 4294967296}, "y")
