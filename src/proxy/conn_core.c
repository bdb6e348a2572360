// SPDX-License-Identifier: MIT
/* The transport core of a proxied connection (proxy_internal.h): its fds and
 * buffers, TLS I/O on either side, epoll interest (every epoll_ctl checked),
 * deadlines, connecting to the decided upstream (resolve, SSRF rules on every
 * address, connect, optional upstream TLS handshake), ward's own responses,
 * rows, and close. What the bytes mean is the current mode's (c->mode): the
 * core calls it only through its ops. Entry points (conn_event,
 * conn_timeout, conn_resolved) close the connection at their end when it is
 * marked dead, so nothing below them ever touches freed memory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "proxy/cred.h"
#include "proxy/inference.h"
#include "proxy/proxy_internal.h"
#include "proxy/ssrf.h"
#include "proxy/tls.h"

/* Reasons are one-line texts in fixed buffers: cutting a long host name short is fine. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- the policy generation decisions are made under ---- */

/* The policy new decisions use: the last generation applied, picked up here
 * (one atomic load unless something was applied). Loop thread only. */
const struct ward_policy *proxy_policy(struct ward_proxy *px)
{
	uint64_t a = atomic_load_explicit(&px->applied, memory_order_acquire);

	if (a != px->seen) {
		struct ward_gen *g;
		struct ward_cred_store *creds;
		struct ward_inference *inf;

		/* the generation and what was derived from it, as one (apply holds
		 * the same lock while it installs them) */
		pthread_mutex_lock(&px->creds_lock);
		g = ward_gen_cell_get(&px->cell);
		creds = px->pending_creds;
		px->pending_creds = NULL;
		inf = px->pending_inference;
		px->pending_inference = NULL;
		pthread_mutex_unlock(&px->creds_lock);
		px->seen = a;
		if (g) {
			ward_gen_unref(px->gen);
			px->gen = g;
			px->policy = g->policy;
		}
		if (inf) {
			/* calls in flight hold their own reference to the old handle */
			if (px->inference_owned)
				ward_inference_free(px->inference);
			px->inference = inf;
			px->inference_owned = true;
		}
		if (creds) {
			/* nothing holds a store across events: the old one can go */
			if (px->creds_owned)
				ward_cred_store_free(px->creds);
			px->creds = creds;
			px->creds_owned = true;
		}
	}
	return px->policy;
}

/* The connection decides under the proxy's current generation from now on. */
void conn_adopt(struct conn *c)
{
	struct ward_proxy *px = c->px;
	const struct ward_policy *p = proxy_policy(px);

	if (c->g != px->gen) {
		ward_gen_unref(c->g);
		c->g = ward_gen_ref(px->gen);
	}
	c->policy = p;
}

void conn_row(struct conn *c, const char *layer, const char *action, const char *method,
	      const char *path, const char *rule, const char *reason)
{
	struct ward_proxy *px = c->px;
	struct ward_decision d = {
		.sandbox = px->cfg.sandbox,
		.layer = layer,
		.action = action,
		.binary = c->known && c->id.binary[0] ? c->id.binary : NULL,
		.binary_sha256 = c->sha[0] ? c->sha : NULL,
		.via = c->known && c->id.via[0] ? c->id.via : NULL,
		.pid = c->known ? c->id.pid : 0,
		.host = c->host[0] ? c->host : NULL,
		.ip = c->ip[0] ? c->ip : NULL,
		.port = c->port,
		.protocol = c->protocol,
		.method = method,
		.path = path,
		.rule = rule && *rule ? rule : NULL,
		.reason = reason,
		.policy_rev = (c->policy ? c->policy : px->policy)->rev,
		.session = c->known && c->id.session[0] ? c->id.session : NULL,
	};
	struct ward_owner owner;

	ward_peer_owner(c->known ? &c->id : NULL, &owner);
	d.has_uid = owner.has_uid;
	d.uid = owner.uid;
	d.cgroup = owner.cgroup;
	if (px->cfg.audit)
		ward_audit_submit(px->cfg.audit, &d);
}

/* ---- life ---- */

