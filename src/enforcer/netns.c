// SPDX-License-Identifier: MIT
/* veth pair and addressing for a sandbox's network namespace, with libnl-3
 * route (no shelling out to ip(8)). See netns.h and docs/network.md. */
#include "enforcer/netns.h"
#include "common/cleanup.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

DEFINE_CLEANUP(struct nl_sock *, nl_socket_free)
DEFINE_CLEANUP(struct rtnl_link *, rtnl_link_put)
DEFINE_CLEANUP(struct rtnl_addr *, rtnl_addr_put)
DEFINE_CLEANUP(struct rtnl_route *, rtnl_route_put)
DEFINE_CLEANUP(struct nl_addr *, nl_addr_put)
DEFINE_CLEANUP(struct nl_cache *, nl_cache_free)
DEFINE_CLEANUP(DIR *, closedir)

/* libnl's NLE_* codes are not errnos: convert once, here. */
static int nl_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case 0:
		return 0;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_INTR:
		return -EINTR;
	case NLE_NOACCESS:
		return -EACCES;
	default:
		return -EIO;
	}
}

static int nl_fail(struct ward_error *err, int nle, const char *what, const char *name)
{
	return ward_errx(err, nl_to_errno(nle), "%s '%s': %s", what, name, nl_geterror(nle));
}

static int route_socket(struct nl_sock **ret, struct ward_error *err)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return ward_err(err, -ENOMEM, "nl_socket_alloc");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return ward_errx(err, nl_to_errno(r), "netlink route socket: %s", nl_geterror(r));
	*ret = TAKE_PTR(sk);
	return 0;
}

/* ---- running code inside another network namespace ---- */

struct run_in {
	int netns_fd;
	int (*fn)(void *);
	void *arg;
	int setns_errno;
	int result;
};

static void *run_in_thread(void *p)
{
	struct run_in *r = p;

	/* setns(CLONE_NEWNET) changes only this thread; it ends right after. */
	if (setns(r->netns_fd, CLONE_NEWNET) < 0) {
		r->setns_errno = errno;
		return NULL;
	}
	r->result = r->fn(r->arg);
	return NULL;
}

int ward_netns_run_in(int netns_fd, int (*fn)(void *arg), void *arg, struct ward_error *err)
{
	struct run_in r = { .netns_fd = netns_fd, .fn = fn, .arg = arg };
	pthread_t t;
	int e;

	e = pthread_create(&t, NULL, run_in_thread, &r);
	if (e)
		return ward_err(err, -e, "thread for the sandbox netns");
	pthread_join(t, NULL);
	if (r.setns_errno)
		return ward_err(err, -r.setns_errno, "setns into the sandbox netns");
	return r.result;
}

/* ---- addressing ---- */

/* The addresses of index idx into n (no side effects); -ERANGE if out of range. */
static int ward_netns_addresses(int idx, struct ward_netns *n)
{
	uint32_t base = (10u << 24) | (254u << 16);

	if (idx < 0 || idx > WARD_NETNS_MAX_INDEX)
		return -ERANGE;
	n->index = idx;
	snprintf(n->ifname, sizeof(n->ifname), WARD_NETNS_IFPREFIX "%d", idx);
	snprintf(n->peer_ifname, sizeof(n->peer_ifname), "%s", WARD_NETNS_PEER_IFNAME);
	n->host_ip4.s_addr = htonl(base + 4u * (uint32_t)idx + 1);
	n->sandbox_ip4.s_addr = htonl(base + 4u * (uint32_t)idx + 2);
	/* fd77:7761:7264:N::/64 — "wad" in the ULA global id, the index as subnet id. */
	static const uint8_t prefix[6] = { 0xfd, 0x77, 0x77, 0x61, 0x72, 0x64 };
	memset(&n->host_ip6, 0, sizeof(n->host_ip6));
	memcpy(n->host_ip6.s6_addr, prefix, sizeof(prefix));
	n->host_ip6.s6_addr[6] = (uint8_t)(idx >> 8);
	n->host_ip6.s6_addr[7] = (uint8_t)idx;
	n->sandbox_ip6 = n->host_ip6;
	n->host_ip6.s6_addr[15] = 1;
	n->sandbox_ip6.s6_addr[15] = 2;
	inet_ntop(AF_INET, &n->host_ip4, n->host_ip4_str, sizeof(n->host_ip4_str));
	inet_ntop(AF_INET, &n->sandbox_ip4, n->sandbox_ip4_str, sizeof(n->sandbox_ip4_str));
	inet_ntop(AF_INET6, &n->host_ip6, n->host_ip6_str, sizeof(n->host_ip6_str));
	inet_ntop(AF_INET6, &n->sandbox_ip6, n->sandbox_ip6_str, sizeof(n->sandbox_ip6_str));
	n->proxy_port = WARD_NETNS_PROXY_PORT;
	n->tproxy_port = WARD_NETNS_TPROXY_PORT;
	n->dns_port = WARD_NETNS_DNS_PORT;
	n->nflog_group = WARD_NFLOG_GROUP;
	return 0;
}

