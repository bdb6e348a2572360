// SPDX-License-Identifier: MIT
/* Policy suggestions from the decision log: one network policy per binary
 * file name, with the endpoints its rows show (host and port from proxy and
 * l7 rows, L7 rules from the requests, names from DNS queries, addresses from
 * kernel rows the proxy never saw), the filesystem section of the policy
 * the sandbox ran with, and its inference section (inference.local is ward's,
 * never an endpoint). Paths are generalised only where a segment is
 * plainly an identifier (numbers, UUIDs, long hex). Telemetry and update
 * checks are written commented out (ward_suggest_optional). */
#include "audit/suggest.h"
#include "audit/suggest_fs.h"
#include "audit/audit.h"
#include "audit/db.h"
#include "policy/client.h"
#include "policy/match.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure helpers ---- */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static bool is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool long_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return n >= 16;
}

int ward_suggest_path(const char *path, char *out, size_t outsz)
{
	size_t off = 0;
	const char *p = path;

	if (!outsz)
		return -ENOBUFS;
	while (*p) {
		size_t n;
		const char *seg;

		if (*p == '/') {
			if (off + 1 >= outsz)
				return -ENOBUFS;
			out[off++] = *p++;
			continue;
		}
		seg = p;
		n = strcspn(p, "/");
		p += n;
		/* a literal '*' in a segment would become a wildcard anyway */
		if (all_digits(seg, n) || is_uuid(seg, n) || long_hex(seg, n) ||
		    memchr(seg, '*', n)) {
			seg = "*";
			n = 1;
		}
		if (off + n >= outsz)
			return -ENOBUFS;
		memcpy(out + off, seg, n);
		off += n;
	}
	out[off] = '\0';
	return (int)off;
}

void ward_suggest_key(const char *binary, char *out, size_t outsz)
{
	const char *name = strrchr(binary, '/');
	size_t n = 0;

	name = name ? name + 1 : binary;
	for (; *name && n + 1 < outsz && n < 64; name++) {
		unsigned char c = (unsigned char)*name;

		out[n++] = isalnum(c) || c == '_' || c == '.' || c == '-' ? (char)c : '_';
	}
	out[n] = '\0';
	if (n == 0 || !isalnum((unsigned char)out[0])) {
		/* keys start with a letter or digit */
		char tmp[80];

		snprintf(tmp, sizeof(tmp), "bin%s", out);
		snprintf(out, outsz, "%.64s", tmp);
	}
}

/* ---- optional: telemetry and update checks (docs/learn.md) ---- */

static const struct {
	const char *glob, *why;
} optional_hosts[] = {
	{ "*telemetry*", "telemetry" },	   { "*sentry*", "telemetry" },
	{ "*statsig*", "telemetry" },	   { "*segment.io", "telemetry" },
	{ "*segment.com", "telemetry" },   { "*datadog*", "telemetry" },
	{ "*newrelic*", "telemetry" },	   { "*honeycomb.io", "telemetry" },
	{ "*mixpanel*", "telemetry" },	   { "*amplitude.com", "telemetry" },
	{ "*posthog*", "telemetry" },	   { "*bugsnag*", "telemetry" },
	{ "*rollbar*", "telemetry" },	   { "*google-analytics*", "telemetry" },
	{ "*analytics*", "telemetry" },	   { "*crashlytics*", "telemetry" },
	{ "*launchdarkly*", "telemetry" }, { "update.*", "update check" },
	{ "updates.*", "update check" },   { "*.update.*", "update check" },
};

static const struct {
	const char *host, *path, *why;
} optional_paths[] = {
	{ "registry.npmjs.org", "/-/package/**/dist-tags", "update check" },
	{ "*", "/**/version-check*", "update check" },
	{ "*", "/**/latest-version*", "update check" },
	{ "*", "/**/check-update*", "update check" },
	{ "*", "/**/telemetry*", "telemetry" },
};

