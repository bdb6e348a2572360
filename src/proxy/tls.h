/* SPDX-License-Identifier: MIT */
/* TLS interception (OpenSSL 3): an ephemeral CA per ward instance, leaf
 * certificates minted per host and cached, the server side a sandboxed client
 * talks to, the verifying client side ward uses towards the upstream, and the
 * CA bundle + environment the sandbox gets. docs/tls.md has the model.
 *
 * Connections are non-blocking and owned by the caller's event loop: the
 * functions here never block, never close the fd, and report what the loop
 * must wait for (WARD_TLS_WANT_READ / WARD_TLS_WANT_WRITE). Not thread-safe:
 * one CA and its cache belong to one event loop.
 *
 * The CA private key lives only in memory; only the certificate is written. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "common/error.h"

/* Where the proxy integration places the merged bundle inside the sandbox. */
#define WARD_TLS_BUNDLE_SANDBOX_PATH "/etc/ward/ca.pem"
/* The system roots ward trusts upstream, and merges into the bundle. */
#define WARD_TLS_SYSTEM_ROOTS "/etc/ssl/certs/ca-certificates.crt"
#define WARD_TLS_LEAF_CACHE_MAX 1024u

/* Environment variables that point clients at a CA bundle (NULL-terminated):
 * SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS,
 * GIT_SSL_CAINFO, PIP_CERT, npm_config_cafile. */
extern const char *const ward_tls_ca_env_vars[];

/* Results of the I/O functions: >= 0 is success (bytes for read/write). */
enum {
	WARD_TLS_WANT_READ = -1001,  /* wait until the fd is readable, call again */
	WARD_TLS_WANT_WRITE = -1002, /* wait until the fd is writable, call again */
	WARD_TLS_CLOSED = -1003,     /* the peer closed (close_notify or EOF) */
	WARD_TLS_ERROR = -1004,	     /* fatal for this connection: ward_tls_error() says why */
};

struct ward_tls_ca;	  /* ephemeral CA, leaf cache, server SSL_CTX */
struct ward_tls_upstream; /* client SSL_CTX: system roots + --upstream-ca */
struct ward_tls;	  /* one TLS connection, either side */

/* --- the CA ------------------------------------------------------------- */

struct ward_tls_ca_opts {
	const char *instance;	/* names the CA: "ward <instance> ephemeral CA"; NULL: "ward" */
	uint32_t cache_max;	/* leaf cache entries; 0: WARD_TLS_LEAF_CACHE_MAX */
	uint32_t ca_validity;	/* seconds; 0: 24 h (backdated 1 h) */
	uint32_t leaf_validity; /* seconds; 0: 24 h (backdated 1 h), never past the CA's end */
};

/* EC P-256 key, self-signed, CA:TRUE pathlen 0, keyCertSign|cRLSign.
 * opts NULL: the defaults. */
int ward_tls_ca_new(const struct ward_tls_ca_opts *opts, struct ward_tls_ca **ret,
		    struct ward_error *err);
void ward_tls_ca_free(struct ward_tls_ca *ca);

/* The CA certificate (borrowed; lives as long as ca). */
X509 *ward_tls_ca_cert(const struct ward_tls_ca *ca);
/* The CA certificate as PEM (malloc'd, NUL-terminated). 0 or -ENOMEM. */
int ward_tls_ca_pem(const struct ward_tls_ca *ca, char **ret_pem, size_t *ret_len);

/* The leaf for host (a name or an IP literal, normalised by the caller):
 * SAN dNSName or iPAddress, EKU serverAuth, signed by the CA. From the cache
 * when present, else minted and cached (least recently used one evicted when
 * full). *ret_cert is a new reference: X509_free() it. */
int ward_tls_ca_leaf(struct ward_tls_ca *ca, const char *host, X509 **ret_cert,
		     struct ward_error *err);

