// SPDX-License-Identifier: MIT
/* Admission (admission.h): the limits in force, accept, and refusals that
 * are answered and logged instead of dropped. Runs on the loop thread only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "proxy/admission.h"
#include "proxy/proxy_internal.h"

#define FDS_PER_TUNNEL 6    /* client, upstream, two splice pipes */
#define FD_HEADROOM 64	    /* listeners, epoll, eventfds, the log, the resolver, ... */
#define ROWS_PER_SECOND 100 /* refusals logged one by one; the rest counted */
#define LINGER_MAX 256	    /* refused sockets drained before close */
#define LINGER_MS 1000
#define PEEK_MAX 2048

enum why { WHY_FULL, WHY_FDS, WHY_MEMORY, WHY_N };

/* Who a refused connection came from, for its row. */
struct refused_who {
	char binary[PATH_MAX];
	char via[PATH_MAX]; /* "": none */
	pid_t pid;
	struct sockaddr_storage orig; /* transparent: the original destination */
	char session[32];	      /* "": none */
	bool has_uid;
	uint32_t uid;
	uint64_t cgid; /* 0: unknown */
};

struct linger_fd {
	int fd;
	uint64_t deadline;
	enum why why;
	bool transparent;
	bool row_pending;	 /* its row waits for the first bytes (CONNECT host:port) */
	bool awaiting;		 /* transparent, nothing sent yet: HTTP gets a 503, else a reset */
	struct refused_who *who; /* for the pending row; NULL: unidentified */
};

struct ward_admission {
	int reserve_fd; /* /dev/null, given up to accept() when out of fds */
	uint64_t nofile;
	uint64_t base_fds; /* fds ward holds besides connections (estimate + headroom) */
	struct linger_fd lg[LINGER_MAX];
	size_t n_lg;
	uint64_t window; /* the second the row budget counts for */
	uint32_t rows_in_window;
	uint64_t unlogged[WHY_N]; /* refused since the last counted row */
	uint64_t last_counted_ns;
	_Atomic uint64_t refused; /* read by ward_proxy_stats() from any thread */
};

void ward_proxy_limits_from_policy(const struct ward_limits *pl, struct ward_proxy_limits *ret)
{
	ret->max_conns = pl->max_connections;
	ret->idle_tunnel_ms = pl->idle_tunnel_ms;
	ret->idle_http_ms = pl->idle_http_ms;
	ret->connect_timeout_ms = pl->connect_timeout_ms;
	ret->request_timeout_ms = pl->request_timeout_ms;
	ret->max_body = pl->max_body;
}

/* Raise RLIMIT_NOFILE's soft limit to the hard limit (every tunnel can cost
 * 6 fds); the soft limit now. */
static uint64_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : rl.rlim_cur;
}

static uint32_t default_max_conns(void)
{
	uint64_t nofile = raise_nofile();
	uint64_t n = nofile > FD_HEADROOM + LINGER_MAX
			     ? (nofile - FD_HEADROOM - LINGER_MAX) / FDS_PER_TUNNEL
			     : 0;

	if (n < 256)
		n = 256; /* past the budget tunnels go without splice pipes (2 fds) */
	return n > WARD_PROXY_MAX_CONNS_DEFAULT ? WARD_PROXY_MAX_CONNS_DEFAULT : (uint32_t)n;
}

void ward_proxy_limits_resolve(struct ward_proxy_limits *ret, const struct ward_proxy_limits *in)
{
	*ret = *in;
	if (!ret->max_conns)
		ret->max_conns = default_max_conns();
	if (!ret->idle_tunnel_ms)
		ret->idle_tunnel_ms = 300 * 1000;
	if (!ret->idle_http_ms)
		ret->idle_http_ms = 60 * 1000;
	if (!ret->connect_timeout_ms)
		ret->connect_timeout_ms = 10 * 1000;
	if (!ret->request_timeout_ms)
		ret->request_timeout_ms = 30 * 1000;
	if (!ret->max_body)
		ret->max_body = 64ull << 20;
	if (!ret->sniff_ms)
		ret->sniff_ms = 500;
	if (!ret->flush_ms)
		ret->flush_ms = 5000;
}

int admission_new(struct ward_proxy *px, struct ward_admission **ret)
{
	struct ward_admission *a = calloc(1, sizeof(*a));

	(void)px;
	if (!a)
		return -ENOMEM;
	a->nofile = raise_nofile();
	a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (a->reserve_fd < 0) {
		int r = -errno;

		free(a);
		return r;
	}
	/* the lowest free fd: what is open now, and room for what opens later */
	a->base_fds = (uint64_t)a->reserve_fd + FD_HEADROOM;
	a->last_counted_ns = ward_mono_ns();
	*ret = a;
	return 0;
}

