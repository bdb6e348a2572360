// SPDX-License-Identifier: MIT
/* One proxied connection: identity at accept, sniffing on the transparent
 * port, resolution, SSRF checks, connect to the validated address, and the
 * byte relay with backpressure. HTTP request/response cycles are in
 * conn_http.c. Entry points (conn_accepted, conn_event, conn_resolved,
 * conn_timeout) close the connection at their end when it is marked dead, so
 * nothing below them ever touches freed memory. */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "proxy/sni.h"
#include "proxy/ssrf.h"
#include "proxy/proxy_internal.h"
#include "proxy/tls.h"

/* Reasons are one-line texts in fixed buffers: cutting a long host name short is fine. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

void conn_set_deadline(struct conn *c, uint32_t ms)
{
	c->deadline = ms ? ward_mono_ns() + (uint64_t)ms * 1000000ull : 0;
}

static void set_deadline(struct conn *c, uint32_t ms)
{
	conn_set_deadline(c, ms);
}

/* Plain tunnels move bytes with splice(2): socket -> pipe -> socket, no copy
 * through user space. Without pipes (fd limit) the buffers do it. */
static void tunnel_pipes(struct conn *c)
{
	if (c->ctls || c->utls || c->pipe_cu[0] >= 0)
		return;
	if (pipe2(c->pipe_cu, O_NONBLOCK | O_CLOEXEC) < 0) {
		c->pipe_cu[0] = c->pipe_cu[1] = -1;
		return;
	}
	if (pipe2(c->pipe_uc, O_NONBLOCK | O_CLOEXEC) < 0) {
		close(c->pipe_cu[0]);
		close(c->pipe_cu[1]);
		c->pipe_cu[0] = c->pipe_cu[1] = c->pipe_uc[0] = c->pipe_uc[1] = -1;
		return;
	}
	fcntl(c->pipe_cu[1], F_SETPIPE_SZ, PIPE_BUF_SZ);
	fcntl(c->pipe_uc[1], F_SETPIPE_SZ, PIPE_BUF_SZ);
}

static void finish_entry(struct conn *c)
{
	if (c->dead)
		proxy_conn_close(c);
	else
		proxy_conn_update(c);
}

