// SPDX-License-Identifier: MIT
/* The DNS stub: the strict query parser, the bounded answer builder, which
 * binary may resolve which name, and the stub itself on loopback switching
 * policy generations. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "audit/audit.h"
#include "policy/client.h"
#include "policy/generation.h"
#include "proxy/dns.h"
#include "tmpdir.h"

/* A query for name (dotted) of type qtype, header flags 0x0100 (RD). */
static size_t mkquery(uint8_t *buf, const char *name, uint16_t qtype)
{
	size_t off = 12;
	const char *p = name;

	memset(buf, 0, 12);
	buf[0] = 0xab;
	buf[1] = 0xcd;
	buf[2] = 0x01;
	buf[5] = 1;
	while (*p) {
		size_t l = strcspn(p, ".");

		buf[off++] = (uint8_t)l;
		memcpy(buf + off, p, l);
		off += l;
		p += l;
		if (*p == '.')
			p++;
	}
	buf[off++] = 0;
	buf[off++] = (uint8_t)(qtype >> 8);
	buf[off++] = (uint8_t)qtype;
	buf[off++] = 0;
	buf[off++] = 1;
	return off;
}

static void parses_a_plain_query(void **state)
{
	uint8_t b[512];
	struct ward_dns_query q;
	size_t n = mkquery(b, "Api.GitHub.com", WARD_DNS_TYPE_A);

	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOERROR);
	assert_int_equal(q.id, 0xabcd);
	assert_string_equal(q.name, "api.github.com");
	assert_int_equal(q.qtype, WARD_DNS_TYPE_A);
	assert_int_equal(q.qclass, WARD_DNS_CLASS_IN);
	assert_int_equal(q.qwire_len, n - 12);
}

static void rejects_malformed_queries(void **state)
{
	uint8_t b[1024];
	struct ward_dns_query q;
	size_t n = mkquery(b, "a.example", WARD_DNS_TYPE_A);

	/* too short for a header: dropped, no answer */
	assert_int_equal(ward_dns_parse_query(b, 11, &q), -EINVAL);
	/* a response (QR): dropped, never answered (no loops) */
	b[2] |= 0x80;
	assert_int_equal(ward_dns_parse_query(b, n, &q), -EINVAL);
	b[2] &= 0x7f;
	/* every truncation is FORMERR, never a read past the end */
	for (size_t i = 12; i < n; i++)
		assert_int_equal(ward_dns_parse_query(b, i, &q), WARD_DNS_FORMERR);
	/* trailing garbage */
	assert_int_equal(ward_dns_parse_query(b, n + 1, &q), WARD_DNS_FORMERR);
	/* two questions */
	b[5] = 2;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	b[5] = 0;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	b[5] = 1;
	/* answers in a query */
	b[7] = 1;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	b[7] = 0;
	/* another opcode (IQUERY, STATUS, UPDATE...): NOTIMP, id kept */
	b[2] |= 0x28; /* opcode 5 */
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOTIMP);
	assert_int_equal(q.id, 0xabcd);
	b[2] &= ~0x78;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOERROR);
}

static void rejects_compression_and_bad_labels(void **state)
{
	uint8_t b[1024];
	struct ward_dns_query q;
	size_t n;

	/* a pointer to itself: a loop for a naive parser */
	n = mkquery(b, "a", WARD_DNS_TYPE_A);
	b[12] = 0xc0;
	b[13] = 12;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	/* reserved label types */
	b[12] = 0x40;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	b[12] = 0x80;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	/* a dot or NUL inside a label */
	n = mkquery(b, "ab", WARD_DNS_TYPE_A);
	b[14] = '.';
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
	b[14] = 0;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
}

