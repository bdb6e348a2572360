// SPDX-License-Identifier: MIT
/* Tunnel mode: bytes both ways once the destination was decided (CONNECT,
 * transparent TLS or raw TCP, an allowed WebSocket upgrade). Plain tunnels
 * move bytes with splice(2): socket -> pipe -> socket, no copy through user
 * space; over TLS (or without pipes: fd limit) the core's buffered relay
 * does it. Each side's EOF is passed on once its bytes are out. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

struct tunnel_state {
	int pipe_cu[2], pipe_uc[2]; /* client->upstream, upstream->client; -1: none */
	size_t in_cu, in_uc;	    /* bytes in each pipe */
	size_t pipe_sz;		    /* what each pipe holds (F_SETPIPE_SZ may be refused) */
	bool u_shut, c_shut;	    /* SHUT_WR sent upstream / to the client */
};

static void tunnel_pipes(struct tunnel_state *t)
{
	if (pipe2(t->pipe_cu, O_NONBLOCK | O_CLOEXEC) < 0) {
		t->pipe_cu[0] = t->pipe_cu[1] = -1;
		return;
	}
	if (pipe2(t->pipe_uc, O_NONBLOCK | O_CLOEXEC) < 0) {
		close(t->pipe_cu[0]);
		close(t->pipe_cu[1]);
		t->pipe_cu[0] = t->pipe_cu[1] = t->pipe_uc[0] = t->pipe_uc[1] = -1;
		return;
	}
	/* past pipe-max-size or the user's pipe pages a pipe keeps its default */
	t->pipe_sz = PIPE_BUF_SZ;
	for (int i = 0; i < 2; i++) {
		int fd = i ? t->pipe_uc[1] : t->pipe_cu[1];
		int sz = fcntl(fd, F_SETPIPE_SZ, PIPE_BUF_SZ);

		if (sz < 0)
			sz = fcntl(fd, F_GETPIPE_SZ);
		if (sz > 0 && (size_t)sz < t->pipe_sz)
			t->pipe_sz = (size_t)sz;
	}
}

static bool spliced(const struct conn *c)
{
	return c->tun->pipe_cu[0] >= 0;
}

/* One direction of a plain tunnel: src -> pipe -> dst. Bytes still in the
 * buffer (the CONNECT reply, bytes read while sniffing) go out first. */
static int splice_dir(struct conn *c, int src, int dst, int p[2], size_t *in_pipe,
		      struct buf *pending, bool *src_eof, bool can_read)
{
	size_t cap = c->tun->pipe_sz;
	bool any = false;
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

		if (can_read && !*src_eof && *in_pipe < cap) {
			n = splice(src, NULL, p[1], NULL, cap - *in_pipe,
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
			n = splice(p[0], NULL, dst, NULL, *in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				*in_pipe -= (size_t)n;
				moved = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
		if (!moved)
			break;
		any = true;
	}
	if (any) /* once per wakeup, not per chunk */
		conn_set_deadline(c, c->px->lim.idle_tunnel_ms);
	return 0;
}

/* Pass each side's EOF on once its bytes are out; both done: close. */
static void half_close(struct conn *c)
{
	struct tunnel_state *t = c->tun;

	if (c->c_eof && !c->to_u.len && !t->in_cu && !t->u_shut && c->ufd >= 0) {
		shutdown(c->ufd, SHUT_WR);
		t->u_shut = true;
	}
	if (c->u_eof && !c->to_c.len && !t->in_uc && !t->c_shut) {
		shutdown(c->cfd, SHUT_WR);
		t->c_shut = true;
	}
	if (t->u_shut && t->c_shut)
		c->dead = true;
}

static void splice_event(struct conn *c, bool upstream, uint32_t events)
{
	struct tunnel_state *t = c->tun;
	bool rd = events & (EPOLLIN | EPOLLHUP | EPOLLERR);

	/* the readable side feeds the other; the writable side drains what waits for it */
	if (splice_dir(c, c->cfd, c->ufd, t->pipe_cu, &t->in_cu, &c->to_u, &c->c_eof,
		       !upstream && rd) < 0 ||
	    splice_dir(c, c->ufd, c->cfd, t->pipe_uc, &t->in_uc, &c->to_c, &c->u_eof,
		       upstream && rd) < 0) {
		c->dead = true;
		return;
	}
	half_close(c);
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
	struct tunnel_state *t = c->tun;
	uint32_t ec = 0, eu = 0;

	if (!spliced(c)) {
		conn_buffered_interest(c, client_wanted(c), ret_client, ret_upstream);
		return;
	}
	if (!c->c_eof && !c->to_u.len && t->in_cu < t->pipe_sz)
		ec |= EPOLLIN;
	if (c->to_c.len || t->in_uc)
		ec |= EPOLLOUT;
	if (!c->u_eof && !c->to_c.len && t->in_uc < t->pipe_sz)
		eu |= EPOLLIN;
	if (c->to_u.len || t->in_cu)
		eu |= EPOLLOUT;
	*ret_client = ec;
	*ret_upstream = eu;
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
	for (int i = 0; i < 2; i++) {
		if (t->pipe_cu[i] >= 0)
			close(t->pipe_cu[i]);
		if (t->pipe_uc[i] >= 0)
			close(t->pipe_uc[i]);
	}
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
};

void tunnel_start(struct conn *c, bool established)
{
	static const char reply[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct tunnel_state *t = calloc(1, sizeof(*t));

	if (!t) {
		c->dead = true;
		return;
	}
	t->pipe_cu[0] = t->pipe_cu[1] = t->pipe_uc[0] = t->pipe_uc[1] = -1;
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
