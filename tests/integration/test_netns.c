// SPDX-License-Identifier: MIT
/* The sandbox network on the real kernel: veth pair + addressing (netns.c),
 * `table inet ward` (nft.c) and the NFLOG reader (nflog.c), against network
 * namespaces this test creates (a child that unshares CLONE_NEWNET and waits).
 * Traffic stays on this machine: the only peer is the host side of the veth,
 * and anything else is rejected inside the sandbox netns before it leaves.
 * One forked child per case; exit 77 when not root or when veth/nftables/NFLOG
 * are unavailable. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "common/util.h"
#include "enforcer/netns.h"
#include "enforcer/nflog.h"
#include "enforcer/nft.h"

#include "check.h"

#define SKIP 77

/* ---- a stand-in for the sandbox: a child alone in a new netns ---- */

struct sandbox {
	pid_t pid;
	int nsfd;
};

static int sandbox_start(struct sandbox *s)
{
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || c != 'y') {
		close(p[0]);
		return -EPERM;
	}
	close(p[0]);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)s->pid);
	s->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	return s->nsfd < 0 ? -errno : 0;
}

static void sandbox_stop(struct sandbox *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	if (s->nsfd >= 0)
		close(s->nsfd);
	s->pid = -1;
	s->nsfd = -1;
}

static int64_t now_ms(void)
{
	return (int64_t)(ward_mono_ns() / 1000000);
}

static int sockaddr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return AF_INET6;
	}
	return -1;
}

/* A listener on the host side (this thread's netns). */
static int host_listen(const char *ip, uint16_t port, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = sockaddr_of(ip, port, &ss, &len), one = 1;
	int fd = socket(fam, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 8) < 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Did the listener get a connection / datagram within ms? */
static bool host_got(int fd, int type, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[64];

	if (poll(&pfd, 1, ms) != 1)
		return false;
	if (type == SOCK_STREAM) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return false;
		close(c);
		return true;
	}
	return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
}

/* ---- a client inside the sandbox netns (ward_netns_run_in's thread) ---- */

struct attempt {
	const char *ip;
	uint16_t port;
	int type;
	int error; /* 0: connected (tcp) / sent (udp), else errno */
	int64_t ms;
};

static int attempt_inside(void *p)
{
	struct attempt *a = p;
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = sockaddr_of(a->ip, a->port, &ss, &len);
	int64_t t0 = now_ms();
	int fd, e = 0;

	fd = socket(fam, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		a->error = errno;
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
		} else {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			socklen_t el = sizeof(e);
			if (poll(&pfd, 1, 3000) != 1)
				e = ETIMEDOUT;
			else
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
		}
	}
	if (!e && a->type == SOCK_DGRAM) {
		if (send(fd, "ward", 4, 0) < 0)
			e = errno;
	}
	a->error = e;
	a->ms = now_ms() - t0;
	close(fd);
	return 0;
}

static struct attempt try_from(int nsfd, const char *ip, uint16_t port, int type)
{
	struct attempt a = { .ip = ip, .port = port, .type = type, .error = -1 };
	struct ward_error err = { 0 };

	if (ward_netns_run_in(nsfd, attempt_inside, &a, &err) < 0)
		fprintf(stderr, "run_in: %s\n", err.msg);
	return a;
}

/* ---- NFLOG collection ---- */

#define MAX_RECORDS 64
struct records {
	struct ward_nflog_record r[MAX_RECORDS];
	int n;
};

static void collect(const struct ward_nflog_record *rec, void *userdata)
{
	struct records *rs = userdata;

	if (rs->n < MAX_RECORDS)
		rs->r[rs->n++] = *rec;
}

