// SPDX-License-Identifier: MIT
/* A bounded load generator for the proxy (tests/e2e/test_load.sh,
 * tools/bench/proxy.sh, docs/proxy.md "Limits"), one epoll loop, no threads:
 *
 *   load_client tunnels -n N [-b BYTES] [-t SECONDS] [--hold SECONDS] [--direct] HOST:PORT
 *	N concurrent connections: each a CONNECT HOST:PORT through $HTTPS_PROXY
 *	(or straight to HOST:PORT with --direct, HOST an address), then BYTES of
 *	its own payload sent and the echo checked. Every tunnel stays open until
 *	all N have finished, so N are open at once; with --hold, SECONDS more,
 *	counting the echoed ones the other end closes meanwhile (held_closed).
 *	One line of counts on stdout;
 *	exit 0 when every tunnel echoed, 1 otherwise, 2 on bad usage.
 *   load_client echo -l ADDR:PORT [-p PORTS] [-t SECONDS]
 *	an echo server for the other end on PORTS ports from PORT (default 1),
 *	for at most SECONDS.
 *
 * Each connection ends in exactly one class: ok, refused (a complete HTTP
 * 503 with ward's JSON body), http (another status), reset, eof (closed
 * without a complete response), timeout, mismatch (echo differs), fd
 * (socket() failed here, e.g. EMFILE), connect (connect() failed). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000
#define HEAD_MAX 4096

enum cls { C_OK, C_REFUSED, C_HTTP, C_RESET, C_EOF, C_TIMEOUT, C_MISMATCH, C_FD, C_CONNECT, C_N };
static const char *const cls_name[C_N] = { "ok",      "refused",  "http", "reset",  "eof",
					   "timeout", "mismatch", "fd",	  "connect" };

enum st { ST_CONNECTING, ST_HEAD, ST_ECHO, ST_DONE };

struct lc {
	int fd;
	enum st st;
	bool ended;
	enum cls cls;
	char head[HEAD_MAX];
	size_t head_len;
	size_t sent, got; /* payload bytes sent, echo bytes checked */
	uint32_t seed;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *ret)
{
	char host[256];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &ret->sin_addr) == 1 ? 0 : -EINVAL;
}

/* http://IP:PORT[/] from the environment */
static int proxy_from_env(struct sockaddr_in *ret)
{
	const char *p = getenv("HTTPS_PROXY");
	char buf[128];
	char *slash;

	if (!p)
		p = getenv("https_proxy");
	if (!p || strncmp(p, "http://", 7) || strlen(p + 7) >= sizeof(buf))
		return -ENOENT;
	strcpy(buf, p + 7);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	return parse_addr(buf, ret);
}

/* byte i of connection seed's payload: distinct per connection */
static inline uint8_t pay(uint32_t seed, size_t i)
{
	uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u;

	return (uint8_t)(x ^ (x >> 13));
}

static size_t n_conns, payload = 4096;
static unsigned hold_s;
static struct lc *conns;
static unsigned counts[C_N];
static size_t n_ended, n_established, n_held_closed;
static uint64_t t_start, t_all_established, t_all_echoed;

