// SPDX-License-Identifier: MIT
/* The DNS stub's server: one epoll thread over a UDP and a TCP socket per
 * address family, bound to the host side of the sandbox's veth. Who asks comes
 * from the lookup callback (the egress layer's BPF records); what is allowed
 * from the policy generation the stub holds (ward_dns_apply swaps it); allowed
 * names are resolved by a resolver of its own (resolve.h: --hosts first,
 * getaddrinfo on worker threads), denied names never leave this file. */
#include "proxy/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "proxy/resolve.h"

#define MAX_PENDING 128	 /* allowed queries waiting for the resolver */
#define TCP_MSG_MAX 1024 /* a query over TCP is never longer than this */
#define TCP_IDLE_NS (10ULL * 1000000000ULL)
#define UDP_BATCH 64 /* datagrams read per wake-up, so TCP is not starved */
#define RESP_MAX 1024

enum { SRC_UDP4, SRC_UDP6, SRC_TCP4, SRC_TCP6, SRC_RESOLVER, SRC_STOP, SRC_CONN };

struct tcp_conn {
	int fd;
	bool used;
	bool busy; /* a query is with the resolver: read nothing more */
	uint64_t last_ns;
	size_t len;
	uint8_t buf[2 + TCP_MSG_MAX];
};

/* An allowed query waiting for its addresses. */
struct pending {
	bool used;
	uint64_t tag;
	struct ward_dns_query q;
	int udp_fd; /* answer by UDP through this socket, or -1 */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int conn; /* TCP: index into conns, with conn_fd to detect reuse */
	int conn_fd;
};

struct ward_dns {
	struct ward_dns_opts o;
	/* the generation queries are decided under; empty: o.policy */
	struct ward_gen_cell gen;
	bool gen_init;
	char *sandbox;
	int udp[2], tcp[2];
	int epfd, stopfd;
	struct ward_resolver *resolver;
	pthread_t thread;
	bool started;
	struct tcp_conn conns[WARD_DNS_TCP_MAX_CONNS];
	struct pending pending[MAX_PENDING];
	uint64_t next_tag;
	/* token bucket: WARD_DNS_RATE per second, burst of one second's worth */
	double tokens;
	uint64_t bucket_ns;
	uint64_t limited_unreported;
	uint64_t limited_report_ns;
	_Atomic uint64_t queries, allowed, denied, rate_limited, malformed;
};

/* The policy a query is decided under: *ret_g holds a reference (or NULL
 * while the stub runs on the borrowed o.policy) until the caller drops it. */
static const struct ward_policy *current(struct ward_dns *d, struct ward_gen **ret_g)
{
	*ret_g = ward_gen_cell_get(&d->gen);
	return *ret_g ? (*ret_g)->policy : d->o.policy;
}

static void row(struct ward_dns *d, const struct ward_policy *p, const char *action,
		const struct ward_peer_ident *who, const char *host, const char *proto,
		const char *rule, const char *reason)
{
	struct ward_decision r = {
		.sandbox = d->sandbox,
		.layer = "dns",
		.action = action,
		/* the executable that asked, and the ancestor that decided (via) */
		.binary = who && who->binary[0] ? who->binary : NULL,
		.via = who && who->via[0] ? who->via : NULL,
		.pid = who ? who->pid : 0,
		.host = host,
		.port = d->o.port,
		.protocol = proto,
		.rule = rule,
		.reason = reason,
		.policy_rev = p->rev,
		.session = who && who->session[0] ? who->session : NULL,
	};
	struct ward_owner owner;

	ward_peer_owner(who, &owner);
	r.has_uid = owner.has_uid;
	r.uid = owner.uid;
	r.cgroup = owner.cgroup;
	if (d->o.audit)
		ward_audit_submit(d->o.audit, &r);
}

static bool rate_ok(struct ward_dns *d, const struct ward_policy *p)
{
	uint64_t now = ward_mono_ns();
	unsigned rate = d->o.rate;

	d->tokens += (double)(now - d->bucket_ns) * rate / 1e9;
	if (d->tokens > rate)
		d->tokens = rate;
	d->bucket_ns = now;
	if (d->tokens >= 1) {
		d->tokens -= 1;
		return true;
	}
	d->rate_limited++;
	d->limited_unreported++;
	/* one row per second at most, saying how many were dropped */
	if (now - d->limited_report_ns >= 1000000000ULL) {
		char reason[96];

		snprintf(reason, sizeof(reason), "rate limit (%u/s): %llu queries dropped", rate,
			 (unsigned long long)d->limited_unreported);
		row(d, p, "deny", NULL, NULL, NULL, "rate-limit", reason);
		d->limited_unreported = 0;
		d->limited_report_ns = now;
	}
	return false;
}

