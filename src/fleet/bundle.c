// SPDX-License-Identifier: MIT
/* Signed policy bundles: the container (bundle.h has it byte by byte), the
 * ed25519 signature through OpenSSL, and the admins' keys. OpenSSL's error
 * queue is turned into a ward_error in one place (ossl_err). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "fleet/bundle.h"

DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)
DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_CLEANUP(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_CLEANUP(BIO *, BIO_free)

/* The OpenSSL error queue's last reason after what, the queue emptied. */
static int ossl_err(struct ward_error *err, int code, const char *what)
{
	unsigned long e, last = 0;
	char buf[256] = "";

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last)
		ERR_error_string_n(last, buf, sizeof(buf));
	return ward_errx(err, code, "%s%s%s", what, *buf ? ": " : "", buf);
}

const char *ward_bundle_role_name(enum ward_bundle_role r)
{
	switch (r) {
	case WARD_BUNDLE_HOST:
		return "host";
	case WARD_BUNDLE_SANDBOX:
		return "sandbox";
	}
	return "?";
}

bool ward_bundle_name_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s || *s == '.')
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void ward_bundle_free(struct ward_bundle *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_files; i++) {
		free(b->files[i].sandbox);
		free(b->files[i].name);
	}
	free(b->files);
	free(b->buf);
	free(b);
}
DEFINE_CLEANUP(struct ward_bundle *, ward_bundle_free)

/* One manifest entry; payload is where its bytes start, avail what is left. */
static int parse_file(struct ward_bundle *b, json_t *f, size_t i, size_t *payload,
		      struct ward_error *err)
{
	struct ward_bundle_file *out = &b->files[i];
	const char *role = json_string_value(json_object_get(f, "role"));
	const char *name = json_string_value(json_object_get(f, "name"));
	const char *sandbox = json_string_value(json_object_get(f, "sandbox"));
	const char *sha = json_string_value(json_object_get(f, "sha256"));
	json_t *bytes = json_object_get(f, "bytes");
	json_int_t n;

	if (!json_is_object(f))
		return ward_errx(err, -EBADMSG, "manifest: files[%zu] is not an object", i);
	if (!role || !strcmp(role, "host")) {
		if (!role)
			return ward_errx(err, -EBADMSG, "manifest: files[%zu]: no role", i);
		out->role = WARD_BUNDLE_HOST;
		if (sandbox)
			return ward_errx(err, -EBADMSG,
					 "manifest: files[%zu]: a host policy names no sandbox", i);
	} else if (!strcmp(role, "sandbox")) {
		out->role = WARD_BUNDLE_SANDBOX;
		if (!ward_bundle_name_valid(sandbox, WARD_BUNDLE_SANDBOX_MAX))
			return ward_errx(err, -EBADMSG, "manifest: files[%zu]: bad sandbox name",
					 i);
		for (size_t j = 0; j < i; j++)
			if (b->files[j].sandbox && !strcmp(b->files[j].sandbox, sandbox))
				return ward_errx(err, -EBADMSG,
						 "manifest: sandbox '%s' appears twice", sandbox);
		out->sandbox = strdup(sandbox);
		if (!out->sandbox)
			return ward_err(err, -ENOMEM, "manifest");
	} else {
		return ward_errx(err, -EBADMSG, "manifest: files[%zu]: unknown role", i);
	}
	if (out->role == WARD_BUNDLE_HOST)
		for (size_t j = 0; j < i; j++)
			if (b->files[j].role == WARD_BUNDLE_HOST)
				return ward_errx(err, -EBADMSG, "manifest: two host policies");
	if (!ward_bundle_name_valid(name, WARD_BUNDLE_NAME_MAX))
		return ward_errx(err, -EBADMSG, "manifest: files[%zu]: bad name", i);
	if (!hex64(sha))
		return ward_errx(err, -EBADMSG, "manifest: files[%zu]: bad sha256", i);
	if (!json_is_integer(bytes))
		return ward_errx(err, -EBADMSG, "manifest: files[%zu]: no bytes", i);
	n = json_integer_value(bytes);
	if (n < 0)
		return ward_errx(err, -EBADMSG, "manifest: files[%zu]: negative bytes", i);
	if (n > WARD_BUNDLE_MAX_FILE)
		return ward_errx(err, -EFBIG, "manifest: files[%zu]: %" PRId64 " bytes (limit %d)",
				 i, (int64_t)n, WARD_BUNDLE_MAX_FILE);
	if ((size_t)n > b->len - *payload)
		return ward_errx(err, -EBADMSG,
				 "truncated: files[%zu] needs %" PRId64 " bytes, %zu are left", i,
				 (int64_t)n, b->len - *payload);
	out->name = strdup(name);
	if (!out->name)
		return ward_err(err, -ENOMEM, "manifest");
	memcpy(out->sha256, sha, 65);
	out->data = b->buf + *payload;
	out->len = (size_t)n;
	*payload += (size_t)n;
	return 0;
}