static void bounds_label_and_name_length(void **state)
{
	char name[600], label[70];
	uint8_t b[1024];
	struct ward_dns_query q;
	size_t n;

	memset(label, 'x', 63);
	label[63] = '\0';
	n = mkquery(b, label, WARD_DNS_TYPE_A);
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOERROR);
	label[63] = 'x';
	label[64] = '\0';
	n = mkquery(b, label, WARD_DNS_TYPE_A);
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);

	/* 4 x (1 + 62) + 1 = 253: fits; one more label: too long */
	memset(label, 'y', 62);
	label[62] = '\0';
	snprintf(name, sizeof(name), "%s.%s.%s.%s", label, label, label, label);
	n = mkquery(b, name, WARD_DNS_TYPE_A);
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOERROR);
	assert_int_equal(strlen(q.name), 251);
	snprintf(name, sizeof(name), "%s.%s.%s.%s.z", label, label, label, label);
	n = mkquery(b, name, WARD_DNS_TYPE_A);
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOERROR); /* 255 exactly */
	snprintf(name, sizeof(name), "%s.%s.%s.%s.zz", label, label, label, label);
	n = mkquery(b, name, WARD_DNS_TYPE_A);
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_FORMERR);
}

static void tolerates_one_edns_opt(void **state)
{
	static const uint8_t opt[] = { 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t b[512];
	struct ward_dns_query q;
	size_t n = mkquery(b, "a.example", WARD_DNS_TYPE_AAAA);

	b[11] = 1;
	memcpy(b + n, opt, sizeof(opt));
	assert_int_equal(ward_dns_parse_query(b, n + sizeof(opt), &q), WARD_DNS_NOERROR);
	/* an OPT whose length runs past the end */
	b[n + 10] = 5;
	assert_int_equal(ward_dns_parse_query(b, n + sizeof(opt), &q), WARD_DNS_FORMERR);
	/* any other additional record */
	b[n + 2] = 1;
	b[n + 10] = 0;
	assert_int_equal(ward_dns_parse_query(b, n + sizeof(opt), &q), WARD_DNS_FORMERR);
}

static void builds_bounded_answers(void **state)
{
	uint8_t b[512], out[512], addrs[20 * 16];
	struct ward_dns_query q;
	size_t n = mkquery(b, "a.example", WARD_DNS_TYPE_A);
	int len;

	for (size_t i = 0; i < sizeof(addrs); i++)
		addrs[i] = (uint8_t)i;
	assert_int_equal(ward_dns_parse_query(b, n, &q), WARD_DNS_NOERROR);
	len = ward_dns_build_response(&q, WARD_DNS_NOERROR, addrs, 2, out, sizeof(out));
	assert_int_equal(len, (int)(n + 2 * 16));
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[2] & 0x80, 0x80); /* QR */
	assert_int_equal(out[2] & 0x01, 0x01); /* RD echoed */
	assert_int_equal(out[3] & 0x0f, 0);
	assert_int_equal(out[7], 2);
	assert_memory_equal(out + 12, b + 12, n - 12);
	assert_int_equal(out[n], 0xc0); /* name: pointer to the question */
	assert_int_equal(out[n + 1], 12);
	assert_int_equal(out[n + 9], WARD_DNS_TTL);
	assert_memory_equal(out + n + 12, addrs, 4);
	assert_memory_equal(out + n + 16 + 12, addrs + 4, 4);

	/* never more than WARD_DNS_MAX_ANSWERS */
	len = ward_dns_build_response(&q, WARD_DNS_NOERROR, addrs, 20, out, sizeof(out));
	assert_int_equal(out[7], WARD_DNS_MAX_ANSWERS);
	assert_int_equal(len, (int)(n + WARD_DNS_MAX_ANSWERS * 16));
	/* NXDOMAIN: no answers even when handed some */
	len = ward_dns_build_response(&q, WARD_DNS_NXDOMAIN, addrs, 2, out, sizeof(out));
	assert_int_equal(len, (int)n);
	assert_int_equal(out[3] & 0x0f, WARD_DNS_NXDOMAIN);
	assert_int_equal(out[7], 0);
	/* not enough room: TC, no answers */
	len = ward_dns_build_response(&q, WARD_DNS_NOERROR, addrs, 2, out, n + 20);
	assert_int_equal(len, (int)n);
	assert_int_equal(out[2] & 0x02, 0x02);
	assert_int_equal(ward_dns_build_response(&q, WARD_DNS_NOERROR, NULL, 0, out, n - 1),
			 -ENOBUFS);
	/* AAAA: 16-byte addresses */
	n = mkquery(b, "a.example", WARD_DNS_TYPE_AAAA);
	ward_dns_parse_query(b, n, &q);
	len = ward_dns_build_response(&q, WARD_DNS_NOERROR, addrs, 1, out, sizeof(out));
	assert_int_equal(len, (int)(n + 12 + 16));
	assert_memory_equal(out + n + 12, addrs, 16);
	/* a query that did not parse: header only, no question echoed */
	ward_dns_parse_query(b, 13, &q);
	len = ward_dns_build_response(&q, WARD_DNS_FORMERR, NULL, 0, out, sizeof(out));
	assert_int_equal(len, 12);
	assert_int_equal(out[5], 0);
}

