// SPDX-License-Identifier: MIT
/* TLS connections on fds the proxy's event loop owns: non-blocking handshake,
 * read and write, with OpenSSL's results converted once, here, into
 * WARD_TLS_WANT_READ/WANT_WRITE/CLOSED/ERROR and an error string. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "policy/match.h"
#include "proxy/tls.h"
#include "proxy/tls_internal.h"

DEFINE_CLEANUP(SSL_CTX *, SSL_CTX_free)
DEFINE_CLEANUP(X509 *, X509_free)

/* ALPN wire format: only HTTP/1.1, so clients never switch to h2 behind ward's back. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

struct ward_tls_upstream {
	SSL_CTX *ctx;
};

struct ward_tls {
	SSL *ssl;
	int fd;
	/* bytes already read off the fd (a sniffed ClientHello), handed to OpenSSL first */
	char *prefix;
	size_t prefix_len, prefix_off;
	bool server;
	bool done;
	bool shut;
	char sni[WARD_HOST_MAX];
	char alpn[32];
	char error[256];
};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel = NULL;

	if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof(alpn_http11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* h2-only client: no ALPN, it falls back or gives up */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static void ctx_common(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	/* A peer that drops TCP without close_notify is a close, not an error:
	 * HTTP framing (the parser) decides whether a message was complete. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
}

int ward_tls_server_ctx_new(X509 *ca_cert, SSL_CTX **ret, struct ward_error *err)
{
	static const unsigned char sid_ctx[] = "ward";
	_cleanup_(SSL_CTX_freep) SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return ward_tls_ssl_err(err, -ENOMEM, "server SSL_CTX");
	ctx_common(ctx);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	/* The chain the client gets: leaf + ward CA (the CA is in its bundle anyway). */
	if (!SSL_CTX_add1_chain_cert(ctx, ca_cert))
		return ward_tls_ssl_err(err, -EINVAL, "server chain");
	*ret = TAKE_PTR(ctx);
	return 0;
}

int ward_tls_upstream_new(const char *roots, const char *extra_ca, struct ward_tls_upstream **ret,
			  struct ward_error *err)
{
	_cleanup_(SSL_CTX_freep) SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *file = roots ? roots : WARD_TLS_SYSTEM_ROOTS;
	struct ward_tls_upstream *u;

	if (!ctx)
		return ward_tls_ssl_err(err, -ENOMEM, "upstream SSL_CTX");
	ctx_common(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (access(file, R_OK) == 0 || roots) {
		if (!SSL_CTX_load_verify_locations(ctx, file, NULL))
			return ward_tls_ssl_err(err, -EINVAL,
						roots ? "load CA roots" : "load system CA roots");
	}
	if (extra_ca && !SSL_CTX_load_verify_locations(ctx, extra_ca, NULL)) {
		ward_tls_ssl_err(err, -EINVAL, "load --upstream-ca");
		return ward_err_prefix(err, "'%s'", extra_ca);
	}
	if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11) - 1) != 0)
		return ward_tls_ssl_err(err, -ENOMEM, "upstream ALPN");
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	u = calloc(1, sizeof(*u));
	if (!u)
		return ward_err(err, -ENOMEM, "upstream TLS");
	u->ctx = TAKE_PTR(ctx);
	*ret = u;
	return 0;
}

void ward_tls_upstream_free(struct ward_tls_upstream *u)
{
	if (!u)
		return;
	SSL_CTX_free(u->ctx);
	free(u);
}

/* A socket BIO of ward's own: send() with MSG_NOSIGNAL (a peer gone away is
 * EPIPE for this connection, never SIGPIPE for ward), and a prefix of bytes
 * the proxy read before it knew the connection would be terminated here. */
static BIO_METHOD *fd_method;
static pthread_once_t fd_method_once = PTHREAD_ONCE_INIT;