int ward_bundle_parse(const void *buf, size_t len, struct ward_bundle **ret, struct ward_error *err)
{
	_cleanup_(ward_bundle_freep) struct ward_bundle *b = NULL;
	_cleanup_(json_decrefp) json_t *m = NULL;
	json_error_t jerr;
	json_t *files, *v;
	const char *key;
	uint32_t format, mlen;
	size_t payload;
	int r;

	if (len > WARD_BUNDLE_MAX_SIZE)
		return ward_errx(err, -EFBIG, "%zu bytes (limit %d)", len, WARD_BUNDLE_MAX_SIZE);
	if (len < WARD_BUNDLE_HEADER || memcmp(buf, WARD_BUNDLE_MAGIC, 8) != 0)
		return ward_errx(err, -EBADMSG, "not a ward bundle (no WARDBNDL header)");
	format = get_be32((const uint8_t *)buf + 8);
	if (format != WARD_BUNDLE_FORMAT)
		return ward_errx(err, -EPROTONOSUPPORT,
				 "container format %" PRIu32 " (this ward reads %d)", format,
				 WARD_BUNDLE_FORMAT);
	mlen = get_be32((const uint8_t *)buf + 12);
	if (mlen == 0 || mlen > WARD_BUNDLE_MAX_MANIFEST)
		return ward_errx(err, -EBADMSG, "manifest length %" PRIu32 " (1..%d)", mlen,
				 WARD_BUNDLE_MAX_MANIFEST);
	if (len - WARD_BUNDLE_HEADER < (size_t)mlen + WARD_BUNDLE_SIG_LEN)
		return ward_errx(err, -EBADMSG,
				 "truncated: %zu bytes, the manifest and signature "
				 "need %zu",
				 len, (size_t)WARD_BUNDLE_HEADER + mlen + WARD_BUNDLE_SIG_LEN);
	b = calloc(1, sizeof(*b));
	if (!b || !(b->buf = malloc(len ? len : 1)))
		return ward_err(err, -ENOMEM, "bundle");
	memcpy(b->buf, buf, len);
	b->len = len;
	b->signed_len = WARD_BUNDLE_HEADER + mlen;
	ward_sha256_hex(b->buf, len, b->sha256);

	m = json_loadb((const char *)b->buf + WARD_BUNDLE_HEADER, mlen, JSON_REJECT_DUPLICATES,
		       &jerr);
	if (!json_is_object(m))
		return ward_errx(err, -EBADMSG, "manifest: %s", m ? "not an object" : jerr.text);
	v = json_object_get(m, "format");
	if (!json_is_integer(v) || json_integer_value(v) != WARD_BUNDLE_FORMAT)
		return ward_errx(err, -EBADMSG, "manifest: format is not %d", WARD_BUNDLE_FORMAT);
	v = json_object_get(m, "version");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > WARD_BUNDLE_VERSION_MAX)
		return ward_errx(err, -EBADMSG, "manifest: version must be an integer 1..2^53-1");
	b->version = (uint64_t)json_integer_value(v);
	v = json_object_get(m, "created");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ward_errx(err, -EBADMSG, "manifest: created must be unix seconds");
	b->created = json_integer_value(v);
	key = json_string_value(json_object_get(m, "key"));
	if (!hex64(key))
		return ward_errx(err, -EBADMSG, "manifest: key must be a sha256 (hex)");
	memcpy(b->key_id, key, 65);
	files = json_object_get(m, "files");
	if (!json_is_array(files) || json_array_size(files) == 0)
		return ward_errx(err, -EBADMSG, "manifest: files must be a non-empty array");
	if (json_array_size(files) > WARD_BUNDLE_MAX_FILES)
		return ward_errx(err, -EFBIG, "manifest: %zu files (limit %d)",
				 json_array_size(files), WARD_BUNDLE_MAX_FILES);
	b->files = calloc(json_array_size(files), sizeof(*b->files));
	if (!b->files)
		return ward_err(err, -ENOMEM, "bundle");
	payload = b->signed_len + WARD_BUNDLE_SIG_LEN;
	for (size_t i = 0; i < json_array_size(files); i++) {
		b->n_files = i + 1;
		r = parse_file(b, json_array_get(files, i), i, &payload, err);
		if (r < 0)
			return r;
	}
	if (payload != len)
		return ward_errx(err, -EBADMSG, "%zu bytes after the last file", len - payload);
	*ret = TAKE_PTR(b);
	return 0;
}