const char *ward_suggest_optional(const char *host, const char *path)
{
	static __thread char why[160];

	if (!host)
		return NULL;
	for (size_t i = 0; i < sizeof(optional_hosts) / sizeof(optional_hosts[0]); i++)
		if (ward_match_glob(optional_hosts[i].glob, host)) {
			snprintf(why, sizeof(why), "%s: host matches %s", optional_hosts[i].why,
				 optional_hosts[i].glob);
			return why;
		}
	for (size_t i = 0; path && i < sizeof(optional_paths) / sizeof(optional_paths[0]); i++)
		if (ward_match_glob(optional_paths[i].host, host) &&
		    ward_match_glob(optional_paths[i].path, path)) {
			snprintf(why, sizeof(why), "%s: path matches %s", optional_paths[i].why,
				 optional_paths[i].path);
			return why;
		}
	return NULL;
}

/* ---- collection ---- */

struct rule {
	char *method, *path;
};

struct endpoint {
	char *host;
	uint16_t port;
	bool rest;
	struct rule *rules;
	size_t n_rules;
};

struct npol {
	char key[80];
	char **binaries;
	size_t n_binaries;
	struct endpoint *eps;
	size_t n_eps;
	char **dns_hosts; /* names only seen in DNS queries so far */
	size_t n_dns_hosts;
	char **unix_paths; /* host unix sockets (unix rows) */
	size_t n_unix_paths;
	size_t n_active; /* endpoints not optional (print_policy) */
};

struct kcand {
	char *binary, *ip;
	uint16_t port;
};

struct addr {
	char *ip;
	uint16_t port; /* 0: any port of that address */
};

struct iroute {
	char *name; /* inference.routes.NAME of the rows */
	uint64_t calls;
	char **models; /* model_requested= of its rows */
	size_t n_models;
};

struct collect {
	const struct ward_suggest_opts *o;
	/* inference.local: the rows' routes and the binaries that called */
	struct iroute *iroutes;
	size_t n_iroutes;
	char **ibinaries;
	size_t n_ibinaries;
	uint64_t icalls;
	struct ward_suggest_stats *st;
	struct npol *pols;
	size_t n_pols;
	struct kcand *kc;
	size_t n_kc;
	struct addr *ward_addrs; /* the proxy's and the DNS stub's, from kernel rows */
	size_t n_ward_addrs;
	char last_rev[65];
	int error;
};

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

#define GROW(arr, n)                                                                               \
	({                                                                                         \
		__typeof__(arr) _g = realloc((arr), ((n) + 1) * sizeof(*(arr)));                   \
		if (_g)                                                                            \
			(arr) = _g;                                                                \
		_g ? &(arr)[(n)++] : NULL;                                                         \
	})

static int add_str(char ***v, size_t *n, const char *s)
{
	char **slot;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return 0;
	slot = GROW(*v, *n);
	if (!slot || !(*slot = strdup(s)))
		return -ENOMEM;
	return 0;
}

static struct npol *policy_for(struct collect *c, const char *binary)
{
	char key[80];
	struct npol *p;

	ward_suggest_key(binary, key, sizeof(key));
	p = NULL;
	for (size_t i = 0; i < c->n_pols && !p; i++)
		if (!strcmp(c->pols[i].key, key))
			p = &c->pols[i];
	if (!p) {
		p = GROW(c->pols, c->n_pols);
		if (!p)
			return NULL;
		*p = (struct npol){ 0 };
		memcpy(p->key, key, sizeof(key));
	}
	if (add_str(&p->binaries, &p->n_binaries, binary) < 0)
		return NULL;
	return p;
}

static struct endpoint *endpoint_for(struct npol *p, const char *host, uint16_t port)
{
	struct endpoint *e;

	for (size_t i = 0; i < p->n_eps; i++)
		if (p->eps[i].port == port && !strcmp(p->eps[i].host, host))
			return &p->eps[i];
	e = GROW(p->eps, p->n_eps);
	if (!e)
		return NULL;
	*e = (struct endpoint){ .host = strdup(host), .port = port };
	return e->host ? e : NULL;
}

