// SPDX-License-Identifier: MIT
/* A live proxy (ward_proxy_new/start) in a network namespace of the test's
 * own, its clients and upstreams on loopback addresses of that namespace:
 * live apply of policy generations (a host denied before an apply is allowed
 * after it; an open tunnel to a host the new generation removes is closed
 * with a "revoked by policy rev R" row, one it keeps stays open; L7 re-decides
 * the next request of a keep-alive connection), and a request pipelined
 * behind an inference.local call that is denied does not cost the client the
 * inference response. Spliced tunnels (edge-triggered, a bounded turn,
 * then the ready list): 64 MiB both ways arrive whole and in order and
 * the client's half-close reaches the upstream while bytes still flow
 * back; a tunnel streaming without pause does not starve an echo on another
 * one. One forked child per case (each in a fresh netns); exit
 * 77 when not root. Identity comes through the lookup callback: the client
 * is this test's own executable. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "enforcer/egress.h" /* ward_egress_kdev: the dev encoding TOFU uses */
#include "policy/generation.h"
#include "policy/policy.h"
#include "proxy/cred.h"
#include "proxy/inference.h"
#include "proxy/proxy.h"

#include "check.h"

#define SKIP 77
#define UP_ADDR "10.77.0.1" /* the upstreams: private, reached through exact host names */
#define ECHO_PORT 7000
#define HTTP_PORT 8080
#define STREAM_PORT 7001 /* writes without pause until the peer goes */
#define IO_MS 10000	 /* a bound for failing, never an expectation */

static char self[PATH_MAX];
static char dir[64];
static uint16_t infer_port, infer_port2;
static uint16_t route_port; /* the backend the policies policy() makes route to */

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fprintf(stderr, "command failed: %s\n", cmd);
}

/* ---- upstreams: echo (tunnels), HTTP (keep-alive "hello"), an inference backend ---- */

enum up_kind { UP_ECHO, UP_HTTP, UP_INFER, UP_INFER2, UP_STREAM };

struct up_conn {
	int fd;
	enum up_kind kind;
};

static const char infer_reply_body[] =
	"{\"id\":\"x\",\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}";
/* the backend a later generation's route names */
static const char infer_reply_body2[] =
	"{\"id\":\"y\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5,\"total_tokens\":10}}";

/* One HTTP request (head + Content-Length body) read into buf; its length or -1. */
static ssize_t read_request(int fd, char *buf, size_t sz)
{
	size_t got = 0;

	for (;;) {
		char *end = memmem(buf, got, "\r\n\r\n", 4);

		if (end) {
			const char *cl = strcasestr(buf, "content-length:");
			size_t need = (size_t)(end + 4 - buf) +
				      (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);

			if (got >= need)
				return (ssize_t)need;
		}
		if (got + 1 >= sz)
			return -1;
		ssize_t n = read(fd, buf + got, sz - 1 - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
	}
}

static void *up_serve(void *arg)
{
	struct up_conn *uc = arg;
	char buf[16384], reply[512];
	ssize_t n;

	if (uc->kind == UP_STREAM) {
		memset(buf, 's', sizeof(buf));
		while (write(uc->fd, buf, sizeof(buf)) > 0)
			;
	}
	for (;;) {
		if (uc->kind == UP_STREAM)
			break;
		if (uc->kind == UP_ECHO) {
			n = read(uc->fd, buf, sizeof(buf));
			if (n <= 0 || write(uc->fd, buf, (size_t)n) != n)
				break;
			continue;
		}
		if (read_request(uc->fd, buf, sizeof(buf)) < 0)
			break;
		if (uc->kind == UP_HTTP) {
			/* the body: the Authorization value it got, or "hello" */
			char auth[128] = "hello";
			const char *a = strcasestr(buf, "\r\nauthorization: ");

			if (a)
				sscanf(a + 17, "%127[^\r]", auth);
			snprintf(reply, sizeof(reply),
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(auth),
				 auth);
		} else {
			const char *body =
				uc->kind == UP_INFER2 ? infer_reply_body2 : infer_reply_body;

			snprintf(reply, sizeof(reply),
				 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				 strlen(body), body);
		}
		if (write(uc->fd, reply, strlen(reply)) != (ssize_t)strlen(reply) ||
		    uc->kind == UP_INFER || uc->kind == UP_INFER2)
			break;
	}
	close(uc->fd);
	free(uc);
	return NULL;
}

struct up_listener {
	int fd;
	enum up_kind kind;
};

static void *up_accept(void *arg)
{
	struct up_listener *l = arg;

	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		struct up_conn *uc;
		pthread_t t;

		if (fd < 0)
			return NULL;
		uc = malloc(sizeof(*uc));
		if (!uc) {
			close(fd);
			continue;
		}
		*uc = (struct up_conn){ .fd = fd, .kind = l->kind };
		if (pthread_create(&t, NULL, up_serve, uc) == 0)
			pthread_detach(t);
	}
}

