// SPDX-License-Identifier: MIT
/* TLS interception: the ephemeral CA and its leaves verified by OpenSSL
 * itself, the leaf cache, full non-blocking handshakes over socketpairs
 * (ward server against an OpenSSL client trusting the ward CA, and ward's
 * upstream client against the ward server), ALPN, upstream verification. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/tls.h"

#define LOOP_MAX 2000

struct fixture {
	struct ward_tls_ca *ca;
	char dir[64];
	char ca_file[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ward_tls_ca_opts o = { .instance = "unit-test" };
	struct ward_error err = { 0 };
	char *pem = NULL;
	size_t len;
	FILE *fp;

	assert_non_null(f);
	assert_int_equal(ward_tls_ca_new(&o, &f->ca, &err), 0);
	assert_non_null(ward_test_mkdtemp(f->dir, sizeof(f->dir), "tls"));
	snprintf(f->ca_file, sizeof(f->ca_file), "%s/ca.pem", f->dir);
	assert_int_equal(ward_tls_ca_pem(f->ca, &pem, &len), 0);
	fp = fopen(f->ca_file, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(pem, 1, len, fp), len);
	fclose(fp);
	free(pem);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ward_tls_ca_free(f->ca);
	assert_int_equal(ward_test_rmtree(f->dir), 0);
	free(f);
	return 0;
}

static X509_STORE *store_with(X509 *ca)
{
	X509_STORE *st = X509_STORE_new();

	assert_non_null(st);
	assert_int_equal(X509_STORE_add_cert(st, ca), 1);
	return st;
}

/* X509_verify_cert of leaf against the CA, for the SSL server purpose. */
static int verify_chain(X509 *ca, X509 *leaf)
{
	X509_STORE *st = store_with(ca);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		fprintf(stderr, "verify: %s\n",
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static void test_ca(void **state)
{
	struct fixture *f = *state;
	X509 *ca = ward_tls_ca_cert(f->ca);
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	char cn[256], group[64];
	size_t glen = 0;
	time_t now = time(NULL);

	/* Self-signed CA, pathlen 0, keyCertSign, EC P-256. */
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_SS);
	assert_int_equal(X509_get_pathlen(ca), 0);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_verify(ca, pub), 1);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_non_null(strstr(cn, "ward"));
	assert_non_null(strstr(cn, "unit-test"));
	/* Short validity, backdated: valid now, not in 2 days, not 2 hours ago. */
	assert_true(X509_cmp_time(X509_get0_notBefore(ca), &now) < 0);
	{
		time_t later = now + 2 * 86400, before = now - 2 * 3600;

		assert_true(X509_cmp_time(X509_get0_notAfter(ca), &later) < 0);
		assert_true(X509_cmp_time(X509_get0_notBefore(ca), &before) > 0);
	}
}

static void test_leaf(void **state)
{
	struct fixture *f = *state;
	static const char *hosts[] = { "api.test.example", "10.1.2.3", "fd00::1" };
	struct ward_error err = { 0 };
	X509 *leaf;

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(ward_tls_ca_leaf(f->ca, hosts[i], &leaf, &err), 0);
		assert_int_equal(verify_chain(ward_tls_ca_cert(f->ca), leaf), 1);
		assert_int_equal(X509_check_ca(leaf), 0);
		assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
		assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
		if (i == 0) {
			assert_int_equal(X509_check_host(leaf, hosts[i], 0, 0, NULL), 1);
			assert_int_not_equal(X509_check_host(leaf, "other.test.example", 0, 0,
							     NULL),
					     1);
		} else {
			assert_int_equal(X509_check_ip_asc(leaf, hosts[i], 0), 1);
			assert_int_not_equal(X509_check_ip_asc(leaf, "10.1.2.4", 0), 1);
		}
		/* A leaf never outlives the CA that signed it. */
		assert_true(ASN1_TIME_compare(X509_get0_notAfter(leaf),
					      X509_get0_notAfter(ward_tls_ca_cert(f->ca))) <= 0);
		X509_free(leaf);
	}
	/* Upper case and a trailing dot name the same host: the SAN is canonical. */
	assert_int_equal(ward_tls_ca_leaf(f->ca, "API.Test.Example.", &leaf, &err), 0);
	assert_int_equal(X509_check_host(leaf, "api.test.example", 0, 0, NULL), 1);
	X509_free(leaf);
	/* Nothing but a host reaches a SAN. */
	assert_int_equal(ward_tls_ca_leaf(f->ca, "a.example,DNS:evil.example", &leaf, &err),
			 -EINVAL);
	assert_int_equal(ward_tls_ca_leaf(f->ca, "", &leaf, &err), -EINVAL);
}

