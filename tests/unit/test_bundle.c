// SPDX-License-Identifier: MIT
/* The signed bundle container (src/fleet/bundle.c): a written bundle parses
 * and verifies; every truncation, a byte too many, bad lengths, bad manifest
 * fields and another container format are refused by the parser; a changed
 * manifest byte or another key fails the signature, a changed file byte its
 * sha256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fleet/bundle.h"

static const char host_yaml[] = "version: 1\nnetwork_policies: {}\n";
static const char dev_yaml[] = "version: 1\nextends: [deny-all]\n";

struct fx {
	EVP_PKEY *key, *other;
	uint8_t *buf;
	size_t len;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ward_error err = { 0 };
	const struct ward_bundle_input in[] = {
		{ WARD_BUNDLE_HOST, NULL, "host.yaml", host_yaml, sizeof(host_yaml) - 1 },
		{ WARD_BUNDLE_SANDBOX, "dev", "dev.yaml", dev_yaml, sizeof(dev_yaml) - 1 },
	};

	assert_non_null(f);
	assert_int_equal(ward_bundle_keygen(&f->key, &err), 0);
	assert_int_equal(ward_bundle_keygen(&f->other, &err), 0);
	assert_int_equal(ward_bundle_write(in, 2, 42, 1700000000, f->key, &f->buf, &f->len, &err),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->other);
	free(f->buf);
	free(f);
	return 0;
}

static int parse(const void *buf, size_t len)
{
	struct ward_bundle *b = NULL;
	struct ward_error err = { 0 };
	int r = ward_bundle_parse(buf, len, &b, &err);

	if (r == 0)
		assert_non_null(b);
	else
		assert_true(err.msg[0] != '\0');
	ward_bundle_free(b);
	return r;
}

static int verify(const void *buf, size_t len, EVP_PKEY *key)
{
	struct ward_bundle *b = NULL;
	struct ward_error err = { 0 };
	int r = ward_bundle_parse(buf, len, &b, &err);

	if (r == 0)
		r = ward_bundle_verify(b, key, &err);
	ward_bundle_free(b);
	return r;
}

static void test_roundtrip(void **state)
{
	struct fx *f = *state;
	struct ward_bundle *b = NULL;
	struct ward_error err = { 0 };
	char id[65];

	assert_int_equal(ward_bundle_parse(f->buf, f->len, &b, &err), 0);
	assert_int_equal(ward_bundle_verify(b, f->key, &err), 0);
	assert_int_equal(b->version, 42);
	assert_int_equal(b->created, 1700000000);
	assert_int_equal(b->n_files, 2);
	assert_int_equal(b->files[0].role, WARD_BUNDLE_HOST);
	assert_null(b->files[0].sandbox);
	assert_int_equal(b->files[0].len, sizeof(host_yaml) - 1);
	assert_memory_equal(b->files[0].data, host_yaml, sizeof(host_yaml) - 1);
	assert_int_equal(b->files[1].role, WARD_BUNDLE_SANDBOX);
	assert_string_equal(b->files[1].sandbox, "dev");
	assert_string_equal(b->files[1].name, "dev.yaml");
	assert_memory_equal(b->files[1].data, dev_yaml, sizeof(dev_yaml) - 1);
	assert_int_equal(ward_bundle_key_id(f->key, id, &err), 0);
	assert_string_equal(b->key_id, id);
	ward_bundle_free(b);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;

	/* every prefix is refused as malformed, never read past */
	for (size_t n = 0; n < f->len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, f->buf, n);
		assert_int_equal(parse(copy, n), -EBADMSG);
		free(copy);
	}
}

static void test_trailing(void **state)
{
	struct fx *f = *state;
	uint8_t *copy = malloc(f->len + 1);

	memcpy(copy, f->buf, f->len);
	copy[f->len] = 'x';
	assert_int_equal(parse(copy, f->len + 1), -EBADMSG);
	free(copy);
}

/* A container around a hand-made manifest (unsigned: the parser's view). */
static size_t build(uint8_t *out, uint32_t format, const char *manifest, uint32_t mlen_field,
		    const char *payload)
{
	size_t m = strlen(manifest), p = strlen(payload);

	memcpy(out, WARD_BUNDLE_MAGIC, 8);
	out[8] = format >> 24, out[9] = format >> 16, out[10] = format >> 8, out[11] = format;
	out[12] = mlen_field >> 24, out[13] = mlen_field >> 16, out[14] = mlen_field >> 8;
	out[15] = mlen_field;
	memcpy(out + 16, manifest, m);
	memset(out + 16 + m, 0, 64);
	memcpy(out + 16 + m + 64, payload, p);
	return 16 + m + 64 + p;
}

#define KEY "\"key\":\"0000000000000000000000000000000000000000000000000000000000000000\""
#define SHA "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""
#define M(files) "{\"format\":1,\"version\":3,\"created\":1," KEY ",\"files\":[" files "]}"

