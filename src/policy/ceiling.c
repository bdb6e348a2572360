// SPDX-License-Identifier: MIT
/* The org ceiling (ceiling.h). Each thing the sandbox policy grants must be
 * granted, whole, by one rule of the host policy for the same binary: a
 * sandbox glob under a host glob only when every string it can match the
 * host glob matches too (subsumption, decided on the patterns, never on
 * samples), so the answer is sound: an accepted policy cannot reach what
 * the host policy refuses. It can refuse a policy that is in fact narrower
 * (access allowed only by the union of two host rules): such a policy is
 * rewritten as the host rules are, and the notes show which. The rules per
 * key are in docs/policy.md, "The org ceiling". */
#include "policy/ceiling.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "policy/cover.h"
#include "policy/match.h"
#include "policy/policy.h"
#include "policy/secrets.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

/* ---- the walk ---- */

/* Host endpoints looked at for one check: a sandbox and a host policy of
 * 1 MiB each could otherwise ask for billions of pattern comparisons. */
#define CEILING_MAX_WORK 20000000

struct check {
	const struct ward_policy *s, *h;
	struct ward_ceiling_report *rep;
	struct ward_pos net_pos; /* the host policy's network_policies key */
	const bool *cov;	 /* per host network policy: it covers the binary at hand */
	uint64_t work;
	int r; /* sticky: the first failure */
};

static bool raw(const struct ward_endpoint *ep)
{
	return ep->protocol != WARD_PROTO_REST;
}

/* Allows every HTTP request (inspected or not): audit only logs denials. */
static bool all_http(const struct ward_endpoint *ep)
{
	return raw(ep) || ep->enforcement == WARD_AUDIT;
}

static bool policy_covers(const struct ward_net_policy *hp, const struct ward_binary *b)
{
	for (size_t i = 0; i < hp->n_binaries; i++)
		if (ward_cover_binary(&hp->binaries[i], b))
			return true;
	return false;
}

__attribute__((format(printf, 5, 6))) static void violation(struct check *c, struct ward_pos pos,
							    struct ward_pos note_pos,
							    const char *note, const char *what, ...)
{
	struct ward_ceiling_report *rep = c->rep;
	struct ward_ceiling_violation *v;
	_cleanup_free_ char *w = NULL;
	va_list ap;
	int n;

	if (c->r < 0)
		return;
	va_start(ap, what);
	n = vasprintf(&w, what, ap);
	va_end(ap);
	if (n < 0) {
		w = NULL;
		c->r = -ENOMEM;
		return;
	}
	v = reallocarray(rep->v, rep->n + 1, sizeof(*v));
	if (!v) {
		c->r = -ENOMEM;
		return;
	}
	rep->v = v;
	v = &rep->v[rep->n];
	*v = (struct ward_ceiling_violation){ .pos = pos, .note_pos = note_pos };
	if (asprintf(&v->msg, "%s is not allowed by the host policy", w) < 0)
		v->msg = NULL;
	v->note = strdup(note);
	if (!v->msg || !v->note) {
		free(v->msg);
		free(v->note);
		c->r = -ENOMEM;
		return;
	}
	rep->n++;
}

/* "/usr/bin/git and its descendants", "sha256:HEX" */
static void bin_text(char *buf, size_t sz, const struct ward_binary *b)
{
	snprintf(buf, sz, "%s%s%s", b->sha256 ? "sha256:" : "", b->sha256 ? b->sha256 : b->path,
		 b->ancestors ? " and its descendants" : "");
}

static void note_text(char *buf, size_t sz, const char *what, const char *bin)
{
	snprintf(buf, sz, "the host policy's %s for %s is here", what, bin);
}

static void no_rule(char *buf, size_t sz, const struct check *c, const char *bin)
{
	snprintf(buf, sz, "the host policy has no rule for %s%s", bin,
		 c->h->n_net ? "" : " (it has no network_policies)");
}

/* Labels two names share from the right: how close an endpoint comes. */
static size_t common_labels(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = 0;

	while (la && lb && a[la - 1] == b[lb - 1]) {
		la--;
		lb--;
		if ((!la || a[la - 1] == '.') && (!lb || b[lb - 1] == '.'))
			n++;
	}
	return n;
}

/* The host endpoint a refused sandbox endpoint comes closest to, among the
 * rules for the binary: one with the host (its ports differ), else the one
 * sharing the most labels, else the first rule's. */
