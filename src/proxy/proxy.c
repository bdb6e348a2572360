// SPDX-License-Identifier: MIT
/* The proxy's event loop (proxy.h): listeners, accept, identity, timers,
 * resolver results. Connections live in a fixed table of max_conns slots; a
 * slot's generation number makes late resolver results for a closed
 * connection harmless. Level-triggered epoll, interest recomputed after
 * every event (proxy_conn_update). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "proxy/admission.h"
#include "proxy/proxy_internal.h"

#define EV(kind, slot) ((uint64_t)(slot) << 2 | (kind))
#define TICK_MS 250

static void set_limits(struct ward_proxy_limits *l, const struct ward_proxy_limits *in)
{
	ward_proxy_limits_resolve(l, in); /* admission.c: defaults, the fd budget */
}

static int listen_on(struct ward_proxy *px, int idx, int family, const void *addr, uint16_t port,
		     bool transparent, struct ward_error *err)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, fd;
	char txt[INET6_ADDRSTRLEN] = "?";

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ward_err(err, -errno, "proxy socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, addr, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, addr, 16);
		len = sizeof(*in6);
	}
	/* the veth address may still be tentative (IPv6 DAD): bind anyway */
	setsockopt(fd, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		   family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		int r = -errno;

		inet_ntop(family, addr, txt, sizeof(txt));
		close(fd);
		return ward_err(err, r, "proxy listen on %s port %u", txt, port);
	}
	if (port == 0) {
		len = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &len);
		port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (transparent)
		px->transparent_port = port;
	else
		px->explicit_port = port;
	px->lfd[idx] = fd;
	px->lfd_transparent[idx] = transparent;
	return 0;
}

int ward_proxy_new(const struct ward_proxy_config *cfg, struct ward_proxy **ret,
		   struct ward_error *err)
{
	struct ward_proxy *px = calloc(1, sizeof(*px));
	struct epoll_event ev;
	int r;

	if (!px)
		return ward_err(err, -ENOMEM, "proxy");
	px->cfg = *cfg;
	set_limits(&px->lim, &cfg->limits);
	px->epfd = px->stop_fd = -1;
	for (int i = 0; i < 4; i++)
		px->lfd[i] = -1;
	px->conns = calloc(px->lim.max_conns, sizeof(*px->conns));
	px->gens = calloc(px->lim.max_conns, sizeof(*px->gens));
	px->scratch = malloc(CONN_BUF);
	if (!px->conns || !px->gens || !px->scratch || admission_new(px, &px->adm) < 0) {
		r = ward_err(err, -ENOMEM, "proxy");
		goto fail;
	}
	px->epfd = epoll_create1(EPOLL_CLOEXEC);
	px->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (px->epfd < 0 || px->stop_fd < 0) {
		r = ward_err(err, -errno, "proxy epoll");
		goto fail;
	}
	r = ward_resolver_new(0, cfg->hosts_file, &px->resolver, err);
	if (r < 0)
		goto fail;
	r = ward_identity_new(cfg->log_path, &px->identity);
	if (r >= 0)
		r = proxy_ident_new(px);
	if (r < 0) {
		ward_err(err, r, "proxy identity");
		goto fail;
	}
	px->explicit_port = cfg->explicit_port ? cfg->explicit_port : 3128;
	px->transparent_port = cfg->transparent_port ? cfg->transparent_port : 3129;
	r = listen_on(px, 0, AF_INET, &cfg->listen4, px->explicit_port, false, err);
	if (r >= 0)
		r = listen_on(px, 1, AF_INET, &cfg->listen4, px->transparent_port, true, err);
	if (r >= 0 && cfg->has_listen6)
		r = listen_on(px, 2, AF_INET6, &cfg->listen6, px->explicit_port, false, err);
	if (r >= 0 && cfg->has_listen6)
		r = listen_on(px, 3, AF_INET6, &cfg->listen6, px->transparent_port, true, err);
	if (r < 0)
		goto fail;
	for (int i = 0; i < 4; i++) {
		if (px->lfd[i] < 0)
			continue;
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = EV(EV_LISTEN, i) };
		epoll_ctl(px->epfd, EPOLL_CTL_ADD, px->lfd[i], &ev);
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = EV(EV_OTHER, 0) };
	epoll_ctl(px->epfd, EPOLL_CTL_ADD, px->stop_fd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = EV(EV_OTHER, 1) };
	epoll_ctl(px->epfd, EPOLL_CTL_ADD, ward_resolver_fd(px->resolver), &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = EV(EV_OTHER, 2) };
	epoll_ctl(px->epfd, EPOLL_CTL_ADD, proxy_ident_fd(px), &ev);
	*ret = px;
	return 0;
fail:
	ward_proxy_free(px);
	return r;
}

uint16_t ward_proxy_explicit_port(const struct ward_proxy *px)
{
	return px->explicit_port;
}

uint16_t ward_proxy_transparent_port(const struct ward_proxy *px)
{
	return px->transparent_port;
}

