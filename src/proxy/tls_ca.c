// SPDX-License-Identifier: MIT
/* The ephemeral CA: key and certificate generated at start and kept in memory
 * only, leaf certificates minted per host and kept in a bounded LRU cache
 * (a cache, not a decision: eviction only costs a re-mint), the merged bundle
 * and the environment the sandbox gets. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/match.h"
#include "proxy/tls.h"
#include "proxy/tls_internal.h"

DEFINE_CLEANUP(X509 *, X509_free)
DEFINE_CLEANUP(BIGNUM *, BN_free)
DEFINE_CLEANUP(X509_EXTENSION *, X509_EXTENSION_free)
DEFINE_CLEANUP(GENERAL_NAMES *, GENERAL_NAMES_free)
DEFINE_CLEANUP(BIO *, BIO_free)

const char *const ward_tls_ca_env_vars[] = {
	"SSL_CERT_FILE",  "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",    "NODE_EXTRA_CA_CERTS",
	"GIT_SSL_CAINFO", "PIP_CERT",		"npm_config_cafile", NULL,
};

#define HOUR 3600
#define DAY (24 * HOUR)
#define ROOTS_MAX (32u << 20)

struct leaf {
	char host[WARD_HOST_MAX];
	X509 *cert;
	struct leaf *hnext;	  /* hash chain */
	struct leaf *prev, *next; /* LRU list, most recent first */
};

struct ward_tls_ca {
	EVP_PKEY *key;
	X509 *cert;
	EVP_PKEY *leaf_key; /* one key for every leaf: minting stays a signature, not a keygen */
	time_t not_after;
	uint32_t leaf_validity;
	SSL_CTX *server_ctx;

	struct leaf **buckets;
	size_t n_buckets;
	struct leaf *lru_head, *lru_tail;
	uint32_t cache_max;
	struct ward_tls_cache_stats stats;
};

int ward_tls_ssl_err(struct ward_error *err, int code, const char *what)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return ward_errx(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static EVP_PKEY *p256_key(void)
{
	return EVP_EC_gen("P-256");
}

/* A random positive 127-bit serial: unique enough that clients never see two
 * different certificates under the same issuer and serial. */
static int set_serial(X509 *x)
{
	_cleanup_(BN_freep) BIGNUM *bn = BN_new();

	if (!bn || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
		return -ENOMEM;
	if (!BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		return -ENOMEM;
	return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	_cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext =
		X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	if (!ext || !X509_add_ext(x, ext, -1))
		return -EINVAL;
	return 0;
}

static int set_validity(X509 *x, time_t now, time_t not_after)
{
	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, -HOUR, &now))
		return -EINVAL;
	if (!ASN1_TIME_set(X509_getm_notAfter(x), not_after))
		return -EINVAL;
	return 0;
}

static int make_ca(struct ward_tls_ca *ca, const char *instance, uint32_t validity)
{
	_cleanup_(X509_freep) X509 *x = X509_new();
	time_t now = time(NULL);
	X509V3_CTX ctx;
	char cn[128];
	X509_NAME *name;

	if (!x)
		return -ENOMEM;
	snprintf(cn, sizeof(cn), "ward %s ephemeral CA", instance);
	ca->not_after = now + validity;
	if (!X509_set_version(x, 2) || set_serial(x) < 0 || set_validity(x, now, ca->not_after) < 0)
		return -EINVAL;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"ward", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, ca->key))
		return -EINVAL;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0)
		return -EINVAL;
	if (!X509_sign(x, ca->key, EVP_sha256()))
		return -EINVAL;
	ca->cert = TAKE_PTR(x);
	return 0;
}

static int add_san(X509 *x, const char *host, bool is_ip)
{
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();

	if (!gens || !gen) {
		GENERAL_NAME_free(gen);
		return -ENOMEM;
	}
	if (is_ip) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);

		if (!ip) {
			GENERAL_NAME_free(gen);
			return -EINVAL;
		}
		GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *dns = ASN1_IA5STRING_new();

		if (!dns || !ASN1_STRING_set(dns, host, (int)strlen(host))) {
			ASN1_IA5STRING_free(dns);
			GENERAL_NAME_free(gen);
			return -ENOMEM;
		}
		GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
	}
	if (!sk_GENERAL_NAME_push(gens, gen)) {
		GENERAL_NAME_free(gen);
		return -ENOMEM;
	}
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0))
		return -EINVAL;
	return 0;
}