/* ---- state files: /run/ward/net/N holds "pid starttime" of the owner ---- */

/* Field 22 of /proc/PID/stat: tells a live owner from a reused pid. */
static int proc_starttime(pid_t pid, unsigned long long *ret)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t len;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len <= 0)
		return len < 0 ? -errno : -EIO;
	buf[len] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	/* p is at the space before field 3 (state); starttime is field 22 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	*ret = strtoull(p + 1, NULL, 10);
	return 0;
}

static bool owner_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;

	if (pid <= 0)
		return false;
	if (proc_starttime(pid, &now) < 0)
		return false;
	return now == start;
}

static int read_state(int idx, pid_t *ret_pid, unsigned long long *ret_start)
{
	char path[64], buf[128];
	_cleanup_close_ int fd = -1;
	ssize_t len;
	int pid = 0;

	snprintf(path, sizeof(path), WARD_NETNS_STATE_DIR "/%d", idx);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len < 0)
		return -errno;
	buf[len] = '\0';
	/* A file still being written (or garbage) reads as owner 0: not alive. */
	if (sscanf(buf, "%d %llu", &pid, ret_start) != 2)
		pid = 0;
	*ret_pid = pid;
	return 0;
}

static void remove_state(int idx)
{
	char path[64];

	snprintf(path, sizeof(path), WARD_NETNS_STATE_DIR "/%d", idx);
	unlink(path);
}

static int mkdir_p(const char *dir)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Claims and stale cleanup serialise on this lock, so a cleaner never sees a
 * half-written state file nor removes an index that was just claimed again. */
static int lock_state_dir(struct ward_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = mkdir_p(WARD_NETNS_STATE_DIR);
	if (r < 0)
		return ward_err(err, r, "create %s", WARD_NETNS_STATE_DIR);
	fd = open(WARD_NETNS_STATE_DIR "/.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ward_err(err, -errno, "open %s/.lock", WARD_NETNS_STATE_DIR);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return ward_err(err, -errno, "lock %s/.lock", WARD_NETNS_STATE_DIR);
	}
	return TAKE_FD(fd);
}

/* Claim the lowest free index by creating its state file with O_EXCL. */
static int claim_index(int *ret_idx, struct ward_error *err)
{
	_cleanup_close_ int lock = -1;
	unsigned long long start;
	char path[64], line[64];
	pid_t self = getpid();
	int r;

	lock = lock_state_dir(err);
	if (lock < 0)
		return lock;
	r = proc_starttime(self, &start);
	if (r < 0)
		return ward_err(err, r, "read /proc/self/stat");
	int n = snprintf(line, sizeof(line), "%d %llu\n", (int)self, start);

	for (int idx = 0; idx <= WARD_NETNS_MAX_INDEX; idx++) {
		_cleanup_close_ int fd = -1;

		snprintf(path, sizeof(path), WARD_NETNS_STATE_DIR "/%d", idx);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return ward_err(err, -errno, "create %s", path);
		}
		if (write(fd, line, (size_t)n) != n) {
			r = -errno ?: -EIO;
			unlink(path);
			return ward_err(err, r, "write %s", path);
		}
		*ret_idx = idx;
		return 0;
	}
	return ward_errx(err, -ENOSPC, "all %d sandbox network indexes are in use",
			 WARD_NETNS_MAX_INDEX + 1);
}

