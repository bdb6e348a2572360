// SPDX-License-Identifier: MIT
/* bpf/egress.bpf.c on the real kernel: per-binary verdicts, redirection to the
 * proxy with the original destination recoverable by peer address, UDP only
 * to the DNS stub, identity by inode (symlinks match, copies do not), IPv6 and
 * IPv4-mapped IPv6, ring buffer events, two instances side by side, nothing
 * left attached afterwards.
 *
 * Runs in a network namespace of its own (addresses on lo), with cgroups of
 * its own; the clients are copies of this very executable (role "client"),
 * since identity is the executable's inode. Exit 77 when not root or when the
 * kernel cannot load cgroup sock_addr / sock_ops programs. The fixture (netns,
 * binaries, two loaded instances, listeners) is built once; every case runs in
 * a forked child of its own, so one case's events, records and failures cannot
 * leak into the next. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/egress.h"

#include "check.h"
#include "fixture.h"

#define EXPLICIT 3128
#define TRANSPARENT 3129
#define X_EPERM 10
#define X_OTHER 11
#define X_NOREPLY 12

static char tmpdir[128];
static char cg_a[PATH_MAX], cg_b[PATH_MAX], cg_c[PATH_MAX], cg_u[PATH_MAX];

/* ---- client role: runs as a copy of this executable inside a cgroup ---- */

static int parse_addr(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return AF_INET6;
	}
	return -1;
}

/* client burst ADDR PORT N: N datagrams with sendto (N events at once). */
static int client_burst(const char *addr, int port, int n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(addr, port, &ss, &len), fd;

	if (fam < 0 || (fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return X_OTHER;
	for (int i = 0; i < n; i++)
		if (sendto(fd, "b", 1, 0, (struct sockaddr *)&ss, len) != 1)
			return X_OTHER;
	return 0;
}

static int bind_port(int fam, int sport)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	parse_addr(fam == AF_INET ? "0.0.0.0" : "::", sport, &ss, &len);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* client victim ADDR PORT SPORT: one datagram to the stub from source port SPORT.
 * client borrow ADDR PORT SPORT N OUT: bind SPORT and connect to the stub
 * (its record), then flood: N live sockets connected to the stub (the map is
 * smaller: the rest must be refused), closed, then N more opened and closed
 * one by one; finally send on the first socket. Writes the number of refused
 * connects to OUT. */
static int client_udp(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam, fd, n, refused = 0, *live;
	FILE *f;

	fam = parse_addr(argv[3], atoi(argv[4]), &ss, &len);
	if (fam < 0 || (fd = bind_port(fam, atoi(argv[5]))) < 0)
		return X_OTHER;
	if (strcmp(argv[2], "victim") == 0)
		return sendto(fd, "v", 1, 0, (struct sockaddr *)&ss, len) == 1 ? 0 : X_OTHER;
	if (argc != 8 || connect(fd, (struct sockaddr *)&ss, len) < 0)
		return X_OTHER;
	n = atoi(argv[6]);
	live = calloc((size_t)n, sizeof(*live));
	if (!live)
		return X_OTHER;
	for (int i = 0; i < n; i++) {
		live[i] = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (live[i] < 0)
			return X_OTHER;
		if (connect(live[i], (struct sockaddr *)&ss, len) < 0) {
			if (errno != EPERM)
				return X_OTHER;
			refused++;
		}
	}
	for (int i = 0; i < n; i++)
		close(live[i]);
	for (int i = 0; i < n; i++) {
		int s = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (s < 0 || connect(s, (struct sockaddr *)&ss, len) < 0)
			return X_OTHER; /* released records make room again */
		close(s);
	}
	f = fopen(argv[7], "we");
	if (!f || fprintf(f, "%d\n", refused) < 0 || fclose(f) != 0)
		return X_OTHER;
	/* wait for the test's reply: the socket stays open while it looks us up */
	{
		struct timeval tv = { .tv_sec = 5 };
		char c;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (send(fd, "a", 1, 0) != 1 || recv(fd, &c, 1, 0) != 1)
			return X_NOREPLY;
	}
	return 0;
}

/* client MODE ADDR PORT: tcp (connect, wait for one byte), udp (sendto), udpc (connect+send).
 * spawn BIN ARGS...: run BIN as a child (for the ancestors rule). */
static int client_main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct timeval tv = { .tv_sec = 5 };
	socklen_t len;
	char c;
	int fam, fd;

	if (argc >= 3 && strcmp(argv[1], "spawn") == 0) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0)
			return X_OTHER;
		return WIFEXITED(st) ? WEXITSTATUS(st) : X_OTHER;
	}
	if (argc == 6 && strcmp(argv[2], "burst") == 0)
		return client_burst(argv[3], atoi(argv[4]), atoi(argv[5]));
	if (argc >= 6 && (strcmp(argv[2], "victim") == 0 || strcmp(argv[2], "borrow") == 0))
		return client_udp(argc, argv);
	if (argc != 5)
		return 2;
	fam = parse_addr(argv[3], atoi(argv[4]), &ss, &len);
	if (fam < 0)
		return 2;
	if (strcmp(argv[2], "tcp") == 0) {
		fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return X_OTHER;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&ss, len) < 0)
			return errno == EPERM ? X_EPERM : X_OTHER;
		if (read(fd, &c, 1) != 1 || c != 'k')
			return X_NOREPLY;
		return 0;
	}
	fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return X_OTHER;
	if (strcmp(argv[2], "udpc") == 0) {
		if (connect(fd, (struct sockaddr *)&ss, len) < 0)
			return errno == EPERM ? X_EPERM : X_OTHER;
		if (send(fd, "q", 1, 0) != 1)
			return errno == EPERM ? X_EPERM : X_OTHER;
		return 0;
	}
	if (sendto(fd, "q", 1, 0, (struct sockaddr *)&ss, len) != 1)
		return errno == EPERM ? X_EPERM : X_OTHER;
	return 0;
}

