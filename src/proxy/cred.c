// SPDX-License-Identifier: MIT
/* Credential placeholders: secrets read once from ward's environment or
 * looked up in the secret store on every request, one random placeholder per
 * sandbox variable, and the per-request swap (or refusal) on inspected
 * request heads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/cleanup.h"
#include "policy/match.h"
#include "policy/secrets.h"
#include "proxy/cred.h"

#define RAND_HEX 16

struct entry {
	char *env; /* the sandbox variable with the placeholder */
	char *placeholder;
	char *secret; /* from the environment; NULL for a store secret */
	size_t secret_len;
	char *store_name; /* `secret: NAME`: read from the store per request; or NULL */
};

struct cred {
	char *name;
	char *host;
	uint16_t port;
	char *path;
	char *header;
	char *format;
	bool allow_http; /* `scheme: http`: also into clear-text requests */
	size_t entry;	 /* index into entries */
};

struct ward_cred_store {
	struct entry *entries;
	size_t n_entries;
	struct cred *creds;
	size_t n_creds;
	struct ward_secrets *secrets; /* a reference; NULL when no credential names a secret */
};

static void wipe_free(char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero(s, len);
	free(s);
}

void ward_cred_store_free(struct ward_cred_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_entries; i++) {
		free(s->entries[i].env);
		free(s->entries[i].placeholder);
		wipe_free(s->entries[i].secret, s->entries[i].secret_len);
		free(s->entries[i].store_name);
	}
	for (size_t i = 0; i < s->n_creds; i++) {
		free(s->creds[i].name);
		free(s->creds[i].host);
		free(s->creds[i].path);
		free(s->creds[i].header);
		free(s->creds[i].format);
	}
	free(s->entries);
	free(s->creds);
	ward_secrets_unref(s->secrets);
	free(s);
}

static bool has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

static int make_placeholder(const char *name, char **ret)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[RAND_HEX / 2];
	char tail[RAND_HEX + 1];
	char safe[64];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (i = 0; i < sizeof(rnd); i++) {
		tail[2 * i] = hex[rnd[i] >> 4];
		tail[2 * i + 1] = hex[rnd[i] & 15];
	}
	tail[RAND_HEX] = '\0';
	/* The name goes into header values and URLs as is: keep it to token bytes. */
	for (i = 0; name[i] && i < sizeof(safe) - 1; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_';
		safe[i] = ok ? c : '-';
	}
	safe[i] = '\0';
	if (asprintf(ret, WARD_CRED_PLACEHOLDER_PREFIX "%s-%s", safe, tail) < 0)
		return -ENOMEM;
	return 0;
}

/* base's entry for env: its secret and placeholder are kept */
static int copy_entry(struct ward_cred_store *s, const struct entry *b)
{
	struct entry *e = &s->entries[s->n_entries];

	e->env = strdup(b->env);
	e->placeholder = strdup(b->placeholder);
	if (b->store_name)
		e->store_name = strdup(b->store_name);
	else
		e->secret = malloc(b->secret_len + 1);
	if (!e->env || !e->placeholder || (b->store_name ? !e->store_name : !e->secret)) {
		free(e->env);
		free(e->placeholder);
		free(e->secret);
		free(e->store_name);
		*e = (struct entry){ 0 };
		return -ENOMEM;
	}
	if (e->secret)
		memcpy(e->secret, b->secret, b->secret_len + 1);
	e->secret_len = b->secret_len;
	s->n_entries++;
	return 0;
}

static bool same_source(const struct entry *e, const struct ward_credential *c)
{
	return c->secret ? e->store_name && !strcmp(e->store_name, c->secret) : !e->store_name;
}

/* The store's current value of name, checked as the environment's are: set,
 * at most WARD_CRED_SECRET_MAX, no control characters. 0 or -errno with why
 * (never the value) in why. buf holds WARD_CRED_SECRET_MAX + 1 bytes; the
 * caller wipes it. */