struct conn *conn_new(struct ward_proxy *px, uint32_t slot, int fd,
		      const struct sockaddr_storage *peer, bool transparent)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->from_c.data = malloc(CONN_BUF);
	c->to_u.data = malloc(CONN_BUF);
	c->to_c.data = malloc(CONN_BUF);
	if (!c->from_c.data || !c->to_u.data || !c->to_c.data) {
		free(c->from_c.data);
		free(c->to_u.data);
		free(c->to_c.data);
		free(c);
		return NULL;
	}
	c->px = px;
	c->slot = slot;
	c->gen = px->gens[slot];
	c->cfd = fd;
	c->ufd = -1;
	c->peer = *peer;
	c->transparent = transparent;
	px->conns[slot] = c;
	px->n_active++;
	return c;
}

static void ready_unlink(struct conn *c)
{
	struct ward_proxy *px = c->px;

	if (c->ready_prev)
		c->ready_prev->ready_next = c->ready_next;
	else
		px->ready_head = c->ready_next;
	if (c->ready_next)
		c->ready_next->ready_prev = c->ready_prev;
	else
		px->ready_tail = c->ready_prev;
	c->ready_prev = c->ready_next = NULL;
	c->ready = false;
	px->n_ready--;
}

void conn_ready(struct conn *c)
{
	struct ward_proxy *px = c->px;

	if (c->ready)
		return;
	c->ready = true;
	c->ready_next = NULL;
	c->ready_prev = px->ready_tail;
	if (px->ready_tail)
		px->ready_tail->ready_next = c;
	else
		px->ready_head = c;
	px->ready_tail = c;
	px->n_ready++;
}

void conn_close(struct conn *c)
{
	struct ward_proxy *px = c->px;

	if (c->ready)
		ready_unlink(c);
	if (c->mode && c->mode->close)
		c->mode->close(c);
	ward_tls_free(c->ctls);
	ward_tls_free(c->utls);
	/* closing an fd removes it from the epoll set */
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->ufd >= 0)
		close(c->ufd);
	ward_gen_unref(c->g);
	free(c->from_c.data);
	free(c->to_u.data);
	free(c->to_c.data);
	px->conns[c->slot] = NULL;
	px->gens[c->slot]++;
	px->n_active--;
	free(c);
}

void conn_finish_entry(struct conn *c)
{
	if (!c->dead)
		conn_update(c); /* a failed epoll_ctl marks it dead */
	if (c->dead)
		conn_close(c);
}

void conn_set_deadline(struct conn *c, uint32_t ms)
{
	c->deadline = ms ? ward_mono_ns() + (uint64_t)ms * 1000000ull : 0;
}

/* ---- epoll ---- */

/* Set the interest of one side; a failure (ENOMEM, ENOSPC) ends the
 * connection: a side epoll does not watch would hang it. */
int conn_watch(struct conn *c, bool upstream, uint32_t ev)
{
	uint32_t *cur = upstream ? &c->ev_u : &c->ev_c;
	struct epoll_event e = { .events = ev,
				 .data.u64 = EV(upstream ? EV_UPSTREAM : EV_CLIENT, c->slot) };

	if (ev == *cur)
		return 0;
	if (epoll_ctl(c->px->epfd, EPOLL_CTL_MOD, upstream ? c->ufd : c->cfd, &e) < 0) {
		c->dead = true;
		return -errno;
	}
	*cur = ev;
	return 0;
}

/* The interest of a buffered exchange: read a side while its destination
 * has room, write a side while bytes wait for it, plus what TLS asked for. */
void conn_buffered_interest(struct conn *c, bool client_read, uint32_t *ret_client,
			    uint32_t *ret_upstream)
{
	uint32_t ec = 0, eu = 0;

	if (client_read && !c->c_eof)
		ec |= EPOLLIN;
	if (c->to_c.len)
		ec |= EPOLLOUT;
	if (c->ctls)
		ec |= c->c_tls_ev;
	if (!c->u_eof && buf_space(&c->to_c) > 0)
		eu |= EPOLLIN;
	if (c->to_u.len)
		eu |= EPOLLOUT;
	if (c->utls)
		eu |= c->u_tls_ev;
	*ret_client = ec;
	*ret_upstream = eu;
}