static void send_tcp(struct ward_dns *d, int idx, const uint8_t *msg, size_t len)
{
	struct tcp_conn *c = &d->conns[idx];
	uint8_t out[2 + RESP_MAX];

	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, msg, len);
	/* tiny, into an empty socket buffer: a short write means a broken client */
	if (send(c->fd, out, len + 2, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(len + 2)) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->used = false;
	}
}

static void reply(struct ward_dns *d, const struct ward_dns_query *q, int rcode, const void *addrs,
		  size_t n, int udp_fd, const struct sockaddr_storage *peer, socklen_t peer_len,
		  int conn)
{
	uint8_t out[RESP_MAX];
	int len = ward_dns_build_response(q, rcode, addrs, n, out,
					  udp_fd >= 0 ? WARD_DNS_UDP_MAX : sizeof(out));

	if (len < 0)
		return;
	if (udp_fd >= 0)
		sendto(udp_fd, out, (size_t)len, MSG_DONTWAIT, (const struct sockaddr *)peer,
		       peer_len);
	else
		send_tcp(d, conn, out, (size_t)len);
}

/* Addresses of the query's family, packed as the answer wants them. */
static size_t pack(const struct ward_dns_query *q, const struct sockaddr_storage *ss, size_t n,
		   uint8_t *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < WARD_DNS_MAX_ANSWERS; i++) {
		if (q->qtype == WARD_DNS_TYPE_A && ss[i].ss_family == AF_INET)
			memcpy(out + 4 * k++, &((const struct sockaddr_in *)&ss[i])->sin_addr, 4);
		else if (q->qtype == WARD_DNS_TYPE_AAAA && ss[i].ss_family == AF_INET6)
			memcpy(out + 16 * k++, &((const struct sockaddr_in6 *)&ss[i])->sin6_addr,
			       16);
	}
	return k;
}

