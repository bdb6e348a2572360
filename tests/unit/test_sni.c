// SPDX-License-Identifier: MIT
/* SNI/ALPN from real ClientHellos (made by OpenSSL over a memory BIO pair),
 * the same split over many records, every truncation, and hand-built
 * malformed hellos. Inputs are copied into exactly-sized heap buffers so an
 * out-of-bounds read shows up under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "proxy/sni.h"

static enum ward_sni_result parse_exact(const uint8_t *data, size_t len, struct ward_sni_info *info)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum ward_sni_result r;

	assert_non_null(copy);
	memcpy(copy, data, len);
	r = ward_sni_parse(copy, len, info);
	free(copy);
	return r;
}

/* The bytes a TLS client sends first, as OpenSSL writes them. */
static size_t openssl_hello(uint8_t *out, size_t outsz, const char *sni, const uint8_t *alpn,
			    size_t alpn_len, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	BIO *inner = NULL, *net = NULL;
	SSL *ssl;
	int r, n;

	assert_non_null(ctx);
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	assert_int_equal(BIO_new_bio_pair(&inner, 0, &net, 0), 1);
	SSL_set_bio(ssl, inner, inner);
	if (sni)
		assert_int_equal(SSL_set_tlsext_host_name(ssl, sni), 1);
	if (alpn)
		assert_int_equal(SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len), 0);
	if (max_version)
		assert_int_equal(SSL_set_max_proto_version(ssl, max_version), 1);
	SSL_set_connect_state(ssl);
	r = SSL_do_handshake(ssl);
	assert_true(r <= 0);
	assert_int_equal(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);
	n = BIO_read(net, out, (int)outsz);
	assert_true(n > 0);
	SSL_free(ssl);
	BIO_free(net);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

static const uint8_t alpn_h2_h11[] = "\x02h2\x08http/1.1";

static void test_openssl_hello(void **state)
{
	uint8_t buf[8192];
	struct ward_sni_info info;
	size_t n = openssl_hello(buf, sizeof(buf), "api.github.com", alpn_h2_h11,
				 sizeof(alpn_h2_h11) - 1, 0);

	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_FOUND);
	assert_true(info.has_server_name);
	assert_string_equal(info.server_name, "api.github.com");
	assert_int_equal(info.n_alpn, 2);
	assert_string_equal(info.alpn[0], "h2");
	assert_string_equal(info.alpn[1], "http/1.1");
	assert_true(ward_sni_has_alpn(&info, "http/1.1"));
	assert_false(ward_sni_has_alpn(&info, "http/1.0"));
	assert_false(info.alpn_truncated);
	assert_int_equal(info.hello_len, n);
	assert_true(info.supported_versions);
	assert_int_equal(info.legacy_version, 0x0303);

	/* every truncation asks for more, and never reads past the end */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(parse_exact(buf, i, &info), WARD_SNI_NEED_MORE);

	/* bytes after the ClientHello's record are not part of it */
	memcpy(buf + n, "\x14\x03\x03\x00\x01\x01", 6);
	assert_int_equal(parse_exact(buf, n + 6, &info), WARD_SNI_FOUND);
	assert_int_equal(info.hello_len, n);
}

static void test_openssl_variants(void **state)
{
	uint8_t buf[8192];
	struct ward_sni_info info;
	size_t n;

	/* no SNI, no ALPN */
	n = openssl_hello(buf, sizeof(buf), NULL, NULL, 0, 0);
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_FOUND);
	assert_false(info.has_server_name);
	assert_int_equal(info.n_alpn, 0);

	/* TLS 1.2 only, name case and trailing dot normalised */
	n = openssl_hello(buf, sizeof(buf), "Example.COM.", NULL, 0, TLS1_2_VERSION);
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_FOUND);
	assert_string_equal(info.server_name, "example.com");
	assert_false(info.supported_versions);

	/* a name that is not a host name is malformed, not "no SNI" */
	n = openssl_hello(buf, sizeof(buf), "bad_name.com", NULL, 0, 0);
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);

	/* more ALPN protocols than kept: flagged, the first ones kept */
	uint8_t alpn[1024];
	size_t al = 0;
	for (int i = 0; i < 20; i++)
		al += (size_t)sprintf((char *)alpn + al, "%cproto-%02d", 8, i);
	n = openssl_hello(buf, sizeof(buf), "a.example", alpn, al, 0);
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_FOUND);
	assert_int_equal(info.n_alpn, WARD_SNI_MAX_ALPN);
	assert_true(info.alpn_truncated);
	assert_string_equal(info.alpn[15], "proto-15");
}