/* ---- links ---- */

static int link_delete(struct nl_sock *sk, const char *name)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();

	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, name);
	return nl_to_errno(rtnl_link_delete(sk, link));
}

static int link_up(struct nl_sock *sk, const char *name, int *ret_ifindex, struct ward_error *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
	_cleanup_(rtnl_link_putp) struct rtnl_link *change = NULL;
	int r;

	r = rtnl_link_get_kernel(sk, 0, name, &link);
	if (r < 0)
		return nl_fail(err, r, "look up link", name);
	change = rtnl_link_alloc();
	if (!change)
		return ward_err(err, -ENOMEM, "rtnl_link_alloc");
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, link, change, 0);
	if (r < 0)
		return nl_fail(err, r, "bring up link", name);
	if (ret_ifindex)
		*ret_ifindex = rtnl_link_get_ifindex(link);
	return 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, int family, const void *ip, int prefix,
		    const char *ifname, struct ward_error *err)
{
	_cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
	_cleanup_(nl_addr_putp) struct nl_addr *local = NULL;
	int r;

	if (!a)
		return ward_err(err, -ENOMEM, "rtnl_addr_alloc");
	local = nl_addr_build(family, ip, family == AF_INET ? 4 : 16);
	if (!local)
		return ward_err(err, -ENOMEM, "nl_addr_build");
	nl_addr_set_prefixlen(local, prefix);
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_family(a, family);
	r = rtnl_addr_set_local(a, local);
	if (r < 0)
		return nl_fail(err, r, "address for", ifname);
	rtnl_addr_set_prefixlen(a, prefix);
	/* Both ends are ours: no duplicate address detection, usable at once. */
	if (family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	r = rtnl_addr_add(sk, a, 0);
	if (r < 0)
		return nl_fail(err, r, "add address to", ifname);
	return 0;
}

static int default_route(struct nl_sock *sk, int ifindex, int family, const void *gw,
			 struct ward_error *err)
{
	_cleanup_(rtnl_route_putp) struct rtnl_route *rt = rtnl_route_alloc();
	_cleanup_(nl_addr_putp) struct nl_addr *dst = NULL;
	_cleanup_(nl_addr_putp) struct nl_addr *gateway = NULL;
	struct rtnl_nexthop *nh;
	uint8_t any[16] = { 0 };
	int r;

	if (!rt)
		return ward_err(err, -ENOMEM, "rtnl_route_alloc");
	dst = nl_addr_build(family, any, family == AF_INET ? 4 : 16);
	gateway = nl_addr_build(family, gw, family == AF_INET ? 4 : 16);
	nh = rtnl_route_nh_alloc();
	if (!dst || !gateway || !nh) {
		rtnl_route_nh_free(nh);
		return ward_err(err, -ENOMEM, "route objects");
	}
	nl_addr_set_prefixlen(dst, 0);
	rtnl_route_set_family(rt, (uint8_t)family);
	rtnl_route_set_dst(rt, dst);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, gateway);
	rtnl_route_add_nexthop(rt, nh); /* rt owns nh now */
	r = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return ward_errx(err, nl_to_errno(r), "add %s default route: %s",
				 family == AF_INET ? "IPv4" : "IPv6", nl_geterror(r));
	return 0;
}

static int veth_create(struct nl_sock *sk, const struct ward_netns *n, int netns_fd,
		       struct ward_error *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *veth = rtnl_link_veth_alloc();
	struct rtnl_link *peer;
	int r;

	if (!veth)
		return ward_err(err, -ENOMEM, "rtnl_link_veth_alloc");
	rtnl_link_set_name(veth, n->ifname);
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(peer, n->peer_ifname);
	/* The peer is born inside the sandbox: its name never exists on the host. */
	rtnl_link_set_ns_fd(peer, netns_fd);
	rtnl_link_put(peer);
	r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return nl_fail(err, r, "create veth", n->ifname);
	return 0;
}

static int write_sysctl(const char *path, const char *value)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);

	if (fd < 0)
		return -errno;
	if (write(fd, value, len) != (ssize_t)len)
		return -errno ?: -EIO;
	return 0;
}