static int add_rule(struct endpoint *e, const char *method, const char *path)
{
	char gen[4096];
	struct rule *r;

	if (ward_suggest_path(path, gen, sizeof(gen)) < 0)
		return 0; /* absurdly long: left out, the request stays denied */
	e->rest = true;
	for (size_t i = 0; i < e->n_rules; i++)
		if (!strcmp(e->rules[i].method, method) && !strcmp(e->rules[i].path, gen))
			return 0;
	r = GROW(e->rules, e->n_rules);
	if (!r)
		return -ENOMEM;
	r->method = strdup(method);
	r->path = strdup(gen);
	return r->method && r->path ? 0 : -ENOMEM;
}

static bool valid_method(const char *m)
{
	if (!m || !*m)
		return false;
	for (; *m; m++)
		if (!isupper((unsigned char)*m))
			return false;
	return true;
}

/* Host names as the policy schema takes them: the proxy's normalised form. */
static bool usable_host(const char *h, char *out, size_t outsz)
{
	return h && ward_host_normalize(h, strlen(h), out, outsz) > 0;
}

static int on_kernel(struct collect *c, const struct ward_audit_row *r)
{
	struct kcand *k;
	struct addr *a;

	if (!r->ip || !r->has_port || r->port <= 0 || r->port > 65535)
		return 0;
	if (is(r->reason, "to the proxy") || is(r->reason, "to the proxy for inference.local") ||
	    is(r->reason, "dns to the stub") ||
	    is(r->reason, "proxy port other than the explicit proxy port")) {
		a = GROW(c->ward_addrs, c->n_ward_addrs);
		if (!a || !(a->ip = strdup(r->ip)))
			return -ENOMEM;
		/* every port of the proxy's address is ward's */
		a->port = is(r->reason, "dns to the stub") ? (uint16_t)r->port : 0;
		return 0;
	}
	if (!is(r->protocol, "tcp") || !r->binary || r->binary[0] != '/')
		return 0;
	if (!is(r->reason, "redirect to proxy") && !is(r->reason, "binary has no network policy") &&
	    !is(r->reason, "port in none of the binary's endpoints"))
		return 0;
	k = GROW(c->kc, c->n_kc);
	if (!k)
		return -ENOMEM;
	*k = (struct kcand){ .binary = strdup(r->binary),
			     .ip = strdup(r->ip),
			     .port = (uint16_t)r->port };
	return k->binary && k->ip ? 1 : -ENOMEM;
}

static int collect_row(struct collect *c, const struct ward_audit_row *r);

/* An inference row: its route (rule inference.routes.NAME), the model asked
 * for (model_requested= in the reason) and the binary. */
static int on_inference(struct collect *c, const struct ward_audit_row *r)
{
	const char *route =
		r->rule && !strncmp(r->rule, "inference.routes.", 17) ? r->rule + 17 : NULL;
	const char *m = r->reason ? strstr(r->reason, "model_requested=") : NULL;
	char model[128] = "";
	struct iroute *ir = NULL;

	c->icalls++;
	if (r->binary && r->binary[0] == '/' &&
	    add_str(&c->ibinaries, &c->n_ibinaries, r->binary) < 0)
		return -ENOMEM;
	if (m) {
		m += strlen("model_requested=");
		snprintf(model, sizeof(model), "%.*s", (int)strcspn(m, " "), m);
		if (!strcmp(model, "-"))
			model[0] = '\0';
	}
	if (!route)
		return 1;
	for (size_t i = 0; i < c->n_iroutes && !ir; i++)
		if (!strcmp(c->iroutes[i].name, route))
			ir = &c->iroutes[i];
	if (!ir) {
		ir = GROW(c->iroutes, c->n_iroutes);
		if (!ir)
			return -ENOMEM;
		*ir = (struct iroute){ .name = strdup(route) };
		if (!ir->name)
			return -ENOMEM;
	}
	ir->calls++;
	if (model[0] && add_str(&ir->models, &ir->n_models, model) < 0)
		return -ENOMEM;
	return 1;
}

/* ward's own: inference.local, and what ward terminated for an inference route */
static bool inference_row(const struct ward_audit_row *r, const char *host)
{
	return !strcmp(host, WARD_INFERENCE_NAME) ||
	       (r->reason && !strncmp(r->reason, "inference.local:", 16)) ||
	       (r->rule && !strncmp(r->rule, "inference", 9));
}