/* One query from a client: identify, decide, answer or hand to the resolver. */
static void query(struct ward_dns *d, const uint8_t *pkt, size_t len, int udp_fd,
		  const struct sockaddr_storage *peer, socklen_t peer_len, int conn)
{
	const char *proto = udp_fd >= 0 ? "udp" : "tcp";
	/* decided, and logged, under the generation current when it arrived */
	_cleanup_gen_ struct ward_gen *g = NULL;
	const struct ward_policy *pol = current(d, &g);
	struct ward_peer_ident who;
	struct ward_client client;
	struct ward_dns_verdict v;
	struct ward_dns_query q;
	uint8_t addrs[WARD_DNS_MAX_ANSWERS * 16];
	const char *action;
	int rc, r;

	d->queries++;
	if (!rate_ok(d, pol))
		return;
	rc = ward_dns_parse_query(pkt, len, &q);
	if (rc < 0) {
		d->malformed++;
		return;
	}
	if (rc != WARD_DNS_NOERROR) {
		d->malformed++;
		row(d, pol, "deny", NULL, q.name[0] ? q.name : NULL, proto, NULL,
		    rc == WARD_DNS_NOTIMP ? "opcode not implemented" : "malformed query");
		reply(d, &q, rc, NULL, 0, udp_fd, peer, peer_len, conn);
		return;
	}
	memset(&who, 0, sizeof(who));
	r = !d->o.lookup ? -ENOENT
			 : d->o.lookup(d->o.lookup_data, udp_fd >= 0 ? SOCK_DGRAM : SOCK_STREAM,
				       (const struct sockaddr *)peer, &who);
	if (r < 0) {
		d->denied++;
		row(d, pol, "deny", NULL, q.name, proto, NULL, "unknown client (no kernel record)");
		reply(d, &q, WARD_DNS_REFUSED, NULL, 0, udp_fd, peer, peer_len, conn);
		return;
	}
	client = ward_client_from_peer(&who);
	ward_decide_dns(pol, &client, q.name, &v);
	if (!v.allow && !d->o.learn) {
		d->denied++;
		row(d, pol, "deny", &who, q.name, proto, NULL, v.reason);
		reply(d, &q, WARD_DNS_NXDOMAIN, NULL, 0, udp_fd, peer, peer_len, conn);
		return;
	}
	d->allowed++;
	/* learning (docs/learn.md): answered as if allowed, the row says audit
	 * and why the policy would have refused it */
	action = v.allow ? "allow" : "audit";
	if (!v.allow && !strcmp(q.name, WARD_INFERENCE_NAME))
		v.inference = true; /* served by ward, never by the world's DNS */
	if (q.qclass != WARD_DNS_CLASS_IN ||
	    (q.qtype != WARD_DNS_TYPE_A && q.qtype != WARD_DNS_TYPE_AAAA)) {
		/* The name exists, but ward serves addresses only: no MX/TXT/... data. */
		row(d, pol, action, &who, q.name, proto, v.rule,
		    v.allow ? "no data for this type" : v.reason);
		reply(d, &q, WARD_DNS_NOERROR, NULL, 0, udp_fd, peer, peer_len, conn);
		return;
	}
	if (v.inference) {
		size_t n = 0;

		if (q.qtype == WARD_DNS_TYPE_A) {
			memcpy(addrs, &d->o.addr4, 4);
			n = 1;
		} else if (d->o.has_addr6) {
			memcpy(addrs, &d->o.addr6, 16);
			n = 1;
		}
		row(d, pol, "allow", &who, q.name, proto, v.rule, v.reason);
		reply(d, &q, WARD_DNS_NOERROR, addrs, n, udp_fd, peer, peer_len, conn);
		return;
	}
	row(d, pol, action, &who, q.name, proto, v.rule, v.reason);
	for (size_t i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &d->pending[i];

		if (p->used)
			continue;
		*p = (struct pending){ .used = true,
				       .tag = ++d->next_tag,
				       .q = q,
				       .udp_fd = udp_fd,
				       .peer_len = peer_len,
				       .conn = conn,
				       .conn_fd = conn >= 0 ? d->conns[conn].fd : -1 };
		if (peer)
			p->peer = *peer;
		if (ward_resolve_start(d->resolver, q.name, p->tag) < 0)
			break;
		if (conn >= 0)
			d->conns[conn].busy = true;
		return;
	}
	/* resolver saturated: the client may retry */
	for (size_t i = 0; i < MAX_PENDING; i++)
		if (d->pending[i].used && d->pending[i].tag == d->next_tag)
			d->pending[i].used = false;
	reply(d, &q, WARD_DNS_SERVFAIL, NULL, 0, udp_fd, peer, peer_len, conn);
}

static void resolved(void *userdata, const struct ward_resolve_result *res)
{
	struct ward_dns *d = userdata;
	uint8_t addrs[WARD_DNS_MAX_ANSWERS * 16];

	for (size_t i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &d->pending[i];
		int rcode = WARD_DNS_NOERROR;
		size_t n = 0;

		if (!p->used || p->tag != res->tag)
			continue;
		p->used = false;
		if (p->conn >= 0) {
			struct tcp_conn *c = &d->conns[p->conn];

			if (!c->used || c->fd != p->conn_fd)
				return; /* the client went away */
			c->busy = false;
		}
		if (res->error == -ENOENT)
			rcode = WARD_DNS_NXDOMAIN;
		else if (res->error < 0)
			rcode = WARD_DNS_SERVFAIL;
		else
			n = pack(&p->q, res->addrs, res->n, addrs);
		reply(d, &p->q, rcode, addrs, n, p->udp_fd, &p->peer, p->peer_len, p->conn);
		return;
	}
}

static void on_udp(struct ward_dns *d, int fd)
{
	uint8_t buf[4096];

	for (int i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&peer,
				     &plen);

		if (n < 0)
			return;
		query(d, buf, (size_t)n, fd, &peer, plen, -1);
	}
}

static void conn_close(struct ward_dns *d, int idx)
{
	struct tcp_conn *c = &d->conns[idx];

	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->used = false;
}

static void on_accept(struct ward_dns *d, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		int idx = -1;

		if (fd < 0)
			return;
		for (int i = 0; i < WARD_DNS_TCP_MAX_CONNS; i++)
			if (!d->conns[i].used) {
				idx = i;
				break;
			}
		if (idx < 0) {
			close(fd);
			continue;
		}
		d->conns[idx] =
			(struct tcp_conn){ .fd = fd, .used = true, .last_ns = ward_mono_ns() };
		ev.data.u64 = SRC_CONN + (uint64_t)idx;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			d->conns[idx].used = false;
		}
	}
}