/* Re-frame the handshake of a one-record hello into records of the given sizes. */
static size_t split_records(const uint8_t *hello, size_t n, const size_t *sizes, size_t n_sizes,
			    uint8_t *out)
{
	const uint8_t *hs = hello + 5;
	size_t left = n - 5, o = 0, k = 0;

	while (left) {
		size_t sz = sizes[k < n_sizes ? k : n_sizes - 1];

		if (sz > left)
			sz = left;
		memcpy(out + o, hello, 3);
		out[o + 3] = (uint8_t)(sz >> 8);
		out[o + 4] = (uint8_t)sz;
		memcpy(out + o + 5, hs, sz);
		o += 5 + sz;
		hs += sz;
		left -= sz;
		k++;
	}
	return o;
}

static void test_multi_record(void **state)
{
	static const size_t one[] = { 1 }, mixed[] = { 3, 100, 7, 1000 };
	uint8_t buf[4096], split[4096 * 6];
	struct ward_sni_info info;
	size_t n = openssl_hello(buf, sizeof(buf), "git.example.org", alpn_h2_h11,
				 sizeof(alpn_h2_h11) - 1, 0);
	size_t m;

	m = split_records(buf, n, mixed, 4, split);
	assert_int_equal(parse_exact(split, m, &info), WARD_SNI_FOUND);
	assert_string_equal(info.server_name, "git.example.org");
	assert_int_equal(info.hello_len, m);
	for (size_t i = 0; i < m; i++)
		assert_int_equal(parse_exact(split, i, &info), WARD_SNI_NEED_MORE);

	m = split_records(buf, n, one, 1, split);
	assert_int_equal(parse_exact(split, m, &info), WARD_SNI_FOUND);
	assert_string_equal(info.server_name, "git.example.org");

	/* an alert between the fragments is not a ClientHello */
	m = split_records(buf, n, mixed, 4, split);
	split[5 + 3] = 0x15;
	assert_int_equal(parse_exact(split, m, &info), WARD_SNI_MALFORMED);
}

