// SPDX-License-Identifier: MIT
/* The proxy's event loop (proxy.h): listeners, accept, identity, timers,
 * resolver results. Connections live in a fixed table of max_conns slots; a
 * slot's generation number makes late resolver results for a closed
 * connection harmless. Level-triggered epoll, interest recomputed after
 * every event (conn_update), except for spliced tunnels: edge-triggered
 * with constant interest, their work bounded per turn, the rest on the
 * ready list (conn_ready), which runs after each epoll_wait. A connection
 * is the transport core's (conn_core.c) and its mode's; this file only
 * feeds it events. */
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
#include "proxy/cred.h"
#include "proxy/inference.h"
#include "proxy/proxy_internal.h"

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

static int watch(struct ward_proxy *px, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int ward_proxy_new(const struct ward_proxy_config *cfg, struct ward_proxy **ret,
		   struct ward_error *err)
{
	struct ward_proxy *px = calloc(1, sizeof(*px));
	int r;

	if (!px)
		return ward_err(err, -ENOMEM, "proxy");
	px->cfg = *cfg;
	set_limits(&px->lim, &cfg->limits);
	px->epfd = px->stop_fd = px->apply_fd = -1;
	ward_gen_cell_init(&px->cell, NULL);
	pthread_mutex_init(&px->creds_lock, NULL);
	px->policy = cfg->policy;
	px->creds = cfg->creds;
	px->inference = cfg->inference;
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
	px->apply_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (px->epfd < 0 || px->stop_fd < 0 || px->apply_fd < 0) {
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
	for (int i = 0; i < 4; i++)
		if (px->lfd[i] >= 0 && watch(px, px->lfd[i], EV(EV_LISTEN, i)) < 0)
			goto fail_epoll;
	if (watch(px, px->stop_fd, EV(EV_OTHER, 0)) < 0 ||
	    watch(px, ward_resolver_fd(px->resolver), EV(EV_OTHER, 1)) < 0 ||
	    watch(px, proxy_ident_fd(px), EV(EV_OTHER, 2)) < 0 ||
	    watch(px, px->apply_fd, EV(EV_OTHER, 3)) < 0)
		goto fail_epoll;
	*ret = px;
	return 0;
fail_epoll:
	r = ward_err(err, -errno, "proxy epoll");
fail:
	ward_proxy_free(px);
	return r;
}

uint16_t ward_proxy_explicit_port(const struct ward_proxy *px)
{
	return px->explicit_port;
}

static uint64_t listener_cookie(const struct ward_proxy *px, int idx)
{
	int fd = px->lfd[idx];
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}

uint64_t ward_proxy_listener_cookie(const struct ward_proxy *px, bool transparent)
{
	return listener_cookie(px, transparent ? 1 : 0);
}

uint64_t ward_proxy_listener_cookie6(const struct ward_proxy *px, bool transparent)
{
	return listener_cookie(px, transparent ? 3 : 2);
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

int ward_proxy_apply(struct ward_proxy *px, struct ward_gen *g, struct ward_error *err)
{
	uint64_t one = 1;

	struct ward_cred_store *creds = NULL, *stale;
	struct ward_inference *inf = NULL, *stale_inf;
	int r;

	if (!g || !g->policy)
		return ward_errx(err, -EINVAL, "proxy: no policy generation to apply");
	if (px->cfg.creds) {
		/* the sandbox keeps the placeholders it was given: derive from those */
		r = ward_cred_store_derive(px->cfg.creds, g->policy, &creds, err);
		if (r < 0)
			return r; /* the old generation stays */
	}
	if (px->cfg.inference) {
		/* routes, keys and backends of g; the budget's usage carries over */
		r = ward_inference_derive(px->cfg.inference, g->policy, &inf, err);
		if (r < 0) {
			ward_cred_store_free(creds);
			return ward_err_prefix(err, "inference");
		}
	}
	pthread_mutex_lock(&px->creds_lock);
	stale = px->pending_creds; /* applied twice before the loop looked */
	px->pending_creds = creds;
	stale_inf = px->pending_inference;
	px->pending_inference = inf;
	ward_gen_unref(ward_gen_cell_swap(&px->cell, ward_gen_ref(g)));
	pthread_mutex_unlock(&px->creds_lock);
	ward_cred_store_free(stale);
	ward_inference_free(stale_inf); /* never seen by the loop: no call holds it */
	atomic_fetch_add_explicit(&px->applied, 1, memory_order_release);
	/* the loop sweeps open connections; a full counter still wakes it */
	(void)!write(px->apply_fd, &one, sizeof(one));
	return 0;
}

/* A generation was applied: connections decided under an older one are
 * decided again (conn_revalidate closes what the new one denies). */
static void sweep(struct ward_proxy *px)
{
	uint64_t n;
	const struct ward_policy *p;

	(void)!read(px->apply_fd, &n, sizeof(n));
	p = proxy_policy(px);
	for (uint32_t i = 0; i < px->lim.max_conns; i++) {
		struct conn *c = px->conns[i];

		if (c && c->policy && c->policy != p)
			conn_revalidate(c);
	}
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
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		ev = (struct epoll_event){ .events = 0, .data.u64 = EV(EV_CLIENT, slot) };
		if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			admission_refuse(px, fd, &peer, idx, -errno);
			continue;
		}
		c = conn_new(px, slot, fd, &peer, px->lfd_transparent[idx]);
		if (!c) {
			epoll_ctl(px->epfd, EPOLL_CTL_DEL, fd, NULL);
			admission_refuse(px, fd, &peer, idx, -ENOMEM);
			continue;
		}
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
		/* connections on the ready list still have work: look, do not wait */
		int n = epoll_wait(px->epfd, evs, 128, px->n_ready ? 0 : TICK_MS);

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
					proxy_ident_dispatch(px, conn_identified);
				else if (slot == 3)
					sweep(px);
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
		conn_run_ready(px);
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
			conn_close(px->conns[i]);
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
	if (px->apply_fd >= 0)
		close(px->apply_fd);
	ward_gen_unref(px->gen);
	ward_gen_cell_destroy(&px->cell);
	ward_cred_store_free(px->pending_creds);
	if (px->creds_owned)
		ward_cred_store_free(px->creds);
	ward_inference_free(px->pending_inference);
	if (px->inference_owned)
		ward_inference_free(px->inference);
	pthread_mutex_destroy(&px->creds_lock);
	free(px->conns);
	free(px->gens);
	free(px->scratch);
	free(px);
}