/* ---- test side ---- */

#define MAX_EVENTS 512
static struct ward_event events[MAX_EVENTS];
static char event_binary[MAX_EVENTS][PATH_MAX];
static char event_rule[MAX_EVENTS][64];
static char event_action[MAX_EVENTS][8];
static int n_events;
static struct sockaddr_storage last_peer;

/* Rows that count lost events (ev NULL), by the instance that wrote them. */
struct drop_rows {
	int n;
	char reason[4][128];
};

static void on_event(void *ud, const struct ward_event *ev, const struct ward_decision *d)
{
	struct drop_rows *dr = ud;

	if (!ev) {
		CHECK(strcmp(d->layer, "kernel") == 0 && strcmp(d->action, "deny") == 0 &&
			      d->rule && strcmp(d->rule, "events_dropped") == 0,
		      "drop row %s/%s/%s", d->layer, d->action, d->rule);
		if (dr && dr->n < 4)
			snprintf(dr->reason[dr->n++], 128, "%s", d->reason);
		return;
	}
	if (n_events >= MAX_EVENTS)
		return;
	events[n_events] = *ev;
	snprintf(event_binary[n_events], PATH_MAX, "%s", d->binary ? d->binary : "");
	snprintf(event_rule[n_events], 64, "%s", d->rule ? d->rule : "");
	snprintf(event_action[n_events], 8, "%s", d->action);
	CHECK(strcmp(d->layer, "kernel") == 0, "layer %s", d->layer);
	n_events++;
}

/* The event of pid with verdict/reason, after draining the ring buffer. */
static int find_event(struct ward_egress *e, pid_t pid, int verdict, int reason)
{
	ward_egress_consume(e);
	for (int i = n_events - 1; i >= 0; i--)
		if ((pid == 0 || events[i].tgid == (uint32_t)pid) && events[i].verdict == verdict &&
		    events[i].reason == reason)
			return i;
	return -1;
}

static int listener(int type, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fam = parse_addr(addr, port, &ss, &len);
	int fd = socket(fam, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "listener %s:%d: %m\n", addr, port);
	exit(1);
}