void ward_proxy_stats(const struct ward_proxy *px, struct ward_proxy_stats *ret)
{
	ret->accepted = px->accepted;
	ret->refused_full = px->refused_full;
	ret->refused = admission_refused(px->adm);
	ret->active = px->n_active;
}

void proxy_row(struct conn *c, const char *layer, const char *action, const char *method,
	       const char *path, const char *rule, const char *reason)
{
	struct ward_proxy *px = c->px;
	struct ward_decision d = {
		.sandbox = px->cfg.sandbox,
		.layer = layer,
		.action = action,
		.binary = c->known && c->binary[0] ? c->binary : NULL,
		.binary_sha256 = c->sha[0] ? c->sha : NULL,
		.via = c->known ? ward_egress_peer_via(&c->who) : NULL,
		.pid = c->known ? c->who.pid : 0,
		.host = c->host[0] ? c->host : NULL,
		.ip = c->ip[0] ? c->ip : NULL,
		.port = c->port,
		.protocol = c->protocol,
		.method = method,
		.path = path,
		.rule = rule && *rule ? rule : NULL,
		.reason = reason,
		.policy_rev = px->cfg.policy->rev,
	};

	if (px->cfg.audit)
		ward_audit_submit(px->cfg.audit, &d);
}

static void set_interest(struct conn *c, bool upstream, uint32_t ev)
{
	uint32_t *cur = upstream ? &c->ev_u : &c->ev_c;
	struct epoll_event e = { .events = ev,
				 .data.u64 = EV(upstream ? EV_UPSTREAM : EV_CLIENT, c->slot) };

	if (ev == *cur)
		return;
	epoll_ctl(c->px->epfd, EPOLL_CTL_MOD, upstream ? c->ufd : c->cfd, &e);
	*cur = ev;
}

void proxy_conn_update(struct conn *c)
{
	uint32_t ec = 0, eu = 0;

	if (c->state == S_TLS_UP || c->state == S_TLS_CLIENT) {
		/* a handshake waits for exactly what it asked for; the other side is quiet */
		set_interest(c, false, c->state == S_TLS_CLIENT ? c->c_tls_ev : 0);
		if (c->ufd >= 0)
			set_interest(c, true, c->state == S_TLS_UP ? c->u_tls_ev : 0);
		return;
	}
	if (c->state == S_TUNNEL && c->pipe_cu[0] >= 0) {
		if (!c->c_eof && !c->to_u.len && c->in_cu < PIPE_BUF_SZ)
			ec |= EPOLLIN;
		if (c->to_c.len || c->in_uc)
			ec |= EPOLLOUT;
		if (!c->u_eof && !c->to_c.len && c->in_uc < PIPE_BUF_SZ)
			eu |= EPOLLIN;
		if (c->to_u.len || c->in_cu)
			eu |= EPOLLOUT;
		set_interest(c, false, ec);
		set_interest(c, true, eu);
		return;
	}
	if (c->cfd >= 0) {
		bool want_read = !c->c_eof && c->state != S_CLOSING && c->state != S_RESOLVE &&
				 c->state != S_CONNECT && c->state != S_IDENT;
		/* backpressure: read the client only while its destination has room */
		if (c->state == S_TUNNEL && buf_space(&c->to_u) == 0)
			want_read = false;
		if ((c->state == S_HTTP || c->state == S_HEAD || c->state == S_SNIFF) &&
		    (buf_space(&c->from_c) == 0 || (c->state == S_HTTP && c->phase == H_WAIT_RESP)))
			want_read = false;
		if (c->state == S_HTTP && c->phase == H_REQ_BODY && buf_space(&c->to_u) < 4096)
			want_read = false;
		if (want_read)
			ec |= EPOLLIN;
		if (c->to_c.len)
			ec |= EPOLLOUT;
		if (c->ctls)
			ec |= c->c_tls_ev;
		set_interest(c, false, ec);
	}
	if (c->ufd >= 0) {
		if (c->state == S_CONNECT)
			eu = EPOLLOUT;
		else {
			if (!c->u_eof && buf_space(&c->to_c) > 0)
				eu |= EPOLLIN;
			if (c->to_u.len)
				eu |= EPOLLOUT;
			if (c->utls)
				eu |= c->u_tls_ev;
		}
		set_interest(c, true, eu);
	}
}

void proxy_conn_close(struct conn *c)
{
	struct ward_proxy *px = c->px;

	tls_conn_free(c);
	inference_conn_free(c); /* inference.local (i1) */
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->ufd >= 0)
		close(c->ufd);
	for (int i = 0; i < 2; i++) {
		if (c->pipe_cu[i] >= 0)
			close(c->pipe_cu[i]);
		if (c->pipe_uc[i] >= 0)
			close(c->pipe_uc[i]);
	}
	if (c->parsers) {
		ward_http_parser_free(&c->req);
		ward_http_parser_free(&c->resp);
	}
	free(c->from_c.data);
	free(c->to_u.data);
	free(c->to_c.data);
	px->conns[c->slot] = NULL;
	px->gens[c->slot]++;
	px->n_active--;
	free(c);
}