static int on_row(const struct ward_audit_row *r, void *userdata)
{
	struct collect *c = userdata;
	int ret = collect_row(c, r);

	if (ret < 0)
		c->error = ret;
	return ret;
}

static int collect_row(struct collect *c, const struct ward_audit_row *r)
{
	char host[WARD_HOST_MAX];
	struct npol *p;
	struct endpoint *e;
	int used = 0;

	c->st->rows++;
	if (!c->st->first_id)
		c->st->first_id = r->id;
	c->st->last_id = r->id;
	if (r->policy_rev && strlen(r->policy_rev) == 64)
		memcpy(c->last_rev, r->policy_rev, 65);
	if (c->o->denied_only && !is(r->action, "deny") && !is(r->action, "audit") &&
	    !is(r->layer, "kernel"))
		return 0;

	if (is(r->layer, "kernel")) {
		if (c->o->denied_only && is(r->action, "allow") && !is(r->reason, "to the proxy") &&
		    !is(r->reason, "dns to the stub") &&
		    !is(r->reason, "to the proxy for inference.local"))
			return 0;
		used = on_kernel(c, r);
	} else if (is(r->layer, "inference")) {
		used = on_inference(c, r);
	} else if (is(r->layer, "unix") && r->binary && r->binary[0] == '/' && r->path &&
		   r->path[0] == '/' && strlen(r->path) < 108 && is(r->protocol, "unix") &&
		   !strstr(r->reason ? r->reason : "", "cannot tell")) {
		p = policy_for(c, r->binary);
		if (!p || add_str(&p->unix_paths, &p->n_unix_paths, r->path) < 0)
			return -ENOMEM;
		used = 1;
	} else if ((is(r->layer, "proxy") || is(r->layer, "l7")) && r->binary &&
		   r->binary[0] == '/' && usable_host(r->host, host, sizeof(host)) && r->has_port &&
		   r->port > 0 && r->port <= 65535) {
		if (inference_row(r, host))
			return 0; /* the inference section's, never an endpoint */
		if (is(r->layer, "l7") &&
		    (!valid_method(r->method) || !r->path || r->path[0] != '/'))
			return 0; /* an upstream failure or a malformed request, not a request */
		p = policy_for(c, r->binary);
		e = p ? endpoint_for(p, host, (uint16_t)r->port) : NULL;
		if (!e)
			return -ENOMEM;
		if (is(r->layer, "l7") && add_rule(e, r->method, r->path) < 0)
			return -ENOMEM;
		used = 1;
	} else if (is(r->layer, "dns") && r->binary && r->binary[0] == '/' &&
		   usable_host(r->host, host, sizeof(host)) && !ward_host_is_ip(host) &&
		   strcmp(host, WARD_INFERENCE_NAME)) {
		p = policy_for(c, r->binary);
		if (!p || add_str(&p->dns_hosts, &p->n_dns_hosts, host) < 0)
			return -ENOMEM;
		used = 1;
	}
	if (used < 0)
		return used;
	if (used) {
		c->st->used++;
		if (is(r->action, "deny"))
			c->st->denied++;
		else if (is(r->action, "audit"))
			c->st->audited++;
		else
			c->st->allowed++;
	}
	return 0;
}

static bool is_ward_addr(const struct collect *c, const struct kcand *k)
{
	if (!strcmp(k->ip, "127.0.0.53"))
		return true;
	for (size_t i = 0; i < c->n_ward_addrs; i++)
		if (!strcmp(c->ward_addrs[i].ip, k->ip) &&
		    (!c->ward_addrs[i].port || c->ward_addrs[i].port == k->port))
			return true;
	return false;
}

static bool has_port(const struct npol *p, uint16_t port)
{
	for (size_t i = 0; i < p->n_eps; i++)
		if (p->eps[i].port == port)
			return true;
	return false;
}

static bool has_host(const struct npol *p, const char *host)
{
	for (size_t i = 0; i < p->n_eps; i++)
		if (!strcmp(p->eps[i].host, host))
			return true;
	return false;
}

/* After the walk: kernel-only destinations and DNS-only names become endpoints
 * where nothing else already covers them. */