int ward_bundle_key_id(EVP_PKEY *key, char out[65], struct ward_error *err)
{
	uint8_t raw[32];
	size_t n = sizeof(raw);

	if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1 || n != sizeof(raw))
		return ossl_err(err, -EINVAL, "the raw ed25519 public key");
	ward_sha256_hex(raw, n, out);
	return 0;
}

int ward_bundle_verify(const struct ward_bundle *b, EVP_PKEY *pub, struct ward_error *err)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char id[65], sha[65];
	int r;

	if (!ctx)
		return ward_err(err, -ENOMEM, "verify");
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1)
		return ossl_err(err, -EINVAL, "verify");
	r = EVP_DigestVerify(ctx, b->buf + b->signed_len, WARD_BUNDLE_SIG_LEN, b->buf,
			     b->signed_len);
	ERR_clear_error();
	if (r != 1) {
		if (ward_bundle_key_id(pub, id, err) < 0)
			return -EKEYREJECTED;
		return ward_errx(err, -EKEYREJECTED,
				 "bad signature: the manifest was changed or not signed by key "
				 "%.16s (the manifest names key %.16s)",
				 id, b->key_id);
	}
	for (size_t i = 0; i < b->n_files; i++) {
		ward_sha256_hex(b->files[i].data, b->files[i].len, sha);
		if (strcmp(sha, b->files[i].sha256) != 0)
			return ward_errx(err, -EBADMSG, "%s: sha256 %.16s, the manifest says %.16s",
					 b->files[i].name, sha, b->files[i].sha256);
	}
	return 0;
}

int ward_bundle_load(const char *path, EVP_PKEY *pub, struct ward_bundle **ret,
		     struct ward_error *err)
{
	_cleanup_(ward_bundle_freep) struct ward_bundle *b = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = ward_read_file(path, WARD_BUNDLE_MAX_SIZE, &buf, &len);

	if (r < 0)
		return ward_err(err, r, "read %s", path);
	r = ward_bundle_parse(buf, len, &b, err);
	if (r >= 0)
		r = ward_bundle_verify(b, pub, err);
	if (r < 0)
		return ward_err_prefix(err, "%s", path);
	*ret = TAKE_PTR(b);
	return 0;
}

int ward_bundle_write(const struct ward_bundle_input *in, size_t n, uint64_t version,
		      int64_t created, EVP_PKEY *key, uint8_t **ret_buf, size_t *ret_len,
		      struct ward_error *err)
{
	_cleanup_(json_decrefp) json_t *m = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
	_cleanup_free_ char *mtext = NULL;
	_cleanup_free_ uint8_t *out = NULL;
	json_t *files;
	char id[65], sha[65];
	size_t mlen, total, siglen = WARD_BUNDLE_SIG_LEN, off;
	int r;

	if (n == 0 || n > WARD_BUNDLE_MAX_FILES)
		return ward_errx(err, -EINVAL, "a bundle holds 1..%d files", WARD_BUNDLE_MAX_FILES);
	if (version < 1 || version > WARD_BUNDLE_VERSION_MAX)
		return ward_errx(err, -EINVAL, "version must be 1..2^53-1");
	r = ward_bundle_key_id(key, id, err);
	if (r < 0)
		return r;
	files = json_array();
	m = json_pack("{s:i, s:I, s:I, s:s, s:o}", "format", WARD_BUNDLE_FORMAT, "version",
		      (json_int_t)version, "created", (json_int_t)created, "key", id, "files",
		      files);
	if (!m)
		return ward_err(err, -ENOMEM, "manifest");
	total = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *f;