struct ward_tls_cache_stats {
	uint64_t hits;
	uint64_t misses; /* leaves minted */
	uint64_t evictions;
	uint32_t size;
};
void ward_tls_ca_cache_stats(const struct ward_tls_ca *ca, struct ward_tls_cache_stats *ret);

/* Write system roots (roots NULL: WARD_TLS_SYSTEM_ROOTS; a missing system
 * file is skipped) followed by the ward CA to path (mode 0644, written to a
 * temporary file and renamed). The sandbox trusts exactly this file. */
int ward_tls_write_bundle(const struct ward_tls_ca *ca, const char *roots, const char *path,
			  struct ward_error *err);

/* "NAME=bundle_path" for each of ward_tls_ca_env_vars, NULL-terminated,
 * malloc'd (free with ward_tls_env_free). NULL + errno on failure. */
char **ward_tls_env(const char *bundle_path);
void ward_tls_env_free(char **env);

/* --- the upstream side (ward as a TLS client) --------------------------- */

/* Trusts roots (NULL: WARD_TLS_SYSTEM_ROOTS; a missing default file is not an
 * error, an explicit one is) plus extra_ca (--upstream-ca; NULL: none). TLS
 * 1.2+, ALPN http/1.1, peer verification always on. */
int ward_tls_upstream_new(const char *roots, const char *extra_ca, struct ward_tls_upstream **ret,
			  struct ward_error *err);
void ward_tls_upstream_free(struct ward_tls_upstream *u);

/* --- connections -------------------------------------------------------- */

/* ward as the server the sandboxed client sees: presents the leaf for host
 * (what ward decided on: CONNECT authority, SNI or original destination).
 * ALPN: selects http/1.1 when offered, otherwise none (never h2). */
struct ward_tls *ward_tls_server_new(struct ward_tls_ca *ca, int fd, const char *host,
				     struct ward_error *err);
/* ward as the client towards the upstream: SNI host (names only), the
 * certificate verified against the upstream roots and host (name or IP). */
struct ward_tls *ward_tls_client_new(struct ward_tls_upstream *u, int fd, const char *host,
				     struct ward_error *err);
/* Bytes already read from the fd before this connection was created (the
 * ClientHello the proxy sniffed on its transparent port): the handshake reads
 * them first. Once, before the handshake. 0, -EBUSY or -ENOMEM. */
int ward_tls_set_prefix(struct ward_tls *t, const void *data, size_t len);
/* Does not close fd. NULL is fine. */
void ward_tls_free(struct ward_tls *t);

/* 0 when the handshake is complete, else WARD_TLS_WANT_READ/WANT_WRITE/
 * CLOSED/ERROR. Verification failures are WARD_TLS_ERROR with the reason
 * ("certificate verify failed: hostname mismatch"). */
int ward_tls_handshake(struct ward_tls *t);
/* > 0 bytes read, or WANT_READ/WANT_WRITE/CLOSED/ERROR (never 0). */
ssize_t ward_tls_read(struct ward_tls *t, void *buf, size_t len);
/* > 0 bytes written (may be fewer than len), or WANT_READ/WANT_WRITE/ERROR.
 * After a WANT, retry with the same remaining bytes (a moving buffer is fine). */
ssize_t ward_tls_write(struct ward_tls *t, const void *buf, size_t len);
/* Send close_notify once, best effort: 0, or WANT_* / ERROR. */
int ward_tls_shutdown(struct ward_tls *t);
/* Decrypted bytes already buffered: epoll will not signal them, read again. */
bool ward_tls_pending(const struct ward_tls *t);

int ward_tls_fd(const struct ward_tls *t);
bool ward_tls_handshake_done(const struct ward_tls *t);
/* Negotiated ALPN protocol ("http/1.1"), or NULL. */
const char *ward_tls_alpn(const struct ward_tls *t);
/* Server side: the SNI the client sent (NULL if none). */
const char *ward_tls_sni(const struct ward_tls *t);
/* Why the last call returned WARD_TLS_ERROR; "" when there was none. */
const char *ward_tls_error(const struct ward_tls *t);