static const char policy_yaml[] =
	"version: 1\n"
	"network_policies:\n"
	"  github:\n"
	"    binaries: [{ path: /usr/bin/git }]\n"
	"    endpoints:\n"
	"      - { host: api.github.com, port: 443 }\n"
	"      - { host: \"*.githubusercontent.com\", port: 443 }\n"
	"  npm:\n"
	"    binaries: [{ path: /usr/bin/node }]\n"
	"    endpoints:\n"
	"      - { host: \"**.npmjs.org\", port: 443 }\n"
	"      - { host: 10.0.0.1, port: 443 }\n"
	"inference:\n"
	"  routes:\n"
	"    - { name: default, provider: anthropic, model: m, api_key_env: K }\n";

static void dns(const struct ward_policy *p, const char *keys, const char *binary, const char *name,
		struct ward_dns_verdict *v)
{
	struct ward_client who = { .binary = binary, .keys = keys };

	ward_decide_dns(p, &who, name, v);
}

static void decides_per_binary(void **state)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_dns_verdict v;

	assert_int_equal(ward_policy_load_buffer("t.yaml", policy_yaml, strlen(policy_yaml), &p, &d,
						 &err),
			 0);
	ward_diags_free(&d);

	dns(p, "github", "/usr/bin/git", "api.github.com", &v);
	assert_true(v.allow);
	assert_string_equal(v.rule, "github");
	assert_string_equal(v.reason, "host allowed");
	dns(p, "github", "/usr/bin/git", "raw.githubusercontent.com", &v);
	assert_true(v.allow);
	/* '*' is one label */
	dns(p, "github", "/usr/bin/git", "a.raw.githubusercontent.com", &v);
	assert_false(v.allow);
	/* another binary's names */
	dns(p, "github", "/usr/bin/git", "registry.npmjs.org", &v);
	assert_false(v.allow);
	assert_string_equal(v.reason, "no policy entry of this binary allows the name");
	dns(p, "npm", "/usr/bin/node", "registry.npmjs.org", &v);
	assert_true(v.allow);
	assert_string_equal(v.rule, "npm");
	dns(p, "npm", "/usr/bin/node", "a.b.c.registry.npmjs.org", &v);
	assert_true(v.allow);
	dns(p, "npm", "/usr/bin/node", "npmjs.org.evil.com", &v);
	assert_false(v.allow);
	/* both keys */
	dns(p, "github,npm", "/usr/bin/node", "registry.npmjs.org", &v);
	assert_true(v.allow);
	/* a key that is only a prefix of another's does not count */
	dns(p, "git,np", "/usr/bin/node", "api.github.com", &v);
	assert_false(v.allow);
	/* the kernel's keys decide, not the path: the path matches github's glob */
	dns(p, NULL, "/usr/bin/git", "api.github.com", &v);
	assert_false(v.allow);
	assert_string_equal(v.reason, "binary has no network policy");
	/* random subdomains of an unlisted domain */
	dns(p, "github,npm", "/usr/bin/node", "aGVsbG8gd29ybGQ.x9f3.exfil.example", &v);
	assert_false(v.allow);
	/* IP literals are not names */
	dns(p, "npm", "/usr/bin/node", "10.0.0.1", &v);
	assert_false(v.allow);
	assert_string_equal(v.reason, "not a host name");
	dns(p, "npm", "/usr/bin/node", "", &v);
	assert_false(v.allow);
	/* inference.local: routes and no inference.binaries: every binary, with
	 * or without network policy */
	dns(p, NULL, "/usr/bin/python3", "inference.local", &v);
	assert_true(v.allow);
	assert_true(v.inference);
	assert_string_equal(v.rule, "inference");
	dns(p, "github", "/usr/bin/git", "inference.local", &v);
	assert_true(v.allow);
	ward_policy_free(p);
}