void conn_close_upstream(struct conn *c)
{
	if (c->ufd < 0)
		return;
	ward_tls_free(c->utls);
	c->utls = NULL;
	c->u_tls_ev = 0;
	epoll_ctl(c->px->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
	close(c->ufd);
	c->ufd = -1;
	c->ev_u = 0;
}

static void respond(struct conn *c, char *resp, size_t len)
{
	if (resp) {
		c->to_c.off = c->to_c.len = 0;
		if (buf_append(&c->to_c, resp, len < CONN_BUF ? len : CONN_BUF) < 0)
			c->dead = true;
		free(resp);
	} else {
		c->dead = true;
	}
	c->close_after = true;
	c->state = S_CLOSING;
	set_deadline(c, 5000);
	conn_close_upstream(c);
}

void conn_fail(struct conn *c, int status, const char *error, const char *reason)
{
	size_t len = 0;

	if (!c->speaks_http) {
		c->dead = true;
		return;
	}
	char *resp = error_response(status, error, reason, &len);

	respond(c, resp, len);
}

static void fill_request(struct conn *c, struct ward_request *req)
{
	memset(req, 0, sizeof(*req));
	req->binary = c->known && c->binary[0] ? c->binary : NULL;
	req->binary_keys = c->known ? c->keys : NULL;
	req->host = c->host;
	req->port = c->port;
	req->host_is_dest_ip = c->host_is_ip;
}

void conn_deny(struct conn *c, const char *layer, const struct ward_request *req,
	       const struct ward_net_verdict *v, const char *reason_override)
{
	const char *reason = reason_override ? reason_override : v->reason;
	size_t len = 0;
	char *resp;

	proxy_row(c, layer, "deny", req->method, req->path,
		  v->closest ? v->closest->key : (v->policy ? v->policy->key : NULL), reason);
	if (!c->speaks_http) {
		c->dead = true;
		return;
	}
	resp = deny_response(layer, req, v, reason, &len);
	respond(c, resp, len);
}

/* The binary failed TOFU: deny whatever it asks for, with that reason. */
static bool tofu_denied(struct conn *c, const char *layer, const struct ward_request *req)
{
	struct ward_net_verdict v;

	if (!c->tofu)
		return false;
	memset(&v, 0, sizeof(v));
	v.failed = WARD_FAILED_BINARY;
	snprintf(v.reason, sizeof(v.reason), "%s", c->tofu_reason);
	snprintf(v.hint, sizeof(v.hint), "verify %s; ward trusts the hash it saw first",
		 c->binary);
	conn_deny(c, layer, req, &v, NULL);
	return true;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t sz)
{
	const void *a = ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

static void connect_next(struct conn *c);

static void connected(struct conn *c)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	c->state = S_TUNNEL;
	set_deadline(c, c->px->lim.idle_tunnel_ms);
	switch (c->after) {
	case AFTER_TUNNEL_CONNECT:
		c->speaks_http = false;
		tunnel_pipes(c);
		buf_append(&c->to_c, established, sizeof(established) - 1);
		/* bytes the client sent after the CONNECT head belong to the tunnel */
		if (c->from_c.len)
			buf_append(&c->to_u, c->from_c.data + c->from_c.off, c->from_c.len);
		c->from_c.len = c->from_c.off = 0;
		break;
	case AFTER_TUNNEL_RAW:
		c->speaks_http = false;
		tunnel_pipes(c);
		if (c->from_c.len)
			buf_append(&c->to_u, c->from_c.data + c->from_c.off, c->from_c.len);
		c->from_c.len = c->from_c.off = 0;
		break;
	case AFTER_HTTP:
		if (c->intercept) {
			/* a new upstream connection under an intercepted one: TLS again */
			tls_intercept_begin(c);
			break;
		}
		c->state = S_HTTP;
		set_deadline(c, c->px->lim.idle_http_ms);
		http_upstream_ready(c);
		break;
	case AFTER_INTERCEPT:
		tls_intercept_begin(c);
		break;
	}
}

static void connect_next(struct conn *c)
{
	struct ward_proxy *px = c->px;

	while (c->next_addr < c->n_addrs) {
		struct sockaddr_storage *ss = &c->addrs[c->next_addr++];
		socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6);
		struct epoll_event ev;
		int fd;

		if (ss->ss_family == AF_INET)
			((struct sockaddr_in *)ss)->sin_port = htons(c->port);
		else
			((struct sockaddr_in6 *)ss)->sin6_port = htons(c->port);
		addr_text(ss, c->ip, sizeof(c->ip));
		fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->last_connect_err = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (connect(fd, (struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
			c->last_connect_err = errno;
			close(fd);
			continue;
		}
		c->ufd = fd;
		c->ev_u = EPOLLOUT;
		ev = (struct epoll_event){ .events = EPOLLOUT,
					   .data.u64 = (uint64_t)c->slot << 2 | EV_UPSTREAM };
		epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev);
		c->state = S_CONNECT;
		return;
	}
	{
		char reason[200];

		snprintf(reason, sizeof(reason), "connect to %s port %u: %s", c->host, c->port,
			 strerror(c->last_connect_err ? c->last_connect_err : ECONNREFUSED));
		proxy_row(c, c->state == S_HTTP || c->after == AFTER_HTTP ? "l7" : "proxy", "deny",
			  NULL, NULL, c->v.rule_name, reason);
		conn_fail(c, 502, "upstream_unreachable", reason);
	}
}

static void check_connect(struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0) {
		c->ev_u = EPOLLOUT;
		connected(c);
		return;
	}
	c->last_connect_err = soerr;
	epoll_ctl(c->px->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
	close(c->ufd);
	c->ufd = -1;
	connect_next(c);
}

/* Keep only addresses the SSRF rules allow for the decided endpoint. */
static int validate_addrs(struct conn *c, const struct sockaddr_storage *in, size_t n,
			  char *why, size_t whysz)
{
	bool allow_private = c->v.allow_private ||
			     (c->host_is_ip && (c->who.flags & WARD_CONN_ALLOWED_IP));

	c->n_addrs = c->next_addr = 0;
	for (size_t i = 0; i < n; i++) {
		char w[200];

		if (ward_ssrf_check((const struct sockaddr *)&in[i], allow_private, c->v.endpoint,
				    w, sizeof(w)) < 0) {
			/* one bad address poisons the name: a rebinding answer mixes both */
			snprintf(why, whysz, "%s", w);
			c->n_addrs = 0;
			return -EACCES;
		}
		c->addrs[c->n_addrs++] = in[i];
	}
	return c->n_addrs ? 0 : -ENOENT;
}

static void ssrf_deny(struct conn *c, const char *why)
{
	struct ward_request req;
	struct ward_net_verdict v = c->v;

	fill_request(c, &req);
	v.action = WARD_ACTION_DENY;
	v.failed = WARD_FAILED_HOST;
	v.closest = v.policy;
	snprintf(v.why, sizeof(v.why), "%s resolves to an address the SSRF rules block", c->host);
	snprintf(v.hint, sizeof(v.hint),
		 "declare the exact host %s, or add the address to allowed_ips of the endpoint",
		 c->host);
	conn_deny(c, "proxy", &req, &v, why);
}

static void start_connect(struct conn *c, const struct sockaddr_storage *addrs, size_t n)
{
	char why[256] = "";

	if (validate_addrs(c, addrs, n, why, sizeof(why)) < 0) {
		ssrf_deny(c, why[0] ? why : "ssrf: no usable address");
		return;
	}
	connect_next(c);
}

void conn_resolved(struct conn *c, const struct ward_resolve_result *res)
{
	if (res->error) {
		char reason[200];

		snprintf(reason, sizeof(reason), "cannot resolve %s: %s", c->host,
			 res->error == -ENOENT ? "no such name" : strerror(-res->error));
		proxy_row(c, c->after == AFTER_HTTP ? "l7" : "proxy", "deny", NULL, NULL,
			  c->v.rule_name, reason);
		conn_fail(c, 502, "upstream_unresolvable", reason);
	} else {
		start_connect(c, res->addrs, res->n);
	}
	finish_entry(c);
}

/* Connect to c->host:c->port for the decided endpoint (c->v): IP literal or
 * a name (hosts file, then DNS, asynchronously). */
int conn_start_upstream(struct conn *c)
{
	struct sockaddr_storage ss;
	uint64_t tag = (uint64_t)c->gen << 32 | c->slot;
	int r;

	c->state = S_RESOLVE;
	set_deadline(c, c->px->lim.connect_timeout_ms);
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, c->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		start_connect(c, &ss, 1);
		return 0;
	}
	if (inet_pton(AF_INET6, c->host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		start_connect(c, &ss, 1);
		return 0;
	}
	if (ward_ssrf_name_blocked(c->host)) {
		char why[300];

		snprintf(why, sizeof(why), "ssrf: %s is a cloud metadata name (always blocked)",
			 c->host);
		ssrf_deny(c, why);
		return -EACCES;
	}
	r = ward_resolve_start(c->px->resolver, c->host, tag);
	if (r < 0) {
		proxy_row(c, "proxy", "deny", NULL, NULL, "limits", "too many name lookups in progress");
		conn_fail(c, 503, "resolver_busy", "too many name lookups in progress");
	}
	return r;
}

/* A connection-level decision (CONNECT, transparent TLS or raw TCP). */
void conn_decided_connect(struct conn *c)
{
	struct ward_request req;

	fill_request(c, &req);
	if (tofu_denied(c, "proxy", &req))
		return;
	if (ward_inference_handle && inference_conn_wants(c) && c->px->cfg.tls_ca &&
	    c->after != AFTER_TUNNEL_RAW) {
		/* https://inference.local or a route's provider host: ward is the
		 * server, the inference layer picks the upstream */
		tls_intercept_local(c);
		return;
	}
	ward_decide(c->px->cfg.policy, &req, &c->v);
	if (c->v.action == WARD_ACTION_DENY) {
		conn_deny(c, "proxy", &req, &c->v, NULL);
		return;
	}
	if (c->v.inspect && c->px->cfg.tls_ca && c->px->cfg.tls_upstream &&
	    (c->after == AFTER_TUNNEL_CONNECT || !strcmp(c->protocol, "tls"))) {
		/* protocol: rest over TLS: terminate it and decide request by request */
		c->after = AFTER_INTERCEPT;
		proxy_row(c, "proxy", "allow", NULL, NULL, c->v.rule_name,
			  "tls intercepted: protocol rest, requests decided one by one");
		conn_start_upstream(c);
		return;
	}
	if (c->v.inspect) {
		/* L7 rules cannot be enforced on bytes ward cannot read: fail closed */
		struct ward_net_verdict v = c->v;
		bool no_ca = !c->px->cfg.tls_ca || !c->px->cfg.tls_upstream;

		v.action = WARD_ACTION_DENY;
		v.failed = WARD_FAILED_HOST;
		v.closest = v.policy;
		snprintf(v.why, sizeof(v.why), "endpoint %s is protocol: rest",
			 v.endpoint->host);
		snprintf(v.hint, sizeof(v.hint), no_ca ? "run ward with TLS interception available"
						       : "speak HTTP or TLS to this endpoint");
		conn_deny(c, "proxy", &req, &v,
			  no_ca ? "protocol: rest needs TLS interception, which is not available"
				: "protocol: rest endpoint reached with neither HTTP nor TLS");
		return;
	}
	proxy_row(c, "proxy", "allow", NULL, NULL, c->v.rule_name, c->v.reason);
	conn_start_upstream(c);
}

void conn_accepted(struct conn *c)
{
	struct ward_proxy *px = c->px;
	int r = -ENOENT;

	if (px->cfg.lookup)
		r = px->cfg.lookup(px->cfg.lookup_data, (struct sockaddr *)&c->peer, &c->who);
	else if (px->cfg.egress)
		r = ward_egress_peer_lookup(px->cfg.egress, (struct sockaddr *)&c->peer, &c->who);
	if (r >= 0) {
		c->known = true;
		snprintf(c->keys, sizeof(c->keys), "%s", c->who.rule ? c->who.rule : "");
		/* every identified connection: the row names the executable that
		 * acted (the ancestor that decided goes in via), and TOFU checks it */
		ward_egress_peer_exe(&c->who, c->binary, sizeof(c->binary));
		if (c->binary[0] == '/') {
			c->tofu = ward_identity_cached(px->identity, c->binary, c->who.pid,
						       c->who.own_ino ? c->who.own_dev : c->who.dev,
						       c->who.own_ino ? c->who.own_ino : c->who.ino,
						       c->sha, c->tofu_reason, sizeof(c->tofu_reason));
			if (c->tofu == -EAGAIN) {
				/* not hashed yet: the worker does it, the connection waits */
				c->tofu = 0;
				if (http_parsers_init(c) < 0 || proxy_ident_submit(c) < 0) {
					c->dead = true;
				} else {
					c->state = S_IDENT;
					set_deadline(c, 1000);
				}
				finish_entry(c);
				return;
			}
		}
	}
	if (http_parsers_init(c) < 0)
		c->dead = true;
	else
		conn_after_identity(c);
	finish_entry(c);
}

void conn_identified(struct conn *c)
{
	conn_after_identity(c);
	/* bytes may have arrived while waiting: level-triggered epoll reports them */
	finish_entry(c);
}

void conn_after_identity(struct conn *c)
{
	struct ward_proxy *px = c->px;

	/* a file admitted at exec for its content, then rewritten in place: the
	 * kernel still knows the inode, the content is no longer what was admitted */
	if (!c->tofu && c->who.exe_sha && strcmp(c->sha, c->who.exe_sha)) {
		c->tofu = -EPERM;
		snprintf(c->tofu_reason, sizeof(c->tofu_reason),
			 "binary changed since it was admitted at exec: was %s, now %s",
			 c->who.exe_sha, c->sha[0] ? c->sha : "(not hashed)");
	}

	c->speaks_http = !c->transparent;
	if (c->transparent) {
		if (!c->known) {
			/* no record: the original destination is unknown too */
			proxy_row(c, "proxy", "deny", NULL, NULL, NULL,
				  "binary unknown: no kernel identity for this connection");
			c->dead = true;
			return;
		}
		c->port = ntohs(c->who.orig.ss_family == AF_INET
					? ((struct sockaddr_in *)&c->who.orig)->sin_port
					: ((struct sockaddr_in6 *)&c->who.orig)->sin6_port);
		c->state = S_SNIFF;
		set_deadline(c, px->lim.sniff_ms);
	} else {
		c->state = S_HTTP;
		c->phase = H_WAIT_REQ;
		set_deadline(c, px->lim.request_timeout_ms);
	}
}

static void sniff_raw(struct conn *c)
{
	addr_text(&c->who.orig, c->host, sizeof(c->host));
	c->host_is_ip = true;
	c->protocol = "tcp";
	c->after = AFTER_TUNNEL_RAW;
	conn_decided_connect(c);
}

static bool looks_http(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 16; i++)
		if (p[i] < 'A' || p[i] > 'Z')
			break;
	return i > 0 && i < n && p[i] == ' ';
}

