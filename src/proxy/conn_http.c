// SPDX-License-Identifier: MIT
/* HTTP/1.1 through the proxy: absolute-URI forwarding on the explicit port,
 * plain HTTP on the transparent port, CONNECT as the first request of an
 * explicit connection. Every request is decided on its own (keep-alive), its
 * head rewritten to origin-form without hop-by-hop fields, its body streamed
 * with the framing http.h computed, and one request is in flight at a time:
 * the response is followed (head parsed, body framing counted, bytes relayed
 * unchanged) so ward knows when the next request may be read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/util.h"
#include "proxy/cred.h"
#include "proxy/proxy_internal.h"

int http_state_new(struct conn *c)
{
	struct http_state *hs;

	if (c->http)
		return 0;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	if (ward_http_parser_init(&hs->req, WARD_HTTP_REQUEST, NULL) < 0) {
		free(hs);
		return -ENOMEM;
	}
	if (ward_http_parser_init(&hs->resp, WARD_HTTP_RESPONSE, NULL) < 0) {
		ward_http_parser_free(&hs->req);
		free(hs);
		return -ENOMEM;
	}
	c->http = hs;
	return 0;
}

static void http_state_free(struct conn *c)
{
	if (!c->http)
		return;
	inference_conn_free(c);
	ward_http_parser_free(&c->http->req);
	ward_http_parser_free(&c->http->resp);
	free(c->http);
	c->http = NULL;
}

static bool str_is(const struct ward_http_str *s, const char *lit)
{
	return s->p && s->len == strlen(lit) && !strncasecmp(s->p, lit, s->len);
}

/* Is name listed in a Connection header's tokens? */
static bool in_connection(const struct ward_http_head *h, const struct ward_http_str *name)
{
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];
		const char *p, *end;

		if (!str_is(&hd->name, "connection"))
			continue;
		p = hd->value.p;
		end = p + hd->value.len;
		while (p < end) {
			const char *t;

			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			t = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if ((size_t)(p - t) == name->len && !strncasecmp(t, name->p, name->len))
				return true;
		}
	}
	return false;
}

static bool hop_by_hop(const struct ward_http_head *h, const struct ward_http_header *hd)
{
	static const char *const names[] = { "connection",
					     "proxy-connection",
					     "keep-alive",
					     "proxy-authorization",
					     "proxy-authenticate",
					     "te",
					     "trailer",
					     "upgrade",
					     "host",
					     NULL };

	for (size_t i = 0; names[i]; i++)
		if (str_is(&hd->name, names[i]))
			return true;
	/* fields the client marked hop-by-hop, except the framing ward relays */
	return !str_is(&hd->name, "transfer-encoding") && !str_is(&hd->name, "content-length") &&
	       in_connection(h, &hd->name);
}

/* The request head towards the upstream, in origin-form, appended to to_u
 * piece by piece (no formatting, no temporary copy of a credential). */
static int rewrite_head(struct conn *c, const struct ward_http_head *h)
{
	struct buf *b = &c->to_u;
	bool v6 = strchr(c->host, ':') != NULL;
	size_t start = b->len;
	char port[8];
	int r = 0;

#define PUT(p, n) (r = r < 0 ? r : buf_append(b, (p), (n)))
#define PUTS(lit) PUT(lit, sizeof(lit) - 1)
	PUT(h->method.p, h->method.len);
	PUTS(" ");
	PUT(h->path.p, h->path.len);
	if (h->query.p) {
		PUTS("?");
		PUT(h->query.p, h->query.len);
	}
	PUTS(" HTTP/1.1\r\nHost: ");
	if (v6)
		PUTS("[");
	PUT(c->host, strlen(c->host));
	if (v6)
		PUTS("]");
	if (c->port != (c->intercept ? 443 : 80))
		PUT(port, (size_t)snprintf(port, sizeof(port), ":%u", c->port));
	PUTS("\r\n");
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];

		if (hop_by_hop(h, hd))
			continue;
		PUT(hd->name.p, hd->name.len);
		PUTS(": ");
		PUT(hd->value.p, hd->value.len);
		PUTS("\r\n");
	}
	if (c->http->upgrade)
		PUTS("Connection: upgrade\r\nUpgrade: websocket\r\n");
	else if (!c->http->req_keep_alive)
		PUTS("Connection: close\r\n");
	PUTS("\r\n");
#undef PUTS
#undef PUT
	if (r < 0) {
		/* too large: what was appended may hold an injected credential */
		explicit_bzero(b->data + b->off + start, b->len - start);
		b->len = start;
	}
	return r;
}