static void on_conn(struct ward_dns *d, int idx)
{
	struct tcp_conn *c = &d->conns[idx];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	size_t need;
	ssize_t n;

	if (c->busy)
		return;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(d, idx);
		return;
	}
	if (n < 0)
		return;
	c->len += (size_t)n;
	c->last_ns = ward_mono_ns();
	if (c->len < 2)
		return;
	need = (size_t)c->buf[0] << 8 | c->buf[1];
	if (need > TCP_MSG_MAX || need == 0) {
		d->malformed++;
		conn_close(d, idx);
		return;
	}
	if (c->len < 2 + need)
		return;
	if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) < 0) {
		conn_close(d, idx);
		return;
	}
	/* one query at a time; what follows waits in the buffer */
	{
		uint8_t msg[TCP_MSG_MAX];

		memcpy(msg, c->buf + 2, need);
		memmove(c->buf, c->buf + 2 + need, c->len - 2 - need);
		c->len -= 2 + need;
		query(d, msg, need, -1, &peer, plen, idx);
	}
}

static void sweep(struct ward_dns *d)
{
	uint64_t now = ward_mono_ns();

	for (int i = 0; i < WARD_DNS_TCP_MAX_CONNS; i++)
		if (d->conns[i].used && !d->conns[i].busy &&
		    now - d->conns[i].last_ns > TCP_IDLE_NS)
			conn_close(d, i);
}

static void *loop(void *arg)
{
	struct ward_dns *d = arg;
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(d->epfd, evs, 16, 1000);

		for (int i = 0; i < n; i++) {
			uint64_t src = evs[i].data.u64;

			switch (src) {
			case SRC_UDP4:
			case SRC_UDP6:
				on_udp(d, d->udp[src - SRC_UDP4]);
				break;
			case SRC_TCP4:
			case SRC_TCP6:
				on_accept(d, d->tcp[src - SRC_TCP4]);
				break;
			case SRC_RESOLVER:
				ward_resolver_dispatch(d->resolver, resolved, d);
				break;
			case SRC_STOP:
				return NULL;
			default:
				if (src >= SRC_CONN && src < SRC_CONN + WARD_DNS_TCP_MAX_CONNS &&
				    d->conns[src - SRC_CONN].used)
					on_conn(d, (int)(src - SRC_CONN));
				break;
			}
		}
		/* a TCP client may have a second query buffered behind an answered one */
		for (int i = 0; i < WARD_DNS_TCP_MAX_CONNS; i++) {
			struct tcp_conn *c = &d->conns[i];

			if (c->used && !c->busy && c->len >= 2 &&
			    c->len >= 2 + ((size_t)c->buf[0] << 8 | c->buf[1]))
				on_conn(d, i);
		}
		sweep(d);
	}
}