static struct ward_pos closest(const struct check *c, const char *host)
{
	struct ward_pos best = { 0 };
	long score = -1;

	for (size_t i = 0; i < c->h->n_net; i++) {
		const struct ward_net_policy *hp = &c->h->net[i];

		if (!c->cov[i])
			continue;
		if (score < 0) {
			best = hp->pos;
			score = 0;
		}
		for (size_t j = 0; j < hp->n_endpoints; j++) {
			const struct ward_endpoint *ep = &hp->endpoints[j];
			long s = ward_cover_host(ep->host, host)
					 ? 1000
					 : 1 + (long)common_labels(ep->host, host);

			if (s > score) {
				score = s;
				best = ep->pos;
			}
		}
	}
	return best;
}

/* Whether a host endpoint grants what arg describes; *ret_deny: the host
 * deny rule in the way, when that is why not. */
typedef bool (*cand_fn)(const struct ward_endpoint *cand, const void *arg,
			const struct ward_l7_rule **ret_deny);

struct port_result {
	char ports[256];		  /* the ports where no host endpoint passes */
	const struct ward_endpoint *near; /* a host endpoint that comes closest */
	const struct ward_l7_rule *deny;  /* the host deny rule in the way */
};

static void ports_add(char *buf, size_t sz, uint16_t port)
{
	size_t n = strlen(buf);

	snprintf(buf + n, sz - n, "%s%u", n ? "," : "", port);
}

/* For each port k of e still in play (ok[k]): does a host endpoint for the
 * binary (c->cov) that covers e's host and the port pass fn (NULL: any)?
 * clear: a port that fails leaves play. True when all in play pass. */
static bool each_port(struct check *c, const struct ward_endpoint *e, bool *ok, bool clear,
		      cand_fn fn, const void *arg, struct port_result *res)
{
	memset(res, 0, sizeof(*res));
	for (size_t k = 0; k < e->n_ports; k++) {
		bool pass = false;

		if (!ok[k])
			continue;
		for (size_t i = 0; i < c->h->n_net && !pass; i++) {
			const struct ward_net_policy *hp = &c->h->net[i];

			if (!c->cov[i])
				continue;
			for (size_t j = 0; j < hp->n_endpoints && !pass; j++) {
				const struct ward_endpoint *ep = &hp->endpoints[j];
				const struct ward_l7_rule *deny = NULL;
				bool port = false;

				if (++c->work > CEILING_MAX_WORK) {
					c->r = c->r < 0 ? c->r : -E2BIG;
					return true;
				}
				for (size_t q = 0; q < ep->n_ports && !port; q++)
					port = ep->ports[q] == e->ports[k];
				if (!port || !ward_cover_host(ep->host, e->host))
					continue;
				pass = !fn || fn(ep, arg, &deny);
				if (!pass && (!res->near || (deny && !res->deny))) {
					res->near = ep;
					res->deny = deny;
				}
			}
		}
		if (!pass) {
			ports_add(res->ports, sizeof(res->ports), e->ports[k]);
			if (clear)
				ok[k] = false;
		}
	}
	return !res->ports[0];
}

static bool cand_raw(const struct ward_endpoint *cand, const void *arg,
		     const struct ward_l7_rule **ret_deny)
{
	(void)arg;
	(void)ret_deny;
	return raw(cand);
}

static const char *const *access_methods(enum ward_access a)
{
	static const char *const ro[] = { "GET", "HEAD", "OPTIONS", NULL };
	static const char *const rw[] = { "GET", "HEAD",  "OPTIONS", "POST",
					  "PUT", "PATCH", "DELETE",  NULL };
	static const char *const full[] = { "*", NULL };

	switch (a) {
	case WARD_ACCESS_READ_ONLY:
		return ro;
	case WARD_ACCESS_READ_WRITE:
		return rw;
	case WARD_ACCESS_FULL:
		return full;
	case WARD_ACCESS_NONE:
		break;
	}
	return NULL;
}

/* Does the host endpoint allow every request u allows (as decide.c decides:
 * its deny rules first, then access, then rules)? A host deny rule that may
 * overlap u is harmless only when one of the sandbox's own enforced deny
 * rules (sdeny) covers it. */
