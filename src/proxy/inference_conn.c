// SPDX-License-Identifier: MIT
/* The proxy side of inference.local, a leg of http mode: conn_http.c
 * starts it (inference_conn_start) and drives it; the glue that drives a ward_inference_call
 * from the connection state machine. The call owns its upstream socket,
 * registered in the loop's epoll under this connection's upstream tag; the
 * client side stays the connection's (plain or TLS), through from_c/to_c.
 * While a call runs the connection is S_HTTP with phase H_REQ_BODY (client
 * read) or H_WAIT_RESP (client not read: no pipelining past a call). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/util.h"
#include "proxy/inference.h"
#include "proxy/proxy_internal.h"

struct inference_leg {
	struct ward_inference_call *call;
	int reg_fd; /* fd registered in epoll, -1: none */
	uint32_t reg_ev;
	bool body_done;
};

static void sync_epoll(struct conn *c)
{
	struct inference_leg *leg = c->http->inf;
	int fd = ward_inference_call_fd(leg->call);
	uint32_t ev = ward_inference_call_events(leg->call);
	struct epoll_event e = { .events = ev, .data.u64 = EV(EV_UPSTREAM, c->slot) };

	if (leg->reg_fd >= 0 && leg->reg_fd != fd) {
		/* the old socket is closed already (closing removed it: EBADF or
		 * ENOENT here are expected), or about to be */
		(void)epoll_ctl(c->px->epfd, EPOLL_CTL_DEL, leg->reg_fd, NULL);
		leg->reg_fd = -1;
	}
	if (fd < 0)
		return;
	if (leg->reg_fd < 0) {
		if (epoll_ctl(c->px->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			c->dead = true; /* an upstream nobody watches would hang the call */
			return;
		}
		leg->reg_fd = fd;
		leg->reg_ev = ev;
		return;
	}
	if (ev != leg->reg_ev) {
		if (epoll_ctl(c->px->epfd, EPOLL_CTL_MOD, fd, &e) < 0) {
			c->dead = true;
			return;
		}
		leg->reg_ev = ev;
	}
}

static void leg_free(struct conn *c)
{
	struct inference_leg *leg = c->http ? c->http->inf : NULL;

	if (!leg)
		return;
	if (leg->reg_fd >= 0) /* before the call closes it; a closed fd is gone already */
		(void)epoll_ctl(c->px->epfd, EPOLL_CTL_DEL, leg->reg_fd, NULL);
	ward_inference_call_free(leg->call);
	free(leg);
	c->http->inf = NULL;
}

/* Output of the call into the client buffer, as much as fits. */
static void move_output(struct conn *c)
{
	struct inference_leg *leg = c->http->inf;
	const char *p;
	size_t n = ward_inference_call_peek(leg->call, &p), room;

	if (!n)
		return;
	if (c->to_c.off && c->to_c.off + c->to_c.len + n > CONN_BUF) {
		memmove(c->to_c.data, c->to_c.data + c->to_c.off, c->to_c.len);
		c->to_c.off = 0;
	}
	room = buf_space(&c->to_c);
	if (n > room)
		n = room;
	if (n && buf_append(&c->to_c, p, n) == 0)
		ward_inference_call_consume(leg->call, n);
}

void inference_conn_pump(struct conn *c)
{
	struct inference_leg *leg = c->http->inf;
	bool keep_alive = false;
	const char *p;
	uint64_t dl;

	if (!leg->body_done) {
		size_t used = 0;

		if (c->from_c.len || !c->c_eof) {
			int r = ward_inference_call_feed(leg->call, c->from_c.data + c->from_c.off,
							 c->from_c.len, &used);

			buf_consume(&c->from_c, used);
			leg->body_done = r == 1;
		}
		if (!leg->body_done && c->c_eof) {
			c->dead = true; /* the client gave up mid-body */
			return;
		}
	}
	c->http->phase = leg->body_done ? H_WAIT_RESP : H_REQ_BODY;
	move_output(c);
	ward_inference_call_io(leg->call, 0);
	move_output(c);
	sync_epoll(c);

	if (ward_inference_call_done(leg->call, &keep_alive)) {
		leg_free(c);
		if (keep_alive) {
			/* http mode reads the next request (maybe pipelined, here already) */
			c->http->phase = H_WAIT_REQ;
			conn_set_deadline(c, c->px->lim.idle_http_ms);
		} else {
			c->state = S_CLOSING;
			c->close_after = true;
			conn_set_deadline(c, c->px->lim.flush_ms);
		}
		return;
	}
	if (ward_inference_call_failed(leg->call) && !ward_inference_call_peek(leg->call, &p)) {
		c->state = S_CLOSING;
		c->close_after = true;
		conn_set_deadline(c, c->px->lim.flush_ms);
		return;
	}
	dl = ward_inference_call_deadline(leg->call);
	/* waiting for the client to drain ward's answer: the HTTP idle limit */
	c->deadline = dl ? dl : ward_mono_ns() + (uint64_t)c->px->lim.idle_http_ms * 1000000ull;
}

void inference_conn_io(struct conn *c, uint32_t events)
{
	ward_inference_call_io(c->http->inf->call, events);
	move_output(c);
	sync_epoll(c);
}

void inference_conn_timeout(struct conn *c)
{
	if (!ward_inference_call_deadline(c->http->inf->call)) {
		c->dead = true; /* the client stopped reading ward's answer */
		return;
	}
	ward_inference_call_timeout(c->http->inf->call);
	inference_conn_pump(c);
}

void inference_conn_free(struct conn *c)
{
	leg_free(c);
}

bool inference_conn_active(const struct conn *c)
{
	return c->http && c->http->inf;
}

int inference_conn_start(struct conn *c)
{
	struct ward_inference *inf = c->px->inference;
	struct ward_inference_client who = {
		.known = c->known,
		.binary = c->known && c->id.binary[0] ? c->id.binary : NULL,
		.via = c->known && c->id.via[0] ? c->id.via : NULL,
		.sha256 = c->sha[0] ? c->sha : NULL,
		.pid = c->known ? c->id.pid : 0,
		.tofu_failed = c->tofu != 0,
		.tls = c->intercept,
		/* a provider's own host (route hosts:): a call of its routes */
		.host = ward_inference_is_host(c->host) ? NULL : c->host,
		.session = c->known && c->id.session[0] ? c->id.session : NULL,
		.has_uid = c->known && c->id.has_uid,
		.uid = c->known ? c->id.uid : 0,
		.cgid = c->known ? c->id.cgid : 0,
	};
	struct inference_leg *leg;

	if (!inf) {
		conn_fail(c, 503, "inference_unavailable", "inference routing is not configured");
		return -ENOENT;
	}
	if (c->ufd >= 0)
		conn_close_upstream(c); /* its tag is the call's from now on */
	leg = calloc(1, sizeof(*leg));
	if (leg)
		leg->call = ward_inference_call_new(inf, &who, &c->http->req.head);
	if (!leg || !leg->call) {
		free(leg);
		conn_fail(c, 500, "out_of_memory", "inference: out of memory");
		return -ENOMEM;
	}
	leg->reg_fd = -1;
	c->http->inf = leg;
	c->http->req_keep_alive = c->http->req.head.keep_alive;
	if (!c->protocol)
		c->protocol = c->intercept ? "https" : "http";
	ward_http_parser_reset(&c->http->req);
	c->state = S_HTTP;
	c->http->phase = H_REQ_BODY;
	inference_conn_pump(c);
	return 0;
}