static uint16_t up_start(const char *addr, uint16_t port, enum up_kind kind)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t sl = sizeof(sin);
	struct up_listener *l = malloc(sizeof(*l));
	pthread_t t;

	inet_pton(AF_INET, addr, &sin.sin_addr);
	l->kind = kind;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(l->fd, 64) < 0) {
		fprintf(stderr, "upstream %s:%u: %m\n", addr, port);
		exit(1);
	}
	getsockname(l->fd, (struct sockaddr *)&sin, &sl);
	pthread_create(&t, NULL, up_accept, l);
	pthread_detach(t);
	return ntohs(sin.sin_port);
}

/* ---- the proxy under test ---- */

struct fx {
	struct ward_policy *p1; /* the proxy's cfg.policy (borrowed by it) */
	struct ward_cred_store *creds;
	struct ward_audit *audit;
	struct ward_inference *inf;
	struct ward_proxy *px;
	char log[128];
	uint16_t port, tport;
};

static int lookup(void *userdata, const struct sockaddr *peer, struct ward_peer_ident *ret)
{
	static struct stat st;

	(void)userdata;
	(void)peer;
	if (!st.st_ino && stat(self, &st) < 0)
		return -errno;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->binary, sizeof(ret->binary), "%s", self);
	/* the original destination of a transparent connection: the echo upstream */
	{
		struct sockaddr_in *o = (struct sockaddr_in *)&ret->orig;

		o->sin_family = AF_INET;
		o->sin_port = htons(ECHO_PORT);
		inet_pton(AF_INET, UP_ADDR, &o->sin_addr);
	}
	snprintf(ret->keys, sizeof(ret->keys), "web");
	ret->pid = getpid();
	ret->dev = ward_egress_kdev(st.st_dev);
	ret->ino = st.st_ino;
	return 0;
}

/* the credential's endpoint in the policies policy() makes */
static const char *cred_host = "up.test";

/* hosts: names the test's upstreams go by */
static struct ward_policy *policy(const char *hosts_allowed)
{
	char yaml[PATH_MAX * 2 + 2048];
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };

	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "network_policies:\n"
		 "  web:\n"
		 "    binaries: [{ path: %s }]\n"
		 "    endpoints: [%s]\n"
		 "inference:\n"
		 "  routes:\n"
		 "    - { name: fast, provider: openai, model: real-small, api_key_env: WARD_LT_KEY,\n"
		 "        base_url: \"http://127.0.0.1:%u/v1\" }\n"
		 "  binaries: [{ path: %s }]\n"
		 "credentials:\n"
		 "  - { name: gh, env: WARD_LT_GH, host: %s, port: 8080, scheme: http }\n",
		 self, hosts_allowed, route_port, self, cred_host);
	if (ward_policy_load_buffer("live.yaml", yaml, strlen(yaml), &p, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		fprintf(stderr, "policy: %s\n%s", err.msg, yaml);
		exit(1);
	}
	ward_diags_free(&d);
	return p;
}