void conn_update(struct conn *c)
{
	uint32_t ec = 0, eu = 0;

	switch (c->state) {
	case S_RESOLVE:
	case S_CONNECT:
	case S_TLS_UP:
	case S_CLOSING:
		/* the core's own states: the client waits (or drains ward's
		 * answer); a handshake waits for exactly what it asked for */
		if (c->to_c.len && c->state != S_TLS_UP)
			ec = EPOLLOUT;
		if (c->state == S_CONNECT)
			eu = EPOLLOUT;
		else if (c->state == S_TLS_UP)
			eu = c->u_tls_ev;
		break;
	case S_HEAD:
	case S_SNIFF:
	case S_IDENT:
	case S_TLS_CLIENT:
	case S_TUNNEL:
	case S_HTTP:
		c->mode->interest(c, &ec, &eu);
		break;
	}
	if (c->cfd >= 0)
		conn_watch(c, false, ec);
	if (c->ufd >= 0 && !c->dead)
		conn_watch(c, true, eu);
}

/* ---- ward's own answers ---- */

/* The one writer of ward's own responses (denials, errors): resp (malloc'd,
 * taken) goes to the client, then the connection closes. Between requests,
 * to_c holds complete responses the client has not read yet (an inference
 * call's, a pipelined request's predecessor's): they go first. In the middle
 * of a response, what is there is a partial response: replaced. */
void conn_respond(struct conn *c, char *resp, size_t len)
{
	bool between = c->mode && c->mode->between && c->mode->between(c);

	if (!between)
		c->to_c.off = c->to_c.len = 0;
	if (!resp || buf_append(&c->to_c, resp, len) < 0) {
		/* no room after what is pending: that still goes out, then close */
		if (!c->to_c.len)
			c->dead = true;
	}
	free(resp);
	c->close_after = true;
	c->state = S_CLOSING;
	conn_set_deadline(c, c->px->lim.flush_ms);
	conn_close_upstream(c);
}

void conn_fail(struct conn *c, int status, const char *error, const char *reason)
{
	size_t len = 0;
	char *resp;

	if (!c->speaks_http) {
		c->dead = true;
		return;
	}
	resp = error_response(status, error, reason, &len);
	conn_respond(c, resp, len);
}

/* A request ward cannot read: a row, then 4xx. */
void conn_malformed(struct conn *c, int status, const char *reason)
{
	char why[160];

	snprintf(why, sizeof(why), "malformed request: %s", reason ? reason : "bad request");
	if (!c->protocol)
		c->protocol = "http";
	conn_row(c, c->transparent ? "l7" : "proxy", "deny", NULL, NULL, NULL, why);
	conn_fail(c, status ? status : 400, "bad_request", why);
}

/* What the proxy knows about this connection, for ward_request_decide. */
void conn_request_in(struct conn *c, enum ward_req_kind kind, struct ward_request_in *in)
{
	struct ward_proxy *px = c->px;

	memset(in, 0, sizeof(*in));
	in->kind = kind;
	in->req.binary = c->known && c->id.binary[0] ? c->id.binary : NULL;
	in->req.binary_keys = c->known ? c->id.keys : NULL;
	in->req.host = c->host;
	in->req.port = c->port;
	in->req.host_is_dest_ip = c->host_is_ip;
	in->tofu = c->tofu;
	in->tofu_reason = c->tofu_reason;
	in->can_terminate = px->cfg.tls_ca;
	in->can_intercept = px->cfg.tls_ca && px->cfg.tls_upstream;
	in->inference = px->inference;
	in->route_host = ward_inference_is_route_host(px->inference, c->host);
	in->learn = px->cfg.learn;
}

/* A denial: its row, then ward's 403 where the client speaks HTTP. */
void conn_deny(struct conn *c, const struct ward_request *req, const struct ward_request_verdict *v)
{
	size_t len = 0;
	char *resp;

	conn_row(c, v->layer, "deny", req->method, req->path, v->rule, v->reason);
	if (!c->speaks_http) {
		c->dead = true;
		return;
	}
	resp = deny_response(v->layer, req, &v->net, v->reason, &len);
	conn_respond(c, resp, len);
}