static int fd_bio_read(BIO *b, char *buf, int len)
{
	struct ward_tls *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->prefix_off < t->prefix_len) {
		size_t k = t->prefix_len - t->prefix_off;

		if (k > (size_t)len)
			k = (size_t)len;
		memcpy(buf, t->prefix + t->prefix_off, k);
		t->prefix_off += k;
		if (t->prefix_off == t->prefix_len) {
			free(t->prefix);
			t->prefix = NULL;
			t->prefix_len = t->prefix_off = 0;
		}
		return (int)k;
	}
	n = recv(t->fd, buf, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static int fd_bio_write(BIO *b, const char *buf, int len)
{
	struct ward_tls *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static long fd_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int fd_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void fd_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ward fd");

	if (m && BIO_meth_set_read(m, fd_bio_read) && BIO_meth_set_write(m, fd_bio_write) &&
	    BIO_meth_set_ctrl(m, fd_bio_ctrl) && BIO_meth_set_create(m, fd_bio_create))
		fd_method = m;
	else
		BIO_meth_free(m);
}

static struct ward_tls *tls_new(SSL_CTX *ctx, int fd, bool server, struct ward_error *err)
{
	BIO *bio;

	struct ward_tls *t = calloc(1, sizeof(*t));

	if (!t) {
		ward_err(err, -ENOMEM, "TLS connection");
		return NULL;
	}
	t->fd = fd;
	t->server = server;
	t->ssl = SSL_new(ctx);
	pthread_once(&fd_method_once, fd_method_init);
	bio = t->ssl && fd_method ? BIO_new(fd_method) : NULL;
	if (!bio) {
		ward_tls_ssl_err(err, -ENOMEM, "SSL_new");
		ward_tls_free(t);
		return NULL;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	return t;
}

struct ward_tls *ward_tls_server_new(struct ward_tls_ca *ca, int fd, const char *host,
				     struct ward_error *err)
{
	_cleanup_(X509_freep) X509 *leaf = NULL;
	struct ward_tls *t;

	if (ward_tls_ca_leaf(ca, host, &leaf, err) < 0)
		return NULL;
	t = tls_new(ward_tls_ca_server_ctx(ca), fd, true, err);
	if (!t)
		return NULL;
	ERR_clear_error();
	if (!SSL_use_certificate(t->ssl, leaf) ||
	    !SSL_use_PrivateKey(t->ssl, ward_tls_ca_leaf_key(ca))) {
		ward_tls_ssl_err(err, -EINVAL, "install leaf certificate");
		ward_tls_free(t);
		return NULL;
	}
	SSL_set_accept_state(t->ssl);
	return t;
}

struct ward_tls *ward_tls_client_new(struct ward_tls_upstream *u, int fd, const char *host,
				     struct ward_error *err)
{
	struct ward_tls *t = tls_new(u->ctx, fd, false, err);
	bool ok;

	if (!t)
		return NULL;
	ERR_clear_error();
	if (ward_host_is_ip(host)) {
		/* No SNI for addresses (RFC 6066 3); the certificate must name the IP. */
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1;
	} else {
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(t->ssl, host) == 1 &&
		     SSL_set_tlsext_host_name(t->ssl, host) == 1;
	}
	if (!ok) {
		ward_tls_ssl_err(err, -EINVAL, "upstream host name");
		ward_err_prefix(err, "'%.64s'", host);
		ward_tls_free(t);
		return NULL;
	}
	SSL_set_connect_state(t->ssl);
	return t;
}

void ward_tls_free(struct ward_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t->prefix);
	free(t);
}

int ward_tls_set_prefix(struct ward_tls *t, const void *data, size_t len)
{
	if (t->done || t->prefix)
		return -EBUSY;
	if (!len)
		return 0;
	t->prefix = malloc(len);
	if (!t->prefix)
		return -ENOMEM;
	memcpy(t->prefix, data, len);
	t->prefix_len = len;
	t->prefix_off = 0;
	return 0;
}

/* The adapter: one OpenSSL result into a ward result, the reason kept in
 * t->error, the thread's error queue left empty for the next connection. */
static int convert(struct ward_tls *t, int ret, const char *what)
{
	int e = SSL_get_error(t->ssl, ret);
	unsigned long q;
	long vr;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return WARD_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return WARD_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return WARD_TLS_CLOSED;
	case SSL_ERROR_SYSCALL:
		q = ERR_peek_error();
		if (!q && errno == 0) {
			ERR_clear_error();
			return WARD_TLS_CLOSED;
		}
		if (!q) {
			snprintf(t->error, sizeof(t->error), "%s: %s", what, strerror(errno));
			return WARD_TLS_ERROR;
		}
		break;
	case SSL_ERROR_SSL:
		break;
	default:
		snprintf(t->error, sizeof(t->error), "%s: unexpected SSL error %d", what, e);
		ERR_clear_error();
		return WARD_TLS_ERROR;
	}
	vr = SSL_get_verify_result(t->ssl);
	if (vr != X509_V_OK) {
		snprintf(t->error, sizeof(t->error), "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(vr));
	} else {
		char buf[200] = "unknown error";

		q = ERR_peek_error();
		if (q)
			ERR_error_string_n(q, buf, sizeof(buf));
		snprintf(t->error, sizeof(t->error), "%s: %s", what, buf);
	}
	ERR_clear_error();
	return WARD_TLS_ERROR;
}

int ward_tls_handshake(struct ward_tls *t)
{
	int r;

	if (t->done)
		return 0;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(t->ssl);
	if (r != 1)
		return convert(t, r,
			       t->server ? "TLS handshake with the client"
					 : "TLS handshake with the upstream");
	t->done = true;
	{
		const unsigned char *p = NULL;
		unsigned int n = 0;

		SSL_get0_alpn_selected(t->ssl, &p, &n);
		if (p && n > 0 && n < sizeof(t->alpn)) {
			memcpy(t->alpn, p, n);
			t->alpn[n] = '\0';
		}
	}
	if (t->server) {
		const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);

		if (sni)
			snprintf(t->sni, sizeof(t->sni), "%s", sni);
	}
	return 0;
}