static const char *why_text(const struct ward_proxy *px, enum why why, char *buf, size_t len)
{
	switch (why) {
	case WHY_FULL:
		snprintf(buf, len, "max_connections (%u) reached", px->lim.max_conns);
		break;
	case WHY_FDS:
		snprintf(buf, len, "out of file descriptors (RLIMIT_NOFILE %llu)",
			 (unsigned long long)px->adm->nofile);
		break;
	case WHY_MEMORY:
	case WHY_N:
		snprintf(buf, len, "out of memory");
		break;
	}
	return buf;
}

/* The counted row: refusals not logged one by one since the last one. */
static void counted_row(struct ward_proxy *px, struct ward_admission *a)
{
	for (int w = 0; w < WHY_N; w++) {
		char why[96], reason[192];
		struct ward_decision d = {
			.sandbox = px->cfg.sandbox,
			.layer = "proxy",
			.action = "deny",
			.rule = "events_dropped",
			.reason = reason,
			.policy_rev = proxy_policy(px)->rev,
		};

		if (!a->unlogged[w])
			continue;
		snprintf(reason, sizeof(reason),
			 "%llu connections refused (%s), not logged one by one",
			 (unsigned long long)a->unlogged[w], why_text(px, w, why, sizeof(why)));
		if (px->cfg.audit && ward_audit_submit(px->cfg.audit, &d) < 0)
			continue; /* the log counts its own drop; try again next time */
		a->unlogged[w] = 0;
	}
	a->last_counted_ns = ward_mono_ns();
}

/* "CONNECT host:port" at the start of what the client sent: the row's target */
static void connect_target(const char *p, size_t n, char *host, size_t hlen, uint16_t *port)
{
	const char *sp, *colon;

	if (n < 9 || memcmp(p, "CONNECT ", 8))
		return;
	sp = memchr(p + 8, ' ', n - 8);
	if (!sp)
		return;
	colon = sp;
	while (colon > p + 8 && colon[-1] != ':')
		colon--;
	if (colon == p + 8 || (size_t)(colon - 1 - (p + 8)) >= hlen)
		return;
	memcpy(host, p + 8, (size_t)(colon - 1 - (p + 8)));
	host[colon - 1 - (p + 8)] = 0;
	*port = (uint16_t)strtoul(colon, NULL, 10);
}

/* Room for n more fds besides the connections' budget and the lingering ones? */
static bool fds_left(const struct ward_proxy *px, uint64_t n)
{
	const struct ward_admission *a = px->adm;

	return a->base_fds + (uint64_t)px->n_active * FDS_PER_TUNNEL + a->n_lg + n <= a->nofile;
}

/* A refusal logged one by one while the second's budget lasts, else counted. */
static bool row_budget(struct ward_admission *a, bool have_log, enum why why)
{
	uint64_t sec = ward_mono_ns() / 1000000000ull;

	if (sec != a->window) {
		a->window = sec;
		a->rows_in_window = 0;
	}
	if (!have_log || a->rows_in_window >= ROWS_PER_SECOND) {
		a->unlogged[why]++;
		return false;
	}
	a->rows_in_window++;
	return true;
}

/* The proxy's identity lookup: the only place admission reads it. */
static bool identify(struct ward_proxy *px, const struct sockaddr_storage *peer,
		     struct refused_who *ret)
{
	struct ward_peer_ident id;

	if (!px->cfg.lookup ||
	    px->cfg.lookup(px->cfg.lookup_data, (const struct sockaddr *)peer, &id) < 0)
		return false;
	memcpy(ret->binary, id.binary, sizeof(ret->binary));
	memcpy(ret->via, id.via, sizeof(ret->via));
	ret->pid = id.pid;
	ret->orig = id.orig;
	memcpy(ret->session, id.session, sizeof(ret->session));
	ret->has_uid = id.has_uid;
	ret->uid = id.uid;
	ret->cgid = id.cgid;
	return true;
}

/* The row of one refusal: who (when identified), where to (CONNECT's target
 * in what the client sent, or a transparent connection's original one). */
static void refusal_row(struct ward_proxy *px, const struct refused_who *who, bool transparent,
			enum why why, const char *seen, size_t n_seen, bool answered)
{
	char host[WARD_HOST_MAX] = "", ip[INET6_ADDRSTRLEN] = "";
	char whyt[96], reason[256];
	uint16_t port = 0;