/* Wait up to ms for a record to (ip, port). */
static const struct ward_nflog_record *wait_record(struct ward_nflog *l, struct records *rs,
						   const char *ip, uint16_t port, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		for (int i = 0; i < rs->n; i++)
			if (!strcmp(rs->r[i].dst, ip) && rs->r[i].dport == port)
				return &rs->r[i];
		int64_t left = end - now_ms();
		if (left <= 0)
			return NULL;
		struct pollfd pfd = { .fd = ward_nflog_fd(l), .events = POLLIN };
		poll(&pfd, 1, (int)left);
		ward_nflog_dispatch(l, collect, rs);
	}
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) > 0;
}

static bool state_exists(int idx)
{
	char path[64];

	snprintf(path, sizeof(path), WARD_NETNS_STATE_DIR "/%d", idx);
	return access(path, F_OK) == 0;
}

/* A full sandbox network: netns + nft + NFLOG reader. Exits SKIP when the
 * kernel lacks a piece. */
struct net {
	struct sandbox sb;
	struct ward_netns *n;
	struct ward_nflog *log;
};

static void net_up(struct net *net)
{
	struct ward_error err = { 0 };
	int r;

	net->sb.nsfd = -1;
	if (sandbox_start(&net->sb) < 0) {
		fprintf(stderr, "SKIP: cannot create a network namespace\n");
		exit(SKIP);
	}
	r = ward_netns_setup(net->sb.nsfd, &net->n, &err);
	if (r == -EOPNOTSUPP || r == -EAFNOSUPPORT) {
		fprintf(stderr, "SKIP: veth: %s\n", err.msg);
		exit(SKIP);
	}
	if (r < 0) {
		fprintf(stderr, "FAIL: ward_netns_setup: %s\n", err.msg);
		exit(1);
	}
	r = ward_nft_apply(net->n, &err);
	if (r == -EOPNOTSUPP || r == -ENOENT || r == -EPROTONOSUPPORT) {
		fprintf(stderr, "SKIP: nftables: %s\n", err.msg);
		exit(SKIP);
	}
	if (r < 0) {
		fprintf(stderr, "FAIL: ward_nft_apply: %s\n", err.msg);
		exit(1);
	}
	r = ward_nflog_open(net->n->netns_fd, net->n->nflog_group, &net->log, &err);
	if (r == -EPROTONOSUPPORT || r == -EOPNOTSUPP) {
		fprintf(stderr, "SKIP: NFLOG: %s\n", err.msg);
		exit(SKIP);
	}
	if (r < 0) {
		fprintf(stderr, "FAIL: ward_nflog_open: %s\n", err.msg);
		exit(1);
	}
}

static void net_down(struct net *net)
{
	ward_nflog_free(net->log);
	net->log = NULL;
	ward_netns_free(net->n);
	net->n = NULL;
	sandbox_stop(&net->sb);
}

/* ---- cases ---- */