/* The host side must not route for the sandbox: the proxy is the only way out. */
static int harden_host_side(const char *ifname, struct ward_error *err)
{
	static const struct {
		const char *family;
		const char *knob;
		const char *value;
		bool required;
	} knobs[] = {
		{ "ipv4", "forwarding", "0", true },
		{ "ipv4", "rp_filter", "1", true },
		{ "ipv4", "accept_redirects", "0", false },
		{ "ipv4", "send_redirects", "0", false },
		{ "ipv4", "accept_source_route", "0", false },
		{ "ipv4", "proxy_arp", "0", false },
		{ "ipv4", "route_localnet", "0", false },
		{ "ipv6", "forwarding", "0", false },
		{ "ipv6", "accept_ra", "0", false },
		{ "ipv6", "accept_redirects", "0", false },
		{ "ipv6", "autoconf", "0", false },
	};
	char path[160];

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", knobs[i].family, ifname,
			 knobs[i].knob);
		int r = write_sysctl(path, knobs[i].value);
		if (r < 0 && knobs[i].required)
			return ward_err(err, r, "write %s", path);
	}
	return 0;
}

/* Runs on the thread inside the sandbox netns. */
struct inside {
	struct ward_netns *n;
	struct ward_error *err;
};

static int configure_inside(void *p)
{
	struct inside *in = p;
	struct ward_netns *n = in->n;
	_cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
	int r;

	r = route_socket(&sk, in->err);
	if (r < 0)
		return r;
	r = link_up(sk, "lo", NULL, in->err);
	if (r < 0)
		return r;
	r = link_up(sk, n->peer_ifname, &n->peer_ifindex, in->err);
	if (r < 0)
		return r;
	r = addr_add(sk, n->peer_ifindex, AF_INET, &n->sandbox_ip4, WARD_NETNS_PREFIX4,
		     n->peer_ifname, in->err);
	if (r < 0)
		return r;
	r = addr_add(sk, n->peer_ifindex, AF_INET6, &n->sandbox_ip6, WARD_NETNS_PREFIX6,
		     n->peer_ifname, in->err);
	if (r < 0)
		return r;
	r = default_route(sk, n->peer_ifindex, AF_INET, &n->host_ip4, in->err);
	if (r < 0)
		return r;
	return default_route(sk, n->peer_ifindex, AF_INET6, &n->host_ip6, in->err);
}

static int configure_host(struct nl_sock *sk, struct ward_netns *n, struct ward_error *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
	int r;

	r = harden_host_side(n->ifname, err);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, n->ifname, &link);
	if (r < 0)
		return nl_fail(err, r, "look up link", n->ifname);
	n->host_ifindex = rtnl_link_get_ifindex(link);
	r = addr_add(sk, n->host_ifindex, AF_INET, &n->host_ip4, WARD_NETNS_PREFIX4, n->ifname,
		     err);
	if (r < 0)
		return r;
	r = addr_add(sk, n->host_ifindex, AF_INET6, &n->host_ip6, WARD_NETNS_PREFIX6, n->ifname,
		     err);
	if (r < 0)
		return r;
	return link_up(sk, n->ifname, NULL, err);
}

int ward_netns_setup(int netns_fd, struct ward_netns **ret, struct ward_error *err)
{
	_cleanup_free_ struct ward_netns *n = NULL;
	_cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
	int idx = -1, r;

	/* Leftovers of a crashed ward would otherwise hold indexes forever. */
	(void)ward_netns_cleanup_stale(NULL, NULL);

	n = calloc(1, sizeof(*n));
	if (!n)
		return ward_err(err, -ENOMEM, "calloc");
	n->netns_fd = -1;
	n->owner = getpid();
	r = route_socket(&sk, err);
	if (r < 0)
		return r;
	r = claim_index(&idx, err);
	if (r < 0)
		return r;
	ward_netns_addresses(idx, n);

	r = veth_create(sk, n, netns_fd, err);
	if (r == -EEXIST) {
		/* We hold the index, so a wardN link is an orphan without state: reclaim it. */
		(void)link_delete(sk, n->ifname);
		r = veth_create(sk, n, netns_fd, err);
	}
	if (r < 0)
		goto fail_state;
	r = configure_host(sk, n, err);
	if (r < 0)
		goto fail_link;
	struct inside in = { .n = n, .err = err };
	r = ward_netns_run_in(netns_fd, configure_inside, &in, err);
	if (r < 0) {
		ward_err_prefix(err, "sandbox side of %s", n->ifname);
		goto fail_link;
	}
	n->netns_fd = fcntl(netns_fd, F_DUPFD_CLOEXEC, 3);
	if (n->netns_fd < 0) {
		r = ward_err(err, -errno, "dup netns fd");
		goto fail_link;
	}
	*ret = TAKE_PTR(n);
	return 0;

fail_link:
	(void)link_delete(sk, n->ifname);
fail_state:
	remove_state(idx);
	return r;
}