static int store_value(struct ward_secrets *secrets, const char *name, char *buf, size_t *ret_len,
		       char *why, size_t whysz)
{
	int n = ward_secret_get(secrets, name, buf, WARD_CRED_SECRET_MAX + 1);

	if (n == -ENOENT) {
		snprintf(why, whysz, "secret '%s' is not set (ward secret set %s)", name, name);
		return n;
	}
	if (n == -ENOBUFS) {
		snprintf(why, whysz, "secret '%s' is longer than %u bytes", name,
			 WARD_CRED_SECRET_MAX);
		return -E2BIG;
	}
	if (n < 0) {
		snprintf(why, whysz, "secret '%s' cannot be read in %s: %s", name,
			 ward_secrets_dir(secrets), strerror(-n));
		return n;
	}
	if (n == 0 || has_ctl(buf, (size_t)n)) {
		snprintf(why, whysz, "secret '%s' %s (not valid in an HTTP header)", name,
			 n == 0 ? "is empty" : "contains control characters");
		return -EINVAL;
	}
	*ret_len = (size_t)n;
	return 0;
}

/* A store secret must be usable when the store is built (ward run: exit 125
 * naming it); requests read it again, so a rotation applies to the next one. */
static int add_store_entry(struct ward_cred_store *s, const struct ward_credential *c,
			   struct ward_error *err)
{
	char buf[WARD_CRED_SECRET_MAX + 1], why[256];
	struct entry *e;
	size_t len = 0;
	int r;

	r = store_value(s->secrets, c->secret, buf, &len, why, sizeof(why));
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		return ward_errx(err, r, "credential '%s': %s", c->name, why);
	e = &s->entries[s->n_entries];
	e->env = strdup(c->env);
	e->store_name = strdup(c->secret);
	if (!e->env || !e->store_name) {
		free(e->env);
		free(e->store_name);
		*e = (struct entry){ 0 };
		return ward_err(err, -ENOMEM, "credential '%s'", c->name);
	}
	s->n_entries++;
	r = make_placeholder(c->name, &e->placeholder);
	if (r < 0)
		return ward_err(err, r, "credential '%s': placeholder", c->name);
	return 0;
}

static int add_entry(struct ward_cred_store *s, const struct ward_cred_store *base,
		     const struct ward_credential *c, size_t *ret_idx, struct ward_error *err)
{
	const char *v;
	struct entry *e;
	size_t len;
	int r;

	for (size_t i = 0; i < s->n_entries; i++) {
		if (strcmp(s->entries[i].env, c->env) == 0) {
			/* one placeholder per variable: one source per variable */
			if (!same_source(&s->entries[i], c))
				return ward_errx(err, -EINVAL,
						 "credential '%s': variable %s already holds the "
						 "placeholder of another source",
						 c->name, c->env);
			*ret_idx = i;
			return 0;
		}
	}
	for (size_t i = 0; base && i < base->n_entries; i++) {
		if (strcmp(base->entries[i].env, c->env) == 0 &&
		    same_source(&base->entries[i], c)) {
			r = copy_entry(s, &base->entries[i]);
			if (r < 0)
				return ward_err(err, r, "credential '%s'", c->name);
			*ret_idx = s->n_entries - 1;
			return 0;
		}
	}
	if (c->secret) {
		r = add_store_entry(s, c, err);
		if (r < 0)
			return r;
		*ret_idx = s->n_entries - 1;
		return 0;
	}
	v = secure_getenv(c->env);
	if (!v || !*v)
		return ward_errx(err, -ENOENT,
				 "credential '%s': environment variable %s is not set (ward reads "
				 "the secret from its own environment)",
				 c->name, c->env);
	len = strlen(v);
	if (len > WARD_CRED_SECRET_MAX)
		return ward_errx(err, -E2BIG, "credential '%s': %s is longer than %u bytes",
				 c->name, c->env, WARD_CRED_SECRET_MAX);
	if (has_ctl(v, len))
		return ward_errx(err, -EINVAL,
				 "credential '%s': %s contains control characters (not valid in an "
				 "HTTP header)",
				 c->name, c->env);
	e = &s->entries[s->n_entries];
	e->env = strdup(c->env);
	e->secret = strdup(v);
	if (!e->env || !e->secret) {
		free(e->env);
		wipe_free(e->secret, len);
		*e = (struct entry){ 0 };
		return ward_err(err, -ENOMEM, "credential '%s'", c->name);
	}
	e->secret_len = len;
	s->n_entries++;
	r = make_placeholder(c->name, &e->placeholder);
	if (r < 0)
		return ward_err(err, r, "credential '%s': placeholder", c->name);
	*ret_idx = s->n_entries - 1;
	return 0;
}

