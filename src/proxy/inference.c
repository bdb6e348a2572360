// SPDX-License-Identifier: MIT
/* The per-run inference handle (inference.h): keys from the host
 * environment or the secret store, backends parsed from base_url and
 * resolved once, the route table and the token budget. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/secrets.h"
#include "proxy/inference_internal.h"
#include "proxy/resolve.h"
#include "proxy/ssrf.h"
#include "proxy/tls.h"

bool ward_inference_is_host(const char *host)
{
	return host && !strcmp(host, WARD_INFERENCE_HOST);
}

static int parse_base_url(struct inf_backend *b, const char *url, struct ward_error *err)
{
	const char *rest, *slash;
	size_t plen;

	if (!strncasecmp(url, "https://", 8)) {
		b->https = true;
		rest = url + 8;
	} else if (!strncasecmp(url, "http://", 7)) {
		rest = url + 7;
	} else {
		return ward_errx(err, -EINVAL, "base_url %s: not http:// or https://", url);
	}
	slash = strchr(rest, '/');
	if (strpbrk(rest, "?#@"))
		return ward_errx(err, -EINVAL, "base_url %s: no query, fragment or userinfo", url);
	if (ward_http_parse_authority(rest, slash ? (size_t)(slash - rest) : strlen(rest), b->host,
				      sizeof(b->host), &b->port) < 0 ||
	    !b->host[0])
		return ward_errx(err, -EINVAL, "base_url %s: bad host", url);
	if (!b->port)
		b->port = b->https ? 443 : 80;
	plen = slash ? strlen(slash) : 0;
	while (plen && slash[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(b->prefix))
		return ward_errx(err, -EINVAL, "base_url %s: path too long", url);
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)slash[i] <= 0x20 || slash[i] == 0x7f)
			return ward_errx(err, -EINVAL, "base_url %s: bad path", url);
	memcpy(b->prefix, slash ? slash : "", plen);
	b->prefix[plen] = '\0';
	return 0;
}

/* Backends are declared by the policy author, so private and loopback
 * addresses are fine (a local model server); metadata and the like never. */
static int check_addr(struct inf_backend *b, const struct sockaddr_storage *ss,
		      struct ward_error *err)
{
	const char *what = NULL;
	char txt[INET6_ADDRSTRLEN] = "?";

	if (ward_ssrf_classify((const struct sockaddr *)ss, &what) != WARD_IP_BLOCKED)
		return 0;
	if (what && (!strcmp(what, "loopback") || !strncmp(what, "loopback", 8)))
		return 0;
	inet_ntop(ss->ss_family,
		  ss->ss_family == AF_INET
			  ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
			  : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr,
		  txt, sizeof(txt));
	return ward_errx(err, -EACCES, "backend %s resolves to %s (%s): blocked", b->host, txt,
			 what ? what : "blocked range");
}

static int resolve_backend(struct inf_backend *b, const struct ward_resolver *hosts,
			   struct ward_error *err)
{
	struct sockaddr_storage tmp[INF_MAX_ADDRS];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	size_t n = 0;
	int r;

	if (ward_ssrf_name_blocked(b->host))
		return ward_errx(err, -EACCES, "backend %s is a cloud metadata name", b->host);
	if (hosts)
		n = ward_hosts_lookup(hosts, b->host, tmp, INF_MAX_ADDRS);
	if (!n) {
		r = getaddrinfo(b->host, NULL, &hints, &res);
		if (r)
			return ward_errx(err, -ENOENT, "cannot resolve backend %s: %s", b->host,
					 gai_strerror(r));
		for (struct addrinfo *ai = res; ai && n < INF_MAX_ADDRS; ai = ai->ai_next) {
			if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
				continue;
			memset(&tmp[n], 0, sizeof(tmp[n]));
			memcpy(&tmp[n++], ai->ai_addr, ai->ai_addrlen);
		}
		freeaddrinfo(res);
	}
	for (size_t i = 0; i < n; i++) {
		r = check_addr(b, &tmp[i], err);
		if (r < 0)
			return r;
		b->addrs[b->n_addrs] = tmp[i];
		if (tmp[i].ss_family == AF_INET)
			((struct sockaddr_in *)&b->addrs[b->n_addrs])->sin_port = htons(b->port);
		else
			((struct sockaddr_in6 *)&b->addrs[b->n_addrs])->sin6_port = htons(b->port);
		b->n_addrs++;
	}
	if (!b->n_addrs)
		return ward_errx(err, -ENOENT, "backend %s has no address", b->host);
	return 0;
}