static void do_accept(struct ward_proxy *px, int idx)
{
	for (int n = 0; n < 64; n++) {
		struct sockaddr_storage peer;
		struct epoll_event ev;
		struct conn *c;
		uint32_t slot;
		/* admission.c: a refused connection is answered and logged there */
		int fd = admission_accept(px, idx, &peer);

		if (fd == -EAGAIN)
			return;
		if (fd < 0)
			continue;
		for (slot = 0; px->conns[slot]; slot++)
			;
		c = calloc(1, sizeof(*c));
		if (c) {
			c->from_c.data = malloc(CONN_BUF);
			c->to_u.data = malloc(CONN_BUF);
			c->to_c.data = malloc(CONN_BUF);
		}
		if (!c || !c->from_c.data || !c->to_u.data || !c->to_c.data) {
			if (c) {
				free(c->from_c.data);
				free(c->to_u.data);
				free(c->to_c.data);
			}
			free(c);
			admission_refuse(px, fd, &peer, idx, -ENOMEM);
			continue;
		}
		c->px = px;
		c->slot = slot;
		c->gen = px->gens[slot];
		c->cfd = fd;
		c->ufd = -1;
		c->pipe_cu[0] = c->pipe_cu[1] = c->pipe_uc[0] = c->pipe_uc[1] = -1;
		c->peer = peer;
		c->transparent = px->lfd_transparent[idx];
		px->conns[slot] = c;
		px->n_active++;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		ev = (struct epoll_event){ .events = 0, .data.u64 = EV(EV_CLIENT, slot) };
		epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev);
		conn_accepted(c);
	}
}

static void on_resolved(void *userdata, const struct ward_resolve_result *res)
{
	struct ward_proxy *px = userdata;
	uint32_t slot = (uint32_t)res->tag, gen = (uint32_t)(res->tag >> 32);
	struct conn *c;

	if (slot >= px->lim.max_conns)
		return;
	c = px->conns[slot];
	if (!c || c->gen != gen || c->state != S_RESOLVE)
		return; /* closed or timed out meanwhile */
	conn_resolved(c, res);
}

static void tick(struct ward_proxy *px)
{
	uint64_t now = ward_mono_ns();

	for (uint32_t i = 0; i < px->lim.max_conns; i++) {
		struct conn *c = px->conns[i];

		if (c && c->deadline && now >= c->deadline)
			conn_timeout(c);
	}
	admission_tick(px);
}

static void *loop(void *arg)
{
	struct ward_proxy *px = arg;
	struct epoll_event evs[128];
	uint64_t next_tick = ward_mono_ns() + TICK_MS * 1000000ull;

	for (;;) {
		int n = epoll_wait(px->epfd, evs, 128, TICK_MS);

		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64;
			uint32_t kind = d & 3, slot = (uint32_t)(d >> 2);
			struct conn *c;

			switch (kind) {
			case EV_LISTEN:
				do_accept(px, (int)slot);
				break;
			case EV_OTHER:
				if (slot == 0)
					return NULL;
				if (slot == 2)
					proxy_ident_dispatch(px);
				else
					ward_resolver_dispatch(px->resolver, on_resolved, px);
				break;
			default:
				c = px->conns[slot];
				if (c)
					conn_event(c, kind == EV_UPSTREAM, evs[i].events);
				break;
			}
		}
		if (ward_mono_ns() >= next_tick) {
			tick(px);
			next_tick = ward_mono_ns() + TICK_MS * 1000000ull;
		}
	}
	return NULL;
}

int ward_proxy_start(struct ward_proxy *px, struct ward_error *err)
{
	int r = pthread_create(&px->thread, NULL, loop, px);

	if (r)
		return ward_err(err, -r, "proxy thread");
	px->started = true;
	return 0;
}

void ward_proxy_free(struct ward_proxy *px)
{
	if (!px)
		return;
	if (px->started) {
		uint64_t one = 1;

		(void)!write(px->stop_fd, &one, sizeof(one));
		pthread_join(px->thread, NULL);
	}
	for (uint32_t i = 0; px->conns && i < px->lim.max_conns; i++)
		if (px->conns[i])
			proxy_conn_close(px->conns[i]);
	for (int i = 0; i < 4; i++)
		if (px->lfd[i] >= 0)
			close(px->lfd[i]);
	admission_free(px, px->adm);
	ward_resolver_free(px->resolver);
	proxy_ident_free(px); /* before the identity it uses */
	ward_identity_free(px->identity);
	if (px->epfd >= 0)
		close(px->epfd);
	if (px->stop_fd >= 0)
		close(px->stop_fd);
	free(px->conns);
	free(px->gens);
	free(px->scratch);
	free(px);
}
