// SPDX-License-Identifier: MIT
/* One inference request, the upstream side (inference_call.c has the
 * request side): connect to the backend's validated addresses in turn, TLS
 * when its base_url says https, send the rewritten request, parse the
 * response head, and re-frame the body for the client — SSE forwarded as it
 * arrives, usage read on the way — with backpressure on the client. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "proxy/inference_internal.h"
#include "proxy/inference_json.h"
#include "proxy/sse.h"
#include "proxy/tls.h"

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t sz)
{
	const void *a = ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

void inf_start_connect(struct ward_inference_call *c)
{
	while (c->next_addr < c->b->n_addrs) {
		const struct sockaddr_storage *ss = &c->b->addrs[c->next_addr++];
		socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6);
		int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		addr_text(ss, c->ip, sizeof(c->ip));
		if (fd < 0) {
			c->last_err = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
			c->last_err = errno;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->st = C_CONNECT;
		c->want = EPOLLOUT;
		c->last_activity = ward_mono_ns();
		return;
	}
	inf_fail_answer(c, 502, "upstream_error", "api_error",
			"ward: cannot connect to %s port %u: %s", c->b->host, c->b->port,
			strerror(c->last_err ? c->last_err : ECONNREFUSED));
}

/* >0 bytes, 0 EOF, -EAGAIN (c->want set), other -errno. */
static ssize_t up_read(struct ward_inference_call *c, char *buf, size_t n)
{
	ssize_t r;

	if (c->tls) {
		r = ward_tls_read(c->tls, buf, n);
		if (r > 0)
			return r;
		if (r == WARD_TLS_CLOSED)
			return 0;
		if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
			c->want = r == WARD_TLS_WANT_READ ? EPOLLIN : EPOLLOUT;
			return -EAGAIN;
		}
		return -EIO;
	}
	r = read(c->fd, buf, n);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EINTR) {
		c->want = EPOLLIN;
		return -EAGAIN;
	}
	return -errno;
}

static ssize_t up_write(struct ward_inference_call *c, const char *buf, size_t n)
{
	ssize_t r;

	if (c->tls) {
		r = ward_tls_write(c->tls, buf, n);
		if (r > 0)
			return r;
		if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
			c->want = r == WARD_TLS_WANT_READ ? EPOLLIN : EPOLLOUT;
			return -EAGAIN;
		}
		return -EIO;
	}
	r = send(c->fd, buf, n, MSG_NOSIGNAL);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EINTR) {
		c->want = EPOLLOUT;
		return -EAGAIN;
	}
	return -errno;
}

static void on_sse(void *userdata, const char *event, const char *data, size_t len)
{
	struct ward_inference_call *c = userdata;
	struct ward_usage u;

	(void)event;
	if (len == 6 && !memcmp(data, "[DONE]", 6))
		return;
	if (ward_json_usage(data, len, &u) != 1)
		return;
	/* Anthropic sends input in message_start and a running output total in
	 * message_delta; OpenAI one final usage: the largest of each is the total. */
	c->has_usage = true;
	if (u.input > c->usage.input)
		c->usage.input = u.input;
	if (u.cached > c->usage.cached)
		c->usage.cached = u.cached;
	if (u.has_output && u.output > c->usage.output)
		c->usage.output = u.output;
	c->usage.has_output |= u.has_output;
}

static void on_resp_data(void *userdata, const char *data, size_t len)
{
	struct ward_inference_call *c = userdata;

	if (!len)
		return;
	if (c->stream) {
		if (!c->http10)
			inf_ob_printf(&c->out, "%zx\r\n", len);
		inf_ob_add(&c->out, data, len);
		if (!c->http10)
			inf_ob_add(&c->out, "\r\n", 2);
		if (c->sse_init)
			ward_sse_feed(&c->sse, data, len, on_sse, c);
		return;
	}
	if (c->rbody.len + len > c->inf->max_response || inf_ob_add(&c->rbody, data, len) < 0)
		c->body_over = true;
}