/* inference.local under inference.binaries and without routes: the same
 * decision as the inference handler's (ward_decide_inference) */
static void inference_local_per_binary(void **state)
{
	static const char listed[] =
		"version: 1\n"
		"network_policies:\n"
		"  github:\n"
		"    binaries: [{ path: /usr/bin/git }]\n"
		"    endpoints: [{ host: api.github.com, port: 443 }]\n"
		"inference:\n"
		"  routes:\n"
		"    - { name: default, provider: anthropic, model: m, api_key_env: K }\n"
		"  binaries: [{ path: /usr/bin/agent }, { path: /usr/bin/bash, ancestors: true }]\n";
	static const char none[] = "version: 1\n"
				   "network_policies:\n"
				   "  github:\n"
				   "    binaries: [{ path: /usr/bin/git }]\n"
				   "    endpoints: [{ host: api.github.com, port: 443 }]\n";
	struct ward_policy *p = NULL, *q = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_dns_verdict v;
	struct ward_client who = { .binary = "/usr/bin/agent" };

	(void)state;
	assert_int_equal(ward_policy_load_buffer("l.yaml", listed, strlen(listed), &p, &d, &err),
			 0);
	ward_diags_free(&d);
	assert_int_equal(ward_policy_load_buffer("n.yaml", none, strlen(none), &q, &d, &err), 0);
	ward_diags_free(&d);

	ward_decide_dns(p, &who, "inference.local", &v);
	assert_true(v.allow);
	assert_true(v.inference);
	/* a listed binary resolves only inference.local, not the network names */
	ward_decide_dns(p, &who, "api.github.com", &v);
	assert_false(v.allow);
	who = (struct ward_client){ .binary = "/usr/bin/git", .keys = "github" };
	ward_decide_dns(p, &who, "inference.local", &v);
	assert_false(v.allow);
	assert_string_equal(v.reason, "binary may not use inference.local");
	ward_decide_dns(p, &who, "api.github.com", &v);
	assert_true(v.allow);
	/* a child of bash, through ancestors: true */
	who = (struct ward_client){ .binary = "/tmp/x", .via = "/usr/bin/bash" };
	ward_decide_dns(p, &who, "inference.local", &v);
	assert_true(v.allow);
	/* no routes: nobody */
	who = (struct ward_client){ .binary = "/usr/bin/git", .keys = "github" };
	ward_decide_dns(q, &who, "inference.local", &v);
	assert_false(v.allow);
	assert_string_equal(v.reason, "no inference routes");
	ward_policy_free(p);
	ward_policy_free(q);
}

/* ---- the stub on loopback: live apply ---- */

/* The identity source of the tests: every query is curl's, network policy
 * "web". With hold set, the next lookup waits until released: a query in
 * flight while a new generation is applied. */
struct who_fx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold, held, release;
};

static int fixed_lookup(void *userdata, int socktype, const struct sockaddr *peer,
			struct ward_peer_ident *ret)
{
	struct who_fx *f = userdata;

	(void)socktype;
	(void)peer;
	pthread_mutex_lock(&f->lock);
	if (f->hold) {
		struct timespec until;

		f->hold = false;
		f->held = true;
		pthread_cond_broadcast(&f->cond);
		/* bounded: a broken test fails instead of hanging */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 20;
		while (!f->release && pthread_cond_timedwait(&f->cond, &f->lock, &until) == 0)
			;
		f->held = false;
	}
	pthread_mutex_unlock(&f->lock);
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->binary, sizeof(ret->binary), "/usr/bin/curl");
	snprintf(ret->keys, sizeof(ret->keys), "web");
	ret->pid = 4242;
	return 0;
}

static struct ward_gen *gen_of(const char *name, const char *yaml, uint64_t seq)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_gen *g = NULL;

	assert_int_equal(ward_policy_load_buffer(name, yaml, strlen(yaml), &p, &d, &err), 0);
	ward_diags_free(&d);
	assert_int_equal(ward_gen_new(p, seq, &g), 0);
	return g;
}