static void end(struct lc *c, enum cls k, int epfd)
{
	if (c->ended)
		return;
	c->ended = true;
	c->cls = k;
	counts[k]++;
	n_ended++;
	/* a finished echo keeps its tunnel open until all are done */
	if (k != C_OK && c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

static void set_ev(int epfd, struct lc *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* the response head is complete in c->head: 200 starts the echo, a 503 with
 * ward's JSON body is a refusal, anything else is an HTTP error */
static void on_head(struct lc *c, int epfd, bool direct)
{
	char *end_head = direct ? c->head : strstr(c->head, "\r\n\r\n");
	int status = 0;

	if (!direct) {
		if (sscanf(c->head, "HTTP/1.%*d %d", &status) != 1) {
			end(c, C_HTTP, epfd);
			return;
		}
		if (status == 503) {
			const char *cl = strcasestr(c->head, "\r\nContent-Length:");
			size_t body_len = cl ? strtoul(cl + 17, NULL, 10) : 0;
			size_t have = c->head_len - (size_t)(end_head + 4 - c->head);

			if (have < body_len)
				return; /* more to come */
			end(c,
			    strstr(end_head, "\"error\":\"") &&
					    strstr(end_head, "\"layer\":\"proxy\"")
				    ? C_REFUSED
				    : C_HTTP,
			    epfd);
			return;
		}
		if (status != 200) {
			end(c, C_HTTP, epfd);
			return;
		}
	}
	c->st = ST_ECHO;
	n_established++;
	if (n_established == n_conns)
		t_all_established = now_ns();
	set_ev(epfd, c, EPOLLIN | EPOLLOUT);
}

static void on_event(struct lc *c, uint32_t ev, int epfd, bool direct)
{
	char buf[16384];
	ssize_t n;

	if (c->st == ST_CONNECTING) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			end(c, soerr == ECONNRESET ? C_RESET : C_CONNECT, epfd);
			return;
		}
		c->st = ST_HEAD;
		if (direct) {
			on_head(c, epfd, true);
			return;
		}
		/* the CONNECT head fits any fresh socket buffer */
		n = send(c->fd, c->head, c->head_len, MSG_NOSIGNAL);
		if (n != (ssize_t)c->head_len) {
			end(c, errno == ECONNRESET || errno == EPIPE ? C_RESET : C_EOF, epfd);
			return;
		}
		c->head_len = 0;
		set_ev(epfd, c, EPOLLIN);
		return;
	}
	if (c->st == ST_HEAD) {
		n = recv(c->fd, c->head + c->head_len, sizeof(c->head) - 1 - c->head_len, 0);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			end(c, n < 0 && errno == ECONNRESET ? C_RESET : C_EOF, epfd);
			return;
		}
		c->head_len += (size_t)n;
		c->head[c->head_len] = 0;
		if (strstr(c->head, "\r\n\r\n"))
			on_head(c, epfd, false);
		else if (c->head_len == sizeof(c->head) - 1)
			end(c, C_HTTP, epfd);
		return;
	}
	if (c->st != ST_ECHO)
		return;
	if ((ev & EPOLLOUT) && c->sent < payload) {
		size_t k = payload - c->sent < sizeof(buf) ? payload - c->sent : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = (char)pay(c->seed, c->sent + i);
		n = send(c->fd, buf, k, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			end(c, errno == ECONNRESET || errno == EPIPE ? C_RESET : C_EOF, epfd);
			return;
		}
		if (n > 0)
			c->sent += (size_t)n;
		if (c->sent == payload)
			set_ev(epfd, c, EPOLLIN);
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			end(c, n < 0 && errno == ECONNRESET ? C_RESET : C_EOF, epfd);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if ((uint8_t)buf[i] != pay(c->seed, c->got + (size_t)i)) {
				end(c, C_MISMATCH, epfd);
				return;
			}
		}
		c->got += (size_t)n;
		if (c->got > payload) {
			end(c, C_MISMATCH, epfd);
		} else if (c->got == payload) {
			c->st = ST_DONE;
			set_ev(epfd, c, 0);
			end(c, C_OK, epfd);
		}
	}
}

static int run_tunnels(const char *target, bool direct, unsigned timeout_s)
{
	struct sockaddr_in proxy, dst;
	struct epoll_event evs[256];
	uint64_t deadline;
	int epfd;

	if (direct ? parse_addr(target, &dst) < 0 : proxy_from_env(&proxy) < 0) {
		fprintf(stderr, "load_client: %s\n",
			direct ? "--direct needs IP:PORT" : "no HTTPS_PROXY=http://IP:PORT");
		return 2;
	}
	conns = calloc(n_conns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0)
		return 2;
	t_start = now_ns();
	deadline = t_start + (uint64_t)timeout_s * 1000000000ull;
	for (size_t i = 0; i < n_conns; i++) {
		struct lc *c = &conns[i];
		struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };

		c->seed = (uint32_t)i + 1;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			end(c, C_FD, epfd);
			continue;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (!direct)
			c->head_len = (size_t)snprintf(c->head, sizeof(c->head),
						       "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
						       target, target);
		if (connect(c->fd, (struct sockaddr *)(direct ? &dst : &proxy), sizeof(dst)) < 0 &&
		    errno != EINPROGRESS) {
			end(c, C_CONNECT, epfd);
			continue;
		}
		epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
	}
	while (n_ended < n_conns && now_ns() < deadline) {
		int n = epoll_wait(epfd, evs, 256, 100);

		for (int i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events, epfd, direct);
	}
	t_all_echoed = now_ns();
	for (size_t i = 0; i < n_conns; i++)
		end(&conns[i], C_TIMEOUT, epfd);
	if (hold_s) {
		/* the echoed tunnels, idle: does the other end close them? */
		uint64_t until = now_ns() + (uint64_t)hold_s * 1000000000ull;

		for (size_t i = 0; i < n_conns; i++)
			if (conns[i].fd >= 0)
				set_ev(epfd, &conns[i], EPOLLIN | EPOLLRDHUP);
		fprintf(stderr, "holding %u\n", counts[C_OK]); /* scripts wait for this line */
		while (now_ns() < until) {
			int n = epoll_wait(epfd, evs, 256, 100);

			for (int i = 0; i < n; i++) {
				struct lc *c = evs[i].data.ptr;
				char b[256];

				if (recv(c->fd, b, sizeof(b), MSG_DONTWAIT) > 0)
					continue;
				epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				n_held_closed++;
			}
		}
	}
	printf("total=%zu", n_conns);
	for (int k = 0; k < C_N; k++)
		printf(" %s=%u", cls_name[k], counts[k]);
	printf(" held_closed=%zu", n_held_closed);
	printf(" established_ms=%.1f all_ms=%.1f\n",
	       t_all_established ? (double)(t_all_established - t_start) / 1e6 : -1.0,
	       (double)(t_all_echoed - t_start) / 1e6);
	for (size_t i = 0; i < n_conns; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	return counts[C_OK] == n_conns ? 0 : 1;
}

