// SPDX-License-Identifier: MIT
/* TLS mode: ward as the client's TLS server (docs/tls.md). Interception of
 * protocol: rest endpoints: once the connection-level decision allowed the
 * host, the core connects to the validated address and completes TLS with
 * the upstream first (a verification failure is then a clean 502 to
 * CONNECT); here ward answers CONNECT and terminates the client's TLS with a
 * leaf for the decided host. https://inference.local (and a route's provider
 * host) is the same without an upstream. From there the connection is HTTP
 * (conn_http.c), its bytes moving through the core's TLS I/O. The CA, its
 * leaf cache and the upstream context are used only from the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "proxy/proxy_internal.h"
#include "proxy/tls.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

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
	conn_row(c, "proxy", "deny", NULL, NULL, c->v.rule_name, reason);
	c->dead = true;
}

static void client_step(struct conn *c)
{
	int r = conn_tls_handshake(c, false);

	if (r == 0)
		return;
	if (r < 0) {
		client_handshake_failed(c, r);
		return;
	}
	c->intercept = true;
	c->speaks_http = true;
	c->protocol = "https";
	http_start(c);
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
	if (conn_tls_server(c, &err) < 0) {
		conn_row(c, "proxy", "deny", NULL, NULL, c->v.rule_name, err.msg);
		c->dead = true;
		return;
	}
	c->state = S_TLS_CLIENT;
	conn_set_deadline(c, c->px->lim.request_timeout_ms);
	client_step(c);
}

static void tls_event(struct conn *c, bool upstream, uint32_t events)
{
	(void)upstream;
	(void)events;
	client_step(c);
}

static void tls_timeout(struct conn *c)
{
	conn_row(c, "proxy", "deny", NULL, NULL, c->v.rule_name,
		 "TLS handshake with the client timed out (client rejected ward CA?)");
	c->dead = true;
}

static void tls_interest(struct conn *c, uint32_t *ret_client, uint32_t *ret_upstream)
{
	/* a handshake waits for exactly what it asked for; the other side is quiet */
	*ret_client = c->c_tls_ev;
	*ret_upstream = 0;
}

const struct conn_mode tls_mode = {
	.name = "tls",
	.layer = "proxy",
	.on_event = tls_event,
	.on_upstream_ready = start_client_side,
	.on_timeout = tls_timeout,
	.interest = tls_interest,
};

void tls_serve_local(struct conn *c)
{
	c->served_locally = true;
	c->mode = &tls_mode;
	start_client_side(c);
}