static void case_setup_teardown(void)
{
	struct net net;
	struct ward_error err = { 0 };
	char ifname[IF_NAMESIZE];
	int idx;

	net_up(&net);
	struct ward_netns *n = net.n;
	snprintf(ifname, sizeof(ifname), "%s", n->ifname);
	idx = n->index;
	CHECK(link_exists(ifname), "host link %s", ifname);
	CHECK(state_exists(idx), "state file %d", idx);
	CHECK(ntohl(n->host_ip4.s_addr) == (0x0afe0000u | (4u * (unsigned)idx + 1)), "host ip4 %s",
	      n->host_ip4_str);
	CHECK(ntohl(n->sandbox_ip4.s_addr) == ntohl(n->host_ip4.s_addr) + 1, "sandbox ip4 %s",
	      n->sandbox_ip4_str);
	char want6[64];
	snprintf(want6, sizeof(want6), "fd77:7761:7264:%x::1", idx);
	CHECK(!strcmp(n->host_ip6_str, want6) ||
		      (idx == 0 && !strcmp(n->host_ip6_str, "fd77:7761:7264::1")),
	      "host ip6 %s", n->host_ip6_str);
	CHECK(n->proxy_port == 3128 && n->tproxy_port == 3129 && n->dns_port == 53, "ports");

	/* The host side must not route for the sandbox. */
	char path[128], *buf = NULL;
	size_t len;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	CHECK(ward_read_file(path, 64, &buf, &len) == 0 && buf[0] == '0', "%s", path);
	free(buf);
	buf = NULL;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname);
	CHECK(ward_read_file(path, 64, &buf, &len) == 0 && buf[0] == '1', "%s", path);
	free(buf);

	/* A live owner's pair survives stale cleanup. */
	unsigned removed = 99;
	CHECK(ward_netns_cleanup_stale(&removed, &err) == 0, "cleanup_stale: %s", err.msg);
	CHECK(link_exists(ifname) && state_exists(idx), "cleanup removed a live pair");

	/* The ruleset as nft(8) sees it from inside. */
	if (access("/usr/sbin/nft", X_OK) == 0 && access("/usr/bin/nsenter", X_OK) == 0) {
		char cmd[160], out[8192] = "";
		snprintf(cmd, sizeof(cmd),
			 "nsenter --net=/proc/%d/ns/net nft list table inet ward 2>&1",
			 (int)net.sb.pid);
		FILE *f = popen(cmd, "r");
		size_t got = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
		out[got] = '\0';
		if (f)
			pclose(f);
		char want[160];
		CHECK(strstr(out, "hook output priority filter; policy drop;"), "%s", out);
		CHECK(strstr(out, "hook input priority filter; policy drop;"), "%s", out);
		CHECK(strstr(out, "oif \"lo\" accept"), "%s", out);
		CHECK(strstr(out, "ct state established,related accept"), "%s", out);
		snprintf(want, sizeof(want), "ip daddr %s tcp dport 3128 accept", n->host_ip4_str);
		CHECK(strstr(out, want), "%s missing: %s", want, out);
		snprintf(want, sizeof(want), "ip6 daddr %s tcp dport 3129 accept", n->host_ip6_str);
		CHECK(strstr(out, want), "%s missing: %s", want, out);
		snprintf(want, sizeof(want), "ip daddr %s udp dport 53 accept", n->host_ip4_str);
		CHECK(strstr(out, want), "%s missing: %s", want, out);
		CHECK(strstr(out, "log prefix \"ward-deny\" group 7761"), "%s", out);
		CHECK(strstr(out, "reject with tcp reset"), "%s", out);
		CHECK(strstr(out, "reject with icmpx admin-prohibited"), "%s", out);
	} else {
		fprintf(stderr, "note: nft or nsenter missing, ruleset listing not checked\n");
	}

	unsigned rules = 0;
	CHECK(ward_nft_rule_count(n->netns_fd, &rules, &err) == 0 && rules == 21,
	      "rule count %u: %s", rules, err.msg);
	/* Applying again replaces the table atomically, no duplicate rules. */
	CHECK(ward_nft_apply(n, &err) == 0, "re-apply: %s", err.msg);
	CHECK(ward_nft_rule_count(n->netns_fd, &rules, &err) == 0 && rules == 21,
	      "after re-apply %u", rules);

	net_down(&net);
	CHECK(!link_exists(ifname), "%s left behind", ifname);
	CHECK(!state_exists(idx), "state file %d left behind", idx);
}

