// SPDX-License-Identifier: MIT
/* Credentials: secrets from the environment, placeholders, the swap on the
 * bound endpoint (through the real policy compiler and the real HTTP parser),
 * the mismatch verdict, and that no secret reaches an error string, a result
 * field other than the rewritten head, or the decision log on disk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "policy/policy.h"
#include "policy/secrets.h"
#include "proxy/cred.h"
#include "proxy/http.h"
#include "tmpdir.h"

#define SECRET_GH "ghp_s3cretValue0123456789"
#define SECRET_API "sk-live-anotherSecret42"

static const char policy_yaml[] =
	"version: 1\n"
	"credentials:\n"
	"  - { name: gh, env: WARD_TEST_GH_TOKEN, host: api.github.com }\n"
	"  - name: api\n"
	"    env: WARD_TEST_API_KEY\n"
	"    host: api.test.example\n"
	"    port: 8443\n"
	"    path: /v1/**\n"
	"    header: X-Api-Key\n"
	"    format: \"key={}\"\n"
	"  - { name: gh-uploads, env: WARD_TEST_GH_TOKEN, host: uploads.github.com }\n";

static struct ward_policy *load_policy(void)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer("cred.yaml", policy_yaml, strlen(policy_yaml), &p, &d,
					&err);

	if (r < 0)
		ward_diags_print(&d, stderr);
	assert_int_equal(r, 0);
	ward_diags_free(&d);
	return p;
}

struct fixture {
	struct ward_policy *p;
	struct ward_cred_store *s;
	const char *ph_gh;
	const char *ph_api;
	bool tls; /* what apply() says about the upstream leg */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ward_error err = { 0 };

	setenv("WARD_TEST_GH_TOKEN", SECRET_GH, 1);
	setenv("WARD_TEST_API_KEY", SECRET_API, 1);
	f->p = load_policy();
	assert_int_equal(ward_cred_store_new(f->p, &f->s, &err), 0);
	for (size_t i = 0; i < ward_cred_count(f->s); i++) {
		if (strcmp(ward_cred_env_name(f->s, i), "WARD_TEST_GH_TOKEN") == 0)
			f->ph_gh = ward_cred_placeholder(f->s, i);
		else
			f->ph_api = ward_cred_placeholder(f->s, i);
	}
	f->tls = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ward_cred_store_free(f->s);
	ward_policy_free(f->p);
	free(f);
	return 0;
}

/* Parse req with the real parser and apply the store for (host, port). */
static void apply(struct fixture *f, const char *req, const char *host, uint16_t port,
		  struct ward_cred_result *ret)
{
	struct ward_http_parser hp;
	size_t used;

	assert_int_equal(ward_http_parser_init(&hp, WARD_HTTP_REQUEST, NULL), 0);
	assert_int_equal(ward_http_feed(&hp, req, strlen(req), &used), 1);
	assert_int_equal(ward_cred_apply(f->s, &hp.head, hp.buf, hp.head.head_len, host, port,
					 f->tls, ret),
			 0);
	/* Nothing but the rewritten head may carry a secret. */
	assert_null(strstr(ret->detail, SECRET_GH));
	assert_null(strstr(ret->detail, SECRET_API));
	if (ret->verdict == WARD_CRED_INJECTED) {
		/* The rewritten head is still one valid request head. */
		struct ward_http_parser again;

		assert_int_equal(ward_http_parser_init(&again, WARD_HTTP_REQUEST, NULL), 0);
		assert_int_equal(ward_http_feed(&again, ret->head, ret->head_len, &used), 1);
		assert_int_equal(used, ret->head_len);
		assert_int_equal(again.head.n_headers, hp.head.n_headers);
		ward_http_parser_free(&again);
	}
	ward_http_parser_free(&hp);
}

