-- SPDX-License-Identifier: MIT
-- The policy schema, version 1, as data. validate.lua walks it; each scalar
-- type names a checker in validate.lua; `check` on a map names a cross-field
-- rule there. docs/policy.md is the prose form of this file.
local M = {}

-- path (a glob) or sha256 (the file's content, matched when executed): one of them
local binary = {
	type = "map",
	what = "binary",
	check = "binary",
	fields = {
		path = { type = "glob_path" },
		sha256 = { type = "sha256" },
		ancestors = { type = "bool" },
	},
}

local l7_rule = {
	type = "map",
	what = "rule",
	required = { "method", "path" },
	fields = {
		method = { type = "method" },
		path = { type = "url_path" },
		query = { type = "dict", key = { type = "string" }, value = { type = "string" } },
	},
}

-- Either a host endpoint (host + port/ports + ...) or `unix: /abs/path.sock`,
-- a host unix socket; checks.endpoint says which keys go with which.
local endpoint = {
	type = "map",
	what = "endpoint",
	check = "endpoint",
	fields = {
		host = { type = "host" },
		unix = { type = "unix_path" },
		port = { type = "port" },
		ports = { type = "list", nonempty = true, item = { type = "port" } },
		protocol = {
			type = "enum",
			values = { "rest", "tcp" },
			unsupported = { mcp = true, grpc = true, websocket = true },
		},
		tls = { type = "enum", values = { "terminate", "passthrough" } },
		enforcement = { type = "enum", values = { "enforce", "audit" } },
		access = { type = "enum", values = { "read-only", "read-write", "full" } },
		rules = {
			type = "list",
			nonempty = true,
			item = { type = "map", what = "rule", required = { "allow" }, fields = { allow = l7_rule } },
		},
		deny_rules = { type = "list", nonempty = true, item = l7_rule },
		allowed_ips = { type = "list", nonempty = true, item = { type = "cidr" } },
		mcp = { unsupported_key = "MCP inspection ('mcp') is not supported" },
	},
}

local net_policy = {
	type = "map",
	what = "network policy",
	required = { "endpoints" },
	check = "net_policy",
	fields = {
		name = { type = "string", nonempty = true },
		binaries = { type = "list", nonempty = true, item = binary },
		endpoints = { type = "list", nonempty = true, item = endpoint },
	},
}

local fs_binary = {
	type = "map",
	what = "filesystem binary",
	required = { "path" },
	fields = {
		path = { type = "glob_path" },
		ancestors = { type = "bool" },
		read_only = { type = "list", item = { type = "fs_path" } },
		read_write = { type = "list", item = { type = "fs_path", rw = true } },
	},
}

local credential = {
	type = "map",
	what = "credential",
	required = { "name", "host" },
	fields = {
		name = { type = "string", nonempty = true },
		-- where the value comes from: ward's environment, or the secret store
		-- (checks.credential: exactly one of them)
		env = { type = "env_name" },
		secret = { type = "secret_name" },
		-- with secret: the sandbox variable that holds the placeholder
		placeholder_env = { type = "env_name" },
		host = { type = "host", exact = true },
		port = { type = "port" },
		path = { type = "url_path" },
		header = { type = "header" },
		format = { type = "string", check = "format" },
		scheme = { type = "enum", values = { "https", "http" } },
	},
	check = "credential",
}

local route = {
	type = "map",
	what = "inference route",
	required = { "name", "provider", "model" },
	check = "route",
	fields = {
		name = { type = "string", nonempty = true },
		provider = { type = "enum", values = { "openai", "anthropic", "nvidia" } },
		model = { type = "string", nonempty = true },
		base_url = { type = "url" },
		api_key_env = { type = "env_name" },
		api_key_secret = { type = "secret_name" },
		aliases = { type = "list", item = { type = "string", nonempty = true } },
		-- USD per million tokens; overrides the price table (prices.lua)
		price = {
			type = "map",
			what = "price",
			required = { "input", "output" },
			fields = {
				input = { type = "usd" },
				output = { type = "usd" },
				cached_input = { type = "usd" },
			},
		},
		-- the provider's own hosts: a direct call through the proxy is a call of this route
		hosts = { type = "list", nonempty = true, item = { type = "host", exact = true } },
	},
}

M.policy = {
	type = "map",
	what = "policy",
	required = { "version" },
	check = "policy",
	fields = {
		version = { type = "version" },
		extends = { type = "list", item = { type = "preset" } },
		filesystem_policy = {
			type = "map",
			what = "filesystem_policy",
			fields = {
				include_workdir = { type = "bool" },
				read_only = { type = "list", item = { type = "fs_path" } },
				read_write = { type = "list", item = { type = "fs_path", rw = true } },
				binaries = { type = "list", nonempty = true, item = fs_binary },
			},
		},
		landlock = {
			type = "map",
			what = "landlock",
			fields = {
				compatibility = { type = "enum", values = { "best_effort", "hard_requirement" } },
				restrict_tcp = { type = "bool" },
			},
		},
		process = {
			type = "map",
			what = "process",
			fields = {
				run_as_user = { type = "run_as", what = "user" },
				run_as_group = { type = "run_as", what = "group" },
			},
		},
		network_policies = { type = "dict", key = { type = "policy_key" }, value = net_policy },
		credentials = { type = "list", nonempty = true, item = credential, check = "credentials" },
		inference = {
			type = "map",
			what = "inference",
			required = { "routes" },
			check = "inference",
			fields = {
				routes = { type = "list", nonempty = true, item = route, check = "unique_names" },
				binaries = { type = "list", nonempty = true, item = binary },
				budget = {
					type = "map",
					what = "budget",
					fields = {
						max_tokens = { type = "int", min = 1, max = 1 << 53 },
						max_usd = { type = "usd", positive = true },
						warn_at = { type = "list", nonempty = true, item = { type = "fraction" }, check = "ascending" },
						-- each session's own share (ward exec); the keys above are the sandbox's
						per_session = {
							type = "map",
							what = "per_session",
							fields = {
								max_tokens = { type = "int", min = 1, max = 1 << 53 },
								max_usd = { type = "usd", positive = true },
							},
						},
					},
				},
				strict_models = { type = "bool" },
			},
		},
		environment = {
			type = "map",
			what = "environment",
			fields = {
				pass = { type = "list", item = { type = "env_pattern" } },
				set = { type = "dict", key = { type = "env_name" }, value = { type = "string" } },
			},
		},
		resources = {
			type = "map",
			what = "resources",
			fields = {
				memory = { type = "size", min = 4 << 20 },
				pids = { type = "int", min = 1, max = 4194304 },
				cpu = { type = "cores" },
				tmp_size = { type = "size", min = 1 << 20 },
			},
		},
		-- proxy limits (docs/policy.md "limits"); unset: the proxy's defaults
		limits = {
			type = "map",
			what = "limits",
			fields = {
				max_connections = { type = "int", min = 1, max = 1000000 },
				idle_tunnel = { type = "duration", min = 1000 },
				idle_http = { type = "duration", min = 1000 },
				connect_timeout = { type = "duration", min = 100 },
				request_timeout = { type = "duration", min = 100 },
				max_body = { type = "size", min = 1 << 20 },
			},
		},
		-- host mode (docs/host.md): what the host-wide programs never touch
		host = {
			type = "map",
			what = "host",
			fields = {
				exempt = {
					type = "list",
					nonempty = true,
					item = {
						type = "map",
						what = "exemption",
						check = "exempt",
						fields = {
							-- a cgroup v2 path below the hierarchy's root ("/system.slice/x.service")
							cgroup = { type = "fs_path" },
							-- an executable, exact path
							binary = { type = "fs_path" },
						},
					},
				},
			},
		},
		network_middlewares = { unsupported_key = "'network_middlewares' is not supported" },
	},
}

return M