static int mint_leaf(struct ward_tls_ca *ca, const char *host, X509 **ret)
{
	_cleanup_(X509_freep) X509 *x = X509_new();
	bool is_ip = ward_host_is_ip(host);
	time_t now = time(NULL), end = now + ca->leaf_validity;
	X509V3_CTX ctx;
	X509_NAME *name;

	if (!x)
		return -ENOMEM;
	if (end > ca->not_after)
		end = ca->not_after;
	if (!X509_set_version(x, 2) || set_serial(x) < 0 || set_validity(x, now, end) < 0)
		return -EINVAL;
	name = X509_get_subject_name(x);
	/* CN is limited to 64 bytes; the SAN is what clients check anyway. */
	if (strlen(host) <= 64 &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)host, -1,
					-1, 0))
		return -EINVAL;
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !X509_set_pubkey(x, ca->leaf_key))
		return -EINVAL;
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_san(x, host, is_ip) < 0)
		return -EINVAL;
	if (!X509_sign(x, ca->key, EVP_sha256()))
		return -EINVAL;
	*ret = TAKE_PTR(x);
	return 0;
}

static uint64_t hash_host(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static void lru_unlink(struct ward_tls_ca *ca, struct leaf *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		ca->lru_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		ca->lru_tail = l->prev;
	l->prev = l->next = NULL;
}

static void lru_push(struct ward_tls_ca *ca, struct leaf *l)
{
	l->prev = NULL;
	l->next = ca->lru_head;
	if (ca->lru_head)
		ca->lru_head->prev = l;
	ca->lru_head = l;
	if (!ca->lru_tail)
		ca->lru_tail = l;
}

static void evict_one(struct ward_tls_ca *ca)
{
	struct leaf *l = ca->lru_tail, **pp;

	if (!l)
		return;
	for (pp = &ca->buckets[hash_host(l->host) % ca->n_buckets]; *pp; pp = &(*pp)->hnext) {
		if (*pp == l) {
			*pp = l->hnext;
			break;
		}
	}
	lru_unlink(ca, l);
	X509_free(l->cert);
	free(l);
	ca->stats.size--;
	ca->stats.evictions++;
}

int ward_tls_ca_leaf(struct ward_tls_ca *ca, const char *host, X509 **ret_cert,
		     struct ward_error *err)
{
	char norm[WARD_HOST_MAX];
	struct leaf *l, **bucket;
	X509 *cert = NULL;
	int r;

	/* Only a canonical host reaches a certificate: nothing the client sent
	 * can put other bytes into a SAN. */
	r = ward_host_normalize(host, strlen(host), norm, sizeof(norm));
	if (r < 0)
		return ward_errx(err, -EINVAL, "cannot mint a certificate for host '%.64s'", host);
	bucket = &ca->buckets[hash_host(norm) % ca->n_buckets];
	for (l = *bucket; l; l = l->hnext) {
		if (strcmp(l->host, norm) == 0) {
			ca->stats.hits++;
			lru_unlink(ca, l);
			lru_push(ca, l);
			X509_up_ref(l->cert);
			*ret_cert = l->cert;
			return 0;
		}
	}
	r = mint_leaf(ca, norm, &cert);
	if (r < 0)
		return ward_tls_ssl_err(err, r, "mint leaf certificate");
	ca->stats.misses++;
	l = calloc(1, sizeof(*l));
	if (!l) {
		X509_free(cert);
		return ward_err(err, -ENOMEM, "leaf cache");
	}
	while (ca->stats.size >= ca->cache_max)
		evict_one(ca);
	memcpy(l->host, norm, sizeof(norm));
	l->cert = cert;
	l->hnext = *bucket;
	*bucket = l;
	lru_push(ca, l);
	ca->stats.size++;
	X509_up_ref(cert);
	*ret_cert = cert;
	return 0;
}

void ward_tls_ca_cache_stats(const struct ward_tls_ca *ca, struct ward_tls_cache_stats *ret)
{
	*ret = ca->stats;
}

int ward_tls_ca_new(const struct ward_tls_ca_opts *opts, struct ward_tls_ca **ret,
		    struct ward_error *err)
{
	static const struct ward_tls_ca_opts defaults = { 0 };
	const char *instance;
	struct ward_tls_ca *ca;
	int r;

	if (!opts)
		opts = &defaults;
	instance = opts->instance ? opts->instance : "";
	if (strlen(instance) > 64)
		return ward_errx(err, -EINVAL, "CA instance name too long");
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return ward_err(err, -ENOMEM, "allocate CA");
	ca->cache_max = opts->cache_max ? opts->cache_max : WARD_TLS_LEAF_CACHE_MAX;
	ca->leaf_validity = opts->leaf_validity ? opts->leaf_validity : DAY;
	ca->n_buckets = (size_t)ca->cache_max * 2 + 1;
	ca->buckets = calloc(ca->n_buckets, sizeof(*ca->buckets));
	if (!ca->buckets) {
		r = ward_err(err, -ENOMEM, "allocate leaf cache");
		goto fail;
	}
	ca->key = p256_key();
	ca->leaf_key = p256_key();
	if (!ca->key || !ca->leaf_key) {
		r = ward_tls_ssl_err(err, -EIO, "generate EC P-256 key");
		goto fail;
	}
	r = make_ca(ca, instance[0] ? instance : "instance",
		    opts->ca_validity ? opts->ca_validity : DAY);
	if (r < 0) {
		r = ward_tls_ssl_err(err, r, "create the CA certificate");
		goto fail;
	}
	r = ward_tls_server_ctx_new(ca->cert, &ca->server_ctx, err);
	if (r < 0)
		goto fail;
	*ret = ca;
	return 0;
fail:
	ward_tls_ca_free(ca);
	return r;
}

void ward_tls_ca_free(struct ward_tls_ca *ca)
{
	if (!ca)
		return;
	while (ca->lru_tail)
		evict_one(ca);
	free(ca->buckets);
	SSL_CTX_free(ca->server_ctx);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	EVP_PKEY_free(ca->leaf_key);
	free(ca);
}

X509 *ward_tls_ca_cert(const struct ward_tls_ca *ca)
{
	return ca->cert;
}

SSL_CTX *ward_tls_ca_server_ctx(const struct ward_tls_ca *ca)
{
	return ca->server_ctx;
}

EVP_PKEY *ward_tls_ca_leaf_key(const struct ward_tls_ca *ca)
{
	return ca->leaf_key;
}

int ward_tls_ca_pem(const struct ward_tls_ca *ca, char **ret_pem, size_t *ret_len)
{
	_cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (!b || !PEM_write_bio_X509(b, ca->cert))
		return -ENOMEM;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0)
		return -ENOMEM;
	out = malloc((size_t)n + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*ret_pem = out;
	if (ret_len)
		*ret_len = (size_t)n;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ward_tls_write_bundle(const struct ward_tls_ca *ca, const char *roots, const char *path,
			  struct ward_error *err)
{
	_cleanup_free_ char *sys = NULL, *pem = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t sys_len = 0, pem_len = 0;
	int r;

	r = ward_read_file(roots ? roots : WARD_TLS_SYSTEM_ROOTS, ROOTS_MAX, &sys, &sys_len);
	if (r < 0 && (roots || r != -ENOENT))
		return ward_err(err, r, "read CA roots '%s'",
				roots ? roots : WARD_TLS_SYSTEM_ROOTS);
	r = ward_tls_ca_pem(ca, &pem, &pem_len);
	if (r < 0)
		return ward_err(err, r, "encode the ward CA");
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		return ward_err(err, -ENOMEM, "bundle path");
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ward_err(err, -errno, "create '%s'", tmp);
	if (fchmod(fd, 0644) < 0) {
		r = -errno;
		goto fail;
	}
	if (sys_len > 0) {
		r = write_all(fd, sys, sys_len);
		if (r == 0 && sys[sys_len - 1] != '\n')
			r = write_all(fd, "\n", 1);
		if (r < 0)
			goto fail;
	}
	r = write_all(fd, pem, pem_len);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return ward_err(err, r, "write CA bundle '%s'", path);
}

char **ward_tls_env(const char *bundle_path)
{
	size_t n = 0, i;
	char **env;

	while (ward_tls_ca_env_vars[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		if (asprintf(&env[i], "%s=%s", ward_tls_ca_env_vars[i], bundle_path) < 0) {
			env[i] = NULL;
			ward_tls_env_free(env);
			errno = ENOMEM;
			return NULL;
		}
	}
	return env;
}

void ward_tls_env_free(char **env)
{
	if (!env)
		return;
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}