int ward_netns_setup_pid(pid_t pid, struct ward_netns **ret, struct ward_error *err)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ward_err(err, -errno, "open %s", path);
	return ward_netns_setup(fd, ret, err);
}

/* Delete the pair and the state file, close the netns fd. */
static int ward_netns_teardown(struct ward_netns *n, struct ward_error *err)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
	int r;

	if (!n || n->index < 0)
		return 0;
	r = route_socket(&sk, err);
	if (r < 0)
		return r;
	/* Deleting one end deletes the pair; gone already is fine (the netns died). */
	r = link_delete(sk, n->ifname);
	if (r < 0 && r != -ENODEV)
		return ward_err(err, r, "delete link %s", n->ifname);
	remove_state(n->index);
	n->index = -1;
	if (n->netns_fd >= 0) {
		close(n->netns_fd);
		n->netns_fd = -1;
	}
	return 0;
}

void ward_netns_free(struct ward_netns *n)
{
	if (!n)
		return;
	(void)ward_netns_teardown(n, NULL);
	if (n->netns_fd >= 0)
		close(n->netns_fd);
	free(n);
}

/* ---- stale resources ---- */

/* "wardN" with N a decimal index in range, else -1. */
static int parse_ifname(const char *name)
{
	size_t plen = strlen(WARD_NETNS_IFPREFIX);
	const char *p = name + plen;
	long v = 0;

	if (strncmp(name, WARD_NETNS_IFPREFIX, plen) || !*p || strlen(p) > 5)
		return -1;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (p - name > (long)plen + 1 && name[plen] == '0')
		return -1; /* no leading zeros: "ward01" is not ours */
	return v <= WARD_NETNS_MAX_INDEX ? (int)v : -1;
}

static bool index_owned(int idx)
{
	unsigned long long start = 0;
	pid_t pid = 0;

	if (read_state(idx, &pid, &start) < 0)
		return false;
	return owner_alive(pid, start);
}

int ward_netns_cleanup_stale(unsigned *ret_removed, struct ward_error *err)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_close_ int lock = -1;
	unsigned removed = 0;
	struct dirent *de;
	int r;

	r = route_socket(&sk, err);
	if (r < 0)
		return r;
	lock = lock_state_dir(err);
	if (lock < 0)
		return lock;

	/* State files first: a dead owner's index goes, with its link. */
	d = opendir(WARD_NETNS_STATE_DIR);
	while (d && (de = readdir(d))) {
		char name[IF_NAMESIZE];
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || v < 0 ||
		    v > WARD_NETNS_MAX_INDEX)
			continue;
		int idx = (int)v;
		if (index_owned(idx))
			continue;
		snprintf(name, sizeof(name), WARD_NETNS_IFPREFIX "%d",
			 idx % (WARD_NETNS_MAX_INDEX + 1));
		if (link_delete(sk, name) == 0)
			removed++;
		remove_state(idx);
	}

	/* Then links named like ours with no live owner (a crash between steps). */
	r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (r < 0)
		return ward_errx(err, nl_to_errno(r), "list links: %s", nl_geterror(r));
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(link);
		int idx = name ? parse_ifname(name) : -1;

		if (idx < 0 || index_owned(idx))
			continue;
		const char *type = rtnl_link_get_type(link);
		if (type && strcmp(type, "veth"))
			continue; /* someone else's "wardN" that is not a veth: not ours */
		if (link_delete(sk, name) == 0)
			removed++;
	}
	if (ret_removed)
		*ret_removed = removed;
	return 0;
}