static bool pending(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

/* Fork a client BIN ARGS... inside the cgroup dir; returns its pid. */
static pid_t spawn(const char *cg, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		char path[PATH_MAX + 32], buf[32];
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			_exit(120);
		close(fd);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static char *bin(const char *name)
{
	static char paths[8][PATH_MAX];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

/* A client that must be refused with EPERM, quickly, with a deny event. */
static void expect_eperm(struct ward_egress *e, const char *cg, const char *who, const char *mode,
			 const char *addr, int port, int reason)
{
	char portbuf[8];
	pid_t pid;
	int st;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	pid = spawn(cg,
		    (char *[]){ bin(who), "client", (char *)mode, (char *)addr, portbuf, NULL });
	st = reap(pid);
	CHECK(st == X_EPERM, "%s %s %s:%d: exit %d, want EPERM", who, mode, addr, port, st);
	CHECK(find_event(e, pid, WARD_VERDICT_DENY, reason) >= 0,
	      "%s %s %s:%d: no deny event with reason %s", who, mode, addr, port,
	      ward_egress_reason_str((unsigned)reason));
}

/* A TCP client that must arrive on listening socket lfd; returns the peer lookup result. */
static int expect_arrival(struct ward_egress *e, const char *cg, char *const argv[], int lfd,
			  struct ward_egress_peer *ret_peer, pid_t *ret_pid)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int cfd, r = -1, st;
	pid_t pid = spawn(cg, argv);

	*ret_pid = pid;
	if (!pending(lfd, 5000)) {
		CHECK(0, "%s %s:%s: nothing arrived", argv[0], argv[3], argv[4]);
		reap(pid);
		return -1;
	}
	cfd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (cfd >= 0) {
		last_peer = peer;
		if (e)
			r = ward_egress_peer_lookup(e, (struct sockaddr *)&peer, ret_peer);
		else
			r = 0;
		CHECK(write(cfd, "k", 1) == 1, "reply");
		close(cfd);
	}
	st = reap(pid);
	CHECK(st == 0, "%s %s %s:%s: exit %d", argv[0], argv[2], argv[3], argv[4], st);
	return r;
}

static bool orig_is(const struct ward_egress_peer *p, const char *addr, int port)
{
	struct sockaddr_storage want;
	socklen_t len;
	int fam = parse_addr(addr, port, &want, &len);

	if (p->orig.ss_family != fam)
		return false;
	if (fam == AF_INET) {
		const struct sockaddr_in *a = (const void *)&p->orig, *b = (const void *)&want;

		return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
	}
	const struct sockaddr_in6 *a = (const void *)&p->orig, *b = (const void *)&want;

	return memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0 && a->sin6_port == b->sin6_port;
}

static int cgroup2_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - cgroup2 ");
		char mnt[256];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %255s", mnt) != 1)
			continue;
		snprintf(buf, size, "%s", mnt);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

static int attached_progs(int cgfd)
{
	enum bpf_attach_type types[] = { BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT,
					 BPF_CGROUP_UDP4_SENDMSG,  BPF_CGROUP_UDP6_SENDMSG,
					 BPF_CGROUP_SOCK_OPS,	   BPF_CGROUP_INET_SOCK_RELEASE };
	int total = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		__u32 cnt = 0;

		if (bpf_prog_query(cgfd, types[i], 0, NULL, NULL, &cnt) == 0)
			total += (int)cnt;
	}
	return total;
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (cg_a[0])
		rmdir(cg_a);
	if (cg_b[0])
		rmdir(cg_b);
	if (cg_c[0])
		rmdir(cg_c);
	if (cg_u[0])
		rmdir(cg_u);
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

static struct ward_egress *load_sized(struct ward_policy *p, const char *proxy4, const char *proxy6,
				      uint32_t ringbuf, uint32_t udp_socks, void *ud,
				      struct ward_error *err)
{
	struct ward_egress_config cfg = {
		.ringbuf_bytes = ringbuf,
		.udp_socks_max = udp_socks,
		.userdata = ud,
		.has_proxy6 = true,
		.has_dns6 = true,
		.explicit_port = EXPLICIT,
		.transparent_port = TRANSPARENT,
		.dns_port = 53,
		.sandbox = "test",
		.on_event = on_event,
	};
	struct ward_egress *e = NULL;

	inet_pton(AF_INET, proxy4, &cfg.proxy4);
	inet_pton(AF_INET, proxy4, &cfg.dns4);
	inet_pton(AF_INET6, proxy6, &cfg.proxy6);
	inet_pton(AF_INET6, proxy6, &cfg.dns6);
	if (ward_egress_new(p, &cfg, &e, err) < 0)
		return NULL;
	return e;
}

static struct ward_egress *load(struct ward_policy *p, const char *proxy4, const char *proxy6,
				struct ward_error *err)
{
	return load_sized(p, proxy4, proxy6, 0, 0, NULL, err);
}

static int make_cgroup(char *path, size_t size, const char *cg2, const char *name)
{
	snprintf(path, size, "%s/ward-test-egress-%d-%s", cg2, getpid(), name);
	if (mkdir(path, 0755) < 0) {
		path[0] = '\0';
		return -1;
	}
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int count_events_of(pid_t pid)
{
	int n = 0;

	for (int i = 0; i < n_events; i++)
		n += events[i].tgid == (uint32_t)pid;
	return n;
}

/* A tiny ring buffer, filled while nobody reads: every event is either seen
 * or counted as dropped, and the drop count becomes one row with the count. */
static void test_drop_rows(struct ward_policy *pol, const char *cg2)
{
	struct ward_error err = { 0 };
	struct drop_rows dr = { 0 };
	enum { N = 300 };
	struct ward_egress *c;
	uint64_t dropped;
	char want[128];
	pid_t pid;
	int cgc, seen;

	c = load_sized(pol, "10.77.0.1", "fd77::1", 4096, 0, &dr, &err);
	CHECK(c, "load with a 4 KiB ring buffer: %s", err.msg);
	cgc = make_cgroup(cg_c, sizeof(cg_c), cg2, "c");
	if (!c || cgc < 0 || ward_egress_attach(c, cgc, &err) < 0) {
		CHECK(0, "drop test setup: %s", err.msg);
		goto out;
	}
	n_events = 0;
	pid = spawn(cg_c, (char *[]){ bin("nopolicy"), "client", "burst", "127.0.0.1", "7001",
				      "300", NULL });
	CHECK(reap(pid) == 0, "burst client failed");
	ward_egress_consume(c);
	ward_egress_report_drops(c, true);
	seen = count_events_of(pid);
	dropped = ward_egress_dropped(c);
	printf("ring buffer 4096 bytes, %d datagrams: %d events seen, %llu dropped\n", N, seen,
	       (unsigned long long)dropped);
	CHECK(dropped > 0, "a 4 KiB ring buffer filled with %d events dropped none", N);
	CHECK(seen + (int)dropped == N, "seen %d + dropped %llu != %d generated", seen,
	      (unsigned long long)dropped, N);
	snprintf(want, sizeof(want), "%llu events dropped (ring buffer full)",
		 (unsigned long long)dropped);
	CHECK(dr.n == 1 && strcmp(dr.reason[0], want) == 0, "drop rows: %d, first '%s', want '%s'",
	      dr.n, dr.n ? dr.reason[0] : "", want);
	/* nothing new: no second row */
	ward_egress_report_drops(c, true);
	CHECK(dr.n == 1, "a drop row without new drops");
out:
	ward_egress_free(c);
	if (cgc >= 0)
		close(cgc);
	if (cg_c[0] && rmdir(cg_c) == 0)
		cg_c[0] = '\0';
}

/* UDP identity cannot be borrowed: a socket that binds the source port
 * another binary used for DNS, and floods the record map, is identified as
 * itself or not at all, never as the port's previous user. */
static void test_udp_identity(const char *cg2)
{
	char attacker[PATH_MAX], victim_link[PATH_MAX], out[PATH_MAX], buf[32];
	struct ward_error err = { 0 };
	struct drop_rows dr = { 0 };
	struct sockaddr_storage from;
	struct ward_egress_peer who;
	socklen_t flen = sizeof(from);
	struct ward_egress *u;
	int stub, cgu, refused = -1, r;
	FILE *f;
	pid_t pid;

	snprintf(victim_link, sizeof(victim_link), "%s/allowed", tmpdir);
	snprintf(attacker, sizeof(attacker), "%s/attacker", tmpdir);
	if (copy_file(bin("allowed"), attacker) < 0) {
		CHECK(0, "copy attacker");
		return;
	}
	uint16_t p53[] = { 53 };
	struct ward_endpoint ep_v = { .host = "victim.test", .ports = p53, .n_ports = 1 };
	struct ward_endpoint ep_x = { .host = "attacker.test", .ports = p53, .n_ports = 1 };
	struct ward_binary bv[] = { { .path = victim_link } }, bx[] = { { .path = attacker } };
	struct ward_net_policy net[] = {
		{ .key = "victim",
		  .binaries = bv,
		  .n_binaries = 1,
		  .endpoints = &ep_v,
		  .n_endpoints = 1 },
		{ .key = "attacker",
		  .binaries = bx,
		  .n_binaries = 1,
		  .endpoints = &ep_x,
		  .n_endpoints = 1 },
	};
	struct ward_policy pol = { .net = net, .n_net = 2, .rev = "u" };

	/* a small record map, so that "more sockets than it holds" fits the fd limit */
	u = load_sized(&pol, "10.77.0.4", "fd77::4", 0, 64, &dr, &err);
	CHECK(u, "load with 64 UDP records: %s", err.msg);
	cgu = make_cgroup(cg_u, sizeof(cg_u), cg2, "u");
	if (!u || cgu < 0 || ward_egress_attach(u, cgu, &err) < 0) {
		CHECK(0, "udp test setup: %s", err.msg);
		goto out;
	}
	stub = listener(SOCK_DGRAM, "10.77.0.4", 53);

	/* the victim asks from port 40053: identified as itself */
	pid = spawn(cg_u, (char *[]){ bin("allowed"), "client", "victim", "10.77.0.4", "53",
				      "40053", NULL });
	CHECK(reap(pid) == 0, "victim client failed");
	CHECK(pending(stub, 2000), "victim's query did not arrive");
	r = (int)recvfrom(stub, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	CHECK(r == 1 && buf[0] == 'v', "victim datagram");
	/* its socket is gone: its record with it */
	CHECK(ward_egress_udp_peer_lookup(u, (struct sockaddr *)&from, &who) == -ENOENT,
	      "the victim's record outlived its socket");

	/* the attacker binds the same port, floods, then asks (and waits for a reply) */
	snprintf(out, sizeof(out), "%s/refused", tmpdir);
	pid = spawn(cg_u, (char *[]){ attacker, "client", "borrow", "10.77.0.4", "53", "40053",
				      "200", out, NULL });
	CHECK(pending(stub, 10000), "attacker's query did not arrive");
	flen = sizeof(from);
	r = (int)recvfrom(stub, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	CHECK(r == 1 && buf[0] == 'a', "attacker datagram");
	CHECK(ntohs(((struct sockaddr_in *)&from)->sin_port) == 40053, "attacker port");
	r = ward_egress_udp_peer_lookup(u, (struct sockaddr *)&from, &who);
	CHECK(r == 0 && who.rule && strcmp(who.rule, "attacker") == 0 && who.pid == pid,
	      "attacker's datagram identified as '%s' (lookup %d)",
	      r == 0 && who.rule ? who.rule : "?", r);
	CHECK(!(r == 0 && who.rule && strcmp(who.rule, "victim") == 0),
	      "the attacker borrowed the victim's identity");
	CHECK(sendto(stub, "k", 1, 0, (struct sockaddr *)&from, flen) == 1, "reply");
	CHECK(reap(pid) == 0, "attacker client failed");
	f = fopen(out, "re");
	if (!f || fscanf(f, "%d", &refused) != 1)
		refused = -1;
	if (f)
		fclose(f);
	/* and once it is gone, so is its record */
	CHECK(ward_egress_udp_peer_lookup(u, (struct sockaddr *)&from, &who) == -ENOENT,
	      "the attacker's record outlived its socket");
	/* a full map refuses (fail closed), counts, and says so in a row */
	printf("udp records 64, 200 live sockets: %d connects refused, %llu counted\n", refused,
	       (unsigned long long)ward_egress_udp_refused(u));
	CHECK(refused > 0 && refused < 200, "refused %d of 200 with a 64-record map", refused);
	CHECK((uint64_t)refused == ward_egress_udp_refused(u), "refused %d, counted %llu", refused,
	      (unsigned long long)ward_egress_udp_refused(u));
	ward_egress_report_drops(u, true);
	snprintf(out, sizeof(out), "%d UDP sockets refused (identity map full)", refused);
	CHECK(dr.n >= 1 && strcmp(dr.reason[dr.n - 1], out) == 0, "udp row '%s', want '%s'",
	      dr.n ? dr.reason[dr.n - 1] : "", out);
	close(stub);
out:
	ward_egress_free(u);
	if (cgu >= 0)
		close(cgu);
	if (cg_u[0] && rmdir(cg_u) == 0)
		cg_u[0] = '\0';
}

/* ---- the fixture all cases share: set up once, each case in its own child ---- */

static struct ward_egress *a, *b;
static char allowed_real[PATH_MAX];
static int fd_exp4, fd_tp4, fd_exp6, fd_tp6, fd_tgt4, fd_tgt6, fd_dns4, fd_dns6, fd_lo, fd_tgt_dns,
	fd_exp_b, fd_tp_b;

static void case_no_policy(void)
{
	/* no network policy: EPERM everywhere, the proxy included */
	expect_eperm(a, cg_a, "nopolicy", "tcp", "10.77.0.1", EXPLICIT, WARD_REASON_NO_POLICY);
	expect_eperm(a, cg_a, "nopolicy", "tcp", "10.77.0.2", 443, WARD_REASON_NO_POLICY);
	expect_eperm(a, cg_a, "nopolicy", "tcp", "fd77::1", EXPLICIT, WARD_REASON_NO_POLICY);
	expect_eperm(a, cg_a, "nopolicy", "tcp", "::ffff:10.77.0.1", EXPLICIT,
		     WARD_REASON_NO_POLICY);
	expect_eperm(a, cg_a, "nopolicy", "udp", "10.77.0.1", 53, WARD_REASON_NO_POLICY);
	/* a copy of the allowed binary is another inode */
	expect_eperm(a, cg_a, "copy", "tcp", "10.77.0.1", EXPLICIT, WARD_REASON_NO_POLICY);
	expect_eperm(a, cg_a, "copy", "tcp", "10.77.0.2", 443, WARD_REASON_NO_POLICY);
}

static void case_explicit(void)
{
	struct ward_egress_peer peer;
	pid_t pid;

	/* the allowed binary (policy names its symlink) reaches the explicit proxy */
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("allowed"), "client", "tcp", "10.77.0.1", "3128", NULL },
			   fd_exp4, &peer, &pid) == 0) {
		CHECK(peer.pid == pid, "peer pid %d, want %d", peer.pid, pid);
		CHECK(peer.binary && strcmp(peer.binary, allowed_real) == 0, "peer binary %s",
		      peer.binary);
		CHECK(peer.rule && strcmp(peer.rule, "testnet") == 0, "peer rule %s", peer.rule);
		CHECK(orig_is(&peer, "10.77.0.1", EXPLICIT), "orig of an explicit connection");
		CHECK(!(peer.flags & WARD_CONN_REDIRECTED), "explicit marked redirected");
	} else {
		CHECK(0, "peer lookup of an explicit proxy connection failed");
	}
	CHECK(find_event(a, pid, WARD_VERDICT_ALLOW, WARD_REASON_PROXY_EXPLICIT) >= 0,
	      "no allow event for the explicit proxy");
}

static void case_redirect(void)
{
	struct ward_egress_peer peer;
	pid_t pid;
	int i;

	/* its direct connection lands on the transparent port, original destination kept */
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("allowed"), "client", "tcp", "10.77.0.2", "443", NULL },
			   fd_tp4, &peer, &pid) == 0) {
		CHECK(peer.pid == pid, "peer pid %d, want %d", peer.pid, pid);
		CHECK(orig_is(&peer, "10.77.0.2", 443), "original destination lost");
		CHECK(peer.flags & WARD_CONN_REDIRECTED, "not marked redirected");
		CHECK(peer.flags & WARD_CONN_ALLOWED_IP,
		      "10.77.0.2 is inside allowed_ips 10.77.0.0/24");
	} else {
		CHECK(0, "peer lookup of a redirected connection failed");
	}
	CHECK(!pending(fd_tgt4, 0), "the direct destination was reached");
	i = find_event(a, pid, WARD_VERDICT_REDIRECT, WARD_REASON_REDIRECT);
	CHECK(i >= 0, "no redirect event");
	if (i >= 0) {
		CHECK(strcmp(event_action[i], "allow") == 0, "redirect logged as %s",
		      event_action[i]);
		CHECK(strcmp(event_binary[i], allowed_real) == 0, "event binary %s",
		      event_binary[i]);
		CHECK(strcmp(event_rule[i], "testnet") == 0, "event rule %s", event_rule[i]);
		CHECK(events[i].orig_port == 443 && events[i].dst_port == TRANSPARENT,
		      "event ports %u -> %u", events[i].orig_port, events[i].dst_port);
	}
	/* the records go away with the socket */
	CHECK(ward_egress_conn_lookup(a, peer.cookie, &peer) == -ENOENT,
	      "cookie record left after close");
}

