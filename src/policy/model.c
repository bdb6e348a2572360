// SPDX-License-Identifier: MIT
#include "policy/model.h"

#include <stdlib.h>

static void free_paths(struct ward_fs_path *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static void free_rules(struct ward_l7_rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].method);
		free(v[i].path);
		for (size_t q = 0; q < v[i].n_query; q++) {
			free(v[i].query[q].key);
			free(v[i].query[q].glob);
		}
		free(v[i].query);
	}
	free(v);
}

static void free_binaries(struct ward_binary *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].sha256);
	}
	free(v);
}

void ward_policy_free(struct ward_policy *p)
{
	if (!p)
		return;
	free(p->source_path);
	free(p->source);
	free(p->compiled_json);
	free_paths(p->read_only, p->n_read_only);
	free_paths(p->read_write, p->n_read_write);
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		free(p->fs_binaries[i].binary.path);
		free(p->fs_binaries[i].binary.sha256);
		free_paths(p->fs_binaries[i].read_only, p->fs_binaries[i].n_read_only);
		free_paths(p->fs_binaries[i].read_write, p->fs_binaries[i].n_read_write);
	}
	free(p->fs_binaries);
	free(p->run_as_user);
	free(p->run_as_group);
	for (size_t i = 0; i < p->n_net; i++) {
		struct ward_net_policy *n = &p->net[i];
		free(n->key);
		free(n->name);
		free_binaries(n->binaries, n->n_binaries);
		for (size_t e = 0; e < n->n_endpoints; e++) {
			struct ward_endpoint *ep = &n->endpoints[e];
			free(ep->host);
			free(ep->ports);
			free_rules(ep->rules, ep->n_rules);
			free_rules(ep->deny_rules, ep->n_deny_rules);
			free(ep->allowed_ips);
		}
		free(n->endpoints);
		free_paths(n->unix_sockets, n->n_unix_sockets);
	}
	free(p->net);
	for (size_t i = 0; i < p->n_credentials; i++) {
		struct ward_credential *c = &p->credentials[i];
		free(c->name);
		free(c->env);
		free(c->secret);
		free(c->host);
		free(c->path);
		free(c->header);
		free(c->format);
	}
	free(p->credentials);
	for (size_t i = 0; i < p->n_routes; i++) {
		struct ward_inference_route *r = &p->routes[i];
		free(r->name);
		free(r->provider);
		free(r->model);
		free(r->base_url);
		free(r->api_key_env);
		free(r->api_key_secret);
		for (size_t a = 0; a < r->n_aliases; a++)
			free(r->aliases[a]);
		free(r->aliases);
		for (size_t h = 0; h < r->n_hosts; h++)
			free(r->hosts[h]);
		free(r->hosts);
		free(r->price_source);
	}
	free(p->routes);
	free_binaries(p->inference_binaries, p->n_inference_binaries);
	for (size_t i = 0; i < p->n_env_pass; i++)
		free(p->env_pass[i].pattern);
	free(p->env_pass);
	for (size_t i = 0; i < p->n_env_set; i++) {
		free(p->env_set[i].name);
		free(p->env_set[i].value);
	}
	free(p->env_set);
	for (size_t i = 0; i < p->n_host_exempt; i++) {
		free(p->host_exempt[i].cgroup);
		free(p->host_exempt[i].binary);
	}
	free(p->host_exempt);
	for (size_t i = 0; i < p->n_extends; i++)
		free(p->extends[i]);
	free(p->extends);
	free(p);
}