static void test_cache(void **state)
{
	struct ward_tls_ca_opts o = { .instance = "cache", .cache_max = 3 };
	struct ward_error err = { 0 };
	struct ward_tls_cache_stats st;
	struct ward_tls_ca *ca;
	X509 *a1, *a2, *x;
	(void)state;

	assert_int_equal(ward_tls_ca_new(&o, &ca, &err), 0);
	assert_int_equal(ward_tls_ca_leaf(ca, "a.example", &a1, &err), 0);
	assert_int_equal(ward_tls_ca_leaf(ca, "a.example", &a2, &err), 0);
	assert_ptr_equal(a1, a2); /* a hit hands out the same certificate */
	ward_tls_ca_cache_stats(ca, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.size, 1);
	X509_free(a2);

	/* a b c, touch a, then d: b is the least recently used one. */
	assert_int_equal(ward_tls_ca_leaf(ca, "b.example", &x, &err), 0);
	X509_free(x);
	assert_int_equal(ward_tls_ca_leaf(ca, "c.example", &x, &err), 0);
	X509_free(x);
	assert_int_equal(ward_tls_ca_leaf(ca, "a.example", &x, &err), 0);
	X509_free(x);
	assert_int_equal(ward_tls_ca_leaf(ca, "d.example", &x, &err), 0);
	X509_free(x);
	ward_tls_ca_cache_stats(ca, &st);
	assert_int_equal(st.size, 3);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.hits, 2);
	assert_int_equal(ward_tls_ca_leaf(ca, "a.example", &x, &err), 0); /* still cached */
	X509_free(x);
	ward_tls_ca_cache_stats(ca, &st);
	assert_int_equal(st.hits, 3);
	assert_int_equal(ward_tls_ca_leaf(ca, "b.example", &x, &err),
			 0); /* evicted: minted again */
	X509_free(x);
	ward_tls_ca_cache_stats(ca, &st);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.size, 3);
	/* The evicted leaf a1 still belongs to its holder. */
	assert_int_equal(verify_chain(ward_tls_ca_cert(ca), a1), 1);
	X509_free(a1);
	ward_tls_ca_free(ca);
}

static void nonblocking_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

/* Drive two ward handshakes to the end in one thread; both sides non-blocking. */
static void drive(struct ward_tls *a, struct ward_tls *b, int *ret_a, int *ret_b)
{
	int ra = WARD_TLS_WANT_READ, rb = WARD_TLS_WANT_READ;

	for (int i = 0; i < LOOP_MAX; i++) {
		if (ra != 0)
			ra = ward_tls_handshake(a);
		if (rb != 0)
			rb = ward_tls_handshake(b);
		if ((ra == 0 && rb == 0) || ra == WARD_TLS_ERROR || rb == WARD_TLS_ERROR ||
		    ra == WARD_TLS_CLOSED || rb == WARD_TLS_CLOSED)
			break;
	}
	*ret_a = ra;
	*ret_b = rb;
}