static void case_ports_udp(void)
{
	pid_t pid;

	/* ports outside its endpoints are refused in the kernel */
	expect_eperm(a, cg_a, "allowed", "tcp", "10.77.0.2", 80, WARD_REASON_PORT);
	/* other proxy ports are not a way around the redirect */
	expect_eperm(a, cg_a, "allowed", "tcp", "10.77.0.1", TRANSPARENT, WARD_REASON_PROXY_PORT);

	/* UDP: DNS to the stub only */
	pid = spawn(cg_a, (char *[]){ bin("allowed"), "client", "udp", "10.77.0.1", "53", NULL });
	CHECK(reap(pid) == 0, "dns to the stub refused");
	CHECK(pending(fd_dns4, 2000), "dns query did not arrive at the stub");
	/* recorded for the stub, which has not asked about it: no row yet (the
	 * stub's lookup writes it, ward_egress_udp_peer_lookup) */
	CHECK(find_event(a, pid, WARD_VERDICT_ALLOW, WARD_REASON_DNS_STUB) < 0,
	      "a row for a datagram to the stub before the stub asked");
	pid = spawn(cg_a, (char *[]){ bin("allowed"), "client", "udp", "fd77::1", "53", NULL });
	CHECK(reap(pid) == 0, "dns to the IPv6 stub refused");
	CHECK(pending(fd_dns6, 2000), "dns query did not arrive at the IPv6 stub");
	expect_eperm(a, cg_a, "allowed", "udp", "10.77.0.2", 53, WARD_REASON_UDP);
	expect_eperm(a, cg_a, "allowed", "udpc", "10.77.0.2", 53, WARD_REASON_UDP);
	expect_eperm(a, cg_a, "allowed", "udp", "fd77::2", 53, WARD_REASON_UDP);
	expect_eperm(a, cg_a, "allowed", "udp", "::ffff:10.77.0.2", 53, WARD_REASON_UDP);
	expect_eperm(a, cg_a, "allowed", "udp", "10.77.0.1", 443, WARD_REASON_PROXY_PORT);
	CHECK(!pending(fd_tgt_dns, 0), "UDP reached a non-stub address");
}