static void fx_start(struct fx *f, const char *hosts_allowed)
{
	struct ward_proxy_config cfg = { 0 };
	struct ward_inference_config icfg = { 0 };
	struct ward_error err = { 0 };
	char hosts[160];
	FILE *h;

	snprintf(hosts, sizeof(hosts), "%s/hosts", dir);
	h = fopen(hosts, "w");
	fprintf(h, UP_ADDR " up.test gone.test other.test\n");
	fclose(h);
	snprintf(f->log, sizeof(f->log), "%s/log.db", dir);
	setenv("WARD_LT_KEY", "sk-live-test", 1);
	setenv("WARD_LT_GH", "gh-secret-123", 1);
	f->p1 = policy(hosts_allowed);
	if (ward_cred_store_new(f->p1, &f->creds, &err) < 0)
		goto fail;
	if (ward_audit_open(f->log, &f->audit, &err) < 0)
		goto fail;
	icfg.policy = f->p1;
	icfg.audit = f->audit;
	icfg.sandbox = "live";
	if (ward_inference_new(&icfg, &f->inf, &err) < 0)
		goto fail;
	cfg.policy = f->p1;
	cfg.lookup = lookup;
	cfg.audit = f->audit;
	cfg.sandbox = "live";
	cfg.hosts_file = hosts;
	cfg.inference = f->inf;
	cfg.creds = f->creds;
	inet_pton(AF_INET, "127.0.0.1", &cfg.listen4);
	cfg.explicit_port = 0;
	cfg.transparent_port = 0;
	if (ward_proxy_new(&cfg, &f->px, &err) < 0 || ward_proxy_start(f->px, &err) < 0)
		goto fail;
	f->port = ward_proxy_explicit_port(f->px);
	f->tport = ward_proxy_transparent_port(f->px);
	return;
fail:
	fprintf(stderr, "fixture: %s\n", err.msg);
	exit(1);
}

static void fx_stop(struct fx *f)
{
	ward_proxy_free(f->px);
	ward_inference_free(f->inf);
	ward_cred_store_free(f->creds);
	ward_audit_close(f->audit);
	ward_policy_free(f->p1);
}

/* Apply a new generation allowing hosts_allowed; returns its rev. */
static const char *fx_apply(struct fx *f, const char *hosts_allowed, uint64_t seq)
{
	struct ward_gen *g = NULL;
	struct ward_error err = { 0 };
	static char rev[65];
	int r;

	if (ward_gen_new(policy(hosts_allowed), seq, &g) < 0)
		exit(1);
	snprintf(rev, sizeof(rev), "%s", g->policy->rev);
	r = ward_proxy_apply(f->px, g, &err);
	CHECK(r == 0, "ward_proxy_apply: %d %s", r, err.msg);
	ward_gen_unref(g); /* the proxy holds its own */
	return rev;
}

static int connect_port(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "connect to the proxy: %m\n");
		exit(1);
	}
	return fd;
}

static int connect_proxy(const struct fx *f)
{
	return connect_port(f->port);
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	if (write(fd, s, n) != (ssize_t)n)
		fprintf(stderr, "write: %m\n");
}

/* Read until `until` appears in what was read (NULL: until EOF), bounded by
 * IO_MS of silence. Returns the bytes read; *ret_eof: the peer closed. */
static size_t read_until(int fd, char *buf, size_t sz, const char *until, bool *ret_eof)
{
	size_t got = 0;

	*ret_eof = false;
	buf[0] = '\0';
	while (got + 1 < sz && !(until && strstr(buf, until))) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, IO_MS) <= 0)
			break;
		n = read(fd, buf + got, sz - 1 - got);
		if (n <= 0) {
			*ret_eof = true;
			break;
		}
		got += (size_t)n;
		buf[got] = '\0';
	}
	return got;
}

/* CONNECT host:port; true when the tunnel is up. */
static bool tunnel_to(const struct fx *f, const char *host, uint16_t port, int *ret_fd, char *resp,
		      size_t sz)
{
	char req[256];
	bool eof;
	int fd = connect_proxy(f);

	snprintf(req, sizeof(req), "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n", host, port,
		 host, port);
	send_all(fd, req);
	read_until(fd, resp, sz, "\r\n\r\n", &eof);
	*ret_fd = fd;
	return strstr(resp, "HTTP/1.1 200") == resp;
}

/* CONNECT host:ECHO_PORT */
static bool tunnel(const struct fx *f, const char *host, int *ret_fd, char *resp, size_t sz)
{
	return tunnel_to(f, host, ECHO_PORT, ret_fd, resp, sz);
}

static bool echoes(int fd, const char *msg)
{
	char buf[256];
	bool eof;

	send_all(fd, msg);
	read_until(fd, buf, sizeof(buf), msg, &eof);
	return strstr(buf, msg) != NULL;
}