static void test_lengths(void **state)
{
	uint8_t buf[4096];
	const char *ok = M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"a.yaml\"," SHA
			   ",\"bytes\":0}");
	size_t n;

	(void)state;
	n = build(buf, 1, ok, (uint32_t)strlen(ok), "");
	assert_int_equal(parse(buf, n), 0);
	/* the manifest length field: zero, past the end, over the limit */
	n = build(buf, 1, ok, 0, "");
	assert_int_equal(parse(buf, n), -EBADMSG);
	n = build(buf, 1, ok, (uint32_t)strlen(ok) + 100, "");
	assert_int_equal(parse(buf, n), -EBADMSG);
	n = build(buf, 1, ok, 0xffffffffu, "");
	assert_int_equal(parse(buf, n), -EBADMSG);
	/* another container format */
	n = build(buf, 2, ok, (uint32_t)strlen(ok), "");
	assert_int_equal(parse(buf, n), -EPROTONOSUPPORT);
	/* a file longer than what follows, negative, over the limit */
	const char *longer = M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"a.yaml\"," SHA
			       ",\"bytes\":10}");
	n = build(buf, 1, longer, (uint32_t)strlen(longer), "12345");
	assert_int_equal(parse(buf, n), -EBADMSG);
	const char *neg = M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"a.yaml\"," SHA
			    ",\"bytes\":-1}");
	n = build(buf, 1, neg, (uint32_t)strlen(neg), "");
	assert_int_equal(parse(buf, n), -EBADMSG);
	const char *huge = M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"a.yaml\"," SHA
			     ",\"bytes\":99999999999}");
	n = build(buf, 1, huge, (uint32_t)strlen(huge), "");
	assert_int_equal(parse(buf, n), -EFBIG);
}

static void test_manifest_fields(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"format\":1,\"version\":0,\"created\":1," KEY ",\"files\":[{}]}",
		"{\"format\":1,\"version\":9007199254740992,\"created\":1," KEY ",\"files\":[]}",
		"{\"format\":1,\"version\":3,\"created\":1,\"key\":\"xx\",\"files\":[]}",
		M(""),
		M("{\"role\":\"other\",\"name\":\"a.yaml\"," SHA ",\"bytes\":0}"),
		M("{\"role\":\"sandbox\",\"sandbox\":\"../x\",\"name\":\"a.yaml\"," SHA
		  ",\"bytes\":0}"),
		M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"../a.yaml\"," SHA
		  ",\"bytes\":0}"),
		M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\".a\"," SHA ",\"bytes\":0}"),
		M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"a\",\"sha256\":\"E3\",\"bytes\":0}"),
		M("{\"role\":\"host\",\"name\":\"h\"," SHA ",\"bytes\":0},"
		  "{\"role\":\"host\",\"name\":\"h\"," SHA ",\"bytes\":0}"),
		M("{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"a\"," SHA ",\"bytes\":0},"
		  "{\"role\":\"sandbox\",\"sandbox\":\"a\",\"name\":\"b\"," SHA ",\"bytes\":0}"),
		M("{\"role\":\"host\",\"sandbox\":\"a\",\"name\":\"h\"," SHA ",\"bytes\":0}"),
		"{\"format\":1,\"format\":1,\"version\":3,\"created\":1," KEY ",\"files\":[]}",
	};
	uint8_t buf[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = build(buf, 1, bad[i], (uint32_t)strlen(bad[i]), "");

		if (parse(buf, n) != -EBADMSG)
			fail_msg("manifest %zu accepted: %s", i, bad[i]);
	}
}

static void test_tampered(void **state)
{
	struct fx *f = *state;
	uint8_t *copy = malloc(f->len);

	assert_int_equal(verify(f->buf, f->len, f->key), 0);
	assert_int_equal(verify(f->buf, f->len, f->other), -EKEYREJECTED);
	/* a byte of the manifest's version number: still parses, signature fails */
	memcpy(copy, f->buf, f->len);
	char *v = memmem(copy, f->len, "\"version\":42", 12);
	assert_non_null(v);
	v[11] = '3';
	assert_int_equal(verify(copy, f->len, f->key), -EKEYREJECTED);
	/* a byte of the signature */
	memcpy(copy, f->buf, f->len);
	copy[f->len - sizeof(host_yaml) - sizeof(dev_yaml) + 2 - 1] ^= 1;
	assert_int_equal(verify(copy, f->len, f->key), -EKEYREJECTED);
	/* a byte of the last file */
	memcpy(copy, f->buf, f->len);
	copy[f->len - 2] ^= 1;
	assert_int_equal(verify(copy, f->len, f->key), -EBADMSG);
	free(copy);
}

static void test_write_limits(void **state)
{
	struct fx *f = *state;
	struct ward_error err = { 0 };
	const struct ward_bundle_input in = { WARD_BUNDLE_SANDBOX, "a", "a.yaml", "x", 1 };
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(ward_bundle_write(&in, 0, 1, 0, f->key, &buf, &len, &err), -EINVAL);
	assert_int_equal(ward_bundle_write(&in, 1, 0, 0, f->key, &buf, &len, &err), -EINVAL);
	assert_int_equal(ward_bundle_write(&in, 1, WARD_BUNDLE_VERSION_MAX + 1, 0, f->key, &buf,
					   &len, &err),
			 -EINVAL);
	assert_null(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),	cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing),	cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_manifest_fields), cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_write_limits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