static void case_loopback(void)
{
	struct ward_egress_peer peer;
	pid_t pid;

	/* loopback stays allowed for everyone */
	expect_arrival(NULL, cg_a,
		       (char *[]){ bin("nopolicy"), "client", "tcp", "127.0.0.1", "7000", NULL },
		       fd_lo, &peer, &pid);
	CHECK(find_event(a, pid, WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK) >= 0,
	      "no loopback event");
}

static void case_ipv6(void)
{
	struct ward_egress_peer peer;
	pid_t pid;

	/* IPv6 exactly like IPv4 */
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("allowed"), "client", "tcp", "fd77::2", "443", NULL },
			   fd_tp6, &peer, &pid) == 0) {
		CHECK(peer.pid == pid, "v6 peer pid");
		CHECK(orig_is(&peer, "fd77::2", 443), "v6 original destination lost");
	} else {
		CHECK(0, "peer lookup of a redirected IPv6 connection failed");
	}
	CHECK(!pending(fd_tgt6, 0), "the direct IPv6 destination was reached");
	expect_eperm(a, cg_a, "allowed", "tcp", "fd77::2", 80, WARD_REASON_PORT);

	/* IPv4-mapped IPv6 exactly like IPv4: redirected to the IPv4 proxy */
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("allowed"), "client", "tcp", "::ffff:10.77.0.2", "443",
				       NULL },
			   fd_tp4, &peer, &pid) == 0) {
		CHECK(peer.pid == pid, "mapped peer pid");
		CHECK(orig_is(&peer, "10.77.0.2", 443), "mapped original destination lost");
	} else {
		CHECK(0, "peer lookup of a redirected mapped connection failed");
	}
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("allowed"), "client", "tcp", "::ffff:10.77.0.1", "3128",
				       NULL },
			   fd_exp4, &peer, &pid) == 0)
		CHECK(peer.pid == pid, "mapped explicit peer pid");
	else
		CHECK(0, "peer lookup of a mapped explicit connection failed");
}

