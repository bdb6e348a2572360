// SPDX-License-Identifier: MIT
/* Setup of a proxied connection, until a mode takes it over: identity at
 * accept (the lookup callback, TOFU), sniffing on the transparent port, the
 * first request head on the explicit port (CONNECT, or HTTP forwarding), the
 * connection-level decision (ward_request_decide) and the mode it leads to:
 * tunnel, TLS interception, ward's own TLS for inference.local, HTTP. After
 * a live apply, connections decided once for all their bytes are decided
 * again here (conn_revalidate). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/util.h"
#include "policy/request.h"
#include "proxy/proxy_internal.h"
#include "proxy/sni.h"

/* Reasons are one-line texts in fixed buffers: cutting a long host name short is fine. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t sz)
{
	const void *a = ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

static void drop_http(struct conn *c)
{
	if (c->http)
		http_mode.close(c);
}

static enum ward_req_kind conn_kind(const struct conn *c)
{
	if (!c->transparent)
		return WARD_REQ_CONNECT; /* the explicit port decides connections for CONNECT */
	return !strcmp(c->protocol, "tls") || !strcmp(c->protocol, "https") ? WARD_REQ_TLS
									    : WARD_REQ_TCP;
}

/* A connection-level decision (CONNECT, transparent TLS or raw TCP), and
 * the mode it leads to. */
static void decide_connection(struct conn *c)
{
	struct ward_request_in in;
	struct ward_request_verdict v;

	drop_http(c); /* no HTTP of ward's own on this connection from here */
	conn_request_in(c, conn_kind(c), &in);
	conn_adopt(c);
	ward_request_decide(c->policy, &in, &v);
	c->v = v.net;
	switch (v.outcome) {
	case WARD_REQ_DENY:
		conn_deny(c, &in.req, &v);
		return;
	case WARD_REQ_INFERENCE:
		/* https://inference.local or a route's provider host: ward is the
		 * server, the inference layer picks the upstream */
		conn_row(c, v.layer, v.action, NULL, NULL, v.rule, v.reason);
		tls_serve_local(c);
		return;
	case WARD_REQ_INTERCEPT:
		/* protocol: rest over TLS: terminate it and decide request by request */
		c->mode = &tls_mode;
		c->up_tls = true;
		break;
	case WARD_REQ_ALLOW:
		c->mode = &tunnel_mode;
		break;
	case WARD_REQ_REFUSE:
	case WARD_REQ_MISDIRECTED:
		/* HTTP requests only */
		conn_fail(c, 500, "internal_error", "unexpected verdict for a connection");
		return;
	}
	conn_row(c, v.layer, v.action, NULL, NULL, v.rule, v.reason);
	conn_connect_upstream(c);
}

/* A new generation was applied: a connection whose destination was decided
 * once for all its bytes (tunnels, transparent connections, intercepted TLS
 * sessions, also while they connect) is decided again; false when the new
 * generation denies it (its row written, c->dead set, the caller closes it).
 * Plain HTTP keeps its upstream: each next request is decided under the new
 * generation anyway. */
bool conn_redecide(struct conn *c)
{
	struct ward_request_in in;
	struct ward_request_verdict v;
	char reason[128];
	bool connection_level = false;

	switch (c->state) {
	case S_TUNNEL:
	case S_RESOLVE:
	case S_CONNECT:
	case S_TLS_UP:
	case S_TLS_CLIENT:
		connection_level = c->mode != &http_mode || c->intercept;
		break;
	case S_HTTP:
		connection_level = c->intercept;
		break;
	case S_HEAD:
	case S_SNIFF:
	case S_IDENT:
	case S_CLOSING:
		connection_level =
			false; /* not decided yet (it will be, under the new one), or done */
		break;
	}
	if (!connection_level || c->served_locally || c->tofu)
		return true;
	conn_request_in(c, conn_kind(c), &in);
	conn_adopt(c);
	ward_request_decide(c->policy, &in, &v);
	c->v = v.net; /* c->v pointed into the old generation's policy */
	if (v.outcome != WARD_REQ_DENY)
		return true;
	snprintf(reason, sizeof(reason), "revoked by policy rev %s", c->policy->rev);
	conn_row(c, "proxy", "deny", NULL, NULL, v.rule, reason);
	c->dead = true;
	return false;
}

/* The loop's sweep after an apply (proxy.c): closes what the new generation
 * denies ("revoked by policy rev R"). */
void conn_revalidate(struct conn *c)
{
	if (!conn_redecide(c))
		conn_finish_entry(c);
}

/* ---- transparent: what the first bytes say ---- */

static void sniff_raw(struct conn *c)
{
	addr_text(&c->id.orig, c->host, sizeof(c->host));
	c->host_is_ip = true;
	c->protocol = "tcp";
	decide_connection(c);
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
		decide_connection(c);
		return;
	case WARD_SNI_NEED_MORE:
		if (buf_space(&c->from_c) == 0)
			sniff_raw(c);
		return;
	case WARD_SNI_MALFORMED:
		c->protocol = "tls";
		conn_row(c, "proxy", "deny", NULL, NULL, NULL, "malformed TLS ClientHello");
		c->dead = true;
		return;
	case WARD_SNI_NOT_TLS:
		break;
	}
	if (looks_http(p, n)) {
		c->protocol = "http";
		c->speaks_http = true;
		http_start(c);
		return;
	}
	sniff_raw(c);
}

/* ---- explicit: the first request head ---- */