static void case_allowed(void)
{
	struct net net;

	net_up(&net);
	struct ward_netns *n = net.n;
	const struct {
		const char *ip;
		uint16_t port;
		int type;
	} ok[] = {
		{ n->host_ip4_str, 3128, SOCK_STREAM }, { n->host_ip6_str, 3128, SOCK_STREAM },
		{ n->host_ip4_str, 3129, SOCK_STREAM }, { n->host_ip6_str, 3129, SOCK_STREAM },
		{ n->host_ip4_str, 53, SOCK_DGRAM },	{ n->host_ip6_str, 53, SOCK_DGRAM },
		{ n->host_ip4_str, 53, SOCK_STREAM },	{ n->host_ip6_str, 53, SOCK_STREAM },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *kind = ok[i].type == SOCK_STREAM ? "tcp" : "udp";
		int l = host_listen(ok[i].ip, ok[i].port, ok[i].type);
		CHECK(l >= 0, "listen %s %s:%u: %s", kind, ok[i].ip, ok[i].port, strerror(-l));
		if (l < 0)
			continue;
		struct attempt a = try_from(net.sb.nsfd, ok[i].ip, ok[i].port, ok[i].type);
		CHECK(a.error == 0, "%s %s:%u from the sandbox: %s", kind, ok[i].ip, ok[i].port,
		      strerror(a.error));
		CHECK(host_got(l, ok[i].type, 2000), "host did not get %s %s:%u", kind, ok[i].ip,
		      ok[i].port);
		close(l);
	}
	/* Loopback inside the sandbox stays usable. */
	struct records rs = { .n = 0 };
	ward_nflog_dispatch(net.log, collect, &rs);
	CHECK(rs.n == 0, "allowed traffic was logged as denied (%d records, first %s:%u)", rs.n,
	      rs.n ? rs.r[0].dst : "", rs.n ? rs.r[0].dport : 0);
	net_down(&net);
}

static void case_denied(void)
{
	struct net net;
	static struct records rs;

	net_up(&net);
	struct ward_netns *n = net.n;
	const struct {
		const char *ip;
		uint16_t port;
		int type;
		bool listen; /* a host listener that must see nothing */
	} deny[] = {
		{ n->host_ip4_str, 8080, SOCK_STREAM, true },
		{ n->host_ip6_str, 8080, SOCK_STREAM, true },
		{ n->host_ip4_str, 5353, SOCK_DGRAM, true },
		{ "192.0.2.10", 80, SOCK_STREAM, false }, /* TEST-NET-1: never leaves the netns */
		{ "2001:db8::10", 443, SOCK_STREAM, false },
	};
	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
		const char *kind = deny[i].type == SOCK_STREAM ? "tcp" : "udp";
		int l = deny[i].listen ? host_listen(deny[i].ip, deny[i].port, deny[i].type) : -1;
		CHECK(!deny[i].listen || l >= 0, "listen %s:%u", deny[i].ip, deny[i].port);
		struct attempt a = try_from(net.sb.nsfd, deny[i].ip, deny[i].port, deny[i].type);
		CHECK(a.error == ECONNREFUSED || a.error == EPERM || a.error == EHOSTUNREACH ||
			      a.error == EACCES,
		      "%s %s:%u: got %s", kind, deny[i].ip, deny[i].port,
		      a.error ? strerror(a.error) : "success");
		CHECK(a.ms < 1000, "%s %s:%u took %lld ms (a timeout, not a reject)", kind,
		      deny[i].ip, deny[i].port, (long long)a.ms);
		if (l >= 0) {
			CHECK(!host_got(l, deny[i].type, 200), "host got %s %s:%u", kind,
			      deny[i].ip, deny[i].port);
			close(l);
		}
		const struct ward_nflog_record *rec =
			wait_record(net.log, &rs, deny[i].ip, deny[i].port, 2000);
		CHECK(rec, "no NFLOG record for %s %s:%u", kind, deny[i].ip, deny[i].port);
		if (!rec)
			continue;
		CHECK(!strcmp(rec->protocol, kind), "protocol %s, want %s", rec->protocol, kind);
		CHECK(!strcmp(rec->prefix, WARD_NFT_LOG_PREFIX), "prefix '%s'", rec->prefix);
		CHECK(rec->has_uid && rec->uid == getuid(), "uid %d/%u", rec->has_uid, rec->uid);
		CHECK(rec->family == (strchr(deny[i].ip, ':') ? AF_INET6 : AF_INET), "family");
		CHECK(!strcmp(rec->src,
			      strchr(deny[i].ip, ':') ? n->sandbox_ip6_str : n->sandbox_ip4_str),
		      "src %s", rec->src);
	}
	CHECK(ward_nflog_malformed(net.log) == 0, "malformed %llu",
	      (unsigned long long)ward_nflog_malformed(net.log));
	net_down(&net);
}