/* ---- TLS ---- */

static uint32_t want_ev(int r)
{
	return r == WARD_TLS_WANT_READ ? EPOLLIN : r == WARD_TLS_WANT_WRITE ? EPOLLOUT : 0;
}

static ssize_t tls_side_read(struct conn *c, bool upstream, void *p, size_t n)
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

static ssize_t tls_side_write(struct conn *c, bool upstream, const void *p, size_t n)
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

int conn_tls_server(struct conn *c, struct ward_error *err)
{
	c->ctls = ward_tls_server_new(c->px->cfg.tls_ca, c->cfd, c->host, err);
	if (!c->ctls)
		return -EPROTO;
	/* the ClientHello the transparent port sniffed, or bytes sent after CONNECT */
	if (c->from_c.len &&
	    ward_tls_set_prefix(c->ctls, c->from_c.data + c->from_c.off, c->from_c.len) < 0)
		return ward_errx(err, -ENOMEM, "TLS: out of memory");
	c->from_c.off = c->from_c.len = 0;
	return 0;
}

int conn_tls_handshake(struct conn *c, bool upstream)
{
	int r = ward_tls_handshake(upstream ? c->utls : c->ctls);
	uint32_t *ev = upstream ? &c->u_tls_ev : &c->c_tls_ev;

	if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
		*ev = want_ev(r);
		return 0;
	}
	*ev = 0;
	return r < 0 ? r : 1;
}

/* ---- side I/O ---- */

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

static uint32_t idle_ms(const struct conn *c)
{
	return c->state == S_TUNNEL ? c->px->lim.idle_tunnel_ms : c->px->lim.idle_http_ms;
}

static int read_upstream(struct conn *c)
{
	int r = conn_read_side(c, true, &c->to_c, &c->u_eof);

	if (r < 0) {
		c->u_eof = true;
		if (c->state == S_TUNNEL)
			c->dead = true;
	} else if (r > 0 && c->mode->on_upstream_data) {
		/* the read may have compacted: the new bytes are the last r */
		c->mode->on_upstream_data(c, c->to_c.data + c->to_c.off + c->to_c.len - r,
					  (size_t)r);
	}
	if (r > 0)
		conn_set_deadline(c, idle_ms(c));
	return r;
}

static void read_client(struct conn *c, bool raw)
{
	int r = conn_read_side(c, false, raw ? &c->to_u : &c->from_c, &c->c_eof);

	if (r < 0) {
		c->c_eof = true;
		c->dead = true;
	}
	if (r > 0 && raw)
		conn_set_deadline(c, idle_ms(c));
}

static bool core_state(const struct conn *c)
{
	return c->state == S_CONNECT || c->state == S_RESOLVE || c->state == S_TLS_UP;
}

void conn_relay_event(struct conn *c, bool upstream, uint32_t events, bool client_raw,
		      bool (*client_wanted)(const struct conn *c))
{
	if (upstream) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) || c->utls)
			read_upstream(c);
		if (!c->dead && (events & EPOLLOUT || c->utls) && c->ufd >= 0 &&
		    conn_write_side(c, true, &c->to_u) < 0)
			c->dead = true;
	} else {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) || c->ctls)
			read_client(c, client_raw);
		if (!c->dead && (events & EPOLLOUT || c->ctls) &&
		    conn_write_side(c, false, &c->to_c) < 0)
			c->dead = true;
	}
	/* flush what became ready without waiting for another event; TLS sides
	 * may hold decrypted bytes epoll cannot signal: read them now */
	for (int round = 0; round < 8 && !c->dead; round++) {
		bool more = false;

		if (c->ufd >= 0 && !core_state(c) && c->to_u.len &&
		    conn_write_side(c, true, &c->to_u) < 0)
			c->dead = true;
		if (!c->dead && c->state != S_CLOSING && !core_state(c))
			c->mode->pump(c);
		/* what the mode just put there (a request head) goes now, not
		 * after another epoll round: no EPOLLOUT to arm and disarm */
		if (!c->dead && c->ufd >= 0 && !core_state(c) && c->to_u.len &&
		    conn_write_side(c, true, &c->to_u) < 0)
			c->dead = true;
		if (!c->dead && c->to_c.len && conn_write_side(c, false, &c->to_c) < 0)
			c->dead = true;
		if (!c->dead && c->state == S_TUNNEL) /* a half-close may be due now */
			c->mode->pump(c);
		if (!c->dead && c->state == S_CLOSING && (!c->to_c.len || c->c_eof))
			c->dead = true;
		if (c->dead || c->state == S_CLOSING || core_state(c))
			break;
		if (c->utls && ward_tls_pending(c->utls) && buf_space(&c->to_c) && c->ufd >= 0) {
			read_upstream(c);
			more = true;
		}
		if (c->ctls && ward_tls_pending(c->ctls) && !c->c_eof && client_wanted(c)) {
			read_client(c, client_raw);
			more = true;
		}
		if (!more)
			break;
	}
}