static int listen_on(struct ward_dns *d, int family, const void *addr, int type, int *ret,
		     struct ward_error *err)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, fd;
	char text[INET6_ADDRSTRLEN];

	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(d->o.port);
		memcpy(&s->sin_addr, addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(d->o.port);
		memcpy(&s->sin6_addr, addr, 16);
		len = sizeof(*s);
	}
	inet_ntop(family, addr, text, sizeof(text));
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ward_err(err, -errno, "dns: socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* the IPv6 address may still be tentative (DAD) when the stub starts */
	setsockopt(fd, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		   family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0)) {
		int r = ward_err(err, -errno, "dns: bind %s port %u", text, d->o.port);

		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

static int add(struct ward_dns *d, int fd, uint64_t src, struct ward_error *err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = src };

	if (fd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return ward_err(err, -errno, "dns: epoll_ctl");
	return 0;
}

int ward_dns_start(const struct ward_dns_opts *o, struct ward_dns **ret, struct ward_error *err)
{
	struct ward_dns *d;
	int r;

	if (!o->policy && !(o->gen && o->gen->policy))
		return ward_errx(err, -EINVAL, "dns: no policy");
	d = calloc(1, sizeof(*d));
	if (!d)
		return ward_err(err, -ENOMEM, "dns");
	d->o = *o;
	d->o.gen = NULL; /* the cell holds it */
	ward_gen_cell_init(&d->gen, ward_gen_ref(o->gen));
	d->gen_init = true;
	if (!d->o.port)
		d->o.port = WARD_DNS_PORT;
	if (!d->o.rate)
		d->o.rate = WARD_DNS_RATE;
	d->udp[0] = d->udp[1] = d->tcp[0] = d->tcp[1] = d->stopfd = -1;
	d->tokens = d->o.rate;
	d->bucket_ns = ward_mono_ns();
	d->sandbox = o->sandbox ? strdup(o->sandbox) : NULL;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epfd < 0 || d->stopfd < 0 || (o->sandbox && !d->sandbox)) {
		r = ward_err(err, -errno, "dns: setup");
		goto fail;
	}
	r = ward_resolver_new(2, o->hosts_file, &d->resolver, err);
	if (r < 0) {
		ward_err_prefix(err, "dns");
		goto fail;
	}
	if ((r = listen_on(d, AF_INET, &o->addr4, SOCK_DGRAM, &d->udp[0], err)) < 0 ||
	    (r = listen_on(d, AF_INET, &o->addr4, SOCK_STREAM, &d->tcp[0], err)) < 0 ||
	    (o->has_addr6 &&
	     ((r = listen_on(d, AF_INET6, &o->addr6, SOCK_DGRAM, &d->udp[1], err)) < 0 ||
	      (r = listen_on(d, AF_INET6, &o->addr6, SOCK_STREAM, &d->tcp[1], err)) < 0)))
		goto fail;
	if ((r = add(d, d->udp[0], SRC_UDP4, err)) < 0 ||
	    (r = add(d, d->udp[1], SRC_UDP6, err)) < 0 ||
	    (r = add(d, d->tcp[0], SRC_TCP4, err)) < 0 ||
	    (r = add(d, d->tcp[1], SRC_TCP6, err)) < 0 ||
	    (r = add(d, ward_resolver_fd(d->resolver), SRC_RESOLVER, err)) < 0 ||
	    (r = add(d, d->stopfd, SRC_STOP, err)) < 0)
		goto fail;
	r = -pthread_create(&d->thread, NULL, loop, d);
	if (r < 0) {
		ward_err(err, r, "dns: thread");
		goto fail;
	}
	d->started = true;
	*ret = d;
	return 0;
fail:
	ward_dns_stop(d);
	return r;
}

static uint64_t cookie_of(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}

void ward_dns_listener_cookies(const struct ward_dns *d, uint64_t *ret_udp, uint64_t *ret_tcp)
{
	*ret_udp = cookie_of(d->udp[0]);
	*ret_tcp = cookie_of(d->tcp[0]);
}

void ward_dns_listener_cookies6(const struct ward_dns *d, uint64_t *ret_udp, uint64_t *ret_tcp)
{
	*ret_udp = cookie_of(d->udp[1]);
	*ret_tcp = cookie_of(d->tcp[1]);
}

void ward_dns_stop(struct ward_dns *d)
{
	uint64_t one = 1;

	if (!d)
		return;
	if (d->started) {
		if (write(d->stopfd, &one, sizeof(one)) < 0)
			pthread_cancel(d->thread);
		pthread_join(d->thread, NULL);
	}
	for (int i = 0; i < WARD_DNS_TCP_MAX_CONNS; i++)
		if (d->conns[i].used)
			close(d->conns[i].fd);
	for (int i = 0; i < 2; i++) {
		if (d->udp[i] >= 0)
			close(d->udp[i]);
		if (d->tcp[i] >= 0)
			close(d->tcp[i]);
	}
	ward_resolver_free(d->resolver);
	if (d->stopfd >= 0)
		close(d->stopfd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->gen_init)
		ward_gen_cell_destroy(&d->gen);
	free(d->sandbox);
	free(d);
}

int ward_dns_apply(struct ward_dns *d, struct ward_gen *g, struct ward_error *err)
{
	if (!g || !g->policy)
		return ward_errx(err, -EINVAL, "dns: no policy generation to apply");
	/* the cell's reference to the old one is dropped here; a query that
	 * holds its own finishes under it */
	ward_gen_unref(ward_gen_cell_swap(&d->gen, ward_gen_ref(g)));
	return 0;
}

void ward_dns_stats(const struct ward_dns *d, struct ward_dns_stats *ret)
{
	*ret = (struct ward_dns_stats){
		.queries = d->queries,
		.allowed = d->allowed,
		.denied = d->denied,
		.rate_limited = d->rate_limited,
		.malformed = d->malformed,
	};
}
