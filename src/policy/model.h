/* SPDX-License-Identifier: MIT */
/* The compiled policy: plain C data produced by the compiler (src/policy) and
 * only applied by the enforcer and the proxy. Every string is owned by the
 * struct and released by ward_policy_free(). Positions (line, col) point into
 * the policy file the item came from (0 when it came from a preset). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ward_pos {
	uint32_t line;
	uint32_t col;
};

enum ward_landlock_compat {
	WARD_LANDLOCK_BEST_EFFORT = 0,
	WARD_LANDLOCK_HARD_REQUIREMENT,
};

enum ward_enforcement {
	WARD_ENFORCE = 0,
	WARD_AUDIT,
};

enum ward_protocol {
	WARD_PROTO_L4 = 0, /* no protocol key: L4 only */
	WARD_PROTO_REST,   /* HTTP inspected, TLS terminated */
	WARD_PROTO_TCP,
};

enum ward_access {
	WARD_ACCESS_NONE = 0, /* explicit rules only */
	WARD_ACCESS_READ_ONLY,
	WARD_ACCESS_READ_WRITE,
	WARD_ACCESS_FULL,
};

struct ward_fs_path {
	char *path; /* absolute, normalised, no trailing slash (except "/") */
	struct ward_pos pos;
};

struct ward_cidr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix;
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
};

struct ward_query_match {
	char *key;
	char *glob; /* value glob */
};

struct ward_l7_rule {
	char *method; /* "GET", or "*" for any */
	char *path;   /* glob: '*' one segment, '**' any depth */
	struct ward_query_match *query;
	size_t n_query;
	struct ward_pos pos;
};

struct ward_endpoint {
	char *host; /* exact, "*.x.com" (one label) or "**.x.com" (any depth) */
	uint16_t *ports;
	size_t n_ports;
	enum ward_protocol protocol;
	enum ward_enforcement enforcement;
	enum ward_access access;
	struct ward_l7_rule *rules;
	size_t n_rules;
	struct ward_l7_rule *deny_rules;
	size_t n_deny_rules;
	struct ward_cidr *allowed_ips;
	size_t n_allowed_ips;
	struct ward_pos pos;
};

struct ward_binary {
	char *path;	/* absolute; globs '*' and '**' allowed; NULL when sha256 is set */
	char *sha256;	/* 64 lowercase hex: any file with this content, matched at exec; or NULL */
	bool ancestors; /* also match when an ancestor process runs this binary */
	struct ward_pos pos;
};

struct ward_net_policy {
	char *key;  /* the map key under network_policies: names the rule in logs */
	char *name; /* display name, defaults to key */
	struct ward_binary *binaries;
	size_t n_binaries;
	struct ward_endpoint *endpoints; /* host endpoints only */
	size_t n_endpoints;
	/* `- unix: /abs/path.sock` endpoints: host pathname unix sockets these
	 * binaries may connect (or send datagrams) to; absolute, normalised */
	struct ward_fs_path *unix_sockets;
	size_t n_unix_sockets;
	struct ward_pos pos;
};

struct ward_credential {
	char *name;
	/* The sandbox variable that holds the placeholder. Without `secret`,
	 * also ward's own environment variable with the value. */
	char *env;
	char *secret; /* the secret store's name (policy/secrets.h) for the value; or NULL */
	char *host;   /* bound endpoint */
	uint16_t port;
	char *path;   /* path glob; absent in the file means every path */
	char *header; /* e.g. "Authorization" */
	char *format; /* e.g. "Bearer {}" */
	/* `scheme: http`: the secret may also be injected into plain HTTP to the
	 * bound endpoint (policy check warns); default: TLS connections only */
	bool allow_http;
	struct ward_pos pos;
};

struct ward_inference_route {
	char *name;
	char *provider; /* openai | anthropic | nvidia */
	char *model;
	char *base_url;	      /* NULL: the provider's default */
	char *api_key_env;    /* ward's environment variable with the key; or NULL */
	char *api_key_secret; /* the secret store's name for the key; or NULL */
	char **aliases;
	size_t n_aliases;
	/* the provider's own hosts: a direct call through the proxy is a call of this route */
	char **hosts;
	size_t n_hosts;
	/* USD per million tokens, from the route's `price:` or ward's price table */
	bool price_known;
	double price_input;
	double price_output;
	double price_cached; /* cached input tokens */
	char *price_source;  /* "route", or the price table's version; NULL when unknown */
	struct ward_pos pos;
};