struct echo {
	int fd;
	bool listener;
	char buf[16384];
	size_t len;
};

static int run_echo(const char *listen_at, unsigned n_ports, unsigned lifetime_s)
{
	static struct echo listeners[64];
	struct sockaddr_in sin;
	struct epoll_event evs[256], e;
	struct rlimit rl;
	int epfd;

	if (parse_addr(listen_at, &sin) < 0 || n_ports < 1 || n_ports > 64)
		return 2;
	/* the far end holds as many sockets as the load: soft up to hard */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	alarm(lifetime_s); /* bounded even if nobody stops it */
	epfd = epoll_create1(EPOLL_CLOEXEC);
	/* several ports: rounds of a benchmark each get a fresh 4-tuple space
	 * (the TIME_WAIT sockets of one round slow the next one's connect()) */
	for (unsigned i = 0; i < n_ports; i++) {
		struct echo *l = &listeners[i];
		struct sockaddr_in at = sin;

		at.sin_port = htons((uint16_t)(ntohs(sin.sin_port) + i));
		l->listener = true;
		l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
		if (bind(l->fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
		    listen(l->fd, 4096) < 0) {
			perror("load_client echo: listen");
			return 1;
		}
		e = (struct epoll_event){ .events = EPOLLIN, .data.ptr = l };
		epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &e);
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(epfd, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct echo *x = evs[i].data.ptr;
			ssize_t k;

			if (x->listener) {
				int fd;

				while ((fd = accept4(x->fd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					x = calloc(1, sizeof(*x));
					if (!x) {
						close(fd);
						continue;
					}
					x->fd = fd;
					e = (struct epoll_event){ .events = EPOLLIN,
								  .data.ptr = x };
					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
				}
				continue;
			}
			if (x->len) {
				k = send(x->fd, x->buf, x->len, MSG_NOSIGNAL);
				if (k > 0) {
					memmove(x->buf, x->buf + k, x->len - (size_t)k);
					x->len -= (size_t)k;
				}
			} else {
				k = recv(x->fd, x->buf, sizeof(x->buf), 0);
				if (k > 0) {
					x->len = (size_t)k;
					k = send(x->fd, x->buf, x->len, MSG_NOSIGNAL);
					if (k > 0) {
						memmove(x->buf, x->buf + k, x->len - (size_t)k);
						x->len -= (size_t)k;
					}
				}
			}
			if (k == 0 || (k < 0 && errno != EAGAIN)) {
				close(x->fd); /* also leaves the epoll set */
				free(x);
				continue;
			}
			e = (struct epoll_event){ .events = x->len ? EPOLLOUT : EPOLLIN,
						  .data.ptr = x };
			epoll_ctl(epfd, EPOLL_CTL_MOD, x->fd, &e);
		}
	}
}

static int usage(void)
{
	fprintf(stderr,
		"usage: load_client tunnels -n N [-b BYTES] [-t SECONDS] [--hold SECONDS] "
		"[--direct] HOST:PORT\n       load_client echo -l ADDR:PORT [-p PORTS] [-t SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *target = NULL, *listen_at = NULL;
	unsigned timeout_s = 60, n_ports = 1;
	bool direct = false;

	if (argc < 2)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n_conns = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-b") && i + 1 < argc)
			payload = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			timeout_s = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-p") && i + 1 < argc)
			n_ports = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			listen_at = argv[++i];
		else if (!strcmp(argv[i], "--hold") && i + 1 < argc)
			hold_s = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--direct"))
			direct = true;
		else if (argv[i][0] != '-' && !target)
			target = argv[i];
		else
			return usage();
	}
	/* bounded: at most MAX_CONNS connections, 16 MiB each way, 10 minutes */
	if (timeout_s == 0 || timeout_s > 600 || hold_s > 600 || payload > (16u << 20))
		return usage();
	if (!strcmp(argv[1], "echo") && listen_at)
		return run_echo(listen_at, n_ports, timeout_s);
	if (!strcmp(argv[1], "tunnels") && target && n_conns > 0 && n_conns <= MAX_CONNS)
		return run_tunnels(target, direct, timeout_s);
	return usage();
}
