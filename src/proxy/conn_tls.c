// SPDX-License-Identifier: MIT
/* TLS interception of protocol: rest endpoints (docs/tls.md): once the
 * connection-level decision allowed the host, ward connects to the validated
 * address, completes TLS with the upstream first (a verification failure is
 * then a clean 502 to CONNECT), answers CONNECT, and terminates the client's
 * TLS with a leaf for the decided host. From there the connection is an
 * HTTP/1.1 exchange like any other (conn_http.c), its bytes moving through
 * ward_tls_read/write (conn_read_side/conn_write_side). The CA, its leaf
 * cache and the upstream context are used only from the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"
#include "proxy/tls.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static uint32_t want_ev(int r)
{
	return r == WARD_TLS_WANT_READ ? EPOLLIN : r == WARD_TLS_WANT_WRITE ? EPOLLOUT : 0;
}

ssize_t tls_side_read(struct conn *c, bool upstream, void *p, size_t n)
{
	struct ward_tls *t = upstream ? c->utls : c->ctls;
	uint32_t *ev = upstream ? &c->u_tls_ev : &c->c_tls_ev;
	ssize_t r = ward_tls_read(t, p, n);

	if (r > 0) {
		*ev = 0;
		return r;
	}
	switch (r) {
	case WARD_TLS_WANT_READ:
	case WARD_TLS_WANT_WRITE:
		*ev = want_ev((int)r) & EPOLLOUT; /* reading: EPOLLIN is asked for anyway */
		return 0;
	case WARD_TLS_CLOSED:
		return -EPIPE;
	default:
		return -EIO;
	}
}

ssize_t tls_side_write(struct conn *c, bool upstream, const void *p, size_t n)
{
	struct ward_tls *t = upstream ? c->utls : c->ctls;
	uint32_t *ev = upstream ? &c->u_tls_ev : &c->c_tls_ev;
	ssize_t r = ward_tls_write(t, p, n);

	if (r >= 0) {
		*ev = 0;
		return r;
	}
	switch (r) {
	case WARD_TLS_WANT_READ:
		*ev = EPOLLIN;
		return 0;
	case WARD_TLS_WANT_WRITE:
		*ev = 0; /* pending bytes ask for EPOLLOUT already */
		return 0;
	default:
		return -EIO;
	}
}

void tls_conn_free(struct conn *c)
{
	ward_tls_free(c->ctls);
	ward_tls_free(c->utls);
	c->ctls = c->utls = NULL;
}

void tls_intercept_begin(struct conn *c)
{
	struct ward_error err = { 0 };

	c->utls = ward_tls_client_new(c->px->cfg.tls_upstream, c->ufd, c->host, &err);
	if (!c->utls) {
		proxy_row(c, c->intercept ? "l7" : "proxy", "deny", NULL, NULL, c->v.rule_name,
			  err.msg);
		conn_fail(c, 502, "upstream_tls", err.msg);
		return;
	}
	c->state = S_TLS_UP;
	conn_set_deadline(c, c->px->lim.connect_timeout_ms);
	tls_step(c);
}

/* Alerts a client sends when it does not trust the certificate ward showed. */
static bool rejected_ca(const char *e)
{
	return strstr(e, "unknown ca") || strstr(e, "bad certificate") ||
	       strstr(e, "certificate unknown") || strstr(e, "unsupported certificate") ||
	       strstr(e, "access denied");
}

static void client_handshake_failed(struct conn *c, int r)
{
	const char *e = ward_tls_error(c->ctls);
	char reason[400];

	if (r == WARD_TLS_CLOSED || !e[0])
		snprintf(reason, sizeof(reason),
			 "client closed the connection during the TLS handshake (client rejected "
			 "ward CA? it must trust the bundle in SSL_CERT_FILE)");
	else if (rejected_ca(e))
		snprintf(reason, sizeof(reason),
			 "client rejected ward CA (%s): it must trust the bundle in SSL_CERT_FILE",
			 e);
	else
		snprintf(reason, sizeof(reason), "%s", e);
	proxy_row(c, "proxy", "deny", NULL, NULL, c->v.rule_name, reason);
	c->dead = true;
}

static void start_client_side(struct conn *c)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct ward_error err = { 0 };

	if (!c->transparent) {
		/* the client waits for this before its ClientHello: the socket is empty */
		if (send(c->cfd, established, sizeof(established) - 1, MSG_NOSIGNAL) !=
		    (ssize_t)(sizeof(established) - 1)) {
			c->dead = true;
			return;
		}
	}
	c->speaks_http = false;
	c->ctls = ward_tls_server_new(c->px->cfg.tls_ca, c->cfd, c->host, &err);
	if (!c->ctls) {
		proxy_row(c, "proxy", "deny", NULL, NULL, c->v.rule_name, err.msg);
		c->dead = true;
		return;
	}
	/* the ClientHello the transparent port sniffed, or bytes sent after CONNECT */
	if (c->from_c.len &&
	    ward_tls_set_prefix(c->ctls, c->from_c.data + c->from_c.off, c->from_c.len) < 0) {
		c->dead = true;
		return;
	}
	c->from_c.off = c->from_c.len = 0;
	c->state = S_TLS_CLIENT;
	conn_set_deadline(c, c->px->lim.request_timeout_ms);
}

void tls_step(struct conn *c)
{
	int r;

	if (c->state == S_TLS_UP) {
		r = ward_tls_handshake(c->utls);
		if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
			c->u_tls_ev = want_ev(r);
			return;
		}
		c->u_tls_ev = 0;
		if (r < 0) {
			char reason[400];

			snprintf(reason, sizeof(reason), "%s",
				 r == WARD_TLS_CLOSED || !ward_tls_error(c->utls)[0]
					 ? "TLS handshake with the upstream: connection closed"
					 : ward_tls_error(c->utls));
			proxy_row(c, c->intercept ? "l7" : "proxy", "deny", NULL, NULL,
				  c->v.rule_name, reason);
			conn_fail(c, 502, "upstream_tls", reason);
			return;
		}
		if (c->intercept) {
			/* a reconnect under an intercepted connection: the request waits in to_u */
			c->state = S_HTTP;
			conn_set_deadline(c, c->px->lim.idle_http_ms);
			http_upstream_ready(c);
			return;
		}
		start_client_side(c);
		if (c->dead)
			return;
	}
	if (c->state != S_TLS_CLIENT)
		return;
	r = ward_tls_handshake(c->ctls);
	if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
		c->c_tls_ev = want_ev(r);
		return;
	}
	c->c_tls_ev = 0;
	if (r < 0) {
		client_handshake_failed(c, r);
		return;
	}
	c->intercept = true;
	c->speaks_http = true;
	c->protocol = "https";
	c->after = AFTER_HTTP;
	c->state = S_HTTP;
	c->phase = H_WAIT_REQ;
	http_upstream_ready(c);
	conn_set_deadline(c, c->px->lim.request_timeout_ms);
}

void tls_intercept_local(struct conn *c)
{
	c->served_locally = true;
	proxy_row(c, "proxy", "allow", NULL, NULL, NULL,
		  "inference.local: TLS terminated by ward, routed by the inference layer");
	start_client_side(c);
	if (!c->dead)
		tls_step(c);
}