		if (in[i].len > WARD_BUNDLE_MAX_FILE)
			return ward_errx(err, -EFBIG, "%s: %zu bytes (limit %d)", in[i].name,
					 in[i].len, WARD_BUNDLE_MAX_FILE);
		ward_sha256_hex(in[i].data, in[i].len, sha);
		f = json_pack("{s:s, s:s, s:s, s:I}", "role", ward_bundle_role_name(in[i].role),
			      "name", in[i].name, "sha256", sha, "bytes", (json_int_t)in[i].len);
		if (f && in[i].role == WARD_BUNDLE_SANDBOX)
			json_object_set_new(f, "sandbox", json_string(in[i].sandbox));
		if (!f || json_array_append_new(files, f) < 0)
			return ward_err(err, -ENOMEM, "manifest");
		total += in[i].len;
	}
	mtext = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	if (!mtext)
		return ward_err(err, -ENOMEM, "manifest");
	mlen = strlen(mtext);
	if (mlen > WARD_BUNDLE_MAX_MANIFEST)
		return ward_errx(err, -EFBIG, "manifest of %zu bytes (limit %d)", mlen,
				 WARD_BUNDLE_MAX_MANIFEST);
	total += WARD_BUNDLE_HEADER + mlen + WARD_BUNDLE_SIG_LEN;
	if (total > WARD_BUNDLE_MAX_SIZE)
		return ward_errx(err, -EFBIG, "%zu bytes (limit %d)", total, WARD_BUNDLE_MAX_SIZE);
	out = malloc(total);
	ctx = EVP_MD_CTX_new();
	if (!out || !ctx)
		return ward_err(err, -ENOMEM, "bundle");
	memcpy(out, WARD_BUNDLE_MAGIC, 8);
	put_be32(out + 8, WARD_BUNDLE_FORMAT);
	put_be32(out + 12, (uint32_t)mlen);
	memcpy(out + WARD_BUNDLE_HEADER, mtext, mlen);
	off = WARD_BUNDLE_HEADER + mlen;
	/* ed25519 is one-shot: no digest (NULL md), the whole message at once */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, out + off, &siglen, out, off) != 1 || siglen != WARD_BUNDLE_SIG_LEN)
		return ossl_err(err, -EINVAL, "sign (is the key an ed25519 private key?)");
	off += WARD_BUNDLE_SIG_LEN;
	for (size_t i = 0; i < n; i++) {
		if (in[i].len)
			memcpy(out + off, in[i].data, in[i].len);
		off += in[i].len;
	}
	*ret_buf = TAKE_PTR(out);
	*ret_len = total;
	return 0;
}

int ward_bundle_key_load(const char *path, bool private_key, EVP_PKEY **ret, struct ward_error *err)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	_cleanup_free_ char *text = NULL;
	EVP_PKEY *k = NULL;
	size_t len = 0;
	int r = ward_read_file(path, 64 * 1024, &text, &len);

	if (r < 0)
		return ward_err(err, r, "read key %s", path);
	bio = BIO_new_mem_buf(text, (int)len);
	if (!bio)
		return ward_err(err, -ENOMEM, "key");
	if (private_key || strstr(text, "PRIVATE KEY-----"))
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	else
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	explicit_bzero(text, len);
	if (!k) {
		char what[PATH_MAX + 64];

		snprintf(what, sizeof(what), "%s: not a PEM %s key", path,
			 private_key ? "private" : "public");
		return ossl_err(err, -EINVAL, what);
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return ward_errx(err, -EINVAL, "%s: not an ed25519 key", path);
	}
	*ret = k;
	return 0;
}

int ward_bundle_keygen(EVP_PKEY **ret, struct ward_error *err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx =
		EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *k = NULL;

	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1)
		return ossl_err(err, -EINVAL, "ed25519 key generation");
	*ret = k;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -(w < 0 ? errno : EIO);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_pem(EVP_PKEY *key, const char *path, bool private_key, struct ward_error *err)
{
	_cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
	_cleanup_close_ int fd = -1;
	char *data;
	long len;
	int ok, r;

	if (!bio)
		return ward_err(err, -ENOMEM, "key");
	ok = private_key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_bio_PUBKEY(bio, key);
	if (ok != 1)
		return ossl_err(err, -EINVAL, "PEM");
	len = BIO_get_mem_data(bio, &data);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  private_key ? 0600 : 0644);
	if (fd < 0)
		return ward_err(err, -errno, "create %s", path);
	r = write_all(fd, data, (size_t)len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		int e = r;

		unlink(path);
		return ward_err(err, e, "write %s", path);
	}
	return 0;
}

int ward_bundle_key_write(EVP_PKEY *key, const char *priv_path, const char *pub_path,
			  struct ward_error *err)
{
	int r = write_pem(key, priv_path, true, err);

	if (r < 0)
		return r;
	r = write_pem(key, pub_path, false, err);
	if (r < 0)
		unlink(priv_path);
	return r;
}
