/* SPDX-License-Identifier: MIT */
/* Shared between tls_ca.c and tls.c only. */
#pragma once

#include <openssl/ssl.h>

#include "common/error.h"

struct ward_tls_ca;

/* The one adapter from OpenSSL's error queue to a ward_error: takes the
 * oldest queued error, clears the queue, returns code. */
int ward_tls_ssl_err(struct ward_error *err, int code, const char *what);

int ward_tls_server_ctx_new(X509 *ca_cert, SSL_CTX **ret, struct ward_error *err);
SSL_CTX *ward_tls_ca_server_ctx(const struct ward_tls_ca *ca);
EVP_PKEY *ward_tls_ca_leaf_key(const struct ward_tls_ca *ca);
