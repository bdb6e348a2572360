// SPDX-License-Identifier: MIT
/* The control socket: who is on the other end (SO_PEERCRED, SO_PEERGROUPS),
 * JSON lines in (64 KiB each at most, fds with SCM_RIGHTS) and out. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "runtime/daemon_internal.h"

const char *errno_name(int e)
{
#define E(x)                                                                                       \
	{                                                                                          \
		x, #x                                                                              \
	}
	static const struct {
		int e;
		const char *name;
	} names[] = {
		E(EPERM),  E(ENOENT), E(ESRCH),	  E(EIO),     E(E2BIG),	       E(EBADF),
		E(ENOMEM), E(EACCES), E(EBUSY),	  E(EEXIST),  E(ENOTDIR),      E(EISDIR),
		E(EINVAL), E(ENOSPC), E(ENOSYS),  E(ENOTSUP), E(ENAMETOOLONG), E(ETIMEDOUT),
		E(EAGAIN), E(EMFILE), E(ENOEXEC), E(ECHILD),  E(EADDRINUSE),   E(ENOBUFS),
	};
#undef E
	e = e < 0 ? -e : e;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].e == e)
			return names[i].name;
	return "EIO"; /* an errno the protocol does not name */
}

int conn_send(struct dconn *c, json_t *o)
{
	_cleanup_free_ char *text = NULL;
	size_t len, off = 0;

	text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	if (!text || c->dead)
		return -EPIPE;
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps' NUL becomes the newline: sent by length */
	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* gone, or not reading for SO_SNDTIMEO: it loses the connection */
			c->dead = true;
			return -EPIPE;
		}
		off += (size_t)n;
	}
	return 0;
}

static json_t *reply_base(json_t *req, bool ok)
{
	json_t *o = json_object(), *id = req ? json_object_get(req, "id") : NULL;

	if (!o)
		return NULL;
	json_object_set(o, "id", id ? id : json_null());
	json_object_set_new(o, "ok", json_boolean(ok));
	return o;
}

void reply_ok(struct dconn *c, json_t *req, json_t *res)
{
	json_t *o = reply_base(req, true);

	if (o && res)
		json_object_update(o, res);
	json_decref(res);
	conn_send(c, o);
}

static void vreply_err(struct dconn *c, json_t *req, int code, const char *fmt, va_list ap)
{
	json_t *o = reply_base(req, false);
	char msg[WARD_ERROR_MAX + 256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (o)
		json_object_set_new(o, "error",
				    json_pack("{s:s,s:s}", "code", errno_name(code), "message",
					      msg));
	conn_send(c, o);
}

void reply_err(struct dconn *c, json_t *req, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply_err(c, req, code, fmt, ap);
	va_end(ap);
}

void refuse(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb,
	    const char *sandbox, int code, const char *fmt, ...)
{
	char msg[WARD_ERROR_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	daemon_row(d, c, "deny", verb, sandbox, msg, NULL);
	reply_err(c, req, code, "%s", msg);
}

static bool in_groups(gid_t g, gid_t primary, const gid_t *v, size_t n)
{
	if (g == (gid_t)-1)
		return false;
	if (g == primary)
		return true;
	for (size_t i = 0; i < n; i++)
		if (v[i] == g)
			return true;
	return false;
}

static enum dperm authorise(struct ward_daemon *d, struct dconn *c)
{
	_cleanup_free_ gid_t *groups = NULL;
	socklen_t len = 64 * sizeof(gid_t);
	size_t n = 0;

	if (c->uid == 0)
		return DPERM_MANAGE;
	/* the peer's supplementary groups at connect time (kernel >= 4.13) */
	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = realloc(groups, len);

		if (!g)
			return DPERM_NONE;
		groups = g;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
			n = len / sizeof(gid_t);
			break;
		}
		if (errno != ERANGE)
			break;
	}
	c->n_groups = n < ARRAY_SIZE(c->groups) ? n : ARRAY_SIZE(c->groups);
	if (n)
		memcpy(c->groups, groups, c->n_groups * sizeof(gid_t));
	if (in_groups(d->gid_manage, c->gid, groups, n))
		return DPERM_MANAGE;
	if (in_groups(d->gid_read, c->gid, groups, n))
		return DPERM_READ;
	return DPERM_NONE;
}

void conn_accept(struct ward_daemon *d)
{
	struct timeval tv = { .tv_sec = 2 };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct dconn *c;
	int fd;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	/* a client that stops reading loses its connection, not the daemon's loop */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->perm = authorise(d, c);
	c->next = d->conns;
	d->conns = c;
	d->n_conns++;
	if (c->perm == DPERM_NONE) {
		refuse(d, c, NULL, "connect", NULL, EPERM,
		       "uid %u is not root and not in group ward or ward-audit", (unsigned)c->uid);
		c->dead = true;
	}
}