	if (transparent && who) {
		const struct sockaddr_storage *o = &who->orig;

		if (o->ss_family == AF_INET) {
			inet_ntop(AF_INET, &((const struct sockaddr_in *)o)->sin_addr, ip,
				  sizeof(ip));
			port = ntohs(((const struct sockaddr_in *)o)->sin_port);
		} else if (o->ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)o)->sin6_addr, ip,
				  sizeof(ip));
			port = ntohs(((const struct sockaddr_in6 *)o)->sin6_port);
		}
	} else if (!transparent) {
		connect_target(seen, n_seen, host, sizeof(host), &port);
	}
	snprintf(reason, sizeof(reason), "%s: %s", why_text(px, why, whyt, sizeof(whyt)),
		 answered ? "refused with 503" : "refused with a reset (no HTTP to answer)");
	struct ward_decision d = {
		.sandbox = px->cfg.sandbox,
		.layer = "proxy",
		.action = "deny",
		.binary = who && who->binary[0] ? who->binary : NULL,
		.via = who && who->via[0] ? who->via : NULL,
		.pid = who ? who->pid : 0,
		.host = host[0] ? host : NULL,
		.ip = ip[0] ? ip : NULL,
		.port = port,
		.protocol = transparent ? "tcp" : "connect",
		.rule = "limits",
		.reason = reason,
		.policy_rev = proxy_policy(px)->rev,
		.session = who && who->session[0] ? who->session : NULL,
		.has_uid = who && who->has_uid,
		.uid = who && who->has_uid ? who->uid : 0,
	};
	char cg[PATH_MAX];

	d.cgroup = who ? ward_cgroup_path(who->cgid, who->pid, cg, sizeof(cg)) : NULL;
	if (ward_audit_submit(px->cfg.audit, &d) < 0)
		px->adm->unlogged[why]++;
}

static bool looks_http(const char *p, size_t n)
{
	static const char *const methods[] = { "GET ",	   "POST ",  "PUT ",	 "DELETE ", "HEAD ",
					       "OPTIONS ", "PATCH ", "CONNECT ", "TRACE " };

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		size_t k = strlen(methods[i]);

		if (!memcmp(p, methods[i], n < k ? n : k))
			return n > 0;
	}
	return false;
}