static bool names_secret(const struct ward_policy *p)
{
	for (size_t i = 0; p && i < p->n_credentials; i++)
		if (p->credentials[i].secret)
			return true;
	return false;
}

static int store_build(const struct ward_policy *p, const struct ward_cred_store *base,
		       struct ward_secrets *secrets, struct ward_cred_store **ret,
		       struct ward_error *err)
{
	struct ward_cred_store *s = calloc(1, sizeof(*s));
	size_t n = p ? p->n_credentials : 0;
	int r;

	if (!s)
		return ward_err(err, -ENOMEM, "credential store");
	if (!secrets && base)
		secrets = base->secrets;
	if (secrets) {
		s->secrets = ward_secrets_ref(secrets);
	} else if (names_secret(p)) {
		r = ward_secrets_open(NULL, &s->secrets, err);
		if (r < 0) {
			ward_err_prefix(err, "credentials: secret store");
			goto fail;
		}
	}
	if (n > 0) {
		s->entries = calloc(n, sizeof(*s->entries));
		s->creds = calloc(n, sizeof(*s->creds));
		if (!s->entries || !s->creds) {
			r = ward_err(err, -ENOMEM, "credential store");
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct ward_credential *c = &p->credentials[i];
		struct cred *d = &s->creds[i];
		const char *fmt = c->format ? c->format : "Bearer {}";

		if (!c->name || !c->env || !c->host || (c->secret && !s->secrets)) {
			r = ward_errx(err, -EINVAL,
				      "credential %zu: name, env and host are required", i);
			goto fail;
		}
		if (!strstr(fmt, "{}") || has_ctl(fmt, strlen(fmt))) {
			r = ward_errx(err, -EINVAL,
				      "credential '%s': format must contain {} and no "
				      "control characters",
				      c->name);
			goto fail;
		}
		d->name = strdup(c->name);
		d->host = strdup(c->host);
		d->path = strdup(c->path ? c->path : "/**");
		d->header = strdup(c->header ? c->header : "Authorization");
		d->format = strdup(fmt);
		d->port = c->port ? c->port : 443;
		d->allow_http = c->allow_http;
		s->n_creds++;
		if (!d->name || !d->host || !d->path || !d->header || !d->format) {
			r = ward_err(err, -ENOMEM, "credential '%s'", c->name);
			goto fail;
		}
		r = add_entry(s, base, c, &d->entry, err);
		if (r < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	ward_cred_store_free(s);
	return r;
}

int ward_cred_store_new(const struct ward_policy *p, struct ward_cred_store **ret,
			struct ward_error *err)
{
	return store_build(p, NULL, NULL, ret, err);
}

int ward_cred_store_new_in(struct ward_secrets *secrets, const struct ward_policy *p,
			   struct ward_cred_store **ret, struct ward_error *err)
{
	return store_build(p, NULL, secrets, ret, err);
}

int ward_cred_store_derive(const struct ward_cred_store *base, const struct ward_policy *p,
			   struct ward_cred_store **ret, struct ward_error *err)
{
	return store_build(p, base, NULL, ret, err);
}

size_t ward_cred_count(const struct ward_cred_store *s)
{
	return s ? s->n_entries : 0;
}

const char *ward_cred_env_name(const struct ward_cred_store *s, size_t i)
{
	return i < ward_cred_count(s) ? s->entries[i].env : NULL;
}

const char *ward_cred_placeholder(const struct ward_cred_store *s, size_t i)
{
	return i < ward_cred_count(s) ? s->entries[i].placeholder : NULL;
}

char **ward_cred_env(const struct ward_cred_store *s)
{
	size_t n = ward_cred_count(s);
	char **env = calloc(n + 1, sizeof(*env));

	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&env[i], "%s=%s", s->entries[i].env, s->entries[i].placeholder) < 0) {
			env[i] = NULL;
			ward_cred_env_free(env);
			errno = ENOMEM;
			return NULL;
		}
	}
	return env;
}

