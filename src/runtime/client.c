// SPDX-License-Identifier: MIT
/* The daemon's control socket, client side (client.h; protocol docs/daemon.md). */
#include "runtime/client.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

struct ward_client {
	int fd;
	json_int_t next_id;
	char *buf; /* bytes read, not yet returned: [start, len) */
	size_t start, len, cap;
};

const char *ward_client_socket_path(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = secure_getenv("WARD_SOCKET");
	return env && *env ? env : WARD_CLIENT_DEFAULT_SOCKET;
}

int ward_client_from_fd(int fd, struct ward_client **ret)
{
	struct ward_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->next_id = 1;
	*ret = c;
	return 0;
}

int ward_client_connect(const char *path, struct ward_client **ret, struct ward_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return ward_errx(err, -ENAMETOOLONG, "socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ward_err(err, -errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ECONNREFUSED)
			return ward_errx(err, r, "no daemon at %s (%s; is 'ward daemon' running?)",
					 path, strerror(-r));
		return ward_err(err, r, "connect to %s", path);
	}
	r = ward_client_from_fd(fd, ret);
	if (r < 0)
		return ward_err(err, r, "client");
	TAKE_FD(fd);
	return 0;
}

void ward_client_free(struct ward_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

int ward_client_fd(const struct ward_client *c)
{
	return c->fd;
}

bool ward_client_pending(const struct ward_client *c)
{
	return memchr(c->buf + c->start, '\n', c->len - c->start) != NULL;
}

static int send_all(int fd, const char *p, size_t n, const int *fds, size_t n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * WARD_CLIENT_MAX_FDS)];
		struct cmsghdr align;
	} u;

	while (n) {
		struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t w;

		if (n_fds) {
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			mh.msg_control = u.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
		}
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* the fds went with the first bytes the kernel took */
		n_fds = 0;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ward_client_send(struct ward_client *c, json_t *req, bool assign_id, const int *fds,
		     size_t n_fds, struct ward_error *err)
{
	_cleanup_free_ char *line = NULL;
	char *nl;
	size_t n;
	int r;

	if (n_fds > WARD_CLIENT_MAX_FDS || !json_is_object(req))
		return ward_errx(err, -EINVAL, "bad request");
	if (assign_id && !json_object_get(req, "id") &&
	    json_object_set_new(req, "id", json_integer(c->next_id++)) < 0)
		return ward_errx(err, -ENOMEM, "request id");
	/* compact, one line: jansson escapes control characters in strings */
	line = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return ward_errx(err, -ENOMEM, "encode request");
	n = strlen(line);
	nl = realloc(line, n + 2);
	if (!nl)
		return ward_errx(err, -ENOMEM, "encode request");
	line = nl;
	memcpy(line + n++, "\n", 2);
	r = send_all(c->fd, line, n, fds, n_fds);
	/* a request may carry a secret's value: it does not outlive the send */
	explicit_bzero(line, n);
	if (r == -EPIPE || r == -ECONNRESET)
		return ward_errx(err, -EPIPE, "the daemon closed the connection");
	if (r < 0)
		return ward_err(err, r, "send to the daemon");
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read more bytes into the buffer: 0 got some, -ECONNRESET at EOF. */
static int fill(struct ward_client *c, int timeout_ms)
{
	ssize_t rd;

	if (c->start && c->start == c->len)
		c->start = c->len = 0;
	if (c->cap - c->len < 4096) {
		size_t cap;
		char *b;

		/* keep the unread tail only */
		if (c->start) {
			memmove(c->buf, c->buf + c->start, c->len - c->start);
			c->len -= c->start;
			c->start = 0;
		}
		if (c->cap - c->len < 4096) {
			cap = c->cap ? c->cap * 2 : 65536;
			if (cap > WARD_CLIENT_MAX_LINE + 65536)
				cap = WARD_CLIENT_MAX_LINE + 65536;
			if (cap <= c->cap)
				return -E2BIG;
			b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
	}
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int p = poll(&pfd, 1, timeout_ms);

		if (p < 0 && errno == EINTR)
			return -EINTR;
		if (p < 0)
			return -errno;
		if (p == 0)
			return -ETIMEDOUT;
		rd = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (rd < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (rd < 0)
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		if (rd == 0)
			return -ECONNRESET;
		c->len += (size_t)rd;
		return 0;
	}
}

int ward_client_read(struct ward_client *c, int timeout_ms, json_t **ret, struct ward_error *err)
{
	int64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : -1;
	size_t scanned = 0;

	for (;;) {
		char *line = c->buf + c->start, *nl;
		size_t avail = c->len - c->start;
		int r, left = -1;

		nl = memchr(line + scanned, '\n', avail - scanned);
		if (nl) {
			size_t n = (size_t)(nl - line);
			json_error_t jerr;
			json_t *msg;

			c->start += n + 1;
			if (n > WARD_CLIENT_MAX_LINE)
				return ward_errx(err, -E2BIG, "reply of %zu bytes (limit %u)", n,
						 WARD_CLIENT_MAX_LINE);
			msg = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
			if (!msg)
				return ward_errx(err, -EPROTO,
						 "malformed reply from the daemon: %s", jerr.text);
			if (!json_is_object(msg)) {
				json_decref(msg);
				return ward_errx(err, -EPROTO,
						 "malformed reply from the daemon: not an object");
			}
			*ret = msg;
			return 0;
		}
		scanned = avail;
		if (avail > WARD_CLIENT_MAX_LINE)
			return ward_errx(err, -E2BIG, "reply line over %u bytes",
					 WARD_CLIENT_MAX_LINE);
		if (deadline >= 0) {
			int64_t now = mono_ms();

			left = now >= deadline ? 0 : (int)(deadline - now);
		}
		r = fill(c, left);
		/* fill may move the unread bytes to the start: scanned counts from start */
		if (r == -EINTR)
			return ward_errx(err, -EINTR, "interrupted");
		if (r == -ETIMEDOUT)
			return ward_errx(err, r, "no reply from the daemon");
		if (r == -ECONNRESET)
			return ward_errx(err, r, "the daemon closed the connection%s",
					 c->len > c->start ? " in the middle of a reply" : "");
		if (r == -E2BIG)
			return ward_errx(err, r, "reply line over %u bytes", WARD_CLIENT_MAX_LINE);
		if (r < 0)
			return ward_err(err, r, "read from the daemon");
	}
}

const char *ward_errno_name(int errnum)
{
	if (errnum < 0)
		errnum = -errnum;
	return errnum ? strerrorname_np(errnum) : NULL;
}

int ward_errno_from_name(const char *name)
{
	if (!name)
		return 0;
	for (int e = 1; e < 200; e++) {
		const char *n = strerrorname_np(e);

		if (n && !strcmp(n, name))
			return e;
	}
	return 0;
}

int ward_client_reply_errno(const json_t *msg)
{
	const json_t *e;
	int num;

	if (json_is_true(json_object_get(msg, "ok")))
		return 0;
	e = json_object_get(msg, "error");
	num = ward_errno_from_name(json_string_value(json_object_get(e, "code")));
	return num ? -num : -EIO;
}

const char *ward_client_error_message(const json_t *msg)
{
	const char *m =
		json_string_value(json_object_get(json_object_get(msg, "error"), "message"));

	return m ? m : "";
}

int ward_client_call(struct ward_client *c, json_t *req, json_t **ret_reply, struct ward_error *err)
{
	json_int_t id;
	int r;

	json_object_del(req, "id");
	r = ward_client_send(c, req, true, NULL, 0, err);
	/* a daemon that refuses a peer answers at accept and closes: its answer
	 * is still there to read when our request could not be sent */
	if (r < 0 && r != -EPIPE)
		return r;
	id = json_integer_value(json_object_get(req, "id"));
	for (;;) {
		json_t *msg = NULL;
		json_t *mid;
		int rr;

		rr = ward_client_read(c, r < 0 ? 0 : -1, &msg, err);
		if (rr < 0 && r < 0)
			return ward_errx(err, r, "the daemon closed the connection");
		if (rr < 0)
			return rr;
		mid = json_object_get(msg, "id");
		/* an error about the request line itself (E2BIG, EINVAL) may come without
		 * an id: it is the reply too */
		if ((json_is_integer(mid) && json_integer_value(mid) == id) ||
		    ((!mid || json_is_null(mid)) && !json_object_get(msg, "event"))) {
			r = ward_client_reply_errno(msg);
			if (r < 0) {
				const char *m = ward_client_error_message(msg);

				ward_errx(err, r, "%s", *m ? m : strerror(-r));
			}
			*ret_reply = msg;
			return r;
		}
		json_decref(msg);
	}
}