void conn_free(struct ward_daemon *d, struct dconn *c)
{
	if (c->session) {
		c->session->conn = NULL;
		session_orphan(d, c->session);
	}
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

static bool read_verb(const char *verb)
{
	return !strcmp(verb, "hello") || !strcmp(verb, "version") ||
	       !strcmp(verb, "sandbox.list") || !strcmp(verb, "sessions") ||
	       !strcmp(verb, "host.status");
}

static void verb_hello(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	reply_ok(c, req,
		 json_pack("{s:i,s:I,s:b,s:s}", "version", WARD_DAEMON_PROTOCOL, "pid",
			   (json_int_t)getpid(), "uid_can_manage", c->perm == DPERM_MANAGE, "ward",
			   WARD_VERSION));
}

static void dispatch(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	static const struct {
		const char *verb;
		void (*fn)(struct ward_daemon *, struct dconn *, json_t *);
	} verbs[] = {
		{ "hello", verb_hello },
		{ "version", verb_hello },
		{ "sandbox.create", verb_sandbox_create },
		{ "sandbox.list", verb_sandbox_list },
		{ "sandbox.stop", verb_sandbox_stop },
		{ "sandbox.start", verb_sandbox_start },
		{ "sandbox.rm", verb_sandbox_rm },
		{ "exec", verb_exec },
		{ "sessions", verb_sessions },
		{ "policy.apply", verb_policy_apply },
		{ "host.enforce", verb_host_enforce },
		{ "host.status", verb_host_status },
		{ "host.stop", verb_host_stop },
	};
	const char *verb = json_string_value(json_object_get(req, "verb"));
	const char *name = json_string_value(json_object_get(req, "name"));

	if (!verb) {
		reply_err(c, req, EINVAL, "a request needs a \"verb\" string");
		return;
	}
	if (c->perm != DPERM_MANAGE && !read_verb(verb)) {
		refuse(d, c, req, verb, name, EPERM,
		       "uid %u may only read (group ward-audit): '%s' needs root or group ward",
		       (unsigned)c->uid, verb);
		return;
	}
	if (!strcmp(verb, "signal") || !strcmp(verb, "winsize")) {
		session_control(d, c, req, verb);
		return;
	}
	if (!strncmp(verb, "secret.", 7)) {
		verb_secret(d, c, req, verb);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(verb, verbs[i].verb)) {
			verbs[i].fn(d, c, req);
			return;
		}
	reply_err(c, req, EINVAL, "unknown verb '%s'", verb);
}

static void handle_line(struct ward_daemon *d, struct dconn *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req;

	if (len && line[len - 1] == '\r')
		len--;
	if (!len)
		return;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req || !json_is_object(req)) {
		reply_err(c, NULL, EINVAL, "malformed request: %s",
			  req ? "not a JSON object" : jerr.text);
		json_decref(req);
		return;
	}
	dispatch(d, c, req);
	json_decref(req);
}

static void take_fds(struct ward_daemon *d, struct dconn *c, struct msghdr *msg)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;
		int *fds;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)CMSG_DATA(cm);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			if (c->n_fds < ARRAY_SIZE(c->fds)) {
				c->fds[c->n_fds++] = fds[i];
			} else {
				close(fds[i]);
				c->fd_overflow = true;
			}
		}
	}
}

void conn_readable(struct ward_daemon *d, struct dconn *c)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t start = 0;
	ssize_t n;

	if (c->dead)
		return;
	if (!c->buf) {
		c->buf = malloc(WARD_DAEMON_MAX_LINE);
		if (!c->buf) {
			c->dead = true;
			return;
		}
	}
	iov.iov_base = c->buf + c->len;
	iov.iov_len = WARD_DAEMON_MAX_LINE - c->len;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->dead = true; /* conn_free orphans its session */
		return;
	}
	take_fds(d, c, &msg);
	if (msg.msg_flags & MSG_CTRUNC)
		c->fd_overflow = true;
	c->len += (size_t)n;
	for (size_t i = 0; i < c->len && !c->dead; i++) {
		if (c->buf[i] != '\n')
			continue;
		handle_line(d, c, c->buf + start, i - start);
		start = i + 1;
	}
	if (c->dead)
		return;
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (c->len == WARD_DAEMON_MAX_LINE) {
		reply_err(c, NULL, E2BIG, "request line longer than %d bytes",
			  WARD_DAEMON_MAX_LINE);
		c->dead = true;
	}
}