ssize_t ward_tls_read(struct ward_tls *t, void *buf, size_t len)
{
	size_t n = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	r = SSL_read_ex(t->ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	return convert(t, r, "TLS read");
}

ssize_t ward_tls_write(struct ward_tls *t, const void *buf, size_t len)
{
	size_t n = 0;
	int r;

	if (len == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	r = SSL_write_ex(t->ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	r = convert(t, r, "TLS write");
	/* A write cannot meet a clean close: the peer is gone, that's an error. */
	if (r == WARD_TLS_CLOSED) {
		snprintf(t->error, sizeof(t->error), "TLS write: connection closed by peer");
		return WARD_TLS_ERROR;
	}
	return r;
}

int ward_tls_shutdown(struct ward_tls *t)
{
	int r;

	if (t->shut || !t->done)
		return 0;
	ERR_clear_error();
	errno = 0;
	r = SSL_shutdown(t->ssl);
	if (r >= 0) {
		/* 0: our close_notify is out; we never wait for the peer's. */
		t->shut = true;
		return 0;
	}
	r = convert(t, r, "TLS shutdown");
	return r == WARD_TLS_CLOSED ? 0 : r;
}

bool ward_tls_pending(const struct ward_tls *t)
{
	return SSL_pending(t->ssl) > 0 || t->prefix_off < t->prefix_len;
}

int ward_tls_fd(const struct ward_tls *t)
{
	return t->fd;
}

bool ward_tls_handshake_done(const struct ward_tls *t)
{
	return t->done;
}

const char *ward_tls_alpn(const struct ward_tls *t)
{
	return t->alpn[0] ? t->alpn : NULL;
}

const char *ward_tls_sni(const struct ward_tls *t)
{
	return t->sni[0] ? t->sni : NULL;
}

const char *ward_tls_error(const struct ward_tls *t)
{
	return t->error;
}