static bool skip_resp_header(const struct ward_http_header *hd)
{
	static const char *const names[] = {
		"connection", "keep-alive", "transfer-encoding", "content-length",     "te",
		"trailer",    "upgrade",    "proxy-connection",	 "proxy-authenticate", "set-cookie",
		NULL
	};

	for (size_t i = 0; names[i]; i++)
		if (inf_hname_is(&hd->name, names[i]))
			return true;
	return false;
}

static void client_head(struct ward_inference_call *c, const char *framing)
{
	const struct ward_http_head *h = &c->resp.head;
	bool close = !c->keep_alive || c->close_after;

	inf_ob_printf(&c->out, "HTTP/1.1 %d %.*s\r\n", h->status, (int)h->reason.len,
		      h->reason.p ? h->reason.p : "");
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct ward_http_header *hd = &h->headers[i];

		if (skip_resp_header(hd))
			continue;
		inf_ob_printf(&c->out, "%.*s: %.*s\r\n", (int)hd->name.len, hd->name.p,
			      (int)hd->value.len, hd->value.p);
	}
	inf_ob_printf(&c->out, "%s%s\r\n", framing, close ? "Connection: close\r\n" : "");
	c->head_sent = true;
}

static void response_done(struct ward_inference_call *c)
{
	inf_close_upstream(c);
	if (c->stream) {
		if (!c->http10)
			inf_ob_add(&c->out, "0\r\n\r\n", 5);
	} else {
		const char *doc = c->rbody.p ? c->rbody.p + c->rbody.off : "";
		char framing[64];

		if (c->status >= 200 && c->status < 300 &&
		    ward_json_usage(doc, c->rbody.len, &c->usage) == 1)
			c->has_usage = true;
		snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", c->rbody.len);
		client_head(c, framing);
		inf_ob_add(&c->out, doc, c->rbody.len);
		inf_ob_free(&c->rbody, false);
	}
	c->st = C_DONE;
	inf_account(c);
	inf_log_row(c, "allow");
}

static void got_head(struct ward_inference_call *c)
{
	const struct ward_http_head *h = &c->resp.head;
	const struct ward_http_header *ct = ward_http_find_header(h, "content-type");

	c->status = h->status;
	c->stream = ct && ct->value.len >= 17 && !strncasecmp(ct->value.p, "text/event-stream", 17);
	if (c->http10 && c->stream)
		c->close_after = true; /* no chunked for HTTP/1.0: the close ends it */
	ward_http_body_init(&c->resp_body, h, c->stream ? 0 : c->inf->max_response);
	if (c->stream) {
		c->sse_init = ward_sse_init(&c->sse, 0) == 0;
		client_head(c, c->http10 ? "" : "Transfer-Encoding: chunked\r\n");
	}
	c->st = C_RBODY;
}

/* Response bytes from the upstream. */
static void response_bytes(struct ward_inference_call *c, const char *data, size_t n)
{
	while (n && (c->st == C_HEAD || c->st == C_RBODY)) {
		size_t used = 0;
		int r;

		if (c->st == C_HEAD) {
			r = ward_http_feed(&c->resp, data, n, &used);
			if (r == 0)
				return;
			if (r < 0) {
				inf_fail_answer(c, 502, "upstream_error", "api_error",
						"ward: malformed response from %s: %s", c->b->host,
						c->resp.reason ? c->resp.reason : "bad head");
				return;
			}
			data += used;
			n -= used;
			if (c->resp.head.informational) {
				ward_http_parser_reset(&c->resp);
				continue;
			}
			if (!c->t_first)
				c->t_first = ward_mono_ns();
			got_head(c);
			if (c->resp_body.framing == WARD_HTTP_BODY_LENGTH &&
			    c->resp_body.remaining > c->inf->max_response) {
				inf_fail_answer(c, 502, "upstream_error", "api_error",
						"ward: response body over %llu bytes (non-streamed "
						"responses are capped)",
						(unsigned long long)c->inf->max_response);
				return;
			}
			if (c->resp_body.framing == WARD_HTTP_BODY_NONE) {
				response_done(c);
				return;
			}
			continue;
		}
		r = ward_http_body_feed(&c->resp_body, data, n, &used, on_resp_data, c);
		if (c->body_over || r == -EFBIG) {
			inf_fail_answer(
				c, 502, "upstream_error", "api_error",
				"ward: response body over %llu bytes (non-streamed responses "
				"are capped)",
				(unsigned long long)c->inf->max_response);
			return;
		}
		if (r < 0) {
			inf_fail_answer(c, 502, "upstream_error", "api_error",
					"ward: malformed response body from %s", c->b->host);
			return;
		}
		if (r == 1) {
			response_done(c);
			return;
		}
		return;
	}
}

