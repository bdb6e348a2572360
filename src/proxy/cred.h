/* SPDX-License-Identifier: MIT */
/* Credentials: the sandbox sees a placeholder in place of each secret; the
 * proxy swaps in the real value only on requests to the credential's bound
 * endpoint (host, port, path glob) and refuses a placeholder sent anywhere
 * else (403 credential_endpoint_mismatch). docs/tls.md has the model.
 *
 * A credential's secret comes from ward's own environment (`env:`, read once
 * with secure_getenv, kept in memory only, wiped on free) or from the secret
 * store (`secret:`, policy/secrets.h: looked up on every request it is
 * injected into, so a rotated value applies from the next request). No
 * value is copied into a result field other than the rewritten head itself:
 * reasons, details and error strings name the credential, the variable and
 * the secret, never the value.
 *
 * Only header fields are scanned (not the request-target, not the body): a
 * placeholder in a URL is not a secret and the upstream receives it as is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"
#include "policy/request.h" /* WARD_CRED_REASON_* */
#include "proxy/http.h"

#define WARD_CRED_PLACEHOLDER_PREFIX "ward-placeholder-"
#define WARD_CRED_SECRET_MAX 8192u
/* the reason of a request refused because its store secret is gone or unusable */
#define WARD_CRED_REASON_UNAVAILABLE "credential unavailable"

struct ward_cred_store;
struct ward_secrets;

/* Read every credential's secret from the environment. A missing or empty
 * variable, or one longer than WARD_CRED_SECRET_MAX, is -ENOENT / -E2BIG
 * with "credential 'gh': environment variable GH_TOKEN is not set" (ward run
 * exits 125). Placeholders are "ward-placeholder-<name>-<16 random hex>",
 * one per environment variable (credentials sharing a variable share it).
 * A policy without credentials gives an empty store.
 * A `secret:` credential's secret must be set in the store now and usable
 * (at most WARD_CRED_SECRET_MAX, no control characters), else -ENOENT /
 * -E2BIG / -EINVAL with "credential 'gh': secret 'tok' is not set (ward
 * secret set tok)"; its placeholder goes into the sandbox variable
 * c->env. ward_cred_store_new opens the default store (ward_secrets_open
 * with NULL) when the policy names a secret; _new_in uses secrets (a
 * reference is taken). */
int ward_cred_store_new(const struct ward_policy *p, struct ward_cred_store **ret,
			struct ward_error *err);
int ward_cred_store_new_in(struct ward_secrets *secrets, const struct ward_policy *p,
			   struct ward_cred_store **ret, struct ward_error *err);
/* The credentials of another policy generation (live apply): a variable
 * base holds keeps base's secret and placeholder (the sandbox holds that
 * placeholder, and ward's own environment may too, after
 * ward_cred_apply_env); a new one is read from the environment as above.
 * Store secrets keep their placeholder too and use base's store. */
int ward_cred_store_derive(const struct ward_cred_store *base, const struct ward_policy *p,
			   struct ward_cred_store **ret, struct ward_error *err);
/* Wipes the secrets. NULL is fine. */
void ward_cred_store_free(struct ward_cred_store *s);

/* Distinct environment variables (and placeholders) in the store. */
size_t ward_cred_count(const struct ward_cred_store *s);
const char *ward_cred_env_name(const struct ward_cred_store *s, size_t i);
const char *ward_cred_placeholder(const struct ward_cred_store *s, size_t i);

/* "ENV=placeholder" for every entry, NULL-terminated, malloc'd (free with
 * ward_cred_env_free). NULL + errno on failure. */
char **ward_cred_env(const struct ward_cred_store *s);
void ward_cred_env_free(char **env);
/* setenv(ENV, placeholder) for every entry, so a sandbox inheriting ward's
 * environment sees only placeholders. Call after ward_cred_store_new(). */
int ward_cred_apply_env(const struct ward_cred_store *s);

enum ward_cred_verdict {
	WARD_CRED_NONE = 0, /* no placeholder in the head: forward it unchanged */
	WARD_CRED_INJECTED, /* placeholders replaced: forward ret->head instead */
	WARD_CRED_MISMATCH, /* a placeholder for an endpoint this is not: answer 403 */
};

struct ward_cred_result {
	enum ward_cred_verdict verdict;
	const char *credential; /* name of the credential concerned (borrowed from the store) */
	const char *reason;	/* NULL, WARD_CRED_REASON_INJECTED or WARD_CRED_REASON_MISMATCH */
	char detail[256];	/* MISMATCH: what was bound where; never contains a secret */
	char *head;		/* INJECTED: the rewritten head (malloc'd; the caller frees) */
	size_t head_len;
	/* A credential bound to this endpoint whose placeholder was left as is
	 * because the request leaves ward in clear text (not TLS) and the
	 * credential does not say `scheme: http`; NULL when none. The caller
	 * logs a deny row (WARD_CRED_REASON_PLAIN). */
	const char *plain;
};

/* Scan the header values of a parsed request for placeholders. raw is the
 * parser's buffer (p->buf) that h's spans point into, raw_len = h->head_len.
 * host and port are where ward sends this request (what it decided on, not a
 * client-supplied header); tls says whether it leaves ward over TLS. A
 * placeholder is swapped when some credential of its variable is bound to
 * host (exact), port and the request path (glob), and it sits in that
 * credential's header: the whole value becomes the credential's format with
 * {} replaced by the secret. Over plain HTTP only credentials with
 * allow_http are swapped; the others stay placeholders (ret->plain). Anything
 * else with a placeholder (other endpoint, other header) is a MISMATCH. 0, or
 * -ENOMEM / -E2BIG (rewritten head over WARD_HTTP_MAX_HEAD), or -ENOKEY: the
 * store secret of the credential to inject is no longer set or not usable
 * (ret->credential, ret->reason WARD_CRED_REASON_UNAVAILABLE and ret->detail
 * say which and why; refuse the request). ret->head is NULL unless
 * INJECTED. */
int ward_cred_apply(const struct ward_cred_store *s, const struct ward_http_head *h,
		    const char *raw, size_t raw_len, const char *host, uint16_t port, bool tls,
		    struct ward_cred_result *ret);
/* Frees ret->head (wiping it: it holds a secret). */
void ward_cred_result_clear(struct ward_cred_result *ret);

/* Fill d->rule ("credential:<name>" into rule_buf) and d->reason for a row
 * about r; leaves the rest of d alone. */
void ward_cred_decision(const struct ward_cred_result *r, struct ward_decision *d, char *rule_buf,
			size_t rule_bufsz);
