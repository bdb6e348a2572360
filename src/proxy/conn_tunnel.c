// SPDX-License-Identifier: MIT
/* Tunnel mode: bytes both ways once the destination was decided (CONNECT,
 * transparent TLS or raw TCP, an allowed WebSocket upgrade). Plain tunnels
 * move bytes with splice(2): socket -> pipe -> socket, no copy through user
 * space; over TLS (or without pipes: fd limit) the core's buffered relay
 * does it. Each side's EOF is passed on once its bytes are out.
 *
 * A spliced tunnel is edge-triggered: both sockets are watched for
 * IN|OUT|RDHUP once, for good (no epoll_ctl as the pipes fill and drain).
 * What epoll reported is kept per socket (readable, writable) until a call
 * says EAGAIN; each turn moves both directions until they would block, at
 * most TUNNEL_TURN bytes each: past that the connection queues itself on
 * the ready list (conn_ready) and the loop's other connections go first. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

/* bytes read into one direction's pipe per turn (one pipe's worth: ~0.3 ms of
 * the loop at a bulk transfer's rate) */
#define TUNNEL_TURN (1u << 20)
#define TUNNEL_EV (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define EV_RD (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)
#define EV_WR (EPOLLOUT | EPOLLHUP | EPOLLERR)

enum { D_CU = 0, D_UC = 1 }; /* client->upstream, upstream->client */

struct tunnel_dir {
	int pipe[2];	/* -1: none */
	size_t in_pipe; /* bytes in the pipe */
	bool src_rd;	/* the source may have bytes (no EAGAIN since epoll said so) */
	bool dst_wr;	/* the destination may take bytes */
	bool shut;	/* SHUT_WR sent to the destination */
};

struct tunnel_state {
	struct tunnel_dir d[2];
	size_t pipe_sz; /* what each pipe holds (F_SETPIPE_SZ may be refused) */
};

static void tunnel_pipes(struct tunnel_state *t)
{
	int *cu = t->d[D_CU].pipe, *uc = t->d[D_UC].pipe;

	if (pipe2(cu, O_NONBLOCK | O_CLOEXEC) < 0) {
		cu[0] = cu[1] = -1;
		return;
	}
	if (pipe2(uc, O_NONBLOCK | O_CLOEXEC) < 0) {
		close(cu[0]);
		close(cu[1]);
		cu[0] = cu[1] = uc[0] = uc[1] = -1;
		return;
	}
	/* past pipe-max-size or the user's pipe pages a pipe keeps its default */
	t->pipe_sz = PIPE_BUF_SZ;
	for (int i = 0; i < 2; i++) {
		int fd = t->d[i].pipe[1];
		int sz = fcntl(fd, F_SETPIPE_SZ, PIPE_BUF_SZ);

		if (sz < 0)
			sz = fcntl(fd, F_GETPIPE_SZ);
		if (sz > 0 && (size_t)sz < t->pipe_sz)
			t->pipe_sz = (size_t)sz;
	}
}

static bool spliced(const struct conn *c)
{
	return c->tun->d[D_CU].pipe[0] >= 0;
}

/* One direction of a plain tunnel: src -> pipe -> dst, until neither end
 * moves or the turn's bytes are read. Bytes still in the buffer (the
 * CONNECT reply, bytes read while sniffing) go out first. Returns -errno,
 * 0 (would block: an edge comes when that changes) or 1 (stopped at the
 * bound: more may be ready now). */
static int splice_dir(struct conn *c, struct tunnel_dir *d, int src, int dst, struct buf *pending,
		      bool *src_eof, bool *ret_moved)
{
	size_t cap = c->tun->pipe_sz, turn = TUNNEL_TURN;
	ssize_t n;

	if (pending->len) {
		if (!d->dst_wr)
			return 0;
		n = send(dst, pending->data + pending->off, pending->len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(pending, (size_t)n);
			*ret_moved = true;
		} else if (n < 0 && errno == EAGAIN) {
			d->dst_wr = false;
		} else if (n < 0) {
			return errno == EINTR ? 1 : -errno;
		}
		if (pending->len)
			return d->dst_wr; /* short: try again */
	}
	for (;;) {
		bool moved = false;

		if (d->src_rd && !*src_eof && d->in_pipe < cap) {
			if (!turn)
				return 1;
			n = splice(src, NULL, d->pipe[1], NULL,
				   cap - d->in_pipe < turn ? cap - d->in_pipe : turn,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->in_pipe += (size_t)n;
				turn -= (size_t)n < turn ? (size_t)n : turn;
				moved = true;
			} else if (n == 0) {
				*src_eof = true;
			} else if (errno == EAGAIN) {
				/* with bytes in it, the pipe itself may be full (its
				 * slots, one per skb fragment, before its bytes): the
				 * socket is known empty only with an empty pipe */
				if (!d->in_pipe)
					d->src_rd = false;
			} else if (errno == EINTR) {
				return 1;
			} else {
				return -errno;
			}
		}
		if (d->in_pipe && d->dst_wr) {
			n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->in_pipe -= (size_t)n;
				moved = true;
			} else if (n < 0 && errno == EAGAIN) {
				d->dst_wr = false;
			} else if (n < 0) {
				return errno == EINTR ? 1 : -errno;
			}
		}
		if (!moved)
			return 0;
		*ret_moved = true;
	}
}