static int finish(struct collect *c)
{
	uint16_t dns_port = c->o->dns_port ? c->o->dns_port : 443;

	for (size_t i = 0; i < c->n_kc; i++) {
		struct kcand *k = &c->kc[i];
		char host[WARD_HOST_MAX];
		struct npol *p;

		if (is_ward_addr(c, k) || !usable_host(k->ip, host, sizeof(host)))
			continue;
		p = policy_for(c, k->binary);
		if (!p)
			return -ENOMEM;
		/* the kernel checks only the port; the proxy then sees the address */
		if (!has_port(p, k->port) && !endpoint_for(p, host, k->port))
			return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];

		for (size_t j = 0; j < p->n_dns_hosts; j++)
			if (!has_host(p, p->dns_hosts[j]) &&
			    !endpoint_for(p, p->dns_hosts[j], dns_port))
				return -ENOMEM;
	}
	return 0;
}

/* ---- output ---- */

static void yq(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int cmp_pol(const void *a, const void *b)
{
	return strcmp(((const struct npol *)a)->key, ((const struct npol *)b)->key);
}

static int cmp_ep(const void *a, const void *b)
{
	const struct endpoint *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	return c ? c : (int)x->port - (int)y->port;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : strcmp(x->method, y->method);
}

/* Is host ward's own: inference.local, or a provider host of one of the
 * logged policy's inference routes (reached through inference.local) */
static bool ward_host(const struct ward_policy *fs, const char *host)
{
	if (!strcmp(host, WARD_INFERENCE_NAME))
		return true;
	for (size_t i = 0; fs && i < fs->n_routes; i++)
		for (size_t k = 0; k < fs->routes[i].n_hosts; k++)
			if (!strcmp(fs->routes[i].hosts[k], host))
				return true;
	return false;
}

/* The endpoint's reason to be optional: its host, or every rule's path */
static const char *endpoint_optional(const struct endpoint *e)
{
	const char *why = ward_suggest_optional(e->host, NULL);

	if (why || !e->rest || !e->n_rules)
		return why;
	for (size_t k = 0; k < e->n_rules; k++)
		if (!(why = ward_suggest_optional(e->host, e->rules[k].path)))
			return NULL;
	return why;
}

static void print_endpoint(FILE *f, struct ward_suggest_stats *st, struct endpoint *e,
			   const char *why)
{
	const char *c = why ? "# " : "";

	if (why)
		fprintf(f, "      # optional (%s): uncomment to allow\n", why);
	else
		st->endpoints++;
	fprintf(f, "      %s- host: ", c);
	yq(f, e->host);
	fprintf(f, "\n      %s  port: %u\n", c, e->port);
	if (!e->rest)
		return;
	qsort(e->rules, e->n_rules, sizeof(*e->rules), cmp_rule);
	fprintf(f, "      %s  protocol: rest\n      %s  rules:\n", c, c);
	for (size_t k = 0; k < e->n_rules; k++) {
		const char *rwhy = why ? NULL : ward_suggest_optional(e->host, e->rules[k].path);
		const char *rc = why || rwhy ? "# " : "";

		if (rwhy)
			fprintf(f, "          # optional (%s): uncomment to allow\n", rwhy);
		else if (!why)
			st->rules++;
		fprintf(f, "%s%s- allow: { method: ", why ? "      #     " : "          ",
			why ? "" : rc);
		yq(f, e->rules[k].method);
		fputs(", path: ", f);
		yq(f, e->rules[k].path);
		fputs(" }\n", f);
	}
}

static void print_binaries(FILE *f, const char *indent, char *const *v, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		fprintf(f, "%s- { path: ", indent);
		yq(f, v[j]);
		fputs(" }\n", f);
	}
}

static const struct iroute *iroute_of(const struct collect *c, const char *name)
{
	for (size_t i = 0; i < c->n_iroutes; i++)
		if (!strcmp(c->iroutes[i].name, name))
			return &c->iroutes[i];
	return NULL;
}

/* inference: the logged policy's routes, every one of them (a route the log
 * did not use may serve the next run), each with what the log shows of it;
 * binaries: the policy's list with the callers the log shows */