static bool l7_passes(const struct ward_endpoint *cand, const struct ward_l7_rule *u,
		      const struct ward_endpoint *sdeny, const struct ward_l7_rule **ret_deny)
{
	const char *const *m = access_methods(cand->access);
	bool allowed = false;

	if (all_http(cand))
		return true;
	for (size_t i = 0; m && m[i] && !allowed; i++)
		allowed = ward_cover_method(m[i], u->method);
	for (size_t i = 0; i < cand->n_rules && !allowed; i++)
		allowed = ward_cover_rule(&cand->rules[i], u);
	if (!allowed)
		return false;
	for (size_t i = 0; i < cand->n_deny_rules; i++) {
		const struct ward_l7_rule *d = &cand->deny_rules[i];
		bool mine = false;

		if (ward_rules_disjoint(d, u))
			continue;
		for (size_t j = 0; sdeny && j < sdeny->n_deny_rules && !mine; j++)
			mine = ward_cover_rule(&sdeny->deny_rules[j], d);
		if (!mine) {
			*ret_deny = d;
			return false;
		}
	}
	return true;
}

struct l7_arg {
	const struct ward_l7_rule *u;	 /* a request pattern the sandbox allows */
	const struct ward_endpoint *own; /* its endpoint, when its deny rules are enforced */
};

static bool cand_l7(const struct ward_endpoint *cand, const void *arg,
		    const struct ward_l7_rule **ret_deny)
{
	const struct l7_arg *a = arg;

	return l7_passes(cand, a->u, a->own, ret_deny);
}

static const struct ward_l7_rule every_request = { .method = "*", .path = "/**" };

/* The host endpoint grants all that the sandbox endpoint e does (below its
 * host name: at an address in one of e's allowed_ips, e's rules decide). */
static bool endpoint_passes(const struct ward_endpoint *cand, const struct ward_endpoint *e,
			    const struct ward_l7_rule **ret_deny)
{
	const char *const *m = access_methods(e->access);

	if (raw(e))
		return raw(cand);
	if (e->enforcement == WARD_AUDIT)
		return l7_passes(cand, &every_request, NULL, ret_deny);
	for (size_t i = 0; m && m[i]; i++) {
		struct ward_l7_rule u = { .method = (char *)m[i], .path = "/**" };

		if (!l7_passes(cand, &u, e, ret_deny))
			return false;
	}
	for (size_t i = 0; i < e->n_rules; i++)
		if (!l7_passes(cand, &e->rules[i], e, ret_deny))
			return false;
	return true;
}

struct ip_arg {
	const struct ward_cidr *cidr;
	const struct ward_endpoint *e;
};

/* A raw address in the range is decided by the endpoint whose allowed_ips
 * hold it: that one must grant everything e grants. */
static bool cand_ip(const struct ward_endpoint *cand, const void *arg,
		    const struct ward_l7_rule **ret_deny)
{
	const struct ip_arg *a = arg;

	for (size_t i = 0; i < cand->n_allowed_ips; i++)
		if (ward_cover_cidr(&cand->allowed_ips[i], a->cidr))
			return endpoint_passes(cand, a->e, ret_deny);
	return false;
}

static struct ward_pos near_pos(const struct port_result *res)
{
	if (res->deny)
		return res->deny->pos;
	return res->near ? res->near->pos : (struct ward_pos){ 0 };
}

static void near_note(char *buf, size_t sz, const struct port_result *res, const char *bin)
{
	note_text(buf, sz, res->deny ? "deny rule" : "closest rule", bin);
}