/* A port free for both UDP and TCP on 127.0.0.1 right now. */
static uint16_t free_port(void)
{
	for (int i = 0; i < 50; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sin);
		int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		uint16_t port = 0;

		assert_true(t >= 0 && u >= 0);
		if (bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(t, (struct sockaddr *)&sin, &sl) == 0 &&
		    bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			port = ntohs(sin.sin_port);
		close(t);
		close(u);
		if (port)
			return port;
	}
	fail_msg("no free port on 127.0.0.1");
	return 0;
}

/* Send a query for name over UDP from sock to the stub. */
static void ask_udp(int sock, uint16_t port, const char *name, uint16_t id)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t b[512];
	size_t n = mkquery(b, name, WARD_DNS_TYPE_A);

	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	assert_int_equal(sendto(sock, b, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
}

/* Receive the answer to id: its rcode, and its first A address in *ret_a. */
static int answer_udp(int sock, uint16_t id, struct in_addr *ret_a)
{
	uint8_t b[512];
	ssize_t n = recv(sock, b, sizeof(b), 0);
	size_t off = 12;
	unsigned an;

	assert_true(n >= 12); /* SO_RCVTIMEO: no answer is a failure, not a hang */
	assert_int_equal(b[0] << 8 | b[1], id);
	an = (unsigned)(b[6] << 8 | b[7]);
	ret_a->s_addr = 0;
	while (off < (size_t)n && b[off]) /* the question's name */
		off += 1u + b[off];
	off += 1 + 4;
	if (an && off + 16 <= (size_t)n) /* pointer(2) type(2) class(2) ttl(4) len(2) addr(4) */
		memcpy(&ret_a->s_addr, b + off + 12, 4);
	return b[3] & 0x0f;
}

static int query_udp(int sock, uint16_t port, const char *name, uint16_t id, struct in_addr *ret_a)
{
	ask_udp(sock, port, name, id);
	return answer_udp(sock, id, ret_a);
}

struct revs {
	char rev[8][65];
	char host[8][64];
	char action[8][8];
	size_t n;
};

static int rev_cb(const struct ward_audit_row *r, void *userdata)
{
	struct revs *v = userdata;

	if (v->n < 8) {
		snprintf(v->rev[v->n], sizeof(v->rev[0]), "%s", r->policy_rev ? r->policy_rev : "");
		snprintf(v->host[v->n], sizeof(v->host[0]), "%s", r->host ? r->host : "");
		snprintf(v->action[v->n], sizeof(v->action[0]), "%s", r->action);
	}
	v->n++;
	return 0;
}

/* A name refused under generation A resolves after apply(B), one that B
 * removes stops resolving, and a query in flight during the apply is
 * decided and logged under the generation it arrived in. */
static void apply_switches_generation(void **state)
{
	static const char a_yaml[] = "version: 1\n"
				     "network_policies:\n"
				     "  web:\n"
				     "    binaries: [{ path: /usr/bin/curl }]\n"
				     "    endpoints: [{ host: old.test, port: 443 }]\n";
	static const char b_yaml[] = "version: 1\n"
				     "network_policies:\n"
				     "  web:\n"
				     "    binaries: [{ path: /usr/bin/curl }]\n"
				     "    endpoints: [{ host: new.test, port: 443 }]\n";
	struct who_fx who = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct ward_gen *a = gen_of("a.yaml", a_yaml, 1), *b = gen_of("b.yaml", b_yaml, 2);
	struct timeval tv = { .tv_sec = 20 };
	char dir[64], hosts[128], db[128], rev_a[65], rev_b[65];
	struct ward_audit *audit = NULL;
	struct ward_audit_reader *rd = NULL;
	struct ward_audit_filter flt = { .layer = "dns" };
	struct ward_error err = { 0 };
	struct ward_dns_stats st;
	struct ward_dns *d = NULL;
	struct revs revs = { 0 };
	struct in_addr addr;
	uint16_t port = free_port();
	FILE *f;
	int sock;

	(void)state;
	snprintf(rev_a, sizeof(rev_a), "%s", a->policy->rev);
	snprintf(rev_b, sizeof(rev_b), "%s", b->policy->rev);
	assert_string_not_equal(rev_a, rev_b);
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "dns"));
	snprintf(hosts, sizeof(hosts), "%s/hosts", dir);
	snprintf(db, sizeof(db), "%s/log.db", dir);
	f = fopen(hosts, "we");
	assert_non_null(f);
	fprintf(f, "10.9.8.7 old.test\n10.9.8.8 new.test\n");
	fclose(f);
	assert_int_equal(ward_audit_open(db, &audit, &err), 0);
	/* another process may take the free port first: pick again */
	for (int i = 0, r = -EADDRINUSE; r == -EADDRINUSE; i++) {
		struct ward_dns_opts o = { .gen = a,
					   .audit = audit,
					   .sandbox = "sb",
					   .lookup = fixed_lookup,
					   .lookup_data = &who,
					   .addr4.s_addr = htonl(INADDR_LOOPBACK),
					   .port = port,
					   .hosts_file = hosts };

		assert_true(i < 10);
		r = ward_dns_start(&o, &d, &err);
		if (r == -EADDRINUSE)
			port = free_port();
		else
			assert_int_equal(r, 0);
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	assert_int_equal(setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);

	/* under A */
	assert_int_equal(query_udp(sock, port, "new.test", 1, &addr), WARD_DNS_NXDOMAIN);
	assert_int_equal(query_udp(sock, port, "old.test", 2, &addr), WARD_DNS_NOERROR);
	assert_int_equal(addr.s_addr, inet_addr("10.9.8.7"));

	/* in flight: arrived under A, held in the lookup while B is applied */
	pthread_mutex_lock(&who.lock);
	who.hold = true;
	pthread_mutex_unlock(&who.lock);
	ask_udp(sock, port, "old.test", 3);
	pthread_mutex_lock(&who.lock);
	while (!who.held) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 20;
		if (pthread_cond_timedwait(&who.cond, &who.lock, &until) != 0)
			break;
	}
	assert_true(who.held);
	pthread_mutex_unlock(&who.lock);
	assert_int_equal(ward_dns_apply(d, b, &err), 0);
	assert_int_equal(ward_dns_apply(d, NULL, &err), -EINVAL); /* and B stays */
	pthread_mutex_lock(&who.lock);
	who.release = true;
	pthread_cond_broadcast(&who.cond);
	pthread_mutex_unlock(&who.lock);
	assert_int_equal(answer_udp(sock, 3, &addr), WARD_DNS_NOERROR);
	assert_int_equal(addr.s_addr, inet_addr("10.9.8.7"));

	/* under B; the caller's references are its own */
	ward_gen_unref(a);
	assert_int_equal(query_udp(sock, port, "new.test", 4, &addr), WARD_DNS_NOERROR);
	assert_int_equal(addr.s_addr, inet_addr("10.9.8.8"));
	assert_int_equal(query_udp(sock, port, "old.test", 5, &addr), WARD_DNS_NXDOMAIN);

	ward_dns_stats(d, &st);
	assert_int_equal(st.queries, 5);
	assert_int_equal(st.allowed, 3);
	assert_int_equal(st.denied, 2);
	close(sock);
	ward_dns_stop(d);

	/* each row names the revision it was decided under */
	assert_int_equal(ward_audit_flush(audit), 0);
	assert_int_equal(ward_audit_reader_open(db, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, &flt, rev_cb, &revs, &err), 0);
	ward_audit_reader_close(rd);
	assert_int_equal(revs.n, 5);
	for (size_t i = 0; i < 5; i++) {
		static const char *const host[] = { "new.test", "old.test", "old.test", "new.test",
						    "old.test" };
		static const char *const action[] = { "deny", "allow", "allow", "allow", "deny" };

		assert_string_equal(revs.host[i], host[i]);
		assert_string_equal(revs.action[i], action[i]);
		assert_string_equal(revs.rev[i], i < 3 ? rev_a : rev_b);
	}
	ward_audit_close(audit);
	ward_gen_unref(b);
	assert_int_equal(ward_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_a_plain_query),
		cmocka_unit_test(rejects_malformed_queries),
		cmocka_unit_test(rejects_compression_and_bad_labels),
		cmocka_unit_test(bounds_label_and_name_length),
		cmocka_unit_test(tolerates_one_edns_opt),
		cmocka_unit_test(builds_bounded_answers),
		cmocka_unit_test(decides_per_binary),
		cmocka_unit_test(inference_local_per_binary),
		cmocka_unit_test(apply_switches_generation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