static int row_cb(const struct ward_audit_row *row, void *userdata)
{
	int *found = userdata;

	if (row->layer && !strcmp(row->layer, "nft") && row->action &&
	    !strcmp(row->action, "deny") && row->has_port && row->port == 9999 && row->protocol &&
	    !strcmp(row->protocol, "tcp") && row->reason &&
	    !strcmp(row->reason, "nft: not proxy or DNS") && row->sandbox &&
	    !strcmp(row->sandbox, "test-sb") && row->ip && strstr(row->ip, "10.254."))
		(*found)++;
	return 0;
}

static void case_audit_rows(void)
{
	struct net net;
	struct ward_error err = { 0 };
	struct ward_audit *audit = NULL;
	char db[] = "/tmp/ward-test-netns-XXXXXX";
	char path[128];

	CHECK(mkdtemp(db) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/decisions.db", db);
	net_up(&net);
	CHECK(ward_audit_open(path, &audit, &err) == 0, "audit open: %s", err.msg);
	if (!audit) {
		net_down(&net);
		return;
	}
	struct ward_nflog_audit ctx = { .audit = audit, .sandbox = "test-sb", .policy_rev = "r1" };
	struct attempt a = try_from(net.sb.nsfd, net.n->host_ip4_str, 9999, SOCK_STREAM);
	CHECK(a.error == ECONNREFUSED, "connect: %s", strerror(a.error));
	for (int i = 0; i < 20 && ctx.submitted == 0; i++) {
		struct pollfd pfd = { .fd = ward_nflog_fd(net.log), .events = POLLIN };
		poll(&pfd, 1, 100);
		ward_nflog_dispatch(net.log, ward_nflog_audit_fn, &ctx);
	}
	CHECK(ctx.submitted >= 1, "no row submitted");
	ward_audit_close(audit);

	struct ward_audit_reader *rd = NULL;
	int found = 0;
	CHECK(ward_audit_reader_open(path, &rd, &err) == 0, "reader: %s", err.msg);
	if (rd) {
		struct ward_audit_filter f = { .layer = "nft" };
		ward_audit_reader_each(rd, &f, row_cb, &found, &err);
		ward_audit_reader_close(rd);
	}
	CHECK(found >= 1, "no nft deny row for port 9999 in %s", path);
	net_down(&net);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", db);
	if (system(cmd) != 0)
		fprintf(stderr, "note: could not remove %s\n", db);
}

/* Datagrams sent from inside, all denied: a burst against a tiny receive buffer. */
struct burst {
	const char *ip;
	uint16_t port;
	int n;
	int sent;
};

static int burst_inside(void *p)
{
	struct burst *b = p;
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = sockaddr_of(b->ip, b->port, &ss, &len);
	int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	/* each one is logged, then rejected: EPERM at once (docs/network.md) */
	for (int i = 0; i < b->n; i++)
		b->sent += sendto(fd, "ward", 4, 0, (struct sockaddr *)&ss, len) == 4 ||
			   errno == EPERM;
	close(fd);
	return 0;
}

struct drop_count {
	int records; /* nft rows for the burst's port */
	int rows;    /* drop-count rows */
	char reason[128];
};

static int drop_row_cb(const struct ward_audit_row *row, void *userdata)
{
	struct drop_count *dc = userdata;

	if (!row->layer || strcmp(row->layer, "nft") || !row->action || strcmp(row->action, "deny"))
		return 0;
	if (row->rule && !strcmp(row->rule, "events_dropped")) {
		dc->rows++;
		snprintf(dc->reason, sizeof(dc->reason), "%s", row->reason ? row->reason : "");
	} else if (row->has_port && row->port == 9998) {
		dc->records++;
	}
	return 0;
}

/* NFLOG records lost to a full socket buffer become one row with their exact
 * count: rows + the count == packets logged. */
static void case_drop_rows(void)
{
	enum { BURST = 60 };
	struct net net;
	struct ward_error err = { 0 };
	struct ward_audit *audit = NULL;
	struct ward_audit_reader *rd = NULL;
	struct drop_count dc = { 0 };
	char db[] = "/tmp/ward-test-netns-XXXXXX";
	char path[128], want[128], cmd[160];
	uint64_t lost;
	bool more = true;

	CHECK(mkdtemp(db) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/decisions.db", db);
	net_up(&net);
	CHECK(ward_audit_open(path, &audit, &err) == 0, "audit open: %s", err.msg);
	if (!audit) {
		net_down(&net);
		return;
	}
	struct ward_nflog_audit ctx = { .audit = audit, .sandbox = "test-sb", .policy_rev = "r1" };
	/* the smallest buffer the kernel allows: a few records, then ENOBUFS */
	CHECK(ward_nflog_set_rcvbuf(net.log, 1) == 0, "SO_RCVBUF");
	struct burst b = { .ip = net.n->host_ip4_str, .port = 9998, .n = BURST };
	CHECK(ward_netns_run_in(net.sb.nsfd, burst_inside, &b, &err) == 0, "burst: %s", err.msg);
	CHECK(b.sent == BURST, "sent %d of %d", b.sent, BURST);
	while (ward_nflog_dispatch(net.log, ward_nflog_audit_fn, &ctx) > 0)
		;
	CHECK(ward_nflog_overruns(net.log) > 0, "a %d-packet burst did not overrun the buffer",
	      BURST);
	/* one more, with room again: its sequence number measures the loss */
	CHECK(ward_nflog_set_rcvbuf(net.log, 1 << 20) == 0, "SO_RCVBUF");
	b.n = 1;
	b.sent = 0;
	CHECK(ward_netns_run_in(net.sb.nsfd, burst_inside, &b, &err) == 0, "burst: %s", err.msg);
	for (int i = 0; i < 20 && more; i++) {
		struct pollfd pfd = { .fd = ward_nflog_fd(net.log), .events = POLLIN };

		poll(&pfd, 1, 100);
		ward_nflog_dispatch(net.log, ward_nflog_audit_fn, &ctx);
		ward_nflog_dropped(net.log, &more);
	}
	lost = ward_nflog_dropped(net.log, &more);
	CHECK(!more, "the last record did not measure the loss");
	ward_nflog_audit_drops(&ctx, net.log, true);
	ward_audit_close(audit);
	printf("NFLOG burst of %d against the minimum buffer: %llu rows, %llu lost, %llu overruns\n",
	       BURST + 1, (unsigned long long)ctx.submitted, (unsigned long long)lost,
	       (unsigned long long)ward_nflog_overruns(net.log));

	CHECK(ward_audit_reader_open(path, &rd, &err) == 0, "reader: %s", err.msg);
	if (rd) {
		struct ward_audit_filter f = { .layer = "nft" };

		ward_audit_reader_each(rd, &f, drop_row_cb, &dc, &err);
		ward_audit_reader_close(rd);
	}
	snprintf(want, sizeof(want), "%llu events dropped (NFLOG socket buffer full)",
		 (unsigned long long)lost);
	CHECK(lost > 0, "nothing lost");
	CHECK(dc.rows == 1 && !strcmp(dc.reason, want), "%d drop rows, '%s', want '%s'", dc.rows,
	      dc.reason, want);
	CHECK(dc.records + (int)lost == BURST + 1, "%d rows + %llu lost != %d packets", dc.records,
	      (unsigned long long)lost, BURST + 1);
	net_down(&net);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", db);
	if (system(cmd) != 0)
		fprintf(stderr, "note: could not remove %s\n", db);
}

static void case_two_sandboxes(void)
{
	struct net a, b;
	static struct records ra, rb;

	net_up(&a);
	net_up(&b);
	CHECK(a.n->index != b.n->index, "same index %d", a.n->index);
	CHECK(strcmp(a.n->ifname, b.n->ifname), "same ifname");
	CHECK(a.n->host_ip4.s_addr != b.n->host_ip4.s_addr, "same subnet");
	CHECK(memcmp(&a.n->host_ip6, &b.n->host_ip6, 16), "same ip6 subnet");

	/* Each reaches its own proxy. */
	int la = host_listen(a.n->host_ip4_str, 3128, SOCK_STREAM);
	int lb = host_listen(b.n->host_ip4_str, 3128, SOCK_STREAM);
	CHECK(la >= 0 && lb >= 0, "listeners");
	struct attempt t = try_from(a.sb.nsfd, a.n->host_ip4_str, 3128, SOCK_STREAM);
	CHECK(t.error == 0, "A to its proxy: %s", strerror(t.error));
	CHECK(host_got(la, SOCK_STREAM, 2000), "A's proxy got nothing");
	t = try_from(b.sb.nsfd, b.n->host_ip4_str, 3128, SOCK_STREAM);
	CHECK(t.error == 0, "B to its proxy: %s", strerror(t.error));
	CHECK(host_got(lb, SOCK_STREAM, 2000), "B's proxy got nothing");

	/* A cannot reach B's proxy address, and only A's reader sees it. */
	t = try_from(a.sb.nsfd, b.n->host_ip4_str, 3128, SOCK_STREAM);
	CHECK(t.error == ECONNREFUSED, "A to B's proxy: %s", t.error ? strerror(t.error) : "ok");
	CHECK(!host_got(lb, SOCK_STREAM, 200), "B's proxy got A's connection");
	CHECK(wait_record(a.log, &ra, b.n->host_ip4_str, 3128, 2000), "A's log has no record");
	ward_nflog_dispatch(b.log, collect, &rb);
	CHECK(rb.n == 0, "B's reader saw %d records of A", rb.n);
	close(la);
	close(lb);

	char ifa[IF_NAMESIZE], ifb[IF_NAMESIZE];
	snprintf(ifa, sizeof(ifa), "%s", a.n->ifname);
	snprintf(ifb, sizeof(ifb), "%s", b.n->ifname);
	net_down(&a);
	CHECK(!link_exists(ifa) && link_exists(ifb), "A's teardown touched B");
	net_down(&b);
	CHECK(!link_exists(ifb), "%s left behind", ifb);
}

/* A ward that dies without teardown leaves a pair (its sandbox still alive,
 * e.g. reparented) and a state file: cleanup_stale removes both. */
static void case_stale(void)
{
	struct sandbox sb = { .nsfd = -1 };
	struct ward_error err = { 0 };
	int p[2], idx = -1;

	if (sandbox_start(&sb) < 0) {
		fprintf(stderr, "SKIP: netns\n");
		exit(SKIP);
	}
	CHECK(pipe(p) == 0, "pipe");
	pid_t crashy = fork();
	if (crashy == 0) {
		struct ward_netns *n = NULL;
		int r = ward_netns_setup(sb.nsfd, &n, &err);
		int v = r < 0 ? -1 : n->index;
		if (write(p[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	CHECK(read(p[0], &idx, sizeof(idx)) == sizeof(idx) && idx >= 0, "crashy setup");
	close(p[0]);
	kill(crashy, SIGKILL);
	waitpid(crashy, NULL, 0);

	char ifname[IF_NAMESIZE];
	snprintf(ifname, sizeof(ifname), WARD_NETNS_IFPREFIX "%d", idx);
	CHECK(link_exists(ifname) && state_exists(idx), "the crash left nothing to clean");
	unsigned removed = 0;
	CHECK(ward_netns_cleanup_stale(&removed, &err) == 0, "cleanup: %s", err.msg);
	CHECK(removed >= 1, "removed %u", removed);
	CHECK(!link_exists(ifname), "%s still there", ifname);
	CHECK(!state_exists(idx), "state %d still there", idx);

	/* An orphan link with no state file at all is removed too. */
	struct ward_netns *n = NULL;
	CHECK(ward_netns_setup(sb.nsfd, &n, &err) == 0, "setup: %s", err.msg);
	if (n) {
		snprintf(ifname, sizeof(ifname), "%s", n->ifname);
		char path[64];
		snprintf(path, sizeof(path), WARD_NETNS_STATE_DIR "/%d", n->index);
		unlink(path);
		CHECK(ward_netns_cleanup_stale(&removed, &err) == 0 && removed >= 1, "orphan: %s",
		      err.msg);
		CHECK(!link_exists(ifname), "orphan %s still there", ifname);
		ward_netns_free(n); /* link already gone: teardown must not fail */
	}
	sandbox_stop(&sb);
}

/* Malformed NFLOG input is skipped, never a crash (no kernel needed). */
static void case_malformed(void)
{
	uint8_t buf[512];
	uint64_t bad = 0;
	struct records *rs = calloc(1, sizeof(*rs));
	unsigned seed = 12345;

	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand_r(&seed);
		/* Half the time, a plausible header so the attribute parser is reached. */
		if (len >= 20 && (round & 1)) {
			struct nlmsghdr *h = (struct nlmsghdr *)buf;
			h->nlmsg_len = (uint32_t)len;
			h->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | 0;
		}
		ward_nflog_parse(buf, len, collect, rs, &bad);
		rs->n = 0;
	}
	CHECK(bad > 0, "no malformed message counted");

	/* IPv6 with a hop-by-hop header, then UDP to port 53. */
	uint8_t pkt[40 + 8 + 8] = { 0x60 };
	struct ward_nflog_record rec;
	pkt[6] = 0; /* hop-by-hop */
	inet_pton(AF_INET6, "fd77:7761:7264::2", pkt + 8);
	inet_pton(AF_INET6, "2001:db8::1", pkt + 24);
	pkt[40] = IPPROTO_UDP;
	pkt[41] = 0;
	pkt[48 + 2] = 0;
	pkt[48 + 3] = 53;
	CHECK(ward_nflog_parse_packet(pkt, sizeof(pkt), &rec) == 0, "ipv6 parse");
	CHECK(rec.l4proto == IPPROTO_UDP && rec.dport == 53 && !strcmp(rec.dst, "2001:db8::1"),
	      "ipv6 ext: proto %u port %u dst %s", rec.l4proto, rec.dport, rec.dst);
	/* Truncated: IPv4 header claiming 60 bytes in 24. */
	uint8_t v4[24] = { 0x4f };
	CHECK(ward_nflog_parse_packet(v4, sizeof(v4), &rec) < 0, "truncated ipv4 accepted");
	free(rs);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "setup_teardown", case_setup_teardown },
	{ "allowed", case_allowed },
	{ "denied", case_denied },
	{ "audit_rows", case_audit_rows },
	{ "drop_rows", case_drop_rows },
	{ "two_sandboxes", case_two_sandboxes },
	{ "stale", case_stale },
	{ "malformed", case_malformed },
};

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return SKIP;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name))
			continue;
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			cases[i].fn();
			fflush(NULL);
			_exit(failures ? 1 : 0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("PASS: %s\n", cases[i].name);
			passed++;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP) {
			printf("SKIP: %s\n", cases[i].name);
			skipped++;
		} else {
			printf("FAIL: %s (status %d)\n", cases[i].name, st);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	if (!passed && !failed && skipped)
		return SKIP;
	return failed ? 1 : 0;
}