/* The client while the core connects upstream, or while ward's answer goes
 * out (S_CLOSING): bytes for it are written; a client gone ends it. */
static void waiting_event(struct conn *c, bool upstream, uint32_t events)
{
	if (upstream) {
		/* not the core's upstream: a mode's own leg (inference.local) */
		if (c->ufd < 0 && c->state == S_CLOSING)
			c->mode->on_event(c, upstream, events);
		return;
	}
	if (c->state != S_CLOSING) {
		if (events & (EPOLLHUP | EPOLLERR))
			c->dead = true; /* the client gave up */
		else if (events & EPOLLOUT && conn_write_side(c, false, &c->to_c) < 0)
			c->dead = true;
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR))
		c->c_eof = true;
	if (c->to_c.len && conn_write_side(c, false, &c->to_c) < 0)
		c->dead = true;
	if (!c->to_c.len || c->c_eof)
		c->dead = true;
}

/* ---- connecting upstream ---- */

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t sz)
{
	const void *a = ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

void conn_close_upstream(struct conn *c)
{
	if (c->ufd < 0)
		return;
	ward_tls_free(c->utls);
	c->utls = NULL;
	c->u_tls_ev = 0;
	close(c->ufd); /* closing removes it from the epoll set */
	c->ufd = -1;
	c->ev_u = 0;
}

static void upstream_failed(struct conn *c, int status, const char *error, const char *reason)
{
	conn_row(c, c->mode->layer, "deny", NULL, NULL, c->v.rule_name, reason);
	conn_fail(c, status, error, reason);
}

static void upstream_tls_step(struct conn *c)
{
	int r = conn_tls_handshake(c, true);
	char reason[400];

	if (r == 0)
		return;
	if (r > 0) {
		c->mode->on_upstream_ready(c);
		return;
	}
	snprintf(reason, sizeof(reason), "%s",
		 r == WARD_TLS_CLOSED || !ward_tls_error(c->utls)[0]
			 ? "TLS handshake with the upstream: connection closed"
			 : ward_tls_error(c->utls));
	upstream_failed(c, 502, "upstream_tls", reason);
}

static void connected(struct conn *c)
{
	struct ward_error err = { 0 };

	if (!c->up_tls) {
		c->mode->on_upstream_ready(c);
		return;
	}
	c->utls = ward_tls_client_new(c->px->cfg.tls_upstream, c->ufd, c->host, &err);
	if (!c->utls) {
		upstream_failed(c, 502, "upstream_tls", err.msg);
		return;
	}
	c->state = S_TLS_UP;
	conn_set_deadline(c, c->px->lim.connect_timeout_ms);
	upstream_tls_step(c);
}

static void connect_next(struct conn *c)
{
	char reason[200];

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
		ev = (struct epoll_event){ .events = EPOLLOUT,
					   .data.u64 = EV(EV_UPSTREAM, c->slot) };
		if (epoll_ctl(c->px->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			c->last_connect_err = errno;
			close(fd);
			continue;
		}
		c->ufd = fd;
		c->ev_u = EPOLLOUT;
		c->state = S_CONNECT;
		return;
	}
	snprintf(reason, sizeof(reason), "connect to %s port %u: %s", c->host, c->port,
		 strerror(c->last_connect_err ? c->last_connect_err : ECONNREFUSED));
	upstream_failed(c, 502, "upstream_unreachable", reason);
}

static void check_connect(struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0) {
		connected(c);
		return;
	}
	c->last_connect_err = soerr;
	conn_close_upstream(c);
	connect_next(c);
}