struct rows {
	char s[8192];
	size_t len;
};

static int row_cb(const struct ward_audit_row *r, void *userdata)
{
	struct rows *b = userdata;
	int n = snprintf(b->s + b->len, sizeof(b->s) - b->len, "%s %s %s %s rev=%s\n", r->layer,
			 r->action, r->host ? r->host : "-", r->reason ? r->reason : "-",
			 r->policy_rev ? r->policy_rev : "-");

	if (n > 0 && (size_t)n < sizeof(b->s) - b->len)
		b->len += (size_t)n;
	return 0;
}

/* Every row so far, one line each: "layer action host reason rev=R". */
static void rows(struct fx *f, struct rows *b)
{
	struct ward_audit_reader *rd = NULL;
	struct ward_audit_filter flt = { 0 };
	struct ward_error err = { 0 };

	memset(b, 0, sizeof(*b));
	ward_audit_flush(f->audit);
	if (ward_audit_reader_open(f->log, &rd, &err) < 0 ||
	    ward_audit_reader_each(rd, &flt, row_cb, b, &err) < 0)
		fprintf(stderr, "rows: %s\n", err.msg);
	ward_audit_reader_close(rd);
}

/* ---- cases ---- */

#define EP(host, port) "{ host: " #host ", port: " #port " }"

/* Denied before the apply, allowed after it. */
static void case_denied_then_allowed(void)
{
	struct fx f = { 0 };
	char resp[1024];
	int fd;

	fx_start(&f, EP(up.test, 7000));
	CHECK(!tunnel(&f, "gone.test", &fd, resp, sizeof(resp)), "before: %s", resp);
	CHECK(strstr(resp, "HTTP/1.1 403") == resp, "before: %s", resp);
	close(fd);
	fx_apply(&f, EP(up.test, 7000) ", " EP(gone.test, 7000), 2);
	CHECK(tunnel(&f, "gone.test", &fd, resp, sizeof(resp)), "after: %s", resp);
	CHECK(echoes(fd, "ping"), "the new tunnel carries bytes");
	close(fd);
	fx_stop(&f);
}

/* An open tunnel to a host the apply removes is closed and logged; a tunnel
 * to a host it keeps stays open. */
static void case_revoked_tunnel(void)
{
	struct fx f = { 0 };
	char resp[1024], buf[64], want[128];
	struct rows rw;
	const char *rev;
	bool eof;
	int keep, gone;

	fx_start(&f, EP(up.test, 7000) ", " EP(gone.test, 7000));
	CHECK(tunnel(&f, "up.test", &keep, resp, sizeof(resp)), "up.test: %s", resp);
	CHECK(tunnel(&f, "gone.test", &gone, resp, sizeof(resp)), "gone.test: %s", resp);
	CHECK(echoes(keep, "one") && echoes(gone, "two"), "both tunnels carry bytes");
	rev = fx_apply(&f, EP(up.test, 7000), 2);
	read_until(gone, buf, sizeof(buf), NULL, &eof);
	CHECK(eof, "the revoked tunnel is closed");
	CHECK(echoes(keep, "three"), "the kept tunnel still carries bytes");
	close(keep);
	close(gone);
	rows(&f, &rw);
	snprintf(want, sizeof(want), "proxy deny gone.test revoked by policy rev %s rev=%s\n", rev,
		 rev);
	CHECK(strstr(rw.s, want), "no row '%s' in:\n%s", want, rw.s);
	CHECK(!strstr(rw.s, "up.test revoked"), "the kept tunnel has no revocation row:\n%s", rw.s);
	fx_stop(&f);
}

/* A transparent raw TCP connection (decided by its original destination)
 * is closed and logged when an apply removes that destination. */
static void case_revoked_transparent(void)
{
	struct fx f = { 0 };
	char buf[64], want[160];
	struct rows rw;
	const char *rev;
	bool eof;
	int fd;

	fx_start(&f, EP(10.77.0.1, 7000));
	fd = connect_port(f.tport);
	CHECK(echoes(fd, "ping"), "the transparent connection carries bytes");
	rev = fx_apply(&f, EP(up.test, 7000), 2);
	read_until(fd, buf, sizeof(buf), NULL, &eof);
	CHECK(eof, "the revoked transparent connection is closed");
	close(fd);
	rows(&f, &rw);
	snprintf(want, sizeof(want), "proxy deny 10.77.0.1 revoked by policy rev %s rev=%s\n", rev,
		 rev);
	CHECK(strstr(rw.s, want), "no row '%s' in:\n%s", want, rw.s);
	fx_stop(&f);
}