static void upstream_eof(struct ward_inference_call *c)
{
	if (c->st == C_RBODY && c->resp_body.framing == WARD_HTTP_BODY_CLOSE) {
		response_done(c);
		return;
	}
	inf_fail_answer(c, 502, "upstream_error", "api_error",
			"ward: %s closed the connection before the response was complete",
			c->b->host);
}

static void check_connect(struct ward_inference_call *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		c->last_err = soerr;
		inf_close_upstream(c);
		inf_start_connect(c);
		return;
	}
	if (c->b->https) {
		struct ward_error err = { 0 };

		c->tls = ward_tls_client_new(c->inf->tls, c->fd, c->b->host, &err);
		if (!c->tls) {
			inf_fail_answer(c, 502, "upstream_error", "api_error",
					"ward: TLS to %s: %s", c->b->host, err.msg);
			return;
		}
		c->st = C_TLS;
		return;
	}
	c->st = C_SEND;
}

void ward_inference_call_io(struct ward_inference_call *c, uint32_t events)
{
	char buf[READ_CHUNK];

	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t r;

		switch (c->st) {
		case C_BODY:
		case C_LOCAL:
		case C_DONE:
			return;
		case C_CONNECT:
			if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				return;
			check_connect(c);
			break;
		case C_TLS:
			r = ward_tls_handshake(c->tls);
			if (r == WARD_TLS_WANT_READ || r == WARD_TLS_WANT_WRITE) {
				c->want = r == WARD_TLS_WANT_READ ? EPOLLIN : EPOLLOUT;
				return;
			}
			if (r < 0) {
				inf_fail_answer(c, 502, "upstream_error", "api_error",
						"ward: TLS to %s: %s", c->b->host,
						ward_tls_error(c->tls)[0] ? ward_tls_error(c->tls)
									  : "handshake failed");
				return;
			}
			c->st = C_SEND;
			break;
		case C_SEND:
			c->t_connect_end = c->t_connect_end ? c->t_connect_end : ward_mono_ns();
			if (!c->up.len) {
				inf_ob_free(&c->up, true); /* it held the key */
				if (ward_http_parser_init(&c->resp, WARD_HTTP_RESPONSE, NULL) < 0) {
					inf_fail_answer(c, 500, "server_error", "api_error",
							"ward: out of memory");
					return;
				}
				c->resp_init = true;
				c->st = C_HEAD;
				c->want = EPOLLIN;
				break;
			}
			r = up_write(c, c->up.p + c->up.off, c->up.len);
			if (r == -EAGAIN)
				return;
			if (r < 0) {
				inf_fail_answer(c, 502, "upstream_error", "api_error",
						"ward: sending to %s: %s", c->b->host,
						strerror((int)-r));
				return;
			}
			c->up.off += (size_t)r;
			c->up.len -= (size_t)r;
			c->last_activity = ward_mono_ns();
			break;
		case C_HEAD:
		case C_RBODY:
			if (c->out.len >= OUT_HIGH) {
				c->want =
					0; /* the client drains first: ward_inference_call_consume */
				return;
			}
			r = up_read(c, buf, sizeof(buf));
			if (r == -EAGAIN)
				return;
			if (r < 0) {
				inf_fail_answer(c, 502, "upstream_error", "api_error",
						"ward: reading from %s: %s", c->b->host,
						c->tls ? ward_tls_error(c->tls)
						       : strerror((int)-r));
				return;
			}
			c->last_activity = ward_mono_ns();
			if (r == 0) {
				upstream_eof(c);
				return;
			}
			response_bytes(c, buf, (size_t)r);
			break;
		}
	}
}
