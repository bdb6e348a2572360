// SPDX-License-Identifier: MIT
/* The canonical compiled form: one JSON object, keys in a fixed order (the
 * order of docs/policy.md), no whitespace, a trailing newline. Its sha256 is
 * the policy revision, so this output must only change on purpose. */
#include <arpa/inet.h>
#include <inttypes.h>

#include "common/util.h"
#include "policy/internal.h"

static void pos(FILE *f, struct ward_pos p)
{
	fprintf(f, "\"line\":%" PRIu32 ",\"col\":%" PRIu32, p.line, p.col);
}

static void fs_paths(FILE *f, const struct ward_fs_path *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{\"path\":" : "{\"path\":", f);
		ward_json_str(f, v[i].path);
		fputc(',', f);
		pos(f, v[i].pos);
		fputc('}', f);
	}
	fputc(']', f);
}

static void binary(FILE *f, const struct ward_binary *b)
{
	/* exactly one of the two; the other stays out, as in the source */
	fputs(b->sha256 ? "{\"sha256\":" : "{\"path\":", f);
	ward_json_str(f, b->sha256 ? b->sha256 : b->path);
	fprintf(f, ",\"ancestors\":%s,", b->ancestors ? "true" : "false");
	pos(f, b->pos);
}

static void binaries(FILE *f, const struct ward_binary *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		binary(f, &v[i]);
		fputc('}', f);
	}
	fputc(']', f);
}

static void rules(FILE *f, const struct ward_l7_rule *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{\"method\":" : "{\"method\":", f);
		ward_json_str(f, v[i].method);
		fputs(",\"path\":", f);
		ward_json_str(f, v[i].path);
		fputs(",\"query\":[", f);
		for (size_t q = 0; q < v[i].n_query; q++) {
			fputs(q ? ",{\"key\":" : "{\"key\":", f);
			ward_json_str(f, v[i].query[q].key);
			fputs(",\"glob\":", f);
			ward_json_str(f, v[i].query[q].glob);
			fputc('}', f);
		}
		fputs("],", f);
		pos(f, v[i].pos);
		fputc('}', f);
	}
	fputc(']', f);
}

static const char *protocol_name(enum ward_protocol p)
{
	switch (p) {
	case WARD_PROTO_REST:
		return "rest";
	case WARD_PROTO_TCP:
		return "tcp";
	case WARD_PROTO_L4:
		break;
	}
	return "l4";
}

static const char *access_name(enum ward_access a)
{
	switch (a) {
	case WARD_ACCESS_READ_ONLY:
		return "read-only";
	case WARD_ACCESS_READ_WRITE:
		return "read-write";
	case WARD_ACCESS_FULL:
		return "full";
	case WARD_ACCESS_NONE:
		break;
	}
	return "none";
}

static void cidr(FILE *f, const struct ward_cidr *c)
{
	char buf[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, c->addr, buf, sizeof(buf)))
		buf[0] = '\0';
	fprintf(f, "\"%s/%u\"", buf, c->prefix);
}

static void endpoint(FILE *f, const struct ward_endpoint *e)
{
	fputs("{\"host\":", f);
	ward_json_str(f, e->host);
	fputs(",\"ports\":[", f);
	for (size_t i = 0; i < e->n_ports; i++)
		fprintf(f, i ? ",%u" : "%u", e->ports[i]);
	fprintf(f, "],\"protocol\":\"%s\",\"enforcement\":\"%s\",\"access\":\"%s\",\"rules\":",
		protocol_name(e->protocol), e->enforcement == WARD_AUDIT ? "audit" : "enforce",
		access_name(e->access));
	rules(f, e->rules, e->n_rules);
	fputs(",\"deny_rules\":", f);
	rules(f, e->deny_rules, e->n_deny_rules);
	fputs(",\"allowed_ips\":[", f);
	for (size_t i = 0; i < e->n_allowed_ips; i++) {
		if (i)
			fputc(',', f);
		cidr(f, &e->allowed_ips[i]);
	}
	fputs("],", f);
	pos(f, e->pos);
	fputc('}', f);
}