static void answer_503(struct ward_proxy *px, int fd, enum why why)
{
	char whyt[96];
	size_t len = 0;
	char *resp =
		error_response(503, "ward_overloaded", why_text(px, why, whyt, sizeof(whyt)), &len);

	/* a fresh socket's send buffer takes the whole answer at once */
	if (resp)
		(void)!send(fd, resp, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(resp);
	shutdown(fd, SHUT_WR);
}

static void reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static bool may_linger(struct ward_proxy *px)
{
	return px->adm->n_lg < LINGER_MAX && fds_left(px, FDS_PER_TUNNEL + 1);
}

/* Answer, log and let go of a connection the proxy does not take on. What
 * the client has sent so far is read first (a close with unread bytes would
 * be a reset that may overtake the answer). Explicit clients, and transparent
 * ones that speak HTTP, get a 503 and an orderly shutdown, drained for a
 * moment before the close when there is room (an explicit one's row waits for
 * the CONNECT line to name the target); a transparent one that has sent
 * nothing yet is given sniff_ms to show which; the others get a reset. */
static void refuse(struct ward_proxy *px, int fd, const struct sockaddr_storage *peer,
		   bool transparent, enum why why, bool linger_ok)
{
	struct ward_admission *a = px->adm;
	char seen[PEEK_MAX];
	ssize_t n = recv(fd, seen, sizeof(seen), MSG_DONTWAIT);
	size_t n_seen = n > 0 ? (size_t)n : 0;
	bool answer = !transparent || looks_http(seen, n_seen);
	bool row = row_budget(a, px->cfg.audit != NULL, why);
	struct refused_who who;
	bool known = row && identify(px, peer, &who);
	bool await = transparent && !n_seen;

	a->refused++;
	linger_ok = linger_ok && may_linger(px);
	if (linger_ok && (answer || await)) {
		struct linger_fd *l = &a->lg[a->n_lg++];
		uint64_t ms = await ? px->lim.sniff_ms : LINGER_MS;

		*l = (struct linger_fd){ .fd = fd,
					 .deadline = ward_mono_ns() + ms * 1000000ull,
					 .why = why,
					 .transparent = transparent,
					 .awaiting = await };
		l->row_pending = row && !n_seen;
		if (l->row_pending && known) {
			l->who = malloc(sizeof(*l->who));
			if (l->who)
				*l->who = who;
		}
		if (!await)
			answer_503(px, fd, why);
		if (row && !l->row_pending)
			refusal_row(px, known ? &who : NULL, transparent, why, seen, n_seen, true);
		return;
	}
	if (row)
		refusal_row(px, known ? &who : NULL, transparent, why, seen, n_seen, answer);
	if (!answer) {
		reset_close(fd);
		return;
	}
	answer_503(px, fd, why);
	while (recv(fd, seen, sizeof(seen), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

void admission_refuse(struct ward_proxy *px, int fd, const struct sockaddr_storage *peer, int idx,
		      int why)
{
	refuse(px, fd, peer, px->lfd_transparent[idx], why == -ENOMEM ? WHY_MEMORY : WHY_FDS, true);
}

int admission_accept(struct ward_proxy *px, int idx, struct sockaddr_storage *ret_peer)
{
	struct ward_admission *a = px->adm;
	socklen_t len = sizeof(*ret_peer);
	bool transparent = px->lfd_transparent[idx];
	int fd = accept4(px->lfd[idx], (struct sockaddr *)ret_peer, &len,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && a->reserve_fd >= 0) {
		/* out of fds: the reserve lets this one be answered, not left in the queue */
		close(a->reserve_fd);
		len = sizeof(*ret_peer);
		fd = accept4(px->lfd[idx], (struct sockaddr *)ret_peer, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			px->accepted++;
			refuse(px, fd, ret_peer, transparent, WHY_FDS, false);
		}
		a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? -ECONNREFUSED : -EAGAIN;
	}
	if (fd < 0)
		return errno == ECONNABORTED || errno == EINTR ? -ECONNREFUSED : -EAGAIN;
	px->accepted++;
	if (px->n_active >= px->lim.max_conns) {
		px->refused_full++;
		refuse(px, fd, ret_peer, transparent, WHY_FULL, true);
		return -ECONNREFUSED;
	}
	/* the fd budget: a connection taken on must be able to open its upstream
	 * and pipes (fds are handed out lowest first: one this high says the same) */
	if (!fds_left(px, FDS_PER_TUNNEL) || (uint64_t)fd + FDS_PER_TUNNEL >= a->nofile) {
		refuse(px, fd, ret_peer, transparent, WHY_FDS, false);
		return -ECONNREFUSED;
	}
	return fd;
}

void admission_tick(struct ward_proxy *px)
{
	struct ward_admission *a = px->adm;
	uint64_t now = ward_mono_ns();
	char sink[PEEK_MAX];

	for (size_t i = 0; i < a->n_lg;) {
		struct linger_fd *l = &a->lg[i];
		const struct refused_who *who = l->who;
		ssize_t n = recv(l->fd, sink, sizeof(sink), MSG_DONTWAIT);
		bool gone = n == 0 || (n < 0 && errno != EAGAIN) || now >= l->deadline;

		if (l->awaiting && n > 0) {
			bool http = looks_http(sink, (size_t)n);

			if (l->row_pending)
				refusal_row(px, who, true, l->why, sink, (size_t)n, http);
			l->row_pending = false;
			l->awaiting = false;
			if (http) {
				answer_503(px, l->fd, l->why);
				l->deadline = now + LINGER_MS * 1000000ull;
				gone = false;
			} else {
				reset_close(l->fd);
				free(l->who);
				*l = a->lg[--a->n_lg];
				continue;
			}
		} else if (n > 0 && l->row_pending) {
			refusal_row(px, who, l->transparent, l->why, sink, (size_t)n, true);
			l->row_pending = false;
		}
		while (n > 0)
			n = recv(l->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (!gone) {
			i++;
			continue;
		}
		if (l->row_pending)
			refusal_row(px, who, l->transparent, l->why, "", 0, !l->awaiting);
		if (l->awaiting)
			reset_close(l->fd);
		else
			close(l->fd);
		free(l->who);
		*l = a->lg[--a->n_lg];
	}
	if (a->reserve_fd < 0)
		a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (now - a->last_counted_ns >= 1000000000ull)
		counted_row(px, a);
}

uint64_t admission_refused(const struct ward_admission *a)
{
	return a ? a->refused : 0;
}

void admission_free(struct ward_proxy *px, struct ward_admission *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_lg; i++) {
		char sink[PEEK_MAX];
		ssize_t n = recv(a->lg[i].fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (a->lg[i].row_pending)
			refusal_row(px, a->lg[i].who, a->lg[i].transparent, a->lg[i].why, sink,
				    n > 0 ? (size_t)n : 0, !a->lg[i].awaiting);
		if (a->lg[i].awaiting)
			reset_close(a->lg[i].fd);
		else
			close(a->lg[i].fd);
		free(a->lg[i].who);
	}
	a->n_lg = 0;
	if (px->cfg.policy)
		counted_row(px, a);
	if (a->reserve_fd >= 0)
		close(a->reserve_fd);
	free(a);
}