static void print_inference(FILE *f, const struct collect *c, const struct ward_policy *fs)
{
	if (!fs || !fs->n_routes) {
		if (c->icalls)
			fprintf(f,
				"# inference.local served %" PRIu64
				" calls, but the policy they ran "
				"under is not in the log: copy its inference: section here\n",
				c->icalls);
		return;
	}
	fputs("inference:\n", f);
	if (fs->n_inference_binaries) {
		fputs("  binaries:\n", f);
		for (size_t i = 0; i < fs->n_inference_binaries; i++) {
			const struct ward_binary *b = &fs->inference_binaries[i];

			fputs("    - { ", f);
			if (b->path) {
				fputs("path: ", f);
				yq(f, b->path);
			} else {
				fputs("sha256: ", f);
				yq(f, b->sha256);
			}
			fprintf(f, "%s }\n", b->ancestors ? ", ancestors: true" : "");
		}
		for (size_t i = 0; i < c->n_ibinaries; i++) {
			bool covered = false;

			for (size_t k = 0; k < fs->n_inference_binaries && !covered; k++)
				covered = fs->inference_binaries[k].path &&
					  ward_match_binary(fs->inference_binaries[k].path,
							    c->ibinaries[i]);
			if (!covered)
				print_binaries(f, "    ", &c->ibinaries[i], 1);
		}
	}
	if (fs->inference_max_tokens || fs->inference_max_usd > 0 ||
	    fs->inference_session_max_tokens || fs->inference_session_max_usd > 0 ||
	    fs->n_inference_warn_at) {
		fputs("  budget:\n", f);
		if (fs->inference_max_tokens)
			fprintf(f, "    max_tokens: %" PRIu64 "\n", fs->inference_max_tokens);
		if (fs->inference_max_usd > 0)
			fprintf(f, "    max_usd: %.17g\n", fs->inference_max_usd);
		if (fs->inference_session_max_tokens || fs->inference_session_max_usd > 0) {
			fputs("    per_session:\n", f);
			if (fs->inference_session_max_tokens)
				fprintf(f, "      max_tokens: %" PRIu64 "\n",
					fs->inference_session_max_tokens);
			if (fs->inference_session_max_usd > 0)
				fprintf(f, "      max_usd: %.17g\n", fs->inference_session_max_usd);
		}
		if (fs->n_inference_warn_at) {
			fputs("    warn_at: [", f);
			for (size_t i = 0; i < fs->n_inference_warn_at; i++)
				fprintf(f, "%s%.17g", i ? ", " : "", fs->inference_warn_at[i]);
			fputs("]\n", f);
		}
	}
	if (fs->inference_strict_models)
		fputs("  strict_models: true\n", f);
	fputs("  routes:\n", f);
	for (size_t i = 0; i < fs->n_routes; i++) {
		const struct ward_inference_route *rt = &fs->routes[i];
		const struct iroute *ir = iroute_of(c, rt->name);

		if (ir) {
			fprintf(f, "    # used: %" PRIu64 " calls", ir->calls);
			for (size_t k = 0; k < ir->n_models; k++)
				fprintf(f, "%s%s",
					k ? ", " : "; models asked for: ", ir->models[k]);
			fputs("\n", f);
		} else {
			fputs("    # not used in the log\n", f);
		}
		fputs("    - name: ", f);
		yq(f, rt->name);
		fputs("\n      provider: ", f);
		yq(f, rt->provider);
		fputs("\n      model: ", f);
		yq(f, rt->model);
		fputs("\n", f);
		if (rt->base_url) {
			fputs("      base_url: ", f);
			yq(f, rt->base_url);
			fputs("\n", f);
		}
		if (rt->api_key_env) {
			fputs("      api_key_env: ", f);
			yq(f, rt->api_key_env);
			fputs("\n", f);
		}
		if (rt->api_key_secret) {
			fputs("      api_key_secret: ", f);
			yq(f, rt->api_key_secret);
			fputs("\n", f);
		}
		if (rt->n_aliases) {
			fputs("      aliases: [", f);
			for (size_t k = 0; k < rt->n_aliases; k++) {
				fputs(k ? ", " : "", f);
				yq(f, rt->aliases[k]);
			}
			fputs("]\n", f);
		}
		if (rt->n_hosts) {
			fputs("      hosts: [", f);
			for (size_t k = 0; k < rt->n_hosts; k++) {
				fputs(k ? ", " : "", f);
				yq(f, rt->hosts[k]);
			}
			fputs("]\n", f);
		}
		if (rt->price_known && rt->price_source && !strcmp(rt->price_source, "route"))
			fprintf(f,
				"      price: { input: %.17g, output: %.17g, cached_input: %.17g }\n",
				rt->price_input, rt->price_output, rt->price_cached);
	}
}