static void rule_text(char *buf, size_t sz, const struct ward_l7_rule *r)
{
	size_t n = (size_t)snprintf(buf, sz, "%s %s", r->method, r->path);

	for (size_t q = 0; q < r->n_query && n < sz; q++)
		n += (size_t)snprintf(buf + n, sz - n, "%s%s=%s", q ? "&" : "?", r->query[q].key,
				      r->query[q].glob);
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

/* What the sandbox's HTTP rules let through on e, per request pattern. */
static void check_l7(struct check *c, const char *w, const char *bin, const struct ward_endpoint *e,
		     bool *ok)
{
	const char *const *m = access_methods(e->access);
	struct l7_arg a = { .own = e };
	struct port_result res, first = { 0 };
	char note[PATH_MAX + 128], rt[512], methods[128] = "";

	if (e->enforcement == WARD_AUDIT) {
		/* audit lets every request through: its deny rules only log */
		a = (struct l7_arg){ .u = &every_request };
		if (!each_port(c, e, ok, false, cand_l7, &a, &res)) {
			near_note(note, sizeof(note), &res, bin);
			violation(c, e->pos, near_pos(&res), note,
				  "%s -> %s:%s every request (enforcement: audit)", w, e->host,
				  res.ports);
		}
		return;
	}
	/* access: one line for the methods that fall short */
	for (size_t i = 0; m && m[i]; i++) {
		struct ward_l7_rule u = { .method = (char *)m[i], .path = "/**" };

		a.u = &u;
		if (each_port(c, e, ok, false, cand_l7, &a, &res))
			continue;
		if (!first.ports[0])
			first = res;
		snprintf(methods + strlen(methods), sizeof(methods) - strlen(methods), "%s%s",
			 methods[0] ? ", " : "", m[i]);
	}
	if (methods[0]) {
		near_note(note, sizeof(note), &first, bin);
		violation(c, e->pos, near_pos(&first), note, "%s -> %s:%s %s /** (access: %s)", w,
			  e->host, first.ports, methods, access_name(e->access));
	}
	for (size_t i = 0; i < e->n_rules; i++) {
		a.u = &e->rules[i];
		if (each_port(c, e, ok, false, cand_l7, &a, &res))
			continue;
		rule_text(rt, sizeof(rt), &e->rules[i]);
		near_note(note, sizeof(note), &res, bin);
		violation(c, e->rules[i].pos, near_pos(&res), note, "%s -> %s:%s %s", w, e->host,
			  res.ports, rt);
	}
}

static void check_endpoint(struct check *c, const char *w, const char *bin,
			   const struct ward_endpoint *e)
{
	_cleanup_free_ bool *ok = calloc(e->n_ports ? e->n_ports : 1, sizeof(*ok));
	char note[PATH_MAX + 128];
	struct port_result res;

	if (!ok) {
		c->r = -ENOMEM;
		return;
	}
	for (size_t k = 0; k < e->n_ports; k++)
		ok[k] = true;
	/* L4: the binary may reach the host on the port at all; the checks
	 * below look at the ports that pass this one only */
	if (!each_port(c, e, ok, true, NULL, NULL, &res)) {
		note_text(note, sizeof(note), "closest rule", bin);
		violation(c, e->pos, closest(c, e->host), note, "%s -> %s:%s", w, e->host,
			  res.ports);
	}
	/* uninspected bytes only where the host does not inspect either */
	if (raw(e) && !each_port(c, e, ok, false, cand_raw, NULL, &res)) {
		near_note(note, sizeof(note), &res, bin);
		violation(c, e->pos, near_pos(&res), note,
			  "%s -> %s:%s without HTTP inspection (%s)", w, e->host, res.ports,
			  e->protocol == WARD_PROTO_TCP ? "protocol: tcp" : "no protocol: rest");
	}
	if (!raw(e))
		check_l7(c, w, bin, e, ok);
	/* private ranges the endpoint may resolve to, and raw addresses in them */
	for (size_t i = 0; i < e->n_allowed_ips; i++) {
		const struct ward_cidr *ci = &e->allowed_ips[i];
		struct ip_arg a = { .cidr = ci, .e = e };
		char addr[INET6_ADDRSTRLEN] = "?";

		if (each_port(c, e, ok, false, cand_ip, &a, &res))
			continue;
		inet_ntop(ci->family, ci->addr, addr, sizeof(addr));
		near_note(note, sizeof(note), &res, bin);
		violation(c, e->pos, near_pos(&res), note, "%s -> %s:%s at %s/%u (allowed_ips)", w,
			  e->host, res.ports, addr, ci->prefix);
	}
}

/* Which host network policies cover b, into c->cov (owned by the caller);
 * false when none does. */
static bool cover_binary(struct check *c, bool *cov, const struct ward_binary *b)
{
	bool any = false;

	for (size_t k = 0; k < c->h->n_net; k++) {
		cov[k] = policy_covers(&c->h->net[k], b);
		any |= cov[k];
	}
	c->cov = cov;
	return any;
}

static void check_net(struct check *c)
{
	_cleanup_free_ bool *cov = calloc(c->h->n_net ? c->h->n_net : 1, sizeof(*cov));
	char note[PATH_MAX + 128], w[PATH_MAX + 160], bin[PATH_MAX + 64];

	if (!cov) {
		c->r = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < c->s->n_net; i++) {
		const struct ward_net_policy *np = &c->s->net[i];

		for (size_t j = 0; j < np->n_binaries; j++) {
			const struct ward_binary *b = &np->binaries[j];

			/* unix sockets are outside host mode: host endpoints only */
			if (!np->n_endpoints)
				continue;
			bin_text(bin, sizeof(bin), b);
			snprintf(w, sizeof(w), "%s (%s)", np->key, bin);
			if (!cover_binary(c, cov, b)) {
				no_rule(note, sizeof(note), c, bin);
				violation(c, b->pos, c->net_pos, note, "network access of %s", w);
				continue;
			}
			for (size_t e = 0; e < np->n_endpoints; e++)
				check_endpoint(c, w, bin, &np->endpoints[e]);
		}
	}
	c->cov = NULL;
}

/* ---- inference routes: ward's proxy calls the upstream for the binaries
 * that may use inference.local ---- */

static const struct {
	const char *provider, *base_url;
} default_urls[] = {
	{ "openai", "https://api.openai.com/v1" },
	{ "anthropic", "https://api.anthropic.com/v1" },
	{ "nvidia", "https://integrate.api.nvidia.com/v1" },
};

const char *ward_ceiling_default_base_url(const char *provider)
{
	for (size_t i = 0; provider && i < ARRAY_SIZE(default_urls); i++)
		if (!strcmp(default_urls[i].provider, provider))
			return default_urls[i].base_url;
	return NULL;
}

/* host, port and the glob PATH + "/" + "**" of the route's upstream; false when unreadable */
static bool upstream(const struct ward_inference_route *r, char *host, size_t hsz,
		     uint16_t *ret_port, char *glob, size_t gsz)
{
	const char *url = r->base_url ? r->base_url : ward_ceiling_default_base_url(r->provider);
	const char *p, *end, *hs, *he, *colon = NULL;
	unsigned long port;
	size_t plen;

	if (!url)
		return false;
	if (!strncmp(url, "https://", 8)) {
		p = url + 8;
		port = 443;
	} else if (!strncmp(url, "http://", 7)) {
		p = url + 7;
		port = 80;
	} else {
		return false;
	}
	end = p + strcspn(p, "/");
	if (*p == '[') {
		hs = p + 1;
		he = memchr(p, ']', (size_t)(end - p));
		if (!he)
			return false;
		if (he + 1 < end)
			colon = he + 1;
	} else {
		hs = p;
		he = memchr(p, ':', (size_t)(end - p));
		if (he)
			colon = he;
		else
			he = end;
	}
	if (colon) {
		char *e;

		if (*colon != ':')
			return false;
		port = strtoul(colon + 1, &e, 10);
		if (e != end || !port || port > 65535)
			return false;
	}
	if (ward_host_normalize(hs, (size_t)(he - hs), host, hsz) < 0)
		return false;
	plen = strlen(end);
	while (plen && end[plen - 1] == '/')
		plen--;
	if ((size_t)snprintf(glob, gsz, "%.*s/**", (int)plen, end) >= gsz)
		return false;
	*ret_port = (uint16_t)port;
	return true;
}

static bool host_inference_covers(const struct check *c, const struct ward_binary *b,
				  const char *host, uint16_t port)
{
	bool route = false, bin = !c->h->inference_binaries;

	for (size_t i = 0; i < c->h->n_routes && !route; i++) {
		char h[WARD_HOST_MAX], g[512];
		uint16_t p;

		route = upstream(&c->h->routes[i], h, sizeof(h), &p, g, sizeof(g)) &&
			!strcmp(h, host) && p == port;
	}
	for (size_t i = 0; i < c->h->n_inference_binaries && !bin; i++)
		bin = ward_cover_binary(&c->h->inference_binaries[i], b);
	return route && bin;
}

static void check_route(struct check *c, bool *cov, const struct ward_inference_route *r,
			const struct ward_binary *b, const char *bin)
{
	char host[WARD_HOST_MAX], glob[512], note[PATH_MAX + 128];
	uint16_t port;
	struct ward_l7_rule post = { .method = "POST", .path = glob };
	struct ward_endpoint e = { .host = host, .ports = &port, .n_ports = 1 };
	struct l7_arg a = { .u = &post };
	struct port_result res;
	bool ok = true, any;

	if (!upstream(r, host, sizeof(host), &port, glob, sizeof(glob))) {
		violation(c, r->pos, (struct ward_pos){ 0 },
			  "the ceiling cannot tell where this route connects", "inference route %s",
			  r->name);
		return;
	}
	any = cover_binary(c, cov, b);
	if (host_inference_covers(c, b, host, port) ||
	    each_port(c, &e, &ok, false, cand_l7, &a, &res))
		return;
	if (!any)
		no_rule(note, sizeof(note), c, bin);
	else
		near_note(note, sizeof(note), &res, bin);
	violation(c, r->pos,
		  !any	     ? c->net_pos
		  : res.near ? near_pos(&res)
			     : closest(c, host),
		  note, "inference route %s: %s -> %s:%u POST %s", r->name, bin, host, port, glob);
}

static void check_inference(struct check *c)
{
	/* no inference.binaries: every binary may use inference.local */
	static const struct ward_binary every = { .path = "/**" };
	_cleanup_free_ bool *cov = calloc(c->h->n_net ? c->h->n_net : 1, sizeof(*cov));
	char bin[PATH_MAX + 64];

	if (!cov) {
		c->r = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < c->s->n_routes; i++) {
		const struct ward_inference_route *r = &c->s->routes[i];

		if (!c->s->inference_binaries) {
			check_route(c, cov, r, &every, "every binary (/**: no inference.binaries)");
			continue;
		}
		for (size_t j = 0; j < c->s->n_inference_binaries; j++) {
			bin_text(bin, sizeof(bin), &c->s->inference_binaries[j]);
			check_route(c, cov, r, &c->s->inference_binaries[j], bin);
		}
	}
	c->cov = NULL;
}

/* ---- the report ---- */

/* The line of a top-level key (line 0: none). The compiled form has no
 * position for the sections themselves; a top-level key starts a line. */
static struct ward_pos key_pos(const struct ward_policy *p, const char *key)
{
	const char *s = p->source;
	size_t n = strlen(key);
	uint32_t line = 1;

	for (size_t i = 0; s && i < p->source_len; line++) {
		if (i + n < p->source_len && !strncmp(s + i, key, n) &&
		    (s[i + n] == ':' || s[i + n] == ' '))
			return (struct ward_pos){ .line = line, .col = 1 };
		while (i < p->source_len && s[i] != '\n')
			i++;
		i++;
	}
	return (struct ward_pos){ 0 };
}

void ward_ceiling_report_free(struct ward_ceiling_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->v[i].msg);
		free(rep->v[i].note);
	}
	free(rep->v);
	free(rep->sandbox_file);
	free(rep->host_file);
	*rep = (struct ward_ceiling_report){ 0 };
}