struct ward_fs_binary_rule {
	struct ward_binary binary;
	struct ward_fs_path *read_only;
	size_t n_read_only;
	struct ward_fs_path *read_write;
	size_t n_read_write;
};

/* environment.pass: a name, or a glob ('*' any run of characters) */
struct ward_env_pass {
	char *pattern;
	bool glob;
	struct ward_pos pos;
};

/* environment.set */
struct ward_env_set {
	char *name;
	char *value;
	struct ward_pos pos;
};

/* resources: cgroup v2 limits of the sandbox's leaf and the private /tmp's
 * size. 0 means "not set": the documented default applies
 * (WARD_RESOURCES_DEFAULT_* in enforcer/cgroup.h). */
struct ward_resources {
	uint64_t memory;    /* bytes: memory.max; memory.swap.max is 0 */
	uint64_t pids;	    /* pids.max */
	uint32_t cpu_milli; /* thousandths of a core: cpu.max = cpu_milli*100 100000 */
	uint64_t tmp_size;  /* bytes: size= of the private /tmp tmpfs */
	struct ward_pos pos;
};

/* limits: the proxy's (docs/policy.md "limits", proxy/admission.h). 0 means
 * "not set": the proxy's default applies. */
struct ward_limits {
	uint32_t max_connections;
	uint32_t idle_tunnel_ms;
	uint32_t idle_http_ms;
	uint32_t connect_timeout_ms;
	uint32_t request_timeout_ms;
	uint64_t max_body; /* bytes */
	struct ward_pos pos;
};

/* host.exempt (host mode, docs/host.md): exactly one of cgroup (a cgroup v2
 * path below the hierarchy's root, "/system.slice/x.service") or binary. */
struct ward_host_exempt {
	char *cgroup;
	char *binary;
	struct ward_pos pos;
};

struct ward_policy {
	char *source_path; /* the file as given on the command line */
	char *source;	   /* exact text of the file */
	size_t source_len;
	char *compiled_json; /* canonical lowered form, as `ward policy compile --json` prints */
	char rev[65];	     /* sha256 hex of compiled_json */

	/* filesystem_policy */
	bool include_workdir;
	struct ward_fs_path *read_only;
	size_t n_read_only;
	struct ward_fs_path *read_write;
	size_t n_read_write;
	struct ward_fs_binary_rule *fs_binaries;
	size_t n_fs_binaries;

	/* landlock */
	enum ward_landlock_compat landlock_compat;
	/* Landlock also limits TCP connect() to the proxy, DNS and endpoint ports.
	 * Off by default: Landlock cannot tell loopback from the outside, and
	 * loopback inside the sandbox's own netns stays usable (local dev servers). */
	bool landlock_restrict_tcp;

	/* process: run_as; has_* false means "not set" (the caller picks the default) */
	bool has_user;
	char *run_as_user; /* a name, or NULL when numeric */
	uid_t uid;	   /* valid when run_as_user is NULL */
	bool has_group;
	char *run_as_group;
	gid_t gid;

	/* network_policies, sorted by key */
	struct ward_net_policy *net;
	size_t n_net;

	struct ward_credential *credentials;
	size_t n_credentials;

	/* inference */
	struct ward_inference_route *routes;
	size_t n_routes;
	struct ward_binary *inference_binaries; /* NULL/0: every binary may use inference.local */
	size_t n_inference_binaries;
	uint64_t inference_max_tokens;	       /* 0: no budget */
	double inference_max_usd;	       /* 0: no budget */
	uint64_t inference_session_max_tokens; /* budget.per_session: each session's; 0: none */
	double inference_session_max_usd;      /* 0: none */
	double inference_warn_at[8]; /* fractions of the budgets, ascending: a row at each */
	size_t n_inference_warn_at;
	bool inference_strict_models; /* a model no route or alias names is refused */

	/* environment: besides the core set (PATH, HOME, TERM, LANG, LC_*, ...) */
	struct ward_env_pass *env_pass;
	size_t n_env_pass;
	struct ward_env_set *env_set;
	size_t n_env_set;

	struct ward_resources resources;
	struct ward_limits limits;

	/* host: (host mode only; sandboxes ignore it) */
	bool has_host;
	struct ward_host_exempt *host_exempt;
	size_t n_host_exempt;

	char **extends; /* presets applied, in order */
	size_t n_extends;
};

void ward_policy_free(struct ward_policy *p);