static int add_key_env(struct ward_inference *inf, const char *name)
{
	const char **n;

	for (size_t i = 0; i < inf->n_key_envs; i++)
		if (!strcmp(inf->key_envs[i], name))
			return 0;
	n = realloc(inf->key_envs, (inf->n_key_envs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	inf->key_envs = n;
	inf->key_envs[inf->n_key_envs++] = name;
	return 0;
}

static int store_key(struct ward_secrets *secrets, const char *name, char *buf, size_t *ret_len,
		     char *why, size_t whysz)
{
	int n = ward_secret_get(secrets, name, buf, INF_KEY_MAX + 1);

	if (n == -ENOENT) {
		snprintf(why, whysz, "secret '%s' is not set (ward secret set %s)", name, name);
		return n;
	}
	if (n == -ENOBUFS) {
		snprintf(why, whysz, "secret '%s' is longer than %u bytes", name, INF_KEY_MAX);
		return -E2BIG;
	}
	if (n < 0) {
		snprintf(why, whysz, "secret '%s' cannot be read in %s: %s", name,
			 ward_secrets_dir(secrets), strerror(-n));
		return n;
	}
	if (n == 0 || strpbrk(buf, "\r\n")) {
		snprintf(why, whysz, "secret '%s': not a usable key", name);
		return -EINVAL;
	}
	*ret_len = (size_t)n;
	return 0;
}

int inf_backend_key(const struct ward_inference *inf, const struct inf_backend *b, char *buf,
		    size_t *ret_len, char *why, size_t whysz)
{
	if (!b->key_secret) {
		memcpy(buf, b->key, b->key_len);
		*ret_len = b->key_len;
		return 0;
	}
	return store_key(inf->secrets, b->key_secret, buf, ret_len, why, whysz);
}

static int backend_init(struct ward_inference *inf, struct inf_backend *b,
			const struct ward_inference_route *rt, const struct ward_resolver *hosts,
			struct ward_error *err)
{
	const char *key;
	int r;

	b->route = rt;
	b->prov = ward_provider_find(rt->provider);
	if (!b->prov)
		return ward_errx(err, -EINVAL, "unknown provider '%s'",
				 rt->provider ? rt->provider : "");
	r = parse_base_url(b, rt->base_url ? rt->base_url : b->prov->base_url, err);
	if (r < 0)
		return r;
	if (rt->api_key_secret) {
		char buf[INF_KEY_MAX + 1], why[256];
		size_t len = 0;

		if (!inf->secrets) {
			r = ward_secrets_open(NULL, &inf->secrets, err);
			if (r < 0)
				return ward_err_prefix(err, "secret store");
		}
		r = store_key(inf->secrets, rt->api_key_secret, buf, &len, why, sizeof(why));
		explicit_bzero(buf, sizeof(buf));
		if (r < 0)
			return ward_errx(err, r, "%s", why);
		b->key_secret = rt->api_key_secret;
		return resolve_backend(b, hosts, err);
	}
	if (!rt->api_key_env || !*rt->api_key_env)
		return ward_errx(err, -EINVAL, "no api_key_env or api_key_secret");
	key = secure_getenv(rt->api_key_env);
	if (!key || !*key)
		return ward_errx(err, -ENOENT,
				 "environment variable %s is not set (ward reads the key on the "
				 "host and never passes it into the sandbox)",
				 rt->api_key_env);
	b->key_len = strlen(key);
	if (b->key_len > 8192 || strpbrk(key, "\r\n"))
		return ward_errx(err, -EINVAL, "environment variable %s: not a usable key",
				 rt->api_key_env);
	b->key = strdup(key);
	if (!b->key || add_key_env(inf, rt->api_key_env) < 0)
		return ward_err(err, -ENOMEM, "key");
	return resolve_backend(b, hosts, err);
}

static char *dup_opt(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*failed = true;
	return d;
}

/* usage: shared with the handle of an earlier generation; NULL: a new one */
static int inference_new(const struct ward_inference_config *cfg, struct inf_usage *usage,
			 struct ward_inference **ret, struct ward_error *err)
{
	const struct ward_policy *p = cfg->policy;
	struct ward_resolver *hosts = NULL;
	struct ward_inference *inf = calloc(1, sizeof(*inf));
	bool https = false, failed = false;
	int r = 0;

	if (!inf)
		return ward_err(err, -ENOMEM, "inference");
	inf->refs = 1;
	inf->u = usage ? usage : calloc(1, sizeof(*inf->u));
	if (!inf->u) {
		free(inf);
		return ward_err(err, -ENOMEM, "inference");
	}
	inf->u->refs++;
	inf->cfg = *cfg;
	inf->cfg.hosts_file = dup_opt(cfg->hosts_file, &failed);
	inf->cfg.upstream_ca = dup_opt(cfg->upstream_ca, &failed);
	inf->cfg.system_roots = dup_opt(cfg->system_roots, &failed);
	inf->cfg.sandbox = NULL; /* inf->sandbox holds it */
	inf->policy = p;
	inf->audit = cfg->audit;
	inf->sandbox = strdup(cfg->sandbox ? cfg->sandbox : "");
	inf->idle_ms = cfg->idle_ms ? cfg->idle_ms : WARD_INFERENCE_IDLE_MS;
	inf->total_ms = cfg->total_ms ? cfg->total_ms : WARD_INFERENCE_TOTAL_MS;
	inf->connect_ms = cfg->connect_ms ? cfg->connect_ms : WARD_INFERENCE_CONNECT_MS;
	inf->max_request = cfg->max_request ? cfg->max_request : WARD_INFERENCE_MAX_REQUEST;
	inf->max_response = cfg->max_response ? cfg->max_response : WARD_INFERENCE_MAX_RESPONSE;
	inf->secrets = ward_secrets_ref(cfg->secrets);
	inf->cfg.secrets = NULL; /* inf->secrets holds it */
	inf->budget = p->inference_max_tokens;
	inf->budget_usd = p->inference_max_usd;
	inf->session_budget = p->inference_session_max_tokens;
	inf->session_budget_usd = p->inference_session_max_usd;
	if (!inf->sandbox || failed) {
		r = ward_err(err, -ENOMEM, "inference");
		goto fail;
	}
	if (!p->n_routes) {
		*ret = inf;
		return 0;
	}
	inf->b = calloc(p->n_routes, sizeof(*inf->b));
	if (!inf->b) {
		r = ward_err(err, -ENOMEM, "inference");
		goto fail;
	}
	if (cfg->hosts_file) {
		r = ward_resolver_new(1, cfg->hosts_file, &hosts, err);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < p->n_routes; i++) {
		r = backend_init(inf, &inf->b[i], &p->routes[i], hosts, err);
		inf->n = i + 1;
		if (r < 0) {
			ward_err_prefix(err, "inference route '%s'", p->routes[i].name);
			goto fail;
		}
		https |= inf->b[i].https;
	}
	if (https) {
		r = ward_tls_upstream_new(cfg->system_roots, cfg->upstream_ca, &inf->tls, err);
		if (r < 0) {
			ward_err_prefix(err, "inference: upstream TLS");
			goto fail;
		}
	}
	ward_resolver_free(hosts);
	*ret = inf;
	return 0;
fail:
	ward_resolver_free(hosts);
	ward_inference_free(inf);
	return r;
}

int ward_inference_new(const struct ward_inference_config *cfg, struct ward_inference **ret,
		       struct ward_error *err)
{
	return inference_new(cfg, NULL, ret, err);
}

int ward_inference_derive(const struct ward_inference *base, const struct ward_policy *p,
			  struct ward_inference **ret, struct ward_error *err)
{
	struct ward_inference_config cfg = base->cfg;

	cfg.policy = p;
	cfg.secrets = base->secrets;
	cfg.sandbox = base->sandbox;
	return inference_new(&cfg, base->u, ret, err);
}

struct ward_inference *ward_inference_ref(struct ward_inference *inf)
{
	if (inf)
		inf->refs++;
	return inf;
}

void ward_inference_free(struct ward_inference *inf)
{
	if (!inf || --inf->refs > 0)
		return;
	if (inf->u && --inf->u->refs == 0)
		inf_usage_free(inf->u);
	free((char *)inf->cfg.hosts_file);
	free((char *)inf->cfg.upstream_ca);
	free((char *)inf->cfg.system_roots);
	for (size_t i = 0; i < inf->n; i++) {
		if (inf->b[i].key) {
			explicit_bzero(inf->b[i].key, inf->b[i].key_len);
			free(inf->b[i].key);
		}
	}
	free(inf->b);
	free(inf->key_envs);
	ward_secrets_unref(inf->secrets);
	ward_tls_upstream_free(inf->tls);
	free(inf->sandbox);
	free(inf);
}

int ward_inference_set_sandbox(struct ward_inference *inf, const char *sandbox)
{
	char *s = strdup(sandbox ? sandbox : "");

	if (!s)
		return -ENOMEM;
	free(inf->sandbox);
	inf->sandbox = s;
	return 0;
}

size_t ward_inference_n_key_envs(const struct ward_inference *inf)
{
	return inf ? inf->n_key_envs : 0;
}

const char *ward_inference_key_env(const struct ward_inference *inf, size_t i)
{
	return inf && i < inf->n_key_envs ? inf->key_envs[i] : NULL;
}

uint64_t ward_inference_spent(const struct ward_inference *inf)
{
	return inf->u->spent;
}

uint64_t ward_inference_budget(const struct ward_inference *inf)
{
	return inf->budget;
}

bool inf_has_host(const struct inf_backend *b, const char *host)
{
	if (!host)
		return true;
	for (size_t i = 0; i < b->route->n_hosts; i++)
		if (!strcmp(b->route->hosts[i], host))
			return true;
	return false;
}

bool ward_inference_is_route_host(const struct ward_inference *inf, const char *host)
{
	if (!inf || !host)
		return false;
	for (size_t i = 0; i < inf->n; i++)
		if (inf->b[i].route->n_hosts && inf_has_host(&inf->b[i], host))
			return true;
	return false;
}

struct inf_backend *inf_route(struct ward_inference *inf, const char *model, const char *host)
{
	struct inf_backend *b = inf_route_named(inf, model, host);

	for (size_t i = 0; !b && i < inf->n; i++)
		if (inf_has_host(&inf->b[i], host))
			b = &inf->b[i];
	return b;
}

struct inf_backend *inf_route_named(struct ward_inference *inf, const char *model, const char *host)
{
	if (model) {
		for (size_t i = 0; i < inf->n; i++)
			if (inf_has_host(&inf->b[i], host) && inf->b[i].route->name &&
			    !strcmp(inf->b[i].route->name, model))
				return &inf->b[i];
		for (size_t i = 0; i < inf->n; i++) {
			const struct ward_inference_route *r = inf->b[i].route;

			for (size_t k = 0; inf_has_host(&inf->b[i], host) && k < r->n_aliases; k++)
				if (!strcmp(r->aliases[k], model))
					return &inf->b[i];
		}
		for (size_t i = 0; i < inf->n; i++)
			if (inf_has_host(&inf->b[i], host) && inf->b[i].route->model &&
			    !strcmp(inf->b[i].route->model, model))
				return &inf->b[i];
	}
	return NULL;
}