static void sniff(struct conn *c)
{
	struct ward_sni_info info;
	const char *p = c->from_c.data + c->from_c.off;
	size_t n = c->from_c.len;

	if (!n)
		return;
	switch (ward_sni_parse((const uint8_t *)p, n, &info)) {
	case WARD_SNI_FOUND:
		c->protocol = "tls";
		if (!info.has_server_name) {
			sniff_raw(c);
			return;
		}
		snprintf(c->host, sizeof(c->host), "%s", info.server_name);
		c->after = AFTER_TUNNEL_RAW;
		conn_decided_connect(c);
		return;
	case WARD_SNI_NEED_MORE:
		if (buf_space(&c->from_c) == 0)
			sniff_raw(c);
		return;
	case WARD_SNI_MALFORMED:
		c->protocol = "tls";
		proxy_row(c, "proxy", "deny", NULL, NULL, NULL, "malformed TLS ClientHello");
		c->dead = true;
		return;
	case WARD_SNI_NOT_TLS:
		break;
	}
	if (looks_http(p, n)) {
		c->protocol = "http";
		c->speaks_http = true;
		c->state = S_HTTP;
		c->phase = H_WAIT_REQ;
		set_deadline(c, c->px->lim.request_timeout_ms);
		http_process(c);
		return;
	}
	sniff_raw(c);
}

