// SPDX-License-Identifier: MIT
/* Fuzz the signed bundle container's parser (src/fleet/bundle.c). Besides
 * "no crash, no read past the buffer": a parsed bundle's files lie inside it,
 * back to back up to its end; verifying with a fixed key never crashes and
 * fails for anything that key did not sign; and the parsed contents,
 * written again with that key, parse and verify to the same version and
 * files (the writer and the parser agree). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fleet/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_bundle: check failed: %s (line %d)\n", #c,           \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static EVP_PKEY *fixed_key(void)
{
	static EVP_PKEY *k;
	static const uint8_t seed[32] = "ward fuzz_bundle fixed key seed";

	if (!k)
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	CHECK(k != NULL);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_bundle *b = NULL, *again = NULL;
	struct ward_bundle_input in[WARD_BUNDLE_MAX_FILES];
	struct ward_error err = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0, end;
	int r = ward_bundle_parse(data, size, &b, &err);

	if (r < 0) {
		CHECK(r == -EBADMSG || r == -EFBIG || r == -EPROTONOSUPPORT || r == -ENOMEM);
		CHECK(b == NULL && err.msg[0]);
		return 0;
	}
	CHECK(b->n_files >= 1 && b->n_files <= WARD_BUNDLE_MAX_FILES);
	CHECK(b->version >= 1 && b->version <= WARD_BUNDLE_VERSION_MAX);
	end = b->signed_len + WARD_BUNDLE_SIG_LEN;
	for (size_t i = 0; i < b->n_files; i++) {
		const struct ward_bundle_file *f = &b->files[i];

		CHECK(f->data == b->buf + end);
		end += f->len;
		CHECK((f->role == WARD_BUNDLE_SANDBOX) == (f->sandbox != NULL));
		CHECK(ward_bundle_name_valid(f->name, WARD_BUNDLE_NAME_MAX));
		in[i] = (struct ward_bundle_input){ f->role, f->sandbox, f->name, f->data, f->len };
	}
	CHECK(end == size);
	r = ward_bundle_verify(b, fixed_key(), &err);
	CHECK(r == 0 || r == -EKEYREJECTED || r == -EBADMSG);

	r = ward_bundle_write(in, b->n_files, b->version, b->created, fixed_key(), &buf, &len,
			      &err);
	if (r == 0) {
		CHECK(ward_bundle_parse(buf, len, &again, &err) == 0);
		CHECK(ward_bundle_verify(again, fixed_key(), &err) == 0);
		CHECK(again->version == b->version && again->n_files == b->n_files);
		for (size_t i = 0; i < b->n_files; i++) {
			CHECK(again->files[i].len == b->files[i].len);
			CHECK(!memcmp(again->files[i].data, b->files[i].data, b->files[i].len));
			CHECK(!strcmp(again->files[i].name, b->files[i].name));
		}
		ward_bundle_free(again);
		free(buf);
	} else {
		CHECK(r == -EFBIG); /* a manifest the writer makes longer than the limit */
	}
	ward_bundle_free(b);
	return 0;
}

#include "replay.h"