static void first_head(struct conn *c)
{
	const struct ward_http_head *h = &c->http->req.head;
	size_t used = 0;
	int r;

	if (!c->from_c.len) {
		if (c->c_eof)
			c->dead = true;
		return;
	}
	r = ward_http_feed(&c->http->req, c->from_c.data + c->from_c.off, c->from_c.len, &used);
	if (r < 0) {
		conn_malformed(c, c->http->req.status, c->http->req.reason);
		return;
	}
	if (r == 0) {
		buf_consume(&c->from_c, c->from_c.len);
		if (c->c_eof)
			c->dead = true;
		return;
	}
	buf_consume(&c->from_c, used);
	if (h->form != WARD_HTTP_AUTHORITY_FORM) {
		http_begin(c); /* absolute-URI forwarding: request by request */
		return;
	}
	if (!h->has_host || !h->port) {
		conn_malformed(c, 400, "CONNECT needs host:port");
		return;
	}
	snprintf(c->host, sizeof(c->host), "%s", h->host);
	c->port = h->port;
	c->protocol = "connect";
	decide_connection(c);
}

/* ---- the setup mode (S_HEAD, S_SNIFF, S_IDENT) ---- */

static void setup_pump(struct conn *c)
{
	if (c->state == S_SNIFF)
		sniff(c);
	else if (c->state == S_HEAD)
		first_head(c);
}

static bool client_wanted(const struct conn *c)
{
	return c->state != S_IDENT && buf_space(&c->from_c) > 0;
}

static void setup_event(struct conn *c, bool upstream, uint32_t events)
{
	if (c->state == S_IDENT) {
		/* bytes wait in the socket until the binary is hashed */
		if (events & (EPOLLHUP | EPOLLERR))
			c->dead = true;
		return;
	}
	conn_relay_event(c, upstream, events, false, client_wanted);
}

static void setup_timeout(struct conn *c)
{
	switch (c->state) {
	case S_SNIFF:
		/* the server speaks first (SSH, SMTP...): raw TCP by address */
		c->deadline = 0;
		sniff_raw(c);
		break;
	case S_HEAD:
		if (c->from_c.len)
			conn_fail(c, 408, "request_timeout", "request head not complete in time");
		else
			c->dead = true;
		break;
	case S_IDENT: /* no deadline: the worker answers */
	case S_RESOLVE:
	case S_CONNECT:
	case S_TLS_UP:
	case S_TLS_CLIENT:
	case S_TUNNEL:
	case S_HTTP:
	case S_CLOSING:
		break;
	}
}

static void setup_interest(struct conn *c, uint32_t *ret_client, uint32_t *ret_upstream)
{
	conn_buffered_interest(c, client_wanted(c), ret_client, ret_upstream);
}

static const struct conn_mode setup_mode = {
	.name = "setup",
	.layer = "proxy",
	.on_event = setup_event,
	.pump = setup_pump,
	.on_timeout = setup_timeout,
	.interest = setup_interest,
	.close = drop_http,
};

static void after_identity(struct conn *c)
{
	struct ward_proxy *px = c->px;

	/* a file admitted at exec for its content, then rewritten in place: the
	 * kernel still knows the inode, the content is no longer what was admitted */
	if (!c->tofu && c->id.exe_sha[0] && strcmp(c->sha, c->id.exe_sha)) {
		c->tofu = -EPERM;
		snprintf(c->tofu_reason, sizeof(c->tofu_reason),
			 "binary changed since it was admitted at exec: was %s, now %s",
			 c->id.exe_sha, c->sha[0] ? c->sha : "(not hashed)");
	}

	c->speaks_http = !c->transparent;
	if (c->transparent) {
		if (!c->known) {
			/* no record: the original destination is unknown too */
			conn_row(c, "proxy", "deny", NULL, NULL, NULL,
				 "binary unknown: no kernel identity for this connection");
			c->dead = true;
			return;
		}
		c->port = ntohs(c->id.orig.ss_family == AF_INET
					? ((struct sockaddr_in *)&c->id.orig)->sin_port
					: ((struct sockaddr_in6 *)&c->id.orig)->sin6_port);
		c->state = S_SNIFF;
		conn_set_deadline(c, px->lim.sniff_ms);
	} else {
		if (http_state_new(c) < 0) {
			c->dead = true;
			return;
		}
		c->state = S_HEAD;
		conn_set_deadline(c, px->lim.request_timeout_ms);
	}
}

void conn_accepted(struct conn *c)
{
	struct ward_proxy *px = c->px;
	int r = -ENOENT;

	c->mode = &setup_mode;
	if (px->cfg.lookup)
		r = px->cfg.lookup(px->cfg.lookup_data, (struct sockaddr *)&c->peer, &c->id);
	if (r >= 0) {
		c->known = true;
		/* every identified connection: the row names the executable that
		 * acted (the ancestor that decided goes in via), and TOFU checks it */
		if (c->id.binary[0] == '/') {
			c->tofu = ward_identity_cached(px->identity, c->id.binary, c->id.pid,
						       c->id.dev, c->id.ino, c->sha, c->tofu_reason,
						       sizeof(c->tofu_reason));
			if (c->tofu == -EAGAIN) {
				/* not hashed yet: the worker does it, the connection waits */
				c->tofu = 0;
				if (proxy_ident_submit(c) < 0)
					c->dead = true;
				else
					c->state = S_IDENT;
				conn_finish_entry(c);
				return;
			}
		}
	}
	after_identity(c);
	conn_finish_entry(c);
}

void conn_identified(struct conn *c)
{
	after_identity(c);
	/* bytes may have arrived while waiting: level-triggered epoll reports them */
	conn_finish_entry(c);
}