void conn_timeout(struct conn *c)
{
	switch (c->state) {
	case S_SNIFF:
		/* the server speaks first (SSH, SMTP...): raw TCP by address */
		c->deadline = 0;
		sniff_raw(c);
		break;
	case S_RESOLVE:
	case S_CONNECT:
		proxy_row(c, c->after == AFTER_HTTP ? "l7" : "proxy", "deny", NULL, NULL,
			  c->v.rule_name, "upstream connect timeout");
		conn_fail(c, 504, "upstream_timeout", "upstream connect timeout");
		break;
	case S_TLS_UP:
		proxy_row(c, c->intercept ? "l7" : "proxy", "deny", NULL, NULL, c->v.rule_name,
			  "TLS handshake with the upstream timed out");
		conn_fail(c, 504, "upstream_timeout", "TLS handshake with the upstream timed out");
		break;
	case S_TLS_CLIENT:
		proxy_row(c, "proxy", "deny", NULL, NULL, c->v.rule_name,
			  "TLS handshake with the client timed out (client rejected ward CA?)");
		c->dead = true;
		break;
	case S_IDENT:
		/* the hash is still being computed: keep waiting (the worker answers) */
		set_deadline(c, 1000);
		break;
	case S_HTTP:
		if (c->inf)
			inference_conn_timeout(c); /* inference.local (i1) */
		else if (c->phase == H_WAIT_RESP)
			conn_fail(c, 504, "upstream_timeout", "upstream response timeout");
		else if (c->from_c.len)
			conn_fail(c, 408, "request_timeout", "request head not complete in time");
		else
			c->dead = true;
		break;
	case S_HEAD:
	case S_TUNNEL:
	case S_CLOSING:
		c->dead = true;
		break;
	}
	finish_entry(c);
}