static void test_placeholders(void **state)
{
	struct fixture *f = *state;
	char **env;

	/* Two variables: gh and gh-uploads share WARD_TEST_GH_TOKEN. */
	assert_int_equal(ward_cred_count(f->s), 2);
	assert_non_null(f->ph_gh);
	assert_non_null(f->ph_api);
	assert_int_equal(strncmp(f->ph_gh, "ward-placeholder-gh-", 20), 0);
	assert_int_equal(strlen(f->ph_gh), strlen("ward-placeholder-gh-") + 16);
	assert_int_equal(strncmp(f->ph_api, "ward-placeholder-api-", 21), 0);
	assert_null(strstr(f->ph_gh, SECRET_GH));

	env = ward_cred_env(f->s);
	assert_non_null(env);
	assert_non_null(env[0]);
	assert_non_null(env[1]);
	assert_null(env[2]);
	for (size_t i = 0; env[i]; i++) {
		assert_null(strstr(env[i], SECRET_GH));
		assert_null(strstr(env[i], SECRET_API));
		assert_non_null(strstr(env[i], "=ward-placeholder-"));
	}
	ward_cred_env_free(env);

	/* A new store draws new placeholders: they are not derived from the secret. */
	{
		struct ward_cred_store *s2 = NULL;
		struct ward_error err = { 0 };

		assert_int_equal(ward_cred_store_new(f->p, &s2, &err), 0);
		assert_string_not_equal(ward_cred_placeholder(s2, 0),
					ward_cred_placeholder(f->s, 0));
		/* ward_cred_apply_env: the environment a sandbox inherits holds placeholders. */
		assert_int_equal(ward_cred_apply_env(s2), 0);
		assert_string_equal(getenv("WARD_TEST_GH_TOKEN"), ward_cred_placeholder(s2, 0));
		ward_cred_store_free(s2);
		setenv("WARD_TEST_GH_TOKEN", SECRET_GH, 1);
		setenv("WARD_TEST_API_KEY", SECRET_API, 1);
	}
}

static void test_missing_env(void **state)
{
	struct fixture *f = *state;
	struct ward_cred_store *s = NULL;
	struct ward_error err = { 0 };

	unsetenv("WARD_TEST_API_KEY");
	assert_int_equal(ward_cred_store_new(f->p, &s, &err), -ENOENT);
	assert_null(s);
	assert_non_null(strstr(err.msg, "credential 'api'"));
	assert_non_null(strstr(err.msg, "WARD_TEST_API_KEY"));
	assert_null(strstr(err.msg, SECRET_GH));
	setenv("WARD_TEST_API_KEY", "", 1);
	assert_int_equal(ward_cred_store_new(f->p, &s, &err), -ENOENT);
	/* A secret with a line break would split the header: refused, not echoed. */
	setenv("WARD_TEST_API_KEY", "abc\r\nX-Evil: 1", 1);
	assert_int_equal(ward_cred_store_new(f->p, &s, &err), -EINVAL);
	assert_null(strstr(err.msg, "X-Evil"));
	setenv("WARD_TEST_API_KEY", SECRET_API, 1);
}