/* Pass each side's EOF on once its bytes are out; both done: close. */
static void half_close(struct conn *c)
{
	struct tunnel_state *t = c->tun;
	struct tunnel_dir *cu = &t->d[D_CU], *uc = &t->d[D_UC];

	if (c->c_eof && !c->to_u.len && !cu->in_pipe && !cu->shut && c->ufd >= 0) {
		shutdown(c->ufd, SHUT_WR);
		cu->shut = true;
	}
	if (c->u_eof && !c->to_c.len && !uc->in_pipe && !uc->shut) {
		shutdown(c->cfd, SHUT_WR);
		uc->shut = true;
	}
	if (cu->shut && uc->shut)
		c->dead = true;
}

/* One turn: both directions as far as they go (or their bound). */
static void splice_turn(struct conn *c)
{
	struct tunnel_state *t = c->tun;
	bool moved = false;
	int cu, uc;

	cu = splice_dir(c, &t->d[D_CU], c->cfd, c->ufd, &c->to_u, &c->c_eof, &moved);
	uc = cu < 0 ? 0 : splice_dir(c, &t->d[D_UC], c->ufd, c->cfd, &c->to_c, &c->u_eof, &moved);
	if (cu < 0 || uc < 0) {
		c->dead = true;
		return;
	}
	if (moved) /* once per turn, not per chunk */
		conn_set_deadline(c, c->px->lim.idle_tunnel_ms);
	half_close(c);
	if (!c->dead && (cu > 0 || uc > 0))
		conn_ready(c);
}

static void splice_event(struct conn *c, bool upstream, uint32_t events)
{
	struct tunnel_state *t = c->tun;
	/* a socket is the source of one direction and the destination of the other */
	struct tunnel_dir *from = &t->d[upstream ? D_UC : D_CU],
			  *to = &t->d[upstream ? D_CU : D_UC];

	if (events & EV_RD)
		from->src_rd = true;
	if (events & EV_WR)
		to->dst_wr = true;
	splice_turn(c);
}

static bool client_wanted(const struct conn *c)
{
	return buf_space(&c->to_u) > 0;
}

static void tunnel_event(struct conn *c, bool upstream, uint32_t events)
{
	if (spliced(c))
		splice_event(c, upstream, events);
	else
		conn_relay_event(c, upstream, events, true, client_wanted);
}

static void tunnel_interest(struct conn *c, uint32_t *ret_client, uint32_t *ret_upstream)
{
	if (!spliced(c)) {
		conn_buffered_interest(c, client_wanted(c), ret_client, ret_upstream);
		return;
	}
	/* edge-triggered, the same for the tunnel's whole life: set once */
	*ret_client = TUNNEL_EV;
	*ret_upstream = TUNNEL_EV;
}

static void tunnel_timeout(struct conn *c)
{
	c->dead = true; /* idle */
}

static void tunnel_close(struct conn *c)
{
	struct tunnel_state *t = c->tun;

	if (!t)
		return;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (t->d[i].pipe[j] >= 0)
				close(t->d[i].pipe[j]);
	free(t);
	c->tun = NULL;
}

static void tunnel_connected(struct conn *c)
{
	tunnel_start(c, !c->transparent); /* CONNECT is answered, transparent is not */
}

const struct conn_mode tunnel_mode = {
	.name = "tunnel",
	.layer = "proxy",
	.on_event = tunnel_event,
	.on_upstream_ready = tunnel_connected,
	.pump = half_close,
	.on_timeout = tunnel_timeout,
	.interest = tunnel_interest,
	.close = tunnel_close,
	.resume = splice_turn, /* only spliced tunnels queue themselves */
};

void tunnel_start(struct conn *c, bool established)
{
	static const char reply[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct tunnel_state *t = calloc(1, sizeof(*t));

	if (!t) {
		c->dead = true;
		return;
	}
	for (int i = 0; i < 2; i++) {
		t->d[i].pipe[0] = t->d[i].pipe[1] = -1;
		/* not known yet: the first turn tries (the interest set with
		 * EPOLL_CTL_MOD reports what is ready already, too) */
		t->d[i].src_rd = t->d[i].dst_wr = true;
	}
	if (!c->ctls && !c->utls)
		tunnel_pipes(t);
	c->tun = t;
	c->mode = &tunnel_mode;
	c->state = S_TUNNEL;
	c->speaks_http = false;
	conn_set_deadline(c, c->px->lim.idle_tunnel_ms);
	if (established)
		buf_append(&c->to_c, reply, sizeof(reply) - 1);
	/* bytes the client sent after the CONNECT head (or sniffed) belong to the tunnel */
	if (c->from_c.len)
		buf_append(&c->to_u, c->from_c.data + c->from_c.off, c->from_c.len);
	c->from_c.len = c->from_c.off = 0;
}
