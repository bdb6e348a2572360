/* SPDX-License-Identifier: MIT */
/* Signed policy bundles (issue 16 item 3, docs/fleet.md "Signed policy
 * bundles"): one file that carries a host policy and sandbox policies, a
 * version that only goes up, and an ed25519 signature over a manifest that
 * names every file with its sha256 and length.
 *
 * The container, every integer big-endian:
 *   0       8  magic "WARDBNDL"
 *   8       4  container format (1)
 *   12      4  manifest length M (1 .. WARD_BUNDLE_MAX_MANIFEST)
 *   16      M  manifest: one JSON object (UTF-8)
 *   16+M   64  ed25519 signature of bytes 0 .. 16+M (header and manifest)
 *   80+M    .  the files' bytes, in manifest order, back to back; the
 *              container ends exactly after the last one
 *
 * ward_bundle_parse checks the structure only; ward_bundle_verify checks the
 * signature with a public key and every file's sha256. Nothing in a bundle
 * may be used before both passed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "common/error.h"

#define WARD_BUNDLE_MAGIC "WARDBNDL"
#define WARD_BUNDLE_FORMAT 1
#define WARD_BUNDLE_HEADER 16
#define WARD_BUNDLE_SIG_LEN 64
#define WARD_BUNDLE_MAX_MANIFEST (64 * 1024)
#define WARD_BUNDLE_MAX_FILES 64
#define WARD_BUNDLE_MAX_FILE (1024 * 1024)
#define WARD_BUNDLE_MAX_SIZE (16 * 1024 * 1024) /* the whole container */
#define WARD_BUNDLE_NAME_MAX 128   /* a file's name: [A-Za-z0-9._-], not starting with '.' */
#define WARD_BUNDLE_SANDBOX_MAX 63 /* a sandbox name, as the daemon's */
/* versions stay exact in every JSON reader (2^53) */
#define WARD_BUNDLE_VERSION_MAX 9007199254740991ULL

enum ward_bundle_role {
	WARD_BUNDLE_HOST = 0, /* the host policy (at most one) */
	WARD_BUNDLE_SANDBOX,  /* the policy of the sandbox named `sandbox` */
};

struct ward_bundle_file {
	enum ward_bundle_role role;
	char *sandbox; /* WARD_BUNDLE_SANDBOX: the sandbox's name; else NULL */
	char *name;    /* the file name it was made from (diagnostics) */
	char sha256[65];
	const uint8_t *data; /* into the bundle's buffer */
	size_t len;
};

struct ward_bundle {
	uint64_t version;
	int64_t created; /* unix seconds */
	char key_id[65]; /* what the manifest says signed it: sha256 of the raw public key */
	char sha256[65]; /* of the whole container */
	struct ward_bundle_file *files;
	size_t n_files;
	uint8_t *buf; /* the container (owned) */
	size_t len;
	size_t signed_len; /* 16 + M */
};

/* What goes into a bundle. */
struct ward_bundle_input {
	enum ward_bundle_role role;
	const char *sandbox;
	const char *name;
	const void *data;
	size_t len;
};

const char *ward_bundle_role_name(enum ward_bundle_role r);
bool ward_bundle_name_valid(const char *s, size_t max);

/* Parse a container (copied). -EBADMSG: not a bundle or malformed (err says
 * where); -EPROTONOSUPPORT: another container format; -EFBIG: over a limit. */
int ward_bundle_parse(const void *buf, size_t len, struct ward_bundle **ret,
		      struct ward_error *err);
/* The signature with pub, then every file's sha256. -EKEYREJECTED: the
 * signature does not verify (another key, or the manifest changed);
 * -EBADMSG: a file's bytes do not match its sha256. */
int ward_bundle_verify(const struct ward_bundle *b, EVP_PKEY *pub, struct ward_error *err);
/* Read path (bounded), parse and verify. */
int ward_bundle_load(const char *path, EVP_PKEY *pub, struct ward_bundle **ret,
		     struct ward_error *err);
void ward_bundle_free(struct ward_bundle *b);

/* A signed container of the inputs. */
int ward_bundle_write(const struct ward_bundle_input *in, size_t n, uint64_t version,
		      int64_t created, EVP_PKEY *key, uint8_t **ret_buf, size_t *ret_len,
		      struct ward_error *err);

/* Keys: PEM, ed25519 only (PKCS#8 private, SubjectPublicKeyInfo public).
 * A private key file loads as a public key too. */
int ward_bundle_key_load(const char *path, bool private_key, EVP_PKEY **ret,
			 struct ward_error *err);
int ward_bundle_keygen(EVP_PKEY **ret, struct ward_error *err);
/* Write the private key (0600, O_EXCL) and its public key (0644, O_EXCL). */
int ward_bundle_key_write(EVP_PKEY *key, const char *priv_path, const char *pub_path,
			  struct ward_error *err);
/* sha256 of the raw 32-byte public key, hex */
int ward_bundle_key_id(EVP_PKEY *key, char out[65], struct ward_error *err);