void ward_cred_env_free(char **env)
{
	if (!env)
		return;
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

int ward_cred_apply_env(const struct ward_cred_store *s)
{
	for (size_t i = 0; i < ward_cred_count(s); i++) {
		if (setenv(s->entries[i].env, s->entries[i].placeholder, 1) < 0)
			return -errno;
	}
	return 0;
}

static bool span_eq_ci(struct ward_http_str a, const char *b)
{
	return a.len == strlen(b) && strncasecmp(a.p, b, a.len) == 0;
}

static bool binding_matches(const struct cred *c, const char *host, uint16_t port, const char *path)
{
	return c->port == port && ward_match_host(c->host, host) && path &&
	       ward_match_request_path(c->path, path);
}

/* The formatted value: format with every {} replaced by the secret. */
static int format_secret(const struct cred *c, const char *secret, size_t secret_len, char **ret,
			 size_t *ret_len)
{
	size_t cap = 0, n = 0;
	const char *f;
	char *out;

	for (f = c->format; *f; f++)
		cap += (f[0] == '{' && f[1] == '}') ? secret_len : 1;
	out = malloc(cap + 1);
	if (!out)
		return -ENOMEM;
	for (f = c->format; *f; f++) {
		if (f[0] == '{' && f[1] == '}') {
			memcpy(out + n, secret, secret_len);
			n += secret_len;
			f++;
		} else {
			out[n++] = *f;
		}
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

/* A store secret is looked up now: a rotation applies from this request on.
 * One that is gone or unusable refuses the request (-ENOKEY, why in ret). */
static int format_value(const struct ward_cred_store *s, const struct cred *c,
			const struct entry *e, char **ret, size_t *ret_len,
			struct ward_cred_result *res)
{
	char buf[WARD_CRED_SECRET_MAX + 1];
	size_t len = 0;
	int r;

	if (!e->store_name)
		return format_secret(c, e->secret, e->secret_len, ret, ret_len);
	r = store_value(s->secrets, e->store_name, buf, &len, res->detail, sizeof(res->detail));
	if (r == 0)
		r = format_secret(c, buf, len, ret, ret_len);
	else
		r = -ENOKEY;
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static void mismatch(struct ward_cred_result *ret, const struct cred *c, const struct entry *e,
		     const struct ward_http_header *hd, const char *host, uint16_t port)
{
	ret->verdict = WARD_CRED_MISMATCH;
	ret->credential = c->name;
	ret->reason = WARD_CRED_REASON_MISMATCH;
	snprintf(ret->detail, sizeof(ret->detail),
		 "the placeholder of credential '%s' (%s) is only valid in header %s to %s:%u "
		 "path %s; this request sends it in %.*s to %s:%u",
		 c->name, e->env, c->header, c->host, c->port, c->path, (int)hd->name.len,
		 hd->name.p, host, port);
}

struct subst {
	const struct ward_http_header *hd;
	char *value;
	size_t len;
};

static void free_substs(struct subst *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wipe_free(v[i].value, v[i].len);
	free(v);
}

int ward_cred_apply(const struct ward_cred_store *s, const struct ward_http_head *h,
		    const char *raw, size_t raw_len, const char *host, uint16_t port, bool tls,
		    struct ward_cred_result *ret)
{
	_cleanup_free_ char *path = NULL;
	struct subst *subst = NULL;
	size_t n_subst = 0, out_len;
	char *out, *w;
	const char *rd;
	int r = 0;

	*ret = (struct ward_cred_result){ .verdict = WARD_CRED_NONE };
	if (ward_cred_count(s) == 0 || h->n_headers == 0)
		return 0;
	if (h->path.p)
		path = strndup(h->path.p, h->path.len);
	subst = calloc(h->n_headers, sizeof(*subst));
	if (!subst || (h->path.p && !path)) {
		free(subst);
		return -ENOMEM;
	}

	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];
		const struct cred *use = NULL;

		for (size_t k = 0; k < s->n_entries; k++) {
			const struct entry *e = &s->entries[k];
			const struct cred *first = NULL, *ok = NULL;

			if (!hd->value.p || !memmem(hd->value.p, hd->value.len, e->placeholder,
						    strlen(e->placeholder)))
				continue;
			for (size_t j = 0; j < s->n_creds; j++) {
				const struct cred *c = &s->creds[j];

				if (c->entry != k)
					continue;
				if (!first)
					first = c;
				if (span_eq_ci(hd->name, c->header) &&
				    binding_matches(c, host, port, path)) {
					ok = c;
					break;
				}
			}
			/* Two credentials in one header value cannot both be formatted into it. */
			if (!ok || (use && use->entry != k)) {
				mismatch(ret, ok ? ok : first, e, hd, host, port);
				free_substs(subst, n_subst);
				return 0;
			}
			/* Right endpoint, but the secret would cross the network in
			 * clear text: the placeholder goes as is. */
			if (!tls && !ok->allow_http) {
				ret->plain = ok->name;
				continue;
			}
			use = ok;
		}
		if (!use)
			continue;
		subst[n_subst].hd = hd;
		r = format_value(s, use, &s->entries[use->entry], &subst[n_subst].value,
				 &subst[n_subst].len, ret);
		if (r < 0) {
			free_substs(subst, n_subst);
			ret->credential = r == -ENOKEY ? use->name : NULL;
			ret->reason = r == -ENOKEY ? WARD_CRED_REASON_UNAVAILABLE : NULL;
			return r;
		}
		n_subst++;
		ret->credential = use->name;
	}
	if (n_subst == 0) {
		free(subst);
		return 0;
	}

	out_len = raw_len;
	for (size_t i = 0; i < n_subst; i++)
		out_len = out_len - subst[i].hd->value.len + subst[i].len;
	if (out_len > WARD_HTTP_MAX_HEAD) {
		free_substs(subst, n_subst);
		ret->credential = NULL;
		return -E2BIG;
	}
	out = malloc(out_len + 1);
	if (!out) {
		free_substs(subst, n_subst);
		ret->credential = NULL;
		return -ENOMEM;
	}
	/* Headers are in buffer order, so the spans are copied around in one pass. */
	w = out;
	rd = raw;
	for (size_t i = 0; i < n_subst; i++) {
		const struct ward_http_str *v = &subst[i].hd->value;

		memcpy(w, rd, (size_t)(v->p - rd));
		w += v->p - rd;
		memcpy(w, subst[i].value, subst[i].len);
		w += subst[i].len;
		rd = v->p + v->len;
	}
	memcpy(w, rd, (size_t)(raw + raw_len - rd));
	out[out_len] = '\0';
	free_substs(subst, n_subst);
	ret->verdict = WARD_CRED_INJECTED;
	ret->reason = WARD_CRED_REASON_INJECTED;
	ret->head = out;
	ret->head_len = out_len;
	return 0;
}

void ward_cred_result_clear(struct ward_cred_result *ret)
{
	if (!ret)
		return;
	wipe_free(ret->head, ret->head_len);
	*ret = (struct ward_cred_result){ .verdict = WARD_CRED_NONE };
}

void ward_cred_decision(const struct ward_cred_result *r, struct ward_decision *d, char *rule_buf,
			size_t rule_bufsz)
{
	if (!r->credential || !rule_buf || rule_bufsz == 0)
		d->rule = NULL;
	else {
		snprintf(rule_buf, rule_bufsz, "credential:%s", r->credential);
		d->rule = rule_buf;
	}
	d->reason = r->reason;
}