static void print_policy(FILE *f, struct collect *c, const char *path, const struct ward_policy *fs)
{
	struct ward_suggest_stats *st = c->st;
	struct ward_error fs_err = { 0 };
	size_t active = 0;

	fprintf(f, "# Generated by 'ward policy suggest' from the decision log %s\n", path);
	fprintf(f,
		"# rows %" PRId64 "..%" PRId64 " (%" PRIu64 " read, %" PRIu64 " used: %" PRIu64
		" denied, %" PRIu64 " audited, %" PRIu64 " allowed)",
		st->first_id, st->last_id, st->rows, st->used, st->denied, st->audited,
		st->allowed);
	if (c->o->sandbox)
		fprintf(f, ", sandbox %s", c->o->sandbox);
	if (c->o->since_ns)
		fprintf(f, ", since %" PRIu64 " ns", c->o->since_ns);
	fputs("\n", f);
	if (fs)
		fprintf(f,
			"# filesystem_policy, landlock, process and inference: from policy rev "
			"%.12s in the log\n",
			st->policy_rev);
	else
		fputs("# no policy stored in the log: filesystem_policy left to you\n", f);
	fputs("# Review it: every endpoint below was observed, none was judged.\n", f);
	fputs("# Telemetry and update checks are commented out (docs/learn.md).\n", f);
	fputs("version: 1\n", f);
	/* the policy's filesystem section widened by the fs rows (suggest_fs.c) */
	if (ward_suggest_fs_print(f, path, c->o, fs, &fs_err) < 0)
		c->error = fs_err.code;
	print_inference(f, c, fs);
	/* ward's own hosts are no endpoints; the optional ones are comments */
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];
		size_t n = 0;

		for (size_t j = 0; j < p->n_eps; j++) {
			if (ward_host(fs, p->eps[j].host)) {
				free(p->eps[j].host);
				for (size_t k = 0; k < p->eps[j].n_rules; k++) {
					free(p->eps[j].rules[k].method);
					free(p->eps[j].rules[k].path);
				}
				free(p->eps[j].rules);
				continue;
			}
			p->eps[n++] = p->eps[j];
		}
		p->n_eps = n;
		p->n_active = p->n_unix_paths;
		for (size_t j = 0; j < p->n_eps; j++)
			if (!endpoint_optional(&p->eps[j]))
				p->n_active++;
		if (p->n_active)
			active++;
	}
	if (!active)
		fputs("network_policies: {}\n", f);
	else
		fputs("network_policies:\n", f);
	qsort(c->pols, c->n_pols, sizeof(*c->pols), cmp_pol);
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];
		const char *pc = p->n_active ? "" : "# ";

		if (!p->n_eps && !p->n_unix_paths)
			continue;
		qsort(p->eps, p->n_eps, sizeof(*p->eps), cmp_ep);
		if (!p->n_active)
			fputs("  # optional: every endpoint of this binary is telemetry or an "
			      "update check\n",
			      f);
		fprintf(f, "  %s%s:\n  %s  binaries:\n", pc, p->key, pc);
		for (size_t j = 0; j < p->n_binaries; j++) {
			fprintf(f, "  %s    - { path: ", pc);
			yq(f, p->binaries[j]);
			fputs(" }\n", f);
		}
		fprintf(f, "  %s  endpoints:\n", pc);
		if (p->n_active)
			st->policies++;
		for (size_t j = 0; j < p->n_eps; j++) {
			const char *why = endpoint_optional(&p->eps[j]);

			/* a policy all optional: its endpoints are comments already */
			print_endpoint(f, st, &p->eps[j], why ? why : p->n_active ? NULL : "");
		}
		for (size_t j = 0; j < p->n_unix_paths; j++) {
			st->endpoints++;
			fputs("      - unix: ", f);
			yq(f, p->unix_paths[j]);
			fputs("\n", f);
		}
	}
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n_pols; i++) {
		struct npol *p = &c->pols[i];

		for (size_t j = 0; j < p->n_binaries; j++)
			free(p->binaries[j]);
		free(p->binaries);
		for (size_t j = 0; j < p->n_dns_hosts; j++)
			free(p->dns_hosts[j]);
		free(p->dns_hosts);
		for (size_t j = 0; j < p->n_unix_paths; j++)
			free(p->unix_paths[j]);
		free(p->unix_paths);
		for (size_t j = 0; j < p->n_eps; j++) {
			for (size_t k = 0; k < p->eps[j].n_rules; k++) {
				free(p->eps[j].rules[k].method);
				free(p->eps[j].rules[k].path);
			}
			free(p->eps[j].rules);
			free(p->eps[j].host);
		}
		free(p->eps);
	}
	free(c->pols);
	for (size_t i = 0; i < c->n_kc; i++) {
		free(c->kc[i].binary);
		free(c->kc[i].ip);
	}
	free(c->kc);
	for (size_t i = 0; i < c->n_ward_addrs; i++)
		free(c->ward_addrs[i].ip);
	free(c->ward_addrs);
	for (size_t i = 0; i < c->n_iroutes; i++) {
		for (size_t k = 0; k < c->iroutes[i].n_models; k++)
			free(c->iroutes[i].models[k]);
		free(c->iroutes[i].models);
		free(c->iroutes[i].name);
	}
	free(c->iroutes);
	for (size_t i = 0; i < c->n_ibinaries; i++)
		free(c->ibinaries[i]);
	free(c->ibinaries);
}

