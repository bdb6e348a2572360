/* SPDX-License-Identifier: MIT */
/* The sandbox's network: a veth pair whose peer lives in the sandbox netns,
 * addressed from a per-sandbox subnet (docs/network.md). The host side is the
 * only thing the sandbox can reach: the proxy and the DNS stub listen there.
 *
 * Index N (0..WARD_NETNS_MAX_INDEX) is claimed atomically by creating
 * WARD_NETNS_STATE_DIR/N with O_EXCL; it names the host link "wardN" and gives
 *   IPv4 10.254.0.0/16, subnet /30 number N: host .4N+1, sandbox .4N+2
 *   IPv6 fd77:7761:7264:N::/64 (N in hex):   host ::1,   sandbox ::2 */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define WARD_NETNS_STATE_DIR "/run/ward/net"
#define WARD_NETNS_IFPREFIX "ward"
#define WARD_NETNS_PEER_IFNAME "eth0"
#define WARD_NETNS_MAX_INDEX 16383 /* 16384 /30 subnets in 10.254.0.0/16 */
#define WARD_NETNS_PREFIX4 30
#define WARD_NETNS_PREFIX6 64

#define WARD_NETNS_PROXY_PORT 3128  /* explicit proxy (CONNECT, absolute URI) */
#define WARD_NETNS_TPROXY_PORT 3129 /* transparent: BPF-redirected connections */
#define WARD_NETNS_DNS_PORT 53	    /* DNS stub, UDP and TCP */

/* NFLOG is per network namespace, so every sandbox can use the same group. */
#define WARD_NFLOG_GROUP 7761

struct ward_netns {
	int index;
	char ifname[IF_NAMESIZE];      /* host side, "wardN" */
	char peer_ifname[IF_NAMESIZE]; /* inside the sandbox */
	int host_ifindex;
	int peer_ifindex; /* in the sandbox netns */
	struct in_addr host_ip4;
	struct in_addr sandbox_ip4;
	struct in6_addr host_ip6;
	struct in6_addr sandbox_ip6;
	char host_ip4_str[INET_ADDRSTRLEN];
	char sandbox_ip4_str[INET_ADDRSTRLEN];
	char host_ip6_str[INET6_ADDRSTRLEN];
	char sandbox_ip6_str[INET6_ADDRSTRLEN];
	uint16_t proxy_port;
	uint16_t tproxy_port;
	uint16_t dns_port;
	uint16_t nflog_group;
	int netns_fd; /* the sandbox's netns, owned (O_CLOEXEC) */
	pid_t owner;  /* the ward process that set it up */
};

/* Set up the veth pair for the network namespace netns_fd (not consumed; dup'd):
 * claim an index, create wardN with its peer inside the netns, address both ends,
 * bring them and the sandbox's loopback up, add default routes (v4, v6) via the
 * host side, and harden the host side's sysctls. Removes stale pairs first.
 * Nothing is left behind on failure. */
int ward_netns_setup(int netns_fd, struct ward_netns **ret, struct ward_error *err);
/* The same for the netns of a process. */
int ward_netns_setup_pid(pid_t pid, struct ward_netns **ret, struct ward_error *err);

/* Teardown ignoring errors, then free. NULL is fine. */
void ward_netns_free(struct ward_netns *n);

/* Remove what crashed wards left: state files whose owner is gone and links
 * named wardN without a live owner. *ret_removed (may be NULL) counts pairs. */
int ward_netns_cleanup_stale(unsigned *ret_removed, struct ward_error *err);

/* Run fn(arg) on a short-lived thread that has entered netns_fd; returns fn's
 * result. Sockets fn creates stay in that netns after the thread ends. */
int ward_netns_run_in(int netns_fd, int (*fn)(void *arg), void *arg, struct ward_error *err);