static void case_glob_ancestors(void)
{
	struct ward_egress_peer peer;
	pid_t pid;

	/* a glob in the policy */
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("sub/a/b/globbed"), "client", "tcp", "10.77.0.2", "443",
				       NULL },
			   fd_tp4, &peer, &pid) == 0)
		CHECK(orig_is(&peer, "10.77.0.2", 443), "glob: original destination lost");
	else
		CHECK(0, "glob-matched binary not redirected");

	/* ancestors: a child of "parent" (rule with ancestors) gets the parent's policy */
	if (expect_arrival(a, cg_a,
			   (char *[]){ bin("parent"), "spawn", bin("nopolicy"), "client", "tcp",
				       "10.77.0.2", "443", NULL },
			   fd_tp4, &peer, &pid) == 0) {
		CHECK(peer.depth == 1, "ancestor depth %u", peer.depth);
		CHECK(peer.rule && strcmp(peer.rule, "anc") == 0, "ancestor rule %s", peer.rule);
	} else {
		CHECK(0, "child of an ancestors rule not redirected");
	}
	/* ...but a child of "allowed" (no ancestors) does not */
	pid = spawn(cg_a, (char *[]){ bin("allowed"), "spawn", bin("nopolicy"), "client", "tcp",
				      "10.77.0.2", "443", NULL });
	CHECK(reap(pid) == X_EPERM, "child of a binary without ancestors got network");
}