/* An OpenSSL client trusting only the ward CA, offering h2 and http/1.1. */
static void test_handshake_openssl_client(void **state)
{
	struct fixture *f = *state;
	static const unsigned char alpn[] = "\x02h2\x08http/1.1";
	struct ward_error err = { 0 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct ward_tls *srv;
	const unsigned char *sel;
	unsigned int sel_len;
	char buf[64];
	int sv[2], rs = WARD_TLS_WANT_READ, rc = -1;
	ssize_t n;
	SSL *cli;

	nonblocking_pair(sv);
	SSL_CTX_set_cert_store(cctx, store_with(ward_tls_ca_cert(f->ca)));
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn, sizeof(alpn) - 1), 0);
	cli = SSL_new(cctx);
	SSL_set_fd(cli, sv[1]);
	SSL_set1_host(cli, "api.test.example");
	SSL_set_tlsext_host_name(cli, "api.test.example");
	SSL_set_connect_state(cli);

	srv = ward_tls_server_new(f->ca, sv[0], "api.test.example", &err);
	assert_non_null(srv);
	assert_false(ward_tls_handshake_done(srv));
	for (int i = 0; i < LOOP_MAX && (rs != 0 || rc != 1); i++) {
		if (rc != 1) {
			rc = SSL_do_handshake(cli);
			if (rc != 1) {
				int e = SSL_get_error(cli, rc);

				assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
			}
		}
		if (rs != 0) {
			rs = ward_tls_handshake(srv);
			assert_true(rs == 0 || rs == WARD_TLS_WANT_READ ||
				    rs == WARD_TLS_WANT_WRITE);
		}
	}
	assert_int_equal(rc, 1);
	assert_int_equal(rs, 0);
	assert_int_equal(SSL_get_verify_result(cli), X509_V_OK);
	/* ALPN: http/1.1 even though the client preferred h2. */
	SSL_get0_alpn_selected(cli, &sel, &sel_len);
	assert_int_equal(sel_len, 8);
	assert_memory_equal(sel, "http/1.1", 8);
	assert_string_equal(ward_tls_alpn(srv), "http/1.1");
	assert_string_equal(ward_tls_sni(srv), "api.test.example");
	/* The certificate the client saw is issued by the ward CA. */
	{
		X509 *peer = SSL_get1_peer_certificate(cli);

		assert_non_null(peer);
		assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(peer),
					       X509_get_subject_name(ward_tls_ca_cert(f->ca))),
				 0);
		X509_free(peer);
	}

	/* Data both ways; nothing to read yet is WANT_READ, not 0 or an error. */
	assert_int_equal(ward_tls_read(srv, buf, sizeof(buf)), WARD_TLS_WANT_READ);
	assert_int_equal(SSL_write(cli, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	n = ward_tls_read(srv, buf, sizeof(buf));
	assert_int_equal(n, 18);
	assert_memory_equal(buf, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(ward_tls_write(srv, "HTTP/1.1 200 OK\r\n", 17), 17);
	for (int i = 0; i < LOOP_MAX; i++) {
		int r = SSL_read(cli, buf, sizeof(buf));

		if (r > 0) {
			assert_int_equal(r, 17);
			break;
		}
		assert_int_equal(SSL_get_error(cli, r), SSL_ERROR_WANT_READ);
	}
	/* close_notify from the client: CLOSED, not ERROR. */
	SSL_shutdown(cli);
	assert_int_equal(ward_tls_read(srv, buf, sizeof(buf)), WARD_TLS_CLOSED);
	assert_int_equal(ward_tls_shutdown(srv), 0);

	ward_tls_free(srv);
	SSL_free(cli);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
}

/* An h2-only client gets no ALPN at all, never h2. */
static void test_alpn_h2_only(void **state)
{
	struct fixture *f = *state;
	static const unsigned char alpn[] = "\x02h2";
	struct ward_error err = { 0 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct ward_tls *srv;
	const unsigned char *sel = NULL;
	unsigned int sel_len = 0;
	int sv[2], rs = WARD_TLS_WANT_READ, rc = -1;
	SSL *cli;

	nonblocking_pair(sv);
	SSL_CTX_set_cert_store(cctx, store_with(ward_tls_ca_cert(f->ca)));
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(cctx, alpn, sizeof(alpn) - 1);
	cli = SSL_new(cctx);
	SSL_set_fd(cli, sv[1]);
	SSL_set1_host(cli, "h2.test.example");
	SSL_set_connect_state(cli);
	srv = ward_tls_server_new(f->ca, sv[0], "h2.test.example", &err);
	assert_non_null(srv);
	for (int i = 0; i < LOOP_MAX && (rs != 0 || rc != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(cli);
		if (rs != 0)
			rs = ward_tls_handshake(srv);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(rs, 0);
	SSL_get0_alpn_selected(cli, &sel, &sel_len);
	assert_int_equal(sel_len, 0);
	assert_null(ward_tls_alpn(srv));
	ward_tls_free(srv);
	SSL_free(cli);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
}

/* ward's upstream client against a ward server: host, roots, extra CA. */
static int upstream_case(struct fixture *f, const char *roots, const char *extra_ca,
			 const char *cert_host, const char *dial_host, char *ret_error,
			 size_t errsz)
{
	struct ward_error err = { 0 };
	struct ward_tls_upstream *u = NULL;
	struct ward_tls *srv, *cli;
	int sv[2], rs, rc;

	assert_int_equal(ward_tls_upstream_new(roots, extra_ca, &u, &err), 0);
	nonblocking_pair(sv);
	srv = ward_tls_server_new(f->ca, sv[0], cert_host, &err);
	cli = ward_tls_client_new(u, sv[1], dial_host, &err);
	assert_non_null(srv);
	assert_non_null(cli);
	drive(cli, srv, &rc, &rs);
	if (ret_error)
		snprintf(ret_error, errsz, "%s", ward_tls_error(cli));
	if (rc == 0) {
		char buf[8];

		assert_string_equal(ward_tls_alpn(cli), "http/1.1");
		assert_int_equal(ward_tls_write(cli, "ping", 4), 4);
		assert_int_equal(ward_tls_read(srv, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "ping", 4);
		/* The peer vanishing without close_notify is CLOSED too. */
		ward_tls_free(srv);
		srv = NULL;
		close(sv[0]);
		sv[0] = -1;
		assert_int_equal(ward_tls_read(cli, buf, sizeof(buf)), WARD_TLS_CLOSED);
	}
	ward_tls_free(cli);
	ward_tls_free(srv);
	ward_tls_upstream_free(u);
	if (sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_upstream_verify(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_tls_upstream *u = NULL;
	char msg[256];

	/* Trusted through --upstream-ca, right name: succeeds. */
	assert_int_equal(upstream_case(f, NULL, f->ca_file, "api.test.example", "api.test.example",
				       msg, sizeof(msg)),
			 0);
	/* And for an address: the leaf's iPAddress SAN. */
	assert_int_equal(upstream_case(f, NULL, f->ca_file, "192.168.250.2", "192.168.250.2", msg,
				       sizeof(msg)),
			 0);
	/* Wrong host. */
	assert_int_equal(upstream_case(f, NULL, f->ca_file, "api.test.example",
				       "other.test.example", msg, sizeof(msg)),
			 WARD_TLS_ERROR);
	assert_non_null(strstr(msg, "certificate verify failed"));
	assert_non_null(strstr(msg, "hostname mismatch"));
	/* Untrusted: the system roots alone do not know the ward CA. */
	assert_int_equal(upstream_case(f, NULL, NULL, "api.test.example", "api.test.example", msg,
				       sizeof(msg)),
			 WARD_TLS_ERROR);
	assert_non_null(strstr(msg, "certificate verify failed"));
	/* The ward CA as the only root works too (roots given explicitly). */
	assert_int_equal(upstream_case(f, f->ca_file, NULL, "api.test.example", "api.test.example",
				       msg, sizeof(msg)),
			 0);
	/* An --upstream-ca that cannot be loaded is an error at start. */
	assert_int_equal(ward_tls_upstream_new(NULL, "/nonexistent/ca.pem", &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
	assert_null(u);
}

/* The bundle the sandbox trusts: system roots + the ward CA, and a client
 * using only that file accepts ward's leaves. */
static void test_bundle_env(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	char path[160], msg[256], *buf = NULL, *pem = NULL;
	size_t len = 0, sys_len, pem_len;
	FILE *fp;
	char **env;

	snprintf(path, sizeof(path), "%s/bundle.pem", f->dir);
	assert_int_equal(ward_tls_write_bundle(f->ca, NULL, path, &err), 0);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_int_equal(getdelim(&buf, &len, '\0', fp) > 0, 1);
	fclose(fp);
	assert_int_equal(ward_tls_ca_pem(f->ca, &pem, &pem_len), 0);
	assert_non_null(strstr(buf, pem));
	assert_null(strstr(buf, "PRIVATE KEY")); /* the CA key never reaches a file */
	fp = fopen(WARD_TLS_SYSTEM_ROOTS, "r");
	if (fp) {
		fseek(fp, 0, SEEK_END);
		sys_len = (size_t)ftell(fp);
		fclose(fp);
		assert_true(strlen(buf) >= sys_len + pem_len);
	}
	free(buf);
	free(pem);
	assert_int_equal(upstream_case(f, path, NULL, "api.test.example", "api.test.example", msg,
				       sizeof(msg)),
			 0);
	/* Unwritable target: an error naming it, no temp file left behind. */
	assert_true(ward_tls_write_bundle(f->ca, NULL, "/nonexistent/dir/ca.pem", &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/ca.pem"));

	env = ward_tls_env("/etc/ward/ca.pem");
	assert_non_null(env);
	{
		static const char *want[] = {
			"SSL_CERT_FILE=",	"REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE=",
			"NODE_EXTRA_CA_CERTS=", "GIT_SSL_CAINFO=",     "PIP_CERT=",
			"npm_config_cafile=",
		};
		size_t n = 0;

		for (; env[n]; n++) {
			assert_non_null(strstr(env[n], "=/etc/ward/ca.pem"));
		}
		assert_int_equal(n, 7);
		for (size_t i = 0; i < 7; i++) {
			bool found = false;

			for (size_t j = 0; env[j]; j++)
				found |= strncmp(env[j], want[i], strlen(want[i])) == 0;
			assert_true(found);
		}
	}
	ward_tls_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_leaf),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_handshake_openssl_client),
		cmocka_unit_test(test_alpn_h2_only),
		cmocka_unit_test(test_upstream_verify),
		cmocka_unit_test(test_bundle_env),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