/* Keep only addresses the SSRF rules allow for the decided endpoint. */
static int validate_addrs(struct conn *c, const struct sockaddr_storage *in, size_t n, char *why,
			  size_t whysz)
{
	bool allow_private = c->v.allow_private || (c->host_is_ip && c->id.allowed_ip);

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
	struct ward_request_in in;
	struct ward_request_verdict v = { .outcome = WARD_REQ_DENY, .layer = "proxy", .row = true };

	conn_request_in(c, WARD_REQ_TCP, &in);
	v.net = c->v;
	v.net.action = WARD_ACTION_DENY;
	v.net.failed = WARD_FAILED_HOST;
	v.net.closest = v.net.policy;
	snprintf(v.net.why, sizeof(v.net.why), "%s resolves to an address the SSRF rules block",
		 c->host);
	snprintf(v.net.hint, sizeof(v.net.hint),
		 "declare the exact host %s, or add the address to allowed_ips of the endpoint",
		 c->host);
	v.action = "deny";
	v.rule = v.net.closest ? v.net.closest->key : NULL;
	snprintf(v.reason, sizeof(v.reason), "%s", why);
	conn_deny(c, &in.req, &v);
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
		upstream_failed(c, 502, "upstream_unresolvable", reason);
	} else {
		start_connect(c, res->addrs, res->n);
	}
	conn_finish_entry(c);
}

int conn_connect_upstream(struct conn *c)
{
	struct sockaddr_storage ss;
	uint64_t tag = (uint64_t)c->gen << 32 | c->slot;
	int r;

	c->state = S_RESOLVE;
	c->u_eof = false;
	conn_set_deadline(c, c->px->lim.connect_timeout_ms);
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
		conn_row(c, "proxy", "deny", NULL, NULL, "limits",
			 "too many name lookups in progress");
		conn_fail(c, 503, "resolver_busy", "too many name lookups in progress");
	}
	return r;
}

/* ---- entry points ---- */

void conn_event(struct conn *c, bool upstream, uint32_t events)
{
	switch (c->state) {
	case S_CONNECT:
		if (upstream)
			check_connect(c);
		else
			waiting_event(c, upstream, events);
		break;
	case S_TLS_UP:
		if (upstream)
			upstream_tls_step(c);
		else
			waiting_event(c, upstream, events);
		break;
	case S_RESOLVE:
	case S_CLOSING:
		waiting_event(c, upstream, events);
		break;
	case S_HEAD:
	case S_SNIFF:
	case S_IDENT:
	case S_TLS_CLIENT:
	case S_TUNNEL:
	case S_HTTP:
		c->mode->on_event(c, upstream, events);
		break;
	}
	conn_finish_entry(c);
}

/* Those queued before this call, once each, in order: one that queues itself
 * again waits for the next round (after epoll_wait: the others' events go
 * first). */
void conn_run_ready(struct ward_proxy *px)
{
	for (uint32_t n = px->n_ready; n && px->ready_head; n--) {
		struct conn *c = px->ready_head;

		ready_unlink(c);
		if (c->mode && c->mode->resume)
			c->mode->resume(c);
		conn_finish_entry(c);
	}
}

void conn_timeout(struct conn *c)
{
	switch (c->state) {
	case S_RESOLVE:
	case S_CONNECT:
		upstream_failed(c, 504, "upstream_timeout", "upstream connect timeout");
		break;
	case S_TLS_UP:
		upstream_failed(c, 504, "upstream_timeout",
				"TLS handshake with the upstream timed out");
		break;
	case S_CLOSING:
		c->dead = true;
		break;
	case S_HEAD:
	case S_SNIFF:
	case S_IDENT:
	case S_TLS_CLIENT:
	case S_TUNNEL:
	case S_HTTP:
		c->mode->on_timeout(c);
		break;
	}
	conn_finish_entry(c);
}