static void print_line(FILE *f, const char *file, struct ward_pos pos, const char *kind,
		       const char *msg)
{
	if (pos.line)
		fprintf(f, "%s:%u:%u: %s: %s\n", file, pos.line, pos.col, kind, msg);
	else
		fprintf(f, "%s: %s: %s\n", file, kind, msg);
}

void ward_ceiling_print(const struct ward_ceiling_report *rep, FILE *f)
{
	for (size_t i = 0; i < rep->n; i++) {
		print_line(f, rep->sandbox_file, rep->v[i].pos, "error", rep->v[i].msg);
		print_line(f, rep->host_file, rep->v[i].note_pos, "note", rep->v[i].note);
	}
}

static bool pos_before(struct ward_pos a, struct ward_pos b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

int ward_policy_ceiling(const struct ward_policy *sandbox, const struct ward_policy *host,
			struct ward_ceiling_report *rep, struct ward_error *err)
{
	struct check c = { .s = sandbox, .h = host, .rep = rep };

	*rep = (struct ward_ceiling_report){ 0 };
	rep->sandbox_file = strdup(sandbox->source_path ? sandbox->source_path : "<policy>");
	rep->host_file = strdup(host->source_path ? host->source_path : "<host policy>");
	if (!rep->sandbox_file || !rep->host_file)
		return ward_err(err, -ENOMEM, "ceiling");
	c.net_pos = key_pos(host, "network_policies");
	check_net(&c);
	check_inference(&c);
	if (c.r == -E2BIG)
		return ward_errx(err, c.r, "ceiling: the policies are too large to compare");
	if (c.r < 0)
		return ward_err(err, c.r, "ceiling");
	/* what a preset brought has no position: its `extends` line stands for it */
	for (size_t i = 0; i < rep->n; i++) {
		if (!rep->v[i].pos.line)
			rep->v[i].pos = key_pos(sandbox, "extends");
		if (!rep->v[i].note_pos.line)
			rep->v[i].note_pos = key_pos(host, "extends");
	}
	/* in file order; stable, so one position keeps the walk's order */
	for (size_t i = 1; i < rep->n; i++) {
		struct ward_ceiling_violation t = rep->v[i];
		size_t j = i;

		for (; j > 0 && pos_before(t.pos, rep->v[j - 1].pos); j--)
			rep->v[j] = rep->v[j - 1];
		rep->v[j] = t;
	}
	if (rep->n)
		return ward_errx(err, -EPERM, "%s: %zu %s not allowed by the host policy %s",
				 rep->sandbox_file, rep->n, rep->n == 1 ? "grant is" : "grants are",
				 rep->host_file);
	return 0;
}

/* ---- the host policy in force ---- */

int ward_host_ceiling_load(const char *state_dir, struct ward_policy **ret, struct ward_error *err)
{
	_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
	_cleanup_free_ char *path = NULL, *lines = NULL;
	struct ward_diags diags = { 0 };
	size_t len = 0;
	FILE *f;
	int r;

	if (!state_dir || !*state_dir)
		state_dir = secure_getenv("WARD_STATE");
	if (!state_dir || !*state_dir)
		state_dir = WARD_STATE_DEFAULT;
	if (asprintf(&path, "%s/" WARD_HOST_POLICY_SUBPATH, state_dir) < 0)
		return ward_err(err, -ENOMEM, "host policy");
	r = ward_policy_load(path, &p, &diags, err);
	if (r == -ENOENT) {
		ward_diags_free(&diags);
		*ret = NULL;
		return 0;
	}
	if (r == -EINVAL) {
		/* fail closed: a host policy in force that no longer compiles
		 * (ward upgraded, file edited) stops what it would judge */
		f = open_memstream(&lines, &len);
		if (f) {
			ward_diags_print(&diags, f);
			fclose(f);
		}
		while (lines && len && lines[len - 1] == '\n')
			lines[--len] = '\0';
		ward_diags_free(&diags);
		return ward_errx(err, r, "the host policy in force (%s) does not compile:\n%s",
				 path, lines ? lines : "");
	}
	ward_diags_free(&diags);
	if (r < 0)
		return ward_err_prefix(err, "the host policy in force");
	*ret = TAKE_PTR(p);
	return 0;
}

/* The report's lines into err, as many whole violations as fit. */
static int report_error(const struct ward_ceiling_report *rep, struct ward_error *err)
{
	char buf[WARD_ERROR_MAX], tail[64];
	size_t n = 0, shown = 0;

	buf[0] = '\0';
	for (; shown < rep->n; shown++) {
		struct ward_ceiling_report one = *rep;
		_cleanup_free_ char *s = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&s, &len);

		if (!f)
			break;
		one.v = &rep->v[shown];
		one.n = 1;
		ward_ceiling_print(&one, f);
		fclose(f);
		if (!s || n + len + sizeof(tail) >= sizeof(buf))
			break;
		memcpy(buf + n, s, len + 1);
		n += len;
	}
	if (shown < rep->n)
		snprintf(tail, sizeof(tail), "(and %zu more not allowed by the host policy)",
			 rep->n - shown);
	else
		tail[0] = '\0';
	while (n && buf[n - 1] == '\n' && !tail[0])
		buf[--n] = '\0';
	return ward_errx(err, -EINVAL, "%s%s", buf, tail);
}

int ward_host_ceiling_check(const char *state_dir, const struct ward_policy *p, FILE *diag,
			    struct ward_error *err)
{
	_cleanup_(ward_policy_freep) struct ward_policy *host = NULL;
	struct ward_ceiling_report rep = { 0 };
	int r = ward_host_ceiling_load(state_dir, &host, err);

	if (r < 0 || !host)
		return r;
	r = ward_policy_ceiling(p, host, &rep, err);
	if (r == -EPERM) {
		if (diag) {
			ward_ceiling_print(&rep, diag);
			r = ward_errx(err, -EINVAL,
				      "policy %s widens the host policy in force (%s): %zu %s",
				      rep.sandbox_file, rep.host_file, rep.n,
				      rep.n == 1 ? "violation" : "violations");
		} else {
			r = report_error(&rep, err);
		}
	}
	ward_ceiling_report_free(&rep);
	return r;
}