static void case_instance_b(void)
{
	struct ward_egress_peer peer;
	pid_t pid;

	/* instance B beside A: its policy, its proxy, its maps */
	if (expect_arrival(b, cg_b,
			   (char *[]){ bin("nopolicy"), "client", "tcp", "10.77.0.2", "443", NULL },
			   fd_tp_b, &peer, &pid) == 0) {
		CHECK(peer.rule && strcmp(peer.rule, "other") == 0, "B rule %s", peer.rule);
		CHECK(ward_egress_peer_lookup(a, (struct sockaddr *)&last_peer, &peer) == -ENOENT,
		      "A sees B's connection");
	} else {
		CHECK(0, "B: redirect failed");
	}
	expect_eperm(b, cg_b, "allowed", "tcp", "10.77.0.2", 443, WARD_REASON_NO_POLICY);
	expect_eperm(a, cg_a, "nopolicy", "tcp", "10.77.0.2", 443, WARD_REASON_NO_POLICY);
	/* B has inference routes: any binary may reach its explicit proxy port, nothing else */
	expect_arrival(b, cg_b,
		       (char *[]){ bin("copy"), "client", "tcp", "10.77.0.3", "3128", NULL },
		       fd_exp_b, &peer, &pid);
	CHECK(find_event(b, pid, WARD_VERDICT_ALLOW, WARD_REASON_INFERENCE) >= 0,
	      "no inference allow event");
	CHECK(peer.flags & WARD_CONN_INFERENCE, "inference connection not marked");
	expect_eperm(b, cg_b, "copy", "tcp", "10.77.0.2", 443, WARD_REASON_NO_POLICY);
	/* A has no routes: the same binary is refused at A's proxy */
	expect_eperm(a, cg_a, "copy", "tcp", "10.77.0.1", EXPLICIT, WARD_REASON_NO_POLICY);
}