/* The head with credentials swapped in (cred.h): parsed again, then rewritten
 * like any other head. Every copy of the secret is wiped after use. */
static int rewrite_injected(struct conn *c, const struct ward_cred_result *cr)
{
	struct ward_http_parser p;
	size_t used = 0;
	int r;

	if (ward_http_parser_init(&p, WARD_HTTP_REQUEST, NULL) < 0)
		return -ENOMEM;
	r = ward_http_feed(&p, cr->head, cr->head_len, &used);
	r = r == 1 ? rewrite_head(c, &p.head) : -EBADMSG;
	if (p.buf)
		explicit_bzero(p.buf, p.len);
	ward_http_parser_free(&p);
	return r;
}

static void handle_head(struct conn *c)
{
	const struct ward_http_head *h = &c->http->req.head;
	struct ward_request_in in;
	struct ward_request_verdict v;
	struct ward_request *req;
	char method[32], path[WARD_HTTP_MAX_REQUEST_LINE], query_buf[WARD_HTTP_MAX_REQUEST_LINE];
	char pathraw[WARD_HTTP_MAX_REQUEST_LINE];
	struct ward_cred_result cr = { 0 };
	bool same_upstream;
	int r;

	if (!c->transparent && !c->intercept && h->form == WARD_HTTP_AUTHORITY_FORM) {
		/* CONNECT is the first request of a connection or none (conn.c) */
		conn_malformed(c, 400, "CONNECT after other requests on this connection");
		return;
	}
	if (c->intercept && h->form != WARD_HTTP_ORIGIN_FORM &&
	    h->form != WARD_HTTP_ABSOLUTE_FORM) {
		conn_malformed(c, 400, "only origin-form requests inside TLS");
		return;
	}
	if (!c->transparent && !c->intercept && h->form != WARD_HTTP_ABSOLUTE_FORM) {
		conn_malformed(c, 400, "a proxy request needs an absolute URI (http://host/path)");
		return;
	}
	if (h->https && !c->intercept) {
		conn_fail(c, 501, "not_implemented", "https:// in a request line: use CONNECT");
		return;
	}
	if (!h->has_host) {
		conn_malformed(c, 400, "no Host");
		return;
	}
	if (h->method.len >= sizeof(method) || h->path.len >= sizeof(pathraw) ||
	    (h->query.p && h->query.len >= sizeof(query_buf))) {
		conn_malformed(c, 414, "request target too long");
		return;
	}
	/* A generation applied since this connection was decided whose sweep
	 * has not reached it yet (the request and the loop's wake-up came in
	 * one epoll batch): the connection is decided again first, so that a
	 * session the new generation revokes is closed, as the sweep would have
	 * closed it, and not answered 403 on its first request after the apply. */
	if (c->policy != proxy_policy(c->px) && !conn_redecide(c))
		return;
	memcpy(method, h->method.p, h->method.len);
	method[h->method.len] = '\0';
	memcpy(pathraw, h->path.p, h->path.len);
	pathraw[h->path.len] = '\0';
	if (h->query.p) {
		memcpy(query_buf, h->query.p, h->query.len);
		query_buf[h->query.len] = '\0';
	}
	if (c->intercept) {
		same_upstream = c->ufd >= 0;
	} else {
		same_upstream = c->ufd >= 0 && !strcmp(c->http->up_host, h->host) &&
				(c->transparent || c->http->up_port == (h->port ? h->port : 80));
		snprintf(c->host, sizeof(c->host), "%s", h->host);
		if (!c->transparent)
			c->port = h->port ? h->port : 80;
		c->host_is_ip = false;
		c->protocol = "http";
	}
	if (!same_upstream)
		c->ip[0] = '\0';

	conn_request_in(c, WARD_REQ_HTTP, &in);
	req = &in.req;
	req->host = h->host; /* intercepted: the session's name, unless fronting */
	req->host_is_dest_ip = false;
	req->method = method;
	req->path = ward_path_normalize(pathraw, path, sizeof(path)) >= 0 ? path : NULL;
	req->query = h->query.p ? query_buf : NULL;
	if (c->intercept) {
		in.tls_name = c->host;
		in.tls_rule = c->v.rule_name;
		in.host_port = h->port;
	}
	conn_adopt(c);
	ward_request_decide(c->policy, &in, &v);
	switch (v.outcome) {
	case WARD_REQ_MISDIRECTED:
		conn_row(c, v.layer, "deny", method, NULL, v.rule, v.reason);
		conn_fail(c, v.status, v.error, v.reason);
		return;
	case WARD_REQ_REFUSE:
		conn_fail(c, v.status, v.error, v.reason);
		return;
	case WARD_REQ_INFERENCE:
		/* inference routes decide for themselves (src/proxy/inference*.c) */
		inference_conn_start(c);
		return;
	case WARD_REQ_DENY:
		/* the log never holds the query: req.path is the path alone */
		if (!req->path)
			req->path = pathraw;
		c->v = v.net;
		conn_deny(c, req, &v);
		return;
	case WARD_REQ_INTERCEPT: /* connection level only */
	case WARD_REQ_ALLOW:
		break;
	}
	c->v = v.net;
	if (c->px->creds) {
		struct ward_request_cred bind = { 0 };

		/* c->intercept: this request leaves over the upstream TLS session;
		 * otherwise in clear text, where secrets go only if the credential says so */
		r = ward_cred_apply(c->px->creds, h, c->http->req.buf, h->head_len, c->host,
				    c->port, c->intercept, &cr);
		if (r == -ENOKEY) { /* its store secret is gone: nothing leaves without it */
			char why[320], rule[160];

			snprintf(why, sizeof(why), "%s: %s", cr.reason, cr.detail);
			snprintf(rule, sizeof(rule), "credential:%s", cr.credential);
			conn_row(c, "l7", "deny", method, req->path ? req->path : pathraw, rule,
				 why);
			conn_fail(c, 503, "credential_unavailable", why);
			return;
		}
		if (r < 0) {
			conn_malformed(c, 431, "request head too large with its credential");
			return;
		}
		bind.binding = cr.verdict == WARD_CRED_MISMATCH	  ? WARD_CRED_BIND_MISMATCH
			       : cr.verdict == WARD_CRED_INJECTED ? WARD_CRED_BIND_INJECTED
								  : WARD_CRED_BIND_NONE;
		bind.credential = cr.credential;
		bind.detail = cr.detail;
		bind.plain = cr.plain;
		ward_request_bind_credential(&v, &bind);
	}
	if (!req->path)
		req->path = pathraw;
	if (v.outcome == WARD_REQ_DENY) {
		c->v = v.net;
		ward_cred_result_clear(&cr);
		conn_deny(c, req, &v);
		return;
	}
	conn_row(c, v.layer, v.action, method, req->path, v.rule, v.reason);
	if (v.plain_rule[0]) /* the request goes on with the placeholder; the secret stays here */
		conn_row(c, v.layer, "deny", method, req->path, v.plain_rule,
			 WARD_CRED_REASON_PLAIN);

	c->http->req_keep_alive = h->keep_alive;
	c->http->upgrade = h->upgrade_websocket;
	r = ward_http_body_init(&c->http->req_body, h, c->v.inspect ? c->px->lim.max_body : 0);
	if (r < 0) {
		ward_cred_result_clear(&cr);
		conn_fail(c, 413, "body_too_large", "request body over the limit");
		return;
	}
	if (!same_upstream && c->ufd >= 0) {
		conn_close_upstream(c);
		c->u_eof = false;
	}
	c->to_u.off = c->to_u.len = 0;
	r = cr.verdict == WARD_CRED_INJECTED ? rewrite_injected(c, &cr) : rewrite_head(c, h);
	ward_cred_result_clear(&cr);
	if (r < 0) {
		conn_malformed(c, 431, "request head too large");
		return;
	}
	ward_http_parser_reset(&c->http->req);
	ward_http_parser_reset(&c->http->resp);
	c->http->resp.req_head = !strcmp(method, "HEAD");
	c->http->resp.req_connect = false;
	c->http->resp_in_body = false;
	c->http->phase = H_REQ_BODY;
	if (!same_upstream) {
		c->http->up_host[0] = '\0';
		c->up_tls =
			c->intercept; /* a new upstream under an intercepted connection: TLS again */
		conn_connect_upstream(c);
	}
}