static void test_inject(void **state)
{
	struct fixture *f = *state;
	struct ward_cred_result r;
	char req[1024], want[1024];

	/* Default format on the default header, the header name in any case. */
	snprintf(req, sizeof(req),
		 "GET /repos/x HTTP/1.1\r\nHost: api.github.com\r\nauthorization: Bearer %s\r\n"
		 "Accept: */*\r\n\r\n",
		 f->ph_gh);
	apply(f, req, "api.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_INJECTED);
	assert_string_equal(r.credential, "gh");
	assert_string_equal(r.reason, "credential_injected");
	assert_string_equal(r.head, "GET /repos/x HTTP/1.1\r\nHost: api.github.com\r\n"
				    "authorization: Bearer " SECRET_GH "\r\nAccept: */*\r\n\r\n");
	assert_int_equal(r.head_len, strlen(r.head));
	ward_cred_result_clear(&r);
	assert_null(r.head);

	/* The same variable bound to a second host (gh-uploads). */
	snprintf(req, sizeof(req),
		 "POST /up HTTP/1.1\r\nHost: uploads.github.com\r\n"
		 "Authorization: %s\r\nContent-Length: 0\r\n\r\n",
		 f->ph_gh);
	apply(f, req, "uploads.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_INJECTED);
	assert_string_equal(r.credential, "gh-uploads");
	assert_non_null(strstr(r.head, "Authorization: Bearer " SECRET_GH "\r\n"));
	ward_cred_result_clear(&r);

	/* Custom header, format, port and path; two headers rewritten in one head
	 * (the raw bytes around them kept exactly). */
	snprintf(req, sizeof(req),
		 "GET /v1/models?x=1 HTTP/1.1\r\nX-Api-Key:   %s  \r\nHost: api.test.example:8443\r\n"
		 "x-api-key: %s\r\n\r\n",
		 f->ph_api, f->ph_api);
	apply(f, req, "api.test.example", 8443, &r);
	assert_int_equal(r.verdict, WARD_CRED_INJECTED);
	assert_string_equal(r.credential, "api");
	snprintf(want, sizeof(want),
		 "GET /v1/models?x=1 HTTP/1.1\r\nX-Api-Key:   key=%s  \r\nHost: api.test.example:8443\r\n"
		 "x-api-key: key=%s\r\n\r\n",
		 SECRET_API, SECRET_API);
	assert_string_equal(r.head, want);
	ward_cred_result_clear(&r);

	/* No placeholder: nothing to do, no copy. */
	apply(f, "GET / HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer mine\r\n\r\n",
	      "api.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_NONE);
	assert_null(r.head);
	assert_null(r.reason);
}

static void test_mismatch(void **state)
{
	struct fixture *f = *state;
	struct ward_cred_result r;
	char req[1024];

	/* Another host. */
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer %s\r\n\r\n",
		 f->ph_gh);
	apply(f, req, "evil.example", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);
	assert_string_equal(r.reason, "credential_endpoint_mismatch");
	assert_string_equal(r.credential, "gh");
	assert_null(r.head);
	assert_non_null(strstr(r.detail, "evil.example"));
	assert_non_null(strstr(r.detail, "api.github.com"));

	/* The Host header says the bound host, but ward sends it elsewhere: the
	 * binding is checked against where the request goes. */
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer %s\r\n\r\n",
		 f->ph_gh);
	apply(f, req, "evil.example", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);

	/* Right host, wrong port. */
	apply(f, req, "api.github.com", 8443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);

	/* Right host and port, path outside the glob. */
	snprintf(req, sizeof(req),
		 "GET /v2/models HTTP/1.1\r\nHost: api.test.example\r\nX-Api-Key: %s\r\n\r\n",
		 f->ph_api);
	apply(f, req, "api.test.example", 8443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);
	assert_string_equal(r.credential, "api");
	/* A dot-dot trick out of /v1 is not inside the /v1 glob. */
	snprintf(req, sizeof(req),
		 "GET /v1/../admin HTTP/1.1\r\nHost: api.test.example\r\nX-Api-Key: %s\r\n\r\n",
		 f->ph_api);
	apply(f, req, "api.test.example", 8443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);

	/* Right endpoint, wrong header: a placeholder in a cookie or a custom
	 * header would be swapped into a place the policy never named. */
	snprintf(req, sizeof(req),
		 "GET /v1/x HTTP/1.1\r\nHost: api.test.example\r\nCookie: k=%s\r\n\r\n", f->ph_api);
	apply(f, req, "api.test.example", 8443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);

	/* One good header and one placeholder going nowhere: the whole request is refused. */
	snprintf(
		req, sizeof(req),
		"GET /repos HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer %s\r\nX-Other: %s\r\n\r\n",
		f->ph_gh, f->ph_api);
	apply(f, req, "api.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);
	assert_string_equal(r.credential, "api");
	assert_null(r.head);
}

/* Rows about injections and mismatches go through the real decision log:
 * the secret bytes appear nowhere in the database files. */
static void test_secret_never_logged(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	struct ward_cred_result r;
	char dir[] = "/tmp/ward-test-cred-XXXXXX", db[128], req[512], rule[128];
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	int found_rows = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/d.db", dir);
	assert_int_equal(ward_audit_open(db, &a, &err), 0);

	snprintf(req, sizeof(req),
		 "GET /repos HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer %s\r\n\r\n",
		 f->ph_gh);
	for (int i = 0; i < 2; i++) {
		struct ward_decision d = { .layer = "l7",
					   .host = i ? "evil.example" : "api.github.com",
					   .port = 443,
					   .method = "GET",
					   .path = "/repos",
					   .protocol = "https" };

		apply(f, req, d.host, 443, &r);
		assert_int_equal(r.verdict, i ? WARD_CRED_MISMATCH : WARD_CRED_INJECTED);
		d.action = i ? "deny" : "allow";
		ward_cred_decision(&r, &d, rule, sizeof(rule));
		assert_string_equal(d.rule, i ? "credential:gh" : "credential:gh");
		assert_string_equal(d.reason,
				    i ? "credential_endpoint_mismatch" : "credential_injected");
		assert_int_equal(ward_audit_submit(a, &d), 0);
		ward_cred_result_clear(&r);
	}
	assert_int_equal(ward_audit_flush(a), 0);
	assert_int_equal(ward_audit_close(a), 0);

	for (size_t i = 0; i < 3; i++) {
		char path[160], *buf = NULL;
		size_t len = 0;
		FILE *fp;

		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		fp = fopen(path, "rb");
		if (!fp)
			continue;
		fseek(fp, 0, SEEK_END);
		len = (size_t)ftell(fp);
		rewind(fp);
		buf = malloc(len + 1);
		assert_int_equal(fread(buf, 1, len, fp), len);
		fclose(fp);
		assert_null(memmem(buf, len, SECRET_GH, strlen(SECRET_GH)));
		if (memmem(buf, len, "credential_endpoint_mismatch", 28))
			found_rows++;
		free(buf);
		unlink(path);
	}
	assert_true(found_rows > 0); /* the rows are really there */
	rmdir(dir);
}

/* Over plain HTTP (no TLS upstream) a bound placeholder stays a placeholder,
 * unless the credential says `scheme: http` (allow_http). */
static void test_plain_http(void **state)
{
	struct fixture *f = *state;
	struct ward_cred_store *s2 = NULL, *keep = f->s;
	struct ward_error err = { 0 };
	struct ward_cred_result r;
	const char *ph2 = NULL;
	char req[1024];

	f->tls = false;
	snprintf(
		req, sizeof(req),
		"GET /repos/x HTTP/1.1\r\nHost: api.github.com:443\r\nAuthorization: Bearer %s\r\n\r\n",
		f->ph_gh);
	apply(f, req, "api.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_NONE);
	assert_null(r.head);
	assert_non_null(r.plain);
	assert_string_equal(r.plain, "gh");
	ward_cred_result_clear(&r);
	assert_null(r.plain);

	/* elsewhere it is still a mismatch, TLS or not */
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: evil.test\r\nAuthorization: Bearer %s\r\n\r\n", f->ph_gh);
	apply(f, req, "evil.test", 80, &r);
	assert_int_equal(r.verdict, WARD_CRED_MISMATCH);
	ward_cred_result_clear(&r);

	/* scheme: http */
	for (size_t i = 0; i < f->p->n_credentials; i++)
		f->p->credentials[i].allow_http = !strcmp(f->p->credentials[i].name, "gh");
	assert_int_equal(ward_cred_store_new(f->p, &s2, &err), 0);
	for (size_t i = 0; i < ward_cred_count(s2); i++)
		if (!strcmp(ward_cred_env_name(s2, i), "WARD_TEST_GH_TOKEN"))
			ph2 = ward_cred_placeholder(s2, i);
	assert_non_null(ph2);
	f->s = s2;
	snprintf(
		req, sizeof(req),
		"GET /repos/x HTTP/1.1\r\nHost: api.github.com:443\r\nAuthorization: Bearer %s\r\n\r\n",
		ph2);
	apply(f, req, "api.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_INJECTED);
	assert_null(r.plain);
	assert_non_null(strstr(r.head, "Authorization: Bearer " SECRET_GH "\r\n"));
	ward_cred_result_clear(&r);
	/* gh-uploads shares the variable but not the scheme */
	snprintf(req, sizeof(req),
		 "POST /up HTTP/1.1\r\nHost: uploads.github.com:443\r\n"
		 "Authorization: %s\r\nContent-Length: 0\r\n\r\n",
		 ph2);
	apply(f, req, "uploads.github.com", 443, &r);
	assert_int_equal(r.verdict, WARD_CRED_NONE);
	assert_string_equal(r.plain, "gh-uploads");
	ward_cred_result_clear(&r);

	for (size_t i = 0; i < f->p->n_credentials; i++)
		f->p->credentials[i].allow_http = false;
	f->s = keep;
	ward_cred_store_free(s2);
	f->tls = true;
}

/* Another generation's credentials (live apply): the variables the sandbox
 * already holds keep their placeholders and secrets, even once ward's own
 * environment holds the placeholders (ward_cred_apply_env); a new variable
 * is read from the environment; one missing is an error. */
static void test_derive(void **state)
{
	struct fixture *f = *state;
	static const char yaml2[] =
		"version: 1\n"
		"credentials:\n"
		"  - { name: gh, env: WARD_TEST_GH_TOKEN, host: other.example }\n"
		"  - { name: new, env: WARD_TEST_NEW_KEY, host: new.example }\n";
	struct ward_policy *p2 = NULL;
	struct ward_cred_store *s2 = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	char *before_gh = strdup(f->ph_gh);

	assert_int_equal(ward_policy_load_buffer("cred2.yaml", yaml2, strlen(yaml2), &p2, &d, &err),
			 0);
	ward_diags_free(&d);
	unsetenv("WARD_TEST_NEW_KEY");
	assert_int_equal(ward_cred_store_derive(f->s, p2, &s2, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "WARD_TEST_NEW_KEY"));
	setenv("WARD_TEST_NEW_KEY", "new-secret", 1);
	assert_int_equal(ward_cred_apply_env(f->s), 0); /* ward's env: placeholders now */
	assert_int_equal(ward_cred_store_derive(f->s, p2, &s2, &err), 0);
	assert_int_equal(ward_cred_count(s2), 2);
	assert_string_equal(ward_cred_env_name(s2, 0), "WARD_TEST_GH_TOKEN");
	assert_string_equal(ward_cred_placeholder(s2, 0), before_gh);
	assert_string_not_equal(ward_cred_placeholder(s2, 1), before_gh);
	{
		/* the secret is base's, bound where the new generation says */
		static const char req[] = "GET /x HTTP/1.1\r\nHost: other.example\r\n"
					  "Authorization: Bearer %s\r\n\r\n";
		char head[512];
		struct ward_http_parser hp;
		struct ward_cred_result cr = { 0 };
		size_t used = 0;

		snprintf(head, sizeof(head), req, before_gh);
		assert_int_equal(ward_http_parser_init(&hp, WARD_HTTP_REQUEST, NULL), 0);
		assert_int_equal(ward_http_feed(&hp, head, strlen(head), &used), 1);
		assert_int_equal(ward_cred_apply(s2, &hp.head, hp.buf, hp.head.head_len,
						 "other.example", 443, true, &cr),
				 0);
		assert_int_equal(cr.verdict, WARD_CRED_INJECTED);
		assert_non_null(memmem(cr.head, cr.head_len, SECRET_GH, strlen(SECRET_GH)));
		ward_cred_result_clear(&cr);
		ward_http_parser_free(&hp);
	}
	ward_cred_store_free(s2);
	ward_policy_free(p2);
	free(before_gh);
	setenv("WARD_TEST_GH_TOKEN", SECRET_GH, 1);
	setenv("WARD_TEST_API_KEY", SECRET_API, 1);
}

#define STORE_A "tok-from-store-A-4f3a"
#define STORE_B "tok-rotated-B-77c1"

/* One request with the placeholder through s, for api.github.com. */
static int apply_store(const struct ward_cred_store *s, const char *ph, struct ward_cred_result *cr)
{
	struct ward_http_parser hp;
	char req[512];
	size_t used;
	int r;

	snprintf(req, sizeof(req),
		 "GET /user HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer %s\r\n\r\n",
		 ph);
	assert_int_equal(ward_http_parser_init(&hp, WARD_HTTP_REQUEST, NULL), 0);
	assert_int_equal(ward_http_feed(&hp, req, strlen(req), &used), 1);
	r = ward_cred_apply(s, &hp.head, hp.buf, hp.head.head_len, "api.github.com", 443, true, cr);
	ward_http_parser_free(&hp);
	return r;
}

/* `secret: NAME`: the store is read on every request, so a rotation (by
 * another store object, as `ward secret set` in another process) applies
 * from the next request; a secret missing at start or removed later fails
 * closed, and neither message holds a value. */
static void test_store_secret(void **state)
{
	static const char yaml[] = "version: 1\ncredentials:\n"
				   "  - { name: gh, secret: gh-token, host: api.github.com }\n"
				   "  - { name: api, secret: tok, placeholder_env: API_KEY,\n"
				   "      host: api.test.example }\n";
	struct ward_policy *p = NULL, *p2 = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_secrets *secrets = NULL, *writer = NULL;
	struct ward_cred_store *s = NULL, *s2 = NULL;
	struct ward_cred_result cr;
	char dir[64], sdir[128];
	const char *ph = NULL;
	char **env;

	(void)state;
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "credstore"));
	snprintf(sdir, sizeof(sdir), "%s/secrets", dir);
	assert_int_equal(ward_secrets_open(sdir, &secrets, &err), 0);
	assert_int_equal(ward_secrets_open(sdir, &writer, &err), 0);
	assert_int_equal(ward_policy_load_buffer("s.yaml", yaml, strlen(yaml), &p, &d, &err), 0);
	ward_diags_free(&d);

	/* missing at start: the error names credential and secret */
	assert_int_equal(ward_secret_set(writer, "gh-token", STORE_A, strlen(STORE_A), &err), 0);
	assert_int_equal(ward_cred_store_new_in(secrets, p, &s, &err), -ENOENT);
	assert_string_equal(err.msg,
			    "credential 'api': secret 'tok' is not set (ward secret set tok)");
	/* a value that would split a header is refused, and not echoed */
	assert_int_equal(ward_secret_set(writer, "tok", "ab\r\nX-Evil: 1", 13, &err), 0);
	assert_int_equal(ward_cred_store_new_in(secrets, p, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "secret 'tok' contains control characters"));
	assert_null(strstr(err.msg, "X-Evil"));
	assert_int_equal(ward_secret_set(writer, "tok", "k", 1, &err), 0);
	assert_int_equal(ward_cred_store_new_in(secrets, p, &s, &err), 0);

	/* the placeholders go into GH_TOKEN (from the name) and API_KEY */
	env = ward_cred_env(s);
	assert_non_null(env);
	assert_non_null(env[0]);
	assert_non_null(env[1]);
	assert_null(env[2]);
	assert_int_equal(strncmp(env[0], "GH_TOKEN=" WARD_CRED_PLACEHOLDER_PREFIX "gh-", 24), 0);
	assert_int_equal(strncmp(env[1], "API_KEY=" WARD_CRED_PLACEHOLDER_PREFIX "api-", 24), 0);
	ward_cred_env_free(env);
	ph = ward_cred_placeholder(s, 0);

	assert_int_equal(apply_store(s, ph, &cr), 0);
	assert_int_equal(cr.verdict, WARD_CRED_INJECTED);
	assert_non_null(strstr(cr.head, "Authorization: Bearer " STORE_A "\r\n"));
	ward_cred_result_clear(&cr);
	/* rotated: the next request has the new value, with no rebuild */
	assert_int_equal(ward_secret_set(writer, "gh-token", STORE_B, strlen(STORE_B), &err), 0);
	assert_int_equal(apply_store(s, ph, &cr), 0);
	assert_int_equal(cr.verdict, WARD_CRED_INJECTED);
	assert_non_null(strstr(cr.head, "Authorization: Bearer " STORE_B "\r\n"));
	assert_null(strstr(cr.head, STORE_A));
	ward_cred_result_clear(&cr);

	/* a live apply keeps the placeholder and the store */
	assert_int_equal(ward_policy_load_buffer("s.yaml", yaml, strlen(yaml), &p2, &d, &err), 0);
	ward_diags_free(&d);
	assert_int_equal(ward_cred_store_derive(s, p2, &s2, &err), 0);
	assert_string_equal(ward_cred_placeholder(s2, 0), ph);

	/* removed: the request is refused, naming the secret, never a value */
	assert_int_equal(ward_secret_rm(writer, "gh-token", &err), 0);
	assert_int_equal(apply_store(s2, ph, &cr), -ENOKEY);
	assert_null(cr.head);
	assert_string_equal(cr.credential, "gh");
	assert_string_equal(cr.reason, WARD_CRED_REASON_UNAVAILABLE);
	assert_string_equal(cr.detail, "secret 'gh-token' is not set (ward secret set gh-token)");
	ward_cred_result_clear(&cr);
	/* set again: back in business */
	assert_int_equal(ward_secret_set(writer, "gh-token", STORE_A, strlen(STORE_A), &err), 0);
	assert_int_equal(apply_store(s2, ph, &cr), 0);
	assert_non_null(strstr(cr.head, "Authorization: Bearer " STORE_A "\r\n"));
	ward_cred_result_clear(&cr);

	ward_cred_store_free(s2);
	ward_cred_store_free(s);
	ward_policy_free(p2);
	ward_policy_free(p);
	ward_secrets_unref(writer);
	ward_secrets_unref(secrets);
	ward_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders), cmocka_unit_test(test_missing_env),
		cmocka_unit_test(test_inject),	     cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_plain_http),   cmocka_unit_test(test_secret_never_logged),
		cmocka_unit_test(test_derive),	     cmocka_unit_test(test_store_secret),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