static void case_identity_rows(void)
{
	/* this case's own events of an executable outside the policy */
	for (int k = 0; k < 5; k++)
		expect_eperm(a, cg_a, "nopolicy", "tcp", "10.77.0.2", 443, WARD_REASON_NO_POLICY);
	CHECK(ward_egress_dropped(a) == 0 && ward_egress_dropped(b) == 0, "events dropped");
	CHECK(ward_egress_peer_drops(a) == 0, "peer records dropped");
	{
		struct stat st;
		int seen = 0;

		/* the kernel's identity of an executable outside the policy is its
		 * inode, with the kernel's dev encoding; rows still name it */
		CHECK(stat(bin("nopolicy"), &st) == 0, "stat");
		for (int k = 0; k < n_events; k++) {
			if (strcmp(events[k].comm, "nopolicy") != 0 || events[k].depth)
				continue;
			seen++;
			CHECK(events[k].ino == st.st_ino &&
				      events[k].dev == ward_egress_kdev(st.st_dev),
			      "identity %llx:%llu, file %llx:%llu",
			      (unsigned long long)events[k].dev, (unsigned long long)events[k].ino,
			      (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
			CHECK(strstr(event_binary[k], "nopolicy"), "binary %s", event_binary[k]);
		}
		CHECK(seen >= 5, "%d events of nopolicy", seen);
	}
}

static struct ward_policy *policy_a;
static char cg2_root[256];

/* the cgroups these cases make for themselves (the parent never sees their
 * names) go with the case */
static void case_drop_rows(void)
{
	test_drop_rows(policy_a, cg2_root);
	if (cg_c[0])
		rmdir(cg_c);
}

static void case_udp_identity(void)
{
	test_udp_identity(cg2_root);
	if (cg_u[0])
		rmdir(cg_u);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], cg2[256], link[PATH_MAX], glob[PATH_MAX], parent[PATH_MAX];
	struct ward_error err = { 0 };
	int cga, cgb;
	ssize_t n;
	int i;

	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return client_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "spawn") == 0)
		return client_main(argc, argv);
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) != 1 ||
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) != 1) {
		fprintf(stderr, "SKIP: cgroup sock_addr / sock_ops programs not loadable\n");
		return 77;
	}
	if (cgroup2_mount(cg2, sizeof(cg2)) < 0) {
		fprintf(stderr, "SKIP: no cgroup2 mount\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: unshare(CLONE_NEWNET): %m\n");
		return 77;
	}
	atexit(cleanup);
	/* our own namespace: every address is ours, nothing leaves the machine */
	sh("ip link set lo up");
	for (i = 1; i <= 4; i++) {
		sh("ip addr add 10.77.0.%d/32 dev lo", i);
		sh("ip -6 addr add fd77::%d/128 dev lo nodad", i);
	}

	/* the binaries: copies of this executable, each its own inode */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ward-egress-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	sh("mkdir -p %s/sub/a/b", tmpdir);
	if (copy_file(self, bin("allowed")) || copy_file(self, bin("nopolicy")) ||
	    copy_file(self, bin("copy")) || copy_file(self, bin("parent")) ||
	    copy_file(self, bin("sub/a/b/globbed")))
		return 1;
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	if (symlink("allowed", link) < 0)
		return 1;
	snprintf(glob, sizeof(glob), "%s/sub/**/glob*", tmpdir);
	snprintf(parent, sizeof(parent), "%s/parent", tmpdir);
	if (!realpath(bin("allowed"), allowed_real))
		return 1;

	/* policy A: the symlink and a glob may reach port 443; "parent" and its children too */
	uint16_t ports443[] = { 443 };
	struct ward_cidr cidr = { .family = AF_INET, .prefix = 24, .addr = { 10, 77, 0, 0 } };
	struct ward_endpoint ep = { .host = "example.test",
				    .ports = ports443,
				    .n_ports = 1,
				    .allowed_ips = &cidr,
				    .n_allowed_ips = 1 };
	struct ward_binary bins_net[] = { { .path = link }, { .path = glob } };
	struct ward_binary bins_anc[] = { { .path = parent, .ancestors = true } };
	struct ward_net_policy net_a[] = {
		{ .key = "anc",
		  .binaries = bins_anc,
		  .n_binaries = 1,
		  .endpoints = &ep,
		  .n_endpoints = 1 },
		{ .key = "testnet",
		  .binaries = bins_net,
		  .n_binaries = 2,
		  .endpoints = &ep,
		  .n_endpoints = 1 },
	};
	struct ward_policy pol_a = { .net = net_a, .n_net = 2, .rev = "a" };

	/* policy B: only "nopolicy" has network; inference routes for everyone */
	char nopol_path[PATH_MAX];
	snprintf(nopol_path, sizeof(nopol_path), "%s/nopolicy", tmpdir);
	struct ward_binary bins_b[] = { { .path = nopol_path } };
	struct ward_net_policy net_b[] = { { .key = "other",
					     .binaries = bins_b,
					     .n_binaries = 1,
					     .endpoints = &ep,
					     .n_endpoints = 1 } };
	struct ward_inference_route route = { .name = "default" };
	struct ward_policy pol_b = {
		.net = net_b, .n_net = 1, .routes = &route, .n_routes = 1, .rev = "b"
	};

	a = load(&pol_a, "10.77.0.1", "fd77::1", &err);
	if (!a) {
		fprintf(stderr, "FAIL: load A: %s\n", err.msg);
		return 1;
	}
	b = load(&pol_b, "10.77.0.3", "fd77::3", &err);
	if (!b) {
		fprintf(stderr, "FAIL: load B: %s\n", err.msg);
		return 1;
	}
	CHECK(ward_egress_n_identities(a) == 3, "A has %zu identities, want 3 (link, glob, parent)",
	      ward_egress_n_identities(a));

	snprintf(cg_a, sizeof(cg_a), "%s/ward-test-egress-%d-a", cg2, getpid());
	snprintf(cg_b, sizeof(cg_b), "%s/ward-test-egress-%d-b", cg2, getpid());
	if (mkdir(cg_a, 0755) < 0 || mkdir(cg_b, 0755) < 0)
		return 1;
	cga = open(cg_a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cgb = open(cg_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ward_egress_attach(a, cga, &err) < 0 || ward_egress_attach(b, cgb, &err) < 0) {
		fprintf(stderr, "FAIL: attach: %s\n", err.msg);
		return 1;
	}
	CHECK(attached_progs(cga) == 6, "cgroup A has %d programs", attached_progs(cga));

	fd_exp4 = listener(SOCK_STREAM, "10.77.0.1", EXPLICIT);
	fd_tp4 = listener(SOCK_STREAM, "10.77.0.1", TRANSPARENT);
	fd_exp6 = listener(SOCK_STREAM, "fd77::1", EXPLICIT);
	fd_tp6 = listener(SOCK_STREAM, "fd77::1", TRANSPARENT);
	fd_tgt4 = listener(SOCK_STREAM, "10.77.0.2", 443);
	fd_tgt6 = listener(SOCK_STREAM, "fd77::2", 443);
	fd_dns4 = listener(SOCK_DGRAM, "10.77.0.1", 53);
	fd_dns6 = listener(SOCK_DGRAM, "fd77::1", 53);
	fd_tgt_dns = listener(SOCK_DGRAM, "10.77.0.2", 53);
	fd_lo = listener(SOCK_STREAM, "127.0.0.1", 7000);
	fd_exp_b = listener(SOCK_STREAM, "10.77.0.3", EXPLICIT);
	fd_tp_b = listener(SOCK_STREAM, "10.77.0.3", TRANSPARENT);

	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{ "no policy", case_no_policy },
		{ "explicit", case_explicit },
		{ "redirect", case_redirect },
		{ "ports udp", case_ports_udp },
		{ "loopback", case_loopback },
		{ "ipv6", case_ipv6 },
		{ "glob ancestors", case_glob_ancestors },
		{ "instance b", case_instance_b },
		{ "identity rows", case_identity_rows },
		{ "drop rows", case_drop_rows },
		{ "udp identity", case_udp_identity },
	};
	int failed_cases = 0;

	policy_a = &pol_a;
	snprintf(cg2_root, sizeof(cg2_root), "%s", cg2);
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++)
		failed_cases += run_case(cases[k].name, cases[k].fn) != 0;

	/* nothing left attached */
	ward_egress_free(a);
	ward_egress_free(b);
	CHECK(attached_progs(cga) == 0, "programs still attached to A: %d", attached_progs(cga));
	CHECK(attached_progs(cgb) == 0, "programs still attached to B: %d", attached_progs(cgb));
	close(cga);
	close(cgb);
	CHECK(rmdir(cg_a) == 0 && rmdir(cg_b) == 0, "cgroups not removable: %m");
	cg_a[0] = cg_b[0] = '\0';
	(void)fd_exp6;

	printf("%d cases failed; %d checks passed, %d failed in the parent\n", failed_cases, passes,
	       failures);
	return failures || failed_cases ? 1 : 0;
}