static void http_upstream_ready(struct conn *c)
{
	snprintf(c->http->up_host, sizeof(c->http->up_host), "%s", c->host);
	c->http->up_port = c->port;
	c->u_eof = false;
}

static void response_done(struct conn *c)
{
	c->http->resp_in_body = false;
	if (c->http->phase == H_WAIT_RESP && c->http->req_keep_alive && c->http->resp_keep_alive) {
		c->http->phase = H_WAIT_REQ;
		return;
	}
	c->state = S_CLOSING;
	c->close_after = true;
}

/* The response head towards the client: hop-by-hop fields removed (RFC 9110
 * 7.6.1), and Connection: close when this is the last response here. A 101
 * keeps its Upgrade/Connection: they are the point of it. */
static int rewrite_resp_head(struct conn *c, const struct ward_http_head *h, const char *raw,
			     bool last)
{
	static const char *const names[] = { "connection",
					     "proxy-connection",
					     "keep-alive",
					     "proxy-authenticate",
					     "proxy-authorization",
					     "te",
					     "trailer",
					     "upgrade",
					     NULL };
	const char *line_end = memchr(raw, '\n', h->head_len);
	size_t first = line_end ? (size_t)(line_end - raw) + 1 : 0;
	bool upgrade = h->status == 101;

	if (!first || buf_append(&c->to_c, raw, first) < 0) /* the status line as received */
		return -ENOBUFS;
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];
		bool drop = false;

		if (!upgrade) {
			for (size_t k = 0; names[k] && !drop; k++)
				drop = str_is(&hd->name, names[k]);
			drop = drop || (!str_is(&hd->name, "transfer-encoding") &&
					!str_is(&hd->name, "content-length") &&
					in_connection(h, &hd->name));
		}
		if (drop)
			continue;
		if (buf_append(&c->to_c, hd->name.p, hd->name.len) < 0 ||
		    buf_append(&c->to_c, ": ", 2) < 0 ||
		    buf_append(&c->to_c, hd->value.p, hd->value.len) < 0 ||
		    buf_append(&c->to_c, "\r\n", 2) < 0)
			return -ENOBUFS;
	}
	if (!upgrade && last && buf_append(&c->to_c, "Connection: close\r\n", 19) < 0)
		return -ENOBUFS;
	return buf_append(&c->to_c, "\r\n", 2);
}