/* Plain HTTP keeps its connection: the next request is decided under the
 * new generation. */
static void case_l7_redecides(void)
{
	static const char get[] = "GET http://up.test:8080/ HTTP/1.1\r\nHost: up.test:8080\r\n\r\n";
	struct fx f = { 0 };
	char buf[2048];
	bool eof;
	int fd;

	fx_start(&f, EP(up.test, 8080));
	fd = connect_proxy(&f);
	send_all(fd, get);
	read_until(fd, buf, sizeof(buf), "hello", &eof);
	CHECK(strstr(buf, "HTTP/1.1 200") && strstr(buf, "hello"), "before: %s", buf);
	fx_apply(&f, EP(other.test, 8080), 2);
	send_all(fd, get);
	read_until(fd, buf, sizeof(buf), NULL, &eof);
	CHECK(strstr(buf, "HTTP/1.1 403") == buf, "after: %s", buf);
	close(fd);
	fx_stop(&f);
}

/* An inference.local call with a denied request pipelined behind it: the
 * client gets the inference response, then the denial. */
static void case_pipelined_after_inference(void)
{
	static const char body[] = "{ \"messages\": [], \"model\": \"fast\" }";
	struct fx f = { 0 };
	char req[1024], buf[8192];
	bool eof;
	int fd;

	fx_start(&f, EP(up.test, 8080));
	snprintf(req, sizeof(req),
		 "POST http://inference.local/v1/chat/completions HTTP/1.1\r\n"
		 "Host: inference.local\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s"
		 "GET http://gone.test:8080/ HTTP/1.1\r\nHost: gone.test:8080\r\n\r\n",
		 strlen(body), body);
	fd = connect_proxy(&f);
	send_all(fd, req);
	read_until(fd, buf, sizeof(buf), NULL, &eof);
	CHECK(strstr(buf, "HTTP/1.1 200") == buf && strstr(buf, infer_reply_body),
	      "the inference response comes first: %s", buf);
	CHECK(strstr(buf, "HTTP/1.1 403"), "then the denial: %s", buf);
	close(fd);
	fx_stop(&f);
}

/* Credentials follow the generation: the placeholder the sandbox holds is
 * swapped at the credential's endpoint, and refused there once an apply
 * binds the credential elsewhere. */
static void case_credentials_follow(void)
{
	struct fx f = { 0 };
	char req[512], buf[4096];
	bool eof;
	int fd;

	fx_start(&f, EP(up.test, 8080) ", " EP(other.test, 8080));
	snprintf(req, sizeof(req),
		 "GET http://up.test:8080/ HTTP/1.1\r\nHost: up.test:8080\r\n"
		 "Authorization: %s\r\n\r\n",
		 ward_cred_placeholder(f.creds, 0));
	fd = connect_proxy(&f);
	send_all(fd, req);
	read_until(fd, buf, sizeof(buf), "gh-secret-123", &eof);
	CHECK(strstr(buf, "HTTP/1.1 200") && strstr(buf, "Bearer gh-secret-123"),
	      "before: the secret reaches its endpoint: %s", buf);
	cred_host = "other.test";
	fx_apply(&f, EP(up.test, 8080) ", " EP(other.test, 8080), 2);
	send_all(fd, req);
	read_until(fd, buf, sizeof(buf), NULL, &eof);
	CHECK(strstr(buf, "HTTP/1.1 403") == buf && strstr(buf, "credential_endpoint_mismatch") &&
		      !strstr(buf, "gh-secret-123"),
	      "after: the placeholder is refused at its old endpoint: %s", buf);
	close(fd);
	fx_stop(&f);
}