static void run_as(FILE *f, bool has, const char *name, unsigned id)
{
	if (!has)
		fputs("null", f);
	else if (name)
		ward_json_str(f, name);
	else
		fprintf(f, "%u", id);
}

void ward_policy_print_json(const struct ward_policy *p, FILE *f)
{
	fputs("{\"version\":1,\"extends\":[", f);
	for (size_t i = 0; i < p->n_extends; i++) {
		if (i)
			fputc(',', f);
		ward_json_str(f, p->extends[i]);
	}
	fprintf(f, "],\"filesystem\":{\"include_workdir\":%s,\"read_only\":",
		p->include_workdir ? "true" : "false");
	fs_paths(f, p->read_only, p->n_read_only);
	fputs(",\"read_write\":", f);
	fs_paths(f, p->read_write, p->n_read_write);
	fputs(",\"binaries\":[", f);
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		if (i)
			fputc(',', f);
		binary(f, &p->fs_binaries[i].binary);
		fputs(",\"read_only\":", f);
		fs_paths(f, p->fs_binaries[i].read_only, p->fs_binaries[i].n_read_only);
		fputs(",\"read_write\":", f);
		fs_paths(f, p->fs_binaries[i].read_write, p->fs_binaries[i].n_read_write);
		fputc('}', f);
	}
	fprintf(f,
		"]},\"landlock\":{\"compatibility\":\"%s\",\"restrict_tcp\":%s},"
		"\"process\":{\"run_as_user\":",
		p->landlock_compat == WARD_LANDLOCK_HARD_REQUIREMENT ? "hard_requirement"
								     : "best_effort",
		p->landlock_restrict_tcp ? "true" : "false");
	run_as(f, p->has_user, p->run_as_user, p->uid);
	fputs(",\"run_as_group\":", f);
	run_as(f, p->has_group, p->run_as_group, p->gid);
	fputs("},\"network_policies\":[", f);
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *n = &p->net[i];
		fputs(i ? ",{\"key\":" : "{\"key\":", f);
		ward_json_str(f, n->key);
		fputs(",\"name\":", f);
		ward_json_str(f, n->name);
		fputc(',', f);
		pos(f, n->pos);
		fputs(",\"binaries\":", f);
		binaries(f, n->binaries, n->n_binaries);
		fputs(",\"endpoints\":[", f);
		for (size_t e = 0; e < n->n_endpoints; e++) {
			if (e)
				fputc(',', f);
			endpoint(f, &n->endpoints[e]);
		}
		fputs("],\"unix\":", f);
		fs_paths(f, n->unix_sockets, n->n_unix_sockets);
		fputc('}', f);
	}
	fputs("],\"credentials\":[", f);
	for (size_t i = 0; i < p->n_credentials; i++) {
		const struct ward_credential *c = &p->credentials[i];
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		ward_json_str(f, c->name);
		fputs(",\"env\":", f);
		ward_json_str(f, c->env);
		fputs(",\"secret\":", f);
		ward_json_str(f, c->secret);
		fputs(",\"host\":", f);
		ward_json_str(f, c->host);
		fprintf(f, ",\"port\":%u,\"path\":", c->port);
		ward_json_str(f, c->path);
		fputs(",\"header\":", f);
		ward_json_str(f, c->header);
		fputs(",\"format\":", f);
		ward_json_str(f, c->format);
		fprintf(f, ",\"scheme\":\"%s\",", c->allow_http ? "http" : "https");
		pos(f, c->pos);
		fputc('}', f);
	}
	fputs("],\"inference\":{\"routes\":[", f);
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct ward_inference_route *r = &p->routes[i];
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		ward_json_str(f, r->name);
		fputs(",\"provider\":", f);
		ward_json_str(f, r->provider);
		fputs(",\"model\":", f);
		ward_json_str(f, r->model);
		fputs(",\"base_url\":", f);
		ward_json_str(f, r->base_url);
		fputs(",\"api_key_env\":", f);
		ward_json_str(f, r->api_key_env);
		fputs(",\"api_key_secret\":", f);
		ward_json_str(f, r->api_key_secret);
		fputs(",\"aliases\":[", f);
		for (size_t a = 0; a < r->n_aliases; a++) {
			if (a)
				fputc(',', f);
			ward_json_str(f, r->aliases[a]);
		}
		fputs("],\"hosts\":[", f);
		for (size_t h = 0; h < r->n_hosts; h++) {
			if (h)
				fputc(',', f);
			ward_json_str(f, r->hosts[h]);
		}
		fputs("],\"price\":", f);
		if (r->price_known) {
			fprintf(f,
				"{\"input\":%.6g,\"output\":%.6g,\"cached_input\":%.6g,\"source\":",
				r->price_input, r->price_output, r->price_cached);
			ward_json_str(f, r->price_source);
			fputc('}', f);
		} else {
			fputs("null", f);
		}
		fputc(',', f);
		pos(f, r->pos);
		fputc('}', f);
	}
	fputs("],\"binaries\":", f);
	if (p->inference_binaries)
		binaries(f, p->inference_binaries, p->n_inference_binaries);
	else
		fputs("null", f);
	fprintf(f, ",\"max_tokens\":%" PRIu64 ",\"max_usd\":%.6g", p->inference_max_tokens,
		p->inference_max_usd);
	/* only when set: the compiled form (hence the rev) of every policy
	 * without a per-session budget stays what it was */
	if (p->inference_session_max_tokens || p->inference_session_max_usd > 0)
		fprintf(f, ",\"per_session\":{\"max_tokens\":%" PRIu64 ",\"max_usd\":%.6g}",
			p->inference_session_max_tokens, p->inference_session_max_usd);
	fputs(",\"warn_at\":[", f);
	for (size_t i = 0; i < p->n_inference_warn_at; i++)
		fprintf(f, i ? ",%.6g" : "%.6g", p->inference_warn_at[i]);
	fprintf(f, "],\"strict_models\":%s},\"environment\":{\"pass\":[",
		p->inference_strict_models ? "true" : "false");
	for (size_t i = 0; i < p->n_env_pass; i++) {
		fputs(i ? ",{\"pattern\":" : "{\"pattern\":", f);
		ward_json_str(f, p->env_pass[i].pattern);
		fprintf(f, ",\"glob\":%s,", p->env_pass[i].glob ? "true" : "false");
		pos(f, p->env_pass[i].pos);
		fputc('}', f);
	}
	fputs("],\"set\":[", f);
	for (size_t i = 0; i < p->n_env_set; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		ward_json_str(f, p->env_set[i].name);
		fputs(",\"value\":", f);
		ward_json_str(f, p->env_set[i].value);
		fputc(',', f);
		pos(f, p->env_set[i].pos);
		fputc('}', f);
	}
	fprintf(f,
		"]},\"resources\":{\"memory\":%" PRIu64 ",\"pids\":%" PRIu64
		",\"cpu_milli\":%" PRIu32 ",\"tmp_size\":%" PRIu64 "},",
		p->resources.memory, p->resources.pids, p->resources.cpu_milli,
		p->resources.tmp_size);
	fprintf(f,
		"\"limits\":{\"max_connections\":%" PRIu32 ",\"idle_tunnel_ms\":%" PRIu32
		",\"idle_http_ms\":%" PRIu32 ",\"connect_timeout_ms\":%" PRIu32
		",\"request_timeout_ms\":%" PRIu32 ",\"max_body\":%" PRIu64 "}",
		p->limits.max_connections, p->limits.idle_tunnel_ms, p->limits.idle_http_ms,
		p->limits.connect_timeout_ms, p->limits.request_timeout_ms, p->limits.max_body);
	/* only when present: the revisions of policies without it stay as they were */
	if (p->has_host) {
		fputs(",\"host\":{\"exempt\":[", f);
		for (size_t i = 0; i < p->n_host_exempt; i++) {
			const struct ward_host_exempt *x = &p->host_exempt[i];

			fputs(i ? ",{" : "{", f);
			fputs(x->cgroup ? "\"cgroup\":" : "\"binary\":", f);
			ward_json_str(f, x->cgroup ? x->cgroup : x->binary);
			fputc(',', f);
			pos(f, x->pos);
			fputc('}', f);
		}
		fputs("]}", f);
	}
	fputs("}\n", f);
}