int conn_read_side(struct conn *c, bool upstream, struct buf *b, bool *eof)
{
	struct ward_tls *t = upstream ? c->utls : c->ctls;
	int fd = upstream ? c->ufd : c->cfd;
	ssize_t n;

	if (b->off && b->off + b->len == CONN_BUF) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (!buf_space(b))
		return 0;
	if (t) {
		n = tls_side_read(c, upstream, b->data + b->off + b->len, buf_space(b));
		if (n > 0)
			b->len += (size_t)n;
		else if (n == -EPIPE)
			*eof = true;
		return n == -EPIPE ? 0 : (int)n;
	}
	n = read(fd, b->data + b->off + b->len, buf_space(b));
	if (n > 0) {
		b->len += (size_t)n;
		return (int)n;
	}
	if (n == 0) {
		*eof = true;
		return 0;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

int conn_write_side(struct conn *c, bool upstream, struct buf *b)
{
	struct ward_tls *t = upstream ? c->utls : c->ctls;
	int fd = upstream ? c->ufd : c->cfd;
	ssize_t n;

	if (!b->len)
		return 0;
	if (t) {
		n = tls_side_write(c, upstream, b->data + b->off, b->len);
		if (n > 0)
			buf_consume(b, (size_t)n);
		return (int)n;
	}
	n = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
	if (n > 0) {
		buf_consume(b, (size_t)n);
		return (int)n;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

static int read_into(struct conn *c, bool upstream, struct buf *b, bool *eof)
{
	return conn_read_side(c, upstream, b, eof);
}

static int write_from(struct conn *c, bool upstream, struct buf *b)
{
	return conn_write_side(c, upstream, b);
}

/* One direction of a plain tunnel: src -> pipe -> dst. Bytes still in the
 * buffer (the CONNECT reply, bytes read while sniffing) go out first. */
static int splice_dir(struct conn *c, int src, int dst, int p[2], size_t *in_pipe,
		      struct buf *pending, bool *src_eof, bool can_read)
{
	ssize_t n;

	if (pending->len) {
		n = send(dst, pending->data + pending->off, pending->len, MSG_NOSIGNAL);
		if (n > 0)
			buf_consume(pending, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (pending->len)
			return 0;
	}
	/* Move until both ends would block (bounded): one wakeup carries as much
	 * as the socket buffers hold, not one pipe's worth per epoll round. */
	for (int round = 0; round < 16; round++) {
		bool moved = false;

		if (can_read && !*src_eof && *in_pipe < PIPE_BUF_SZ) {
			n = splice(src, NULL, p[1], NULL, PIPE_BUF_SZ - *in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				*in_pipe += (size_t)n;
				moved = true;
			} else if (n == 0) {
				*src_eof = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
		if (*in_pipe) {
			n = splice(p[0], NULL, dst, NULL, *in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				*in_pipe -= (size_t)n;
				moved = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
		if (!moved)
			break;
		set_deadline(c, c->px->lim.idle_tunnel_ms);
	}
	return 0;
}

static void splice_event(struct conn *c, bool upstream, uint32_t events)
{
	bool rd = events & (EPOLLIN | EPOLLHUP | EPOLLERR);

	/* the readable side feeds the other; the writable side drains what waits for it */
	if (splice_dir(c, c->cfd, c->ufd, c->pipe_cu, &c->in_cu, &c->to_u, &c->c_eof,
		       !upstream && rd) < 0 ||
	    splice_dir(c, c->ufd, c->cfd, c->pipe_uc, &c->in_uc, &c->to_c, &c->u_eof,
		       upstream && rd) < 0) {
		c->dead = true;
		return;
	}
	if (c->c_eof && !c->to_u.len && !c->in_cu && !c->u_shut) {
		shutdown(c->ufd, SHUT_WR);
		c->u_shut = true;
	}
	if (c->u_eof && !c->to_c.len && !c->in_uc && !c->c_shut) {
		shutdown(c->cfd, SHUT_WR);
		c->c_shut = true;
	}
	if (c->u_shut && c->c_shut)
		c->dead = true;
}

void conn_pump(struct conn *c)
{
	switch (c->state) {
	case S_SNIFF:
		sniff(c);
		break;
	case S_HTTP:
		if (c->inf)
			inference_conn_pump(c); /* inference.local (i1) */
		else
			http_process(c);
		break;
	case S_TUNNEL:
		/* half-close: pass each side's EOF on once its bytes are out */
		if (c->c_eof && !c->to_u.len && !c->u_shut && c->ufd >= 0) {
			shutdown(c->ufd, SHUT_WR);
			c->u_shut = true;
		}
		if (c->u_eof && !c->to_c.len && !c->c_shut) {
			shutdown(c->cfd, SHUT_WR);
			c->c_shut = true;
		}
		if (c->u_shut && c->c_shut)
			c->dead = true;
		break;
	case S_CLOSING:
		if (!c->to_c.len || c->c_eof)
			c->dead = true;
		break;
	case S_HEAD:
	case S_RESOLVE:
	case S_CONNECT:
		if (c->c_eof && c->state != S_HEAD)
			c->dead = true;
		break;
	case S_IDENT:
	case S_TLS_UP:
	case S_TLS_CLIENT:
		break;
	}
}

static int read_upstream(struct conn *c)
{
	int r = read_into(c, true, &c->to_c, &c->u_eof);

	if (r < 0) {
		c->u_eof = true;
		if (c->state == S_TUNNEL)
			c->dead = true;
	} else if (r > 0 && c->state == S_HTTP) {
		/* read_into may have compacted: the new bytes are the last r */
		http_upstream_data(c, c->to_c.data + c->to_c.off + c->to_c.len - r, (size_t)r);
	}
	if (r > 0)
		set_deadline(c, c->state == S_TUNNEL ? c->px->lim.idle_tunnel_ms
						     : c->px->lim.idle_http_ms);
	return r;
}

static void read_client(struct conn *c)
{
	struct buf *dst = c->state == S_TUNNEL ? &c->to_u : &c->from_c;
	int r = read_into(c, false, dst, &c->c_eof);

	if (r < 0) {
		c->c_eof = true;
		c->dead = true;
	}
	if (r > 0 && c->state == S_TUNNEL)
		set_deadline(c, c->px->lim.idle_tunnel_ms);
}

void conn_event(struct conn *c, bool upstream, uint32_t events)
{
	int r;

	if (c->state == S_TLS_UP || c->state == S_TLS_CLIENT) {
		tls_step(c);
		finish_entry(c);
		return;
	}
	if (c->state == S_IDENT) {
		finish_entry(c);
		return;
	}
	if (c->state == S_TUNNEL && c->pipe_cu[0] >= 0) {
		splice_event(c, upstream, events);
		finish_entry(c);
		return;
	}
	if (upstream && c->inf) {
		inference_conn_io(c, events); /* inference.local's upstream leg (i1) */
	} else if (upstream) {
		if (c->state == S_CONNECT) {
			check_connect(c);
			finish_entry(c);
			return;
		}
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) || c->utls)
			r = read_upstream(c);
		if (!c->dead && (events & EPOLLOUT || c->utls) && c->ufd >= 0) {
			r = write_from(c, true, &c->to_u);
			if (r < 0)
				c->dead = true;
		}
	} else {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) || c->ctls)
			read_client(c);
		if (!c->dead && (events & EPOLLOUT || c->ctls)) {
			r = write_from(c, false, &c->to_c);
			if (r < 0)
				c->dead = true;
		}
	}
	/* flush what became ready without waiting for another event; TLS sides
	 * may hold decrypted bytes epoll cannot signal: read them now */
	for (int round = 0; round < 8 && !c->dead; round++) {
		bool more = false;

		if (c->ufd >= 0 && c->state != S_CONNECT && c->state != S_RESOLVE && c->to_u.len &&
		    write_from(c, true, &c->to_u) < 0)
			c->dead = true;
		if (!c->dead)
			conn_pump(c);
		if (!c->dead && c->to_c.len && write_from(c, false, &c->to_c) < 0)
			c->dead = true;
		if (!c->dead && c->state == S_CLOSING && !c->to_c.len)
			c->dead = true;
		if (!c->dead && c->state == S_TUNNEL)
			conn_pump(c);
		if (c->dead)
			break;
		if (c->utls && ward_tls_pending(c->utls) && buf_space(&c->to_c) &&
		    c->ufd >= 0 && (c->state == S_HTTP || c->state == S_TUNNEL)) {
			read_upstream(c);
			more = true;
		}
		if (c->ctls && ward_tls_pending(c->ctls) && !c->c_eof &&
		    buf_space(c->state == S_TUNNEL ? &c->to_u : &c->from_c) &&
		    (c->state == S_TUNNEL || (c->state == S_HTTP && c->phase != H_WAIT_RESP))) {
			read_client(c);
			more = true;
		}
		if (!more)
			break;
	}
	finish_entry(c);
}