/* data: the last len bytes of to_c, just read from the upstream. Head bytes
 * are taken out of to_c (the parser keeps its own copy) and put back
 * rewritten once the head is complete; body bytes stay as they are. */
static void http_upstream_data(struct conn *c, const char *data, size_t len)
{
	char *tmp = c->px->scratch;
	bool just_head = false;

	if (c->http->resp_in_body || c->state != S_HTTP)
		goto body;
	memcpy(tmp, data, len);
	c->to_c.len -= len;
	data = tmp;
	while (len && c->state == S_HTTP) {
		size_t used = 0;
		int r;

		if (!c->http->resp_in_body) {
			r = ward_http_feed(&c->http->resp, data, len, &used);
			if (r == 0)
				return;
			if (r < 0) {
				conn_fail(c, 502, "bad_gateway",
					  "malformed response from the upstream");
				return;
			}
			data += used;
			len -= used;
			if (c->http->resp.head.informational) {
				if (buf_append(&c->to_c, c->http->resp.buf,
					       c->http->resp.head.head_len) < 0)
					c->dead = true;
				ward_http_parser_reset(&c->http->resp);
				continue;
			}
			c->http->resp_keep_alive = c->http->resp.head.keep_alive;
			if (rewrite_resp_head(c, &c->http->resp.head, c->http->resp.buf,
					      !(c->http->req_keep_alive &&
						c->http->resp_keep_alive)) < 0) {
				c->dead = true;
				return;
			}
			if (c->http->resp.head.status == 101 && c->http->upgrade) {
				/* WebSocket: the handshake request was allowed; raw from here
				 * (data is the loop's scratch, not the parser's) */
				buf_append(&c->to_c, data, len);
				http_state_free(c);
				tunnel_start(c, false);
				return;
			}
			ward_http_body_init(&c->http->resp_body, &c->http->resp.head, 0);
			c->http->resp_in_body = true;
			just_head = true;
			if (buf_append(&c->to_c, data, len) < 0) {
				c->dead = true;
				return;
			}
		}
		break;
	}
body:
	if ((len || just_head) && c->state == S_HTTP && c->http->resp_in_body) {
		size_t used = 0;
		int r = ward_http_body_feed(&c->http->resp_body, data, len, &used, NULL, NULL);

		if (r < 0) {
			c->state = S_CLOSING;
			c->close_after = true;
			return;
		}
		if (r == 1) {
			/* bytes past the response are not the client's: dropped */
			c->to_c.len -= len - used;
			response_done(c);
		}
	}
}