/* The policy the rows ran with, compiled again from its stored source. */
static struct ward_policy *load_logged(const char *path, const char *rev)
{
	_cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct ward_diags diags = { 0 };
	struct ward_policy *p = NULL;

	if (!rev[0] || audit_db_open_ro(path, &db, NULL) < 0)
		return NULL;
	if (sqlite3_prepare_v2(db, "SELECT source FROM policies WHERE rev = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, rev, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
	    ward_policy_load_buffer("logged policy", (const char *)sqlite3_column_text(st, 0),
				    (size_t)sqlite3_column_bytes(st, 0), &p, &diags, NULL) < 0)
		p = NULL;
	ward_diags_free(&diags);
	return p;
}

int ward_suggest(const char *path, const struct ward_suggest_opts *o, FILE *out,
		 struct ward_suggest_stats *ret_stats, struct ward_error *err)
{
	static const struct ward_suggest_opts defaults;
	struct ward_suggest_stats st = { 0 };
	struct collect c = { .o = o ? o : &defaults, .st = &st };
	struct ward_audit_filter f = { 0 };
	struct ward_audit_reader *rd = NULL;
	struct ward_policy *fs = NULL;
	int r;

	if (!path)
		path = ward_audit_default_path();
	r = ward_audit_reader_open(path, &rd, err);
	if (r < 0)
		return r;
	f.sandbox = c.o->sandbox;
	f.since_ns = c.o->since_ns;
	r = ward_audit_reader_each(rd, &f, on_row, &c, err);
	ward_audit_reader_close(rd);
	if (c.error)
		r = ward_err(err, c.error, "suggest");
	if (r >= 0)
		r = finish(&c) < 0 ? ward_err(err, -ENOMEM, "suggest") : 0;
	if (r >= 0) {
		fs = load_logged(path, c.last_rev);
		if (fs)
			memcpy(st.policy_rev, c.last_rev, 65);
		print_policy(out, &c, path, fs);
		ward_policy_free(fs);
		if (c.error)
			r = ward_err(err, c.error, "suggest: filesystem");
		if (fflush(out) != 0 || ferror(out))
			r = ward_err(err, -EIO, "write policy");
	}
	collect_free(&c);
	if (ret_stats)
		*ret_stats = st;
	return r;
}