/* One inference.local call on a new connection; the response. */
static void infer_call(const struct fx *f, char *buf, size_t sz)
{
	static const char body[] = "{ \"messages\": [], \"model\": \"fast\" }";
	char req[512];
	bool eof;
	int fd = connect_proxy(f);

	snprintf(req, sizeof(req),
		 "POST http://inference.local/v1/chat/completions HTTP/1.1\r\n"
		 "Host: inference.local\r\nContent-Type: application/json\r\n"
		 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	send_all(fd, req);
	read_until(fd, buf, sz, NULL, &eof);
	close(fd);
}

/* Inference routes follow the generation: a call after the apply goes to
 * the backend the new generation's route names. */
static void case_inference_follows(void)
{
	struct fx f = { 0 };
	char buf[4096];

	fx_start(&f, EP(up.test, 8080));
	infer_call(&f, buf, sizeof(buf));
	CHECK(strstr(buf, "HTTP/1.1 200") == buf && strstr(buf, infer_reply_body),
	      "before: the first backend answers: %s", buf);
	route_port = infer_port2;
	fx_apply(&f, EP(up.test, 8080), 2);
	infer_call(&f, buf, sizeof(buf));
	CHECK(strstr(buf, "HTTP/1.1 200") == buf && strstr(buf, infer_reply_body2),
	      "after: the new route's backend answers: %s", buf);
	fx_stop(&f);
}

/* the byte at offset i of the bulk stream: no period a lost or repeated
 * chunk (pipe or socket sized) would hide */
static unsigned char bulk_byte(uint64_t i)
{
	return (unsigned char)(i * 7 + (i >> 12) * 13 + (i >> 20));
}

#define BULK (64ull << 20)

struct bulk_writer {
	int fd;
	uint64_t sent;
};

/* BULK bytes, then SHUT_WR: the tunnel is half-closed while the echo of
 * what was sent last is still on its way back */
static void *bulk_write(void *arg)
{
	struct bulk_writer *w = arg;
	unsigned char buf[65536];

	while (w->sent < BULK) {
		size_t n = sizeof(buf) < BULK - w->sent ? sizeof(buf) : BULK - w->sent;
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			buf[i] = bulk_byte(w->sent + i);
		r = write(w->fd, buf, n);
		if (r <= 0)
			break;
		w->sent += (size_t)r;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* 64 MiB through an echo, both ways at once: every byte back in order (the
 * turn's bound is 1 MiB: the rest goes through the ready list), then the
 * half-close passed on (the client's SHUT_WR reaches the upstream, which
 * closes once its echo is out: the client reads EOF after the last byte). */
static void case_tunnel_bulk(void)
{
	struct fx f = { 0 };
	struct bulk_writer w = { 0 };
	unsigned char buf[65536];
	uint64_t got = 0, bad = 0;
	char resp[1024];
	bool eof = false;
	pthread_t t;
	int fd;

	fx_start(&f, EP(up.test, 7000));
	CHECK(tunnel(&f, "up.test", &fd, resp, sizeof(resp)), "tunnel: %s", resp);
	w.fd = fd;
	pthread_create(&t, NULL, bulk_write, &w);
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, IO_MS) <= 0)
			break; /* silence: a stall */
		n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != bulk_byte(got + (uint64_t)i);
		got += (uint64_t)n;
	}
	if (got != BULK || !eof)
		shutdown(fd, SHUT_RDWR); /* a stall: the writer may be blocked */
	pthread_join(t, NULL);
	CHECK(w.sent == BULK, "sent %llu of %llu", (unsigned long long)w.sent,
	      (unsigned long long)BULK);
	CHECK(got == BULK, "echoed %llu of %llu bytes", (unsigned long long)got,
	      (unsigned long long)BULK);
	CHECK(bad == 0, "%llu bytes differ from what was sent", (unsigned long long)bad);
	CHECK(eof, "EOF after the last byte (the half-close went through)");
	close(fd);
	fx_stop(&f);
}

struct bulk_reader {
	int fd;
	_Atomic uint64_t got;
	_Atomic bool stop;
};

static void *bulk_read(void *arg)
{
	struct bulk_reader *r = arg;
	char buf[65536];

	while (!atomic_load(&r->stop)) {
		struct pollfd pf = { .fd = r->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, IO_MS) <= 0)
			break;
		n = read(r->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		atomic_fetch_add(&r->got, (uint64_t)n);
	}
	return NULL;
}

/* A tunnel that always has bytes to move (an upstream writing without
 * pause, a client reading without pause) does not keep the loop to itself:
 * echoes on another tunnel are answered while it streams, and it goes on
 * streaming after them. */
static void case_tunnel_fair(void)
{
	struct fx f = { 0 };
	struct bulk_reader r = { 0 };
	char resp[1024], msg[32];
	uint64_t before, after;
	int fd, bulk, ok = 0;
	pthread_t t;

	fx_start(&f, EP(up.test, 7000) ", " EP(up.test, 7001));
	CHECK(tunnel_to(&f, "up.test", STREAM_PORT, &bulk, resp, sizeof(resp)), "stream: %s", resp);
	r.fd = bulk;
	pthread_create(&t, NULL, bulk_read, &r);
	/* streaming for real before the echoes start (bounded: 1,000 x 10 ms) */
	for (int i = 0; i < 1000 && atomic_load(&r.got) < (16u << 20); i++)
		usleep(10000);
	before = atomic_load(&r.got);
	CHECK(before >= (16u << 20), "the stream carries bytes: %llu", (unsigned long long)before);
	CHECK(tunnel(&f, "up.test", &fd, resp, sizeof(resp)), "echo tunnel: %s", resp);
	for (int i = 0; i < 20; i++) {
		snprintf(msg, sizeof(msg), "ping-%d", i);
		ok += echoes(fd, msg);
	}
	CHECK(ok == 20, "%d of 20 echoes answered next to the stream", ok);
	/* and the stream goes on (bounded: 1,000 x 10 ms) */
	before = atomic_load(&r.got);
	for (int i = 0; i < 1000 && atomic_load(&r.got) < before + (16u << 20); i++)
		usleep(10000);
	after = atomic_load(&r.got);
	CHECK(after >= before + (16u << 20),
	      "the stream goes on after the echoes (%llu -> %llu bytes)",
	      (unsigned long long)before, (unsigned long long)after);
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	close(fd);
	close(bulk);
	fx_stop(&f);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "denied_then_allowed", case_denied_then_allowed },
	{ "revoked_tunnel", case_revoked_tunnel },
	{ "revoked_transparent", case_revoked_transparent },
	{ "l7_redecides", case_l7_redecides },
	{ "pipelined_after_inference", case_pipelined_after_inference },
	{ "credentials_follow", case_credentials_follow },
	{ "inference_follows", case_inference_follows },
	{ "tunnel_bulk", case_tunnel_bulk },
	{ "tunnel_fair", case_tunnel_fair },
};