static void http_process(struct conn *c)
{
	/* an inference.local request owns the connection while it runs (i1) */
	for (int rounds = 0;
	     rounds < 64 && c->state == S_HTTP && !c->dead && !inference_conn_active(c); rounds++) {
		size_t used = 0;
		int r;

		switch (c->http->phase) {
		case H_WAIT_REQ:
			if (c->u_eof && c->ufd >= 0) {
				/* the upstream ended an idle keep-alive connection */
				conn_close_upstream(c);
				c->http->up_host[0] = '\0';
				c->u_eof = false;
			}
			if (!c->from_c.len) {
				if (c->c_eof)
					c->dead = true;
				return;
			}
			r = ward_http_feed(&c->http->req, c->from_c.data + c->from_c.off,
					   c->from_c.len, &used);
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
			handle_head(c);
			break;
		case H_REQ_BODY: {
			size_t n = c->from_c.len, room = buf_space(&c->to_u);

			if (c->to_u.off && room < n) {
				memmove(c->to_u.data, c->to_u.data + c->to_u.off, c->to_u.len);
				c->to_u.off = 0;
				room = buf_space(&c->to_u);
			}
			if (n > room)
				n = room;
			r = ward_http_body_feed(&c->http->req_body, c->from_c.data + c->from_c.off,
						n, &used, NULL, NULL);
			if (r < 0) {
				conn_fail(c,
					  c->http->req_body.status ? c->http->req_body.status : 400,
					  "bad_request", c->http->req_body.reason);
				return;
			}
			buf_append(&c->to_u, c->from_c.data + c->from_c.off, used);
			buf_consume(&c->from_c, used);
			if (r == 1) {
				c->http->phase = H_WAIT_RESP;
				break;
			}
			if (c->c_eof && !c->from_c.len) {
				c->dead = true; /* the client gave up mid-body */
				return;
			}
			return;
		}
		case H_WAIT_RESP:
			if (c->u_eof && c->ufd >= 0) {
				if (!c->http->resp_in_body && !c->http->resp.head.head_len &&
				    !c->to_c.len) {
					conn_fail(c, 502, "upstream_closed",
						  "the upstream closed without a response");
					return;
				}
				c->state = S_CLOSING;
				c->close_after = true;
			}
			return;
		}
	}
}

/* ---- the mode ---- */

static bool client_wanted(const struct conn *c)
{
	const struct http_state *hs = c->http;

	if (!buf_space(&c->from_c) || hs->phase == H_WAIT_RESP)
		return false;
	return hs->phase != H_REQ_BODY || buf_space(&c->to_u) >= 4096;
}

static void http_event(struct conn *c, bool upstream, uint32_t events)
{
	if (upstream && inference_conn_active(c)) {
		/* inference.local's upstream leg (i1) */
		inference_conn_io(c, events);
		conn_relay_event(c, false, 0, false, client_wanted);
		return;
	}
	conn_relay_event(c, upstream, events, false, client_wanted);
}

static void http_pump(struct conn *c)
{
	if (inference_conn_active(c)) {
		inference_conn_pump(c);
		/* done: a pipelined request may be waiting already */
		if (inference_conn_active(c) || c->dead || c->state != S_HTTP)
			return;
	}
	http_process(c);
}

static void http_interest(struct conn *c, uint32_t *ret_client, uint32_t *ret_upstream)
{
	conn_buffered_interest(c, client_wanted(c), ret_client, ret_upstream);
}

static void http_timeout(struct conn *c)
{
	if (inference_conn_active(c))
		inference_conn_timeout(c); /* inference.local (i1) */
	else if (c->http->phase == H_WAIT_RESP)
		conn_fail(c, 504, "upstream_timeout", "upstream response timeout");
	else if (c->from_c.len)
		conn_fail(c, 408, "request_timeout", "request head not complete in time");
	else
		c->dead = true;
}

static bool http_between(const struct conn *c)
{
	return c->state == S_HTTP && c->http && c->http->phase == H_WAIT_REQ;
}

static void http_connected(struct conn *c)
{
	c->state = S_HTTP;
	conn_set_deadline(c, c->px->lim.idle_http_ms);
	http_upstream_ready(c);
}

const struct conn_mode http_mode = {
	.name = "http",
	.layer = "l7",
	.on_event = http_event,
	.on_upstream_ready = http_connected,
	.pump = http_pump,
	.on_upstream_data = http_upstream_data,
	.on_timeout = http_timeout,
	.interest = http_interest,
	.between = http_between,
	.close = http_state_free,
};

void http_start(struct conn *c)
{
	if (http_state_new(c) < 0) {
		c->dead = true;
		return;
	}
	c->mode = &http_mode;
	c->state = S_HTTP;
	c->http->phase = H_WAIT_REQ;
	if (c->ufd >= 0) /* intercepted: the upstream is the session's */
		http_upstream_ready(c);
	conn_set_deadline(c, c->px->lim.request_timeout_ms);
	http_process(c);
}

void http_begin(struct conn *c)
{
	c->mode = &http_mode;
	c->state = S_HTTP;
	c->http->phase = H_WAIT_REQ;
	handle_head(c);
	http_process(c);
}