static void test_not_tls(void **state)
{
	struct ward_sni_info info;

	assert_int_equal(parse_exact((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &info),
			 WARD_SNI_NOT_TLS);
	assert_non_null(info.reason);
	assert_int_equal(parse_exact((const uint8_t *)"\x80\x2e\x01\x03\x01", 5, &info),
			 WARD_SNI_NOT_TLS); /* SSLv2 compatible hello */
	assert_int_equal(parse_exact((const uint8_t *)"\x17\x03\x03\x00\x10", 5, &info),
			 WARD_SNI_NOT_TLS);
	assert_int_equal(parse_exact((const uint8_t *)"\x16\x02", 2, &info), WARD_SNI_NOT_TLS);
	assert_int_equal(parse_exact((const uint8_t *)"\x16\x03\x05", 3, &info), WARD_SNI_NOT_TLS);
	assert_int_equal(parse_exact((const uint8_t *)"S", 1, &info), WARD_SNI_NOT_TLS);
	assert_int_equal(parse_exact((const uint8_t *)"\x16", 1, &info), WARD_SNI_NEED_MORE);
	assert_int_equal(parse_exact((const uint8_t *)"\x16\x03\x01\x00", 4, &info),
			 WARD_SNI_NEED_MORE);
	assert_int_equal(ward_sni_parse(NULL, 0, &info), WARD_SNI_NEED_MORE);
}

/* Hand-built hellos: a record around a ClientHello with the given extensions. */
static size_t build(uint8_t *out, const uint8_t *exts, size_t ext_len, bool with_ext_vec)
{
	size_t o = 9, body;

	out[0] = 0x16;
	out[1] = 3;
	out[2] = 1;
	out[5] = 1; /* client_hello */
	out[o++] = 3;
	out[o++] = 3;
	memset(out + o, 0xab, 32);
	o += 32;
	out[o++] = 0; /* session id */
	out[o++] = 0;
	out[o++] = 2;
	out[o++] = 0x13;
	out[o++] = 0x01; /* one cipher suite */
	out[o++] = 1;
	out[o++] = 0; /* null compression */
	if (with_ext_vec) {
		out[o++] = (uint8_t)(ext_len >> 8);
		out[o++] = (uint8_t)ext_len;
	}
	if (ext_len)
		memcpy(out + o, exts, ext_len);
	o += ext_len;
	body = o - 9;
	out[6] = (uint8_t)(body >> 16);
	out[7] = (uint8_t)(body >> 8);
	out[8] = (uint8_t)body;
	out[3] = (uint8_t)((o - 5) >> 8);
	out[4] = (uint8_t)(o - 5);
	return o;
}

#define EXT(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static enum ward_sni_result try_exts(const uint8_t *exts, size_t len, struct ward_sni_info *info)
{
	uint8_t buf[1024];
	size_t n = build(buf, exts, len, true);

	return parse_exact(buf, n, info);
}

static void test_handbuilt(void **state)
{
	struct ward_sni_info info;
	uint8_t buf[20000];
	size_t n;

	/* good: SNI "a.b" */
	assert_int_equal(try_exts(EXT(0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', '.', 'b'), &info),
			 WARD_SNI_FOUND);
	assert_string_equal(info.server_name, "a.b");
	/* no extensions vector at all */
	n = build(buf, NULL, 0, false);
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_FOUND);
	assert_false(info.has_server_name);
	/* an unknown name type is skipped */
	assert_int_equal(try_exts(EXT(0, 0, 0, 6, 0, 4, 7, 0, 1, 'x'), &info), WARD_SNI_FOUND);
	assert_false(info.has_server_name);

	/* duplicate extension, two host names, bad names */
	assert_int_equal(try_exts(EXT(0, 0, 0, 6, 0, 4, 0, 0, 1, 'a', 0, 0, 0, 6, 0, 4, 0, 0, 1,
				      'b'),
				  &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 10, 0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b'), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 7, 0, 5, 0, 0, 2, 'a', 0), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', ' ', 'b'), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 5, 0, 3, 0, 0, 0), &info), WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 2, 0, 0), &info), WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 0), &info), WARD_SNI_MALFORMED);
	/* inner lengths that lie */
	assert_int_equal(try_exts(EXT(0, 0, 0, 8, 0, 7, 0, 0, 3, 'a', '.', 'b'), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 8, 0, 6, 0, 0, 4, 'a', '.', 'b'), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 9, 0, 6, 0, 0, 3, 'a', '.', 'b'), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0, 0, 7, 0, 6, 0, 0, 3, 'a', '.', 'b'), &info),
			 WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 0), &info), WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 16, 0, 5, 0, 3, 2, 'h', '2', 0, 16, 0, 5, 0, 3, 2, 'h',
				      '3'),
				  &info),
			 WARD_SNI_MALFORMED);
	/* ALPN: empty protocol, empty list, lying length */
	assert_int_equal(try_exts(EXT(0, 16, 0, 5, 0, 3, 2, 'h', '2'), &info), WARD_SNI_FOUND);
	assert_string_equal(info.alpn[0], "h2");
	assert_int_equal(try_exts(EXT(0, 16, 0, 3, 0, 1, 0), &info), WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 16, 0, 2, 0, 0), &info), WARD_SNI_MALFORMED);
	assert_int_equal(try_exts(EXT(0, 16, 0, 5, 0, 3, 3, 'h', '2'), &info), WARD_SNI_MALFORMED);
	/* a protocol with a NUL is not kept */
	assert_int_equal(try_exts(EXT(0, 16, 0, 5, 0, 3, 2, 'h', 0), &info), WARD_SNI_FOUND);
	assert_int_equal(info.n_alpn, 0);
	assert_true(info.alpn_truncated);

	/* fixed fields */
	n = build(buf, NULL, 0, false);
	buf[9] = 2; /* client_version 2.x */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	n = build(buf, NULL, 0, false);
	buf[9 + 2 + 32] = 33; /* session id longer than 32 */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	n = build(buf, NULL, 0, false);
	buf[9 + 2 + 32 + 1 + 1] = 3; /* odd cipher suite length */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	n = build(buf, NULL, 0, false);
	buf[5] = 2; /* ServerHello */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	n = build(buf, NULL, 0, false);
	buf[3] = 0;
	buf[4] = 0; /* empty record */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	buf[3] = 0x40;
	buf[4] = 1; /* record over 16 KiB */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	n = build(buf, NULL, 0, false);
	buf[6] = 1; /* handshake message over 64 KiB */
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	/* handshake length shorter than the record: data after the ClientHello */
	n = build(buf, NULL, 0, false);
	buf[8]--;
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_MALFORMED);
	/* handshake length longer than the record: waits for the next record */
	n = build(buf, NULL, 0, false);
	buf[8]++;
	assert_int_equal(parse_exact(buf, n, &info), WARD_SNI_NEED_MORE);

	/* a 16 KiB ClientHello over two records is fine; one byte more is not */
	uint8_t pad[WARD_SNI_MAX_HELLO];
	size_t body_fixed = 2 + 32 + 1 + 4 + 2 + 2, plen = WARD_SNI_MAX_HELLO - body_fixed - 4;
	memset(pad, 0, sizeof(pad));
	pad[0] = 0;
	pad[1] = 21; /* padding extension */
	pad[2] = (uint8_t)(plen >> 8);
	pad[3] = (uint8_t)plen;
	n = build(buf, pad, plen + 4, true);
	assert_int_equal(n - 9, WARD_SNI_MAX_HELLO);
	{
		static const size_t halves[] = { 10000 };
		uint8_t rec[20000 + 10];
		size_t m = split_records(buf, n, halves, 1, rec);

		assert_int_equal(parse_exact(rec, m, &info), WARD_SNI_FOUND);
		plen++;
		pad[2] = (uint8_t)(plen >> 8);
		pad[3] = (uint8_t)plen;
		n = build(buf, pad, plen + 4, true);
		m = split_records(buf, n, halves, 1, rec);
		assert_int_equal(parse_exact(rec, m, &info), WARD_SNI_MALFORMED);
	}
}

/* Any single corrupted byte gives an answer without reading out of bounds. */
static void test_corruption(void **state)
{
	uint8_t buf[4096], copy[4096];
	struct ward_sni_info info;
	size_t n = openssl_hello(buf, sizeof(buf), "x.example", alpn_h2_h11,
				 sizeof(alpn_h2_h11) - 1, 0);
	static const uint8_t vals[] = { 0x00, 0x01, 0x7f, 0xff };
	size_t found = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			enum ward_sni_result r;

			memcpy(copy, buf, n);
			copy[i] = vals[v];
			r = parse_exact(copy, n, &info);
			assert_true(r <= WARD_SNI_MALFORMED);
			found += r == WARD_SNI_FOUND;
		}
	}
	/* corrupting random bytes or the key share still parses */
	assert_true(found > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_hello), cmocka_unit_test(test_openssl_variants),
		cmocka_unit_test(test_multi_record),  cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_handbuilt),     cmocka_unit_test(test_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