static int run_case(size_t i)
{
	char tmpl[] = "/tmp/ward-test-proxy-live-XXXXXX";

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* the stream upstream writes until its reader goes: EPIPE, not a
	 * signal that ends the case before it reports (seen in a slow guest) */
	signal(SIGPIPE, SIG_IGN);
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %m\n");
		return SKIP;
	}
	/* our own namespace: every address is ours, nothing leaves the machine */
	sh("ip link set lo up");
	sh("ip addr add " UP_ADDR "/32 dev lo");
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	up_start(UP_ADDR, ECHO_PORT, UP_ECHO);
	up_start(UP_ADDR, HTTP_PORT, UP_HTTP);
	up_start(UP_ADDR, STREAM_PORT, UP_STREAM);
	infer_port = up_start("127.0.0.1", 0, UP_INFER);
	infer_port2 = up_start("127.0.0.1", 0, UP_INFER2);
	route_port = infer_port;
	cases[i].fn();
	sh("rm -rf %s", dir);
	fprintf(stderr, "%s %s (%d checks)\n", failures ? "FAIL" : "ok", cases[i].name,
		passes + failures);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	int failed = 0, skipped = 0;
	ssize_t n;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return SKIP;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = 0;
		pid_t pid;

		if (argc > 1 && strcmp(argv[1], cases[i].name))
			continue;
		fflush(stderr);
		pid = fork();
		if (pid == 0)
			_exit(run_case(i));
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP)
			skipped++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "FAIL case %s (status %d)\n", cases[i].name, st);
			failed++;
		}
	}
	if (failed)
		return 1;
	return skipped ? SKIP : 0;
}
